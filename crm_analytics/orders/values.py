"""Reading the values of an order table: dates, money and ids, one reading per column.

Each parser decides how a whole column is written from its values (on the distinct
values, with vectorised regular expressions, so millions of rows cost little), then reads
every value the same way. A column that could be read in two ways is refused with a
message saying how to choose; nothing is guessed silently.

Dates
    ``2024-06-18 20:15`` (year first, also ``2024/6/18`` and ``2024年6月18日``) is ISO.
    ``1/12/2010 8:26`` is day-first when some first field is above 12, month-first when
    some second field is above 12; when no value tells (every first and second field is
    12 or less) the column is refused, as is a column with evidence of both. Times
    without a date (``12:30``) are refused; years outside 1678-2261 are refused.
Money
    Currency signs and words (``¥``, ``$``, ``€``, ``£``, ``RMB``, ``USD`` ...) are read
    as the column's currency and removed; a column mixing currencies is refused. A
    decimal comma is detected from ``1.234,50`` or ``12,50`` (one comma, one or two
    digits after it); a column that cannot tell (only ``1,234``-like values) is refused.
Ids
    Text without surrounding spaces; ids read from a float column keep their integer
    text (``12346``, not ``12346.0``); missing ids and null markers (``N/A``, ``NULL``,
    ``-`` ...) are found by :func:`null_ids`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crm_analytics._core.checks import format_examples
from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.money import CURRENCY_SYMBOLS, check_currency
from crm_analytics._core.vocab import NULL_ID_MARKERS

__all__ = [
    "DATE_READINGS",
    "TRIVIAL_DATE_ROWS",
    "FIRST_YEAR",
    "LAST_YEAR",
    "check_decimal_and_currency",
    "float_text_ids",
    "ids_as_text",
    "null_ids",
    "parse_dates",
    "parse_money",
]

#: Earliest and latest year an order date may have (what a nanosecond timestamp holds).
FIRST_YEAR, LAST_YEAR = 1678, 2261

#: The readings a text date column can get (besides an explicit ``date_format``).
DATE_READINGS = ("ISO", "day-first", "month-first", "text")

#: Columns of at most this many dates are read month-first when the values cannot tell
#: (the reading then says "guessed") instead of being refused.
TRIVIAL_DATE_ROWS = 2

_YMD = r"^(?P<y>\d{4})[-/.年](?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})日?(?P<rest>.*)$"
_DMY = r"^(?P<a>\d{1,2})(?P<sep>[-/.])(?P<b>\d{1,2})[-/.](?P<y>\d{4}|\d{2})(?P<rest>.*)$"
_TIME_ONLY = r"^\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?\s*([AaPp]\.?[Mm]\.?)?$"
# What may follow the date: a time (24 h or with AM/PM), then a UTC offset or zone name,
# which is dropped: each order keeps its own wall-clock time.
_REST = (r"^(?:[T ]+(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?\s*"
         r"(?:(?P<ampm>[AaPp])\.?[Mm]\.?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?|UTC|GMT)?)?\s*$")


# -------------------------------------------------------------------------------- ids
def null_ids(values: pd.Series, stripped: pd.Series | None = None) -> pd.Series:
    """Which ids are missing: NaN/None or a null marker (``N/A``, ``NULL``, ``-``, ``?``,
    ``""`` ..., compared after stripping spaces and lower-casing).

    ``stripped`` is the column as stripped text when already computed.

    Examples
    --------
    >>> null_ids(pd.Series(["a", " N/A ", None, "null", "-", "b"])).tolist()
    [False, True, True, True, True, False]
    """
    text = values.astype("string").str.strip() if stripped is None else stripped
    markers = sorted(NULL_ID_MARKERS)
    longest = max(len(m) for m in markers)
    short = text.str.len() <= longest  # a length check first: a lookup only for short ids
    nulls = values.isna().to_numpy(dtype=bool).copy()
    short_mask = short.fillna(False).to_numpy(dtype=bool)
    if short_mask.any():
        lowered = text[short_mask].str.lower()
        nulls[short_mask] |= lowered.isin(markers).fillna(False).to_numpy(dtype=bool)
    return pd.Series(nulls, index=values.index)


def ids_as_text(values: pd.Series, col: str) -> pd.Series:
    """An id column as text, never through float formatting.

    Floats holding whole numbers keep their integer text (``12346``, not
    ``12346.0``), as do text columns where every value ends in ``.0``; floats with a
    fraction or beyond 2**53 are refused (digits may be lost).

    Examples
    --------
    >>> ids_as_text(pd.Series([12346.0, 7.0]), "customer_id").tolist()
    ['12346', '7']
    >>> ids_as_text(pd.Series(["12346.0", " 8.0"]), "customer_id").tolist()
    ['12346', '8']
    """
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
    return float_text_ids(values.astype(str).str.strip())


def float_text_ids(text: pd.Series) -> pd.Series:
    """Text ids without their ``.0`` when every (non-missing) id is digits + ``.0``: a
    float column turned into text (``"12346.0"``). Other columns are returned as they are.

    >>> float_text_ids(pd.Series(["12346.0", "9.0"])).tolist()
    ['12346', '9']
    >>> float_text_ids(pd.Series(["12346.0", "9.5"])).tolist()
    ['12346.0', '9.5']
    """
    arr = pa.array(text, type=pa.string(), from_pandas=True)
    known = arr.drop_null()
    if len(known) == 0 or not pc.all(pc.ends_with(known, ".0")).as_py():
        return text
    if not pc.all(pc.match_substring_regex(known, r"^-?\d+\.0$")).as_py():
        return text
    return text.str.slice(stop=-2)


# ------------------------------------------------------------------------------ dates
def _days_and_times(year, month, day, hour, minute, second, nanos) -> tuple[np.ndarray, np.ndarray]:
    """datetime64[ns] values from integer fields, and which of them form a real instant
    (month 1-12, a day the month has, hour < 24 ...). Invalid ones are NaT."""
    year = np.asarray(year, dtype=np.int64)
    month = np.asarray(month, dtype=np.int64)
    day = np.asarray(day, dtype=np.int64)
    ok = ((month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
          & (year >= FIRST_YEAR) & (year <= LAST_YEAR)
          & (hour >= 0) & (hour < 24) & (minute >= 0) & (minute < 60)
          & (second >= 0) & (second < 60))
    ym = np.where(ok, (year - 1970) * 12 + month - 1, 0).astype("datetime64[M]")
    days = ym.astype("datetime64[D]") + np.where(ok, day - 1, 0)
    ok &= days.astype("datetime64[M]") == ym  # 31 February is not a day
    stamps = (days.astype("datetime64[ns]") + (hour * 3600 + minute * 60 + second) * 10**9
              + nanos).astype("datetime64[ns]")
    stamps[~ok] = np.datetime64("NaT")
    return stamps, ok


def _ints(column: pa.Array, default: int = 0) -> np.ndarray:
    """Digits (possibly empty or null) as int64, ``default`` where absent."""
    filled = pc.if_else(pc.equal(pc.fill_null(column, ""), ""), str(default), column)
    return pc.cast(filled, pa.int64()).to_numpy(zero_copy_only=False)


def _times(rest: pa.Array) -> tuple[np.ndarray, ...]:
    """(hour, minute, second, nanos, ok) of what follows a date; ok False = not a time."""
    parts = pc.extract_regex(rest, _REST)
    ok = parts.is_valid().to_numpy(zero_copy_only=False)
    field = {name: parts.field(i) for i, name in enumerate(("h", "m", "s", "f", "ampm"))}
    hour, minute, second = _ints(field["h"]), _ints(field["m"]), _ints(field["s"])
    frac = pc.utf8_rpad(pc.fill_null(field["f"], ""), width=9, padding="0")
    nanos = _ints(frac)
    ampm = pc.utf8_lower(pc.fill_null(field["ampm"], "")).to_numpy(zero_copy_only=False)
    has_ampm = ampm != ""
    ok &= ~has_ampm | ((hour >= 1) & (hour <= 12))
    hour = np.where(has_ampm, hour % 12 + np.where(ampm == "p", 12, 0), hour)
    return hour, minute, second, nanos, ok


def _range_error(col: str, bad: pd.Series) -> CrmDataError:
    return CrmDataError(
        f"Column {col!r} has {len(bad)} dates outside the years {FIRST_YEAR}-{LAST_YEAR} "
        f"({format_examples(bad)}), most likely typos. Fix or remove these rows."
    )


def _example_texts(values: np.ndarray, limit: int = 3) -> str:
    return ", ".join(repr(str(v)) for v in values[:limit])


def _suggested_format(example: str, dayfirst: bool) -> str:
    """A strptime format for a day/month/year text like ``1/12/2010 8:26``."""
    m = re.match(_DMY, example)
    if m is None:
        return "%d/%m/%Y" if dayfirst else "%m/%d/%Y"
    sep, year, rest = m.group(2), m.group(4), m.group(5).strip()
    first, second = ("%d", "%m") if dayfirst else ("%m", "%d")
    fmt = f"{first}{sep}{second}{sep}{'%Y' if len(year) == 4 else '%y'}"
    if rest:
        fmt += " %H:%M:%S" if rest.count(":") >= 2 else " %H:%M"
        if re.search(r"[AaPp]\.?[Mm]", rest):
            fmt = fmt.replace("%H", "%I") + " %p"
    return fmt


def _how_to_say(example: str) -> str:
    day_fmt = _suggested_format(example, True)
    month_fmt = _suggested_format(example, False)
    return (
        "Say how to read them: read_orders(..., dayfirst=True) or validate_orders(..., "
        "dayfirst=True) for day/month/year (dayfirst=False for month/day/year), or "
        f"date_format={day_fmt!r} (or {month_fmt!r}); command line: --dayfirst, or "
        f"--date-format '{day_fmt}'."
    )


def parse_dates(
    raw: pd.Series,
    col: str = "order_date",
    *,
    dayfirst: bool | None = None,
    date_format: str | None = None,
) -> tuple[pd.Series, str | None]:
    """Read a date column with one reading for the whole column.

    Parameters
    ----------
    raw : pandas.Series
        Dates as text, datetimes or ``yyyymmdd`` integers.
    col : str
        The column's name, for messages.
    dayfirst : bool, optional
        How ``1/12/2010`` texts are written; by default decided from the values (a
        first field above 12 proves day-first, a second field above 12 month-first).
    date_format : str, optional
        A strptime format (``"%d/%m/%Y %H:%M"``) for every value; wins over everything.

    Returns
    -------
    (pandas.Series, str or None)
        ``datetime64[ns]`` values (NaT where a value is missing or not a date; the caller
        reports them) and the reading taken: ``"ISO"``, ``"day-first"``,
        ``"month-first"``, ``"%Y%m%d"``, ``date_format``, ``"text"`` (month names and
        other written forms), combined with " and " when a column mixes ISO values with
        day/month ones; None for datetime columns.

    Raises
    ------
    CrmDataError
        Day/month order that the values cannot tell or contradict, times without a date,
        dates outside the years 1678-2261, an invalid ``date_format``.

    Examples
    --------
    >>> dates, reading = parse_dates(pd.Series(["1/12/2010 8:26", "13/12/2010 9:00"]))
    >>> dates.dt.strftime("%Y-%m-%d %H:%M").tolist(), reading
    (['2010-12-01 08:26', '2010-12-13 09:00'], 'day-first')
    """
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return _ns(raw.dt.tz_localize(None), raw, col), None
    if pd.api.types.is_datetime64_any_dtype(raw):
        return _ns(raw, raw, col), None
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        return _yyyymmdd(raw, col), "%Y%m%d"
    if date_format is not None:
        return _with_format(raw, col, date_format), date_format
    return _text_dates(raw, col, dayfirst)


def _ns(values: pd.Series, raw: pd.Series, col: str) -> pd.Series:
    try:
        return values.astype("datetime64[ns]")
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
        years = pd.Series([getattr(v, "year", FIRST_YEAR) for v in values], index=raw.index)
        bad = raw[(years < FIRST_YEAR) | (years > LAST_YEAR)]
        raise _range_error(col, bad) from None


def _yyyymmdd(raw: pd.Series, col: str) -> pd.Series:
    # yyyymmdd integers (as in CDNOW) are the only numeric dates accepted.
    number = raw.astype(float).to_numpy()
    whole = np.isfinite(number) & (number % 1 == 0) & (number >= 0) & (number < 1e8)
    n = np.where(whole, number, 0).astype(np.int64)
    year, month, day = n // 10000, n // 100 % 100, n % 100
    zeros = np.zeros(len(n), dtype=np.int64)
    stamps, ok = _days_and_times(year, month, day, zeros, zeros, zeros, zeros)
    shaped = whole & (year >= 1000)
    out_of_range = shaped & ((year < FIRST_YEAR) | (year > LAST_YEAR))
    if out_of_range.any():
        raise _range_error(col, raw[out_of_range])
    stamps[~whole] = np.datetime64("NaT")
    return pd.Series(stamps, index=raw.index)


def _with_format(raw: pd.Series, col: str, date_format: str) -> pd.Series:
    text = raw.astype("string").str.strip()
    try:
        parsed = pd.to_datetime(text, format=date_format, errors="coerce")
    except (ValueError, TypeError) as exc:
        raise CrmDataError(
            f"date_format={date_format!r} is not a usable date format ({exc}). Use strptime "
            "codes such as '%d/%m/%Y %H:%M' (command line: --date-format '%d/%m/%Y %H:%M')."
        ) from exc
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_localize(None)
    try:
        return parsed.astype("datetime64[ns]")
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
        years = parsed.dt.year
        raise _range_error(col, raw[(years < FIRST_YEAR) | (years > LAST_YEAR)]) from None


def _one_chunk(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous Arrow array (text read from large CSV files comes in chunks)."""
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _text_dates(raw: pd.Series, col: str, dayfirst: bool | None
                ) -> tuple[pd.Series, str | None]:
    arr = _one_chunk(pa.array(raw.astype("string").str.strip(), type=pa.string(),
                              from_pandas=True))
    encoded = pc.dictionary_encode(arr)
    distinct = encoded.dictionary  # the distinct texts
    row_valid = encoded.indices.is_valid().to_numpy(zero_copy_only=False)
    codes = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    n = len(distinct)
    counts = np.bincount(codes[row_valid], minlength=n)

    def rows_of(mask: np.ndarray) -> pd.Series:
        """The raw rows whose distinct value is in ``mask`` (over the distinct texts)."""
        return raw[row_valid & mask[codes]]

    readings: list[str] = []
    # Fast path: ISO texts, read by pandas' C parser; the rest by the rules below.
    stamps, iso = _iso_dates(distinct)
    if iso.any():
        readings.append("ISO")
    sub_idx = np.flatnonzero(~iso)
    values = distinct.take(pa.array(sub_idx)) if len(sub_idx) < n else distinct

    def full(mask: np.ndarray) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        out[sub_idx[mask]] = True
        return out

    if len(sub_idx):
        time_only = pc.match_substring_regex(values, _TIME_ONLY).to_numpy(zero_copy_only=False)
        if time_only.any():
            bad = rows_of(full(time_only))
            raise CrmDataError(
                f"Column {col!r} has {len(bad)} times without a date "
                f"({format_examples(bad)}). An order date needs its day, e.g. "
                "'2024-06-18 12:30'; export the full date and time, or map order_date to the "
                "column that has it."
            )
        m = len(sub_idx)
        out_of_range = np.zeros(m, dtype=bool)
        ymd = pc.extract_regex(values, _YMD)
        is_ymd = ymd.is_valid().to_numpy(zero_copy_only=False)
        if is_ymd.any():
            part = ymd.filter(pa.array(is_ymd))
            year = _ints(part.field(0))
            hour, minute, second, nanos, ok = _times(part.field(3))
            got, valid = _days_and_times(year, _ints(part.field(1)), _ints(part.field(2)),
                                         hour, minute, second, nanos)
            got[~(valid & ok)] = np.datetime64("NaT")
            stamps[sub_idx[is_ymd]] = got
            out_of_range[np.flatnonzero(is_ymd)[(year < FIRST_YEAR) | (year > LAST_YEAR)]] = True
            if "ISO" not in readings:
                readings.append("ISO")

        dmy = pc.extract_regex(values, _DMY)
        is_dmy = dmy.is_valid().to_numpy(zero_copy_only=False)
        if is_dmy.any():
            part = dmy.filter(pa.array(is_dmy))
            first, second = _ints(part.field(0)), _ints(part.field(2))
            year_text = part.field(3)
            year = _ints(year_text)
            short = pc.utf8_length(year_text).to_numpy(zero_copy_only=False) == 2
            year = np.where(short, np.where(year < 69, 2000 + year, 1900 + year), year)
            dmy_rows = np.flatnonzero(is_dmy)
            guessed = False
            if dayfirst is None:
                dayfirst, guessed = _decide_day_first(
                    col, values, dmy_rows, first, second, counts[sub_idx],
                    (first > 12) & (second <= 12), (second > 12) & (first <= 12),
                    lambda mask: rows_of(full(mask)),
                )
            day, month = (first, second) if dayfirst else (second, first)
            hour, minute, second_, nanos, ok = _times(part.field(4))
            got, valid = _days_and_times(year, month, day, hour, minute, second_, nanos)
            got[~(valid & ok)] = np.datetime64("NaT")
            stamps[sub_idx[is_dmy]] = got
            out_of_range[dmy_rows[(year < FIRST_YEAR) | (year > LAST_YEAR)]] = True
            readings.append(("day-first" if dayfirst else "month-first")
                            + (" (guessed: too few dates to tell)" if guessed else ""))

        if out_of_range.any():
            raise _range_error(col, rows_of(full(out_of_range)))

        other = ~(is_ymd | is_dmy)
        if other.any():
            rest = values.filter(pa.array(other)).to_pandas()
            parsed = _pandas_dates(rest, bool(dayfirst))
            stamps[sub_idx[other]] = parsed
            if not np.isnat(parsed).all():
                readings.append("text")
            bad_range = _pandas_out_of_range(rest) & np.isnat(parsed)
            if bad_range.any():
                mask = np.zeros(m, dtype=bool)
                mask[np.flatnonzero(other)[bad_range]] = True
                raise _range_error(col, rows_of(full(mask)))

    result = stamps[codes] if n else np.full(len(codes), np.datetime64("NaT"), "datetime64[ns]")
    result[~row_valid] = np.datetime64("NaT")
    return pd.Series(result, index=raw.index), " and ".join(readings) or None


