"""Read order files (CSV, Parquet, Excel) and platform exports into canonical orders.

:func:`read_orders` reads a file and returns canonical orders through
:func:`~crm_analytics.orders.validate_orders`, so every source gives the same columns, the
same errors and the same :class:`~crm_analytics.ValidationReport`. Ids are never parsed as
floating-point numbers: text files are read as text, ids written from a float column
(``12346.0``) get their integer text back, and ids stored as 16+ digit numbers in Excel or
Parquet are refused (their last digits may already be lost).

Tables with several rows per order (line items), returns recorded as reversal invoices
(``C536379``) or negative quantities, and guest rows without a customer id are combined,
netted and reported by :func:`~crm_analytics.orders.lines.combine_line_items`, for every
source.

Platform exports (``source=``, detected from the headers by ``"auto"``):

``"taobao"``
    Taobao/Tmall seller order reports. The classic ``ExportOrderList*.csv`` (one row per
    order: 订单编号, 买家会员名, 买家实际支付金额, 订单状态, 订单付款时间 ...) and the newer
    line-level export (子订单编号 / 主订单编号 / 买家实付金额 / 退款状态 / 退款金额, summed to
    one row per 主订单编号). GBK/GB18030 or UTF-8 with BOM; headers with stray spaces and
    ``="..."``-wrapped order numbers are handled; columns are matched by name (aliases),
    never by position. ``order_date`` is the payment time (订单付款时间), else the creation
    time. The paid amount is read once: some reports hold it net of refunds (总金额 =
    买家实际支付金额 + 退款金额 on every paid row), others before refunds (then 退款金额 is
    taken off); the reader decides per file and says which in the report. Orders never paid
    (no 订单付款时间, nothing paid, or an unpaid status), closed orders and orders whose buyer
    kept nothing are excluded and listed in the report with their reason.
``"shopify"``
    Shopify's orders export (one row per line item, order fields on the first row): one row
    per ``Name``; ``customer_id`` is ``Customer ID`` if the file has it (else the
    lower-cased ``Email``); ``order_date`` is ``Paid at`` (else ``Created at``) in the
    shop's local wall-clock time; ``amount`` is ``Total`` minus ``Refunded Amount``; the
    currency is the ``Currency`` column. Cancelled, refunded, voided, never paid and
    customer-less (POS walk-in) orders are excluded and reported.

Both platforms keep ``created_at`` and ``paid_at`` (datetime) when the export has them;
``read_orders(..., include_unpaid=True)`` also returns every order that was created but
never paid (status ``"unpaid"``) and those refunded or closed after payment (status
``"refunded"`` / ``"cancelled"``), for payment analyses. Customer analyses leave those
statuses out.
"""

from __future__ import annotations

import codecs
import dataclasses
import os
import zipfile
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crm_analytics._core.checks import closest_column, format_examples
from crm_analytics._core.errors import CrmDataError, UnreadableInputError
from crm_analytics._core.money import check_currency
from crm_analytics._core.vocab import (
    REASON_CANCELLED,
    REASON_REFUNDED,
    REASON_UNPAID,
    REVERSAL_PREFIX,
)
from crm_analytics.orders.lines import MAPPABLE_COLUMNS, combine_line_items
from crm_analytics.orders.validate import (
    ValidationReport,
    _has_duplicates,
    dropped_customer_ids,
    validate_orders,
)
from crm_analytics.orders.values import check_decimal_and_currency, parse_dates, parse_money

__all__ = ["SOURCES", "detect_source", "read_orders"]

#: Values accepted by ``read_orders(source=...)``.
SOURCES = ("auto", "generic", "taobao", "shopify")

_TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
_EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")
_GLOB_CHARACTERS = ("*", "?", "[")
_FORMULA_TEXT = r'^="(.*)"$'  # Excel's ="1930679858170647" trick to keep digits as text
_SCIENTIFIC = r"^[+-]?\d(\.\d+)?[eE]\+?\d+$"  # 1.93068E+15: an id Excel already rounded
_UTC_OFFSET = r"\s*(?:[+-]\d{2}:?\d{2}|Z|UTC)$"
_TOLERANCE = 0.005  # money compared to zero, in currency units
_CENT = 0.01  # how closely 总金额 must equal paid + refunded on a net report
_CONTROL = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"  # in a header: the file is not text

#: Status a returned (``include_unpaid=True``) order gets, per exclusion reason.
_RETURNED_STATUS = {REASON_UNPAID: "unpaid", REASON_REFUNDED: "refunded",
                    REASON_CANCELLED: "cancelled"}

#: Taobao/Tmall header aliases, matched after stripping spaces; first match wins.
_TAOBAO: dict[str, tuple[str, ...]] = {
    "order_id": ("订单编号", "订单号"),
    "parent_id": ("主订单编号",),
    "line_id": ("子订单编号",),
    "customer_id": ("买家会员名", "买家昵称", "买家会员ID", "买家ID", "买家账号"),
    "amount": ("买家实际支付金额", "买家实付金额", "实付金额", "实际支付金额", "买家应付货款"),
    "total": ("总金额",),
    "payable": ("买家应付货款", "应付金额"),
    "refund": ("退款金额",),
    "refund_status": ("退款状态",),
    "status": ("订单状态", "交易状态"),
    "paid_at": ("订单付款时间", "付款时间", "支付时间"),
    "created_at": ("订单创建时间", "创建时间", "下单时间"),
    "product": ("宝贝标题", "商品标题", "标题", "宝贝名称", "商品名称"),
    "quantity": ("宝贝总数量", "购买数量", "商品数量", "数量"),
    "province": ("省", "省份", "收货省份", "收货人省份"),
    "address": ("收货地址",),
    "close_reason": ("订单关闭原因", "关闭原因"),
}
_TAOBAO_CLOSED = frozenset({"交易关闭", "交易已关闭", "已关闭", "订单关闭", "已取消", "交易取消"})
_TAOBAO_UNPAID = frozenset({"等待买家付款", "待付款", "未付款", "等待付款"})
_TAOBAO_REFUNDED = "退款成功|退款完成|已退款"

#: Shopify header aliases (matched case-insensitively).
_SHOPIFY: dict[str, tuple[str, ...]] = {
    "order_id": ("Name",),
    "customer_id": ("Customer ID", "Customer Id"),
    "email": ("Email",),
    "status": ("Financial Status",),
    "paid_at": ("Paid at",),
    "created_at": ("Created at",),
    "amount": ("Total",),
    "refund": ("Refunded Amount",),
    "cancelled_at": ("Cancelled at",),
    "product": ("Lineitem name",),
    "quantity": ("Lineitem quantity",),
    "province": ("Billing Province", "Shipping Province", "Billing Province Name"),
    "currency": ("Currency",),
}
_SHOPIFY_REFUNDED = frozenset({"refunded"})
_SHOPIFY_UNPAID = frozenset({"pending", "expired", "voided"})
_SHOPIFY_PAID = frozenset({"paid", "partially_paid", "partially_refunded", "refunded"})

