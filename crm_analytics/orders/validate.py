"""The canonical order table and its validation.

One row per order with the columns ``customer_id`` (str), ``order_id`` (str),
``order_date`` (datetime64), ``amount`` (float, money paid) and optionally ``margin``
(float, gross margin in money), plus any extra columns the shop keeps (channel,
region, status ...). :func:`validate_orders` turns an analyst's table into that form or
raises :class:`~crm_analytics.CrmDataError` saying what is wrong and how to fix it.

Each column gets one reading, decided from its values (see
:mod:`crm_analytics.orders.values`): dates are ISO, day-first or month-first, never a
mix; amounts use a decimal point or a decimal comma; the currency signs in the cells
give the shop's currency. A column the values cannot decide is refused with the
parameter that decides it (``dayfirst=``, ``date_format=``, ``decimal=``).

Orders left out
---------------
Some rows are not purchases to analyse. They are never dropped silently:
:attr:`ValidationReport.excluded` holds every excluded row with its reason (one of the
shared reason texts), and customers left without any order are listed in
:attr:`ValidationReport.dropped_customers`.

- a status column (``status`` by default, see ``status_col``) whose value means the money
  was not kept (cancelled, closed, refunded, unpaid and their Chinese platform
  equivalents such as 交易关闭 / 退款成功);
- no customer id (empty, or a null marker such as ``N/A``, ``NULL``, ``-``): guest
  checkouts;
- dated after ``as_of``;
- dated far after every other order (a mistyped year): the rule of
  :func:`crm_analytics.orders.rules.date_outlier_cutoff`.

Ask for the report with ``validate_orders(df, return_report=True)`` (or
``read_orders(path, return_report=True)``); ``prepare_orders(orders, report=report)``
keeps it beside the orders. Partial refunds should be netted into ``amount`` before
validation.
"""

from __future__ import annotations

import difflib
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crm_analytics._core.checks import closest_column, format_examples, require_dataframe
from crm_analytics._core.dates import EPOCH, iso_day, to_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.money import check_currency
from crm_analytics._core.vocab import (
    DATE_OUTLIER_GAP_DAYS,
    EXCLUDED_STATUSES,
    MAPPABLE_COLUMNS,
    ORDER_COLUMNS,
    REASON_AFTER_AS_OF,
    REASON_DATE_OUTLIER,
    REASON_NO_CUSTOMER,
    REQUIRED_COLUMNS,
)
from crm_analytics._core.vocab import NULL_ID_MARKERS as _NULL_ID_MARKERS
from crm_analytics.orders.rules import date_outlier_cutoff, status_reason
from crm_analytics.orders.values import (
    float_text_ids,
    ids_as_text,
    null_ids,
    parse_dates,
    parse_money,
)

__all__ = [
    "NULL_ID_MARKERS",
    "ORDER_COLUMNS",
    "ValidationReport",
    "all_excluded_error",
    "date_outlier_warning",
    "dropped_customer_ids",
    "duplicate_order_ids_error",
    "empty_ids_error",
    "infinite_amounts_error",
    "margin_above_amount_warning",
    "missing_amounts_error",
    "negative_amounts_error",
    "not_dates_error",
    "validate_orders",
    "validation_report",
]

#: Id texts that mean "no id" (compared after stripping spaces and lower-casing); the
#: shared vocabulary's set (:data:`crm_analytics._core.vocab.NULL_ID_MARKERS`), sorted.
NULL_ID_MARKERS = tuple(sorted(_NULL_ID_MARKERS))

#: Common names of each canonical column, used for the "closest column" hint (compared
#: lower-cased, without spaces, underscores or hyphens).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "customer_id": (
        "customer", "customer id", "customerid", "buyer", "buyer_id", "user_id", "member_id",
        "member", "client", "client_id", "email", "买家会员名", "会员名", "客户id", "用户id",
        "会员id",
    ),
    "order_id": ("order", "order id", "order_no", "order_number", "name", "invoice",
                 "invoiceno", "invoice_no", "invoice number", "订单编号", "订单号"),
    "order_date": (
        "date", "order_time", "created_at", "created at", "paid at", "order date",
        "invoicedate", "invoice date", "timestamp", "订单创建时间", "订单付款时间", "下单时间",
        "付款时间",
    ),
    "amount": (
        "revenue", "total", "sales", "paid", "payment", "gmv", "value", "amount paid",
        "total price", "subtotal", "买家实际支付金额", "实付金额", "买家实付金额", "金额",
    ),
    "quantity": ("quantity", "qty", "数量", "购买数量"),
    "unit_price": ("unitprice", "unit price", "price", "单价"),
}

