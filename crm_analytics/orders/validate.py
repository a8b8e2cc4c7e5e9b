"""The canonical order table and its validation.

One row per order with the columns ``customer_id`` (str), ``order_id`` (str),
``order_date`` (datetime64), ``amount`` (float, money paid) and optionally ``margin``
(float, gross margin in money), plus any extra columns the shop keeps (channel,
region, status ...). :func:`validate_orders` turns an analyst's table into that form or
raises :class:`~crm_analytics.CrmDataError` saying what is wrong and how to fix it.

Cancelled and refunded orders
-----------------------------
When the table has a status column (``status`` by default, see ``status_col``), rows
whose status means the money was not kept (cancelled, closed, refunded, unpaid, and
their Chinese platform equivalents such as 交易关闭 / 退款成功) are **excluded**: a
refunded order is not a purchase for repurchase, churn or value. They are never dropped
silently: :attr:`ValidationReport.excluded` holds every excluded row with its reason,
and customers left without any order are listed in
:attr:`ValidationReport.dropped_customers`. Ask for the report with
``validate_orders(df, return_report=True)`` (or ``read_orders(path, return_report=True)``);
``prepare_orders(orders, report=report)`` keeps it beside the orders.
Partial refunds should be netted into ``amount`` before validation.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crm_analytics._core.checks import closest_column, format_examples, require_dataframe
from crm_analytics._core.dates import to_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.vocab import EXCLUDED_STATUSES, ORDER_COLUMNS, REQUIRED_COLUMNS

__all__ = [
    "NULL_ID_MARKERS",
    "ORDER_COLUMNS",
    "ValidationReport",
    "all_excluded_error",
    "duplicate_order_ids_error",
    "empty_ids_error",
    "infinite_amounts_error",
    "missing_amounts_error",
    "negative_amounts_error",
    "not_dates_error",
    "validate_orders",
    "validation_report",
]

#: Id texts (after stripping spaces) that mean "no id": what a missing value becomes
#: when a table passes through text (CSV, ``astype(str)``) on its way here.
NULL_ID_MARKERS = ("", "nan", "None", "NaN", "<NA>")


#: Common names of each canonical column, used for the "closest column" hint.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "customer_id": (
        "customer", "customer id", "buyer", "buyer_id", "user_id", "member_id", "member",
        "email", "买家会员名", "会员名", "客户id", "用户id", "会员id",
    ),
    "order_id": ("order", "order id", "order_no", "order_number", "name", "订单编号", "订单号"),
    "order_date": (
        "date", "order_time", "created_at", "created at", "paid at", "order date",
        "订单创建时间", "订单付款时间", "下单时间", "付款时间",
    ),
    "amount": (
        "revenue", "total", "price", "sales", "paid", "payment", "gmv", "value",
        "买家实际支付金额", "实付金额", "买家实付金额", "金额",
    ),
}


_CURRENCY = re.compile(r"[¥￥$€£,\s]|RMB|CNY|元", flags=re.IGNORECASE)

#: 10**0 .. 10**18 as int64 (digit counts of numeric ids).
POWERS_OF_TEN = 10 ** np.arange(19, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class ValidationReport:
    """What :func:`validate_orders` did to the table.

    Attributes
    ----------
    n_rows_in, n_rows_out : int
        Rows received and rows kept.
    excluded : pandas.DataFrame
        Every row that was not kept, with a ``reason`` column.
    dropped_customers : list of str
        Customers whose every order was excluded (absent from the result).
    notes : list of str
        Other changes made while normalising (renamed columns, converted ids ...).
    """

    n_rows_in: int
    n_rows_out: int
    excluded: pd.DataFrame
    dropped_customers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A short human-readable account of the validation."""
        lines = [f"{self.n_rows_in} rows in, {self.n_rows_out} orders kept."]
        if len(self.excluded):
            counts = self.excluded["reason"].value_counts()
            for reason, n in counts.items():
                lines.append(f"excluded {n} rows: {reason}")
        if self.dropped_customers:
            lines.append(
                f"{len(self.dropped_customers)} customers have no remaining order and are "
                f"dropped, e.g. {self.dropped_customers[:5]}"
            )
        lines.extend(self.notes)
        return "\n".join(lines)