def _iso_dates(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """ISO 8601 texts (``2024-06-18``, ``2024-06-18 20:15:00+08:00`` ...) read by pandas'
    fast parser, wall-clock time kept; which values it read (years 1678-2261 only)."""
    stamps = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
    if len(values) == 0:
        return stamps, np.zeros(0, dtype=bool)
    texts = values.to_pandas()
    looks_iso = texts.str.match(r"\d{4}-\d\d-\d\d").to_numpy(dtype=bool)
    if not looks_iso.any():
        return stamps, np.zeros(len(values), dtype=bool)
    try:
        parsed = pd.to_datetime(texts[looks_iso], format="ISO8601", errors="coerce")
    except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime):
        return stamps, np.zeros(len(values), dtype=bool)  # mixed offsets: the rules below
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_localize(None)
    if not pd.api.types.is_datetime64_any_dtype(parsed):
        return stamps, np.zeros(len(values), dtype=bool)
    years = parsed.dt.year
    good = (parsed.notna() & (years >= FIRST_YEAR) & (years <= LAST_YEAR)).to_numpy(dtype=bool)
    ok = np.zeros(len(values), dtype=bool)
    ok[np.flatnonzero(looks_iso)[good]] = True
    stamps[ok] = parsed[good].to_numpy(dtype="datetime64[ns]")
    return stamps, ok


