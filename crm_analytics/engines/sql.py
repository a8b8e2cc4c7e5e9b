"""The order reductions written once, as SQL that runs on DuckDB and on Spark SQL.

Each reduction here is one SQL text plus a small pandas step that shapes the (small)
aggregated answer into exactly the table the pandas function returns. Engines
(:mod:`crm_analytics.engines.duckdb`, :mod:`crm_analytics.engines.spark`) only say how
to run a query: they implement the :class:`Runner` protocol. The only dialect
differences are two snippets (a date to its day number and back), in :data:`DIALECTS`.

Days are handled as integer day numbers (days since 1970-01-01) inside SQL, so no
timezone or timestamp-unit conversion can shift a date between engines; dates are made
from them in numpy at the end.

Semantics are those of the pandas functions: :func:`crm_analytics.summary.customer_summary`,
:func:`crm_analytics.cohorts.cohort_repurchase` / :func:`~crm_analytics.cohorts.cohort_revenue`,
:func:`crm_analytics.sleeping.sleeping_flow` and the per-member outcomes of
:func:`crm_analytics.campaigns.campaign_lift`.
"""

from __future__ import annotations

import itertools
from typing import Protocol

import numpy as np
import pandas as pd

from crm_analytics._checks import CrmDataError, check_time_unit, iso_day, to_day
from crm_analytics.cohorts import _check_how, _check_period, _period_start
from crm_analytics.orders import EXCLUDED_STATUSES
from crm_analytics.sleeping import _NEVER, _check_sleep

__all__ = [
    "DIALECTS",
    "Runner",
    "campaign_outcomes",
    "cohort_repurchase",
    "cohort_revenue",
    "customer_summary",
    "customer_summary_sql",
    "score_customers",
    "sleeping_flow",
]

_EPOCH = np.datetime64("1970-01-01", "D")
_pattern_ids = itertools.count()

#: Dialect snippets: ``day`` turns a timestamp/date expression into its day number,
#: ``date`` a day number into a timestamp (only used for engine-native output),
#: ``bucket`` a text into one of ``k`` hash buckets (customer chunks, see
#: :func:`customer_summary_sql`), ``day_date`` a day number into a DATE (CSV cells
#: "2025-11-11"), ``shuffle`` a text into a pseudo-random sort key (seeded samples),
#: ``log1p`` ``ln(1 + x)``.
DIALECTS = {
    "duckdb": {
        "day": "(CAST(CAST({x} AS TIMESTAMP) AS DATE) - DATE '1970-01-01')",
        "date": "CAST(DATE '1970-01-01' + CAST({x} AS INTEGER) AS TIMESTAMP)",
        "bucket": "hash({x}) % {k}",
        "day_date": "(DATE '1970-01-01' + CAST({x} AS INTEGER))",
        "shuffle": "hash(CAST({x} AS VARCHAR) || '#{seed}')",
        "log1p": "LN(1.0 + {x})",
    },
    "spark": {
        "day": "unix_date(CAST(CAST({x} AS TIMESTAMP) AS DATE))",
        "date": "CAST(date_from_unix_date(CAST({x} AS INT)) AS TIMESTAMP)",
        "bucket": "pmod(hash({x}), {k})",
        "day_date": "date_from_unix_date(CAST({x} AS INT))",
        "shuffle": "xxhash64(concat(CAST({x} AS STRING), '#{seed}'))",
        "log1p": "log1p({x})",
    },
}


class Runner(Protocol):
    """What an engine provides: its dialect, the source's columns and a way to query.

    ``{src}`` in a query stands for the order source (a table, view or table function).
    """

    dialect: str
    columns: list[str]

    def fetch(self, query: str) -> pd.DataFrame:
        """Run ``query`` and return its (small) result as pandas."""

    def native(self, query: str) -> object:
        """Run ``query`` lazily and return the engine's own table (relation, DataFrame)."""


# --------------------------------------------------------------------------- helpers
def _day(runner: Runner, expr: str) -> str:
    return DIALECTS[runner.dialect]["day"].format(x=expr)


def _check_source(runner: Runner, required=("customer_id", "order_date", "amount")) -> None:
    cols = [c.lower() for c in runner.columns]
    missing = [c for c in required if c not in cols]
    if missing:
        raise CrmDataError(
            f"The order source is missing column(s) {missing}; it has {runner.columns}. "
            "Rename the columns to the canonical names (customer_id, order_id, order_date, "
            "amount, margin) in the query or file that makes the source."
        )


def _has(runner: Runner, col: str) -> bool:
    return col in [c.lower() for c in runner.columns]


