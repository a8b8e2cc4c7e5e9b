"""Order validation for engine sources (Parquet, DuckDB, Spark): the rules of
``read_orders`` / ``validate_orders``, applied in SQL with the same messages.

:func:`validate_orders` checks a pandas table; an engine source is never loaded into
pandas, so :func:`check_engine_orders` asks the engine the same questions, generated from
the same constants (:data:`~crm_analytics._core.vocab.NULL_ID_MARKERS`,
:data:`~crm_analytics._core.vocab.REVERSAL_PREFIX`, the excluded statuses) and raises
the same :class:`~crm_analytics.CrmDataError` through the same message builders
(``not_dates_error``, ``duplicate_order_ids_error`` ...). Only the examples differ: an
engine has no row labels, so they show values.

Among the rows whose status is not excluded:

- rows without a customer id (NULL or a null marker such as ``N/A``) are left out and
  counted (guest checkouts); an error only when no row has one;
- missing order ids, missing dates, missing or infinite amounts are refused;
- rows sharing an order id are line items of one order (earliest date, summed amount,
  or ``quantity * unit_price`` when there is no amount, summed margin; one customer per
  order), and reversal rows (order id ``C`` + digits, negative quantity or amount) are
  netted against the same customer's orders, latest first, as
  :func:`~crm_analytics.orders.lines.combine_line_items` does; a source whose every row
  is repeated exactly (the same file passed twice) is refused;
- orders dated far after the rest (:func:`~crm_analytics.orders.rules.date_outlier_cutoff`
  on the order counts per day) are left out, and never set the default as-of day.

Every analysis' engine path calls :func:`check_engine_orders` first; the answer is cached
on the runner, so a pipeline passing one runner (``engine_source(...)``) to several
analyses checks once. :func:`engine_validation_report` says what was left out and why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.dates import EPOCH, dates_from_days, iso_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.vocab import (
    DATE_OUTLIER_GAP_DAYS,
    REASON_AFTER_AS_OF,
    REASON_DATE_OUTLIER,
    REASON_NO_CUSTOMER,
    REASON_REVERSED,
    REQUIRED_COLUMNS,
)
from crm_analytics.backends import runner_for
from crm_analytics.backends.sql import (
    DIALECTS,
    KEPT_DAY,
    NET_EPSILON,
    Runner,
    amount_expr,
    cached,
    check_source,
    day_expr,
    has_column,
    id_text,
    is_text_column,
    kept_rows_cte,
    net_orders_cte,
    null_id_condition,
    order_id_key,
    order_shape,
    orders_cte,
    profile,
    resolve_day,
    reversal_condition,
    reversed_condition,
    set_order_shape,
    sql_text,
    status_filter,
)
from crm_analytics.orders.rules import date_outlier_cutoff, status_reason
from crm_analytics.orders.validate import (
    ValidationReport,
    all_excluded_error,
    date_outlier_warning,
    duplicate_order_ids_error,
    empty_ids_error,
    infinite_amounts_error,
    margin_above_amount_warning,
    missing_amounts_error,
    not_dates_error,
)

__all__ = [
    "check_engine_orders",
    "engine_examples",
    "engine_validation_report",
    "null_id_condition",
    "order_checks",
    "order_id_key",
]

#: Examples shown in an error message (as ``validate_orders`` shows), and example rows
#: per exclusion reason in :func:`engine_validation_report`.
N_EXAMPLES = 5
#: Dropped customers listed at most in :func:`engine_validation_report`.
MAX_DROPPED = 10_000


def order_checks(runner: Runner, *,
                 customers_only: bool = False) -> tuple[tuple[str, str, str], ...]:
    """Each refused problem as (name in the profile, SQL condition on a kept row, the
    column whose values are shown as examples), in the order validate_orders checks them.

    Only rows with a customer id are refused: rows without one are left out (counted as
    ``no_customer`` by :func:`check_engine_orders`); ``customers_only=True`` adds that
    to each condition (needed only when there are such rows).
    """
    amount = amount_expr(runner)
    shown = "amount" if has_column(runner, "amount") else "quantity"
    checks = (
        ("order_id", null_id_condition("order_id", is_text_column(runner, "order_id")),
         "order_id"),
        ("order_date", f"{KEPT_DAY} IS NULL", "order_date"),
        ("amount", f"({amount} IS NULL OR isnan({amount}))", shown),
        ("amount_infinite", f"ABS({amount}) = CAST('Infinity' AS DOUBLE)", shown),
    )
    if not customers_only:
        return checks
    has_customer = "NOT " + null_id_condition("customer_id",
                                              is_text_column(runner, "customer_id"))
    return tuple((name, f"({has_customer} AND {cond})", col) for name, cond, col in checks)


#: The message of each problem of order_checks but the empty ids.
_ERRORS = {
    "order_date": not_dates_error,
    "amount": missing_amounts_error,
    "amount_infinite": infinite_amounts_error,
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
    """Refuse what :func:`~crm_analytics.read_orders` refuses; the source's profile.

    Also learns the source's shape (rows without a customer id, line items, reversals,
    the last credible order day), from which :func:`~crm_analytics.backends.sql.orders_cte`
    builds the kept orders of every analysis.

    Parameters
    ----------
    runner : Runner
        The engine source (``runner_for(orders)`` or ``engine_source(orders)``).

    Returns
    -------
    dict
        ``n_rows`` (rows with a kept status), ``no_customer`` (those without a
        customer id), ``reversals`` (reversal rows), the counts of
        :func:`order_checks` (all 0), ``first_day`` / ``last_day`` (day numbers of the
        first and last kept order; date outliers excluded).

    Raises
    ------
    CrmDataError
        A missing column, no kept rows, no row with a customer id, every order with an
        excluded status or fully reversed, any problem of :func:`order_checks`, an
        order id shared by several customers, or every row repeated (a file read
        twice), with the message ``validate_orders`` gives for it.

    Examples
    --------
    >>> import duckdb
    >>> from crm_analytics.backends import runner_for
    >>> twice = duckdb.sql("SELECT 'c1' AS customer_id, 'A1' AS order_id, "
    ...     "DATE '2024-01-05' AS order_date, 10.0 AS amount FROM range(2)")
    >>> check_engine_orders(runner_for(twice))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    crm_analytics._core.errors.CrmDataError: Column 'order_id' has 2 rows sharing 1 order ids...
    >>> lines = duckdb.sql("SELECT * FROM (VALUES ('c1', 'A1', DATE '2024-01-05', 4.0), "
    ...     "('c1', 'A1', DATE '2024-01-05', 6.0), ('N/A', 'A2', DATE '2024-01-06', 9.0)) "
    ...     "t(customer_id, order_id, order_date, amount)")
    >>> counts = check_engine_orders(runner_for(lines))
    >>> counts["n_rows"], counts["no_customer"], counts["reversals"]
    (3, 1, 0)
    """
    return cached(runner, "checked orders", lambda: _check(runner))


def _check(runner: Runner) -> dict[str, int | None]:
    check_source(runner, REQUIRED_COLUMNS)
    set_order_shape(runner, None)
    checks = order_checks(runner)
    key = order_id_key(is_text_column(runner, "order_id"))
    no_customer = null_id_condition("customer_id", is_text_column(runner, "customer_id"))
    # distinct 64-bit hashes: equal ids hash equally, so as many distinct hashes as rows
    # proves every order id distinct (cheaper than distinct text); fewer means repeated
    # ids or (rarely) a hash collision, which the exact query below tells apart
    hashed = DIALECTS[runner.dialect]["hash64"].format(x=key)
    conds = {"no_customer": no_customer}
    conds.update({name: cond for name, cond, _ in checks})
    conds["reversals"] = reversal_condition(runner)
    counts = dict(profile(runner, conds, {"order_ids": f"COUNT(DISTINCT {hashed})"}))
    n_rows = counts["n_rows"]
    if not n_rows:
        _refuse_empty(runner)
    n_customer_rows = n_rows - counts["no_customer"]
    if not n_customer_rows:
        examples = engine_examples(_values(runner, "customer_id", no_customer), n_rows)
        raise empty_ids_error("customer_id", n_rows, n_rows, examples)
    if counts["no_customer"]:  # count again among the rows with a customer only
        checks = order_checks(runner, customers_only=True)
        again = {name: cond for name, cond, _ in checks}
        again["reversals"] = f"(NOT {no_customer} AND {reversal_condition(runner)})"
        counts.update({k: v for k, v in profile(runner, again).items() if k in again})
    for name, cond, column in checks:
        n_bad = counts[name]
        if n_bad:
            examples = engine_examples(_values(runner, column, cond), n_bad)
            if name in _ERRORS:
                raise _ERRORS[name](n_bad, examples)
            raise empty_ids_error(column, n_bad, n_customer_rows, examples)
    # with guest rows, fewer distinct ids than rows may come from guests alone: the
    # exact query below only counts the rows with a customer
    repeated = (counts["order_ids"] < n_rows
                and _repeated_order_ids(runner, key, no_customer))
    shape = {"no_customer": bool(counts["no_customer"]),
             "combine": bool(repeated or counts["reversals"]),
             "cutoff": None, "first_day": counts["first_day"], "last_day": counts["last_day"]}
    set_order_shape(runner, shape)
    try:
        if shape["combine"]:
            _refuse_customers_sharing_orders(runner)
        if (shape["combine"] or shape["no_customer"]
                or counts["last_day"] - counts["first_day"] > DATE_OUTLIER_GAP_DAYS):
            days, n_orders = _orders_per_day(runner)
            if not len(days):
                raise CrmDataError(
                    "Every order of the source is fully reversed (returned or cancelled "
                    "invoices, negative quantities or amounts): no purchase is left.")
            cutoff = _outlier_cutoff(days, n_orders)
            shape["cutoff"] = cutoff
            shape["cutoff_for"] = _cutoffs(days, n_orders)
            shape["days"] = days
            kept = days if cutoff is None else days[days <= cutoff]
            shape["first_day"], shape["last_day"] = int(kept.min()), int(kept.max())
    except BaseException:
        set_order_shape(runner, None)
        raise
    counts["first_day"], counts["last_day"] = shape["first_day"], shape["last_day"]
    return counts


def _outlier_cutoff(days: np.ndarray, n_orders: np.ndarray) -> int | None:
    """The last credible order day (:func:`crm_analytics.orders.rules.date_outlier_cutoff`)."""
    if len(days) < 2:
        return None
    cutoff = date_outlier_cutoff(np.asarray(days, dtype=np.int64),
                                 np.asarray(n_orders, dtype=np.int64))
    return None if cutoff is None else int(cutoff)


def _cutoffs(days: np.ndarray, n_orders: np.ndarray):
    """The cutoff among the orders up to an as-of day (as ``validate_orders(as_of=)``:
    orders after the as-of day first, then date outliers among the rest)."""
    def cutoff_for(as_of_day: int) -> int | None:
        upto = days <= as_of_day
        return _outlier_cutoff(days[upto], n_orders[upto])
    return cutoff_for


def _orders_per_day(runner: Runner) -> tuple[np.ndarray, np.ndarray]:
    """Distinct days of the kept orders (no date outlier excluded yet) and their counts."""
    per_day = runner.fetch(f"WITH {orders_cte(runner)} SELECT day, COUNT(*) AS n FROM o "
                           "GROUP BY day ORDER BY day")
    return per_day["day"].to_numpy(np.int64), per_day["n"].to_numpy(np.int64)


def _values(runner: Runner, column: str, cond: str) -> list:
    rows = runner.fetch(f"WITH {kept_rows_cte(runner)} SELECT {column} AS v FROM k "
                        f"WHERE {cond} LIMIT {N_EXAMPLES}")
    return [None if _missing(v) else v for v in rows["v"].tolist()]


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value) in (
        "NaT", "<NA>")


def _repeated_order_ids(runner: Runner, key: str, no_customer: str) -> bool:
    """Whether order ids repeat among the rows with a customer (line items); refuses a
    source whose every row is repeated exactly (the same file read twice)."""
    repeated = (f"WITH {kept_rows_cte(runner)}, d AS (SELECT {key} AS order_id, "
                f"COUNT(*) AS n FROM k WHERE NOT {no_customer} GROUP BY 1 HAVING COUNT(*) > 1)")
    row = runner.fetch(f"{repeated} SELECT COUNT(*) AS n_ids, SUM(n) AS n_rows FROM d").iloc[0]
    n_ids = int(row["n_ids"])
    if n_ids == 0:  # fewer distinct hashes than rows came from a hash collision
        return False
    ident = DIALECTS[runner.dialect]["ident"]
    columns = ", ".join(ident.format(x=str(c).replace('"', '""').replace("`", "``"))
                        for c in runner.columns)
    where = f" WHERE {status_filter()}" if has_column(runner, "status") else ""
    fewest = runner.fetch(f"SELECT MIN(n) AS n FROM (SELECT COUNT(*) AS n FROM {{src}}{where} "
                          f"GROUP BY {columns}) t")["n"].iloc[0]
    if int(fewest) < 2:
        return True
    top = runner.fetch(f"{repeated} SELECT order_id, n FROM d ORDER BY n DESC, order_id "
                       f"LIMIT {N_EXAMPLES}")
    shown = "; ".join(f"{oid!r} ({int(n)} rows)"
                      for oid, n in zip(top["order_id"], top["n"], strict=True))
    more = n_ids - len(top)
    examples = shown + (f"; ... and {more} more order ids" if more > 0 else "")
    raise duplicate_order_ids_error(int(row["n_rows"]), n_ids, examples)


def _refuse_customers_sharing_orders(runner: Runner) -> None:
    """Line items of one order belong to one customer: refuse order ids shared by several."""
    shared = runner.fetch(
        f"WITH {net_orders_cte(runner)}, s AS (SELECT order_id, MIN(customer_id) AS a, "
        "MAX(customer_id) AS b FROM crm_rows WHERE NOT rev GROUP BY order_id "
        "HAVING COUNT(DISTINCT customer_id) > 1) "
        f"SELECT order_id, a, b, COUNT(*) OVER () AS n FROM s ORDER BY order_id "
        f"LIMIT {N_EXAMPLES}")
    if len(shared):
        shown = "; ".join(f"{o!r} ({a!r}, {b!r})" for o, a, b in
                          zip(shared["order_id"], shared["a"], shared["b"], strict=True))
        n = int(shared["n"].iloc[0])
        more = f"; ... and {n - len(shared)} more" if n > len(shared) else ""
        raise CrmDataError(
            f"{n} order ids have rows of several customers ({shown}{more}). Rows that "
            "share an order id are line items of one order, which belongs to one "
            "customer: fix the customer ids, or map order_id to the column that numbers "
            "orders in the query or file that makes the source."
        )


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


# ------------------------------------------------------------------ validation report
def _reasons_cte(runner: Runner, as_of_day: int | None, margin: bool) -> str:
    """CTEs ending in ``crm_r``: every order of a customer (``customer_id, order_id,
    day, amount, net`` [, ``margin``]) with the ``reason`` it is left out (NULL: kept)."""
    shape = order_shape(runner)
    if shape["combine"]:
        orders = net_orders_cte(runner, margin=margin)
    else:
        day = day_expr(runner, "order_date")
        where = []
        if has_column(runner, "status"):
            where.append(status_filter())
        if shape["no_customer"]:
            where.append("NOT " + null_id_condition("customer_id",
                                                    is_text_column(runner, "customer_id")))
        key = order_id_key(is_text_column(runner, "order_id"))
        orders = (f"crm_net AS (SELECT {id_text(runner, 'customer_id')} AS customer_id, "
                  f"{key} AS order_id, {day} AS day, {amount_expr(runner)} AS amount, "
                  f"{amount_expr(runner)} AS net"
                  + (", CAST(margin AS DOUBLE) AS margin" if margin else "") + " FROM {src}"
                  + (" WHERE " + " AND ".join(where) if where else "") + ")")
    cases = []
    if shape["combine"]:
        cases.append(f"WHEN {reversed_condition()} THEN {sql_text(REASON_REVERSED)}")
    cutoff = shape["cutoff"]
    if as_of_day is not None:
        cases.append(f"WHEN day > {int(as_of_day)} THEN {sql_text(REASON_AFTER_AS_OF)}")
        if shape.get("cutoff_for"):
            cutoff = shape["cutoff_for"](int(as_of_day))
    if cutoff is not None:
        cases.append(f"WHEN day > {int(cutoff)} THEN {sql_text(REASON_DATE_OUTLIER)}")
    reason = (f"CASE {' '.join(cases)} ELSE CAST(NULL AS STRING) END" if cases
              else "CAST(NULL AS STRING)")
    return f"{orders},\ncrm_r AS (SELECT crm_net.*, {reason} AS reason FROM crm_net)"


def _example_frame(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": raw["customer_id"].astype("object").to_numpy(),
        "order_id": raw["order_id"].astype("str").to_numpy(),
        "order_date": dates_from_days(raw["day"]),
        "amount": raw["amount"].to_numpy(dtype=float),
        "reason": raw["reason"].astype("str").to_numpy(),
    })


def engine_validation_report(source_or_runner: object, *,
                             as_of: object = None) -> ValidationReport:
    """What the engine path keeps of a Parquet / DuckDB / Spark source, and why not the rest.

    The engine counterpart of ``read_orders(path, return_report=True)``: the same rules
    (see the module docstring), counted in SQL instead of holding every excluded row.

    Parameters
    ----------
    source_or_runner : str, path-like, list, DuckDB relation, PySpark DataFrame or runner
        The orders, as every analysis accepts them (``engine_source(...)`` included).
    as_of : date-like, optional
        The analysis day: orders after it are counted as left out
        (``"dated after the as-of day"``). Default: no as-of day, every order counts.

    Returns
    -------
    ValidationReport
        ``n_rows_in`` (rows of the source), ``n_rows_out`` (orders kept),
        ``excluded_counts`` (reason -> orders), ``excluded`` (up to 5 example orders
        per reason: ``customer_id, order_id, order_date, amount, reason``),
        ``dropped_customers`` (customers left without any order; at most
        ``MAX_DROPPED``, with a note when there are more), ``warnings`` (kept but
        suspicious: margins larger than amounts, reversed money with no order left to
        net against), ``currency`` None (an engine source does not say).

    Raises
    ------
    CrmDataError
        What :func:`check_engine_orders` refuses.

    Examples
    --------
    >>> import duckdb
    >>> rows = duckdb.sql("SELECT * FROM (VALUES ('c1', '1', DATE '2024-01-05', 10.0), "
    ...     "('N/A', '2', DATE '2024-01-06', 5.0), ('c2', '3', DATE '2024-02-01', 7.0)) "
    ...     "t(customer_id, order_id, order_date, amount)")
    >>> report = engine_validation_report(rows, as_of="2024-01-31")
    >>> report.n_rows_in, report.n_rows_out, report.dropped_customers
    (3, 1, ['c2'])
    """

    runner = runner_for(source_or_runner)
    counts = check_engine_orders(runner)
    shape = order_shape(runner)
    as_of_day = None if as_of is None else resolve_day(runner, as_of, "as_of")[1]
    margin = has_column(runner, "margin")
    key = order_id_key(is_text_column(runner, "order_id"))
    no_customer = null_id_condition("customer_id", is_text_column(runner, "customer_id"))
    n_in = int(runner.fetch("SELECT COUNT(*) AS n FROM {src}")["n"].iloc[0])
    excluded_counts: dict[str, int] = {}
    examples: list[pd.DataFrame] = []
    notes: list[str] = []
    warnings: list[str] = []
    rows = (f"SELECT {id_text(runner, 'customer_id')} AS customer_id, {key} AS order_id, "
            f"{day_expr(runner, 'order_date')} AS day, {amount_expr(runner)} AS amount")

    if has_column(runner, "status"):
        status = "LOWER(TRIM(CAST(status AS STRING)))"
        found = runner.fetch(
            f"SELECT s, COUNT(DISTINCT order_id) AS n FROM ({rows}, {status} AS s FROM {{src}} "
            f"WHERE NOT ({status_filter()})) t GROUP BY s")
        for s, n in zip(found["s"], found["n"], strict=True):
            reason = status_reason(str(s))
            excluded_counts[reason] = excluded_counts.get(reason, 0) + int(n)
        if len(found):
            shown = runner.fetch(
                f"SELECT * FROM ({rows}, {status} AS reason, ROW_NUMBER() OVER (PARTITION BY "
                f"{status} ORDER BY {key}) AS rn FROM {{src}} WHERE NOT ({status_filter()})) t "
                f"WHERE rn <= {N_EXAMPLES}")
            shown["reason"] = [status_reason(str(s)) for s in shown["reason"]]
            examples.append(shown.groupby("reason", sort=False).head(N_EXAMPLES))
    if counts["no_customer"]:
        excluded_counts[REASON_NO_CUSTOMER] = int(runner.fetch(
            f"SELECT COUNT(DISTINCT {key}) AS n FROM {{src}} WHERE {no_customer} AND NOT "
            f"{reversal_condition(runner)}" + (f" AND {status_filter()}" if has_column(
                runner, "status") else ""))["n"].iloc[0])
        status = f" AND {status_filter()}" if has_column(runner, "status") else ""
        examples.append(runner.fetch(
            f"{rows}, {sql_text(REASON_NO_CUSTOMER)} AS reason FROM {{src}} "
            f"WHERE {no_customer}{status} LIMIT {N_EXAMPLES}"))

    reasons = _reasons_cte(runner, as_of_day, margin)
    by_reason = runner.fetch(
        f"WITH {reasons} SELECT reason, COUNT(*) AS n, SUM(CASE WHEN reason IS NULL AND "
        + ("margin > net" if margin else "1 = 0")
        + " THEN 1 ELSE 0 END) AS big_margin FROM crm_r GROUP BY reason")
    kept = by_reason["reason"].isna()
    n_out = int(by_reason.loc[kept, "n"].sum())
    for reason, n in zip(by_reason.loc[~kept, "reason"], by_reason.loc[~kept, "n"],
                         strict=True):
        excluded_counts[str(reason)] = int(n)
    if (~kept).any():
        examples.append(runner.fetch(
            f"WITH {reasons} SELECT customer_id, order_id, day, amount, reason FROM (SELECT "
            "crm_r.*, ROW_NUMBER() OVER (PARTITION BY reason ORDER BY day, order_id) AS rn "
            f"FROM crm_r WHERE reason IS NOT NULL) t WHERE rn <= {N_EXAMPLES}"))
    big_margin = int(by_reason["big_margin"].sum())
    if big_margin:
        warnings.append(margin_above_amount_warning(big_margin))
    if shape["combine"]:
        n_lines = n_in - counts["no_customer"] - counts["reversals"]
        n_orders = int(by_reason["n"].sum())
        notes.append(f"combined {n_lines} line-item rows into {n_orders} orders by order_id; "
                     f"{counts['reversals']} reversal rows netted against their customers' "
                     "orders")
        left = runner.fetch(
            f"WITH {reasons}, t AS (SELECT customer_id, SUM(amount) AS total FROM crm_orders "
            "GROUP BY customer_id) SELECT COUNT(*) AS n, SUM(r.reversed - COALESCE(t.total, "
            "0.0)) AS money FROM crm_rev r LEFT JOIN t ON r.customer_id = t.customer_id "
            f"WHERE r.reversed > COALESCE(t.total, 0.0) + {NET_EPSILON!r}").iloc[0]
        if int(left["n"]):
            warnings.append(
                f"{float(left['money']):,.2f} of reversed money ({int(left['n'])} customers) "
                "had no order left to net against")
    n_outliers = excluded_counts.get(REASON_DATE_OUTLIER, 0)
    if n_outliers:
        cutoff = shape["cutoff"] if as_of_day is None else shape["cutoff_for"](as_of_day)
        days = shape["days"][(shape["days"] > cutoff)
                             & (shape["days"] <= (as_of_day if as_of_day is not None
                                                  else shape["days"].max()))]
        warnings.append(date_outlier_warning(n_outliers, [iso_day(EPOCH + d) for d in days],
                                             iso_day(EPOCH + cutoff)))
    dropped_query = (
        f"WITH {reasons}, a AS (SELECT DISTINCT {id_text(runner, 'customer_id')} AS "
        f"customer_id FROM {{src}} WHERE NOT {no_customer}), "
        "b AS (SELECT DISTINCT customer_id FROM crm_r WHERE reason IS NULL) "
        "SELECT a.customer_id, COUNT(*) OVER () AS n FROM a LEFT JOIN b ON "
        "a.customer_id = b.customer_id WHERE b.customer_id IS NULL "
        f"ORDER BY a.customer_id LIMIT {MAX_DROPPED}")
    dropped = runner.fetch(dropped_query)
    dropped_customers = [str(c) for c in dropped["customer_id"]]
    if len(dropped) and int(dropped["n"].iloc[0]) > len(dropped):
        notes.append(f"{int(dropped['n'].iloc[0])} customers have no remaining order; "
                     f"dropped_customers lists the first {len(dropped)}")

    excluded = (_example_frame(pd.concat(examples, ignore_index=True)) if examples
                else pd.DataFrame(columns=["customer_id", "order_id", "order_date", "amount",
                                           "reason"]))
    values = {"n_rows_in": n_in, "n_rows_out": n_out, "excluded": excluded,
              "dropped_customers": dropped_customers, "notes": notes,
              "excluded_counts": excluded_counts, "warnings": warnings, "currency": None}
    return ValidationReport(**values)