#: Headers holding ids, per source (checked for digits lost to floating point).
_ID_HEADERS: dict[str, tuple[str, ...]] = {
    "generic": ("customer_id", "order_id"),
    "taobao": tuple(a for k in ("order_id", "parent_id", "line_id", "customer_id")
                    for a in _TAOBAO[k]),
    "shopify": _SHOPIFY["order_id"] + _SHOPIFY["customer_id"] + _SHOPIFY["email"],
}


def read_orders(
    path: str | os.PathLike,
    *,
    source: str = "auto",
    columns: Mapping[str, str] | None = None,
    encoding: str | None = None,
    return_report: bool = False,
    dayfirst: bool | None = None,
    date_format: str | None = None,
    decimal: str | None = None,
    currency: str | None = None,
    include_unpaid: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, ValidationReport]:
    """Read an order file (CSV, Parquet, Excel or a platform export) as canonical orders.

    Parameters
    ----------
    path : str or path-like
        One file: ``.csv`` / ``.tsv`` / ``.txt`` (optionally ``.gz``/``.zip`` compressed),
        ``.parquet``, ``.xlsx`` / ``.xlsm`` (first sheet; ``.xls`` needs
        ``python-calamine`` or ``xlrd``). Several Parquet files (a list or a glob) are an
        engine source: ``crm_analytics.engine_source(paths)``.
    source : {"auto", "generic", "taobao", "shopify"}, default "auto"
        ``"taobao"``: Taobao/Tmall seller order export; ``"shopify"``: Shopify orders export
        (see the module docstring); ``"generic"``: any other table (line items are
        combined); ``"auto"``: detect from the headers (:func:`detect_source`).
    columns : dict, optional
        Map from canonical name (``customer_id``, ``order_id``, ``order_date``, ``amount``,
        ``margin``, ``quantity``, ``unit_price``) to the column in the file; for platform
        exports it overrides the built-in header aliases, e.g. ``{"customer_id": "买家昵称"}``.
        One file column may fill two roles: ``{"customer_id": "订单编号"}`` makes each order
        its own customer (for payment analyses of a report without a buyer column).
        Command line: ``--columns customer_id=CustomerID,order_id=InvoiceNo``.
    encoding : str, optional
        Text encoding of CSV files. By default UTF-8 (with or without BOM) is tried, then
        GB18030 (a superset of GBK, the encoding of Excel and Taobao files in China).
    return_report : bool, default False
        Also return the :class:`~crm_analytics.ValidationReport`: how the file was read
        and every excluded order with its reason (unpaid, refunded, cancelled, no
        customer, reversed ...).
    dayfirst, date_format, decimal : optional
        How to read dates and amounts (see :func:`~crm_analytics.validate_orders`):
        ``dayfirst=True`` for ``1/12/2010`` = 1 December, ``date_format`` a strptime
        format, ``decimal=","`` for ``12,50``. None: decided from the values.
    currency : str, optional
        ISO code of the amounts (``"GBP"``); otherwise taken from the file (Shopify's
        ``Currency`` column) and kept in ``report.currency``.
    include_unpaid : bool, default False
        Also return the orders created but never paid (status ``"unpaid"``) and those
        refunded or closed after payment (``"refunded"`` / ``"cancelled"``), for payment
        analyses; customer analyses leave these statuses out.

    Returns
    -------
    pandas.DataFrame
        Canonical orders as from :func:`~crm_analytics.validate_orders`; platform exports
        add ``status``, ``product``, ``quantity``, ``province``, ``created_at``,
        ``paid_at`` (when the file has them) and ``channel`` (``"taobao"`` /
        ``"shopify"``). With ``return_report=True`` the pair ``(orders, report)``; pass both
        on with ``prepare_orders(orders, report=report)``.

    Raises
    ------
    CrmDataError
        Missing, unreadable or unsupported file, several files, undecodable text, unknown
        ``source`` or ``encoding``, missing platform columns (a report without a buyer
        column), ids stored as 16+ digit numbers (or in scientific notation), several
        currencies in one file, every order excluded, or any error of ``validate_orders``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import pandas as pd
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "orders.csv"
    >>> pd.DataFrame({"customer_id": ["u1", "u2"], "order_id": ["1930679858170647123", "9"],
    ...               "order_date": ["2024-05-01", "2024-05-02"],
    ...               "amount": [99.5, 20]}).to_csv(path, index=False)
    >>> read_orders(path)[["customer_id", "order_id", "amount"]]
      customer_id             order_id  amount
    0          u1  1930679858170647123    99.5
    1          u2                    9    20.0
    >>> orders, report = read_orders(path, return_report=True)
    >>> report.n_rows_in, report.n_rows_out
    (2, 2)
    """
    if source not in SOURCES:
        raise CrmDataError(
            f"The 'source' parameter of read_orders must be one of {list(SOURCES)} "
            f"('taobao' also reads Tmall exports; command line: --source taobao). "
            f"Got {source!r} instead."
        )
    columns = _check_columns(columns)
    _check_encoding(encoding)
    decimal, currency = check_decimal_and_currency(decimal, currency)
    file = _check_path(path)
    kind = _file_kind(file)
    raw, used_encoding = _read_raw(file, kind, encoding)
    raw = _clean_headers(raw)
    _refuse_unreadable(raw, file)
    if len(raw) == 0:
        raise CrmDataError(
            f"{file.name} has a header row but no orders. Check that the export is not empty."
        )
    columns = _match_user_columns(columns, raw.columns)
    detected = _detect(raw.columns) if source == "auto" else source
    how = "detected from its headers" if source == "auto" else "source given"
    notes = [f"read {file.name} as a {detected} order file ({how}; {used_encoding})"]
    mapped_ids = [v for k, v in columns.items() if k in ("customer_id", "order_id")]
    _guard_numeric_ids(raw, [*_ID_HEADERS[detected], *mapped_ids])
    reading = _Reading(dayfirst, date_format, decimal, currency, bool(include_unpaid))

    if detected == "generic":
        result, report = _generic_orders(raw, kind, columns, reading, notes)
        return (result, report) if return_report else result

    _require_user_columns(columns, raw.columns)
    text = _tidy_text(raw)
    if detected == "taobao":
        platform = _taobao_orders(text, columns, reading)
    else:
        platform = _shopify_orders(text, columns, reading)
    result, report = _finish(platform, n_rows_in=len(raw), notes=notes, label=detected,
                             reading=reading)
    return (result, report) if return_report else result


@dataclasses.dataclass(frozen=True)
class _Reading:
    """The user's reading options, passed on to validate_orders and the line combiner."""

    dayfirst: bool | None
    date_format: str | None
    decimal: str | None
    currency: str | None
    include_unpaid: bool

    def options(self) -> dict[str, object]:
        """The date and number options that were given (None ones left out)."""
        given = {"dayfirst": self.dayfirst, "date_format": self.date_format,
                 "decimal": self.decimal}
        return {k: v for k, v in given.items() if v is not None}


