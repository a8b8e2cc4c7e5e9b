"""Payment timing and repurchase cycles as SQL (DuckDB, Spark): the engine counts.

The windows, statuses, buckets and the finished tables come from
:mod:`crm_analytics.reminders.rules`, the same code the pandas path uses; the engine
only returns small counts per bucket (or statistics per product).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.dates import day_number
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends.sql import (
    DIALECTS,
    Runner,
    day_expr,
    has_column,
    id_text,
    is_text_column,
    last_day,
    null_id_condition,
    sql_text,
    status_filter,
)
from crm_analytics.orders.sql import check_engine_orders
from crm_analytics.reminders.rules import (
    BUCKET_RULES,
    NOT_PAID_STATUSES,
    thresholds,
)

__all__ = ["NAT", "NS_PER_MIN", "cycle_stats_on_engine", "payment_counts_on_engine"]

NS_PER_MIN = 60_000_000_000
#: Missing time as int64 nanoseconds (numpy's NaT).
NAT = np.iinfo(np.int64).min
_US_PER_MIN = 60_000_000

#: Dialect snippets: a timestamp to its microseconds since 1970, integer division,
#: median and a continuous quantile (both linear interpolation, as numpy's default).
_SNIPPETS = {
    "duckdb": {"us": "epoch_us(CAST({x} AS TIMESTAMP))", "div": "({x} // {d})",
               "median": "median({x})", "quantile": "quantile_cont({x}, {q})"},
    "spark": {"us": "unix_micros(CAST({x} AS TIMESTAMP))", "div": "div({x}, {d})",
              "median": "percentile({x}, 0.5)", "quantile": "percentile({x}, {q})"},
}


def _snippet(runner: Runner, name: str, **kw: object) -> str:
    return _SNIPPETS[runner.dialect][name].format(**kw)


def _bucket_sql(runner: Runner, us: str, by: str) -> str:
    unit, shift, size = BUCKET_RULES[by]
    return f"(({_snippet(runner, 'div', x=us, d=unit * _US_PER_MIN)} + {shift}) % {size})"


def payment_counts_on_engine(runner: Runner, *, by: str, windows: dict[str, float],
                             as_of: object = None):
    """Per-bucket counts of :func:`~crm_analytics.reminders.payment_timing` in SQL.

    Returns ``(counts, total, as_of_ns, left_out)``: the per-bucket frame and the
    all-buckets dict that :func:`~crm_analytics.reminders.rules.payment_table` and
    :func:`~crm_analytics.reminders.rules.overall_row` finish, the as-of time in
    nanoseconds and the counts of orders left out.
    """
    missing = [c for c in ("created_at", "paid_at") if not has_column(runner, c)]
    if missing:
        raise CrmDataError(
            f"payment_timing needs the column(s) {missing}; the order source has "
            f"{runner.columns}. Write created_at and paid_at into the Parquet files "
            "(read_orders(path, include_unpaid=True) reads them from platform exports)."
        )
    says_paid = "FALSE"
    if has_column(runner, "status"):
        words = ", ".join(sql_text(s) for s in sorted(NOT_PAID_STATUSES))
        says_paid = (f"(status IS NOT NULL AND LOWER(TRIM(CAST(status AS STRING))) "
                     f"NOT IN ({words}))")
    rows = (f"r AS (SELECT {_snippet(runner, 'us', x='created_at')} AS c, "
            f"{_snippet(runner, 'us', x='paid_at')} AS p, {says_paid} AS says_paid "
            "FROM {src}),\n"
            "f AS (SELECT c, p, (c IS NOT NULL AND p IS NOT NULL AND p < c) AS bad, "
            "(p IS NULL AND says_paid) AS no_time FROM r)")
    if as_of is None:
        got = runner.fetch(f"WITH {rows} SELECT MAX(c) AS c, MAX(p) AS p FROM f")
        latest = [int(v) for v in got.iloc[0] if pd.notna(v)]
        if not latest:
            raise CrmDataError("The orders have no creation or payment times.")
        as_of_us = max(latest)
    else:
        ts = pd.Timestamp(as_of)
        if ts.tzinfo is not None:
            ts = ts.tz_localize(None)
        as_of_us = int(ts.as_unit("ns").value) // 1000
    longest = int(round(max(windows.values()) * _US_PER_MIN))
    cut = as_of_us - longest
    within = ",\n       ".join(
        f"SUM(CASE WHEN d <= {float(m)!r} THEN 1 ELSE 0 END) AS "
        + DIALECTS[runner.dialect]["ident"].format(x=f"within_{label}")
        for label, m in thresholds(windows).items())
    query = f"""
