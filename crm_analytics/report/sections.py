"""What the report page and files are made of, whichever engine computed it.

:class:`ReportTables` holds every section's small tables and numbers, plus the
per-customer table as a :class:`CustomerTable`: something that writes
``customers.csv`` and ``segments.csv`` itself (pandas through Arrow, or the engine's own
CSV writer), so a per-customer table computed in DuckDB or Spark never passes through
pandas. :mod:`crm_analytics.report.pandas_path` and
:mod:`crm_analytics.report.engine_path` compute it; :func:`crm_analytics.report.builder.
build_report` draws, writes and renders it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.money import format_money
from crm_analytics.ltv.rules import margin_rule
from crm_analytics.report.data_section import DataSection
from crm_analytics.report.shop_sections import ShopSections

__all__ = [
    "COHORT_HOW",
    "COHORT_PERIOD",
    "CURRENCY",
    "MIN_COHORT_SIZE",
    "SEGMENT_FILE_COLUMNS",
    "CustomerTable",
    "ReportTables",
    "active_counts",
    "value_basis",
]

#: The report's default currency: unknown (money is written without a currency word;
#: the currency comes from ``run_report(currency=...)`` or the orders' validation).
CURRENCY = None
#: Cohorts with fewer customers are shown as too small on the page (not as rates).
MIN_COHORT_SIZE = 20
#: The report's cohorts: monthly, repurchase rates counted cumulatively.
COHORT_PERIOD, COHORT_HOW = "M", "cumulative"

#: ``segments.csv`` columns after the segment id and names, those present (the file for
#: messaging tools; ``customers.csv`` holds every column).
SEGMENT_FILE_COLUMNS = (
    "days_since_last_order", "n_orders", "total_amount", "avg_order_value", "last_order",
    "p_alive", "churn_risk", "expected_next_order", "ltv", "status", "quality", "rule_rank",
)


def active_counts(status_counts: pd.Series) -> dict[str, int]:
    """The page's one reading of member status: ``active`` (ordered within
    ``sleep_after`` days, pre-sleep members included), ``pre_sleep`` (the part of them
    about to sleep), ``sleeping`` (sleeping and given up) and ``given_up``.

    Examples
    --------
    >>> active_counts(pd.Series({"active": 1690, "pre_sleep": 81, "sleeping": 3229,
    ...                          "given_up": 0}))
    {'active': 1771, 'pre_sleep': 81, 'sleeping': 3229, 'given_up': 0}
    """
    get = {k: int(status_counts.get(k, 0)) for k in ("active", "pre_sleep", "sleeping",
                                                      "given_up")}
    return {"active": get["active"] + get["pre_sleep"], "pre_sleep": get["pre_sleep"],
            "sleeping": get["sleeping"] + get["given_up"], "given_up": get["given_up"]}


def value_basis(*, has_margin: bool, margin_rate: float | None) -> str:
    """What the predicted value counts: ``"margin"`` (orders with a margin, or a flat
    ``margin_rate``) or ``"revenue"``, as :func:`crm_analytics.ltv.rules.margin_rule`
    says ("margin" also when the rule refuses them: the report then has no LTV).

    Examples
    --------
    >>> value_basis(has_margin=False, margin_rate=0.3), value_basis(has_margin=False,
    ...                                                              margin_rate=None)
    ('margin', 'revenue')
    """
    try:
        return margin_rule(has_margin=has_margin, margin_rate=margin_rate).basis
    except CrmDataError:  # both given, or a bad rate: no LTV (the notes say why)
        return "margin"


class CustomerTable(Protocol):
    """The per-customer table of a report, where it was computed.

    ``table`` is what :attr:`crm_analytics.report.ReportResult.customers` holds (a
    pandas DataFrame, a DuckDB relation or a Spark DataFrame); ``write_jobs(out)``
    returns the jobs writing ``customers.csv`` and ``segments.csv`` into ``out`` (each
    returns the paths it wrote). Jobs may run on threads beside each other and beside
    chart drawing, so an engine returns one job doing its writes one after the other.
    """

    table: object

    def write_jobs(self, out: Path) -> Sequence[Callable[[], list[Path]]]:
        """Jobs writing ``customers.csv`` and ``segments.csv`` (in that file order)."""


@dataclass(frozen=True, eq=False)
class ReportTables:
    """Every section's tables and numbers, as the report builder needs them.

    Attributes
    ----------
    as_of : pandas.Timestamp
        The analysis day.
    n_customers, n_orders : int
        Customers, and orders up to ``as_of``.
    repurchase_rate : float
        Share of customers who bought again (on a later day than their first order).
    cohort_repurchase, cohort_revenue : pandas.DataFrame
        Cohorts of :data:`COHORT_PERIOD`: repurchase rates counted as
        :data:`COHORT_HOW`, and revenue (tidy).
    status_counts : pandas.Series
        Members per status (``active, pre_sleep, sleeping, given_up``, in that order).
    sleeping_flow : pandas.DataFrame
        The daily sleeping flow over the last year.
    risk_counts : pandas.Series or None
        Customers per churn risk (``low, medium, high``); None when no churn model.
    ltv_total : float or None
        Sum of the predicted values; None when no LTV was predicted.
    ltv_bins : pandas.DataFrame or None
        Log-scale histogram of the values
        (:func:`crm_analytics.plots.ltv.ltv_log_bins`); None when none is positive.
    value_basis : str
        ``"margin"`` or ``"revenue"``.
    segment_profiles : pandas.DataFrame
        One row per segment (``segment_profiles.csv``); empty without segments.
    segment_columns : tuple of str
        The segments' feature columns.
    n_segments : int
        Number of segments (0 when the customers could not be segmented).
    customers : CustomerTable
        The per-customer table and its writers.
    sleep_after, horizon_months, monthly_discount_rate, n_segments_asked
        The settings used (``n_segments_asked`` None: chosen by silhouette).
    notes : list of str
        Steps that could not run, or ran on a sample, and why.
    churn_model_name : str or None
        Display name of the churn model used (``"MBG/NBD"`` ...); None without one.
    churn_choice : str
        Why that model: the backtest's verdict, or why no backtest ran.
    churn_warnings : tuple of str
        What the churn model cannot support (its warnings and the backtest's).
    churn_rule_text : str
        When no model beat a simple rule: which rule to rank customers by ("" otherwise).
    backtest : BacktestResult or None
        The backtest behind the choice (its table and calibration chart are shown).
    risk_by_status : pandas.DataFrame or None
        Customers by churn risk (rows, with a total) and member status (columns).
    spend_warnings : tuple of str
        What the spend model cannot support, and its fallback.
    data : DataSection or None
        What was read, left out and used (the page's first section).
    currency : str or None
        ISO code of the amounts (None: unknown, no currency word).
    min_cohort_size : int
        Cohorts with fewer customers are shown as too small.
    unavailable : dict
        Section key (``"segments"``, ``"churn"``, ``"ltv"``, ``"cohorts"``,
        ``"kpi_board"``, ``"lifecycle"``, ``"payment"``, ``"replenishment"``) -> why
        that section could not be computed (said in its place on the page).
    shop : ShopSections
        The KPI board, the lifecycle, and the Payment and Replenishment sections when
        the orders allow them (:func:`crm_analytics.report.shop_sections.shop_sections`).
    """

    as_of: pd.Timestamp
    n_customers: int
    n_orders: int
    repurchase_rate: float
    cohort_repurchase: pd.DataFrame
    cohort_revenue: pd.DataFrame
    status_counts: pd.Series
    sleeping_flow: pd.DataFrame
    risk_counts: pd.Series | None
    ltv_total: float | None
    ltv_bins: pd.DataFrame | None
    value_basis: str
    segment_profiles: pd.DataFrame
    segment_columns: tuple[str, ...]
    n_segments: int
    customers: CustomerTable
    sleep_after: int
    horizon_months: int
    monthly_discount_rate: float
    n_segments_asked: int | None
    notes: list[str] = field(default_factory=list)
    churn_model_name: str | None = None
    churn_choice: str = ""
    churn_warnings: tuple[str, ...] = ()
    churn_rule_text: str = ""
    backtest: object | None = None
    risk_by_status: pd.DataFrame | None = None
    spend_warnings: tuple[str, ...] = ()
    data: DataSection | None = None
    currency: str | None = None
    min_cohort_size: int = MIN_COHORT_SIZE
    unavailable: dict[str, str] = field(default_factory=dict)
    shop: ShopSections = field(default_factory=ShopSections)

    def backtest_table(self) -> pd.DataFrame | None:
        """The backtest's table for the page (numbers rounded), None without one."""
        if self.backtest is None:
            return None
        return self.backtest.table.round({"auc": 3, "predicted_orders": 1,
                                          "actual_orders": 0, "error_pct": 1, "mae": 3})

    def headline(self, currency: str | None = None) -> dict[str, str]:
        """Label -> formatted value, as shown at the top of the page.

        Money is written with ``currency`` (default :attr:`currency`), without any
        currency word when it is unknown. "Active" counts the members who ordered
        within ``sleep_after`` days, pre-sleep members included, as everywhere on the
        page.
        """
        currency = self.currency if currency is None else currency
        counts = active_counts(self.status_counts)
        value = (format_money(self.ltv_total, currency)
                 if self.ltv_total is not None and pd.notna(self.ltv_total)
                 else "n/a (see the value section)" if "ltv" in self.unavailable
                 else "n/a (needs repeat customers)")
        return {
            "Customers": f"{self.n_customers:,}",
            "Orders": f"{self.n_orders:,}",
            "Repurchase rate (bought again)": f"{self.repurchase_rate:.1%}",
            f"Active members (ordered within {self.sleep_after} days)":
                f"{counts['active']:,}",
            f"Sleeping members (>= {self.sleep_after} days)": f"{counts['sleeping']:,}",
            f"Predicted {self.horizon_months}-month value ({self.value_basis}, discounted)":
                value,
        }

    def risk_table(self) -> pd.DataFrame | None:
        """``churn_risk, customers``, most customers first (None without a churn model)."""
        if self.risk_counts is None:
            return None
        return (self.risk_counts.sort_values(ascending=False, kind="stable")
                .rename_axis("churn_risk").reset_index(name="customers"))