def _decide_day_first(col, values, dmy_rows, first, second, counts, day_first_proof,
                      month_first_proof, rows_of) -> tuple[bool, bool]:
    """Day-first or month-first for a column's day/month/year texts, or refuse."""
    n = len(values)
    if day_first_proof.any() and month_first_proof.any():
        day_rows = np.zeros(n, dtype=bool)
        day_rows[dmy_rows[day_first_proof]] = True
        month_rows = np.zeros(n, dtype=bool)
        month_rows[dmy_rows[month_first_proof]] = True
        raise CrmDataError(
            f"Column {col!r} mixes two date orders: some dates have a first field above 12 "
            f"(day/month/year: {format_examples(rows_of(day_rows), 3)}) and others a second "
            f"field above 12 (month/day/year: {format_examples(rows_of(month_rows), 3)}). "
            "One column must use one order. Fix the file, or pass date_format= (command "
            "line: --date-format) to read one order; the other dates are then reported."
        )
    if day_first_proof.any():
        return True, False
    if month_first_proof.any():
        return False, False
    ambiguous = (first <= 12) & (second <= 12) & (first != second)
    n_ambiguous = int(counts[dmy_rows[ambiguous]].sum())
    if n_ambiguous == 0:
        return False, False  # 5/5/2024: both readings give the same day
    if int(counts.sum()) <= TRIVIAL_DATE_ROWS:
        return False, True
    examples = np.asarray(values.to_pylist(), dtype=object)[dmy_rows[ambiguous]]
    mask = np.zeros(n, dtype=bool)
    mask[dmy_rows[ambiguous]] = True
    raise CrmDataError(
        f"Column {col!r} has {n_ambiguous} dates whose day and month cannot be told apart "
        f"({format_examples(rows_of(mask), 3)}): every first and second field is 12 or "
        f"less, so {examples[0]!r} could be either. {_how_to_say(str(examples[0]))}"
    )


