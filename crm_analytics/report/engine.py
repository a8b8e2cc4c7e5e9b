"""The report out of core: per-customer tables stay in the engine, end to end.

:func:`run_engine_report` is what :func:`crm_analytics.report.run_report` runs for
Parquet paths, DuckDB relations and Spark DataFrames. Memory in Python does not grow
with the number of customers, beyond fixed-size samples and compressed statistics:

- the customer summary is computed once and kept in the engine (a DuckDB temp table,
  which spills to ``temp_directory`` under ``memory_limit``; a cached Spark view);
- the churn (MBG/NBD) and spend (Gamma-Gamma) models are fitted on compressed
  statistics computed in SQL (:mod:`crm_analytics.ltv.engine_fit`): counts per
  distinct ``(frequency, recency, T)`` history; distinct ``(frequency,
  monetary_value)`` pairs, from a seeded sample of repeat customers above
  :data:`~crm_analytics.ltv.engine_fit.MAX_SPEND_PAIRS` pairs;
- churn scores and LTV are computed once per history and joined back in the engine
  (:func:`crm_analytics.engines.ltv_sql.pattern_scores`);
- KMeans segments are fitted by :func:`crm_analytics.segments.kmeans_segments` on a
  seeded sample of ``sample_size`` customers (all of them when there are fewer), then
  every customer is assigned to the nearest centre in SQL, on the same log /
  standardise transform;
- member status (active / pre_sleep / sleeping, quality) is a SQL expression;
- ``customers.csv`` and ``segments.csv`` are written by the engine (DuckDB ``COPY``,
  Spark's CSV writer) and get their UTF-8 byte-order mark by a streaming copy;
- charts and the HTML page use aggregates computed in SQL (counts, exact medians and
  quantiles, histograms, segment profiles).

Differences from the pandas report: ``ReportResult.customers`` is the engine's table
(a lazy DuckDB relation or Spark DataFrame), not a pandas DataFrame; segment names
come from the sample the KMeans model was fitted on; the CSV cells are formatted by
the engine (the same numbers; e.g. ``0.0`` for ``0``, Spark writes ``1.0E-5``). On the
bundled sample (fewer customers than ``sample_size``) the files hold the same numbers
as the pandas report.
"""

from __future__ import annotations

import itertools
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import runner_for
from crm_analytics.backends.sql import (
    DIALECTS,
    check_orders,
    chunk_count,
    first_day,
    has_column,
    resolve_day,
)
from crm_analytics.cohorts.sql import cohort_repurchase_on_engine, cohort_revenue_on_engine
from crm_analytics.ltv import engine_fit
from crm_analytics.ltv import sql as ltv_sql
from crm_analytics.sleeping.rules import check_sleep
from crm_analytics.sleeping.sql import sleeping_flow_on_engine
from crm_analytics.summary.sql import customer_summary_sql

__all__ = ["SAMPLE_SIZE", "run_engine_report"]

#: Customers in the seeded sample the KMeans segments are fitted on.
SAMPLE_SIZE = 200_000
_tables = itertools.count()
_FEATURES = ("days_since_last_order", "n_orders", "total_amount")


# --------------------------------------------------------------------------- helpers
def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


#: Buckets per pass of :func:`_order_values`, and the most distinct values fetched at once.
_BUCKETS = 1 << 16
_MAX_DISTINCT = 200_000


