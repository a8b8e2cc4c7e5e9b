"""The report's tables computed inside DuckDB or Spark: per-customer tables stay there.

What :func:`crm_analytics.report.run_report` runs for Parquet paths, DuckDB relations
and Spark DataFrames. Memory in Python does not grow with the number of customers,
beyond fixed-size samples and compressed statistics:

- the customer summary is computed once and kept in the engine (a DuckDB temp table,
  which spills to ``temp_directory`` under ``memory_limit``; a cached Spark view);
- the churn family is chosen by the same backtest as on the pandas path (a customer
  summary collected once, up to
  :data:`~crm_analytics.report.churn_story.BACKTEST_MAX_CUSTOMERS` customers; MBG/NBD
  above, with a note); the churn and spend (Gamma-Gamma) models are fitted on compressed
  statistics computed in SQL (:mod:`crm_analytics.ltv.engine_fit`): counts per
  distinct ``(frequency, recency, T)`` history; distinct ``(frequency,
  monetary_value)`` pairs, from a seeded sample of repeat customers above
  :data:`~crm_analytics.ltv.engine_fit.MAX_SPEND_PAIRS` pairs;
- churn scores and LTV are computed once per history and joined back in the engine
  (:func:`crm_analytics.ltv.sql.pattern_scores`);
- KMeans segments are fitted by :func:`crm_analytics.segments.kmeans_segments` on a
  seeded sample of ``sample_size`` customers (all of them when there are fewer), then
  every customer is assigned to the nearest centre in SQL
  (:mod:`crm_analytics.segments.sql`, on the fitted transform);
- member status and quality are the SQL form of the sleeping rules
  (:func:`crm_analytics.sleeping.sql.member_status_sql`);
- ``customers.csv`` and ``segments.csv`` are written by the engine (DuckDB ``COPY``,
  Spark's CSV writer) and get their UTF-8 byte-order mark by a streaming copy;
- the page's tables and charts come from aggregates computed in SQL (counts, exact
  medians and quantiles, histogram bins, segment profiles).

Differences from the pandas path: ``ReportResult.customers`` is the engine's table (a
lazy DuckDB relation or Spark DataFrame), not a pandas DataFrame; segment names come
from the sample the KMeans model was fitted on; the CSV cells are formatted by the
engine (the same numbers; e.g. ``0.0`` for ``0``, Spark writes ``1.0E-5``). On the
bundled sample (fewer customers than ``sample_size``) the files hold the same numbers
as the pandas path.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.frames import neutralise_formulas_sql, prepend_bom
from crm_analytics.backends import runner_for
from crm_analytics.backends.order_stats import medians, order_values, quantile
from crm_analytics.backends.sql import (
    DIALECTS,
    Runner,
    chunk_count,
    first_day,
    has_column,
    orders_cte,
    resolve_day,
)
from crm_analytics.churn.backtest import rule_score_sql
from crm_analytics.cohorts.sql import cohort_repurchase_on_engine, cohort_revenue_on_engine
from crm_analytics.ltv import engine_fit
from crm_analytics.ltv import sql as ltv_sql
from crm_analytics.ltv.rules import margin_rule
from crm_analytics.orders.sql import check_engine_orders

try:  # the engine's validation report (exclusion counts); older trees lack it
    from crm_analytics.orders.sql import engine_validation_report
except ImportError:  # pragma: no cover - depends on the orders layer's version
    engine_validation_report = None
from crm_analytics.plots.ltv import LOG_BINS_LOW_QUANTILE, ltv_log_bin_edges
from crm_analytics.report.churn_story import (
    ChurnStory,
    choose_report_model,
    churn_fields,
    risk_by_status,
    spend_notes,
)
from crm_analytics.report.data_section import DataSection, data_section
from crm_analytics.report.sections import (
    COHORT_HOW,
    COHORT_PERIOD,
    MIN_COHORT_SIZE,
    SEGMENT_FILE_COLUMNS,
    ReportTables,
    value_basis,
)
from crm_analytics.report.shop_sections import shop_sections
from crm_analytics.segments import (
    SegmentationResult,
    kmeans_segments,
    profiles_from_aggregates,
    segment_order,
)
from crm_analytics.segments.sql import (
    nearest_segment_sql,
    segment_distance_sql,
    segment_name_sql,
)
from crm_analytics.sleeping.rules import check_sleep, default_aov_threshold
from crm_analytics.sleeping.sql import (
    member_status_sql,
    sleeping_flow_on_engine,
    status_counts_on_engine,
)
from crm_analytics.summary.sql import customer_summary_sql

__all__ = [
    "SAMPLE_SIZE",
    "EngineCustomers",
    "check_sample_size",
    "engine_data_section",
    "engine_tables",
    "fit_segments_on_sample",
    "ltv_bins_on_engine",
]

#: Customers in the seeded sample the KMeans segments are fitted on.
SAMPLE_SIZE = 200_000
#: Summary columns the KMeans sample is fetched with (the default features' columns).
SAMPLE_COLUMNS = ("days_since_last_order", "n_orders", "total_amount")
#: Days before sleeping that a member counts as pre_sleep (member_status' default).
REMIND_BEFORE = 10
#: Numbers of the engine tables of one process (each report gets its own names).
_tables = itertools.count()


def check_sample_size(sample_size: object) -> int:
    """``sample_size`` as an int >= 100 (a clear error otherwise)."""
    if isinstance(sample_size, bool) or not (
            isinstance(sample_size, int | np.integer) and sample_size >= 100):
        raise CrmDataError(f"The 'sample_size' parameter must be an int >= 100. "
                           f"Got {sample_size!r}.")
    return int(sample_size)


# --------------------------------------------------------------------------- data
def engine_data_section(runner: Runner, *, as_of: pd.Timestamp, as_of_day: int,
                        as_of_given: bool, currency: str | None,
                        sleep_after: int | None = None) -> DataSection:
    """The data section of an engine source: the engine's validation report
    (:func:`crm_analytics.orders.sql.engine_validation_report`: exclusion counts
    computed in SQL) and one scan counting the kept orders after the as-of day."""
    report, extra = None, ()
    if engine_validation_report is None:
        extra = ("This version cannot count the orders left out of Parquet / DuckDB / "
                 "Spark sources by reason (engine_validation_report is missing); the "
                 "counts below are the kept orders only.",)
    else:
        report = engine_validation_report(runner)
    a = int(as_of_day)
    row = runner.fetch(
        f"WITH {orders_cte(runner)} SELECT COUNT(*) AS kept, "
        f"SUM(CASE WHEN day > {a} THEN 1 ELSE 0 END) AS after_as_of, "
        f"MIN(CASE WHEN day <= {a} THEN day END) AS first_day, "
        f"MAX(CASE WHEN day <= {a} THEN day END) AS last_day FROM o").iloc[0]

    def day(value: object) -> pd.Timestamp | None:
        if value is None or pd.isna(value):
            return None
        return pd.Timestamp(np.datetime64(int(value), "D"))

    # the orders the analyses read (line items combined), whatever the report counts
    return data_section(report, orders_kept=int(row["kept"]), n_after_as_of=int(row["after_as_of"] or 0),
                        first_day=day(row["first_day"]), last_day=day(row["last_day"]),
                        as_of=as_of, as_of_given=as_of_given,
                        currency=currency if currency is not None
                        else getattr(report, "currency", None),
                        extra_notes=extra, sleep_after=sleep_after)


# --------------------------------------------------------------------------- files
def _write_csv(runner: Runner, query: str, target: Path, quote: list[str]) -> Path:
    plain = target.with_name(target.name + ".part")
    runner.write_csv(query, plain, quote=quote)
    prepend_bom(plain, target)
    return target


@dataclass(frozen=True, eq=False)
class EngineCustomers:
    """The per-customer table as engine queries: one for each file, and the lazy table.

    ``files`` maps a file name (``customers.csv``, ``segments.csv``) to its query and
    the text columns to quote; the engine writes them one after the other.
    """

    runner: Runner
    files: dict[str, tuple[str, list[str]]]
    table: object = field(default=None)

    def write_jobs(self, out: Path) -> list[Callable[[], list[Path]]]:
        """One job writing every file with the engine (one connection, one at a time)."""
        def write() -> list[Path]:
            return [_write_csv(self.runner, query, out / name, quote)
                    for name, (query, quote) in self.files.items()]

        return [write]


# --------------------------------------------------------------------------- segments
def fit_segments_on_sample(runner: Runner, summary: str, n_customers: int, *,
                           n_segments: int | None, sample_size: int,
                           seed: int) -> tuple[SegmentationResult, str | None]:
    """KMeans on a seeded sample of the summary table; (result, note on the sample)."""
    cols = ", ".join(("customer_id",) + SAMPLE_COLUMNS)
    if n_customers > sample_size:
        key = DIALECTS[runner.dialect]["shuffle"].format(x="customer_id", seed=int(seed))
        query = (f"SELECT {cols} FROM (SELECT {cols}, {key} AS crm_k FROM {summary} "
                 f"ORDER BY crm_k LIMIT {int(sample_size)}) t ORDER BY customer_id")
        note = (f"Segments: KMeans fitted on {sample_size:,} of the {n_customers:,} customers "
                f"(a fixed pseudo-random sample, hash of customer_id with seed {seed}); every "
                "customer was then assigned to the nearest centre; names come from the sample.")
    else:
        query = f"SELECT {cols} FROM {summary} ORDER BY customer_id"
        note = None
    sample = runner.fetch(query)
    sample["customer_id"] = sample["customer_id"].astype("str")
    sample = sample.sort_values("customer_id", kind="stable").reset_index(drop=True)
    return kmeans_segments(sample, n_clusters=n_segments), note


# --------------------------------------------------------------------------- LTV chart
def ltv_bins_on_engine(runner: Runner, source: str, *, column: str = "ltv",
                       bins: int = 50) -> pd.DataFrame | None:
    """:func:`crm_analytics.plots.ltv.ltv_log_bins` of ``column`` of ``source`` in SQL.

    The same edges (:func:`~crm_analytics.plots.ltv.ltv_log_bin_edges` from the exact
    minimum, quantile and maximum), counts per bin, exact mean and median. None when
    no value is positive.
    """
    v = column
    stats = runner.fetch(
        f"SELECT COUNT({v}) AS n, AVG({v}) AS mean, SUM(CASE WHEN {v} > 0 THEN 1 ELSE 0 END) "
        f"AS n_pos, MIN(CASE WHEN {v} > 0 THEN {v} END) AS lo, MAX({v}) AS hi "
        f"FROM {source}").iloc[0]
    n, n_pos = int(stats["n"]), int(stats["n_pos"] or 0)
    if n_pos == 0:
        return None
    median = float(medians(runner, source, v, where=f"{v} IS NOT NULL")["median"].iloc[0])
    q = quantile(runner, source, v, LOG_BINS_LOW_QUANTILE, where=f"{v} > 0")
    edges = ltv_log_bin_edges(stats["lo"], q, stats["hi"], bins)
    low, high = float(edges[0]), float(edges[-1])
    ratio = (f"LN(LEAST(GREATEST({v}, {low!r}), {high!r}) / {low!r}) / "
             f"{float(np.log(high / low))!r}")
    raw = runner.fetch(
        f"SELECT LEAST(GREATEST(CAST(FLOOR({ratio} * {bins}) AS BIGINT), 0), {bins - 1}) AS b, "
        f"COUNT(*) AS c, SUM(CASE WHEN {v} < {low!r} THEN 1 ELSE 0 END) AS below "
        f"FROM {source} WHERE {v} > 0 GROUP BY 1")
    counts = np.bincount(raw["b"].to_numpy(np.int64), weights=raw["c"].to_numpy(float),
                         minlength=bins)
    return pd.DataFrame({
        "bin_low": edges[:-1], "bin_high": edges[1:], "customers": counts.astype(np.int64),
        "clipped": int(raw["below"].sum()), "not_shown": n - n_pos,
        "mean": float(stats["mean"]), "median": median,
    })


# --------------------------------------------------------------------------- tables
def _fit_models(runner: Runner, summary: str, *, tag: int, as_of: pd.Timestamp,
                as_of_day: int, margin: bool, margin_rate: float | None,
                horizon_months: int, monthly_discount_rate: float, seed: int,
                story: ChurnStory, notes: list[str], step: Callable[[str], None]):
    """Churn (the family of ``story``) and spend (Gamma-Gamma) models fitted on SQL
    counts; the scored histories registered in the engine as
    ``crm_report_patterns_<tag>``.

    Returns ``(churn_model, spend_model, patterns_name)``; a model that cannot be fitted
    is None and the reason is added to ``notes``.
    """
    a, as_of_ts = as_of_day, as_of
    patterns_name = f"crm_report_patterns_{tag}"
    churn_model = spend_model = None
    try:
        patterns = ltv_sql.fetch_patterns(runner, summary, as_of_day=a)
        churn_model = engine_fit.churn_model_from_patterns(
            patterns, model=story.name, time_unit="W", as_of=as_of_ts, standard_errors=True)
        if story.choice is not None and story.choice.warnings and hasattr(
                churn_model, "with_warnings"):
            churn_model = churn_model.with_warnings(*story.choice.warnings)
    except CrmDataError as exc:
        notes.append(f"Churn model not fitted: {exc}")
    step("churn")
    if churn_model is not None:
        try:
            margin_rule(has_margin=margin, margin_rate=margin_rate)
            spend_model, spend_note = engine_fit.spend_model_from_summary(runner, summary,
                                                                          seed=seed)
            if spend_note:
                notes.append(spend_note)
        except CrmDataError as exc:
            notes.append(f"Spend model not fitted, so no LTV: {exc}")
        scored = ltv_sql.pattern_scores(
            churn_model, patterns, unit_days=7.0, horizon=90,
            horizon_months=horizon_months if spend_model is not None else None,
            monthly_discount_rate=monthly_discount_rate)
        runner.register(patterns_name, scored)
        del patterns, scored
    step("ltv")
    return churn_model, spend_model, patterns_name


@dataclass(frozen=True, eq=False)
class _CustomerQuery:
    """The per-customer table as SQL over the summary (``s``) and the histories (``p``).

    ``exprs``/``kinds`` map each output column to its SQL expression and kind (text, int,
    float, date); ``named`` is the WITH clause that adds the segment and its names.
    """

    named: str
    join: str
    exprs: dict
    kinds: dict
    customer_cols: list
    seg_cols: list

    def select(self, cols: list[str], *, rounded: bool, for_people: bool = False) -> str:
        """The query of ``cols``; ``rounded``: floats to 4 decimals; ``for_people``: text
        cells a spreadsheet would run as formulas get a leading quote, as in every CSV
        the package writes (:func:`crm_analytics._core.frames.neutralise_formulas_sql`)."""
        parts = []
        for c in cols:
            e = self.exprs[c]
            if rounded and self.kinds[c] == "float":
                e = f"ROUND({e}, 4)"
            if for_people and self.kinds[c] == "text":
                e = neutralise_formulas_sql(e)
            parts.append(f"{e} AS {c}")
        return f"{self.named} SELECT {', '.join(parts)} FROM s{self.join} ORDER BY s.customer_id"

    def quoted(self, cols: list[str]) -> list[str]:
        return [c for c in cols if self.kinds[c] == "text"]


def _customer_query(runner: Runner, summary: str, result: SegmentationResult | None, *,
                    as_of_day: int, churn_model, spend_model, patterns_name: str,
                    margin: bool, margin_rate: float | None, horizon_months: int,
                    sleep_after: int, remind_before: int,
                    aov_threshold: float, rank_rule: str | None = None) -> _CustomerQuery:
    """The columns of ``customers.csv`` / ``segments.csv`` as SQL (see :class:`_CustomerQuery`)."""
    a, s_days, r_days = as_of_day, sleep_after, remind_before
    day = DIALECTS[runner.dialect]["day_date"]
    join = ""
    shop = None
    if churn_model is not None:
        join = f" LEFT JOIN {patterns_name} p ON {ltv_sql.pattern_join('s', 'p', a)}"
        if spend_model is not None and margin:
            shop = ltv_sql.shop_margin_rate(runner, summary)
    name_cols = ("segment_name", "segment_name_en", "segment_name_zh")
    if result is None:  # not segmented (too few customers): empty segment cells
        named = (f"WITH s AS (SELECT {summary}.*, CAST(NULL AS BIGINT) AS segment, "
                 + ", ".join(f"CAST(NULL AS STRING) AS {c}" for c in name_cols)
                 + f" FROM {summary})")
    else:
        dists = segment_distance_sql(result, dialect=runner.dialect, alias="s")
        d_cols = ", ".join(f"{d} AS crm_d{i}" for i, d in enumerate(dists))
        segment = nearest_segment_sql([f"crm_d{i}" for i in range(len(dists))])
        named = (f"WITH d AS (SELECT s.*, {d_cols} FROM {summary} s), "
                 f"g AS (SELECT d.*, {segment} AS segment FROM d), "
                 "s AS (SELECT g.*, "
                 + ", ".join(f"{segment_name_sql(result, c)} AS {c}" for c in name_cols)
                 + " FROM g)")

    kinds: dict[str, str] = {}
    exprs: dict[str, str] = {}

    def add(name: str, expr: str, kind: str) -> None:
        exprs[name], kinds[name] = expr, kind

    add("customer_id", "s.customer_id", "text")
    add("segment", "s.segment", "int")
    for col in name_cols:
        add(col, "s." + col, "text")
    add("first_order", day.format(x="s.first_day"), "date")
    add("last_order", day.format(x="s.last_day"), "date")
    for col in ("n_orders", "frequency"):
        add(col, f"s.{col}", "int")
    for col in ("recency", "T", "monetary_value", "total_amount", "avg_order_value"):
        add(col, f"s.{col}", "float")
    if margin:
        add("total_margin", "s.total_margin", "float")
    add("days_since_last_order", "s.days_since_last_order", "int")
    score_names = ["p_alive", "p_no_order", "p_churn", "expected_orders", "churn_risk"]
    ltv_names = [f"expected_orders_{horizon_months}m", "ltv"]
    if churn_model is None:
        for col in score_names:
            add(col, "CAST(NULL AS STRING)" if col == "churn_risk" else "CAST(NULL AS DOUBLE)",
                "text" if col == "churn_risk" else "float")
    else:
        cols = ltv_sql.score_columns(runner, as_of_day=a, spend_model=spend_model,
                                     margin_rate=margin_rate, margin=margin,
                                     shop_margin_rate=shop)
        score_names = [c for c, _ in cols][:8]
        for col, expr in cols:
            if col == "ltv_expected_orders":
                col = f"expected_orders_{horizon_months}m"
            kind = ("text" if col in ("churn_risk", "next_order_basis") else
                    "date" if col == "expected_next_order" else "float")
            add(col, expr, kind)
        if spend_model is not None:
            ltv_names = [f"expected_orders_{horizon_months}m", "expected_spend_per_order",
                         "expected_revenue", "expected_margin", "ltv"]
    for col in ltv_names:
        if col not in exprs:
            add(col, "CAST(NULL AS DOUBLE)", "float")
    status = member_status_sql(alias="s", sleep_after=s_days, remind_before=r_days,
                               aov_threshold=aov_threshold)
    add("status", status["status"], "text")
    add("quality", status["quality"], "text")
    add("sleep_date", day.format(x=status["sleep_day"]), "date")

    summary_cols = ["first_order", "last_order", "n_orders", "frequency", "recency", "T",
                    "monetary_value", "total_amount", "avg_order_value"]
    summary_cols += ["total_margin"] if margin else []
    summary_cols += ["days_since_last_order"]
    customer_cols = (["customer_id", "segment", "segment_name"] + summary_cols + score_names
                     + ltv_names + ["status", "quality", "sleep_date"])
    if rank_rule is not None:  # no model beat this rule: rank customers by it
        score = rule_score_sql(rank_rule, alias="s", unit_days=7.0, sleep_after=s_days)
        add("rule_rank", f"ROW_NUMBER() OVER (ORDER BY {score} DESC, s.customer_id)", "int")
        customer_cols.append("rule_rank")
    seg_cols = (["customer_id", "segment", *name_cols]
                + [c for c in SEGMENT_FILE_COLUMNS if c in customer_cols])

    return _CustomerQuery(named=named, join=join, exprs=exprs, kinds=kinds,
                          customer_cols=customer_cols, seg_cols=seg_cols)


def engine_tables(
    orders: object,
    *,
    as_of: object = None,
    sleep_after: int = 90,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    margin_rate: float | None = None,
    n_segments: int | None = None,
    sample_size: int = SAMPLE_SIZE,
    seed: int = 0,
    currency: str | None = None,
    min_cohort_size: int = MIN_COHORT_SIZE,
    step: Callable[[str], None] = lambda name: None,
    created_orders: pd.DataFrame | None = None,
    **engine_options: object,
) -> ReportTables:
    """The report's tables from an engine source (see :func:`crm_analytics.report.run_report`).

    ``engine_options`` (``connection``, ``memory_limit``, ``temp_directory``,
    ``threads``) are passed to :func:`crm_analytics.backends.runner_for`. ``step`` is
    called after each of the steps ``summary, cohorts, sleeping, churn, ltv, segments``.
    ``created_orders`` (every created order, in memory) feeds the Payment section.
    """
    s_days, r_days = check_sleep(sleep_after, REMIND_BEFORE)
    sample_size = check_sample_size(sample_size)
    runner = runner_for(orders, **engine_options)
    counts = check_engine_orders(runner)
    as_of_ts, a = resolve_day(runner, as_of, "as_of")
    if first_day(runner) > a:
        raise CrmDataError(f"No order is on or before as_of={as_of_ts.date()}. Use a later as_of "
                           "(command line: --as-of YYYY-MM-DD).")
    data = engine_data_section(runner, as_of=as_of_ts, as_of_day=a,
                               as_of_given=as_of is not None, currency=currency,
                               sleep_after=s_days)
    notes: list[str] = []
    unavailable: dict[str, str] = {}

    tag = next(_tables)
    summary = f"crm_report_summary_{tag}"
    margin = has_column(runner, "margin")
    runner.materialise(summary, customer_summary_sql(
        runner, as_of_day=a, unit_days=7.0, margin=margin, order=False,
        chunks=chunk_count(runner, counts["n_rows"])))
    totals = runner.fetch(
        "SELECT COUNT(*) AS n, SUM(n_orders) AS n_orders, MIN(first_day) AS first_day, "
        "SUM(CASE WHEN frequency > 0 THEN 1 ELSE 0 END) AS n_repeat, "
        f"SUM(total_amount) AS amount FROM {summary}").iloc[0]
    n_customers = int(totals["n"])
    step("summary")

    cum = cohort_repurchase_on_engine(runner, period=COHORT_PERIOD, how=COHORT_HOW,
                                      as_of=as_of_ts)
    revenue = cohort_revenue_on_engine(runner, period=COHORT_PERIOD, as_of=as_of_ts)
    # a repeat order is one on a later day than the first: frequency > 0 (same rule)
    rate = int(totals["n_repeat"]) / n_customers
    # the KPI board, lifecycle, payment and replenishment (when the source allows)
    shop = shop_sections(runner, as_of=as_of_ts, as_of_given=as_of is not None,
                         created_orders=created_orders, sleep_after=s_days)
    step("cohorts")

    first_ts = pd.Timestamp(np.datetime64(int(totals["first_day"]), "D"))
    flow_start = max(first_ts, as_of_ts - pd.Timedelta(days=364))
    flow = sleeping_flow_on_engine(runner, start=flow_start, end=as_of_ts, sleep_after=s_days)
    # the members' median average order value, from the one or two middle values
    middle = order_values(runner, summary, "avg_order_value",
                          {"lo": "(n + 1) // 2", "hi": "n // 2 + 1"})
    aov_threshold = default_aov_threshold([middle["lo"].iloc[0], middle["hi"].iloc[0]])
    status_counts = status_counts_on_engine(runner, summary, sleep_after=s_days,
                                            remind_before=r_days)
    step("sleeping")

    # the churn family chosen by a backtest on the shop's last months (or MBG/NBD)
    story = choose_report_model(runner, as_of=as_of_ts, sleep_after=s_days, refit=False,
                                n_customers=n_customers, engine=True)
    churn_model, spend_model, patterns_name = _fit_models(
        runner, summary, tag=tag, as_of=as_of_ts, as_of_day=a, margin=margin,
        margin_rate=margin_rate, horizon_months=horizon_months,
        monthly_discount_rate=monthly_discount_rate, seed=seed, story=story, notes=notes,
        step=step)

    try:
        result, seg_note = fit_segments_on_sample(runner, summary, n_customers,
                                                  n_segments=n_segments,
                                                  sample_size=sample_size, seed=seed)
    except CrmDataError as exc:  # too few customers: the page says why
        result, seg_note = None, None
        unavailable["segments"] = f"No segments: {exc}"
    if seg_note:
        notes.append(seg_note)
    if churn_model is None:
        unavailable["churn"] = next((n for n in notes if n.startswith("Churn")),
                                    "No churn model.")
    if spend_model is None:
        unavailable["ltv"] = next((n for n in notes if n.startswith("Spend")),
                                  "No LTV without a churn model (see the churn section).")
    step("segments")

    query = _customer_query(
        runner, summary, result, as_of_day=a, churn_model=churn_model,
        spend_model=spend_model, patterns_name=patterns_name, margin=margin,
        margin_rate=margin_rate, horizon_months=horizon_months, sleep_after=s_days,
        remind_before=r_days, aov_threshold=aov_threshold, rank_rule=story.best_rule)
    named, join, exprs = query.named, query.join, query.exprs
    customer_cols, seg_cols = query.customer_cols, query.seg_cols
    select, quoted = query.select, query.quoted

    # ---- aggregates for the page
    extra = ("" if churn_model is None else
             ", " + ", ".join(f"{exprs[c]} AS {c}" for c in ("churn_risk", "ltv", "status")))
    source = f"({named} SELECT s.*{extra} FROM s{join}) crm_all"
    segmented = f"({named} SELECT * FROM s) t"
    profiles = (pd.DataFrame() if result is None
                else _segment_profiles(runner, segmented, result, n_customers))
    missing = ([] if result is None else
               [seg for seg in range(1, result.k + 1) if seg not in set(profiles["segment"])])
    if missing:
        notes.append(f"Segments {missing} of the sample fit have no customer in the full data.")

    risk_counts = risk_status = None
    ltv_total = None
    ltv_bins = None
    if churn_model is not None:
        by_status = runner.fetch(f"SELECT churn_risk, status, COUNT(*) AS n FROM {source} "
                                 "GROUP BY churn_risk, status")
        risk_counts = (by_status.groupby("churn_risk")["n"].sum()
                       .reindex(["low", "medium", "high"], fill_value=0))
        risk_status = risk_by_status(by_status)
        if spend_model is not None:
            total = runner.fetch(f"SELECT SUM(ltv) AS t FROM {source}")["t"].iloc[0]
            ltv_total = float(total) if pd.notna(total) else None
            ltv_bins = ltv_bins_on_engine(runner, source) if ltv_total is not None else None

    customers = EngineCustomers(
        runner,
        {"customers.csv": (select(customer_cols, rounded=True, for_people=True),
                           quoted(customer_cols)),
         "segments.csv": (select(seg_cols, rounded=True, for_people=True), quoted(seg_cols))},
        table=runner.native(select(customer_cols, rounded=False)))
    return ReportTables(
        as_of=as_of_ts,
        n_customers=n_customers,
        n_orders=int(totals["n_orders"]),
        repurchase_rate=rate,
        cohort_repurchase=cum,
        cohort_revenue=revenue,
        status_counts=status_counts,
        sleeping_flow=flow,
        risk_counts=risk_counts,
        ltv_total=ltv_total,
        ltv_bins=ltv_bins,
        value_basis=value_basis(has_margin=margin, margin_rate=margin_rate),
        segment_profiles=profiles,
        segment_columns=() if result is None else tuple(result.feature_columns.values()),
        n_segments=0 if result is None else result.k,
        customers=customers,
        sleep_after=s_days,
        horizon_months=horizon_months,
        monthly_discount_rate=monthly_discount_rate,
        n_segments_asked=n_segments,
        notes=notes,
        **churn_fields(churn_model, story, risk_status),
        spend_warnings=spend_notes(spend_model),
        data=data,
        currency=data.currency,
        min_cohort_size=min_cohort_size,
        unavailable={**unavailable, **shop.unavailable},
        shop=shop,
    )


def _segment_profiles(runner: Runner, segmented: str, result: SegmentationResult,
                      n_customers: int) -> pd.DataFrame:
    """:func:`crm_analytics.segments.segment_profiles` of every customer, from SQL
    aggregates (sizes, means, exact medians, revenue) of the ``segmented`` table."""
    columns = list(result.feature_columns.values())
    prof = runner.fetch(
        "SELECT segment, COUNT(*) AS size, "
        + ", ".join(f"AVG(CAST({c} AS DOUBLE)) AS {c}_mean" for c in columns)
        + f", SUM(total_amount) AS revenue FROM {segmented} GROUP BY segment")
    prof = prof.set_index(prof["segment"].astype(np.int64)).loc[
        segment_order(prof["segment"].astype(np.int64))]
    segments = prof.index.to_numpy(np.int64)
    names = result.profiles.set_index("segment")[
        ["segment_name", "segment_name_en", "segment_name_zh"]].reindex(segments)
    med = {c: medians(runner, segmented, c, by="segment").set_index("grp")["median"]
           .reindex(segments).to_numpy(dtype=float) for c in columns}
    return profiles_from_aggregates(
        segments, prof["size"].to_numpy(np.int64), n_customers=n_customers, names=names,
        means={c: prof[f"{c}_mean"].to_numpy(dtype=float) for c in columns}, medians=med,
        revenue=prof["revenue"].to_numpy(dtype=float))
