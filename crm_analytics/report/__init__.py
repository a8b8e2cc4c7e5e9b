"""The main job: every analysis on one order table, written to a folder with an HTML page.

Used by ``crm-analytics report``; callable from scripts as :func:`run_report`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from tqdm.auto import tqdm

from crm_analytics._core.dates import to_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source
from crm_analytics.churn import churn_scores, fit_churn_model
from crm_analytics.cohorts import cohort_repurchase, cohort_revenue, repurchase_rate
from crm_analytics.ltv import fit_spend_model, predict_ltv
from crm_analytics.orders.encode import prepare_orders
from crm_analytics.plots.cohorts import plot_cohort_heatmap, plot_repurchase_curves
from crm_analytics.plots.ltv import plot_ltv_distribution
from crm_analytics.plots.overview import plot_churn_risk, plot_member_status
from crm_analytics.plots.segments import plot_segment_profiles, plot_segment_sizes
from crm_analytics.plots.sleeping import plot_sleeping_flow
from crm_analytics.report.page import ReportSection, figure_to_png, render_html
from crm_analytics.segments import _same_ids, kmeans_segments
from crm_analytics.segments.export import export_segments
from crm_analytics.sleeping import member_status, sleeping_flow
from crm_analytics.summary import customer_summary

__all__ = ["ReportResult", "run_report"]

#: segments.csv columns after the segment id and names (customers.csv has them all)
_SEGMENT_FILE_COLUMNS = (
    "days_since_last_order", "n_orders", "total_amount", "avg_order_value", "last_order",
    "p_alive", "churn_risk", "expected_next_order", "ltv", "status", "quality",
)

_STEPS = ("summary", "cohorts", "sleeping", "churn", "ltv", "segments", "files", "html")


@dataclass(frozen=True, eq=False)
class ReportResult:
    """What :func:`run_report` wrote and the headline numbers.

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
    """

    out_dir: Path
    html_path: Path
    files: list[Path]
    headline: dict[str, str]
    customers: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def headline_lines(self) -> list[str]:
        """The headline numbers as ``label: value`` lines."""
        return [f"{k}: {v}" for k, v in self.headline.items()] + self.notes


def _png(ax) -> bytes:
    fig = ax.figure
    png = figure_to_png(fig)
    plt.close(fig)
    return png


def _save(png: bytes, path: Path, files: list[Path]) -> bytes:
    path.write_bytes(png)
    files.append(path)
    return png


def _join(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    """``left.merge(right, on="customer_id", how="left", validate="one_to_one")``.

    The per-customer tables of one run list the same customers (unique: ``left`` starts
    as a customer summary) in the same order, so they are put side by side without
    hashing a million ids again; otherwise a merge.
    """
    new = [c for c in right.columns if c != "customer_id"]
    if (
        len(left) == len(right)
        and not set(new) & set(left.columns)
        and _same_ids(left["customer_id"], right["customer_id"])
    ):
        return pd.concat([left, right[new].set_axis(left.index)], axis=1)
    return left.merge(right, on="customer_id", how="left", validate="one_to_one")


def _segments_on_one_core(summary: pd.DataFrame, **kwargs: object):
    """:func:`kmeans_segments` on one OpenMP / BLAS thread: it runs beside the main
    thread, and on a busy machine idle OpenMP and BLAS threads spin (measured twice as
    slow on 2 cores). The labels do not depend on the thread count."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return kmeans_segments(summary, **kwargs)


@contextmanager
def _warnings_state_kept() -> Iterator[None]:
    """Leave the global warnings state as it was, whatever threads did inside the block.

    Before Python 3.14 ``warnings.catch_warnings`` is not thread-safe: pandas, sklearn
    and lifetimes enter it on both threads of the report, and interleaved entries and
    exits can leave one thread's temporary filters installed. Warnings shown during the
    block may therefore differ; the state afterwards does not.
    """
    filters, saved = warnings.filters, list(warnings.filters)
    show, show_impl = warnings.showwarning, warnings._showwarnmsg_impl  # type: ignore
    try:
        yield
    finally:
        filters[:] = saved
        warnings.filters = filters
        warnings.showwarning = show
        warnings._showwarnmsg_impl = show_impl  # type: ignore[attr-defined]
        warnings._filters_mutated()  # type: ignore[attr-defined]