@dataclasses.dataclass(frozen=True, eq=False)
class _Platform:
    """A platform reader's orders, the reason each is left out ("" = kept), and notes."""

    orders: pd.DataFrame
    reasons: pd.Series
    notes: list[str]
    lines: ValidationReport | None = None  # the line combiner's report
    currency: str | None = None

def detect_source(path_or_columns: str | os.PathLike | pd.DataFrame | Iterable[str]) -> str:
    """Tell which export a file (or a list of headers) is: taobao, shopify or generic.

    Parameters
    ----------
    path_or_columns : path-like, DataFrame or iterable of str
        A file (only its header is read), a DataFrame or its column names. Headers are
        compared after stripping spaces and a BOM.

    Returns
    -------
    str
        ``"taobao"`` (订单编号 or 主订单编号 plus a Taobao buyer/status/amount column),
        ``"shopify"`` (``Name`` and ``Financial Status`` plus ``Total`` or ``Lineitem``
        columns) or ``"generic"``.

    Examples
    --------
    >>> detect_source(["订单编号 ", "买家会员名", "买家实际支付金额", "订单状态"])
    'taobao'
    >>> detect_source(["Name", "Email", "Financial Status", "Total", "Lineitem name"])
    'shopify'
    >>> detect_source(["customer_id", "order_id", "order_date", "amount"])
    'generic'
    """
    if isinstance(path_or_columns, pd.DataFrame):
        names = list(path_or_columns.columns)
    elif isinstance(path_or_columns, (str, os.PathLike)):
        file = _check_path(path_or_columns)
        names = list(_read_raw(file, _file_kind(file), None, header_only=True)[0].columns)
    elif isinstance(path_or_columns, Iterable):
        names = list(path_or_columns)
    else:
        raise CrmDataError(
            "detect_source expects a file path, a DataFrame or a list of column names; got "
            f"{type(path_or_columns).__name__}."
        )
    return _detect([_clean_name(n) for n in names])


# ----------------------------------------------------------------------------- files


def _check_path(path: object) -> Path:
    text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if isinstance(path, (list, tuple, set)) or (
        isinstance(text, str) and any(c in text for c in _GLOB_CHARACTERS)
        and not Path(text).expanduser().exists()
    ):
        raise CrmDataError(
            f"read_orders reads one file; got {'a list' if text is None else 'a glob'}"
            f" ({path!r}). Several Parquet files are read by the engine: "
            "crm_analytics.engine_source(paths) (or pass the glob or list to "
            "customer_summary / run_report directly; command line: crm-analytics validate "
            "'orders/*.parquet'). For several CSV files, read each one and concatenate."
        )
    if isinstance(path, pd.DataFrame):
        raise CrmDataError(
            "read_orders reads a file; for a DataFrame already in memory use "
            "validate_orders(df) instead."
        )
    if not isinstance(path, (str, os.PathLike)):
        raise CrmDataError(
            f"The 'path' parameter must be a file path (str or pathlib.Path); got "
            f"{type(path).__name__}."
        )
    file = Path(path).expanduser()
    if not file.exists():
        raise UnreadableInputError(
            f"No file at {str(file)!r}. Check the path (relative paths start from "
            f"{os.getcwd()!r})."
        )
    if file.is_dir():
        raise UnreadableInputError(
            f"{str(file)!r} is a directory (folder), not a file; pass the path of the order "
            "file in it."
        )
    return file


def _file_kind(file: Path) -> str:
    suffixes = [s.lower() for s in file.suffixes]
    last = suffixes[-1] if suffixes else ""
    if last in _COMPRESSED and len(suffixes) > 1 and suffixes[-2] in _TEXT_SUFFIXES:
        return "text"
    if last in _TEXT_SUFFIXES:
        return "text"
    if last in _EXCEL_SUFFIXES:
        return "excel"
    if last in _PARQUET_SUFFIXES:
        return "parquet"
    raise UnreadableInputError(
        f"Unsupported file type {last or '(no extension)'!r} for {file.name}. read_orders "
        f"reads {list(_TEXT_SUFFIXES + _PARQUET_SUFFIXES + _EXCEL_SUFFIXES)}; save the "
        "table as CSV (UTF-8) or .xlsx, or rename the file if it already is one."
    )


def _read_raw(
    file: Path, kind: str, encoding: str | None, *, header_only: bool = False
) -> tuple[pd.DataFrame, str]:
    """The file as a DataFrame: text files all-text, Excel as cell objects, Parquet typed."""
    nrows = 0 if header_only else None
    if kind == "text":
        return _read_text(file, encoding, nrows)
    if kind == "excel":
        try:
            frame = pd.read_excel(file, sheet_name=0, dtype=object, nrows=nrows)
        except ImportError as exc:
            raise CrmDataError(
                f"Reading {file.suffix} files needs an extra package ({exc}). Install the "
                "package named there, or save the sheet as .xlsx or CSV."
            ) from exc
        except (ValueError, OSError, KeyError, zipfile.BadZipFile) as exc:
            raise UnreadableInputError(
                f"Could not read {file.name} as an Excel workbook ({exc}). Open it in Excel "
                "and save it again as .xlsx, or export it as CSV."
            ) from exc
        return frame, "Excel, first sheet"
    try:
        if header_only:
            import pyarrow.parquet as pq

            return pd.DataFrame(columns=pq.read_schema(file).names), "Parquet"
        return pd.read_parquet(file), "Parquet"
    except (ValueError, OSError, ImportError) as exc:
        raise UnreadableInputError(
            f"Could not read {file.name} as a Parquet file ({exc}). Check that the file is "
            "complete, or save the table as CSV."
        ) from exc


def _read_text(file: Path, encoding: str | None, nrows: int | None) -> tuple[pd.DataFrame, str]:
    compressed = file.suffix.lower() in _COMPRESSED
    if not compressed:
        with file.open("rb") as handle:
            start = handle.read(65536)
        utf16 = start[:2] in (b"\xff\xfe", b"\xfe\xff")
        if not utf16 and b"\x00" in start:
            raise _not_a_table(file, "it holds binary data (NUL bytes)")
    candidates = [encoding] if encoding is not None else (
        ["utf-16"] if not compressed and utf16 else ["utf-8-sig", "gb18030"])
    failure: UnicodeError | None = None
    for enc in candidates:
        try:
            return _read_csv(file, enc, nrows, compressed), enc
        except UnicodeError as exc:
            failure = exc
        except LookupError as exc:
            raise UnreadableInputError(
                f"Unknown encoding {enc!r}. Use a Python codec name such as 'utf-8-sig', "
                "'gb18030' or 'utf-16' (command line: --encoding gb18030), or leave "
                "encoding=None to detect it."
            ) from exc
        except pd.errors.EmptyDataError as exc:
            raise UnreadableInputError(
                f"{file.name} is empty (no header row). Export the orders again."
            ) from exc
        except pd.errors.ParserError as exc:
            raise UnreadableInputError(
                f"{file.name} is not a well-formed CSV file ({exc}). Check the separator and "
                "quoting, or save it again from Excel as 'CSV UTF-8'."
            ) from exc
        except (OSError, EOFError, zipfile.BadZipFile, ValueError) as exc:
            if not compressed:
                raise
            raise UnreadableInputError(
                f"Could not decompress {file.name}: it is not a valid {file.suffix} "
                f"(gzip/zip ...) compressed file ({exc}). If it is plain text, rename it to "
                f"{file.stem!r}; otherwise compress it again."
            ) from exc
    tried = " or ".join(candidates)
    fix = (
        "Pass encoding='...' (for example 'gb18030' or 'utf-16'; command line: --encoding "
        "gb18030) if you know it, or save the file again as 'CSV UTF-8'."
    )
    if encoding is not None:
        fix = "Leave encoding=None to try UTF-8 and GB18030, or pass the file's real encoding."
    raise UnreadableInputError(f"Could not decode {file.name} as {tried} ({failure}). {fix}")


