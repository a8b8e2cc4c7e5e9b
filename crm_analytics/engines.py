"""Deprecated: the engine entry points of version 0.1, kept for one release.

Every analysis now accepts engine sources itself (a Parquet path / glob / list of
paths, a DuckDB relation or a PySpark DataFrame): call
:func:`crm_analytics.customer_summary`, :func:`crm_analytics.cohort_repurchase`,
:func:`crm_analytics.sleeping_flow`, ... directly, and
:func:`crm_analytics.score_customers` for engine-side scoring. Each function here warns
with a ``DeprecationWarning`` and calls the new one.
"""

from __future__ import annotations

import warnings

from crm_analytics.backends import is_engine_source, runner_for
from crm_analytics.campaigns.sql import campaign_outcomes as _campaign_outcomes
from crm_analytics.cohorts.sql import cohort_repurchase_on_engine, cohort_revenue_on_engine
from crm_analytics.ltv.sql import score_customers_on_engine
from crm_analytics.sleeping.sql import sleeping_flow_on_engine
from crm_analytics.summary.sql import summary_on_engine

__all__ = [
    "campaign_outcomes",
    "cohort_repurchase",
    "cohort_revenue",
    "customer_summary",
    "is_engine_source",
    "score_customers",
    "sleeping_flow",
]


def _warn(name: str, instead: str) -> None:
    warnings.warn(
        f"crm_analytics.engines.{name} is deprecated and will be removed in the next "
        f"release; use {instead} (it accepts engine sources directly).",
        DeprecationWarning, stacklevel=3)


def _options(options: dict) -> dict:
    return {k: options.pop(k) for k in ("connection", "memory_limit", "temp_directory",
                                        "threads") if k in options}


def customer_summary(orders, *, as_of=None, time_unit="D", output="pandas", **options):
    """Deprecated alias of :func:`crm_analytics.customer_summary` on an engine source."""
    _warn("customer_summary", "crm_analytics.customer_summary")
    return summary_on_engine(runner_for(orders, **_options(options)), as_of=as_of,
                             time_unit=time_unit, output=output, **options)


def cohort_repurchase(orders, *, period="M", how="on", as_of=None, **options):
    """Deprecated alias of :func:`crm_analytics.cohort_repurchase` on an engine source."""
    _warn("cohort_repurchase", "crm_analytics.cohort_repurchase")
    return cohort_repurchase_on_engine(runner_for(orders, **options), period=period, how=how,
                                       as_of=as_of)


def cohort_revenue(orders, *, period="M", as_of=None, **options):
    """Deprecated alias of :func:`crm_analytics.cohort_revenue` on an engine source."""
    _warn("cohort_revenue", "crm_analytics.cohort_revenue")
    return cohort_revenue_on_engine(runner_for(orders, **options), period=period, as_of=as_of)


def sleeping_flow(orders, *, start=None, end=None, sleep_after=90, remind_before=10,
                  **options):
    """Deprecated alias of :func:`crm_analytics.sleeping_flow` on an engine source."""
    _warn("sleeping_flow", "crm_analytics.sleeping_flow")
    return sleeping_flow_on_engine(runner_for(orders, **options), start=start, end=end,
                                   sleep_after=sleep_after, remind_before=remind_before)


def campaign_outcomes(orders, audience, *, start, window_days=30, pre_days=None, as_of=None,
                      group_col="group", margin_rate=None, **options):
    """Deprecated: per-member campaign outcomes on an engine source (see campaign_lift)."""
    _warn("campaign_outcomes", "crm_analytics.campaign_lift")
    members, _ = _campaign_outcomes(runner_for(orders, **options), audience, start=start,
                                    window_days=window_days, pre_days=pre_days, as_of=as_of,
                                    group_col=group_col, margin_rate=margin_rate)
    return members


def score_customers(orders, model=None, spend_model=None, **kwargs):
    """Deprecated alias of :func:`crm_analytics.score_customers`."""
    _warn("score_customers", "crm_analytics.score_customers")
    options = _options(kwargs)
    return score_customers_on_engine(runner_for(orders, **options), model, spend_model,
                                     **kwargs)


