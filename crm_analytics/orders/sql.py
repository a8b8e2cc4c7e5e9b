"""Order validation for engine sources (Parquet, DuckDB, Spark): what ``validate_orders``
refuses, refused in SQL with the same message.

:func:`validate_orders` checks a pandas table; an engine source is never loaded into
pandas, so :func:`check_engine_orders` asks the engine the same questions, generated from
the same constants (:data:`~crm_analytics.orders.validate.NULL_ID_MARKERS`, the excluded
statuses) and raises the same :class:`~crm_analytics.CrmDataError` through the same
message builders (``empty_ids_error``, ``duplicate_order_ids_error`` ...). Only the
examples differ: an engine has no row labels, so they show values (and, for a repeated
order id, how many rows share it).

Refused, in the order ``validate_orders`` refuses them, among the rows whose status is
not excluded: missing customer or order ids, missing dates, missing, infinite or negative
amounts, and order ids on several rows (line items, or the same file passed twice).
Every analysis' engine path calls :func:`check_engine_orders` first; the answer is cached
on the runner, so a pipeline passing one runner (``engine_source(...)``) to several
analyses checks once.
"""

from __future__ import annotations

from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.vocab import REQUIRED_COLUMNS
from crm_analytics.backends.sql import (
    DIALECTS,
    KEPT_DAY,
    Runner,
    cached,
    check_source,
    has_column,
    is_text_column,
    kept_rows_cte,
    profile,
    sql_text,
)
from crm_analytics.orders.validate import (
    NULL_ID_MARKERS,
    all_excluded_error,
    duplicate_order_ids_error,
    empty_ids_error,
    infinite_amounts_error,
    missing_amounts_error,
    negative_amounts_error,
    not_dates_error,
)

__all__ = [
    "check_engine_orders",
    "engine_examples",
    "null_id_condition",
    "order_checks",
    "order_id_key",
]

#: Examples shown in an error message (as ``validate_orders`` shows).
N_EXAMPLES = 5

_AMOUNT = "CAST(amount AS DOUBLE)"


def _as_text(column: str, text: bool | None) -> str:
    return column if text else f"CAST({column} AS STRING)"


def null_id_condition(column: str, text: bool | None = None) -> str:
    """SQL condition for an id that is missing: NULL, or a :data:`NULL_ID_MARKERS` text
    once surrounding spaces are removed.

    ``text=True`` says the column is already text (no cast). Only short or space-padded
    texts are trimmed and compared, so the test costs little on long ids.

    >>> print(null_id_condition("order_id", text=True))
    (order_id IS NULL OR ((LENGTH(order_id) <= 4 OR order_id LIKE ' %' OR order_id LIKE '% ') \
AND TRIM(order_id) IN ('', 'nan', 'None', 'NaN', '<NA>')))
    """
    t = _as_text(column, text)
    markers = ", ".join(sql_text(m) for m in NULL_ID_MARKERS)
    longest = max(len(m) for m in NULL_ID_MARKERS)
    return (f"({column} IS NULL OR ((LENGTH({t}) <= {longest} OR {t} LIKE ' %' OR {t} LIKE "
            f"'% ') AND TRIM({t}) IN ({markers})))")


def order_id_key(text: bool | None = None) -> str:
    """Order ids as ``validate_orders`` compares them: their text without surrounding
    spaces (numbers as they are: equal numbers are equal texts).

    >>> order_id_key(text=False)
    'order_id'
    """
    if text is False:
        return "order_id"
    t = _as_text("order_id", text)
    return f"CASE WHEN {t} LIKE ' %' OR {t} LIKE '% ' THEN TRIM({t}) ELSE {t} END"


def order_checks(runner: Runner) -> tuple[tuple[str, str, str], ...]:
    """Each refused problem as (name in the profile, SQL condition on a kept row, the
    column whose values are shown as examples), in the order validate_orders checks them.
    """
    return (
        ("customer_id", null_id_condition("customer_id", is_text_column(runner, "customer_id")),
         "customer_id"),
        ("order_id", null_id_condition("order_id", is_text_column(runner, "order_id")),
         "order_id"),
        ("order_date", f"{KEPT_DAY} IS NULL", "order_date"),
        ("amount", f"(amount IS NULL OR isnan({_AMOUNT}))", "amount"),
        ("amount_infinite", f"ABS({_AMOUNT}) = CAST('Infinity' AS DOUBLE)", "amount"),
        ("amount_negative", f"{_AMOUNT} < 0", "amount"),
    )


#: The message of each problem of order_checks but the empty ids.
_ERRORS = {
    "order_date": not_dates_error,
    "amount": missing_amounts_error,
    "amount_infinite": infinite_amounts_error,
    "amount_negative": negative_amounts_error,
}


def engine_examples(values: list, total: int) -> str:
    """Up to five values as an error message shows them, with how many more there are.

    >>> engine_examples([None, "nan"], 7)
    "None; 'nan'; ... and 5 more"
    """
    shown = [repr(v) for v in values[:N_EXAMPLES]]
    more = int(total) - len(shown)
    return "; ".join(shown) + (f"; ... and {more} more" if more > 0 else "")