def _output_folder(out_dir: str | Path) -> Path:
    """``out_dir`` as a Path, created if missing (a clear error if it cannot be)."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CrmDataError(f"Cannot create the output folder {out}: {exc}.") from exc
    return out


def _progress_bar(progress: bool):
    """The report's step bar on stderr and ``step(name)``, which advances it."""
    bar = tqdm(total=len(_STEPS), disable=not progress, desc="crm-analytics report",
               unit="step", leave=False)

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        bar.update(1)

    return bar, step


def _write_page(
    out: Path, *, img: dict[str, bytes], headline: dict[str, str], notes: list[str],
    n_segments: int | None, segments_k: int, profiles: pd.DataFrame,
    risk_table: pd.DataFrame | None, horizon_months: int, monthly_discount_rate: float,
    sleep_after: int, subtitle: str,
) -> Path:
    """``report.html`` from the charts' PNG bytes and the tables (both report paths)."""
    sections = [
        ReportSection(
            "Repurchase by first-order month (cohorts)",
            text="Share of each month's new customers who bought again within k months. "
                 "Blank cells have not fully elapsed yet.",
            images=[img["cohort_heatmap.png"], img["repurchase_curves.png"]],
        ),
        ReportSection(
            "Customer segments",
            text=f"KMeans on recency, frequency and spend; {segments_k} segments chosen "
                 "by silhouette." if n_segments is None else f"{segments_k} KMeans segments.",
            images=[img["segment_profiles.png"], img["segment_sizes.png"]],
            tables=[profiles],
        ),
        ReportSection(
            "Churn risk",
            text="P(alive) from the MBG/NBD model: the probability that a customer has not "
                 "left for good (high risk = below 0.5). A live customer who buys rarely "
                 "can still be a sleeping member, so compare with the section below.",
            images=[img["churn_risk.png"]] if "churn_risk.png" in img else [],
            tables=[risk_table] if "churn_risk.png" in img and risk_table is not None else [],
        ),
        ReportSection(
            f"Predicted {horizon_months}-month customer value",
            text=f"BG/NBD + Gamma-Gamma, discounted {monthly_discount_rate:.1%} per month.",
            images=[img["ltv_distribution.png"]] if "ltv_distribution.png" in img else [],
        ),
        ReportSection(
            "Sleeping members (沉睡会员)",
            text=f"A member sleeps after {sleep_after} days without an order.",
            images=[img["member_status.png"], img["sleeping_flow.png"]],
        ),
    ]
    if notes:
        sections.insert(0, ReportSection("Notes", text=" ".join(notes)))
    return render_html(
        out / "report.html",
        title="Customer retention report / 客户复购与留存报告",
        subtitle=subtitle,
        headline=headline,
        sections=sections,
    )