def _order_values(runner, source: str, col: str, positions: dict[str, str], *,
                  by: str = "CAST(0 AS INT)", where: str = "1 = 1") -> pd.DataFrame:
    """Exact order statistics: per group ``by``, the value at each 1-based position.

    ``positions`` maps an output name to a Python expression of ``n`` (the group's
    size), e.g. ``{"lo": "(n + 1) // 2"}``. Memory stays fixed: one scan gives each
    group's size and range, the next counts values in ``_BUCKETS`` equal-width buckets
    (a small table), and the distinct values of the buckets holding the wanted
    positions are then fetched (bucketed again, narrower, in the rare case that they
    are more than ``_MAX_DISTINCT``). Returns ``grp, n`` and one column per position.
    """
    base = f"SELECT {by} AS grp, CAST({col} AS DOUBLE) AS v FROM {source} WHERE {where}"
    stats = runner.fetch(f"SELECT grp, COUNT(*) AS n, MIN(v) AS lo, MAX(v) AS hi FROM ({base}) "
                         "b WHERE v IS NOT NULL GROUP BY grp ORDER BY grp")
    out = stats[["grp", "n"]].copy()
    grp = [str(int(g)) if isinstance(g, int | np.integer) else
           repr(float(g)) if isinstance(g, float | np.floating) else _lit(g)
           for g in stats["grp"]]
    # per (group, position): [1-based rank within its range, range index]; ranges are
    # (group, low, high) value intervals, the whole group's range at first
    ranges = [(i, float(r["lo"]), float(r["hi"])) for i, r in stats.iterrows()]
    todo = {}
    for i, row in stats.iterrows():
        for name, expr in positions.items():
            todo[(i, name)] = (int(eval(expr, {}, {"n": int(row["n"])})), i)  # noqa: S307
    values: dict[tuple[int, str], float] = {}
    for depth in range(10):
        used = sorted({r for _, r in todo.values()})
        conds = {r: f"(grp = {grp[ranges[r][0]]} AND v >= {ranges[r][1]!r} "
                    f"AND v <= {ranges[r][2]!r})" for r in used}
        where_any = " OR ".join(conds.values())
        distinct = int(runner.fetch(
            f"SELECT COUNT(*) AS n FROM (SELECT grp, v FROM ({base}) b WHERE {where_any} "
            "GROUP BY grp, v) t")["n"].iloc[0])
        if distinct <= _MAX_DISTINCT or depth == 9:
            exact = runner.fetch(f"SELECT grp, v, COUNT(*) AS c FROM ({base}) b "
                                 f"WHERE {where_any} GROUP BY grp, v ORDER BY grp, v")
            gv = exact["grp"].to_numpy()
            v = exact["v"].to_numpy(float)
            for (i, name), (rank, r) in todo.items():
                _, lo, hi = ranges[r]
                keep = (gv == stats["grp"].iloc[i]) & (v >= lo) & (v <= hi)
                cum = exact["c"].to_numpy(np.int64)[keep].cumsum()
                values[(i, name)] = float(v[keep][np.searchsorted(cum, rank)])
            break
        # narrow each range to the bucket holding its rank (bucket ids unique per range)
        cases = " ".join(
            f"WHEN {conds[r]} THEN {r * _BUCKETS} + LEAST(CAST(FLOOR((v - {ranges[r][1]!r}) / "
            f"{max((ranges[r][2] - ranges[r][1]) / _BUCKETS, 1e-300)!r}) AS BIGINT), "
            f"{_BUCKETS - 1})" for r in used)
        counts = runner.fetch(
            f"SELECT bucket, COUNT(*) AS c, MIN(v) AS lo, MAX(v) AS hi FROM ("
            f"SELECT v, CASE {cases} END AS bucket FROM ({base}) b WHERE {where_any}) t "
            "GROUP BY bucket ORDER BY bucket")
        bucket = counts["bucket"].to_numpy(np.int64)
        nxt = {}
        for key, (rank, r) in todo.items():
            keep = (bucket >= r * _BUCKETS) & (bucket < (r + 1) * _BUCKETS)
            part = counts[keep]
            cum = part["c"].to_numpy(np.int64).cumsum()
            j = int(np.searchsorted(cum, rank))
            below = int(cum[j - 1]) if j > 0 else 0
            narrow = (ranges[r][0], float(part["lo"].iloc[j]), float(part["hi"].iloc[j]))
            if narrow not in ranges:  # positions in one bucket share its range
                ranges.append(narrow)
            nxt[key] = (rank - below, ranges.index(narrow))
        todo = nxt
    for name in positions:
        out[name] = [values[(i, name)] for i in range(len(stats))]
    return out