def validation_report(orders: pd.DataFrame, **validate_options: object) -> ValidationReport:
    """The report of validating ``orders`` (again). Deprecated.

    .. deprecated::
        The report is no longer stored on the table. Ask for it when validating or
        reading: ``validate_orders(df, return_report=True)`` or
        ``read_orders(path, return_report=True)`` (whose report also lists the rows a
        platform reader excluded). This function validates ``orders`` again with
        ``validate_options`` and returns that report; it will be removed.

    Examples
    --------
    >>> import warnings
    >>> raw = pd.DataFrame({"customer_id": ["a"], "order_id": ["1"],
    ...                     "order_date": ["2024-01-05"], "amount": [10]})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     validation_report(raw).n_rows_out
    1
    """
    warnings.warn(
        "validation_report(orders) is deprecated: the report is no longer stored on the "
        "table. Use validate_orders(df, return_report=True) or "
        "read_orders(path, return_report=True).",
        DeprecationWarning,
        stacklevel=2,
    )
    return validate_orders(orders, return_report=True, **validate_options)[1]


# ----------------------------------------------------------------------- error messages
# One builder per refused problem, shared by validate_orders and the engine check of
# Parquet / DuckDB / Spark sources (crm_analytics.orders.sql), so both paths give the same
# text. ``examples`` is the already formatted list of offending values.


def empty_ids_error(col: str, n_bad: int, n_rows: int, examples: str) -> CrmDataError:
    """Ids missing in ``n_bad`` of ``n_rows`` kept orders.

    >>> print(empty_ids_error("customer_id", 1, 9, "row 3: None"))
    Column 'customer_id' is empty in 1 of 9 rows (row 3: None). Every order needs its \
customer_id; fill them in or remove those rows.
    """
    return CrmDataError(
        f"Column {col!r} is empty in {int(n_bad)} of {int(n_rows)} rows ({examples}). "
        f"Every order needs its {col}; fill them in or remove those rows."
    )


def not_dates_error(n_bad: int, examples: str) -> CrmDataError:
    """Order dates that are missing or not dates."""
    return CrmDataError(
        f"Column 'order_date' has {int(n_bad)} values that are not dates ({examples}). "
        "Use ISO dates such as '2024-06-18 20:15:00'; fix or remove these rows."
    )


def missing_amounts_error(n_bad: int, examples: str) -> CrmDataError:
    """Amounts missing (or NaN)."""
    return CrmDataError(
        f"Column 'amount' is missing in {int(n_bad)} rows ({examples}). "
        "Fill in the paid amount."
    )


def infinite_amounts_error(n_bad: int, examples: str) -> CrmDataError:
    """Amounts that are infinite."""
    return CrmDataError(
        f"Column 'amount' is infinite in {int(n_bad)} rows ({examples}). Amounts must be "
        "finite money values; fix or remove these rows."
    )


def negative_amounts_error(n_bad: int, examples: str) -> CrmDataError:
    """Amounts below zero (refunds recorded as negative orders)."""
    return CrmDataError(
        f"Column 'amount' is negative in {int(n_bad)} rows ({examples}). Amounts are money "
        "paid; record refunds in a status column (they are then excluded) or net them out."
    )


def duplicate_order_ids_error(n_rows: int, n_ids: int, examples: str) -> CrmDataError:
    """``n_rows`` rows sharing ``n_ids`` order ids: line items, or the same orders twice.

    >>> print(duplicate_order_ids_error(4, 2, "'A1' (2 rows); 'B7' (2 rows)"))
    Column 'order_id' has 4 rows sharing 2 order ids ('A1' (2 rows); 'B7' (2 rows)). One \
row per order is expected: sum line items per order first (read_orders(source='shopify') \
does this), or drop exact duplicate rows (a file read twice repeats every order).
    """
    return CrmDataError(
        f"Column 'order_id' has {int(n_rows)} rows sharing {int(n_ids)} order ids "
        f"({examples}). One row per order is expected: sum line items per order first "
        "(read_orders(source='shopify') does this), or drop exact duplicate rows (a file "
        "read twice repeats every order)."
    )


def all_excluded_error(status_col: str, statuses: list[str], how_to_keep: str) -> CrmDataError:
    """Every order has an excluded status; ``how_to_keep`` says how to keep them."""
    return CrmDataError(
        f"Every order has an excluded status in column {status_col!r} (e.g. {statuses}). "
        f"Nothing is left to analyse; {how_to_keep}."
    )