def run_report(
    orders: pd.DataFrame,
    *,
    out_dir: str | Path = "crm_report",
    as_of: object = None,
    sleep_after: int = 90,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    margin_rate: float | None = None,
    n_segments: int | None = None,
    progress: bool = True,
    source_name: str = "orders",
) -> ReportResult:
    """Run summary, cohorts, churn, LTV, segments and sleeping status; write files + HTML.

    Files written to ``out_dir``: ``customers.csv`` (one row per customer, UTF-8 with
    BOM), ``segments.csv``, ``cohort_repurchase.csv`` (cumulative rates, tidy),
    ``cohort_revenue.csv``, PNG charts and ``report.html`` (self-contained).

    Churn risk uses the MBG/NBD model, because plain BG/NBD scores every one-time
    buyer as certainly alive, which would hide most lapsed customers from a manager.

    Parameters
    ----------
    orders : pandas.DataFrame, Parquet path(s) or engine relation
        Canonical orders (validated here if needed; not modified), or, for order sets
        larger than memory, Parquet paths / a DuckDB relation / a PySpark DataFrame with
        canonical columns: then every step runs in the engine
        (:func:`crm_analytics.report.engine.run_engine_report`): per-customer tables
        stay there (memory does not grow with the number of customers) and only
        aggregates and model statistics come to Python.
    out_dir : str or Path
        Output folder, created if missing.
    as_of : date-like, optional
        Analysis date; default the last order date.
    sleep_after : int, default 90
        Days without an order after which a member counts as sleeping.
    horizon_months, monthly_discount_rate, margin_rate
        Passed to :func:`crm_analytics.ltv.predict_ltv`.
    n_segments : int, optional
        Number of KMeans segments; default chosen by silhouette.
    progress : bool, default True
        Show a progress bar on stderr.
    source_name : str
        Shown in the page subtitle.

    Returns
    -------
    ReportResult
    """
    if is_engine_source(orders):  # per-customer tables stay in the engine
        from crm_analytics.report.engine import run_engine_report

        return run_engine_report(
            orders, out_dir=out_dir, as_of=as_of, sleep_after=sleep_after,
            horizon_months=horizon_months, monthly_discount_rate=monthly_discount_rate,
            margin_rate=margin_rate, n_segments=n_segments, progress=progress,
            source_name=source_name)
    prepared = prepare_orders(orders)
    orders = prepared.orders
    as_of_ts = (orders["order_date"].max().normalize() if as_of is None
                else to_day(as_of, "as_of"))
    out = _output_folder(out_dir)
    files: list[Path] = []
    notes: list[str] = []
    bar, step = _progress_bar(progress)

    # KMeans (BLAS and OpenMP work that releases the GIL) runs on a second thread while
    # the cohort, churn and sleeping steps run here; each step gives what it gives alone.
    with _warnings_state_kept(), ThreadPoolExecutor(max_workers=1) as pool:
        summary = customer_summary(prepared, as_of=as_of_ts, time_unit="W")
        step("summary")
        segmenting = pool.submit(_segments_on_one_core, summary, n_clusters=n_segments)

        cum = cohort_repurchase(prepared, period="M", how="cumulative", as_of=as_of_ts)
        revenue = cohort_revenue(prepared, period="M", as_of=as_of_ts)
        # a repeat order is one on a later day than the first: frequency > 0 (same rule)
        rate = repurchase_rate(prepared, as_of=as_of_ts).rate
        step("cohorts")

        status = member_status(prepared, as_of=as_of_ts, sleep_after=sleep_after)
        flow_start = max(summary["first_order"].min().normalize(),
                         as_of_ts - pd.Timedelta(days=364))
        flow = sleeping_flow(prepared, start=flow_start, end=as_of_ts, sleep_after=sleep_after)
        step("sleeping")

        # The models need repeat customers; a new shop or a short export has none. The
        # report then says so and still writes everything else.
        ids = summary[["customer_id"]]
        scores = ids.assign(p_alive=float("nan"), p_churn=float("nan"),
                            expected_orders=float("nan"), churn_risk=pd.NA)
        ltv = ids.assign(expected_orders=float("nan"), ltv=float("nan"))
        try:
            churn_model = fit_churn_model(summary, model="mbgnbd", standard_errors=False)
            scores = churn_scores(churn_model, summary, horizon=90)
        except CrmDataError as exc:
            churn_model = None
            notes.append(f"Churn model not fitted: {exc}")
        step("churn")
        if churn_model is not None:
            try:
                spend_model = fit_spend_model(summary, standard_errors=False)
                ltv = predict_ltv(summary, churn_model, spend_model,
                                  horizon_months=horizon_months,
                                  monthly_discount_rate=monthly_discount_rate,
                                  margin_rate=margin_rate)
            except CrmDataError as exc:
                notes.append(f"Spend model not fitted, so no LTV: {exc}")
        step("ltv")

        segments = segmenting.result()
        step("segments")

    status_cols = ["customer_id", "status", "quality", "sleep_date"]
    customers = summary
    for table in (
        scores,
        ltv.rename(columns={"expected_orders": f"expected_orders_{horizon_months}m"}),
        segments.assignments[["customer_id", "segment", "segment_name"]],
        status[[c for c in status_cols if c in status.columns]],
    ):
        customers = _join(customers, table)
    if len(customers) != len(summary):  # pragma: no cover - guarded by validate=
        raise CrmDataError("Internal error: customers were lost while joining results.")

    # 4 decimals are plenty for people and messaging tools (money stays exact to the fen)
    rounded = customers.round(dict.fromkeys(customers.select_dtypes("float").columns, 4))

    def write_customers() -> list[Path]:
        return [export_segments(rounded, out / "customers.csv")]

    def write_tables() -> list[Path]:
        # the file for messaging tools: segment, names and the key RFM / churn / LTV /
        # sleeping columns (customers.csv holds every column)
        key = [c for c in _SEGMENT_FILE_COLUMNS if c in rounded.columns]
        written = [
            export_segments(segments, out / "segments.csv",
                            extra=rounded[["customer_id", *key]],
                            columns=key),
        ]
        for name, table in (("cohort_repurchase.csv", cum), ("cohort_revenue.csv", revenue),
                            ("segment_profiles.csv", segments.profiles)):
            table.to_csv(out / name, index=False, encoding="utf-8-sig")
            written.append(out / name)
        return written

    # The CSV files (seconds each at a million customers, mostly in Arrow's writer, which
    # releases the GIL) are written on two more threads while the charts are drawn.
    with _warnings_state_kept(), ThreadPoolExecutor(max_workers=2) as pool:
        tables = [pool.submit(write_customers), pool.submit(write_tables)]
        currency = "yuan"
        value_label = ("margin" if ("total_margin" in summary.columns or margin_rate)
                       else "revenue")
        counts = status["status"].value_counts()
        n_orders = int(summary["n_orders"].sum())  # orders up to as_of
        headline = {
            "Customers": f"{len(summary):,}",
            "Orders": f"{n_orders:,}",
            "Repurchase rate (bought again)": f"{rate:.1%}",
            "Active members": f"{int(counts.get('active', 0) + counts.get('pre_sleep', 0)):,}",
            f"Sleeping members (>= {sleep_after} days)":
                f"{int(counts.get('sleeping', 0) + counts.get('given_up', 0)):,}",
            f"Predicted {horizon_months}-month value ({value_label}, discounted)":
                (f"{ltv['ltv'].sum():,.0f} {currency}" if ltv["ltv"].notna().any()
                 else "n/a (needs repeat customers)"),
        }
        pngs = {
            "cohort_heatmap.png": plot_cohort_heatmap(cum, value="rate"),
            "repurchase_curves.png": plot_repurchase_curves(cum),
            "segment_profiles.png": plot_segment_profiles(segments),
            "segment_sizes.png": plot_segment_sizes(segments),
            "member_status.png": plot_member_status(status),
            "sleeping_flow.png": plot_sleeping_flow(flow),
        }
        if scores["churn_risk"].notna().any():
            pngs["churn_risk.png"] = plot_churn_risk(scores)
        if ltv["ltv"].notna().any():
            pngs["ltv_distribution.png"] = plot_ltv_distribution(ltv, log_scale=True,
                                                                 currency=currency)
        png_files: list[Path] = []
        img = {name: _save(_png(ax), out / name, png_files) for name, ax in pngs.items()}
        files += [f for task in tables for f in task.result()]
    step("files")
    files += png_files
    risk_table = (scores["churn_risk"].value_counts().rename_axis("churn_risk")
                  .reset_index(name="customers"))
    html_path = _write_page(
        out, img=img, headline=headline, notes=notes, n_segments=n_segments,
        segments_k=segments.k, profiles=segments.profiles, risk_table=risk_table,
        horizon_months=horizon_months, monthly_discount_rate=monthly_discount_rate,
        sleep_after=sleep_after, subtitle=f"{source_name} — as of {as_of_ts.date()}")
    files.append(html_path)
    step("html")
    bar.close()
    return ReportResult(out_dir=out, html_path=html_path, files=files, headline=headline,
                        customers=customers, notes=notes)
