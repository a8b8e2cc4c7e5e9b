"""The report's tables computed in pandas, with the analyses' public functions."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crm_analytics._core.dates import to_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics.churn import churn_scores, fit_churn_model
from crm_analytics.churn.backtest import rule_rank
from crm_analytics.cohorts import cohort_repurchase, cohort_revenue, repurchase_rate
from crm_analytics.ltv import fit_spend_model, predict_ltv
from crm_analytics.orders.encode import PreparedOrders
from crm_analytics.plots.ltv import ltv_log_bins
from crm_analytics.report.churn_story import (
    choose_report_model,
    churn_fields,
    risk_by_status,
    spend_notes,
)
from crm_analytics.report.data_section import data_section
from crm_analytics.report.runtime import warnings_state_kept
from crm_analytics.report.sections import (
    COHORT_HOW,
    COHORT_PERIOD,
    MIN_COHORT_SIZE,
    SEGMENT_FILE_COLUMNS,
    ReportTables,
    value_basis,
)
from crm_analytics.report.shop_sections import shop_sections
from crm_analytics.segments import SegmentationResult, kmeans_segments, same_ids
from crm_analytics.segments.export import export_segments
from crm_analytics.sleeping import member_status, sleeping_flow
from crm_analytics.sleeping.rules import STATUSES
from crm_analytics.summary import customer_summary

__all__ = ["FrameCustomers", "join_customer_tables", "orders_after", "pandas_tables"]

#: Churn risk levels, lowest first (the order of the counts).
RISK_LEVELS = ("low", "medium", "high")


def join_customer_tables(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    """``left.merge(right, on="customer_id", how="left", validate="one_to_one")``.

    The per-customer tables of one run list the same customers (unique: ``left`` starts
    as a customer summary) in the same order, so they are put side by side without
    hashing a million ids again; otherwise a merge.

    Examples
    --------
    >>> import pandas as pd
    >>> left = pd.DataFrame({"customer_id": ["a", "b"], "n_orders": [1, 2]})
    >>> join_customer_tables(left, pd.DataFrame({"customer_id": ["a", "b"], "x": [0.5, 0.7]}))
      customer_id  n_orders    x
    0           a         1  0.5
    1           b         2  0.7
    """
    new = [c for c in right.columns if c != "customer_id"]
    if (
        len(left) == len(right)
        and not set(new) & set(left.columns)
        and same_ids(left["customer_id"], right["customer_id"])
    ):
        return pd.concat([left, right[new].set_axis(left.index)], axis=1)
    return left.merge(right, on="customer_id", how="left", validate="one_to_one")


@dataclass(frozen=True, eq=False)
class FrameCustomers:
    """The per-customer table in pandas, and the segments it writes ``segments.csv`` from."""

    table: pd.DataFrame
    segments: SegmentationResult | None

    def write_jobs(self, out: Path) -> list[Callable[[], list[Path]]]:
        """Two jobs: ``customers.csv``; ``segments.csv`` (may run side by side)."""
        # 4 decimals are plenty for people and messaging tools (money stays exact to the fen)
        rounded = self.table.round(dict.fromkeys(self.table.select_dtypes("float").columns, 4))
        key = [c for c in SEGMENT_FILE_COLUMNS if c in rounded.columns]

        def write_customers() -> list[Path]:
            return [export_segments(rounded, out / "customers.csv")]

        def write_segments() -> list[Path]:
            if self.segments is None:  # no segments: the same file, empty segment cells
                seg_cols = [c for c in ("segment", "segment_name") if c in rounded.columns]
                return [export_segments(rounded[["customer_id", *seg_cols, *key]],
                                        out / "segments.csv", columns=key)]
            return [export_segments(self.segments, out / "segments.csv",
                                    extra=rounded[["customer_id", *key]], columns=key)]

        return [write_customers, write_segments]


def _segments_on_one_core(summary: pd.DataFrame,
                          **kwargs: object) -> tuple[SegmentationResult | None, str]:
    """:func:`kmeans_segments` on one OpenMP / BLAS thread: it runs beside the main
    thread, and on a busy machine idle OpenMP and BLAS threads spin (measured twice as
    slow on 2 cores). The labels do not depend on the thread count.

    Returns ``(result, "")``, or ``(None, why)`` when the customers cannot be segmented
    (too few customers or distinct profiles): the report goes on without segments.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        try:
            return kmeans_segments(summary, **kwargs), ""
        except CrmDataError as exc:
            return None, f"No segments: {exc}"