def _pandas_dates(texts: pd.Series, dayfirst: bool) -> np.ndarray:
    """Written-out dates (``Jan 5, 2024``, ``5 January 2024`` ...) by pandas; NaT where
    not a date. Time zones are dropped (each order keeps its wall-clock time)."""
    try:
        parsed = pd.to_datetime(texts, format="mixed", dayfirst=dayfirst, errors="coerce")
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_localize(None)
        if pd.api.types.is_datetime64_any_dtype(parsed):
            years = parsed.dt.year
            parsed = parsed.where((years >= FIRST_YEAR) & (years <= LAST_YEAR))
            return parsed.to_numpy(dtype="datetime64[ns]")
    except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime):
        pass  # mixed UTC offsets or out-of-range values: one by one
    out = np.full(len(texts), np.datetime64("NaT"), dtype="datetime64[ns]")
    for i, text in enumerate(texts):
        try:
            ts = pd.Timestamp(pd.to_datetime(text, dayfirst=dayfirst))
        except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime):
            continue
        if ts is pd.NaT:
            continue
        if ts.tzinfo is not None:
            ts = ts.tz_localize(None)
        if FIRST_YEAR <= ts.year <= LAST_YEAR:
            out[i] = ts.to_datetime64()
    return out


def _pandas_out_of_range(texts: pd.Series) -> np.ndarray:
    """Texts holding a 4-digit year outside the years a timestamp holds."""
    years = texts.str.extract(r"(?<!\d)(\d{4})(?!\d)", expand=False).astype(float)
    return ((years < FIRST_YEAR) | (years > LAST_YEAR)).fillna(False).to_numpy(dtype=bool)