def _read_csv(file: Path, enc: str, nrows: int | None, compressed: bool) -> pd.DataFrame:
    sep = "\t" if file.suffix.lower() == ".tsv" else ","
    if not compressed and file.suffix.lower() != ".tsv":
        with file.open(encoding=enc, newline="") as handle:
            first = handle.readline()
        sep = "\t" if first.count("\t") > first.count(",") else ","
    return pd.read_csv(file, sep=sep, dtype=str, encoding=enc, nrows=nrows,
                       keep_default_na=False, na_values=[""])


def _not_a_table(file: Path, why: str) -> CrmDataError:
    return UnreadableInputError(
        f"{file.name} is not a readable table: {why}. Export the orders as CSV (UTF-8), "
        ".xlsx or Parquet and read that file."
    )


def _refuse_unreadable(raw: pd.DataFrame, file: Path) -> None:
    """Headers with control characters: binary data decoded as text by chance."""
    names = pd.Series([str(c) for c in raw.columns], dtype="str")
    if len(names) and names.str.contains(_CONTROL, regex=True).any():
        raise _not_a_table(file, "its first line holds control characters, not column names")


def _check_encoding(encoding: object) -> None:
    if encoding is None:
        return
    try:
        if not isinstance(encoding, str):
            raise LookupError(encoding)
        codecs.lookup(encoding)
    except LookupError as exc:
        raise CrmDataError(
            f"Unknown encoding {encoding!r}. Use a Python codec name such as 'utf-8-sig', "
            "'gb18030' or 'utf-16' (command line: --encoding gb18030), or leave "
            "encoding=None to detect it."
        ) from exc


# ------------------------------------------------------------------------ headers, text


def _clean_name(name: object) -> str:
    return str(name).replace("\ufeff", "").strip()