def ids_as_text(values: pd.Series, col: str) -> pd.Series:
    """Convert an id column to strings without ever going through float formatting."""
    if pd.api.types.is_float_dtype(values):
        finite = values.dropna()
        if (finite % 1 != 0).any() or (finite.abs() > 2**53).any():
            bad = finite[(finite % 1 != 0) | (finite.abs() > 2**53)]
            raise CrmDataError(
                f"Column {col!r} holds ids that were read as floating-point numbers, so they "
                f"may have lost digits ({len(bad)} rows, e.g. {format_examples(bad)}). Read "
                f"the file with dtype={{'{col}': str}} (read_orders does this for you)."
            )
        return values.astype("Int64").astype(str)
    if pd.api.types.is_bool_dtype(values):
        raise CrmDataError(f"Column {col!r} holds booleans, not ids. Map it to the id column.")
    return values.astype(str).str.strip()


def _stripped_text(values: pd.Series) -> pd.Series | None:
    """Arrow-backed text ids stripped of surrounding spaces (what :func:`ids_as_text`
    returns for them), computed once for the empty-id check too; None for other dtypes."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        return values.astype(str).str.strip()
    return None


def null_ids(values: pd.Series, stripped: pd.Series | None = None) -> pd.Series:
    text = values.astype("string").str.strip() if stripped is None else stripped
    markers = list(NULL_ID_MARKERS)
    short = text.str.len() <= 4  # a length check first: a hash lookup only for short ids
    nulls = values.isna().to_numpy(dtype=bool).copy()
    if short.any():
        nulls[short.fillna(False).to_numpy(dtype=bool)] |= (
            text[short.fillna(False)].isin(markers).fillna(False).to_numpy(dtype=bool))
    return pd.Series(nulls, index=values.index)


def _timestamp_or_nat(value: object) -> object:
    try:
        return pd.NaT if pd.isna(value) else pd.Timestamp(value)
    except (ValueError, TypeError):
        return pd.NaT


def _has_duplicates(values: pd.Series) -> bool:
    """Whether a text column repeats a value (Arrow's hash count: fast at millions of rows).

    Ids that are all canonical decimal numbers (platform order numbers) are compared as
    sorted int64 instead, several times faster than hashing text.
    """
    numbers = _canonical_numbers(values)
    if numbers is not None:
        numbers = np.sort(numbers)
        return bool((numbers[1:] == numbers[:-1]).any())
    return len(pc.unique(pa.array(values, type=pa.string()))) != len(values)


def _canonical_numbers(values: pd.Series) -> np.ndarray | None:
    """Arrow text ids as int64 when each is the canonical text of a number (no sign,
    space or leading zero: byte length == digit count), so equal numbers are equal
    texts. None otherwise."""
    arr = getattr(values.array, "_pa_array", None)
    if arr is None or len(arr) == 0 or arr.null_count:
        return None
    try:
        numbers = pc.cast(arr, pa.int64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if numbers.min() < 0:
        return None
    n_digits = np.maximum(np.searchsorted(POWERS_OF_TEN, numbers, side="right"), 1)
    lengths = pc.binary_length(arr).to_numpy(zero_copy_only=False)
    return numbers if np.array_equal(lengths, n_digits) else None


def _parse_dates(raw: pd.Series) -> pd.Series:
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return raw.dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(raw):
        return raw.astype("datetime64[ns]")
    if pd.api.types.is_numeric_dtype(raw):
        # yyyymmdd integers (as in CDNOW) are the only numeric dates we accept.
        number = raw.astype(float)
        whole = number.where(number % 1 == 0)  # 20240101.5 is not a date: NaT, reported
        text = whole.astype("Int64").astype("string")
        return pd.to_datetime(text, format="%Y%m%d", errors="coerce").astype("datetime64[ns]")
    text = raw.astype("string").str.strip()
    try:
        parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    except ValueError:  # pandas >= 3 raises on mixed UTC offsets despite errors="coerce"
        parsed = pd.Series([_timestamp_or_nat(v) for v in text], index=raw.index, dtype=object)
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_localize(None)
    elif not pd.api.types.is_datetime64_any_dtype(parsed):
        # mixed UTC offsets: keep each order's own wall-clock time
        parsed = pd.Series(
            [pd.NaT if pd.isna(v) else pd.Timestamp(v).tz_localize(None) for v in parsed],
            index=raw.index,
        )
    return parsed.astype("datetime64[ns]")


def _parse_money(raw: pd.Series, col: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        return raw.astype(float)
    text = raw.astype("string").str.replace(_CURRENCY, "", regex=True)
    values = pd.to_numeric(text, errors="coerce").astype(float)
    bad = raw[values.isna() & raw.notna()]
    if len(bad):
        raise CrmDataError(
            f"Column {col!r} has {len(bad)} values that are not numbers "
            f"({format_examples(bad)}). Use plain numbers such as 129.90 (currency signs "
            "and thousands separators are removed for you); fix or remove these rows."
        )
    return values


def validate_orders(
    df: pd.DataFrame,
    *,
    columns: dict[str, str] | None = None,
    as_of: object = None,
    status_col: str = "status",
    exclude_statuses: frozenset[str] | set[str] | None = None,
    return_report: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, ValidationReport]:
    """Check an order table and return a normalised copy in canonical form.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per order. Not modified.
    columns : dict, optional
        Map from canonical name to the name in ``df``, e.g.
        ``{"customer_id": "buyer", "amount": "paid"}``.
    as_of : date-like, optional
        The analysis date. Orders dated after it are an error (the data is from the
        future, or ``as_of`` is wrong).
    status_col : str, default "status"
        Column holding the order status, if present. Rows with an excluded status
        are removed and reported (see the module docstring).
    exclude_statuses : set of str, optional
        Lower-cased status values to exclude; defaults to :data:`EXCLUDED_STATUSES`.
    return_report : bool, default False
        Also return the :class:`ValidationReport` (what was excluded and why).

    Returns
    -------
    pandas.DataFrame
        Canonical columns first (``customer_id``, ``order_id`` as str, ``order_date``
        as datetime64, ``amount`` and ``margin`` as float), extra columns after, sorted
        by date (ties keep the input order), with a fresh index; with
        ``return_report=True`` the pair ``(orders, report)``.

    Raises
    ------
    CrmDataError
        Missing columns (naming the closest existing one), an empty table, null ids,
        unparseable dates, non-numeric or negative amounts, duplicate order ids, or
        orders after ``as_of``. The message names the column, counts the rows and
        shows up to five examples.

    Examples
    --------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"buyer": [1, 2], "order_id": ["a", "b"],
    ...                     "order_date": ["2024-01-05", "2024-01-03"], "amount": [10, 20]})
    >>> validate_orders(raw, columns={"customer_id": "buyer"})[["customer_id", "amount"]]
      customer_id  amount
    0           2    20.0
    1           1    10.0
    """
    require_dataframe(df, "orders")
    out, notes = _canonical_names(df, columns)
    n_in = len(out)
    out, excluded_parts = _drop_excluded_statuses(out, status_col, exclude_statuses)
    canon = _canonical_values(out, as_of)
    result = _sorted_table(out, canon)
    report = _validation_summary(result, excluded_parts, n_in, notes)
    return (result, report) if return_report else result


def _canonical_names(df: pd.DataFrame, columns: dict[str, str] | None
                     ) -> tuple[pd.DataFrame, list[str]]:
    """Rename the user's columns to canonical names (a new frame) and check they exist."""
    columns = dict(columns or {})
    unknown = [k for k in columns if k not in ORDER_COLUMNS]
    if unknown:
        raise CrmDataError(
            f"The 'columns' parameter maps canonical names to your column names; "
            f"{unknown} are not canonical names. Use keys from {list(ORDER_COLUMNS)}."
        )
    for canon, name in columns.items():
        if name not in df.columns:
            raise CrmDataError(
                f"columns={{{canon!r}: {name!r}}} names a column that is not in the table."
                f"{closest_column(name, df.columns)} Columns present: {list(map(str, df.columns))}."
            )
    notes: list[str] = []
    rename = {name: canon for canon, name in columns.items() if name != canon}
    clashes = [c for c in rename.values() if c in df.columns and c not in rename]
    if clashes:
        raise CrmDataError(
            f"Renaming would create duplicate column(s) {clashes}: the table already has "
            "them. Drop or rename the existing column first."
        )
    out = df.rename(columns=rename)  # a new frame: the caller's df is never touched
    if rename:
        notes.append(f"renamed columns {rename}")
    missing = [c for c in REQUIRED_COLUMNS if c not in out.columns]
    if missing:
        hints = ""
        for c in missing:
            hint = closest_column(c, out.columns, COLUMN_ALIASES.get(c, ()))
            if hint:
                hints += f" For {c!r}:{hint}"
        raise CrmDataError(
            f"The order table is missing required column(s) {missing}. Columns present: "
            f"{list(map(str, out.columns))}.{hints} Map your columns with "
            "columns={'<canonical name>': '<your column>'}, e.g. "
            "columns={'customer_id': 'buyer'}."
        )
    if len(out) == 0:
        raise CrmDataError("The order table is empty (0 rows). Check the file or the filter.")

    return out, notes