# ------------------------------------------------------------------------------ money
def _symbol_pattern() -> str:
    keys = sorted(CURRENCY_SYMBOLS, key=len, reverse=True)
    return "(?i)(?P<s>" + "|".join(re.escape(k) for k in keys) + r"|[A-Za-z]{1,3}\$)"


_SYMBOLS = _symbol_pattern()
_SPACES = "[\\s\u00a0\u2009\u202f']"
# Evidence of the decimal separator, on a number without currency signs and spaces.
_COMMA_DECIMAL = r"^[+-]?(\d{1,3}(\.\d{3})+,\d+|\d+,\d{1,2}|\d{1,3}(\.\d{3}){2,})$"
_DOT_DECIMAL = r"^[+-]?(\d{1,3}(,\d{3})+\.\d+|\d*\.\d{1,2}|\d*\.\d{4,}|\d{1,3}(,\d{3}){2,})$"
_AMBIGUOUS = r"^[+-]?[1-9]\d{0,2}[.,]\d{3}$"


def parse_money(
    raw: pd.Series,
    col: str = "amount",
    *,
    decimal: str | None = None,
) -> tuple[pd.Series, str | None]:
    """Read a money column as floats, and the currency its cells show.

    Parameters
    ----------
    raw : pandas.Series
        Numbers, or texts such as ``"¥1,299.00"``, ``"12,50 €"``, ``"$5"``.
    col : str
        The column's name, for messages.
    decimal : {None, ".", ","}
        The decimal separator; by default decided from the values (``1.234,50`` or
        ``12,50`` mean a decimal comma).

    Returns
    -------
    (pandas.Series, str or None)
        Float amounts (NaN where missing) and the ISO code of the currency the cells
        show (None when no cell shows one).

    Raises
    ------
    CrmDataError
        Values that are not numbers, currencies mixed in one column, a decimal separator
        the values cannot tell or contradict.

    Examples
    --------
    >>> values, currency = parse_money(pd.Series(["€12,50", "€1.234,50", "€3"]))
    >>> values.tolist(), currency
    ([12.5, 1234.5, 3.0], 'EUR')
    """
    if decimal not in (None, ".", ","):
        raise CrmDataError(
            f"The 'decimal' parameter is '.' or ',' (command line: --decimal ,); got "
            f"{decimal!r}."
        )
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        return raw.astype(float), None
    arr = _one_chunk(pa.array(raw.astype("string").str.strip(), type=pa.string(),
                              from_pandas=True))
    encoded = pc.dictionary_encode(arr)
    values = encoded.dictionary
    row_valid = encoded.indices.is_valid().to_numpy(zero_copy_only=False)
    codes = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)

    def rows_of(mask: np.ndarray) -> pd.Series:
        return raw[row_valid & mask[codes]]

    currency = _cell_currency(values, col, rows_of)
    bare = pc.replace_substring_regex(values, _SYMBOLS, "") if currency is not None else values
    bare = pc.replace_substring_regex(bare, _SPACES, "")
    if decimal is None:
        decimal = _decide_decimal(col, bare, rows_of)
    if decimal == ",":
        number = pc.replace_substring(pc.replace_substring(bare, ".", ""), ",", ".")
    else:
        number = pc.replace_substring(bare, ",", "")
    parsed = pd.to_numeric(number.to_pandas(), errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(parsed)
    if bad.any():
        bad_rows = rows_of(bad)
        raise CrmDataError(
            f"Column {col!r} has {len(bad_rows)} values that are not numbers "
            f"({format_examples(bad_rows)}). Use plain numbers such as 129.90 (currency signs "
            "and thousands separators are removed for you); fix or remove these rows."
        )
    out = parsed[codes] if len(parsed) else np.full(len(codes), np.nan)
    out[~row_valid] = np.nan
    return pd.Series(out, index=raw.index), currency


def _cell_currency(values: pa.Array, col: str, rows_of) -> str | None:
    """The one currency the cells show, or None; refuse a mix (or an unknown dollar)."""
    marked = pc.extract_regex(values, _SYMBOLS)
    found = marked.is_valid().to_numpy(zero_copy_only=False)
    if not found.any():
        return None
    signs = pc.utf8_upper(marked.field("s")).to_pylist()
    lookup = {k.upper(): v for k, v in CURRENCY_SYMBOLS.items()}
    codes = np.array([lookup.get(s, "?" + s) if f else "" for s, f in zip(signs, found, strict=True)],
                     dtype=object)
    kinds = sorted(set(codes[found]))
    unknown = [k for k in kinds if k.startswith("?")]
    if unknown:
        mask = np.isin(codes, unknown)
        raise CrmDataError(
            f"Column {col!r} shows a currency sign this package does not know "
            f"({format_examples(rows_of(mask), 3)}). Remove the sign and say the currency "
            "with currency='CAD' (any ISO code; command line: --currency CAD)."
        )
    if len(kinds) > 1:
        parts = []
        for kind in kinds:
            parts.append(f"{kind} ({format_examples(rows_of(codes == kind), 2)})")
        raise CrmDataError(
            f"Column {col!r} mixes currencies: {'; '.join(parts)}. Amounts in different "
            "currencies cannot be added up; split the file by currency or convert the "
            "amounts to one currency first."
        )
    return kinds[0]


def _decide_decimal(col: str, bare: pa.Array, rows_of) -> str:
    """The decimal separator the values show: ``","`` or ``"."``; refuse when unclear."""
    comma = pc.match_substring_regex(bare, _COMMA_DECIMAL).to_numpy(zero_copy_only=False)
    dot = pc.match_substring_regex(bare, _DOT_DECIMAL).to_numpy(zero_copy_only=False)
    if comma.any() and dot.any():
        raise CrmDataError(
            f"Column {col!r} mixes decimal commas ({format_examples(rows_of(comma), 3)}) and "
            f"decimal points ({format_examples(rows_of(dot), 3)}). Write every amount the "
            "same way, or say which is the decimal separator with decimal=',' or "
            "decimal='.' (command line: --decimal , or --decimal .)."
        )
    if comma.any():
        return ","
    if dot.any():
        return "."
    ambiguous = pc.match_substring_regex(bare, _AMBIGUOUS).to_numpy(zero_copy_only=False)
    if ambiguous.any():
        raise CrmDataError(
            f"Column {col!r} has amounts such as {format_examples(rows_of(ambiguous), 3)} "
            "that read differently with a decimal comma (1,234 = 1.234) and with a "
            "thousands comma (1,234 = 1234), and no value tells which. Say it: "
            "decimal=',' or decimal='.' (command line: --decimal , or --decimal .)."
        )
    return "."


def check_decimal_and_currency(decimal: object, currency: object
                               ) -> tuple[str | None, str | None]:
    """The ``decimal`` and ``currency`` parameters checked (currency as an ISO code).

    >>> check_decimal_and_currency(",", "eur")
    (',', 'EUR')
    """
    if decimal not in (None, ".", ","):
        raise CrmDataError(
            f"The 'decimal' parameter is '.' or ',' (command line: --decimal ,); got "
            f"{decimal!r}."
        )
    return decimal, check_currency(currency)