def _orders_cte(runner: Runner, *, as_of_day: int | None = None, margin: bool = False,
                bucket: tuple[int, int] | None = None) -> str:
    """``o``: customer_id (text), day (day number), amount [, margin] of kept orders.

    Orders with an excluded status (cancelled, refunded, ... as in
    :func:`crm_analytics.validate_orders`) and, with ``as_of_day``, orders after it are
    left out. ``bucket=(i, k)`` keeps only the customers of hash bucket ``i`` of ``k``.
    """
    day = _day(runner, "order_date")
    where = []
    if bucket is not None:
        expr = DIALECTS[runner.dialect]["bucket"].format(x="CAST(customer_id AS STRING)",
                                                         k=int(bucket[1]))
        where.append(f"{expr} = {int(bucket[0])}")
    if as_of_day is not None:
        where.append(f"{day} <= {int(as_of_day)}")
    if _has(runner, "status"):
        statuses = ", ".join("'" + s.replace("'", "''") + "'" for s in sorted(EXCLUDED_STATUSES))
        where.append(f"LOWER(TRIM(COALESCE(CAST(status AS STRING), ''))) NOT IN ({statuses})")
    margin_col = ", CAST(margin AS DOUBLE) AS margin" if margin else ""
    return (
        f"o AS (SELECT CAST(customer_id AS STRING) AS customer_id, {day} AS day, "
        f"CAST(amount AS DOUBLE) AS amount{margin_col} FROM {{src}}"
        + (" WHERE " + " AND ".join(where) if where else "")
        + ")"
    )


def _profile(runner: Runner) -> dict[str, int]:
    """Row count, missing values and first/last order day of the kept orders (one scan).

    Cached on the runner, so a function asking several questions scans once.
    """
    cached = getattr(runner, "_crm_profile", None)
    if cached is not None:
        return cached
    _check_source(runner)
    row = runner.fetch(
        f"WITH {_orders_cte(runner)} SELECT COUNT(*) AS n_rows, "
        "SUM(CASE WHEN customer_id IS NULL THEN 1 ELSE 0 END) AS customer_id, "
        "SUM(CASE WHEN day IS NULL THEN 1 ELSE 0 END) AS order_date, "
        "SUM(CASE WHEN amount IS NULL THEN 1 ELSE 0 END) AS amount, "
        "MIN(day) AS first_day, MAX(day) AS last_day FROM o"
    ).iloc[0]
    profile = {k: (None if pd.isna(v) else int(v)) for k, v in row.items()}
    try:
        runner._crm_profile = profile
    except AttributeError:  # pragma: no cover - a runner without a __dict__
        pass
    return profile


def check_orders(runner: Runner) -> dict[str, int]:
    """Raise :class:`CrmDataError` on an empty source or missing values; the profile."""
    counts = _profile(runner)
    if not counts["n_rows"]:
        raise CrmDataError(
            "The order source has no (kept) rows. Check the path, glob, query or the "
            "status column."
        )
    bad = {c: counts[c] for c in ("customer_id", "order_date", "amount") if counts[c]}
    if bad:
        raise CrmDataError(
            f"The order source has missing values: {bad} rows per column (of "
            f"{counts['n_rows']}). Filter or fill them in the query that makes the "
            "source, or load the orders with crm_analytics.validate_orders to see examples."
        )
    return counts


def _last_day(runner: Runner) -> int:
    return check_orders(runner)["last_day"]


def _first_day(runner: Runner) -> int:
    return check_orders(runner)["first_day"]


def _resolve(runner: Runner, value: object, name: str) -> tuple[pd.Timestamp, int]:
    if value is None:
        day = _last_day(runner)
        return pd.Timestamp(_EPOCH + day).as_unit("ns"), day
    ts = to_day(value, name)
    return ts, int((ts.to_datetime64().astype("datetime64[D]") - _EPOCH).astype(np.int64))


def _dates(day_numbers) -> np.ndarray:
    return (np.asarray(day_numbers, dtype=np.int64) + _EPOCH).astype("datetime64[ns]")


def _text(values: pd.Series) -> pd.Series:
    return values.astype("str")


# --------------------------------------------------------------------------- summary
#: Memory one order row takes in the per-customer aggregation (DuckDB, bytes): the
#: orders are split into customer chunks of at most ``memory_limit / _ROW_BYTES`` rows.
_ROW_BYTES = 64
#: The sleeping flow's window over order days takes about this many times the memory
#: per order of the summary's aggregation (measured: 64M orders fail at 1 GB unchunked).
_FLOW_ROW_FACTOR = 2


def customer_summary_sql(
    runner: Runner, *, as_of_day: int, unit_days: float, margin: bool, dates: bool = False,
    chunks: int = 1, order: bool = True,
) -> str:
    """The per-customer summary query (day numbers, or timestamps with ``dates``).

    Two plain GROUP BYs: orders to (customer, day) occasions, occasions to customers.
    With ``chunks > 1`` the customers are split into that many hash buckets, each
    aggregated on its own (``UNION ALL``) and the (already small) result sorted once:
    DuckDB then never holds the occasion table of all customers at once. The first
    GROUP BY has about one group per order, and DuckDB's hash aggregate fails with
    "Out of Memory" instead of spilling when that table is much larger than
    ``memory_limit`` (64M orders at 1 GB); in buckets each scan of the files keeps one
    bucket, so the price is one more read of the order columns per chunk.
    ``order=False`` leaves the rows unsorted (for a table materialised in the engine).
    """
    a = int(as_of_day)
    sort = " ORDER BY customer_id\n" if order else "\n"
    if chunks > 1:
        parts = [_summary_body(runner, as_of_day=a, unit_days=unit_days, margin=margin,
                               dates=dates, bucket=(i, int(chunks)))
                 for i in range(int(chunks))]
        return ("SELECT * FROM (" + "\nUNION ALL\n".join(f"({p})" for p in parts)
                + ") u" + sort)
    return _summary_body(runner, as_of_day=a, unit_days=unit_days, margin=margin,
                         dates=dates) + sort