def _medians(runner, source: str, col: str, *, by: str = "CAST(0 AS INT)",
             where: str = "1 = 1") -> pd.DataFrame:
    """Exact median of ``col`` per group (``grp, n, median``), as numpy's median."""
    raw = _order_values(runner, source, col, {"lo": "(n + 1) // 2", "hi": "n // 2 + 1"},
                        by=by, where=where)
    lo, hi = raw["lo"].to_numpy(dtype=float), raw["hi"].to_numpy(dtype=float)
    return pd.DataFrame({"grp": raw["grp"].to_numpy(), "n": raw["n"].to_numpy(np.int64),
                         "median": np.where(lo == hi, lo, (lo + hi) / 2)})


def _quantile(runner, source: str, col: str, q: float, *, where: str) -> float:
    """Exact ``numpy.quantile(values, q)`` (linear) of ``col`` over the rows ``where``."""
    n = int(runner.fetch(f"SELECT COUNT(*) AS n FROM {source} WHERE {where}")["n"].iloc[0])
    h = (n - 1) * q
    lo = int(np.floor(h))
    raw = _order_values(runner, source, col, {"a": f"{lo + 1}", "b": f"{min(lo + 2, n)}"},
                        where=where)
    a, b = float(raw["a"].iloc[0]), float(raw["b"].iloc[0])
    return a + (h - lo) * (b - a)


def _with_bom(plain: Path, target: Path) -> None:
    """``target`` = UTF-8 byte-order mark + ``plain`` (streamed), then ``plain`` removed."""
    with open(target, "wb") as out, open(plain, "rb") as src:
        out.write("\ufeff".encode())
        shutil.copyfileobj(src, out, length=1 << 22)
    plain.unlink()


def _write_csv(runner, query: str, target: Path, quote: list[str]) -> Path:
    plain = target.with_name(target.name + ".part")
    runner.write_csv(query, plain, quote=quote)
    _with_bom(plain, target)
    return target


# --------------------------------------------------------------------------- segments
def _segment_sql(runner, result, mean: np.ndarray, scale: np.ndarray) -> str:
    """SQL expression: the segment (1..k) of the nearest KMeans centre, ``s`` a summary row.

    Features are transformed as :func:`crm_analytics.segments.kmeans_segments` did on the
    fitted sample (log1p of ``result.log_features``, then minus ``mean``, over ``scale``),
    and the centres (``result.centers``, in original units) are taken back to that space.
    Ties go to the lower segment id.
    """
    log1p = DIALECTS[runner.dialect]["log1p"]
    columns = list(result.feature_columns.values())
    z = []
    for j, c in enumerate(columns):
        x = f"CAST(s.{c} AS DOUBLE)"
        if c in result.log_features:
            x = log1p.format(x=x)
        z.append(f"(({x} - {float(mean[j])!r}) / {float(scale[j])!r})")
    centers = result.centers[columns].to_numpy(dtype=float).copy()
    for j, c in enumerate(columns):
        if c in result.log_features:
            centers[:, j] = np.log1p(centers[:, j])
        centers[:, j] = (centers[:, j] - mean[j]) / scale[j]
    dists = [" + ".join(f"({zj} - {float(cj)!r}) * ({zj} - {float(cj)!r})"
                        for zj, cj in zip(z, row, strict=True)) for row in centers]
    return dists


def _fit_segments(runner, summary: str, n_customers: int, *, n_segments, sample_size: int,
                  seed: int):
    """KMeans on a seeded sample of the summary; (result, SQL distances, note)."""
    from crm_analytics.segments import _transform, kmeans_segments

    cols = ", ".join(("customer_id",) + _FEATURES)
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
    result = kmeans_segments(sample, n_clusters=n_segments)
    columns = list(result.feature_columns.values())
    x = sample[columns].to_numpy(dtype=float)
    _, logged, mean, scale = _transform(x, columns, "auto")
    if tuple(logged) != tuple(result.log_features):  # pragma: no cover - same data, same rule
        raise CrmDataError("Internal error: the segment transform could not be reproduced.")
    return result, _segment_sql(runner, result, mean, scale), note