#: 10**0 .. 10**18 as int64 (digit counts of numeric ids).
POWERS_OF_TEN = 10 ** np.arange(19, dtype=np.int64)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@dataclass(frozen=True, eq=False)
class ValidationReport:
    """What :func:`validate_orders` did to the table.

    Attributes
    ----------
    n_rows_in, n_rows_out : int
        Rows received and orders kept.
    excluded : pandas.DataFrame
        Every row that was not kept, with a ``reason`` column (for an engine source, up
        to five example rows per reason; the counts are in ``excluded_counts``).
    dropped_customers : list of str
        Customers whose every order was excluded (absent from the result).
    notes : list of str
        Other changes made while normalising (renamed columns, converted ids ...).
    currency : str or None
        ISO code of the amounts' currency (stated, or shown by the file); None if unknown.
    date_readings : dict
        Date column -> how its texts were read: ``"ISO"``, ``"day-first"``,
        ``"month-first"`` or the ``date_format`` given.
    warnings : list of str
        Kept but suspicious (e.g. "12 orders have a margin larger than their amount"),
        and orders set aside as likely typos.
    excluded_counts : dict or None
        Reason -> excluded orders, when ``excluded`` only holds examples (engine path).

    Examples
    --------
    >>> raw = pd.DataFrame({"customer_id": ["a", "N/A"], "order_id": ["1", "2"],
    ...                     "order_date": ["2024-01-05", "2024-01-06"], "amount": [10, 5]})
    >>> orders, report = validate_orders(raw, return_report=True)
    >>> report
    ValidationReport(2 rows in, 1 order kept, 1 excluded)
    >>> print(report.summary())
    2 rows in, 1 order kept.
    excluded 1 order: no customer id (guest checkout or missing id)
    """

    n_rows_in: int
    n_rows_out: int
    excluded: pd.DataFrame
    dropped_customers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    currency: str | None = None
    date_readings: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    excluded_counts: dict[str, int] | None = None

    def exclusion_counts(self) -> pd.DataFrame:
        """Excluded orders per reason: a table with columns ``reason`` and ``orders``.

        >>> ValidationReport(3, 2, pd.DataFrame({"reason": ["never paid"]})
        ...                  ).exclusion_counts()
               reason  orders
        0  never paid       1
        """
        if self.excluded_counts is not None:
            pairs = [(r, int(n)) for r, n in self.excluded_counts.items() if n]
        elif len(self.excluded):
            counts = self.excluded["reason"].value_counts(sort=True)
            pairs = [(str(r), int(n)) for r, n in counts.items()]
        else:
            pairs = []
        return pd.DataFrame(pairs, columns=["reason", "orders"]).astype({"orders": "int64"})

    def summary(self) -> str:
        """A short human-readable account of the validation."""
        lines = [f"{_plural(self.n_rows_in, 'row')} in, "
                 f"{_plural(self.n_rows_out, 'order')} kept."]
        for reason, n in self.exclusion_counts().itertuples(index=False):
            lines.append(f"excluded {_plural(int(n), 'order')}: {reason}")
        if self.dropped_customers:
            lines.append(
                f"{_plural(len(self.dropped_customers), 'customer')} with no remaining order "
                f"dropped, e.g. {self.dropped_customers[:5]}"
            )
        lines.extend(self.notes)
        if self.currency is not None:
            lines.append(f"currency: {self.currency}")
        for col, reading in self.date_readings.items():
            if reading != "ISO":  # ISO texts need no word
                lines.append(f"dates in {col!r} read {reading}")
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def __repr__(self) -> str:
        n_excluded = int(self.exclusion_counts()["orders"].sum())
        parts = [f"{_plural(self.n_rows_in, 'row')} in",
                 f"{_plural(self.n_rows_out, 'order')} kept"]
        if n_excluded:
            parts.append(f"{n_excluded} excluded")
        if self.dropped_customers:
            parts.append(f"{len(self.dropped_customers)} dropped customers")
        if self.currency is not None:
            parts.append(f"currency={self.currency!r}")
        if any(r != "ISO" for r in self.date_readings.values()):
            parts.append(f"date_readings={self.date_readings!r}")
        if self.warnings:
            parts.append(_plural(len(self.warnings), "warning"))
        return f"ValidationReport({', '.join(parts)})"


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
row per order is expected: combine line items into orders with \
crm_analytics.combine_line_items(df) (read_orders does it for every file), or drop exact \
duplicate rows (a file read twice repeats every order).
    """
    return CrmDataError(
        f"Column 'order_id' has {int(n_rows)} rows sharing {int(n_ids)} order ids "
        f"({examples}). One row per order is expected: combine line items into orders with "
        "crm_analytics.combine_line_items(df) (read_orders does it for every file), or drop "
        "exact duplicate rows (a file read twice repeats every order)."
    )


def all_excluded_error(status_col: str, statuses: list[str], how_to_keep: str) -> CrmDataError:
    """Every order has an excluded status; ``how_to_keep`` says how to keep them."""
    return CrmDataError(
        f"Every order has an excluded status in column {status_col!r} (e.g. {statuses}). "
        f"Nothing is left to analyse; {how_to_keep}."
    )


def all_after_as_of_error(n_rows: int, as_of: object, last: object) -> CrmDataError:
    """Every order is dated after ``as_of``.

    >>> print(all_after_as_of_error(3, "2020-01-01", "2024-05-02"))
    All 3 orders are dated after as_of='2020-01-01' (the last is 2024-05-02), so nothing \