WITH {rows},
k AS (
  SELECT {_bucket_sql(runner, 'c', by)} AS bucket,
         CASE WHEN p IS NOT NULL AND p <= {as_of_us} THEN (p - c) / {float(_US_PER_MIN)!r}
         END AS d
  FROM f WHERE c IS NOT NULL AND NOT bad AND NOT no_time AND c <= {cut}
)
SELECT bucket, COUNT(*) AS created, COUNT(d) AS paid,
       {within},
       {_snippet(runner, 'median', x='d')} AS median
FROM k GROUP BY GROUPING SETS ((bucket), ())
"""
    got = runner.fetch(query)
    is_total = got["bucket"].isna()
    total_row = got[is_total]
    counts = got[~is_total].astype({"bucket": np.int64})
    names = ["created", "paid", *[f"within_{lb}" for lb in thresholds(windows)]]
    if len(total_row):
        total = {k: int(total_row.iloc[0][k] or 0) for k in names}
        total["median"] = float(total_row.iloc[0]["median"]) if pd.notna(
            total_row.iloc[0]["median"]) else np.nan
    else:
        total = dict.fromkeys(names, 0) | {"median": np.nan}
    left = runner.fetch(f"""
WITH {rows}
SELECT SUM(CASE WHEN bad THEN 1 ELSE 0 END) AS n_paid_before_created,
       SUM(CASE WHEN no_time AND NOT bad THEN 1 ELSE 0 END) AS n_paid_without_time,
       SUM(CASE WHEN c IS NULL THEN 1 ELSE 0 END) AS n_without_created,
       SUM(CASE WHEN c IS NOT NULL AND NOT bad AND NOT no_time AND c > {cut}
                AND c <= {as_of_us} THEN 1 ELSE 0 END) AS n_too_recent
FROM f""")
    left_out = {k: int(v) if pd.notna(v) else 0 for k, v in left.iloc[0].items()}
    return counts, total, as_of_us * 1000, left_out


def cycle_stats_on_engine(runner: Runner, *, by: str, as_of: object = None):
    """Per-product gap statistics of :func:`~crm_analytics.reminders.repurchase_cycles`.

    Returns ``(stats, n_bad_quantity, n_no_item, as_of_day)``; ``stats`` has ``item,
    repeat_buyers, repeat_purchases, q25, q50, q75`` (finished by
    :func:`~crm_analytics.reminders.rules.cycle_table`).
    """
    check_engine_orders(runner)
    missing = [c for c in (by, "quantity") if not has_column(runner, c)]
    if missing:
        raise CrmDataError(
            f"repurchase_cycles needs the column(s) {missing}; the order source has "
            f"{runner.columns}."
        )
    if as_of is None:
        as_of_day = last_day(runner)
    else:
        as_of_day = day_number(pd.Timestamp(as_of).normalize())
    day = day_expr(runner, "order_date")
    where = [f"{day} <= {int(as_of_day)}",
             "NOT " + null_id_condition("customer_id", is_text_column(runner, "customer_id"))]
    if has_column(runner, "status"):
        where.append(status_filter())
    q = {k: _snippet(runner, "quantile", x="u", q=v)
         for k, v in (("q25", 0.25), ("q50", 0.5), ("q75", 0.75))}
    rows = (f"r AS (SELECT {id_text(runner, 'customer_id')} AS cid, "
            f"CAST({by} AS STRING) AS item, {day} AS day, "
            f"TRY_CAST(quantity AS DOUBLE) AS q FROM {{src}} WHERE {' AND '.join(where)})")
    stats = runner.fetch(f"""
WITH {rows},
occ AS (SELECT cid, item, day, SUM(q) AS q FROM r WHERE q > 0 AND item IS NOT NULL
        GROUP BY cid, item, day),
g AS (SELECT cid, item,
             (day - LAG(day) OVER (PARTITION BY cid, item ORDER BY day))
             / LAG(q) OVER (PARTITION BY cid, item ORDER BY day) AS u
      FROM occ)
SELECT item, COUNT(DISTINCT cid) AS repeat_buyers, COUNT(*) AS repeat_purchases,
       {q['q25']} AS q25, {q['q50']} AS q50, {q['q75']} AS q75
FROM g WHERE u IS NOT NULL GROUP BY item
""")
    bad = runner.fetch(f"""
WITH {rows}
SELECT SUM(CASE WHEN q IS NULL OR q <= 0 THEN 1 ELSE 0 END) AS bad,
       SUM(CASE WHEN item IS NULL AND q > 0 THEN 1 ELSE 0 END) AS no_item FROM r""")
    n_bad, n_no_item = (int(v) if pd.notna(v) else 0 for v in bad.iloc[0])
    return stats, n_bad, n_no_item, int(as_of_day)
