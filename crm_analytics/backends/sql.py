"""What every SQL path shares: dialects, the kept-orders CTE, source checks, day numbers.

Each analysis writes its reduction as SQL beside its pandas path (``<analysis>/sql.py``),
from the same rules and constants; this module knows no analysis. Engines
(:mod:`crm_analytics.backends.duckdb`, :mod:`crm_analytics.backends.spark`) only say how
to run a query: they implement the :class:`Runner` protocol. The only dialect
differences are two snippets (a date to its day number and back), in :data:`DIALECTS`.

Days are handled as integer day numbers (days since 1970-01-01) inside SQL, so no
timezone or timestamp-unit conversion can shift a date between engines; dates are made
from them in numpy at the end.

"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from crm_analytics._core.dates import EPOCH, dates_from_days, to_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.vocab import EXCLUDED_STATUSES

__all__ = [
    "DIALECTS",
    "EPOCH",
    "FLOW_ROW_FACTOR",
    "ROW_BYTES",
    "Runner",
    "as_text",
    "check_orders",
    "chunk_count",
    "dates_from_days",
    "day_expr",
    "first_day",
    "has_column",
    "last_day",
    "orders_cte",
    "profile",
    "resolve_day",
    "sql_text",
    "status_filter",
]

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
def day_expr(runner: Runner, expr: str) -> str:
    return DIALECTS[runner.dialect]["day"].format(x=expr)


def check_source(runner: Runner, required=("customer_id", "order_date", "amount")) -> None:
    cols = [c.lower() for c in runner.columns]
    missing = [c for c in required if c not in cols]
    if missing:
        raise CrmDataError(
            f"The order source is missing column(s) {missing}; it has {runner.columns}. "
            "Rename the columns to the canonical names (customer_id, order_id, order_date, "
            "amount, margin) in the query or file that makes the source."
        )


def has_column(runner: Runner, col: str) -> bool:
    return col in [c.lower() for c in runner.columns]


def sql_text(value: str) -> str:
    """``value`` as a SQL string literal (single quotes doubled).

    >>> sql_text("it's")
    "'it''s'"
    """
    return "'" + str(value).replace("'", "''") + "'"


def status_filter(column: str = "status") -> str:
    """SQL condition keeping rows whose status is a purchase (not in ``EXCLUDED_STATUSES``).

    The same rule as the pandas path: statuses are compared trimmed and lower-cased, and
    a missing status counts as kept.
    """
    statuses = ", ".join(sql_text(s) for s in sorted(EXCLUDED_STATUSES))
    return f"LOWER(TRIM(COALESCE(CAST({column} AS STRING), ''))) NOT IN ({statuses})"


def orders_cte(runner: Runner, *, as_of_day: int | None = None, margin: bool = False,
                bucket: tuple[int, int] | None = None) -> str:
    """``o``: customer_id (text), day (day number), amount [, margin] of kept orders.

    Orders with an excluded status (cancelled, refunded, ... as in
    :func:`crm_analytics.validate_orders`) and, with ``as_of_day``, orders after it are
    left out. ``bucket=(i, k)`` keeps only the customers of hash bucket ``i`` of ``k``.
    """
    day = day_expr(runner, "order_date")
    where = []
    if bucket is not None:
        expr = DIALECTS[runner.dialect]["bucket"].format(x="CAST(customer_id AS STRING)",
                                                         k=int(bucket[1]))
        where.append(f"{expr} = {int(bucket[0])}")
    if as_of_day is not None:
        where.append(f"{day} <= {int(as_of_day)}")
    if has_column(runner, "status"):
        where.append(status_filter())
    margin_col = ", CAST(margin AS DOUBLE) AS margin" if margin else ""
    return (
        f"o AS (SELECT CAST(customer_id AS STRING) AS customer_id, {day} AS day, "
        f"CAST(amount AS DOUBLE) AS amount{margin_col} FROM {{src}}"
        + (" WHERE " + " AND ".join(where) if where else "")
        + ")"
    )


def profile(runner: Runner) -> dict[str, int]:
    """Row count, missing values and first/last order day of the kept orders (one scan).

    Cached on the runner, so a function asking several questions scans once.
    """
    cached = getattr(runner, "_crm_profile", None)
    if cached is not None:
        return cached
    check_source(runner)
    row = runner.fetch(
        f"WITH {orders_cte(runner)} SELECT COUNT(*) AS n_rows, "
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
    counts = profile(runner)
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


def last_day(runner: Runner) -> int:
    return check_orders(runner)["last_day"]


def first_day(runner: Runner) -> int:
    return check_orders(runner)["first_day"]


def resolve_day(runner: Runner, value: object, name: str) -> tuple[pd.Timestamp, int]:
    if value is None:
        day = last_day(runner)
        return pd.Timestamp(EPOCH + day).as_unit("ns"), day
    ts = to_day(value, name)
    return ts, int((ts.to_datetime64().astype("datetime64[D]") - EPOCH).astype(np.int64))


def as_text(values: pd.Series) -> pd.Series:
    return values.astype("str")



#: Memory one order row takes in the per-customer aggregation (DuckDB, bytes): the
#: orders are split into customer chunks of at most ``memory_limit / ROW_BYTES`` rows.
ROW_BYTES = 64
#: The sleeping flow's window over order days takes about this many times the memory
#: per order of the summary's aggregation (measured: 64M orders fail at 1 GB unchunked).
FLOW_ROW_FACTOR = 2


def chunk_count(runner: Runner, n_rows: int) -> int:
    """How many customer chunks the summary needs within the engine's memory limit."""
    limit = getattr(runner, "memory_limit_bytes", None)
    limit = limit() if callable(limit) else None
    if not limit:
        return 1
    return max(1, -(-int(n_rows) * ROW_BYTES // int(limit)))