is left to analyse. Use a later as_of (command line: --as-of YYYY-MM-DD).
    """
    return CrmDataError(
        f"All {int(n_rows)} orders are dated after as_of={str(as_of)!r} (the last is "
        f"{iso_day(last)}), so nothing is left to analyse. Use a later as_of (command line: "
        "--as-of YYYY-MM-DD)."
    )


def date_outlier_warning(n_orders: int, days: list[str], last_credible: str) -> str:
    """The report's words for orders set aside by the date outlier rule.

    >>> date_outlier_warning(1, ["2099-01-01"], "2024-12-26")
    '1 order dated 2099-01-01 set aside as a likely typo: more than 180 days after every \
earlier order (the last credible day is 2024-12-26)'
    """
    shown = ", ".join(days[:5]) + (f" and {len(days) - 5} more days" if len(days) > 5 else "")
    return (
        f"{_plural(int(n_orders), 'order')} dated {shown} set aside as a likely typo: more "
        f"than {DATE_OUTLIER_GAP_DAYS} days after every earlier order (the last credible day "
        f"is {last_credible})"
    )


def margin_above_amount_warning(n_orders: int) -> str:
    """The report's words for orders whose margin exceeds their amount (kept).

    >>> margin_above_amount_warning(12)
    '12 orders have a margin larger than their amount (kept; check the margin column)'
    """
    have = "has" if int(n_orders) == 1 else "have"
    return (f"{_plural(int(n_orders), 'order')} {have} a margin larger than their amount "
            "(kept; check the margin column)")


def _parse_money(raw: pd.Series, col: str) -> pd.Series:
    """A money column as floats (decimal separator decided from the values)."""
    return parse_money(raw, col)[0]


def _stripped_text(values: pd.Series) -> pd.Series | None:
    """Arrow-backed text ids stripped of surrounding spaces (what :func:`ids_as_text`
    returns for them), computed once for the empty-id check too; None for other dtypes."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        return values.astype(str).str.strip()
    return None


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


