"""Read order files (CSV, Parquet, Excel) and platform exports into canonical orders.

:func:`read_orders` reads a file and returns canonical orders through
:func:`~crm_analytics.orders.validate_orders`, so every source gives the same columns, the
same errors and the same :class:`~crm_analytics.ValidationReport`. Ids are never parsed as
floating-point numbers: text files are read as text, and ids stored as 16+ digit numbers in
Excel or Parquet are refused (their last digits may already be lost).

Platform exports (``source=``, detected from the headers by ``"auto"``):

``"taobao"``
    Taobao/Tmall seller order reports. The classic ``ExportOrderList*.csv`` (one row per
    order: 订单编号, 买家会员名, 买家实际支付金额, 订单状态, 订单付款时间 ...) and the newer
    line-level export (子订单编号 / 主订单编号 / 买家实付金额 / 退款状态 / 退款金额, summed to
    one row per 主订单编号 with successful refunds netted out). GBK/GB18030 or UTF-8 with
    BOM; headers with stray spaces and ``="..."``-wrapped order numbers are handled; columns
    are matched by name (aliases), never by position. ``order_date`` is the payment time
    (订单付款时间), else the creation time. Closed (交易关闭), unpaid (等待买家付款) and fully
    refunded orders are excluded and listed in the report with their reason.
``"shopify"``
    Shopify's orders export (one row per line item, order fields on the first row): one row
    per ``Name``; ``customer_id`` is ``Customer ID`` if the file has it (else the
    lower-cased ``Email``); ``order_date`` is ``Paid at`` (else ``Created at``) in the
    shop's local wall-clock time; ``amount`` is ``Total`` minus ``Refunded Amount``.
    Cancelled, refunded, voided, unpaid (pending/expired) and customer-less (POS walk-in)
    orders are excluded and reported.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from crm_analytics._core.checks import closest_column, format_examples
from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.vocab import ORDER_COLUMNS
from crm_analytics.orders.validate import ValidationReport, _parse_money, validate_orders

__all__ = ["SOURCES", "detect_source", "read_orders"]

#: Values accepted by ``read_orders(source=...)``.
SOURCES = ("auto", "generic", "taobao", "shopify")

_TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
_EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")
_FORMULA_TEXT = r'^="(.*)"$'  # Excel's ="1930679858170647" trick to keep digits as text
_SCIENTIFIC = r"^[+-]?\d(\.\d+)?[eE]\+?\d+$"  # 1.93068E+15: an id Excel already rounded
_UTC_OFFSET = r"\s*(?:[+-]\d{2}:?\d{2}|Z|UTC)$"
_TOLERANCE = 0.005  # money compared to zero, in currency units

#: Taobao/Tmall header aliases, matched after stripping spaces; first match wins.
_TAOBAO: dict[str, tuple[str, ...]] = {
    "order_id": ("订单编号", "订单号"),
    "parent_id": ("主订单编号",),
    "line_id": ("子订单编号",),
    "customer_id": ("买家会员名", "买家昵称", "买家会员ID", "买家ID", "买家账号"),
    "amount": ("买家实际支付金额", "买家实付金额", "实付金额", "实际支付金额", "买家应付货款"),
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
_SHOPIFY_REFUNDED = frozenset({"refunded", "voided"})
_SHOPIFY_UNPAID = frozenset({"pending", "expired"})

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
) -> pd.DataFrame | tuple[pd.DataFrame, ValidationReport]:
    """Read an order file (CSV, Parquet, Excel or a platform export) as canonical orders.

    Parameters
    ----------
    path : str or path-like
        ``.csv`` / ``.tsv`` / ``.txt`` (optionally ``.gz``/``.zip`` compressed), ``.parquet``,
        ``.xlsx`` / ``.xlsm`` (first sheet; ``.xls`` needs ``python-calamine`` or ``xlrd``).
    source : {"auto", "generic", "taobao", "shopify"}, default "auto"
        ``"taobao"``: Taobao/Tmall seller order export; ``"shopify"``: Shopify orders export
        (see the module docstring); ``"generic"``: a table that already has one row per
        order; ``"auto"``: detect from the headers (:func:`detect_source`).
    columns : dict, optional
        Map from canonical name (``customer_id``, ``order_id``, ``order_date``, ``amount``,
        ``margin``) to the column in the file; for platform exports it overrides the
        built-in header aliases, e.g. ``{"customer_id": "买家昵称"}``.
    encoding : str, optional
        Text encoding of CSV files. By default UTF-8 (with or without BOM) is tried, then
        GB18030 (a superset of GBK, the encoding of Excel and Taobao files in China).
    return_report : bool, default False
        Also return the :class:`~crm_analytics.ValidationReport`: how the file was read
        and every excluded order with its reason (closed, unpaid, refunded, cancelled ...).

    Returns
    -------
    pandas.DataFrame
        Canonical orders as from :func:`~crm_analytics.validate_orders`; platform exports
        add ``status``, ``product``, ``quantity``, ``province`` (when the file has them) and
        ``channel`` (``"taobao"`` / ``"shopify"``). With ``return_report=True`` the pair
        ``(orders, report)``; pass both on with ``prepare_orders(orders, report=report)``.

    Raises
    ------
    CrmDataError
        Missing file, unsupported extension, undecodable text, unknown ``source``,
        missing platform columns, ids stored as 16+ digit numbers (or in scientific
        notation), every order excluded, or any error of ``validate_orders``.

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
    >>> print(report.summary())
    2 rows in, 2 orders kept.
    read orders.csv as a generic order file (detected from its headers; utf-8-sig)
    """
    if source not in SOURCES:
        raise CrmDataError(
            f"The 'source' parameter of read_orders must be one of {list(SOURCES)} "
            f"('taobao' also reads Tmall exports). Got {source!r} instead."
        )
    columns = _check_columns(columns)
    file = _check_path(path)
    kind = _file_kind(file)
    raw, used_encoding = _read_raw(file, kind, encoding)
    if len(raw) == 0:
        raise CrmDataError(
            f"{file.name} has a header row but no orders. Check that the export is not empty."
        )
    raw = _clean_headers(raw)
    columns = _match_user_columns(columns, raw.columns)
    detected = _detect(raw.columns) if source == "auto" else source
    how = "detected from its headers" if source == "auto" else "source given"
    notes = [f"read {file.name} as a {detected} order file ({how}; {used_encoding})"]
    mapped_ids = [v for k, v in columns.items() if k in ("customer_id", "order_id")]
    _guard_numeric_ids(raw, [*_ID_HEADERS[detected], *mapped_ids])

    if detected == "generic":
        if kind != "parquet":  # parquet keeps its own types; text / Excel are read as text
            raw = _tidy_text(raw)
        result, report = validate_orders(raw, columns=columns, return_report=True)
        report = dataclasses.replace(report, notes=notes + list(report.notes))
        return (result, report) if return_report else result

    _require_user_columns(columns, raw.columns)
    text = _tidy_text(raw)
    if detected == "taobao":
        orders, reasons, more = _taobao_orders(text, columns)
    else:
        orders, reasons, more = _shopify_orders(text, columns)
    result, report = _finish(orders, reasons, n_rows_in=len(raw), notes=notes + more,
                             label=detected)
    return (result, report) if return_report else result


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
        raise CrmDataError(
            f"No file at {str(file)!r}. Check the path (relative paths start from "
            f"{os.getcwd()!r})."
        )
    if file.is_dir():
        raise CrmDataError(f"{str(file)!r} is a folder; pass the path of the order file in it.")
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
    raise CrmDataError(
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
            raise CrmDataError(
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
        raise CrmDataError(
            f"Could not read {file.name} as a Parquet file ({exc}). Check that the file is "
            "complete, or save the table as CSV."
        ) from exc


def _read_text(file: Path, encoding: str | None, nrows: int | None) -> tuple[pd.DataFrame, str]:
    compressed = file.suffix.lower() in _COMPRESSED
    if encoding is not None:
        candidates = [encoding]
    else:
        with file.open("rb") as handle:
            start = handle.read(2)
        utf16 = not compressed and start in (b"\xff\xfe", b"\xfe\xff")
        candidates = ["utf-16"] if utf16 else ["utf-8-sig", "gb18030"]
    failure: UnicodeError | None = None
    for enc in candidates:
        try:
            sep = "\t" if file.suffix.lower() == ".tsv" else ","
            if not compressed and file.suffix.lower() != ".tsv":
                with file.open(encoding=enc, newline="") as handle:
                    first = handle.readline()
                sep = "\t" if first.count("\t") > first.count(",") else ","
            frame = pd.read_csv(
                file, sep=sep, dtype=str, encoding=enc, nrows=nrows,
                keep_default_na=False, na_values=[""],
            )
            return frame, enc
        except UnicodeError as exc:
            failure = exc
        except LookupError as exc:
            raise CrmDataError(
                f"Unknown encoding {enc!r}. Use a Python codec name such as 'utf-8-sig', "
                "'gb18030' or 'utf-16', or leave encoding=None to detect it."
            ) from exc
        except pd.errors.EmptyDataError as exc:
            raise CrmDataError(
                f"{file.name} is empty (no header row). Export the orders again."
            ) from exc
        except pd.errors.ParserError as exc:
            raise CrmDataError(
                f"{file.name} is not a well-formed CSV file ({exc}). Check the separator and "
                "quoting, or save it again from Excel as 'CSV UTF-8'."
            ) from exc
    tried = " or ".join(candidates)
    fix = (
        "Pass encoding='...' (for example 'gb18030' or 'utf-16') if you know it, or save the "
        "file again as 'CSV UTF-8'."
    )
    if encoding is not None:
        fix = "Leave encoding=None to try UTF-8 and GB18030, or pass the file's real encoding."
    raise CrmDataError(f"Could not decode {file.name} as {tried} ({failure}). {fix}")


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
    unknown = [k for k in columns if k not in ORDER_COLUMNS]
    if unknown:
        raise CrmDataError(
            f"The 'columns' parameter maps canonical names to your column names; "
            f"{unknown} are not canonical names. Use keys from {list(ORDER_COLUMNS)}."
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
                f"columns={{{canon!r}: {name!r}}} names a column that is not in the file."
                f"{closest_column(name, headers)} Columns present: {list(headers)}."
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


def _tidy_text(raw: pd.DataFrame) -> pd.DataFrame:
    """Every column as stripped text, ``="..."`` unwrapped, empty cells missing."""
    out = {}
    for col in raw.columns:
        values = raw[col]
        if not pd.api.types.is_string_dtype(values) or values.dtype == object:
            values = values.map(_cell_text, na_action="ignore").astype("str")
        values = values.str.strip()
        if values.str.startswith("=").any():
            values = values.str.replace(_FORMULA_TEXT, r"\1", regex=True).str.strip()
        out[col] = values.mask(values == "")
    return pd.DataFrame(out, index=raw.index)


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
        f"present: {list(headers)}. Pass columns={{'{what}': '<your column>'}} to name it, "
        "or source='generic' if the file is already one row per order."
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
            "columns={'amount': '<column>'}."
        )


# --------------------------------------------------------------------------- platforms


def _taobao_orders(
    t: pd.DataFrame, columns: dict[str, str]
) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """Taobao/Tmall export -> (orders with canonical columns, exclusion reason, notes)."""
    col = {key: _find(t.columns, aliases) for key, aliases in _TAOBAO.items()}
    line_level = col["parent_id"] is not None or col["line_id"] is not None
    order_col = columns.get("order_id") or col["parent_id"] or col["order_id"]
    customer_col = columns.get("customer_id") or col["customer_id"]
    amount_col = columns.get("amount") or col["amount"]
    for what, name, aliases in (
        ("order_id", order_col, _TAOBAO["parent_id"] + _TAOBAO["order_id"]),
        ("customer_id", customer_col, _TAOBAO["customer_id"]),
        ("amount", amount_col, _TAOBAO["amount"]),
    ):
        if name is None:
            raise _missing("Taobao", what, aliases, t.columns)
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
    closed = status.isin(_TAOBAO_CLOSED)
    unpaid = status.isin(_TAOBAO_UNPAID)
    amount = _parse_money(t[amount_col], amount_col)
    refund = pd.Series(0.0, index=t.index)
    if col["refund"]:
        refund = _parse_money(t[col["refund"]], col["refund"]).fillna(0.0)
        if col["refund_status"]:
            done = t[col["refund_status"]].str.contains(_TAOBAO_REFUNDED, na=False)
            refund = refund.where(done, 0.0)
    keep = ~(closed | unpaid)
    _require_amounts(amount, keep, t[order_col], amount_col)
    lines = pd.DataFrame(
        {
            "customer_id": t[customer_col],
            "order_id": t[order_col],
            "order_date": order_date,
            "amount": amount - refund,
            "refund": refund,
            "status": status,
            "_keep": keep,
            "_unpaid": unpaid,
        }
    )
    if "margin" in columns:
        lines["margin"] = _parse_money(t[columns["margin"]], columns["margin"])
    if col["product"]:
        lines["product"] = t[col["product"]]
    if col["quantity"]:
        lines["quantity"] = pd.to_numeric(t[col["quantity"]], errors="coerce")
    if col["province"]:
        lines["province"] = t[col["province"]]
    elif col["address"]:
        lines["province"] = t[col["address"]].str.split(n=1).str[0].astype("str")
    if col["close_reason"]:
        lines["close_reason"] = t[col["close_reason"]]
    notes = [f"order_date is {' else '.join(dates)}"]

    if line_level:
        orders = _combine_lines(lines)
        notes.append(f"combined {len(lines)} line items into {len(orders)} orders by {order_col}")
        all_unpaid = orders.pop("_all_unpaid")
        n_keep = orders.pop("_n_keep")
        closed, unpaid = (n_keep == 0) & ~all_unpaid, (n_keep == 0) & all_unpaid
    else:
        orders = lines.drop(columns=["_keep", "_unpaid"])
    if col["refund"]:
        notes.append(f"netted refunds ({col['refund']}) out of {amount_col}")
    refunded = (orders["refund"] > 0) & (orders["amount"] <= _TOLERANCE)
    reasons = pd.Series(
        np.select(
            [closed.to_numpy(), unpaid.to_numpy(), refunded.to_numpy()],
            ["closed order (交易关闭)", "unpaid order (等待买家付款)",
             f"fully refunded ({col['refund']} = amount paid)"],
            default="",
        ),
        index=orders.index,
    )
    orders = orders.drop(columns="refund").assign(channel="taobao")
    return orders, reasons, notes


def _combine_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """Taobao line items -> one row per 主订单编号 (sums over paid, not-closed lines)."""
    key = lines["order_id"]
    summed = [c for c in ("amount", "refund", "margin", "quantity") if c in lines.columns]
    lines = lines.assign(**{c: lines[c].where(lines["_keep"], 0.0) for c in summed})
    groups = lines.groupby(key, sort=False, dropna=False)
    spec = {
        "customer_id": ("customer_id", "first"),
        "order_date": ("order_date", "first"),
        "amount": ("amount", "sum"),
        "refund": ("refund", "sum"),
        "_n_keep": ("_keep", "sum"),
        "_all_unpaid": ("_unpaid", "all"),
    }
    for extra, how in (("margin", "sum"), ("quantity", "sum"), ("province", "first"),
                       ("close_reason", "first")):
        if extra in lines.columns:
            spec[extra] = (extra, how)
    orders = groups.agg(**spec)
    kept_status = lines["status"].where(lines["_keep"])
    orders["status"] = kept_status.groupby(key, sort=False, dropna=False).first().fillna(
        groups["status"].first()
    )
    if "product" in lines.columns:
        orders["product"] = _join_by(lines["product"].where(lines["_keep"]), key)
    return orders.rename_axis("order_id").reset_index()


def _shopify_orders(
    t: pd.DataFrame, columns: dict[str, str]
) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """Shopify line-item export -> (one row per order, exclusion reason, notes)."""
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
        raise _missing("Shopify", "customer_id", _SHOPIFY["customer_id"] + _SHOPIFY["email"],
                       t.columns)
    date_cols = [columns["order_date"]] if "order_date" in columns else [
        c for c in (col["paid_at"], col["created_at"]) if c
    ]
    if not date_cols:
        raise _missing("Shopify", "order_date", _SHOPIFY["paid_at"] + _SHOPIFY["created_at"],
                       t.columns)
    order_level = [amount_col, *customer_cols, *date_cols] + [
        col[k] for k in ("status", "refund", "cancelled_at", "province", "currency") if col[k]
    ] + ([columns["margin"]] if "margin" in columns else [])
    order_level = [c for c in dict.fromkeys(order_level) if c != order_col]
    key = t[order_col]
    first = t[order_level].groupby(key, sort=False, dropna=False).first()  # first non-empty
    order_id = pd.Series(first.index, index=first.index)

    customer = first[customer_cols[0]]
    if col["email"] and col["email"] in customer_cols:
        emails = first[col["email"]].str.lower()
        customer = emails if customer_cols[0] == col["email"] else customer.fillna(emails)
    when = first[date_cols[0]]
    for extra in date_cols[1:]:
        when = when.fillna(first[extra])
    total = _parse_money(first[amount_col], amount_col)
    refund = (_parse_money(first[col["refund"]], col["refund"]).fillna(0.0) if col["refund"]
              else pd.Series(0.0, index=first.index))
    status = (first[col["status"]].str.lower() if col["status"]
              else pd.Series(np.nan, index=first.index, dtype="str"))
    cancelled = (first[col["cancelled_at"]].notna() if col["cancelled_at"]
                 else pd.Series(False, index=first.index))
    net = total - refund
    checks = [
        (cancelled, "cancelled order (Cancelled at is set)"),
        (status.isin(_SHOPIFY_REFUNDED), "refunded or voided order (Financial Status)"),
        (status.isin(_SHOPIFY_UNPAID), "unpaid order (Financial Status pending/expired)"),
        ((refund > 0) & (net <= _TOLERANCE), "fully refunded (Refunded Amount = Total)"),
        (customer.isna(), "no customer (no Email or Customer ID, e.g. a walk-in POS sale)"),
    ]
    reasons = pd.Series(
        np.select([c.to_numpy(dtype=bool) for c, _ in checks], [r for _, r in checks], ""),
        index=first.index,
    )
    _require_amounts(total, reasons == "", order_id, amount_col)

    orders = pd.DataFrame(
        {
            "customer_id": customer,
            "order_id": order_id,
            "order_date": when.str.replace(_UTC_OFFSET, "", regex=True),
            "amount": net,
        }
    )
    if "margin" in columns:
        orders["margin"] = _parse_money(first[columns["margin"]], columns["margin"])
    orders["status"] = status
    if col["product"]:
        orders["product"] = _join_by(t[col["product"]], key)
    if col["quantity"]:
        qty = pd.to_numeric(t[col["quantity"]], errors="coerce")
        orders["quantity"] = qty.groupby(key, sort=False, dropna=False).sum().to_numpy()
    for extra in ("province", "currency"):
        if col[extra]:
            orders[extra] = first[col[extra]]
    orders["channel"] = "shopify"
    notes = [
        f"combined {len(t)} line-item rows into {len(orders)} orders by {order_col}",
        f"customer_id is {' else '.join(customer_cols)}; order_date is "
        f"{' else '.join(date_cols)} (shop's local time); amount is {amount_col}"
        + (f" minus {col['refund']}" if col["refund"] else ""),
    ]
    return orders.reset_index(drop=True), reasons.reset_index(drop=True), notes


def _finish(
    orders: pd.DataFrame, reasons: pd.Series, *, n_rows_in: int, notes: list[str], label: str
) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate the kept orders and put the platform's exclusions into the report."""
    drop = (reasons != "").to_numpy()
    excluded = orders[drop].assign(reason=reasons[drop])
    kept = orders[~drop].drop(columns="close_reason", errors="ignore")
    if len(kept) == 0:
        counts = excluded["reason"].value_counts()
        summary = "; ".join(f"{n} {reason}" for reason, n in counts.items())
        raise CrmDataError(
            f"Every order in the {label} export is excluded ({summary}), so nothing is left "
            "to analyse. Export paid orders (or a longer period) and read the file again."
        )
    result, report = validate_orders(kept, return_report=True)
    parts = [p for p in (excluded, report.excluded) if len(p)]
    all_excluded = pd.concat(parts, ignore_index=True) if parts else report.excluded
    dropped: list[str] = []
    if len(all_excluded):
        gone = all_excluded["customer_id"].dropna().astype(str).str.strip()
        dropped = sorted(set(gone) - set(result["customer_id"]))
    return result, dataclasses.replace(
        report,
        n_rows_in=n_rows_in,
        excluded=all_excluded,
        dropped_customers=dropped,
        notes=notes + list(report.notes),
    )