def _summary_body(runner: Runner, *, as_of_day: int, unit_days: float, margin: bool,
                  dates: bool, bucket: tuple[int, int] | None = None) -> str:
    margin_occ = ", SUM(margin) AS margin" if margin else ""
    margin_out = "SUM(margin) AS total_margin, " if margin else ""
    if dates:
        fmt = DIALECTS[runner.dialect]["date"]
        first = fmt.format(x="MIN(day)") + " AS first_order"
        last = fmt.format(x="MAX(day)") + " AS last_order"
    else:
        first, last = "MIN(day) AS first_day", "MAX(day) AS last_day"
    a = int(as_of_day)
    return f"""
WITH {_orders_cte(runner, as_of_day=a, margin=margin, bucket=bucket)},
occ AS (
  SELECT customer_id, day, SUM(amount) AS amount, COUNT(*) AS n{margin_occ}
  FROM o GROUP BY customer_id, day
)
SELECT customer_id, {first}, {last},
  SUM(n) AS n_orders,
  COUNT(*) - 1 AS frequency,
  CAST(MAX(day) - MIN(day) AS DOUBLE) / {unit_days!r} AS recency,
  CAST({a} - MIN(day) AS DOUBLE) / {unit_days!r} AS T,
  CASE WHEN COUNT(*) > 1
       THEN (SUM(amount) - MIN_BY(amount, day)) / CAST(COUNT(*) - 1 AS DOUBLE)
       ELSE CAST(0.0 AS DOUBLE) END AS monetary_value,
  SUM(amount) AS total_amount,
  SUM(amount) / CAST(SUM(n) AS DOUBLE) AS avg_order_value,
  {margin_out}CAST({a} - MAX(day) AS BIGINT) AS days_since_last_order
FROM occ GROUP BY customer_id
"""