# --------------------------------------------------------------------------- charts
def _ltv_chart(runner, source: str, *, attrs: dict, currency: str, bins: int = 50):
    """:func:`crm_analytics.plots.ltv.plot_ltv_distribution` (log scale) from SQL counts."""
    import matplotlib.pyplot as plt

    from crm_analytics.plots.ltv import _basis

    stats = runner.fetch(
        "SELECT COUNT(ltv) AS n, AVG(ltv) AS mean, SUM(CASE WHEN ltv > 0 THEN 1 ELSE 0 END) "
        "AS n_pos, MIN(CASE WHEN ltv > 0 THEN ltv END) AS lo, MAX(ltv) AS hi "
        f"FROM {source}").iloc[0]
    n, n_pos = int(stats["n"]), int(stats["n_pos"] or 0)
    if n_pos == 0:
        return None
    median = float(_medians(runner, source, "ltv", where="ltv IS NOT NULL")["median"].iloc[0])
    low = float(max(stats["lo"], _quantile(runner, source, "ltv", 0.005, where="ltv > 0")))
    high = float(max(stats["hi"], low * 10))
    edges = np.geomspace(low, high, bins + 1)
    ratio = f"LN(LEAST(GREATEST(ltv, {low!r}), {high!r}) / {low!r}) / {float(np.log(high / low))!r}"
    raw = runner.fetch(
        f"SELECT LEAST(GREATEST(CAST(FLOOR({ratio} * {bins}) AS BIGINT), 0), {bins - 1}) AS b, "
        f"COUNT(*) AS c, SUM(CASE WHEN ltv < {low!r} THEN 1 ELSE 0 END) AS below "
        f"FROM {source} WHERE ltv > 0 GROUP BY 1")
    counts = np.bincount(raw["b"].to_numpy(np.int64), weights=raw["c"].to_numpy(float),
                         minlength=bins)
    below = int(raw["below"].sum())
    _, ax = plt.subplots(figsize=(7.0, 4.5))
    ax.hist(np.sqrt(edges[:-1] * edges[1:]), bins=edges, weights=counts)
    ax.set_xscale("log")
    frame = pd.DataFrame()
    frame.attrs = attrs
    title = f"Distribution of ltv{_basis(frame)}, {n} customers"
    notes = []
    if below:
        notes.append(f"{below} below {low:.3g} in the first bin")
    if n_pos < n:
        notes.append(f"{n - n_pos} <= 0 not shown")
    if notes:
        title += "\n(" + "; ".join(notes) + ")"
    for stat, value, style in (("mean", float(stats["mean"]), "--"), ("median", median, ":")):
        ax.axvline(value, color="black", linestyle=style, linewidth=1,
                   label=f"{stat} {value:,.2f}")
    ax.set_xlabel(f"ltv ({currency})" if currency else "ltv (money)")
    ax.set_ylabel("customers (count)")
    ax.set_title(title)
    ax.legend()
    return ax