def orders_after(orders: pd.DataFrame, as_of: pd.Timestamp) -> int:
    """How many orders are dated after the day ``as_of`` (left out of the report).

    >>> orders_after(pd.DataFrame({"order_date": pd.to_datetime(
    ...     ["2024-01-01 23:00", "2024-01-02 08:00"])}), pd.Timestamp("2024-01-01"))
    1
    """
    return int((orders["order_date"] >= as_of + pd.Timedelta(days=1)).sum())


def pandas_tables(
    prepared: PreparedOrders,
    *,
    as_of: object = None,
    sleep_after: int = 90,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    margin_rate: float | None = None,
    n_segments: int | None = None,
    currency: str | None = None,
    min_cohort_size: int = MIN_COHORT_SIZE,
    step: Callable[[str], None] = lambda name: None,
    created_orders: pd.DataFrame | None = None,
) -> ReportTables:
    """The report's tables from prepared orders (see :func:`crm_analytics.report.run_report`).

    ``step`` is called after each of the steps ``summary, cohorts, sleeping, churn,
    ltv, segments``. The data section comes from ``prepared.report``; orders after
    ``as_of`` are counted there and left out of every analysis. ``created_orders``
    (every created order, paid or not) feeds the Payment section.
    """
    orders = prepared.orders
    as_of_ts = (orders["order_date"].max().normalize() if as_of is None
                else to_day(as_of, "as_of"))
    n_after = orders_after(orders, as_of_ts)
    used_dates = orders["order_date"][orders["order_date"] < as_of_ts + pd.Timedelta(days=1)]
    if not len(used_dates):
        raise CrmDataError(f"No order is on or before as_of={as_of_ts.date()} (all "
                           f"{len(orders):,} orders are later). Use a later as_of "
                           "(command line: --as-of YYYY-MM-DD).")
    data = data_section(prepared.report, orders_kept=len(orders), n_after_as_of=n_after,
                        first_day=used_dates.min().normalize(),
                        last_day=used_dates.max().normalize(), as_of=as_of_ts,
                        as_of_given=as_of is not None, currency=currency,
                        sleep_after=sleep_after)
    notes: list[str] = []
    unavailable: dict[str, str] = {}
    # KMeans (BLAS and OpenMP work that releases the GIL) runs on a second thread while
    # the cohort, churn and sleeping steps run here; each step gives what it gives alone.
    with warnings_state_kept(), ThreadPoolExecutor(max_workers=1) as pool:
        summary = customer_summary(prepared, as_of=as_of_ts, time_unit="W")
        step("summary")
        segmenting = pool.submit(_segments_on_one_core, summary, n_clusters=n_segments)

        cum = cohort_repurchase(prepared, period=COHORT_PERIOD, how=COHORT_HOW, as_of=as_of_ts)
        revenue = cohort_revenue(prepared, period=COHORT_PERIOD, as_of=as_of_ts)
        # a repeat order is one on a later day than the first: frequency > 0 (same rule)
        rate = repurchase_rate(prepared, as_of=as_of_ts).rate
        # the KPI board, lifecycle, payment and replenishment (when the orders allow)
        shop = shop_sections(prepared, as_of=as_of_ts, as_of_given=as_of is not None,
                             created_orders=created_orders, sleep_after=sleep_after)
        step("cohorts")

        status = member_status(prepared, as_of=as_of_ts, sleep_after=sleep_after)
        flow_start = max(summary["first_order"].min().normalize(),
                         as_of_ts - pd.Timedelta(days=364))
        flow = sleeping_flow(prepared, start=flow_start, end=as_of_ts, sleep_after=sleep_after)
        step("sleeping")

        # The models need repeat customers; a new shop or a short export has none. The
        # report then says so and still writes everything else.
        ids = summary[["customer_id"]]
        scores = ids.assign(p_alive=float("nan"), p_no_order=float("nan"), p_churn=float("nan"),
                            expected_orders=float("nan"), churn_risk=pd.NA)
        ltv = ids.assign(expected_orders=float("nan"), ltv=float("nan"))
        # the model family chosen by a backtest on the shop's last months (or MBG/NBD)
        story = choose_report_model(prepared, as_of=as_of_ts, sleep_after=sleep_after,
                                    refit=True, n_customers=len(summary))
        try:
            if story.choice is not None and story.refitted:
                churn_model = story.choice.model
            else:  # no backtest, or one on a sample: fit the family on every customer
                churn_model = fit_churn_model(summary, model=story.name)
                if story.choice is not None and story.choice.warnings:
                    churn_model = churn_model.with_warnings(*story.choice.warnings)
            scores = churn_scores(summary, churn_model=churn_model, horizon=90)
        except CrmDataError as exc:
            churn_model = None
            notes.append(f"Churn model not fitted: {exc}")
        step("churn")
        ltv_predicted = False
        spend_model = None
        if churn_model is not None:
            try:
                spend_model = fit_spend_model(summary)
                ltv = predict_ltv(summary, churn_model=churn_model, spend_model=spend_model,
                                  horizon_months=horizon_months,
                                  monthly_discount_rate=monthly_discount_rate,
                                  margin_rate=margin_rate)
                ltv_predicted = True
            except CrmDataError as exc:
                notes.append(f"Spend model not fitted, so no LTV: {exc}")
        step("ltv")

        segments, why = segmenting.result()
        step("segments")
    if segments is None:
        unavailable["segments"] = why
    if churn_model is None:
        unavailable["churn"] = next((n for n in notes if n.startswith("Churn")),
                                    "No churn model.")
    if not ltv_predicted:
        unavailable["ltv"] = next((n for n in notes if n.startswith("Spend")),
                                  "No LTV without a churn model (see the churn section).")

    status_cols = ["customer_id", "status", "quality", "sleep_date"]
    customers = summary
    for table in (
        scores,
        ltv.rename(columns={"expected_orders": f"expected_orders_{horizon_months}m"}),
        (segments.assignments[["customer_id", "segment", "segment_name"]]
         if segments is not None else ids.assign(segment=pd.array([pd.NA] * len(ids),
                                                                  dtype="Int64"),
                                                 segment_name=pd.NA)),
        status[[c for c in status_cols if c in status.columns]],
    ):
        customers = join_customer_tables(customers, table)
    if len(customers) != len(summary):  # pragma: no cover - guarded by validate=
        raise CrmDataError("Internal error: customers were lost while joining results.")
    if story.best_rule is not None:  # no model beat this rule: rank customers by it
        customers = customers.assign(rule_rank=rule_rank(summary, story.best_rule,
                                                         sleep_after=sleep_after))

    risk_counts = risk_status = None
    if churn_model is not None:
        risk_counts = (scores["churn_risk"].astype(str).value_counts()
                       .reindex(list(RISK_LEVELS), fill_value=0).astype(np.int64))
        risk_status = risk_by_status(customers[["churn_risk", "status"]])
    ltv_total = float(ltv["ltv"].sum()) if ltv_predicted and ltv["ltv"].notna().any() else None
    return ReportTables(
        as_of=as_of_ts,
        n_customers=len(summary),
        n_orders=int(summary["n_orders"].sum()),  # orders up to as_of
        repurchase_rate=rate,
        cohort_repurchase=cum,
        cohort_revenue=revenue,
        status_counts=status["status"].astype(str).value_counts()
        .reindex(list(STATUSES), fill_value=0).astype(np.int64),
        sleeping_flow=flow,
        risk_counts=risk_counts,
        ltv_total=ltv_total,
        ltv_bins=ltv_log_bins(ltv) if ltv_total is not None else None,
        value_basis=value_basis(has_margin="total_margin" in summary.columns,
                                margin_rate=margin_rate),
        segment_profiles=segments.profiles if segments is not None else pd.DataFrame(),
        segment_columns=(tuple(segments.feature_columns.values()) if segments is not None
                         else ()),
        n_segments=segments.k if segments is not None else 0,
        customers=FrameCustomers(customers, segments),
        sleep_after=sleep_after,
        horizon_months=horizon_months,
        monthly_discount_rate=monthly_discount_rate,
        n_segments_asked=n_segments,
        notes=notes,
        **churn_fields(churn_model, story, risk_status),
        spend_warnings=spend_notes(spend_model),
        data=data,
        currency=currency,
        min_cohort_size=min_cohort_size,
        unavailable={**unavailable, **shop.unavailable},
        shop=shop,
    )