def _chunks(runner: Runner, n_rows: int) -> int:
    """How many customer chunks the summary needs within the engine's memory limit."""
    limit = getattr(runner, "memory_limit_bytes", None)
    limit = limit() if callable(limit) else None
    if not limit:
        return 1
    return max(1, -(-int(n_rows) * _ROW_BYTES // int(limit)))


def customer_summary(
    runner: Runner, *, as_of: object = None, time_unit: str = "D", output: str = "pandas",
    chunks: int | None = None,
):
    """Per-customer summary; see :func:`crm_analytics.engines.customer_summary`.

    ``chunks`` (default: from the engine's memory limit, see :data:`_ROW_BYTES`) splits
    the customers into hash buckets aggregated one after the other.
    """
    unit_days = check_time_unit(time_unit)
    if output not in ("pandas", "native"):
        raise CrmDataError(f"The 'output' parameter must be 'pandas' or 'native'. Got {output!r}.")
    counts = check_orders(runner)
    as_of_ts, as_of_day = _resolve(runner, as_of, "as_of")
    if _first_day(runner) > as_of_day:
        raise CrmDataError(
            f"No order is on or before as_of={as_of_ts.date()}. Use a later as_of."
        )
    if chunks is None:
        chunks = _chunks(runner, counts["n_rows"])
    elif not (isinstance(chunks, int | np.integer) and chunks >= 1):
        raise CrmDataError(f"The 'chunks' parameter must be an int >= 1. Got {chunks!r}.")
    margin = _has(runner, "margin")
    query = customer_summary_sql(runner, as_of_day=as_of_day, unit_days=unit_days,
                                 margin=margin, dates=output == "native", chunks=int(chunks))
    if output == "native":
        return runner.native(query)
    raw = runner.fetch(query)
    cols = {
        "customer_id": _text(raw["customer_id"]).to_numpy(),
        "first_order": _dates(raw["first_day"]),
        "last_order": _dates(raw["last_day"]),
    }
    for c in ("n_orders", "frequency"):
        cols[c] = raw[c].to_numpy(dtype=np.int64)
    for c in ("recency", "T", "monetary_value", "total_amount", "avg_order_value"):
        cols[c] = raw[c].to_numpy(dtype=float)
    if margin:
        cols["total_margin"] = raw["total_margin"].to_numpy(dtype=float)
    cols["days_since_last_order"] = raw["days_since_last_order"].to_numpy(dtype=np.int64)
    result = pd.DataFrame(cols)
    result["customer_id"] = _text(result["customer_id"])
    result.attrs = {"time_unit": time_unit, "as_of": iso_day(as_of_ts)}
    return result


# --------------------------------------------------------------------------- cohorts
def _period_sql(runner: Runner, period: str) -> str:
    """Calendar period number of ``order_date`` (as :func:`cohorts._period_index`)."""
    if period == "W":  # 1970-01-01 is a Thursday; weeks start on Monday
        return f"CAST(FLOOR(({_day(runner, 'order_date')} + 3) / 7.0) AS BIGINT)"
    d = "CAST(CAST(order_date AS TIMESTAMP) AS DATE)"
    months = f"((YEAR({d}) - 1970) * 12 + MONTH({d}) - 1)"
    return months if period == "M" else f"CAST(FLOOR({months} / 3.0) AS BIGINT)"


def _cohort_counts(runner: Runner, period: str, as_of_day: int) -> pd.DataFrame:
    """Long table ``kind, cohort_p, k, n, revenue`` (sizes, on, first repeat, revenue)."""
    day = _day(runner, "order_date")
    status = ""
    if _has(runner, "status"):
        statuses = ", ".join("'" + s.replace("'", "''") + "'" for s in sorted(EXCLUDED_STATUSES))
        status = f" AND LOWER(TRIM(COALESCE(CAST(status AS STRING), ''))) NOT IN ({statuses})"
    query = f"""
WITH cp AS (
  SELECT CAST(customer_id AS STRING) AS customer_id, {_period_sql(runner, period)} AS p,
         MIN({day}) AS min_day, MAX({day}) AS max_day, SUM(CAST(amount AS DOUBLE)) AS amount
  FROM {{src}} WHERE {day} <= {int(as_of_day)}{status}
  GROUP BY 1, 2
),
c AS (
  SELECT customer_id, p, max_day, amount,
         MIN(min_day) OVER (PARTITION BY customer_id) AS first_day,
         MIN(p) OVER (PARTITION BY customer_id) AS cohort_p
  FROM cp
),
r AS (
  SELECT customer_id, cohort_p, MIN(p - cohort_p) AS k FROM c
  WHERE max_day > first_day GROUP BY customer_id, cohort_p
)
SELECT 'size' AS kind, cohort_p, CAST(0 AS BIGINT) AS k, COUNT(*) AS n,
       CAST(0.0 AS DOUBLE) AS revenue FROM c WHERE p = cohort_p GROUP BY cohort_p
UNION ALL
SELECT 'on', cohort_p, p - cohort_p, COUNT(*), SUM(amount) FROM c
  WHERE max_day > first_day GROUP BY cohort_p, p - cohort_p
UNION ALL
SELECT 'first', cohort_p, k, COUNT(*), CAST(0.0 AS DOUBLE) FROM r GROUP BY cohort_p, k
UNION ALL
SELECT 'revenue', cohort_p, p - cohort_p, COUNT(*), SUM(amount) FROM c
  GROUP BY cohort_p, p - cohort_p
"""
    return runner.fetch(query)


def _grid(counts: pd.DataFrame, period: str, as_of_day: int):
    """Cohort x k grid (as :func:`cohorts._cohort_grid`): cells, sizes, complete flags."""
    from crm_analytics.cohorts import _period_index

    sizes = counts[counts["kind"] == "size"]
    first = int(sizes["cohort_p"].min())
    last = int(_period_index(np.array([as_of_day]), period)[0])
    width = last - first + 1
    size = np.zeros(width, dtype=np.int64)
    size[sizes["cohort_p"].to_numpy(dtype=np.int64) - first] = sizes["n"].to_numpy(np.int64)
    slot, k = np.divmod(np.arange(width * width), width)
    cells = np.flatnonzero((size[slot] > 0) & (slot + k <= width - 1))
    next_start = _period_start(first + slot[cells] + k[cells] + 1, period)
    complete = next_start <= as_of_day + 1
    return first, width, size, cells, complete


def _flat(counts: pd.DataFrame, kind: str, col: str, first: int, width: int) -> np.ndarray:
    part = counts[counts["kind"] == kind]
    flat = np.zeros(width * width, dtype=float if col == "revenue" else np.int64)
    idx = (part["cohort_p"].to_numpy(np.int64) - first) * width + part["k"].to_numpy(np.int64)
    flat[idx] = part[col].to_numpy(dtype=flat.dtype)
    return flat


def _cohort_prepare(runner: Runner, period: str, as_of: object):
    _check_period(period)
    check_orders(runner)
    as_of_ts, as_of_day = _resolve(runner, as_of, "as_of")
    if _first_day(runner) > as_of_day:
        raise CrmDataError(
            f"No order is on or before as_of={as_of_ts.date()}. Use a later as_of."
        )
    counts = _cohort_counts(runner, period, as_of_day)
    return as_of_ts, counts, _grid(counts, period, as_of_day)


def _grid_columns(first, width, size, cells, complete, period) -> dict[str, np.ndarray]:
    slot, k = np.divmod(cells, width)
    return {
        "cohort": _dates(_period_start(first + slot, period)),
        "period": k.astype(np.int64),
        "cohort_size": size[slot].astype(np.int64),
    }


def cohort_repurchase(runner: Runner, *, period: str = "M", how: str = "on", as_of=None):
    """Cohort repurchase table; see :func:`crm_analytics.engines.cohort_repurchase`."""
    _check_how(how)
    as_of_ts, counts, (first, width, size, cells, complete) = _cohort_prepare(
        runner, period, as_of)
    if how == "on":
        flat = _flat(counts, "on", "n", first, width)
    else:
        flat = _flat(counts, "first", "n", first, width).reshape(width, width)
        flat = flat.cumsum(axis=1).ravel()
    cols = _grid_columns(first, width, size, cells, complete, period)
    customers = flat[cells].astype(np.int64)
    result = pd.DataFrame({**cols, "customers": customers,
                           "rate": customers / cols["cohort_size"], "complete": complete})
    result.attrs = {"period": period, "how": how, "as_of": iso_day(as_of_ts)}
    return result


def cohort_revenue(runner: Runner, *, period: str = "M", as_of=None):
    """Cohort revenue table; see :func:`crm_analytics.cohorts.cohort_revenue`."""
    as_of_ts, counts, (first, width, size, cells, complete) = _cohort_prepare(
        runner, period, as_of)
    revenue = _flat(counts, "revenue", "revenue", first, width)
    cumulative = revenue.reshape(width, width).cumsum(axis=1).ravel()
    cols = _grid_columns(first, width, size, cells, complete, period)
    result = pd.DataFrame({
        **cols,
        "revenue": revenue[cells],
        "revenue_per_customer": revenue[cells] / cols["cohort_size"],
        "cumulative_revenue_per_customer": cumulative[cells] / cols["cohort_size"],
        "complete": complete,
    })
    result.attrs = {"period": period, "as_of": iso_day(as_of_ts)}
    return result


# --------------------------------------------------------------------------- sleeping
def sleeping_flow(runner: Runner, *, start=None, end=None, sleep_after: int = 90,
                  remind_before: int = 10) -> pd.DataFrame:
    """Daily sleeping flow; see :func:`crm_analytics.sleeping.sleeping_flow`.

    The SQL turns every customer's order days into interval end points (sleep and
    pre-sleep intervals, first orders, falling asleep, waking up) counted per day of
    the reported range; the difference arrays are summed up in numpy (one row per day).
    """
    s, r = _check_sleep(sleep_after, remind_before)
    counts_ = check_orders(runner)
    if start is None:
        day0 = _first_day(runner)
        start_ts = pd.Timestamp(_EPOCH + day0).as_unit("ns")
    else:
        start_ts, day0 = _resolve(runner, start, "start")
    end_ts, end_day = _resolve(runner, end, "end")
    if end_day < day0:
        raise CrmDataError(
            f"The 'end' parameter ({end_ts.date()}) must not be before 'start' "
            f"({start_ts.date()})."
        )
    n = end_day - day0 + 1
    never = int(_NEVER)
    hi_end = day0 + n

    def clip(x: str) -> str:
        return f"LEAST(GREATEST({x} - {day0}, 0), {n})"

    def interval(kind: str, lo: str, hi: str) -> str:
        keep = f"({hi}) > ({lo}) AND ({lo}) < {hi_end} AND ({hi}) > {day0}"
        return (
            f"SELECT '{kind}_lo' AS kind, {clip(lo)} AS idx, COUNT(*) AS n FROM iv WHERE {keep} "
            f"GROUP BY 2 UNION ALL "
            f"SELECT '{kind}_hi', {clip(hi)}, COUNT(*) FROM iv WHERE {keep} GROUP BY 2"
        )

    template = f"""
WITH {{orders}},
occ AS (SELECT DISTINCT customer_id, day FROM o),
iv AS (
  SELECT day,
         COALESCE(LEAD(day) OVER (PARTITION BY customer_id ORDER BY day), {never}) AS nxt,
         ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY day) AS rn
  FROM occ
)
SELECT 'members' AS kind, {clip('day')} AS idx, COUNT(*) AS n FROM iv WHERE rn = 1 GROUP BY 2
UNION ALL {interval('sleep', f'day + {s}', 'nxt')}
UNION ALL {interval('pre', f'day + {s - r}', f'LEAST(day + {s}, nxt)')}
UNION ALL SELECT 'newly', day + {s} - {day0}, COUNT(*) FROM iv
  WHERE nxt - day > {s} AND day + {s} >= {day0} AND day + {s} < {hi_end} GROUP BY 2
UNION ALL SELECT 'woken', nxt - {day0}, COUNT(*) FROM iv
  WHERE nxt - day > {s} AND nxt < {never} AND nxt >= {day0} AND nxt < {hi_end} GROUP BY 2
"""
    # customers in hash buckets, one query each (the counts add up): DuckDB's window
    # over every customer's order days does not spill, so it must fit in memory
    k = _chunks(runner, _FLOW_ROW_FACTOR * counts_["n_rows"])
    raw = pd.concat([
        runner.fetch(template.replace(
            "{orders}", _orders_cte(runner, bucket=(i, k) if k > 1 else None)))
        for i in range(k)], ignore_index=True)

    def counts(kind: str) -> np.ndarray:
        part = raw[raw["kind"] == kind]
        return np.bincount(part["idx"].to_numpy(np.int64), weights=part["n"].to_numpy(float),
                           minlength=n + 1).astype(np.int64)

    members = np.cumsum(counts("members"))[:n]
    sleeping = np.cumsum(counts("sleep_lo") - counts("sleep_hi"))[:n]
    pre_sleep = np.cumsum(counts("pre_lo") - counts("pre_hi"))[:n]
    flow = pd.DataFrame({
        "date": pd.date_range(start_ts, periods=n, freq="D"),
        "members": members,
        "active": members - pre_sleep - sleeping,
        "pre_sleep": pre_sleep,
        "sleeping": sleeping,
        "newly_sleeping": counts("newly")[:n],
        "woken": counts("woken")[:n],
    })
    flow.attrs = {"sleep_after": s, "remind_before": r}
    return flow


# --------------------------------------------------------------------------- campaigns
def campaign_outcomes(
    runner: Runner,
    audience: pd.DataFrame,
    *,
    start: object,
    window_days: int = 30,
    pre_days: int | None = None,
    as_of: object = None,
    group_col: str = "group",
    margin_rate: float | None = None,
) -> pd.DataFrame:
    """Every audience member's outcomes in the window and the pre-period.

    The engine aggregates the orders of ``[start - pre_days, start + window_days)`` (up
    to ``as_of``) per buyer; the audience (already in memory) is joined in pandas, so
    members without an order get zeros. Columns: ``customer_id, group, conversion,
    orders, revenue[, margin], pre_conversion, pre_orders, pre_revenue[, pre_margin]``
    as in :func:`crm_analytics.campaigns.campaign_lift`'s per-member table. Margin comes
    from the orders' ``margin`` column, else ``amount * margin_rate``, else is left out
    (orders with a missing margin count as 0). ``attrs["as_of"]`` is the last day used.
    """
    from crm_analytics.campaigns import _check_windows, _member_ids

    pre_days = _check_windows(window_days, pre_days)
    ids = _member_ids(audience, "the audience table")
    check_orders(runner)
    _, start_day = _resolve(runner, start, "start")
    as_of_ts, as_of_day = _resolve(runner, as_of, "as_of")
    has_margin = _has(runner, "margin") or margin_rate is not None
    margin_expr = "margin" if _has(runner, "margin") else f"amount * {float(margin_rate or 0)!r}"
    lo, hi = start_day - pre_days, start_day + window_days
    sums = []
    for prefix, cond in (("", f"day >= {start_day}"), ("pre_", f"day < {start_day}")):
        sums.append(f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS {prefix}orders")
        sums.append(f"SUM(CASE WHEN {cond} THEN amount ELSE 0.0 END) AS {prefix}revenue")
        if has_margin:
            sums.append(f"SUM(CASE WHEN {cond} THEN {margin_expr} ELSE 0.0 END) "
                        f"AS {prefix}margin")
    query = f"""
WITH {_orders_cte(runner, as_of_day=as_of_day, margin=_has(runner, 'margin'))}
SELECT customer_id, {', '.join(sums)} FROM o
WHERE day >= {lo} AND day < {hi} GROUP BY customer_id
"""
    raw = runner.fetch(query)
    raw.index = pd.Index(_text(raw["customer_id"]).to_numpy(dtype=object))
    pos = raw.index.get_indexer(ids)
    found = pos >= 0
    members = pd.DataFrame({"customer_id": ids, "group": audience[group_col].to_numpy()})
    metrics = ("orders", "revenue") + (("margin",) if has_margin else ())
    for prefix in ("", "pre_"):
        for m in metrics:
            values = np.zeros(len(ids))
            values[found] = raw[prefix + m].to_numpy(dtype=float)[pos[found]]
            members[prefix + m] = values
        members.insert(list(members.columns).index(prefix + "orders"), prefix + "conversion",
                       (members[prefix + "orders"] > 0).astype(float))
    members["customer_id"] = _text(members["customer_id"])
    members.attrs = {"as_of": as_of_ts}
    return members


# --------------------------------------------------------------------------- scoring
def _check_scoring(model, spend_model, horizon, high_risk_below, medium_risk_below, output):
    from crm_analytics._checks import check_positive
    from crm_analytics.churn import _check_model, check_risk_bands
    from crm_analytics.ltv import SpendModel

    model = _check_model(model)
    check_positive(horizon, "horizon")
    if spend_model is not None and not isinstance(spend_model, SpendModel):
        raise CrmDataError("The 'spend_model' argument must be a SpendModel from "
                           f"fit_spend_model(); got {type(spend_model).__name__}.")
    check_risk_bands(high_risk_below, medium_risk_below)
    if output not in ("pandas", "native"):
        raise CrmDataError(f"The 'output' parameter must be 'pandas' or 'native'. Got {output!r}.")
    return model


def fetch_patterns(runner: Runner, summary: str, *, as_of_day: int) -> pd.DataFrame:
    """Distinct ``(frequency, recency, T)`` histories of a summary query, with counts.

    ``summary`` is a query or table with the columns of :func:`customer_summary_sql`
    (day numbers). One row per history: ``frequency, rec_days, t_days`` (integer keys:
    days from first to last order and to ``as_of``), ``recency, T`` (the summary's
    values), ``n`` (customers) and ``first_id``, in the order of each history's first
    customer by ``customer_id``: the order :func:`crm_analytics.churn.compress_rfm`
    gives a summary sorted by id, so a fit on these rows is the pandas fit.
    """
    a = int(as_of_day)
    raw = runner.fetch(
        f"SELECT frequency, last_day - first_day AS rec_days, {a} - first_day AS t_days, "
        "MIN(recency) AS recency, MIN(T) AS T, COUNT(*) AS n, MIN(customer_id) AS first_id "
        f"FROM {summary} GROUP BY frequency, last_day - first_day, {a} - first_day "
        "ORDER BY first_id"
    )
    out = pd.DataFrame({
        "frequency": raw["frequency"].to_numpy(dtype=np.int64),
        "rec_days": raw["rec_days"].to_numpy(dtype=np.int64),
        "t_days": raw["t_days"].to_numpy(dtype=np.int64),
        "recency": raw["recency"].to_numpy(dtype=float),
        "T": raw["T"].to_numpy(dtype=float),
        "n": raw["n"].to_numpy(dtype=np.int64),
    })
    return out


def pattern_scores(
    model, patterns: pd.DataFrame, *, unit_days: float, horizon: float = 90,
    high_risk_below: float = 0.5, medium_risk_below: float = 0.8,
    next_order_min_p_alive: float = 0.1, horizon_months: int | None = None,
    monthly_discount_rate: float = 0.01, days_per_month: float | None = None,
) -> pd.DataFrame:
    """Every per-history number of churn_scores / predict_ltv, once per history.

    The same formulas as :func:`crm_analytics.churn.churn_scores` (``p_alive, p_churn,
    expected_orders, churn_risk``; ``next_order_basis``, ``expected_gap_days`` and
    ``add_days``, the days added to the last order (own gaps) or to ``as_of`` (model
    rate) to get ``expected_next_order``, all functions of the history) and, with
    ``horizon_months``, of :func:`crm_analytics.ltv.predict_ltv` (``ltv_orders``: expected
    orders in the horizon, ``ltv_discounted``: their monthly-discounted sum). The spend
    per order depends on ``monetary_value`` and is computed in SQL
    (:func:`score_columns`). Returns the key columns ``frequency, rec_days, t_days`` and
    those numbers.
    """
    from crm_analytics.churn import NEXT_ORDER_BASES, RISK_LEVELS, expected_gap_days
    from crm_analytics.ltv import DAYS_PER_MONTH

    scale = unit_days / model.unit_days
    x = patterns["frequency"].to_numpy(dtype=float)
    tx = patterns["recency"].to_numpy(dtype=float) * scale
    TT = patterns["T"].to_numpy(dtype=float) * scale
    p_alive = model.p_alive(x, tx, TT)
    expected = model.expected_orders(horizon / model.unit_days, x, tx, TT)
    risk = np.where(p_alive < high_risk_below, 2, np.where(p_alive < medium_risk_below, 1, 0))
    gap, repeat = expected_gap_days(model, x, patterns["recency"].to_numpy(dtype=float), TT,
                                    unit_days)
    unlikely = p_alive < next_order_min_p_alive
    basis = np.where(unlikely, 2, np.where(repeat, 0, 1))
    add = np.floor(gap + 0.5)
    out = pd.DataFrame({
        "frequency": patterns["frequency"].to_numpy(dtype=np.int64),
        "rec_days": patterns["rec_days"].to_numpy(dtype=np.int64),
        "t_days": patterns["t_days"].to_numpy(dtype=np.int64),
        "p_alive": p_alive,
        "p_churn": 1.0 - p_alive,
        "expected_orders": expected,
        "churn_risk": np.asarray(RISK_LEVELS, dtype=object)[risk].astype(str),
        "next_order_basis": np.asarray(NEXT_ORDER_BASES, dtype=object)[basis].astype(str),
        "expected_gap_days": gap,
        "add_days": pd.array(np.where(unlikely, 0, add).astype(np.int64), dtype="Int64"),
    })
    out.loc[unlikely, "add_days"] = pd.NA
    if horizon_months is not None:
        months = int(horizon_months)
        month = (DAYS_PER_MONTH if days_per_month is None else days_per_month) / model.unit_days
        discount = (1.0 + monthly_discount_rate) ** -np.arange(1, months + 1)
        cumulative = np.zeros(len(x))
        discounted = np.zeros(len(x))
        for k in range(1, months + 1):  # as predict_ltv: a few months x all histories
            nxt = model._expected_orders_if_alive(k * month, x, TT) * p_alive
            discounted += (nxt - cumulative) * discount[k - 1]
            cumulative = nxt
        out["ltv_orders"] = cumulative
        out["ltv_discounted"] = discounted
    return out


def pattern_join(summary_alias: str, pattern_alias: str, as_of_day: int) -> str:
    """The join condition of a summary row and its history's row of :func:`pattern_scores`."""
    s, p = summary_alias, pattern_alias
    return (f"{s}.frequency = {p}.frequency AND {s}.last_day - {s}.first_day = {p}.rec_days "
            f"AND {int(as_of_day)} - {s}.first_day = {p}.t_days")


def score_columns(
    runner: Runner, *, as_of_day: int, spend_model=None, margin_rate: float | None = None,
    margin: bool = False, shop_margin_rate: float | None = None, s: str = "s", p: str = "p",
) -> list[tuple[str, str]]:
    """``(name, SQL expression)`` of the churn and LTV columns, summary ``s`` joined to ``p``.

    Names as :func:`crm_analytics.churn.churn_scores` (``p_alive ... expected_gap_days``)
    and, with ``spend_model``, :func:`crm_analytics.ltv.predict_ltv` (``expected_orders``
    there is ``ltv_expected_orders`` here, then ``expected_spend_per_order,
    expected_revenue, expected_margin, ltv``). The margin rate is ``margin_rate``, else
    each customer's ``total_margin / total_amount`` (``shop_margin_rate`` when the amount
    is 0) when ``margin``, else unknown (``expected_margin`` NULL, ``ltv`` on revenue).
    """
    day = DIALECTS[runner.dialect]["day_date"]
    a = int(as_of_day)
    nxt = (f"CASE {p}.next_order_basis "
           f"WHEN 'own_gaps' THEN {day.format(x=f'{s}.last_day + {p}.add_days')} "
           f"WHEN 'model_rate' THEN {day.format(x=f'{a} + {p}.add_days')} END")
    cols = [(c, f"{p}.{c}") for c in ("p_alive", "p_churn", "expected_orders", "churn_risk")]
    cols += [("expected_next_order", nxt), ("next_order_basis", f"{p}.next_order_basis"),
             ("expected_gap_days", f"{p}.expected_gap_days")]
    if spend_model is None:
        return cols
    pp, q = float(spend_model.params["p"]), float(spend_model.params["q"])
    mean = float(spend_model.population_mean_spend)
    x = f"CAST({s}.frequency AS DOUBLE)"
    w = f"({pp!r} * {x} / ({pp!r} * {x} + {q!r} - 1))"
    spend = (f"((1 - {w}) * {mean!r} + {w} * CASE WHEN {s}.frequency > 0 "
             f"THEN {s}.monetary_value ELSE 0.0 END)")
    if margin_rate is not None:
        rate = repr(float(margin_rate))
    elif margin:
        shop = "NULL" if shop_margin_rate is None else repr(float(shop_margin_rate))
        rate = (f"CASE WHEN {s}.total_amount > 0 THEN {s}.total_margin / {s}.total_amount "
                f"ELSE {shop} END")
    else:
        rate = None
    revenue = f"({p}.ltv_orders * {spend})"
    cols += [
        ("ltv_expected_orders", f"{p}.ltv_orders"),
        ("expected_spend_per_order", spend),
        ("expected_revenue", revenue),
        ("expected_margin", "CAST(NULL AS DOUBLE)" if rate is None else f"{revenue} * {rate}"),
        ("ltv", f"{p}.ltv_discounted * {spend}" + ("" if rate is None else f" * {rate}")),
    ]
    return cols


def shop_margin_rate(runner: Runner, summary: str) -> float | None:
    """Total margin / total amount of a summary (None when the amount is not positive)."""
    row = runner.fetch(f"SELECT SUM(total_margin) AS m, SUM(total_amount) AS a FROM {summary}")
    m, a = row["m"].iloc[0], row["a"].iloc[0]
    return float(m) / float(a) if pd.notna(a) and float(a) > 0 else None


_pattern_tables = itertools.count()


def score_customers(runner: Runner, model, spend_model=None, *, as_of=None, time_unit="D",
                    horizon=90, horizon_months=12, monthly_discount_rate=0.01,
                    margin_rate=None, high_risk_below=0.5, medium_risk_below=0.8,
                    next_order_min_p_alive=0.1, output="native"):
    """Churn / LTV scores joined in the engine; see :func:`crm_analytics.engines.score_customers`."""
    model = _check_scoring(model, spend_model, horizon, high_risk_below, medium_risk_below,
                           output)
    unit_days = check_time_unit(time_unit)
    counts = check_orders(runner)
    _, as_of_day = _resolve(runner, as_of, "as_of")
    margin = _has(runner, "margin")
    if margin and margin_rate is not None and spend_model is not None:
        raise CrmDataError(
            "The orders have a 'margin' column and margin_rate="
            f"{margin_rate!r} was also given. Pass margin_rate=None to use the margins of the "
            "orders, or leave the margin column out to use a flat rate."
        )
    query = customer_summary_sql(runner, as_of_day=as_of_day, unit_days=unit_days,
                                 margin=margin, chunks=_chunks(runner, counts["n_rows"]),
                                 order=False)
    summary = f"crm_scored_summary_{next(_pattern_tables)}"
    runner.materialise(summary, query)
    pats = fetch_patterns(runner, summary, as_of_day=as_of_day)
    scores = pattern_scores(
        model, pats, unit_days=unit_days, horizon=horizon, high_risk_below=high_risk_below,
        medium_risk_below=medium_risk_below, next_order_min_p_alive=next_order_min_p_alive,
        horizon_months=None if spend_model is None else horizon_months,
        monthly_discount_rate=monthly_discount_rate)
    name = f"crm_patterns_{next(_pattern_ids)}"
    runner.register(name, scores)
    shop = shop_margin_rate(runner, summary) if margin and spend_model is not None else None
    cols = score_columns(runner, as_of_day=as_of_day, spend_model=spend_model,
                         margin_rate=margin_rate, margin=margin, shop_margin_rate=shop)
    select = ", ".join(["s.customer_id"] + [f"{expr} AS {col}" for col, expr in cols])
    query = (f"SELECT {select} FROM {summary} s JOIN {name} p "
             f"ON {pattern_join('s', 'p', as_of_day)} ORDER BY s.customer_id")
    if output == "native":
        return runner.native(query)
    out = runner.fetch(query)
    out["customer_id"] = _text(out["customer_id"])
    out["expected_next_order"] = pd.to_datetime(out["expected_next_order"]).astype(
        "datetime64[ns]")
    return out
