"""The one report builder: charts, CSV files and the page from a :class:`ReportTables`.

Both ways of computing the report (pandas, or inside DuckDB / Spark) end here, so the
files, charts and page are made by the same code whatever computed the numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from crm_analytics._core.frames import write_excel_csv
from crm_analytics._core.money import currency_label
from crm_analytics.plots.backtest import plot_backtest_calibration
from crm_analytics.plots.cohorts import plot_cohort_heatmap, plot_repurchase_curves
from crm_analytics.plots.lifecycle import plot_kpi_board, plot_lifecycle, plot_repurchase_by
from crm_analytics.plots.ltv import plot_ltv_histogram
from crm_analytics.plots.overview import plot_churn_risk, plot_member_status
from crm_analytics.plots.reminders import plot_payment_timing, plot_repurchase_cycles
from crm_analytics.plots.segments import plot_segment_profiles, plot_segment_sizes
from crm_analytics.plots.sleeping import plot_sleeping_flow
from crm_analytics.report.data_section import DataSection
from crm_analytics.report.page import figure_to_png, write_report_page
from crm_analytics.report.runtime import warnings_state_kept
from crm_analytics.report.sections import COHORT_HOW, COHORT_PERIOD, CURRENCY, ReportTables
from crm_analytics.report.shop_sections import BOARD_PERIODS_SHOWN

__all__ = ["ReportResult", "build_report", "draw_charts", "shop_files"]


@dataclass(frozen=True, eq=False)
class ReportResult:
    """What :func:`crm_analytics.report.run_report` wrote and the headline numbers.

    Attributes
    ----------
    out_dir, html_path : pathlib.Path
    files : list of pathlib.Path
        Every file written.
    headline : dict
        Label -> formatted value, as shown at the top of the page.
    customers : pandas.DataFrame, DuckDB relation or Spark DataFrame
        One row per customer: summary, churn, LTV, segment and sleeping status. For an
        engine source (Parquet paths, DuckDB, Spark) it is the engine's table, so that
        tens of millions of customers never pass through pandas.
    notes : list of str
        Steps that could not run and why.
    data : DataSection or None
        What was read, left out (count and reason of each exclusion) and used.
    """

    out_dir: Path
    html_path: Path
    files: list[Path]
    headline: dict[str, str]
    customers: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    data: DataSection | None = None

    def headline_lines(self) -> list[str]:
        """The data section's lines, then the headline numbers as ``label: value``
        lines, then the notes."""
        data = self.data.lines() if self.data is not None else []
        return data + [f"{k}: {v}" for k, v in self.headline.items()] + self.notes


def draw_charts(tables: ReportTables, *, currency: str | None = CURRENCY
                ) -> dict[str, object]:
    """Chart file name -> matplotlib Axes, in page order (segments, churn risk and LTV
    when known). ``currency`` (default ``tables.currency``) labels the money axes."""
    currency = tables.currency if currency is None else currency
    columns = list(tables.segment_columns)
    charts = {}
    life = tables.shop.lifecycle
    if life is not None and len(life.board):
        charts["kpi_board.png"] = plot_kpi_board(life.board.tail(BOARD_PERIODS_SHOWN),
                                                 column="revenue")
    if len(tables.cohort_repurchase):
        small = tables.min_cohort_size
        charts["cohort_heatmap.png"] = plot_cohort_heatmap(
            tables.cohort_repurchase, value="rate", period=COHORT_PERIOD, how=COHORT_HOW,
            min_cohort_size=small, show_sizes=True)
        charts["repurchase_curves.png"] = plot_repurchase_curves(
            tables.cohort_repurchase, period=COHORT_PERIOD, how=COHORT_HOW,
            min_cohort_size=small)
    if life is not None and len(life.stage_counts):
        charts["lifecycle.png"] = plot_lifecycle(life.stage_counts)
    for by, table in (life.repurchase.items() if life is not None else ()):
        if len(table):
            charts[f"repurchase_by_{by}.png"] = plot_repurchase_by(table)
    if tables.n_segments > 0:
        charts["segment_profiles.png"] = plot_segment_profiles(tables.segment_profiles,
                                                               columns=columns)
        charts["segment_sizes.png"] = plot_segment_sizes(tables.segment_profiles)
    charts["member_status.png"] = plot_member_status(
        tables.status_counts, pre_sleep_in_active=True, sleep_after=tables.sleep_after)
    charts["sleeping_flow.png"] = plot_sleeping_flow(tables.sleeping_flow)
    if tables.risk_counts is not None:
        charts["churn_risk.png"] = plot_churn_risk(tables.risk_counts)
    if tables.backtest is not None:
        charts["churn_backtest.png"] = plot_backtest_calibration(tables.backtest)
    if tables.ltv_bins is not None and len(tables.ltv_bins):
        charts["ltv_distribution.png"] = plot_ltv_histogram(
            tables.ltv_bins, basis=tables.value_basis, horizon_months=tables.horizon_months,
            discounted=True, currency=currency_label(currency))
    rem = tables.shop.reminders
    if rem is not None and rem.payment is not None:
        charts["payment_timing.png"] = plot_payment_timing(rem.payment)
    if rem is not None and rem.cycles is not None and \
            rem.cycles.table["cycle_days_per_unit"].notna().any():
        charts["repurchase_cycles.png"] = plot_repurchase_cycles(rem.cycles)
    return charts


def _png(ax) -> bytes:
    fig = ax.figure
    png = figure_to_png(fig)
    plt.close(fig)
    return png


def _write_small_tables(tables: ReportTables, out: Path) -> list[Path]:
    written = []
    for name, table in (("cohort_repurchase.csv", tables.cohort_repurchase),
                        ("cohort_revenue.csv", tables.cohort_revenue),
                        ("segment_profiles.csv", tables.segment_profiles)):
        if name == "segment_profiles.csv" and tables.n_segments == 0:
            continue  # no segments (the page says why)
        write_excel_csv(table, out / name)
        written.append(out / name)
    for name, table in shop_files(tables).items():
        write_excel_csv(table, out / name)
        written.append(out / name)
    return written


def shop_files(tables: ReportTables) -> dict[str, pd.DataFrame]:
    """CSV file name -> table, for the shop sections the report has: ``kpi_board.csv``
    (every quarter), ``lifecycle_stages.csv``, ``repurchase_by_first_<dimension>.csv``
    and the payment and replenishment tables."""
    files = {}
    life = tables.shop.lifecycle
    if life is not None:
        files["kpi_board.csv"] = life.board
        files["lifecycle_stages.csv"] = life.stage_counts
        files.update({f"repurchase_by_{by}.csv": t for by, t in life.repurchase.items()})
    if tables.shop.reminders is not None:
        files.update({f"{name}.csv": t for name, t in tables.shop.reminders.tables().items()
                      if t is not None})
    return files


def build_report(
    tables: ReportTables,
    out: Path,
    *,
    subtitle: str,
    step: Callable[[str], None] = lambda name: None,
    currency: str | None = CURRENCY,
) -> ReportResult:
    """Write the report's files and page into the folder ``out``.

    Files: ``customers.csv`` and ``segments.csv`` (by ``tables.customers``, pandas or
    the engine), ``cohort_repurchase.csv``, ``cohort_revenue.csv``,
    ``segment_profiles.csv`` and the shop sections' tables (:func:`shop_files`; UTF-8
    with a byte-order mark), the PNG charts and ``report.html``. The per-customer files are written on worker threads while the
    charts are drawn.

    Parameters
    ----------
    tables : ReportTables
    out : pathlib.Path
        An existing folder.
    subtitle : str
        Under the page title.
    step : callable, optional
        Called with ``"files"`` then ``"html"`` (the progress bar).
    currency : str, optional
        ISO code of the money in the headline and the LTV chart; default
        ``tables.currency`` (None: no currency word).

    Returns
    -------
    ReportResult
    """
    currency = tables.currency if currency is None else currency
    files: list[Path] = []
    jobs = [*tables.customers.write_jobs(out), lambda: _write_small_tables(tables, out)]
    # CSV writing (seconds at a million customers, mostly in Arrow's or the engine's
    # writer, which release the GIL) runs on two threads while the charts are drawn.
    with warnings_state_kept(), ThreadPoolExecutor(max_workers=2) as pool:
        written = [pool.submit(job) for job in jobs]
        images = {name: _png(ax) for name, ax in draw_charts(tables, currency=currency).items()}
        png_files = []
        for name, png in images.items():
            (out / name).write_bytes(png)
            png_files.append(out / name)
        files += [f for task in written for f in task.result()]
    step("files")
    files += png_files
    headline = tables.headline(currency)
    html_path = write_report_page(out, tables, images, subtitle=subtitle, headline=headline,
                                  currency=currency)
    files.append(html_path)
    step("html")
    return ReportResult(out_dir=out, html_path=html_path, files=files, headline=headline,
                        customers=tables.customers.table, notes=list(tables.notes),
                        data=tables.data)
