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

from collections.abc import Callable
from typing import Protocol, TypeVar

import numpy as np
import pandas as pd

from crm_analytics._core.dates import EPOCH, dates_from_days, to_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.vocab import EXCLUDED_STATUSES

__all__ = [
    "DIALECTS",
    "EPOCH",
    "FLOW_ROW_FACTOR",
    "KEPT_DAY",
    "MISSING_COUNTS",
    "ROW_BYTES",
    "TEXT_TYPES",
    "Runner",
    "as_text",
    "cached",
    "check_source",
    "chunk_count",
    "dates_from_days",
    "day_expr",
    "first_day",
    "has_column",
    "is_text_column",
    "kept_rows_cte",
    "known_profile",
    "last_day",
    "orders_cte",
    "profile",
    "resolve_day",
    "sql_text",
    "status_filter",
]

_Value = TypeVar("_Value")

#: Dialect snippets: ``day`` turns a timestamp/date expression into its day number
#: (NULL for a text that is not a date, which the order checks then refuse),
#: ``date`` a day number into a timestamp (only used for engine-native output),
#: ``bucket`` a text into one of ``k`` hash buckets (customer chunks, see
#: :func:`customer_summary_sql`), ``day_date`` a day number into a DATE (CSV cells
#: "2025-11-11"), ``shuffle`` a text into a pseudo-random sort key (seeded samples),
#: ``log1p`` ``ln(1 + x)``.
DIALECTS = {
    "duckdb": {
        "day": "(CAST(TRY_CAST({x} AS TIMESTAMP) AS DATE) - DATE '1970-01-01')",
        "date": "CAST(DATE '1970-01-01' + CAST({x} AS INTEGER) AS TIMESTAMP)",
        "bucket": "hash({x}) % {k}",
        "hash64": "hash({x})",
        "day_date": "(DATE '1970-01-01' + CAST({x} AS INTEGER))",
        "shuffle": "hash(CAST({x} AS VARCHAR) || '#{seed}')",
        "log1p": "LN(1.0 + {x})",
    },
    "spark": {
        "day": "unix_date(CAST(try_cast({x} AS TIMESTAMP) AS DATE))",
        "date": "CAST(date_from_unix_date(CAST({x} AS INT)) AS TIMESTAMP)",
        "bucket": "pmod(hash({x}), {k})",
        "hash64": "xxhash64({x})",
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
    #: Lower-cased column name -> lower-cased SQL type name (may be absent).
    column_types: dict[str, str]

    def fetch(self, query: str) -> pd.DataFrame:
        """Run ``query`` and return its (small) result as pandas."""

    def native(self, query: str) -> object:
        """Run ``query`` lazily and return the engine's own table (relation, DataFrame)."""


# --------------------------------------------------------------------------- helpers
def day_expr(runner: Runner, expr: str) -> str:
    return DIALECTS[runner.dialect]["day"].format(x=expr)


def check_source(runner: Runner, required=("customer_id", "order_date", "amount")) -> None:
    """Raise :class:`CrmDataError` naming the ``required`` columns the source lacks."""
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


#: SQL type names of text columns (DuckDB, Spark).
TEXT_TYPES = frozenset({"varchar", "string", "text"})


def is_text_column(runner: Runner, col: str) -> bool | None:
    """Whether ``col`` holds text (True), something else (False), or unknown (None)."""
    types = getattr(runner, "column_types", None)
    if not types or col.lower() not in types:
        return None
    return types[col.lower()] in TEXT_TYPES


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


#: Name of the day-number column of :func:`kept_rows_cte` (chosen not to clash with a
#: source column).
KEPT_DAY = "crm_day"

#: The counts of :func:`profile` by default: kept rows missing each required value.
MISSING_COUNTS = {
    "customer_id": "customer_id IS NULL",
    "order_date": f"{KEPT_DAY} IS NULL",
    "amount": "amount IS NULL",
}


def cached(runner: Runner, key: object, compute: Callable[[], _Value]) -> _Value:
    """``compute()`` once per runner and ``key``, kept on the runner object itself.

    A runner is an explicit object its caller holds (see ``engine_source``), so what is
    learnt about its orders (their profile, that they passed the checks) lives exactly as
    long as it does; nothing is kept anywhere else.
    """
    store = getattr(runner, "_crm_cache", None)
    if store is None:
        store = {}
        try:
            runner._crm_cache = store
        except AttributeError:  # pragma: no cover - a runner without a __dict__
            return compute()
    if key not in store:
        store[key] = compute()
    return store[key]


def kept_rows_cte(runner: Runner) -> str:
    """``k``: every source column of the kept rows (status not excluded) plus their day
    number as :data:`KEPT_DAY`."""
    where = f" WHERE {status_filter()}" if has_column(runner, "status") else ""
    return f"k AS (SELECT *, {day_expr(runner, 'order_date')} AS {KEPT_DAY} FROM {{src}}{where})"


def profile(runner: Runner, counts: dict[str, str] | None = None,
            aggregates: dict[str, str] | None = None) -> dict[str, int | None]:
    """Kept rows, how many of them meet each condition, first/last order day (one scan).

    ``counts`` maps a name to a SQL condition on the columns of :func:`kept_rows_cte`
    (default :data:`MISSING_COUNTS`), ``aggregates`` a name to an integer aggregate
    (``COUNT(DISTINCT ...)``). Cached on the runner per question, so a function asking
    several questions scans once.
    """
    counts = dict(MISSING_COUNTS if counts is None else counts)
    aggregates = dict(aggregates or {})

    def compute() -> dict[str, int | None]:
        check_source(runner)
        sums = "".join(f", SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS {name}"
                       for name, cond in counts.items())
        sums += "".join(f", {expr} AS {name}" for name, expr in aggregates.items())
        row = runner.fetch(
            f"WITH {kept_rows_cte(runner)} SELECT COUNT(*) AS n_rows{sums}, "
            f"MIN({KEPT_DAY}) AS first_day, MAX({KEPT_DAY}) AS last_day FROM k"
        ).iloc[0]
        return {k: (None if pd.isna(v) else int(v)) for k, v in row.items()}

    key = ("profile", tuple(counts.items()), tuple(aggregates.items()))
    return cached(runner, key, compute)


def known_profile(runner: Runner) -> dict[str, int | None] | None:
    """A profile already computed for this runner (any counts), else None."""
    store = getattr(runner, "_crm_cache", None) or {}
    return next((v for k, v in store.items() if isinstance(k, tuple) and k[0] == "profile"),
                None)


def last_day(runner: Runner) -> int:
    """The last kept order day (from the profile already made by the order checks)."""
    return (known_profile(runner) or profile(runner))["last_day"]


def first_day(runner: Runner) -> int:
    """The first kept order day (from the profile already made by the order checks)."""
    return (known_profile(runner) or profile(runner))["first_day"]


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