# --------------------------------------------------------------------------- report
def run_engine_report(
    orders: object,
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
    sample_size: int = SAMPLE_SIZE,
    seed: int = 0,
    **engine_options: object,
):
    """:func:`crm_analytics.report.run_report` with every per-customer table in the engine.

    Parameters are those of :func:`~crm_analytics.report.run_report`, plus
    ``sample_size`` (customers the KMeans segments are fitted on), ``seed`` (of that
    sample and of the Gamma-Gamma sample) and ``engine_options`` (``connection``,
    ``memory_limit``, ``temp_directory``, ``threads`` for Parquet paths, as in
    :func:`crm_analytics.customer_summary`).

    Returns
    -------
    crm_analytics.report.ReportResult
        With ``customers`` the engine's table of ``customers.csv`` (a lazy DuckDB
        relation or Spark DataFrame, sorted by ``customer_id``, unrounded).

    Raises
    ------
    CrmDataError
        Invalid orders or parameters, an unwritable folder.
    """

    from crm_analytics.plots.cohorts import plot_cohort_heatmap, plot_repurchase_curves
    from crm_analytics.plots.overview import plot_churn_risk, plot_member_status
    from crm_analytics.plots.segments import plot_segment_profiles, plot_segment_sizes
    from crm_analytics.plots.sleeping import plot_sleeping_flow
    from crm_analytics.report import (
        _SEGMENT_FILE_COLUMNS,
        ReportResult,
        _output_folder,
        _png,
        _progress_bar,
        _save,
        _warnings_state_kept,
        _write_page,
    )

    s_days, r_days = check_sleep(sleep_after, 10)
    if not (isinstance(sample_size, int | np.integer) and sample_size >= 100):
        raise CrmDataError(f"The 'sample_size' parameter must be an int >= 100. "
                           f"Got {sample_size!r}.")
    runner = runner_for(orders, **engine_options)
    counts = check_orders(runner)
    as_of_ts, a = resolve_day(runner, as_of, "as_of")
    if first_day(runner) > a:
        raise CrmDataError(f"No order is on or before as_of={as_of_ts.date()}. Use a later as_of.")
    out = _output_folder(out_dir)
    files: list[Path] = []
    notes: list[str] = []
    bar, step = _progress_bar(progress)

    day = DIALECTS[runner.dialect]["day_date"]
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

    cum = cohort_repurchase_on_engine(runner, period="M", how="cumulative", as_of=as_of_ts)
    revenue = cohort_revenue_on_engine(runner, period="M", as_of=as_of_ts)
    rate = int(totals["n_repeat"]) / n_customers
    step("cohorts")

    first_ts = pd.Timestamp(np.datetime64(int(totals["first_day"]), "D"))
    flow_start = max(first_ts, as_of_ts - pd.Timedelta(days=364))
    flow = sleeping_flow_on_engine(runner, start=flow_start, end=as_of_ts, sleep_after=s_days)
    aov_threshold = float(_medians(runner, summary, "avg_order_value")["median"].iloc[0])
    step("sleeping")

    patterns_name = f"crm_report_patterns_{tag}"
    churn_model = spend_model = None
    try:
        patterns = ltv_sql.fetch_patterns(runner, summary, as_of_day=a)
        churn_model = engine_fit.churn_model_from_patterns(patterns, model="mbgnbd", time_unit="W",
                                                       as_of=as_of_ts)
    except CrmDataError as exc:
        notes.append(f"Churn model not fitted: {exc}")
    step("churn")
    if churn_model is not None:
        try:
            if margin and margin_rate is not None:
                raise CrmDataError(
                    "The summary has a 'total_margin' column (the orders had a margin) and "
                    f"margin_rate={margin_rate!r} was also given. Pass margin_rate=None to use "
                    "the margins of the orders, or drop the margin column to use a flat rate.")
            spend_model, spend_note = engine_fit.spend_model_from_summary(runner, summary, seed=seed)
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

    result, dists, seg_note = _fit_segments(runner, summary, n_customers,
                                            n_segments=n_segments, sample_size=sample_size,
                                            seed=seed)
    if seg_note:
        notes.append(seg_note)
    step("segments")

    # ---- the per-customer table, as SQL over the summary (s) and the histories (p)
    k = result.k
    names = result.profiles.set_index("segment")
    d_cols = ", ".join(f"{d} AS crm_d{i}" for i, d in enumerate(dists))
    nearest = "LEAST(" + ", ".join(f"crm_d{i}" for i in range(k)) + ")"
    segment = "CASE " + " ".join(f"WHEN crm_d{i} = {nearest} THEN {i + 1}"
                                 for i in range(k)) + " END"
    join = ""
    shop = None
    if churn_model is not None:
        join = f" LEFT JOIN {patterns_name} p ON {ltv_sql.pattern_join('s', 'p', a)}"
        if spend_model is not None and margin:
            shop = ltv_sql.shop_margin_rate(runner, summary)
    ctes = (f"WITH d AS (SELECT s.*, {d_cols} FROM {summary} s), "
            f"g AS (SELECT d.*, {segment} AS segment FROM d)")

    def name_case(col: str) -> str:
        return ("CASE segment " + " ".join(f"WHEN {int(i)} THEN {_lit(v)}"
                                          for i, v in names[col].items()) + " END")

    kinds: dict[str, str] = {}
    exprs: dict[str, str] = {}

    def add(name: str, expr: str, kind: str) -> None:
        exprs[name], kinds[name] = expr, kind

    add("customer_id", "s.customer_id", "text")
    add("segment", "s.segment", "int")
    for col in ("segment_name", "segment_name_en", "segment_name_zh"):
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
    score_names = ["p_alive", "p_churn", "expected_orders", "churn_risk"]
    ltv_names = [f"expected_orders_{horizon_months}m", "ltv"]
    if churn_model is None:
        for col in score_names:
            add(col, "CAST(NULL AS STRING)" if col == "churn_risk" else "CAST(NULL AS DOUBLE)",
                "text" if col == "churn_risk" else "float")
    else:
        cols = ltv_sql.score_columns(runner, as_of_day=a, spend_model=spend_model,
                                 margin_rate=margin_rate, margin=margin, shop_margin_rate=shop)
        score_names = [c for c, _ in cols][:7]
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
    add("status", f"CASE WHEN s.days_since_last_order >= {s_days} THEN 'sleeping' "
        f"WHEN s.days_since_last_order >= {s_days - r_days} THEN 'pre_sleep' "
        "ELSE 'active' END", "text")
    add("quality", f"CASE WHEN s.days_since_last_order >= {s_days} THEN CASE WHEN "
        f"s.avg_order_value >= {aov_threshold!r} OR s.n_orders >= 2 THEN 'high' ELSE 'low' "
        "END END", "text")
    add("sleep_date", day.format(x=f"s.last_day + {s_days}"), "date")

    named = (f"{ctes}, s AS (SELECT g.*, {name_case('segment_name')} AS segment_name, "
             f"{name_case('segment_name_en')} AS segment_name_en, "
             f"{name_case('segment_name_zh')} AS segment_name_zh FROM g)")
    summary_cols = ["first_order", "last_order", "n_orders", "frequency", "recency", "T",
                    "monetary_value", "total_amount", "avg_order_value"]
    summary_cols += ["total_margin"] if margin else []
    summary_cols += ["days_since_last_order"]
    customer_cols = (["customer_id", "segment", "segment_name"] + summary_cols + score_names
                     + ltv_names + ["status", "quality", "sleep_date"])
    seg_cols = (["customer_id", "segment", "segment_name", "segment_name_en",
                 "segment_name_zh"] + [c for c in _SEGMENT_FILE_COLUMNS if c in customer_cols])

    def select(cols: list[str], *, rounded: bool) -> str:
        parts = []
        for c in cols:
            e = exprs[c]
            if rounded and kinds[c] == "float":
                e = f"ROUND({e}, 4)"
            parts.append(f"{e} AS {c}")
        return f"{named} SELECT {', '.join(parts)} FROM s{join} ORDER BY s.customer_id"

    def quoted(cols: list[str]) -> list[str]:
        return [c for c in cols if kinds[c] == "text"]

    # ---- aggregates for the page
    status_counts = runner.fetch(
        f"SELECT {exprs['status']} AS status, COUNT(*) AS n "
        f"FROM {summary} s GROUP BY 1").set_index("status")["n"]
    status_counts = status_counts.reindex(["active", "pre_sleep", "sleeping", "given_up"],
                                          fill_value=0).astype(np.int64)
    source = f"({named} SELECT s.*{', ' + ', '.join(f'{exprs[c]} AS {c}' for c in ('churn_risk', 'ltv')) if churn_model is not None else ''} FROM s{join}) crm_all"  # noqa: E501
    profile_cols = list(result.feature_columns.values())
    prof = runner.fetch(
        "SELECT segment, COUNT(*) AS size, "
        + ", ".join(f"AVG(CAST({c} AS DOUBLE)) AS {c}_mean" for c in profile_cols)
        + f", SUM(total_amount) AS revenue FROM ({named} SELECT * FROM s) t "
        "GROUP BY segment ORDER BY segment")
    profiles = pd.DataFrame({"segment": prof["segment"].to_numpy(np.int64)})
    for col in ("segment_name", "segment_name_en", "segment_name_zh"):
        profiles[col] = names[col].reindex(profiles["segment"]).to_numpy()
    profiles["size"] = prof["size"].to_numpy(np.int64)
    profiles["share"] = profiles["size"] / n_customers
    for c in profile_cols:
        med = _medians(runner, f"({named} SELECT * FROM s) t", c, by="segment")
        profiles[f"{c}_mean"] = prof[f"{c}_mean"].to_numpy(dtype=float)
        profiles[f"{c}_median"] = med.set_index("grp")["median"].reindex(
            profiles["segment"]).to_numpy(dtype=float)
    rev = prof["revenue"].to_numpy(dtype=float)
    profiles["revenue"] = rev
    profiles["revenue_share"] = rev / rev.sum() if rev.sum() > 0 else np.nan
    segments = replace(result, profiles=profiles)
    missing = [seg for seg in range(1, k + 1) if seg not in set(profiles["segment"])]
    if missing:
        notes.append(f"Segments {missing} of the sample fit have no customer in the full data.")

    risk_counts = None
    ltv_total = None
    if churn_model is not None:
        risk_counts = runner.fetch(
            f"SELECT churn_risk, COUNT(*) AS n FROM {source} GROUP BY churn_risk"
        ).set_index("churn_risk")["n"].reindex(["low", "medium", "high"], fill_value=0)
        if spend_model is not None:
            ltv_total = runner.fetch(f"SELECT SUM(ltv) AS t FROM {source}")["t"].iloc[0]
    ltv_attrs = {"ltv_basis": "margin" if (margin or margin_rate is not None) else "revenue",
                 "horizon_months": horizon_months,
                 "monthly_discount_rate": monthly_discount_rate}

    # ---- files
    files.append(_write_csv(runner, select(customer_cols, rounded=True), out / "customers.csv",
                            quoted(customer_cols)))
    files.append(_write_csv(runner, select(seg_cols, rounded=True), out / "segments.csv",
                            quoted(seg_cols)))
    for fname, table in (("cohort_repurchase.csv", cum), ("cohort_revenue.csv", revenue),
                         ("segment_profiles.csv", profiles)):
        table.to_csv(out / fname, index=False, encoding="utf-8-sig")
        files.append(out / fname)

    currency = "yuan"
    value_label = "margin" if (margin or margin_rate) else "revenue"
    headline = {
        "Customers": f"{n_customers:,}",
        "Orders": f"{int(totals['n_orders']):,}",
        "Repurchase rate (bought again)": f"{rate:.1%}",
        "Active members": f"{int(status_counts['active'] + status_counts['pre_sleep']):,}",
        f"Sleeping members (>= {s_days} days)":
            f"{int(status_counts['sleeping'] + status_counts['given_up']):,}",
        f"Predicted {horizon_months}-month value ({value_label}, discounted)":
            (f"{ltv_total:,.0f} {currency}" if ltv_total is not None and pd.notna(ltv_total)
             else "n/a (needs repeat customers)"),
    }
    with _warnings_state_kept():
        pngs = {
            "cohort_heatmap.png": plot_cohort_heatmap(cum, value="rate"),
            "repurchase_curves.png": plot_repurchase_curves(cum),
            "segment_profiles.png": plot_segment_profiles(segments),
            "segment_sizes.png": plot_segment_sizes(segments),
            "member_status.png": plot_member_status(status_counts),
            "sleeping_flow.png": plot_sleeping_flow(flow),
        }
        if risk_counts is not None:
            pngs["churn_risk.png"] = plot_churn_risk(risk_counts)
        if ltv_total is not None:
            ax = _ltv_chart(runner, source, attrs=ltv_attrs, currency=currency)
            if ax is not None:
                pngs["ltv_distribution.png"] = ax
        png_files: list[Path] = []
        img = {name: _save(_png(ax), out / name, png_files) for name, ax in pngs.items()}
    step("files")
    files += png_files
    risk_table = (None if risk_counts is None else
                  risk_counts.sort_values(ascending=False, kind="stable")
                  .rename_axis("churn_risk").reset_index(name="customers"))
    html_path = _write_page(
        out, img=img, headline=headline, notes=notes, n_segments=n_segments,
        segments_k=segments.k, profiles=profiles, risk_table=risk_table,
        horizon_months=horizon_months, monthly_discount_rate=monthly_discount_rate,
        sleep_after=s_days, subtitle=f"{source_name} — as of {as_of_ts.date()}")
    files.append(html_path)
    step("html")
    bar.close()
    customers = runner.native(select(customer_cols, rounded=False))
    return ReportResult(out_dir=out, html_path=html_path, files=files, headline=headline,
                        customers=customers, notes=notes)