def validate_orders(
    df: pd.DataFrame,
    *,
    columns: dict[str, str] | None = None,
    as_of: object = None,
    status_col: str = "status",
    exclude_statuses: frozenset[str] | set[str] | None = None,
    return_report: bool = False,
    dayfirst: bool | None = None,
    date_format: str | None = None,
    decimal: str | None = None,
    currency: str | None = None,
) -> pd.DataFrame | tuple[pd.DataFrame, ValidationReport]:
    """Check an order table and return a normalised copy in canonical form.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per order. Not modified.
    columns : dict, optional
        Map from canonical name to the name in ``df``, e.g.
        ``{"customer_id": "buyer", "amount": "paid"}`` (command line:
        ``--columns customer_id=buyer,amount=paid``).
    as_of : date-like, optional
        The analysis date. Orders dated after it are left out (reason "dated after the
        as-of day") and counted in the report.
    status_col : str, default "status"
        Column holding the order status, if present. Rows with an excluded status
        are removed and reported (see the module docstring).
    exclude_statuses : set of str, optional
        Lower-cased status values to exclude; defaults to :data:`EXCLUDED_STATUSES`.
    return_report : bool, default False
        Also return the :class:`ValidationReport` (what was excluded and why, the
        currency, how dates were read, warnings).
    dayfirst : bool, optional
        Whether ``1/12/2010`` dates are day-first (True) or month-first (False); by default
        decided from the values, and refused when they cannot tell.
    date_format : str, optional
        A strptime format for the order dates (``"%d/%m/%Y %H:%M"``); wins over
        ``dayfirst``.
    decimal : {None, ".", ","}
        The decimal separator of text amounts; by default decided from the values.
    currency : str, optional
        The amounts' currency (ISO code such as ``"GBP"``); by default taken from the
        currency signs in the amount cells. A stated currency that the cells contradict
        is refused.

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
        Missing columns (naming the closest fitting column), an empty table, missing
        order ids, unparseable or ambiguous dates, non-numeric, ambiguous or negative
        amounts, mixed currencies, duplicate order ids, or nothing left after the
        exclusions. The message names the column, counts the rows and shows up to five
        examples.

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
    _check_reading_options(dayfirst, date_format, decimal)
    stated = check_currency(currency)
    out, notes = _canonical_names(df, columns)
    n_in = len(out)
    out, excluded_parts = _drop_excluded_statuses(out, status_col, exclude_statuses)
    out, canon, found = _canonical_values(
        out, excluded_parts, dayfirst=dayfirst, date_format=date_format, decimal=decimal,
        stated_currency=stated,
    )
    out, canon, report_warnings = _dated_exclusions(out, canon, excluded_parts, as_of)
    if "margin" in canon:
        above = int((canon["margin"] > canon["amount"]).sum())
        if above:
            report_warnings.append(margin_above_amount_warning(above))
    result = _sorted_table(out, canon)
    report = _validation_summary(result, excluded_parts, n_in, notes)
    report = ValidationReport(
        n_rows_in=report.n_rows_in, n_rows_out=report.n_rows_out, excluded=report.excluded,
        dropped_customers=report.dropped_customers, notes=report.notes,
        currency=stated if stated is not None else found["currency"],
        date_readings=found["date_readings"], warnings=found["warnings"] + report_warnings,
    )
    return (result, report) if return_report else result


def _check_reading_options(dayfirst: object, date_format: object, decimal: object) -> None:
    if dayfirst is not None and not isinstance(dayfirst, (bool, np.bool_)):
        raise CrmDataError(
            f"The 'dayfirst' parameter is True (day/month/year), False (month/day/year) or "
            f"None (decide from the values); got {dayfirst!r}."
        )
    if date_format is not None and not isinstance(date_format, str):
        raise CrmDataError(
            f"The 'date_format' parameter is a strptime format such as '%d/%m/%Y %H:%M'; "
            f"got {date_format!r}."
        )
    if decimal not in (None, ".", ","):
        raise CrmDataError(
            f"The 'decimal' parameter is '.' or ',' (command line: --decimal ,); got "
            f"{decimal!r}."
        )


def _key(name: object) -> str:
    return re.sub(r"[\s_\-]+", "", str(name).strip().lower())


def _canonical_names(df: pd.DataFrame, columns: dict[str, str] | None
                     ) -> tuple[pd.DataFrame, list[str]]:
    """Rename the user's columns to canonical names (a new frame) and check they exist."""
    columns = dict(columns or {})
    known = MAPPABLE_COLUMNS
    unknown = [k for k in columns if k not in known]
    if unknown:
        raise CrmDataError(
            f"The 'columns' parameter maps canonical names to your column names; "
            f"{unknown} are not canonical names. Use keys from {list(known)}."
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
    out = df.rename(columns=rename) if rename else df  # never modified below
    if rename:
        notes.append(f"renamed columns {rename}")
    missing = [c for c in REQUIRED_COLUMNS if c not in out.columns]
    if missing:
        raise _missing_columns_error(out, missing)
    if len(out) == 0:
        raise CrmDataError("The order table is empty (0 rows). Check the file or the filter.")

    return out, notes


def _missing_columns_error(out: pd.DataFrame, missing: list[str]) -> CrmDataError:
    """The missing canonical columns, with the file column that would fit each role."""
    chosen = _suggest_columns(out, missing)
    hints = ""
    for c in missing:
        if c in chosen:
            hints += f" For {c!r}: The closest existing column is {chosen[c]!r}."
    line_hint = ""
    if "amount" in missing and "amount" not in chosen:
        line = _suggest_columns(out, ["quantity", "unit_price"], taken=set(chosen.values()))
        if len(line) == 2:
            pairs = ", ".join(f"{k!r}: {v!r}" for k, v in line.items())
            flags = ",".join(f"{k}={v}" for k, v in line.items())
            line_hint = (
                f" For 'amount': {line['quantity']!r} and {line['unit_price']!r} look like a "
                f"quantity and a unit price; read_orders(path, columns={{{pairs}}}) sums "
                f"quantity x unit price per order (command line: --columns {flags})."
            )
    if chosen:
        mapping = ", ".join(f"{k!r}: {v!r}" for k, v in chosen.items())
        flags = ",".join(f"{k}={v}" for k, v in chosen.items())
        how = (f"e.g. columns={{{mapping}}} (command line: --columns {flags})")
    else:
        how = "e.g. columns={'customer_id': 'buyer'} (command line: --columns customer_id=buyer)"
    return CrmDataError(
        f"The order table is missing required column(s) {missing}. Columns present: "
        f"{list(map(str, out.columns))}.{hints}{line_hint} Map your columns with "
        f"columns={{'<canonical name>': '<your column>'}}, {how}."
    )


def _suggest_columns(out: pd.DataFrame, wanted: list[str], taken: set | None = None
                     ) -> dict[str, str]:
    """For each wanted canonical name, the file column that fits it best: a known alias
    first, then the closest spelling, among columns whose values suit the role (numbers
    for money, dates for the order date) and that no other role took."""
    taken = set(taken or ()) | {str(c) for c in out.columns if c in ORDER_COLUMNS}
    free = [str(c) for c in out.columns if str(c) not in taken]
    fits: dict[str, list[str]] = {
        c: [name for name in free if _fits(out[name] if name in out.columns else None, c)]
        for c in wanted
    }
    chosen: dict[str, str] = {}
    for c in wanted:  # known aliases first, for every role
        aliases = {_key(a) for a in (c, *COLUMN_ALIASES.get(c, ()))}
        for name in fits[c]:
            if _key(name) in aliases and name not in chosen.values():
                chosen[c] = name
                break
    for c in wanted:  # then the closest spelling
        if c in chosen:
            continue
        options = {_key(n): n for n in fits[c] if n not in chosen.values()}
        match = difflib.get_close_matches(_key(c), list(options), n=1, cutoff=0.5)
        if match:
            chosen[c] = options[match[0]]
    return {c: chosen[c] for c in wanted if c in chosen}


def _fits(values: pd.Series | pd.DataFrame | None, role: str) -> bool:
    """Whether a column's values could fill a canonical role (a sample is checked)."""
    if not isinstance(values, pd.Series):
        return False
    sample = values.dropna().head(200)
    if role in ("amount", "margin", "unit_price", "quantity"):
        if pd.api.types.is_bool_dtype(values):
            return False
        if pd.api.types.is_numeric_dtype(values):
            return True
        if pd.api.types.is_datetime64_any_dtype(values) or len(sample) == 0:
            return False
        try:
            return bool(parse_money(sample.astype(str), role, decimal=".")[0].notna().all()
                        or parse_money(sample.astype(str), role, decimal=",")[0].notna().all())
        except CrmDataError:
            return False
    if role == "order_date":
        if pd.api.types.is_datetime64_any_dtype(values):
            return True
        if pd.api.types.is_numeric_dtype(values) or len(sample) == 0:
            return False
        for dayfirst in (True, False):
            try:
                if parse_dates(sample.astype(str), role, dayfirst=dayfirst)[0].notna().mean() >= 0.9:
                    return True
            except CrmDataError:
                return False
        return False
    # ids: anything but dates, booleans and fractional numbers
    if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_float_dtype(values):
        return bool((sample % 1 == 0).all())
    return True


def _drop_excluded_statuses(out: pd.DataFrame, status_col: str, exclude_statuses
                            ) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Rows whose status is not a purchase, removed and kept aside with the reason."""
    excluded_parts: list[pd.DataFrame] = []
    if status_col in out.columns:
        statuses = exclude_statuses if exclude_statuses is not None else EXCLUDED_STATUSES
        status = out[status_col].astype("string").str.strip().str.lower()
        drop = status.isin(list(statuses)).fillna(False).to_numpy(dtype=bool)
        if drop.any():
            reasons = status[drop].map(status_reason).astype(object)
            excluded_parts.append(out[drop].assign(reason=reasons.to_numpy()))
            out = out[~drop]
            if len(out) == 0:
                raise all_excluded_error(status_col, sorted(set(status[drop].head(5))),
                                         "pass exclude_statuses=set() to keep them")

    return out, excluded_parts


def _canonical_values(
    out: pd.DataFrame, excluded_parts: list[pd.DataFrame], *, dayfirst, date_format,
    decimal, stated_currency,
) -> tuple[pd.DataFrame, dict[str, pd.Series], dict]:
    """Ids as text, dates, money; rows without a customer left out (into
    ``excluded_parts``); raises on the first kind of bad value (shared messages)."""
    # the reading of the dates is decided on every row (guest rows are evidence too)
    dates, reading = parse_dates(out["order_date"], "order_date", dayfirst=dayfirst,
                                 date_format=date_format)
    stripped = _stripped_text(out["customer_id"])
    no_customer = null_ids(out["customer_id"], stripped)
    if no_customer.all():
        raise empty_ids_error("customer_id", len(out), len(out),
                              format_examples(out["customer_id"]))
    if no_customer.any():
        mask = no_customer.to_numpy(dtype=bool)
        excluded_parts.append(out[mask].assign(reason=REASON_NO_CUSTOMER))
        out = out[~mask]
        dates = dates[~mask]
        stripped = None if stripped is None else stripped[~mask]
    stripped_order = _stripped_text(out["order_id"])
    nulls = null_ids(out["order_id"], stripped_order)
    if nulls.any():
        raise empty_ids_error("order_id", int(nulls.sum()), len(out),
                              format_examples(out.loc[nulls, "order_id"]))
    customer_id = (ids_as_text(out["customer_id"], "customer_id") if stripped is None
                   else float_text_ids(stripped))
    order_id = (ids_as_text(out["order_id"], "order_id") if stripped_order is None
                else float_text_ids(stripped_order))

    bad = dates.isna()
    if bad.any():
        raise not_dates_error(int(bad.sum()), format_examples(out.loc[bad, "order_date"]))
    found_warnings: list[str] = []
    readings: dict[str, str] = {}
    if reading is not None:
        readings["order_date"] = reading
        if "guessed" in reading:
            found_warnings.append(
                "the order dates could be day-first or month-first and there are too few to "
                "tell; they were read month-first. If they are day/month/year, pass "
                "dayfirst=True (command line: --dayfirst)."
            )
    amount, currency = parse_money(out["amount"], "amount", decimal=decimal)
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
    currencies = {"amount": currency}
    if "margin" in out.columns:
        canon["margin"], currencies["margin"] = parse_money(out["margin"], "margin",
                                                            decimal=decimal)
    shown = {c for c in currencies.values() if c is not None}
    if len(shown) > 1:
        raise CrmDataError(
            f"The amount and margin columns show different currencies ({currencies}). "
            "Convert them to one currency first."
        )
    currency = shown.pop() if shown else None
    if stated_currency is not None and currency is not None and currency != stated_currency:
        raise CrmDataError(
            f"currency={stated_currency!r} was given, but the amounts show {currency} signs "
            f"(e.g. {format_examples(out['amount'], 2)}). Give the currency the file is in "
            f"(command line: --currency {currency}), or leave it out."
        )

    if _has_duplicates(order_id):
        dup = order_id.duplicated(keep=False)
        raise duplicate_order_ids_error(int(dup.sum()), order_id[dup].nunique(),
                                        format_examples(order_id[dup]))
    found = {"currency": currency, "date_readings": readings, "warnings": found_warnings}
    return out, canon, found


def _dated_exclusions(out: pd.DataFrame, canon: dict[str, pd.Series],
                      excluded_parts: list[pd.DataFrame], as_of: object
                      ) -> tuple[pd.DataFrame, dict[str, pd.Series], list[str]]:
    """Orders after ``as_of``, then date outliers, left out (into ``excluded_parts``)."""
    notes: list[str] = []
    dates = canon["order_date"]
    stamps = dates.to_numpy(dtype="datetime64[ns]")
    drop = np.zeros(len(out), dtype=bool)
    reasons = np.full(len(out), "", dtype=object)
    if as_of is not None:
        cutoff = to_day(as_of, "as_of") + pd.Timedelta(days=1)
        late = stamps >= cutoff.to_datetime64()
        if late.all():
            raise all_after_as_of_error(len(out), as_of, stamps.max())
        drop |= late
        reasons[late] = REASON_AFTER_AS_OF
    days = (stamps.astype("datetime64[D]") - EPOCH).astype(np.int64)
    unique, counts = _day_counts(days[~drop])
    last = date_outlier_cutoff(unique, counts)
    if last is not None:
        outliers = ~drop & (days > last)
        drop |= outliers
        reasons[outliers] = REASON_DATE_OUTLIER
        outlier_days = [iso_day(d) for d in (unique[unique > last] + EPOCH)]
        notes.append(date_outlier_warning(int(outliers.sum()), outlier_days,
                                          iso_day(EPOCH + last)))
    if drop.any():
        excluded_parts.append(out[drop].assign(reason=reasons[drop]))
        out = out[~drop]
        canon = {k: v[~drop] for k, v in canon.items()}
    return out, canon, notes


def _day_counts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct day numbers and their counts (a bincount over the date range: no sort)."""
    if len(days) == 0:
        return days, days
    low, high = int(days.min()), int(days.max())
    if high - low > 4 * len(days) + 100_000:
        return np.unique(days, return_counts=True)
    counts = np.bincount(days - low, minlength=high - low + 1)
    unique = np.flatnonzero(counts)
    return unique + low, counts[unique]


def _sorted_table(out: pd.DataFrame, canon: dict[str, pd.Series]) -> pd.DataFrame:
    """Canonical columns first, extra columns after, sorted by date (ties keep input order).

    The extra columns are taken in one step, rows and columns together (adding them one
    at a time is quadratic in their number: 20,000 extra columns took minutes).
    """
    dates = canon["order_date"]
    if dates.is_monotonic_increasing:
        order = None
    else:  # a stable integer argsort: ties keep the input order (fast at millions of rows)
        order = np.argsort(dates.to_numpy(dtype="int64"), kind="stable")
    rows = slice(None) if order is None else order
    head = pd.DataFrame({c: v.iloc[rows] for c, v in canon.items()})
    head.index = pd.RangeIndex(len(head))
    extra = np.flatnonzero(~out.columns.isin(ORDER_COLUMNS))
    if len(extra) == 0:
        return head
    rest = out.iloc[rows, extra]
    rest.index = head.index
    return pd.concat([head, rest], axis=1)


def _validation_summary(result: pd.DataFrame, excluded_parts: list[pd.DataFrame], n_in: int,
                        notes: list[str]) -> ValidationReport:
    """The :class:`ValidationReport` of a validation: exclusions and dropped customers."""
    excluded = (
        pd.concat(excluded_parts) if excluded_parts else pd.DataFrame(columns=["reason"])
    )
    report = ValidationReport(
        n_rows_in=n_in,
        n_rows_out=len(result),
        excluded=excluded,
        dropped_customers=dropped_customer_ids(excluded, result["customer_id"]),
        notes=notes,
    )
    return report


def dropped_customer_ids(excluded: pd.DataFrame, kept_ids: pd.Series) -> list[str]:
    """Customers of excluded rows that have no kept order, sorted; missing ids and null
    markers (guest rows) are not customers.

    >>> excluded = pd.DataFrame({"customer_id": ["a", "N/A", None, "b"]})
    >>> dropped_customer_ids(excluded, pd.Series(["b", "c"]))
    ['a']
    """
    if len(excluded) == 0 or "customer_id" not in excluded.columns:
        return []
    ids = excluded["customer_id"]
    known = ids_as_text(ids[~null_ids(ids).to_numpy(dtype=bool)], "customer_id")
    known = known.drop_duplicates()
    if len(known) == 0:
        return []
    # Arrow's is_in: a Python set of millions of kept ids, or pandas' isin on Arrow
    # strings, takes seconds
    value_set = pa.array(kept_ids.astype("string"), type=pa.string(), from_pandas=True)
    if isinstance(value_set, pa.ChunkedArray):
        value_set = value_set.combine_chunks()
    found = pc.is_in(pa.array(known.astype("string"), type=pa.string(), from_pandas=True),
                     value_set=value_set)
    keep = ~np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)
    return sorted(known[keep].tolist())