def check_engine_orders(runner: Runner) -> dict[str, int | None]:
    """Refuse what :func:`~crm_analytics.validate_orders` refuses; the source's profile.

    Parameters
    ----------
    runner : Runner
        The engine source (``runner_for(orders)`` or ``engine_source(orders)``).

    Returns
    -------
    dict
        ``n_rows`` (kept rows), missing-value counts per column (all 0),
        ``first_day`` / ``last_day`` (day numbers of the first and last kept order).

    Raises
    ------
    CrmDataError
        A missing column, no kept rows, every order with an excluded status, or any
        problem of :func:`order_checks` or repeated order ids, with the message
        ``validate_orders`` gives for it.

    Examples
    --------
    >>> import duckdb
    >>> from crm_analytics.backends import runner_for
    >>> lines = duckdb.sql("SELECT 'c1' AS customer_id, 'A1' AS order_id, "
    ...     "DATE '2024-01-05' AS order_date, 10.0 AS amount FROM range(2)")
    >>> check_engine_orders(runner_for(lines))
    Traceback (most recent call last):
    ...
    crm_analytics._core.errors.CrmDataError: Column 'order_id' has 2 rows sharing 1 order ids \
('A1' (2 rows)). One row per order is expected: sum line items per order first \
(read_orders(source='shopify') does this), or drop exact duplicate rows (a file read twice \
repeats every order).
    """
    return cached(runner, "checked orders", lambda: _check(runner))


def _check(runner: Runner) -> dict[str, int | None]:
    check_source(runner, REQUIRED_COLUMNS)
    checks = order_checks(runner)
    key = order_id_key(is_text_column(runner, "order_id"))
    # distinct 64-bit hashes: equal ids hash equally, so as many distinct hashes as rows
    # proves every order id distinct (cheaper than distinct text); fewer means repeated
    # ids or (rarely) a hash collision, which the exact query below tells apart
    hashed = DIALECTS[runner.dialect]["hash64"].format(x=key)
    counts = profile(runner, {name: cond for name, cond, _ in checks},
                     {"order_ids": f"COUNT(DISTINCT {hashed})"})
    n_rows = counts["n_rows"]
    if not n_rows:
        _refuse_empty(runner)
    for name, cond, column in checks:
        n_bad = counts[name]
        if n_bad:
            examples = engine_examples(_values(runner, column, cond), n_bad)
            if name in _ERRORS:
                raise _ERRORS[name](n_bad, examples)
            raise empty_ids_error(column, n_bad, n_rows, examples)
    if counts["order_ids"] < n_rows:
        _refuse_repeated_order_ids(runner, key)
    return counts


def _values(runner: Runner, column: str, cond: str) -> list:
    rows = runner.fetch(f"WITH {kept_rows_cte(runner)} SELECT {column} AS v FROM k "
                        f"WHERE {cond} LIMIT {N_EXAMPLES}")
    return [None if _missing(v) else v for v in rows["v"].tolist()]


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value) in (
        "NaT", "<NA>")


def _refuse_repeated_order_ids(runner: Runner, key: str) -> None:
    repeated = (f"WITH {kept_rows_cte(runner)}, d AS (SELECT {key} AS order_id, "
                "COUNT(*) AS n FROM k GROUP BY 1 HAVING COUNT(*) > 1)")
    row = runner.fetch(f"{repeated} SELECT COUNT(*) AS n_ids, SUM(n) AS n_rows FROM d").iloc[0]
    n_ids = int(row["n_ids"])
    if n_ids == 0:  # fewer distinct hashes than rows came from a hash collision
        return
    top = runner.fetch(f"{repeated} SELECT order_id, n FROM d ORDER BY n DESC, order_id "
                       f"LIMIT {N_EXAMPLES}")
    shown = "; ".join(f"{oid!r} ({int(n)} rows)"
                      for oid, n in zip(top["order_id"], top["n"], strict=True))
    more = n_ids - len(top)
    examples = shown + (f"; ... and {more} more order ids" if more > 0 else "")
    raise duplicate_order_ids_error(int(row["n_rows"]), n_ids, examples)


def _refuse_empty(runner: Runner) -> None:
    if has_column(runner, "status"):
        n_all = int(runner.fetch("SELECT COUNT(*) AS n FROM {src}")["n"].iloc[0])
        if n_all:
            statuses = runner.fetch(
                "SELECT DISTINCT LOWER(TRIM(CAST(status AS STRING))) AS s FROM {src} "
                f"ORDER BY s LIMIT {N_EXAMPLES}")["s"].tolist()
            raise all_excluded_error(
                "status", statuses, "drop or rename the status column in the query that "
                "makes the source to keep them")
    raise CrmDataError(
        "The order source has no (kept) rows. Check the path, glob, query or the "
        "status column."
    )
