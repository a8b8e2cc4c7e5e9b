"""Fit the churn and spend models on compressed statistics computed in an engine.

The pandas fitters (:func:`crm_analytics.churn.fit_churn_model`,
:func:`crm_analytics.ltv.fit_spend_model`) compress a customer summary to its
distinct rows before fitting. Here the compression runs in SQL on a summary that
stays in the engine: counts per distinct ``(frequency, recency, T)`` history, and per
distinct ``(frequency, monetary_value)`` pair of repeat customers. Only those rows
reach pandas, in the order the pandas compression gives them (by each row's first
customer id), so the fit is the pandas fit on the same data: the same likelihood,
the same optimiser, the same retries.

The Gamma-Gamma pairs are about one per repeat customer (``monetary_value`` is a
mean of money amounts), so above ``max_pairs`` distinct pairs the fit uses the repeat
customers of a seeded pseudo-random sample (a hash of ``customer_id`` and ``seed``):
a fixed, documented subset, the same on every run. The model's ``n_customers``,
``mean_spend`` and correlation are then still those of all repeat customers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.dates import iso_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends.sql import DIALECTS, Runner
from crm_analytics.churn import MODELS, ChurnModel, fit_patterns
from crm_analytics.ltv.spend import SpendModel, fit_spend_pairs

__all__ = ["churn_model_from_patterns", "spend_model_from_summary"]

#: Most distinct (frequency, monetary_value) pairs the Gamma-Gamma fit takes at once.
MAX_SPEND_PAIRS = 500_000
#: Excluded customer ids (free repeat orders) listed in the SpendModel at most.
MAX_EXCLUDED_IDS = 1_000


def churn_model_from_patterns(
    patterns: pd.DataFrame, *, model: str = "mbgnbd", time_unit: str = "W",
    as_of: object = None, penalizer: float = 0.0, tol: float = 1e-7,
    standard_errors: bool = False,
) -> ChurnModel:
    """A :class:`~crm_analytics.churn.ChurnModel` fitted on distinct histories and counts.

    Parameters
    ----------
    patterns : pandas.DataFrame
        ``frequency, recency, T, n`` (customers per history), e.g. from
        :func:`crm_analytics.ltv.sql.fetch_patterns`; ``recency``/``T`` in ``time_unit``.
    model, penalizer, tol, standard_errors
        As in :func:`crm_analytics.churn.fit_churn_model`.
    time_unit : {"D", "W"}
    as_of : date-like, optional
        End of the observation period (stored in the model).

    Raises
    ------
    CrmDataError
        No history, no customer with T > 0 or a repeat purchase, or no convergence.
    """
    if model not in MODELS:
        raise CrmDataError(
            f"The 'model' parameter must be one of {list(MODELS)}. Got {model!r} instead."
        )
    if len(patterns) == 0:
        raise CrmDataError("The summary has no customers. Pass orders with at least one order.")
    fx = patterns["frequency"].to_numpy(dtype=float)
    frec = patterns["recency"].to_numpy(dtype=float)
    fT = patterns["T"].to_numpy(dtype=float)
    w = patterns["n"].to_numpy(dtype=np.int64)
    n = int(w.sum())
    if not (fT > 0).any():
        raise CrmDataError(
            "Every customer in the summary has T == 0 (first order on as_of): there is no "
            "observation period to fit. Use a later as_of."
        )
    if not (fx > 0).any():
        raise CrmDataError(
            f"None of the {n} customers in the summary has a repeat purchase "
            "(frequency > 0), so purchase rates and dropout cannot be estimated. Use a "
            "longer period of orders."
        )

    return fit_patterns(fx, frec, fT, w, model=model, time_unit=time_unit,
                        as_of=None if as_of is None else iso_day(as_of), penalizer=penalizer,
                        tol=tol, standard_errors=standard_errors)


def spend_model_from_summary(
    runner: Runner, summary: str, *, penalizer: float = 0.0, max_abs_correlation: float = 0.3,
    tol: float = 1e-7, standard_errors: bool = False, max_pairs: int = MAX_SPEND_PAIRS,
    seed: int = 0,
) -> tuple[SpendModel, str | None]:
    """Gamma-Gamma model fitted on the repeat customers of an engine summary table.

    Returns the model (as :func:`crm_analytics.ltv.fit_spend_model` on the same summary
    when the distinct pairs number at most ``max_pairs``) and a note when the fit used
    a sample (None otherwise).
    """
    use = "frequency > 0 AND monetary_value > 0"
    stats = runner.fetch(
        "SELECT SUM(CASE WHEN frequency > 0 THEN 1 ELSE 0 END) AS n_repeat, "
        f"SUM(CASE WHEN {use} THEN 1 ELSE 0 END) AS n_use, "
        f"AVG(CASE WHEN {use} THEN monetary_value END) AS mean_spend, "
        f"CORR(CASE WHEN {use} THEN CAST(frequency AS DOUBLE) END, "
        f"CASE WHEN {use} THEN monetary_value END) AS corr, "
        f"STDDEV_POP(CASE WHEN {use} THEN CAST(frequency AS DOUBLE) END) AS sd_x, "
        f"STDDEV_POP(CASE WHEN {use} THEN monetary_value END) AS sd_m, "
        f"COUNT(*) AS n_all FROM {summary}"
    ).iloc[0]
    n_use, n_repeat = int(stats["n_use"] or 0), int(stats["n_repeat"] or 0)
    if n_use < 2:
        raise CrmDataError(
            f"The Gamma-Gamma spend model needs customers with repeat orders of positive "
            f"value; the summary has {n_use} (of {int(stats['n_all'])} customers, "
            f"{n_repeat} with frequency > 0). Use a longer period of orders."
        )
    note = None
    where = use
    n_pairs = int(runner.fetch(
        f"SELECT COUNT(*) AS n FROM (SELECT frequency, monetary_value FROM {summary} "
        f"WHERE {use} GROUP BY frequency, monetary_value) t")["n"].iloc[0]) if n_use >= 2 else 0
    if n_pairs > max_pairs:
        key = DIALECTS[runner.dialect]["shuffle"].format(x="customer_id", seed=int(seed))
        cut = runner.fetch(
            f"SELECT MAX(k) AS k FROM (SELECT {key} AS k FROM {summary} WHERE {use} "
            f"ORDER BY k LIMIT {int(max_pairs)}) t"
        )["k"].iloc[0]
        where = f"{use} AND {key} <= {int(cut)}"
        note = (
            f"Spend model: the Gamma-Gamma fit used {max_pairs:,} of the {n_use:,} repeat "
            f"customers (a fixed pseudo-random sample, hash of customer_id with seed {seed}); "
            "its mean spend and correlation are over all of them."
        )
    pairs = runner.fetch(
        "SELECT frequency, monetary_value, COUNT(*) AS n, MIN(customer_id) AS first_id "
        f"FROM {summary} WHERE {where} GROUP BY frequency, monetary_value ORDER BY first_id"
    )
    px = pairs["frequency"].to_numpy(dtype=float)
    pm = pairs["monetary_value"].to_numpy(dtype=float)
    w = pairs["n"].to_numpy(dtype=np.int64)

    sd_ok = (stats["sd_x"] or 0) > 0 and (stats["sd_m"] or 0) > 0
    corr = float(stats["corr"]) if sd_ok and pd.notna(stats["corr"]) else 0.0
    n_excluded = n_repeat - n_use
    ids: tuple[str, ...] = ()
    if n_excluded:
        ids = tuple(runner.fetch(
            f"SELECT customer_id FROM {summary} WHERE frequency > 0 AND monetary_value <= 0 "
            f"ORDER BY customer_id LIMIT {MAX_EXCLUDED_IDS}")["customer_id"].astype(str))
    model = fit_spend_pairs(
        px, pm, w, n_customers=n_use, n_excluded=n_excluded, excluded_customers=ids,
        mean_spend=float(stats["mean_spend"]), correlation=corr,
        max_abs_correlation=max_abs_correlation, penalizer=penalizer, tol=tol,
        standard_errors=standard_errors)
    return model, note