def _clean_headers(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip spaces and BOMs from headers (unless that would make two of them equal)."""
    cleaned = [_clean_name(c) for c in frame.columns]
    counts = pd.Series(cleaned).value_counts()
    names = [c if counts[c] == 1 else str(o) for c, o in zip(cleaned, frame.columns, strict=True)]
    return frame.set_axis(names, axis=1)


def _check_columns(columns: Mapping[str, str] | None) -> dict[str, str]:
    if columns is None:
        return {}
    if not isinstance(columns, Mapping):
        raise CrmDataError(
            "The 'columns' parameter must be a dict from canonical name to your column name, "
            f"e.g. {{'customer_id': '买家会员名'}}; got {type(columns).__name__}."
        )
    unknown = [k for k in columns if k not in MAPPABLE_COLUMNS]
    if unknown:
        raise CrmDataError(
            f"The 'columns' parameter maps canonical names to your column names; "
            f"{unknown} are not canonical names. Use keys from {list(MAPPABLE_COLUMNS)} "
            "(command line: --columns customer_id=<column>,order_id=<column>)."
        )
    return {str(k): str(v) for k, v in columns.items()}


def _match_user_columns(columns: dict[str, str], headers: pd.Index) -> dict[str, str]:
    """Translate user column names to the cleaned headers (``"订单编号 "`` -> ``"订单编号"``)."""
    present = set(headers)
    return {k: v if v in present or _clean_name(v) not in present else _clean_name(v)
            for k, v in columns.items()}


def _require_user_columns(columns: dict[str, str], headers: pd.Index) -> None:
    for canon, name in columns.items():
        if name not in headers:
            raise CrmDataError(
                f"columns={{{canon!r}: {name!r}}} (command line: --columns {canon}={name}) "
                f"names a column that is not in the file.{closest_column(name, headers)} "
                f"Columns present: {list(headers)}."
            )


def _no_letter_e(values: pd.Series) -> bool:
    """True when Arrow text ``values`` surely hold no "e"/"E" (a scan of the raw bytes).

    False when they may (or are not Arrow-backed): then the exact check runs.
    """
    arrow = getattr(values.array, "_pa_array", None)
    if arrow is None:
        return False
    for chunk in arrow.chunks:
        data = chunk.buffers()[-1] if chunk.type in (pa.string(), pa.large_string()) else None
        if data is None:
            return False
        raw = data.to_pybytes()  # a copy, then memchr: far faster than NumPy masks
        if raw.find(b"e") >= 0 or raw.find(b"E") >= 0:
            return False
    return True


def _guard_numeric_ids(raw: pd.DataFrame, names: Iterable[str]) -> None:
    """Refuse ids that went through a number type with too few digits to hold them."""
    wanted = {n.lower() for n in names}
    for col in [c for c in raw.columns if c.lower() in wanted]:
        values = raw[col].dropna()
        if values.dtype == object:  # Excel cells: str, int, float, datetime ...
            is_number = values.map(
                lambda v: isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
            )
            numbers = pd.to_numeric(values[is_number.astype(bool)])
        else:
            numbers = values if pd.api.types.is_float_dtype(values) else pd.Series([], dtype=float)
        big = numbers[numbers.abs() >= 1e15]
        if len(big):
            raise CrmDataError(
                f"Column {col!r} holds {len(big)} ids stored as numbers with 16 or more "
                f"digits ({format_examples(big)}). Excel and floating-point numbers keep only "
                "15 significant digits, so these ids may have lost their last digits. Store "
                "the column as text (in Excel: format it as Text before pasting) or export the "
                "orders to CSV again, then read that file."
            )
        if pd.api.types.is_string_dtype(values) or values.dtype == object:
            if _no_letter_e(values):  # the usual platform ids: no regex over millions
                continue
            sci = values[values.astype(str).str.strip().str.match(_SCIENTIFIC)]
            if len(sci):
                raise CrmDataError(
                    f"Column {col!r} has {len(sci)} ids in scientific notation "
                    f"({format_examples(sci)}): the file was saved by a spreadsheet that "
                    "rounded them, so their digits are lost. Use the original export (do "
                    "not open and save it in Excel) or format the column as Text."
                )


def _cell_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, (datetime, date)):
        return str(pd.Timestamp(value))
    return str(value)


def _tidy_values(values: pd.Series) -> pd.Series:
    """One column (or all cells, flattened) as stripped text, ``="..."`` unwrapped, empty
    cells missing."""
    if not pd.api.types.is_string_dtype(values) or values.dtype == object:
        values = values.map(_cell_text, na_action="ignore").astype("str")
    values = values.str.strip()
    if values.str.startswith("=").any():
        values = values.str.replace(_FORMULA_TEXT, r"\1", regex=True).str.strip()
    return values.mask(values == "")


#: More columns than this are tidied as one flattened column: per-column work costs about
#: a millisecond each, which a wide export (thousands of columns) turns into minutes.
_WIDE = 200


def _tidy_text(raw: pd.DataFrame) -> pd.DataFrame:
    """Every column as stripped text, ``="..."`` unwrapped, empty cells missing."""
    if raw.shape[1] > _WIDE and raw.shape[0] * raw.shape[1] <= 5_000_000:
        cells = pd.Series(raw.to_numpy(dtype=object).ravel(), dtype=object)
        tidy = _tidy_values(cells).to_numpy(dtype=object).reshape(raw.shape)
        return pd.DataFrame(tidy, index=raw.index, columns=raw.columns)
    return pd.DataFrame({col: _tidy_values(raw[col]) for col in raw.columns}, index=raw.index)


def _detect(headers: Iterable[str]) -> str:
    names = set(headers)
    lowered = {n.lower() for n in names}
    order_no = {"订单编号", "主订单编号", "子订单编号"} & names
    taobao_more = {"买家会员名", "订单状态", "买家实际支付金额", "买家实付金额"} & names
    if order_no and taobao_more:
        return "taobao"
    if {"name", "financial status"} <= lowered and (
        "total" in lowered or any(n.startswith("lineitem") for n in lowered)
    ):
        return "shopify"
    return "generic"


def _find(headers: Iterable[str], aliases: tuple[str, ...], *, case: bool = True) -> str | None:
    lookup = {(h if case else h.lower()): h for h in headers}
    for alias in aliases:
        hit = lookup.get(alias if case else alias.lower())
        if hit is not None:
            return hit
    return None


def _missing(label: str, what: str, aliases: tuple[str, ...], headers: pd.Index) -> CrmDataError:
    return CrmDataError(
        f"The {label} export has no column for {what} (looked for {list(aliases)}). Columns "
        f"present: {list(headers)}. Pass columns={{'{what}': '<your column>'}} to name it "
        f"(command line: --columns {what}=<column>), or source='generic' (--source generic) "
        "if the file is not a platform export."
    )


def _no_buyer(label: str, aliases: tuple[str, ...], headers: pd.Index, export: str,
              order_col: str | None) -> CrmDataError:
    """A platform export without any buyer column: say which export has the buyer."""
    per_order = order_col or "<order number column>"
    return CrmDataError(
        f"This {label} export has no buyer column (looked for {list(aliases)}; columns "
        f"present: {list(headers)}). Customer analytics needs the buyer of each order: "
        f"{export} For order-level numbers only (such as payment timing), each order can be "
        f"its own customer: columns={{'customer_id': '{per_order}'}} (command line: "
        f"--columns customer_id={per_order})."
    )


def _join_by(values: pd.Series, keys: pd.Series) -> pd.Series:
    """``" | "``-joined non-empty values per key, in file order (vectorised with pyarrow)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ok = values.notna() & keys.notna()
    table = pa.table({"key": pa.array(keys[ok].astype(str).to_numpy(dtype=object)),
                      "value": pa.array(values[ok].astype(str).to_numpy(dtype=object))})
    grouped = table.group_by("key", use_threads=False).aggregate([("value", "list")])
    joined = pc.binary_join(grouped["value_list"], " | ")
    return pd.Series(joined.to_pylist(), index=grouped["key"].to_pylist(), dtype="str")


def _require_amounts(amount: pd.Series, keep: pd.Series, ids: pd.Series, col: str) -> None:
    gap = amount.isna() & keep
    if gap.any():
        raise CrmDataError(
            f"Column {col!r} (the amount paid) is empty for {int(gap.sum())} paid orders "
            f"({format_examples(ids[gap])}). Fill it in, or map another column with "
            "columns={'amount': '<column>'} (command line: --columns amount=<column>)."
        )



# ----------------------------------------------------------------------------- generic


def _generic_orders(raw: pd.DataFrame, kind: str, columns: dict[str, str], reading: _Reading,
                    notes: list[str]) -> tuple[pd.DataFrame, ValidationReport]:
    """Any table: map the columns, combine line items when there are any, validate."""
    if kind != "parquet":  # parquet keeps its own types; text / Excel are read as text
        raw = _tidy_text(raw)
    frame = _canonical_frame(raw, columns)
    if columns:
        notes = [*notes, "columns mapped: " + ", ".join(f"{k} = {v}" for k, v in columns.items())]
    lines = None  # (ids written from floats, "12346.0", get their integer text back in both)
    if _has_line_items(frame):
        frame, lines = combine_line_items(
            frame, dayfirst=reading.dayfirst, date_format=reading.date_format,
            decimal=reading.decimal, return_report=True)
    if lines is not None and lines.currency is not None and reading.currency is None:
        reading = dataclasses.replace(reading, currency=lines.currency)
    result, report = _validate(frame, reading)
    report = _merged(report, lines, None, n_rows_in=len(raw), notes=notes, result=result)
    return _generic_values(result, report, reading, columns)


#: Optional columns of a generic file read as dates / as numbers when present.
_GENERIC_TIMES = ("created_at", "paid_at")
_GENERIC_NUMBERS = ("quantity", "unit_price")


def _generic_values(orders: pd.DataFrame, report: ValidationReport, reading: _Reading,
                    columns: dict[str, str]) -> tuple[pd.DataFrame, ValidationReport]:
    """``created_at`` / ``paid_at`` read as dates with the options of ``order_date``, and
    ``quantity`` / ``unit_price`` as numbers (``decimal``), when the file has them.

    Cells that are not dates become empty, and the report's warnings count them.
    """
    readings, warnings, out = {}, [], {}
    for name in _GENERIC_TIMES:
        if name not in orders.columns:
            continue
        raw = orders[name]
        header = columns.get(name, name)
        when, how = parse_dates(raw, header, dayfirst=reading.dayfirst,
                                date_format=reading.date_format)
        if how is not None:
            readings[header] = how
        given = raw.notna() & (raw.astype("string").str.strip() != "")
        lost = int((given & when.isna()).sum())
        if lost:
            warnings.append(f"{lost:,} {'value' if lost == 1 else 'values'} of {header!r} not read as "
                            f"dates ({format_examples(raw[given & when.isna()])}); left empty")
        out[name] = when
    for name in _GENERIC_NUMBERS:
        if name in orders.columns and not pd.api.types.is_numeric_dtype(orders[name]):
            out[name] = parse_money(orders[name], columns.get(name, name),
                                    decimal=reading.decimal)[0]
    if not out:
        return orders, report
    report = dataclasses.replace(
        report, date_readings={**report.date_readings, **readings},
        warnings=[*report.warnings, *warnings])
    return orders.assign(**out), report


def _canonical_frame(raw: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """The table with the mapped columns under canonical names (one column may fill two)."""
    if not columns:
        return raw
    missing = [(k, v) for k, v in columns.items() if v not in raw.columns]
    if missing:
        canon, name = missing[0]
        raise CrmDataError(
            f"columns={{{canon!r}: {name!r}}} (command line: --columns {canon}={name}) names a "
            f"column that is not in the file.{closest_column(name, raw.columns)} Columns "
            f"present: {list(map(str, raw.columns))}."
        )
    sources = set(columns.values())
    clashes = [c for c, n in columns.items() if n != c and c in raw.columns and c not in sources]
    if clashes:
        raise CrmDataError(
            f"Mapping would create duplicate column(s) {clashes}: the file already has them. "
            "Map those names too, or rename the existing columns first."
        )
    mapped = {canon: raw[name] for canon, name in columns.items()}
    kept = raw.drop(columns=[n for n in sources if n not in columns])
    return kept.assign(**mapped)


def _has_line_items(frame: pd.DataFrame) -> bool:
    """Several rows per order, reversals, or amounts to compute from quantity x unit_price
    (checked with Arrow: a fraction of a second at millions of rows)."""
    if not {"customer_id", "order_id", "order_date"} <= set(frame.columns):
        return False  # validate_orders names what is missing
    if "amount" not in frame.columns:
        return {"quantity", "unit_price"} <= set(frame.columns)
    ids = frame["order_id"]
    if _has_duplicates(ids if isinstance(ids.dtype, pd.StringDtype) else ids.astype("string")):
        return True
    ids = _arrow_text(frame["order_id"])
    if pc.any(pc.starts_with(ids, REVERSAL_PREFIX)).as_py():
        return True
    for col in ("amount", "quantity"):
        if col not in frame.columns:
            continue
        values = frame[col]
        if pd.api.types.is_numeric_dtype(values):
            if bool((values < 0).any()):
                return True
        elif pc.any(pc.starts_with(pc.utf8_ltrim_whitespace(_arrow_text(values)), "-")).as_py():
            return True
    return False


def _arrow_text(values: pd.Series) -> pa.Array:
    if pd.api.types.is_numeric_dtype(values):
        values = values.astype("string")
    return pa.array(values.astype("string"), type=pa.string(), from_pandas=True)


def _validate(frame: pd.DataFrame, reading: _Reading
              ) -> tuple[pd.DataFrame, ValidationReport]:
    """validate_orders with the user's reading options (statuses kept for include_unpaid)."""
    options = reading.options()
    if reading.currency is not None:
        options["currency"] = reading.currency
    if reading.include_unpaid:
        options["exclude_statuses"] = set()
    return validate_orders(frame, return_report=True, **options)


def _merged(report: ValidationReport, lines: ValidationReport | None,
            platform_excluded: pd.DataFrame | None, *, n_rows_in: int, notes: list[str],
            result: pd.DataFrame) -> ValidationReport:
    """One report: the reader's and the line combiner's exclusions beside validate's."""
    parts = [p for p in (lines.excluded if lines else None, platform_excluded, report.excluded)
             if p is not None and len(p)]
    excluded = pd.concat(parts, ignore_index=True) if parts else report.excluded
    dropped = dropped_customer_ids(excluded, result["customer_id"])
    line_notes = list(lines.notes) if lines else []
    return dataclasses.replace(
        report, n_rows_in=n_rows_in, excluded=excluded, dropped_customers=dropped,
        notes=[*notes, *line_notes, *report.notes],
    )


# --------------------------------------------------------------------------- platforms


def _taobao_orders(t: pd.DataFrame, columns: dict[str, str], reading: _Reading) -> _Platform:
    """Taobao/Tmall export -> orders with canonical columns, exclusion reasons, notes."""
    col = {key: _find(t.columns, aliases) for key, aliases in _TAOBAO.items()}
    line_level = col["parent_id"] is not None or col["line_id"] is not None
    order_col = columns.get("order_id") or col["parent_id"] or col["order_id"]
    customer_col = columns.get("customer_id") or col["customer_id"]
    amount_col = columns.get("amount") or col["amount"]
    if order_col is None:
        raise _missing("Taobao", "order_id", _TAOBAO["parent_id"] + _TAOBAO["order_id"],
                       t.columns)
    if customer_col is None:
        raise _no_buyer(
            "Taobao/Tmall", _TAOBAO["customer_id"], t.columns,
            "export the order report (订单报表) with the buyer fields (买家会员名 or 买家ID) "
            "from the seller center, then read that file.", order_col)
    if amount_col is None:
        raise _missing("Taobao", "amount", _TAOBAO["amount"], t.columns)
    dates = [columns["order_date"]] if "order_date" in columns else [
        c for c in (col["paid_at"], col["created_at"]) if c
    ]
    if not dates:
        raise _missing("Taobao", "order_date", _TAOBAO["paid_at"] + _TAOBAO["created_at"],
                       t.columns)
    order_date = t[dates[0]]
    for fallback in dates[1:]:
        order_date = order_date.fillna(t[fallback])

    status = t[col["status"]] if col["status"] else pd.Series(np.nan, index=t.index, dtype="str")
    paid = _money(t[amount_col], amount_col, reading.decimal)
    refund = pd.Series(0.0, index=t.index)
    if col["refund"]:
        refund = _money(t[col["refund"]], col["refund"], reading.decimal).fillna(0.0)
        if col["refund_status"]:
            done = t[col["refund_status"]].str.contains(_TAOBAO_REFUNDED, na=False)
            refund = refund.where(done, 0.0)
    never_paid = status.isin(_TAOBAO_UNPAID) | ((paid <= _TOLERANCE) & (refund <= _TOLERANCE))
    if col["paid_at"]:
        never_paid = never_paid | t[col["paid_at"]].isna()
    never_paid = never_paid.fillna(False).astype(bool)
    closed = status.isin(_TAOBAO_CLOSED) & ~never_paid
    total = _money(t[col["total"]], col["total"], reading.decimal) if col["total"] else None
    net, money_note = _net_or_gross(paid, refund, total, ~never_paid, amount_col, col)
    amount = paid if net else (paid - refund)
    value = total if total is not None else (
        _money(t[col["payable"]], col["payable"], reading.decimal) if col["payable"] else paid)
    amount = amount.where(~never_paid, value.fillna(paid)).clip(lower=0.0)
    keep = ~(closed | never_paid)
    _require_amounts(amount, keep, t[order_col], amount_col)
    lines = pd.DataFrame(
        {
            "customer_id": t[customer_col],
            "order_id": t[order_col],
            "order_date": order_date,
            "amount": amount,
            "refund": refund,
            "status": status,
        }
    )
    if "margin" in columns:
        lines["margin"] = _money(t[columns["margin"]], columns["margin"], reading.decimal)
    if col["quantity"]:
        lines["quantity"] = pd.to_numeric(t[col["quantity"]], errors="coerce")
    if col["province"]:
        lines["province"] = t[col["province"]]
    elif col["address"]:
        lines["province"] = t[col["address"]].str.split(n=1).str[0].astype("str")
    if col["close_reason"]:
        lines["close_reason"] = t[col["close_reason"]]
    for when in ("created_at", "paid_at"):
        if col[when]:
            lines[when] = t[col[when]]
    notes = [f"order_date is {' else '.join(dates)}", money_note]

    if line_level:
        orders, line_report = _taobao_lines(lines, t, col, keep, never_paid, reading)
        notes.append(f"combined {len(lines)} line items into "
                     f"{len(orders) + len(line_report.excluded)} orders by {order_col}")
        never_paid, closed = orders.pop("_never_paid"), orders.pop("_closed")
    else:
        line_report = None
        orders = lines.assign(product=t[col["product"]]) if col["product"] else lines
    refunded = (orders["refund"] > _TOLERANCE) & (orders["amount"] <= _TOLERANCE)
    reasons = pd.Series(
        np.select(
            [never_paid.to_numpy(dtype=bool), closed.to_numpy(dtype=bool),
             refunded.to_numpy(dtype=bool)],
            [REASON_UNPAID, REASON_CANCELLED, REASON_REFUNDED],
            default="",
        ),
        index=orders.index,
    )
    orders = _platform_times(orders.drop(columns="refund"), reading, col).assign(
        channel="taobao")
    if reading.currency is None:
        notes.append("currency CNY (Taobao/Tmall orders are paid in yuan)")
    return _Platform(orders, reasons, notes, line_report, "CNY")


def _net_or_gross(paid: pd.Series, refund: pd.Series, total: pd.Series | None,
                  paid_rows: pd.Series, amount_col: str, col: dict[str, str | None]
                  ) -> tuple[bool, str]:
    """Whether the paid amount is already net of refunds, decided from the file's rows."""
    refunded = paid_rows & (refund > _TOLERANCE)
    if not col["refund"]:
        return False, f"amount is {amount_col} (the file has no refund column)"
    if not refunded.any():
        return False, f"amount is {amount_col} (no refund in the file)"
    if total is not None:
        rows = paid_rows & total.notna()
        gap = (total[rows] - paid[rows].fillna(0.0) - refund[rows]).abs()
        if len(gap) and (gap <= _CENT + 1e-9).all():
            return True, (f"{amount_col} read as already net of refunds: {col['total']} = "
                          f"{amount_col} + {col['refund']} on every paid row "
                          f"({int(refunded.sum())} refunded)")
        return False, (f"{amount_col} read as paid before refunds, {col['refund']} taken off "
                       f"({col['total']} differs from {amount_col} + {col['refund']} on "
                       f"{int((gap > _CENT + 1e-9).sum())} paid rows)")
    over = refunded & (refund > paid.fillna(0.0) + _CENT)
    if over.any():
        return True, (f"{amount_col} read as already net of refunds: {col['refund']} is larger "
                      f"than {amount_col} on {int(over.sum())} paid rows")
    return False, (f"{amount_col} read as paid before refunds, {col['refund']} taken off "
                   "(the file has no 总金额 column to tell)")


def _taobao_lines(lines: pd.DataFrame, t: pd.DataFrame, col: dict[str, str | None],
                  keep: pd.Series, never_paid: pd.Series, reading: _Reading
                  ) -> tuple[pd.DataFrame, ValidationReport]:
    """Taobao sub-orders -> one row per order (sums over the paid lines that stay open)."""
    summed = [c for c in ("amount", "refund", "margin", "quantity") if c in lines.columns]
    kept_lines = lines.assign(**{c: lines[c].where(keep, 0.0) for c in summed})
    frame = kept_lines.drop(columns=["refund", "status"])
    orders, report = combine_line_items(
        frame, dayfirst=reading.dayfirst, date_format=reading.date_format, return_report=True)
    key = lines["order_id"].astype("string").str.strip()
    groups = pd.DataFrame({
        "refund": kept_lines["refund"], "_n_keep": keep, "_never_paid": never_paid,
        "status": lines["status"].where(keep), "all_status": lines["status"],
    }).groupby(key, sort=False)
    per_order = pd.DataFrame({
        "refund": groups["refund"].sum(),
        "_never_paid": groups["_never_paid"].all(),
        "_closed": groups["_n_keep"].sum() == 0,
        "status": groups["status"].first().fillna(groups["all_status"].first()),
    })
    per_order["_closed"] &= ~per_order["_never_paid"]
    if col["product"]:
        per_order["product"] = _join_by(t[col["product"]].where(keep), key)
    orders = orders.join(per_order, on="order_id")
    if len(report.excluded):
        guests = report.excluded
        report = dataclasses.replace(report, excluded=guests.join(
            per_order[["status"]], on="order_id").assign(channel="taobao"))
    return orders, report


def _shopify_orders(t: pd.DataFrame, columns: dict[str, str], reading: _Reading) -> _Platform:
    """Shopify line-item export -> one row per order, exclusion reasons, notes."""
    col = {key: _find(t.columns, aliases, case=False) for key, aliases in _SHOPIFY.items()}
    order_col = columns.get("order_id") or col["order_id"]
    amount_col = columns.get("amount") or col["amount"]
    if order_col is None:
        raise _missing("Shopify", "order_id", _SHOPIFY["order_id"], t.columns)
    if amount_col is None:
        raise _missing("Shopify", "amount", _SHOPIFY["amount"], t.columns)
    customer_cols = [columns["customer_id"]] if "customer_id" in columns else [
        c for c in (col["customer_id"], col["email"]) if c
    ]
    if not customer_cols:
        raise _no_buyer(
            "Shopify", _SHOPIFY["customer_id"] + _SHOPIFY["email"], t.columns,
            "export the orders again from Shopify admin (Orders > Export), whose file has the "
            "buyer's 'Email'.", order_col)
    date_cols = [columns["order_date"]] if "order_date" in columns else [
        c for c in (col["paid_at"], col["created_at"]) if c
    ]
    if not date_cols:
        raise _missing("Shopify", "order_date", _SHOPIFY["paid_at"] + _SHOPIFY["created_at"],
                       t.columns)
    customer = t[customer_cols[0]]
    if col["email"] and col["email"] in customer_cols:
        emails = t[col["email"]].str.lower()
        customer = emails if customer_cols[0] == col["email"] else customer.fillna(emails)
    when = t[date_cols[0]]
    for extra in date_cols[1:]:
        when = when.fillna(t[extra])
    lines = pd.DataFrame({
        "customer_id": customer,
        "order_id": t[order_col],
        "order_date": when.str.replace(_UTC_OFFSET, "", regex=True),
        "amount": t[amount_col],
    })
    if "margin" in columns:
        lines["margin"] = t[columns["margin"]]
    if col["quantity"]:
        lines["quantity"] = pd.to_numeric(t[col["quantity"]], errors="coerce")
    for extra in ("status", "refund", "cancelled_at", "province", "currency", "created_at",
                  "paid_at"):
        if col[extra]:
            lines[f"_{extra}"] = t[col[extra]]
    orders, line_report = combine_line_items(
        lines, dayfirst=reading.dayfirst, date_format=reading.date_format,
        decimal=reading.decimal, return_report=True)
    if col["product"]:
        orders["product"] = orders["order_id"].map(
            _join_by(t[col["product"]], lines["order_id"].astype("string").str.strip()))

    def field(name: str) -> pd.Series:
        return orders.pop(f"_{name}") if f"_{name}" in orders.columns else pd.Series(
            np.nan, index=orders.index, dtype="str")

    status = field("status").str.lower()
    refund = _money(field("refund"), col["refund"] or "refund", reading.decimal).fillna(0.0)
    cancelled = field("cancelled_at").notna()
    paid_at = field("paid_at")
    net = orders["amount"] - refund
    never_paid = status.isin(_SHOPIFY_UNPAID) | (
        paid_at.isna() & ~status.isin(_SHOPIFY_PAID) if col["paid_at"] else False)
    checks = [
        (never_paid, REASON_UNPAID),
        (cancelled, REASON_CANCELLED),
        (status.isin(_SHOPIFY_REFUNDED), REASON_REFUNDED),
        ((refund > 0) & (net <= _TOLERANCE), REASON_REFUNDED),
    ]
    reasons = pd.Series(
        np.select([np.asarray(c, dtype=bool) for c, _ in checks], [r for _, r in checks], ""),
        index=orders.index,
    )
    _require_amounts(orders["amount"], reasons == "", orders["order_id"], amount_col)
    orders["amount"] = net.clip(lower=0.0)
    orders["status"] = status
    province = field("province")
    if col["province"]:
        orders["province"] = province
    file_currency = _one_currency(field("currency"), reading.currency)
    if file_currency is not None:
        orders["currency"] = file_currency
    if col["created_at"]:
        orders["created_at"] = field("created_at")
    if col["paid_at"]:
        orders["paid_at"] = paid_at
    orders = _platform_times(orders, reading, col).assign(channel="shopify")
    notes = [
        f"combined {len(t)} line-item rows into "
        f"{len(orders) + len(line_report.excluded)} orders by {order_col}",
        f"customer_id is {' else '.join(customer_cols)}; order_date is "
        f"{' else '.join(date_cols)} (shop's local time); amount is {amount_col}"
        + (f" minus {col['refund']}" if col["refund"] else ""),
    ]
    if col["paid_at"]:
        no_time = status.isin(_SHOPIFY_PAID) & paid_at.isna()
        if no_time.any():
            notes.append(f"{int(no_time.sum())} orders with a paid status have no "
                         f"{col['paid_at']}; {col['created_at'] or 'their date'} is used")
    if file_currency is not None and reading.currency is None:
        notes.append(f"currency {file_currency} (from the {col['currency']} column)")
    if len(line_report.excluded):
        line_report = dataclasses.replace(line_report, excluded=line_report.excluded.drop(
            columns=[c for c in line_report.excluded.columns if c.startswith("_")]))
    return _Platform(orders.reset_index(drop=True), reasons.reset_index(drop=True), notes,
                     line_report, file_currency)


def _money(values: pd.Series, col: str, decimal: str | None) -> pd.Series:
    """A platform money column as floats (the reading validate_orders uses for amounts)."""
    return parse_money(values, col, decimal=decimal)[0]


def _one_currency(values: pd.Series, given: str | None) -> str | None:
    """The file's one currency (refusing several), checked against the user's."""
    found = values.dropna().str.strip().str.upper()
    counts = found[found != ""].value_counts()
    if len(counts) > 1:
        listed = ", ".join(f"{code}: {n} orders" for code, n in counts.items())
        raise CrmDataError(
            f"The Currency column holds several currencies ({listed}). Amounts in different "
            "currencies cannot be added up: export one currency per file (or split this one "
            "by its Currency column) and read each file on its own."
        )
    if len(counts) == 0:
        return None
    code = check_currency(str(counts.index[0]), "Currency column")
    if given is not None and given != code:
        raise CrmDataError(
            f"currency={given!r} (command line: --currency {given}) disagrees with the file's "
            f"Currency column ({code}). Leave currency unset to use the file's, or check the "
            "file."
        )
    return code


def _platform_times(orders: pd.DataFrame, reading: _Reading,
                    headers: dict[str, str | None]) -> pd.DataFrame:
    """``created_at`` / ``paid_at`` read as validate_orders reads dates (local wall-clock
    time, one reading per column); ``headers`` names their file columns for messages."""
    out = orders
    for name in ("created_at", "paid_at"):
        if name in out.columns:
            when = parse_dates(out[name], headers.get(name) or name, dayfirst=reading.dayfirst,
                               date_format=reading.date_format)[0]
            out = out.assign(**{name: when})
    return out


def _finish(platform: _Platform, *, n_rows_in: int, notes: list[str], label: str,
            reading: _Reading) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate the kept orders and put the platform's exclusions into the report."""
    orders, reasons = platform.orders, platform.reasons
    notes = [*notes, *platform.notes]
    drop = (reasons != "").to_numpy()
    if reading.include_unpaid:
        returned = reasons.isin(list(_RETURNED_STATUS)).to_numpy()
        if returned.any():
            orders = orders.copy()
            orders.loc[returned, "status"] = reasons[returned].map(_RETURNED_STATUS)
            counts = reasons[returned].map(_RETURNED_STATUS).value_counts()
            notes.append("include_unpaid: also returned " + ", ".join(
                f"{n} orders with status {s!r}" for s, n in counts.items())
                + " (customer analyses leave these statuses out)")
        drop = drop & ~returned
    excluded = orders[drop].assign(reason=reasons[drop])
    kept = orders[~drop].drop(columns="close_reason", errors="ignore")
    if len(kept) == 0:
        parts = [excluded] + ([platform.lines.excluded] if platform.lines else [])
        counts = pd.concat(parts)["reason"].value_counts()
        summary = "; ".join(f"{n} {reason}" for reason, n in counts.items())
        raise CrmDataError(
            f"Every order in the {label} export is excluded ({summary}), so nothing is left "
            "to analyse. Export paid orders (or a longer period) and read the file again"
            " (for payment analyses: include_unpaid=True)."
        )
    if platform.currency is not None and reading.currency is None:
        reading = dataclasses.replace(reading, currency=platform.currency)
    result, report = _validate(kept, reading)
    report = _merged(report, platform.lines, excluded, n_rows_in=n_rows_in, notes=notes,
                     result=result)
    return result, report