def _drop_excluded_statuses(out: pd.DataFrame, status_col: str, exclude_statuses
                            ) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Rows whose status is not a purchase, removed and kept aside with the reason."""
    excluded_parts: list[pd.DataFrame] = []
    if status_col in out.columns:
        statuses = exclude_statuses if exclude_statuses is not None else EXCLUDED_STATUSES
        status = out[status_col].astype("string").str.strip().str.lower()
        drop = status.isin(list(statuses)).fillna(False).to_numpy(dtype=bool)
        if drop.any():
            excluded_parts.append(out[drop].assign(reason=f"{status_col} is cancelled/refunded"))
            out = out[~drop]
            if len(out) == 0:
                raise all_excluded_error(status_col, sorted(set(status[drop].head(5))),
                                         "pass exclude_statuses=set() to keep them")

    return out, excluded_parts


def _canonical_values(out: pd.DataFrame, as_of: object) -> dict[str, pd.Series]:
    """Ids as text, dates, money; raises on the first kind of bad value (shared messages)."""
    stripped = {}
    for col in ("customer_id", "order_id"):
        stripped[col] = _stripped_text(out[col])
        nulls = null_ids(out[col], stripped[col])
        if nulls.any():
            raise empty_ids_error(col, int(nulls.sum()), len(out),
                                  format_examples(out.loc[nulls, col]))
    customer_id, order_id = (
        ids_as_text(out[col], col) if stripped[col] is None else stripped[col]
        for col in ("customer_id", "order_id")
    )

    dates = _parse_dates(out["order_date"])
    bad = dates.isna()
    if bad.any():
        raise not_dates_error(int(bad.sum()), format_examples(out.loc[bad, "order_date"]))
    amount = _parse_money(out["amount"], "amount")
    if amount.isna().any():
        raise missing_amounts_error(int(amount.isna().sum()),
                                    format_examples(out.loc[amount.isna(), "amount"]))
    infinite = np.isinf(amount)
    if infinite.any():
        raise infinite_amounts_error(int(infinite.sum()),
                                     format_examples(out.loc[infinite, "amount"]))
    negative = amount < 0
    if negative.any():
        raise negative_amounts_error(int(negative.sum()),
                                     format_examples(out.loc[negative, "amount"]))
    canon: dict[str, pd.Series] = {
        "customer_id": customer_id,
        "order_id": order_id,
        "order_date": dates,
        "amount": amount,
    }
    if "margin" in out.columns:
        canon["margin"] = _parse_money(out["margin"], "margin")

    if _has_duplicates(order_id):
        dup = order_id.duplicated(keep=False)
        raise duplicate_order_ids_error(int(dup.sum()), order_id[dup].nunique(),
                                        format_examples(order_id[dup]))
    if as_of is not None:
        cutoff = to_day(as_of, "as_of") + pd.Timedelta(days=1)
        late = dates >= cutoff
        if late.any():
            raise CrmDataError(
                f"{int(late.sum())} orders are dated after as_of={str(as_of)!r} "
                f"({format_examples(out.loc[late, 'order_date'])}). Use a later as_of, or "
                "filter the table to orders up to as_of."
            )

    return canon


def _sorted_table(out: pd.DataFrame, canon: dict[str, pd.Series]) -> pd.DataFrame:
    """Canonical columns first, extra columns after, sorted by date (ties keep input order)."""
    extras = [c for c in out.columns if c not in ORDER_COLUMNS]
    result = pd.DataFrame(canon, index=out.index)
    for c in extras:
        result[c] = out[c]
    if not result["order_date"].is_monotonic_increasing:
        # a stable integer argsort: ties keep the input order (fast at millions of rows)
        order = np.argsort(result["order_date"].to_numpy(dtype="int64"), kind="stable")
        result = result.iloc[order]
    result = result.reset_index(drop=True)

    return result


def _validation_summary(result: pd.DataFrame, excluded_parts: list[pd.DataFrame], n_in: int,
                        notes: list[str]) -> ValidationReport:
    """The :class:`ValidationReport` of a validation: exclusions and dropped customers."""
    excluded = (
        pd.concat(excluded_parts) if excluded_parts else pd.DataFrame(columns=["reason"])
    )
    dropped: list[str] = []
    if len(excluded):
        ex_ids = ids_as_text(excluded["customer_id"].dropna(), "customer_id")
        dropped = sorted(set(ex_ids) - set(result["customer_id"]))
    report = ValidationReport(
        n_rows_in=n_in,
        n_rows_out=len(result),
        excluded=excluded,
        dropped_customers=dropped,
        notes=notes,
    )
    return report
