"""The main job: every analysis on one order table, written to a folder with an HTML page.

Used by ``crm-analytics report``; callable from scripts as :func:`run_report`.

One report, two ways of computing it: :mod:`~crm_analytics.report.pandas_path` (orders
in memory) and :mod:`~crm_analytics.report.engine_path` (Parquet paths, DuckDB, Spark:
per-customer tables stay in the engine) each compute a
:class:`~crm_analytics.report.sections.ReportTables`; :func:`~crm_analytics.report.
builder.build_report` draws the charts, writes the files and renders the page
(:mod:`~crm_analytics.report.page`) from it, whichever computed it.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.money import check_currency
from crm_analytics.backends import is_engine_source
from crm_analytics.orders.encode import prepare_orders
from crm_analytics.report.builder import ReportResult, build_report
from crm_analytics.report.engine_path import SAMPLE_SIZE, engine_tables
from crm_analytics.report.folder import report_folder
from crm_analytics.report.pandas_path import pandas_tables
from crm_analytics.report.runtime import progress_steps
from crm_analytics.report.sections import MIN_COHORT_SIZE, ReportTables
from crm_analytics.sleeping.rules import check_count

__all__ = ["SAMPLE_SIZE", "ReportResult", "ReportTables", "build_report", "run_report"]


def run_report(
    orders: pd.DataFrame,
    *,
    out_dir: str | Path = "crm_report",
    as_of: object = None,
    sleep_after: int = 90,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    margin_rate: float | None = None,
    n_clusters: int | None = None,
    progress: bool = True,
    source_name: str = "orders",
    sample_size: int = SAMPLE_SIZE,
    seed: int = 0,
    n_segments: int | None = None,
    currency: str | None = None,
    min_cohort_size: int = MIN_COHORT_SIZE,
    created_orders: pd.DataFrame | None = None,
    **engine_options: object,
) -> ReportResult:
    """Run every analysis the orders allow on one order table; write files + HTML.

    The KPI board, lifecycle, cohorts, segments, churn, LTV and sleeping status, and
    payment and replenishment timing when the orders have the columns.

    The page starts with the data used: rows read, orders kept, every exclusion with its
    count and reason (orders after the as-of day included), warnings, the order dates,
    the currency and the as-of day with why it was used. A section that cannot be
    computed (too few customers to segment, no repeat customers for a model ...) says
    why in its place; the report always completes when the orders are valid.

    One report per folder: the files are written into a temporary folder beside
    ``out_dir`` and moved in when all are written (a failed run leaves ``out_dir`` as it
    was); the files a previous report wrote there (listed in its manifest,
    ``.crm-analytics-report.json``) are removed, other files are never touched. Two
    reports writing into one folder at once do not mix: the second waits a few seconds
    for the first, then stops with a clear error.

    After the data section comes the shop's KPI board (quarterly: customers, orders,
    revenue, AOV, repurchase rate, orders per repeat customer, revenue share of repeat
    customers, each with its change on the previous quarter); then the sections,
    including the customer lifecycle (stages per month) with repurchase by first
    channel and first category (when the orders have ``channel`` / ``category``), a
    Payment section (催付) when the orders have ``created_at`` and ``paid_at``, and a
    Replenishment section (追销) when they have ``quantity`` and ``product`` (or
    ``category``).

    Files written to ``out_dir``: ``customers.csv`` (one row per customer, UTF-8 with
    BOM), ``segments.csv``, ``cohort_repurchase.csv`` (cumulative rates, tidy),
    ``cohort_revenue.csv``, ``segment_profiles.csv``, ``kpi_board.csv`` (every
    quarter), ``lifecycle_stages.csv``, ``repurchase_by_first_channel.csv`` /
    ``repurchase_by_first_category.csv``, the payment and replenishment tables
    (``payment_timing_by_hour.csv``, ``payment_timing_by_weekday.csv``,
    ``payment_timing_overall.csv``, ``repurchase_cycles.csv``,
    ``replenishment_list.csv``) when those sections exist, PNG charts and
    ``report.html`` (self-contained).

    The churn model is chosen by a backtest on the shop's own last months
    (:func:`~crm_analytics.churn.fit.choose_churn_model`: the family that best ranks who
    ordered in the held-out period, compared with simple rules); MBG/NBD when no
    backtest can run (a short history; more than 200,000 customers in an engine). The
    page says which model and why, shows its warnings, counts customers by churn risk
    and sleeping status, and when a simple rule beats every model says so and how to
    rank customers by it.

    Parameters
    ----------
    orders : pandas.DataFrame, PreparedOrders, Parquet path(s) or engine relation
        Canonical orders (validated here if needed; not modified), or, for order sets
        larger than memory, Parquet paths / a DuckDB relation / a PySpark DataFrame with
        canonical columns: then every step runs in the engine
        (:mod:`crm_analytics.report.engine_path`): per-customer tables stay there
        (memory does not grow with the number of customers) and only aggregates and
        model statistics come to Python.
    out_dir : str or Path
        Output folder, created if missing.
    as_of : date-like, optional
        Analysis date; default the last order date.
    sleep_after : int, default 90
        Days without an order after which a member counts as sleeping.
    horizon_months, monthly_discount_rate, margin_rate
        Passed to :func:`crm_analytics.ltv.predict_ltv`.
    n_clusters : int, optional
        Number of KMeans segments; default chosen by silhouette. When the customers
        cannot be segmented (too few), the page says why and the segment columns of
        the files are empty.
    progress : bool, default True
        Show a progress bar on stderr.
    source_name : str
        Shown in the page subtitle.
    sample_size : int, default SAMPLE_SIZE
        Engine sources: customers in the seeded sample the KMeans segments are fitted
        on (every customer is then assigned in SQL). In memory, all customers are used.
    seed : int, default 0
        Engine sources: seed of that sample and of the Gamma-Gamma fit's sample.
    currency : str, optional
        ISO code of the amounts (``"GBP"``); default the one the orders' validation
        found (``prepare_orders(orders, report=read_report)``), else unknown: money is
        then written without any currency word.
    min_cohort_size : int, default 20
        Cohorts with fewer customers are shown as too small (not as rates).
    created_orders : pandas.DataFrame, optional
        Every created order, paid or not, with ``created_at`` and ``paid_at``: what
        ``read_orders(path, include_unpaid=True)`` returns. The Payment section counts
        them (never-paid orders are what a payment reminder is for). By default it
        uses ``orders`` when they have these columns, and says that never-paid orders
        were not available (validation leaves them out).
    **engine_options
        Engine sources: ``connection``, ``memory_limit``, ``temp_directory``,
        ``threads`` (for Parquet paths, as in :func:`crm_analytics.customer_summary`).

    Returns
    -------
    ReportResult
        For an engine source, ``customers`` is the engine's table of ``customers.csv``
        (a lazy DuckDB relation or Spark DataFrame, sorted by ``customer_id``,
        unrounded).

    Raises
    ------
    CrmDataError
        Invalid orders or parameters, an unwritable folder.

    Examples
    --------
    >>> import tempfile
    >>> from crm_analytics.orders.datasets import load_sample
    >>> res = run_report(load_sample(), out_dir=tempfile.mkdtemp(), n_clusters=3,
    ...                  progress=False)  # doctest: +SKIP
    >>> res.headline["Customers"]  # doctest: +SKIP
    '5,000'
    """
    if n_segments is not None:
        if n_clusters is not None:
            raise CrmDataError("Pass n_clusters only ('n_segments' is its old spelling).")
        warnings.warn("run_report(n_segments=...) is deprecated; use n_clusters=... (as in "
                      "kmeans_segments).", DeprecationWarning, stacklevel=2)
        n_clusters = n_segments
    currency = check_currency(currency)
    min_cohort_size = check_count(min_cohort_size, "min_cohort_size", 1, " of customers")
    settings = dict(as_of=as_of, sleep_after=sleep_after, horizon_months=horizon_months,
                    monthly_discount_rate=monthly_discount_rate, margin_rate=margin_rate,
                    n_segments=n_clusters, min_cohort_size=min_cohort_size)
    engine = is_engine_source(orders)
    if not engine:
        if engine_options:
            raise CrmDataError(
                f"Engine options {sorted(engine_options)} apply to Parquet paths, DuckDB "
                "relations and Spark DataFrames only; orders is an in-memory table.")
        orders = prepare_orders(orders)
        if currency is None:
            currency = check_currency(getattr(orders.report, "currency", None))
    bar, step = progress_steps(progress)
    try:
        with report_folder(out_dir) as tmp:
            if engine:  # per-customer tables stay in the engine
                tables = engine_tables(orders, sample_size=sample_size, seed=seed, step=step,
                                       currency=currency, created_orders=created_orders,
                                       **settings, **engine_options)
            else:
                tables = pandas_tables(orders, step=step, currency=currency,
                                       created_orders=created_orders, **settings)
            written = build_report(tables, tmp, step=step,
                                   subtitle=f"{source_name} — as of {tables.as_of.date()}")
    finally:
        bar.close()
    out = Path(out_dir)
    return replace(written, out_dir=out, html_path=out / written.html_path.name,
                   files=[out / f.name for f in written.files])
