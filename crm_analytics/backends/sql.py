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
from crm_analytics._core.vocab import EXCLUDED_STATUSES, NULL_ID_MARKERS, REVERSAL_PREFIX

__all__ = [
    "DIALECTS",
    "EPOCH",
    "FLOW_ROW_FACTOR",
    "KEPT_DAY",
    "MISSING_COUNTS",
    "NET_EPSILON",
    "ORDER_SHAPE",
    "ROW_BYTES",
    "TEXT_TYPES",
    "Runner",
    "amount_expr",
    "as_text",
    "cached",
    "check_source",
    "chunk_count",
    "dates_from_days",
    "day_expr",
    "first_day",
    "has_column",
    "id_text",
    "is_text_column",
    "kept_rows_cte",
    "known_profile",
    "last_day",
    "net_orders_cte",
    "null_id_condition",
    "order_id_key",
    "order_shape",
    "orders_cte",
    "profile",
    "resolve_day",
    "reversal_condition",
    "reversed_condition",
    "set_order_shape",
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
#: ``log1p`` ``ln(1 + x)``, ``matches`` whether a text contains a regular-expression
#: match (anchor it with ``^...$``), ``ident`` a quoted column name.
DIALECTS = {
    "duckdb": {
        "day": "(CAST(TRY_CAST({x} AS TIMESTAMP) AS DATE) - DATE '1970-01-01')",
        "date": "CAST(DATE '1970-01-01' + CAST({x} AS INTEGER) AS TIMESTAMP)",
        "bucket": "hash({x}) % {k}",
        "hash64": "hash({x})",
        "day_date": "(DATE '1970-01-01' + CAST({x} AS INTEGER))",
        "shuffle": "hash(CAST({x} AS VARCHAR) || '#{seed}')",
        "log1p": "LN(1.0 + {x})",
        "matches": "regexp_matches({x}, {p})",
        "ident": '"{x}"',
    },
    "spark": {
        "day": "unix_date(CAST(try_cast({x} AS TIMESTAMP) AS DATE))",
        "date": "CAST(date_from_unix_date(CAST({x} AS INT)) AS TIMESTAMP)",
        "bucket": "pmod(hash({x}), {k})",
        "hash64": "xxhash64({x})",
        "day_date": "date_from_unix_date(CAST({x} AS INT))",
        "shuffle": "xxhash64(concat(CAST({x} AS STRING), '#{seed}'))",
        "log1p": "log1p({x})",
        "matches": "({x} RLIKE {p})",
        "ident": "`{x}`",
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
    """Raise :class:`CrmDataError` naming the ``required`` columns the source lacks.

    ``amount`` may be missing when ``quantity`` and ``unit_price`` are there (line items:
    the amount is their product, see :func:`amount_expr`).
    """
    cols = [c.lower() for c in runner.columns]
    missing = [c for c in required if c not in cols
               and not (c == "amount" and {"quantity", "unit_price"} <= set(cols))]
    if missing:
        raise CrmDataError(
            f"The order source is missing column(s) {missing}; it has {runner.columns}. "
            "Rename the columns to the canonical names (customer_id, order_id, order_date, "
            "amount, margin; or quantity and unit_price instead of amount) in the query or "
            "file that makes the source."
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


#: Float and decimal SQL types: ids stored in them are written as integer text.
_NUMBER_TYPES = ("double", "float", "real", "decimal", "numeric")


def id_text(runner: Runner, column: str) -> str:
    """An id column as text, as the pandas path writes it: a float id ``12346.0`` (a
    number column with missing values) becomes ``'12346'``."""
    kind = (getattr(runner, "column_types", None) or {}).get(column.lower(), "")
    if kind.startswith(_NUMBER_TYPES):
        return f"CAST(CAST({column} AS BIGINT) AS STRING)"
    return f"CAST({column} AS STRING)"


def null_id_condition(column: str, text: bool | None = None) -> str:
    """SQL condition for an id that is missing: NULL, or a null marker
    (:data:`~crm_analytics._core.vocab.NULL_ID_MARKERS`: ``N/A``, ``null``, ``-`` ...)
    once surrounding spaces are removed and letters lower-cased.

    ``text=True`` says the column is already text (no cast). Only short or space-padded
    texts are trimmed and compared, so the test costs little on long ids.

    >>> print(null_id_condition("order_id", text=True))  # doctest: +ELLIPSIS
    (order_id IS NULL OR ((LENGTH(order_id) <= 4 OR order_id LIKE ' %' OR order_id LIKE '% ') \
AND LOWER(TRIM(order_id)) IN ('', '#n/a', '-', ...)))
    """
    t = column if text else f"CAST({column} AS STRING)"
    markers = ", ".join(sql_text(m) for m in sorted(NULL_ID_MARKERS))
    longest = max(len(m) for m in NULL_ID_MARKERS)
    return (f"({column} IS NULL OR ((LENGTH({t}) <= {longest} OR {t} LIKE ' %' OR {t} LIKE "
            f"'% ') AND LOWER(TRIM({t})) IN ({markers})))")


def order_id_key(text: bool | None = None) -> str:
    """Order ids as ``validate_orders`` compares them: their text without surrounding
    spaces (numbers as they are: equal numbers are equal texts).

    >>> order_id_key(text=False)
    'order_id'
    """
    if text is False:
        return "order_id"
    t = "order_id" if text else "CAST(order_id AS STRING)"
    return f"CASE WHEN {t} LIKE ' %' OR {t} LIKE '% ' THEN TRIM({t}) ELSE {t} END"


def amount_expr(runner: Runner) -> str:
    """A row's money: ``amount``, or ``quantity * unit_price`` when there is no amount."""
    if has_column(runner, "amount"):
        return "CAST(amount AS DOUBLE)"
    return "(CAST(quantity AS DOUBLE) * CAST(unit_price AS DOUBLE))"


def reversal_condition(runner: Runner) -> str:
    """SQL condition for a reversal row (a return or cancellation, not an order).

    The order id is :data:`~crm_analytics._core.vocab.REVERSAL_PREFIX` followed by
    digits (``C536379``), or the quantity or the amount is negative: the rule of
    :func:`crm_analytics.orders.lines.combine_line_items`.
    """
    parts = [f"{amount_expr(runner)} < 0"]
    if has_column(runner, "quantity"):
        parts.append("CAST(quantity AS DOUBLE) < 0")
    if is_text_column(runner, "order_id") is not False:
        t = "order_id" if is_text_column(runner, "order_id") else "CAST(order_id AS STRING)"
        match = DIALECTS[runner.dialect]["matches"].format(
            x=f"TRIM({t})", p=sql_text(f"^{REVERSAL_PREFIX}[0-9]+$"))
        # a cheap prefix test first: the pattern runs only on the few candidate ids
        parts.append(f"(({t} LIKE {sql_text(REVERSAL_PREFIX + '%')} OR {t} LIKE ' %') "
                     f"AND {match})")
    return "(" + " OR ".join(parts) + ")"


#: Key of the order shape in a runner's cache (see :func:`order_shape`).
ORDER_SHAPE = "order shape"

#: An order netted down to this much money or less is fully reversed.
NET_EPSILON = 0.005


def order_shape(runner: Runner) -> dict | None:
    """What the order checks learnt about the source's rows, or None before them.

    Set by :func:`crm_analytics.orders.sql.check_engine_orders` (which every engine path
    calls first): ``no_customer`` (rows without a customer id to leave out), ``combine``
    (repeated order ids or reversal rows: line items to combine, reversals to net),
    ``cutoff`` (the last credible order day, None when no date is an outlier),
    ``cutoff_for`` (a function: the cutoff among the orders up to a given as-of day),
    ``first_day`` / ``last_day`` (of the kept orders). :func:`orders_cte` builds the
    kept orders from it.
    """
    return (getattr(runner, "_crm_cache", None) or {}).get(ORDER_SHAPE)


def set_order_shape(runner: Runner, shape: dict | None) -> None:
    """Store (or with None forget) the :func:`order_shape` of a runner's source."""
    cached(runner, ORDER_SHAPE, lambda: shape)
    store = getattr(runner, "_crm_cache", None)
    if store is not None:
        if shape is None:
            store.pop(ORDER_SHAPE, None)
        else:
            store[ORDER_SHAPE] = shape


def _row_filters(runner: Runner, shape: dict | None,
                 bucket: tuple[int, int] | None) -> list[str]:
    where = []
    if bucket is not None:
        expr = DIALECTS[runner.dialect]["bucket"].format(x=id_text(runner, "customer_id"),
                                                         k=int(bucket[1]))
        where.append(f"{expr} = {int(bucket[0])}")
    if has_column(runner, "status"):
        where.append(status_filter())
    if shape and shape.get("no_customer"):
        where.append("NOT " + null_id_condition(
            "customer_id", is_text_column(runner, "customer_id")))
    return where


def net_orders_cte(runner: Runner, *, margin: bool = False,
                   bucket: tuple[int, int] | None = None) -> str:
    """CTEs ending in ``crm_net``: every order of a customer, line items combined.

    Columns ``customer_id, order_id, day, amount`` (before netting), ``reversed`` (the
    customer's reversed money), ``net`` (the amount left after netting) [, ``margin``,
    scaled like the amount]. Rows with an excluded status or no customer id are left
    out. Line items (rows sharing an order id) make one order: its earliest day, the sum
    of their amounts and margins. Reversal rows (:func:`reversal_condition`) are not
    orders: each customer's reversed money (the sum of their absolute amounts) is taken
    off that customer's orders, the latest first (by order time, then the larger order
    id); an order of a customer with reversals left with :data:`NET_EPSILON` or less is
    fully reversed (see :func:`reversed_condition`). ``crm_rev`` holds each customer's
    ``reversed`` money and ``crm_orders`` the orders before netting.
    """
    where = _row_filters(runner, order_shape(runner), bucket)
    margin_row = ", CAST(margin AS DOUBLE) AS margin" if margin else ""
    margin_sum = ", SUM(margin) AS margin" if margin else ""
    margin_out = (", CASE WHEN c.amount > 0 THEN c.margin * (c.amount - c.taken) / c.amount "
                  "ELSE 0.0 END AS margin") if margin else ""
    key = order_id_key(is_text_column(runner, "order_id"))
    return (
        f"crm_rows AS (SELECT {id_text(runner, 'customer_id')} AS customer_id, "
        f"{key} AS order_id, {day_expr(runner, 'order_date')} AS day, "
        "TRY_CAST(order_date AS TIMESTAMP) AS ts, "
        f"{amount_expr(runner)} AS amount{margin_row}, {reversal_condition(runner)} AS rev "
        "FROM {src}" + (" WHERE " + " AND ".join(where) if where else "") + "),\n"
        f"crm_orders AS (SELECT order_id, MIN(customer_id) AS customer_id, MIN(day) AS day, "
        f"MIN(ts) AS ts, SUM(amount) AS amount{margin_sum} FROM crm_rows WHERE NOT rev "
        "GROUP BY order_id),\n"
        "crm_rev AS (SELECT customer_id, SUM(ABS(amount)) AS reversed FROM crm_rows "
        "WHERE rev GROUP BY customer_id),\n"
        "crm_later AS (SELECT c.*, COALESCE(r.reversed, 0.0) AS reversed, "
        "COALESCE(SUM(c.amount) OVER (PARTITION BY c.customer_id ORDER BY c.ts DESC, "
        "c.order_id DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0.0) AS later "
        "FROM crm_orders c LEFT JOIN crm_rev r ON c.customer_id = r.customer_id),\n"
        "crm_taken AS (SELECT c.*, LEAST(c.amount, GREATEST(0.0, c.reversed - c.later)) "
        "AS taken FROM crm_later c),\n"
        "crm_net AS (SELECT c.customer_id, c.order_id, c.day, c.amount, c.reversed, "
        f"c.amount - c.taken AS net{margin_out} FROM crm_taken c)"
    )


def reversed_condition() -> str:
    """SQL condition on ``crm_net`` (:func:`net_orders_cte`) for a fully reversed order."""
    return f"(reversed > 0 AND net <= {NET_EPSILON!r})"


def orders_cte(runner: Runner, *, as_of_day: int | None = None, margin: bool = False,
                bucket: tuple[int, int] | None = None) -> str:
    """``o``: customer_id (text), day (day number), amount [, margin] of kept orders.

    Orders with an excluded status (cancelled, refunded, ... as in
    :func:`crm_analytics.validate_orders`) and, with ``as_of_day``, orders after it are
    left out. ``bucket=(i, k)`` keeps only the customers of hash bucket ``i`` of ``k``.
    Once the order checks have run (:func:`order_shape`), rows without a customer id,
    fully reversed orders and date outliers are left out too, and line items are
    combined (:func:`net_orders_cte`); a source without any of these reads its rows
    as they are.
    """
    shape = order_shape(runner)
    cutoff = shape.get("cutoff") if shape else None
    if as_of_day is not None and shape and shape.get("cutoff_for"):
        cutoff = shape["cutoff_for"](int(as_of_day))
    last = min((d for d in (as_of_day, cutoff) if d is not None), default=None)
    margin_col = ", CAST(margin AS DOUBLE) AS margin" if margin else ""
    if shape and shape.get("combine"):
        where = f"NOT {reversed_condition()}" + (
            "" if last is None else f" AND day <= {int(last)}")
        return (f"{net_orders_cte(runner, margin=margin, bucket=bucket)},\n"
                "o AS (SELECT customer_id, day, net AS amount"
                + (", margin" if margin else "") + f" FROM crm_net WHERE {where})")
    day = day_expr(runner, "order_date")
    where = _row_filters(runner, shape, bucket)
    if last is not None:
        where.insert(1 if bucket is not None else 0, f"{day} <= {int(last)}")
    return (
        f"o AS (SELECT {id_text(runner, 'customer_id')} AS customer_id, {day} AS day, "
        f"{amount_expr(runner)} AS amount{margin_col} FROM {{src}}"
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
    """The last kept order day (from the order checks: a date outlier is never the last
    day, see :func:`order_shape`)."""
    shape = order_shape(runner)
    if shape is not None:
        return shape["last_day"]
    return (known_profile(runner) or profile(runner))["last_day"]


def first_day(runner: Runner) -> int:
    """The first kept order day (from the profile already made by the order checks)."""
    shape = order_shape(runner)
    if shape is not None:
        return shape["first_day"]
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
