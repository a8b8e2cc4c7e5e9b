"""Tables in and out: the per-customer left join and the one Excel-safe CSV writer.

Every CSV meant for people is UTF-8 with a byte-order mark, so Excel opens Chinese text
correctly; :func:`write_excel_csv` and :func:`prepend_bom` are the only places that
write one.

Formula (CSV) injection
-----------------------
A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
run as a formula when a spreadsheet opens the file (customer ids are chosen by buyers:
``=HYPERLINK("http://...")``, ``+cmd|' /C calc'!A0``). Following the OWASP advice,
:func:`write_excel_csv` writes such text cells with a single quote in front, which
spreadsheets show as text. Numbers are not text: a negative amount in a numeric column
is written as the number it is. The rule is :data:`FORMULA_PATTERN`: text cells that
start with any number of single quotes and then a trigger character get one more
quote, so :func:`unneutralise_text` (one quote less on the same cells) gives back the
exact original text. :func:`neutralise_formulas_sql` is the same rule in SQL, for
files an engine writes.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Collection
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from crm_analytics._core.checks import format_examples, require_columns, require_dataframe
from crm_analytics._core.errors import CrmDataError

__all__ = [
    "BOM",
    "ENCODING",
    "arrow_table",
    "as_frames",
    "check_unique_ids",
    "FORMULA_PATTERN",
    "FORMULA_TRIGGERS",
    "join_extra",
    "neutralise_formulas_sql",
    "neutralise_text",
    "prepend_bom",
    "same_ids",
    "unneutralise_text",
    "write_excel_csv",
]

#: Encoding of every CSV meant for Excel users.
ENCODING = "utf-8-sig"
BOM = "\ufeff".encode()

#: First characters that make a spreadsheet read a text cell as a formula (OWASP).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_TRIGGER_CLASS = "[" + "".join("\\" + c if c in "-]\\^" else c for c in FORMULA_TRIGGERS) + "]"
#: Text cells written with one more leading quote: any quotes, then a trigger character.
FORMULA_PATTERN = "^'*" + _TRIGGER_CLASS
_QUOTED_PATTERN = "^'+" + _TRIGGER_CLASS  # cells written with a quote added


def as_frames(extra: object) -> list[pd.DataFrame]:
    if extra is None:
        return []
    if isinstance(extra, pd.DataFrame):
        return [extra]
    if isinstance(extra, (list, tuple)):
        return list(extra)
    raise CrmDataError(
        f"The 'extra' parameter must be a DataFrame or a list of DataFrames keyed by "
        f"customer_id. Got {type(extra).__name__} instead."
    )


def check_unique_ids(ids: pd.Series, what: str) -> None:
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise CrmDataError(
            f"{what} has {int(dup.sum())} rows sharing {ids[dup].nunique()} customer_id "
            f"values ({format_examples(ids[dup])}). One row per customer is expected: "
            "drop or aggregate the duplicates first."
        )


def same_ids(a: pd.Series, b: pd.Series) -> bool:
    """Whether two id columns hold the same values in the same order (Arrow: no hashing)."""
    if len(a) != len(b):
        return False
    pa_a = getattr(a.array, "_pa_array", None)
    pa_b = getattr(b.array, "_pa_array", None)
    if pa_a is not None and pa_b is not None and pa_a.type == pa_b.type:
        return bool(pa_a.equals(pa_b))
    return bool(np.array_equal(a.to_numpy(), b.to_numpy()))


def join_extra(frame: pd.DataFrame, extra: object, what: str = "extra") -> pd.DataFrame:
    """Left-join per-customer tables onto ``frame`` by ``customer_id`` (ids as text).

    Columns already present (in ``frame`` or an earlier table) are kept from the first
    table that has them; later tables only add new columns. Customers missing from a
    table get NaN there. Raises on duplicate ids or a missing ``customer_id``.
    """
    out = frame
    ids = frame["customer_id"].astype(str)
    ids_unique = False  # known once an extra table with exactly these ids was checked
    for i, table in enumerate(as_frames(extra)):
        name = f"{what}[{i}]"
        require_dataframe(table, name)
        require_columns(table, ["customer_id"], name)
        t_ids = table["customer_id"].astype(str)
        same = same_ids(t_ids, ids)  # the same customers in the same order
        if not (same and ids_unique):
            check_unique_ids(t_ids, name)
        ids_unique = ids_unique or same
        new = [c for c in table.columns if c not in out.columns]
        if not new:
            continue
        if same:
            pos = np.arange(len(ids))
        else:
            pos = pd.Index(t_ids).get_indexer(ids)
        add = table[new].iloc[np.where(pos < 0, 0, pos)].reset_index(drop=True)
        add.index = out.index
        if (pos < 0).any():
            add = add.where(pd.Series(pos >= 0, index=out.index), axis=0)
        out = pd.concat([out, add], axis=1)
    return out


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table; day-only timestamps become dates ("2025-11-11").

    Dates are converted from the integer day numbers (missing days stay empty), never
    through a Python ``date`` object per row.
    """
    cols = {}
    for name in frame.columns:
        col = frame[name]
        if isinstance(col.dtype, pd.DatetimeTZDtype):  # rare: the local wall-clock day
            known = col.dropna()
            day_only = bool((known.dt.normalize() == known).all())
            col = col.dt.date if day_only else col.astype("datetime64[s]")
        elif pd.api.types.is_datetime64_any_dtype(col):
            stamps = col.to_numpy(dtype="datetime64[ns]")
            missing = np.isnat(stamps)
            days = stamps.astype("datetime64[D]")
            if (days[~missing] == stamps[~missing]).all():  # day-only
                col = pa.array(days, mask=missing)
            else:
                col = pa.array(stamps.astype("datetime64[s]"), mask=missing)
        cols[str(name)] = col
    arrays = [c if isinstance(c, pa.Array) else pa.Array.from_pandas(c) for c in cols.values()]
    return pa.Table.from_arrays(arrays, names=list(cols))


def _text_mask(values: pd.Series, pattern: str) -> np.ndarray:
    """Whether each cell is text matching ``pattern`` (False for numbers and missing)."""
    if isinstance(values.dtype, pd.StringDtype):
        return values.str.contains(pattern, regex=True, na=False).to_numpy(dtype=bool)
    if values.dtype != object:
        return np.zeros(len(values), dtype=bool)
    rx = re.compile(pattern)
    return np.fromiter((isinstance(v, str) and rx.match(v) is not None for v in values),
                       dtype=bool, count=len(values))


def _requote(values: pd.Series, pattern: str, add: bool) -> pd.Series:
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = _requote(pd.Series(values.cat.categories), pattern, add)
        if cats is values.cat.categories:
            return values
        return values.cat.rename_categories(cats.tolist())
    mask = _text_mask(values, pattern)
    if not mask.any():
        return values
    out = values.copy()
    hit = values[mask]
    out[mask] = ("'" + hit) if add else hit.str.slice(1)
    return out


def neutralise_text(values: pd.Series) -> pd.Series:
    """Text cells a spreadsheet would run as formulas, with a single quote in front.

    Text starting with any number of single quotes and then ``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return gets one more quote (see the module docstring);
    numbers, missing values and other text are unchanged. Returns a new Series (the
    same object when nothing changes); the input is not modified.

    Examples
    --------
    >>> import pandas as pd
    >>> neutralise_text(pd.Series(["=1+1", "@SUM(1)", "ann", "'=x", "-3"])).tolist()
    ["'=1+1", "'@SUM(1)", 'ann', "''=x", "'-3"]
    >>> neutralise_text(pd.Series([-3.5, 2.0])).tolist()
    [-3.5, 2.0]
    """
    return _requote(values, FORMULA_PATTERN, add=True)


def unneutralise_text(values: pd.Series) -> pd.Series:
    """The original text of cells written by :func:`neutralise_text` (one quote less).

    Examples
    --------
    >>> import pandas as pd
    >>> unneutralise_text(pd.Series(["'=1+1", "''=x", "'ann", "ann"])).tolist()
    ['=1+1', "'=x", "'ann", 'ann']
    """
    return _requote(values, _QUOTED_PATTERN, add=False)


def _neutralise_names(names: list) -> list:
    return [neutralise_text(pd.Series([n], dtype=object)).iloc[0] for n in names]


def _neutralise_frame(frame: pd.DataFrame, keep: Collection[str]) -> pd.DataFrame:
    out = None
    for j, name in enumerate(frame.columns):
        col = frame.iloc[:, j]
        fixed = col if name in keep else neutralise_text(col)
        if fixed is not col:
            out = frame.copy(deep=False) if out is None else out
            out.isetitem(j, fixed)
    names = _neutralise_names(list(frame.columns))
    if names != list(frame.columns):
        out = frame.copy(deep=False) if out is None else out
        out.columns = names
    return frame if out is None else out


def _neutralise_array(arr: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(arr.type):
        fixed = _neutralise_array(arr.dictionary)
        if fixed is arr.dictionary:
            return arr
        return pa.DictionaryArray.from_arrays(arr.indices, fixed)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return arr
    mask = pc.fill_null(pc.match_substring_regex(arr, FORMULA_PATTERN), False)
    if not pc.any(mask).as_py():
        return arr
    quoted = pc.binary_join_element_wise(pa.scalar("'", arr.type), arr,
                                         pa.scalar("", arr.type))
    return pc.if_else(mask, quoted, arr)


def _neutralise_table(table: pa.Table, keep: Collection[str]) -> pa.Table:
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if name not in keep:
            chunks = [_neutralise_array(c) for c in column.chunks]
            column = pa.chunked_array(chunks, type=chunks[0].type if chunks else column.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, names=_neutralise_names(table.column_names))


def write_excel_csv(frame: pd.DataFrame, path: Path, *, float_format: str | None = None,
                    neutralise_formulas: bool = True,
                    formula_columns: Collection[str] = ()) -> None:
    """Write a UTF-8-with-BOM CSV (Excel shows Chinese text); Arrow's writer unless
    formatting floats (Arrow is about 10x faster than pandas).

    Both writers produce the same cells: shortest round-trip floats, empty for missing
    (pandas ends rows with CRLF, Arrow with LF; both quote cells holding line breaks).

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; not modified.
    path : Path
        The file to write.
    float_format : str, optional
        Passed to :meth:`pandas.DataFrame.to_csv` (then pandas writes the file).
    neutralise_formulas : bool, default True
        Write text cells (and headers) that a spreadsheet would run as formulas with a
        single quote in front (see the module docstring and :func:`neutralise_text`).
        False writes every cell exactly as it is: only for files read by programs.
    formula_columns : collection of str, default ()
        Columns that hold deliberate, inert formulas (the ``="<id>"`` form of Excel-safe
        ids), written unchanged.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> write_excel_csv(pd.DataFrame({"id": ["=1+1", "ann"], "amount": [-5.0, 2.5]}), f)
    >>> print(f.read_text(encoding="utf-8-sig"), end="")
    "id","amount"
    "'=1+1",-5
    "ann",2.5
    """
    if float_format is None:
        try:
            table = arrow_table(frame)
        except (pa.ArrowException, TypeError, ValueError):
            table = None
        if table is not None:
            if neutralise_formulas:
                table = _neutralise_table(table, formula_columns)
            with open(path, "wb") as handle:
                handle.write(BOM)
                pa_csv.write_csv(table, handle, pa_csv.WriteOptions(quoting_style="needed"))
            return
    if neutralise_formulas:
        frame = _neutralise_frame(frame, formula_columns)
    # CRLF rows: Python's csv module quotes a cell holding a carriage return only when
    # the line terminator has one, and an unquoted one splits the row in Excel
    frame.to_csv(path, index=False, encoding=ENCODING, float_format=float_format,
                 lineterminator="\r\n")


def neutralise_formulas_sql(expr: str) -> str:
    """SQL (DuckDB and Spark) for :func:`neutralise_text` of one text expression.

    For CSV files an engine writes: select ``neutralise_formulas_sql("customer_id")``
    ``AS customer_id`` for every text column meant for people.

    Examples
    --------
    >>> import duckdb
    >>> sql = neutralise_formulas_sql("x")
    >>> rows = duckdb.sql(f"SELECT {sql} FROM (VALUES ('=1+1'), ('ann'), ('''-2')) t(x)")
    >>> [r[0] for r in rows.fetchall()]
    ["'=1+1", 'ann', "''-2"]
    """
    quote = "CHR(39)"  # no quote characters inside SQL literals: both dialects agree
    first = f"SUBSTR(REGEXP_REPLACE({expr}, CONCAT('^', {quote}, '+'), ''), 1, 1)"
    triggers = ", ".join(f"CHR({ord(c)})" for c in FORMULA_TRIGGERS)
    return f"CASE WHEN {first} IN ({triggers}) THEN CONCAT({quote}, {expr}) ELSE {expr} END"


def prepend_bom(plain: Path, target: Path) -> None:
    """``target`` = UTF-8 byte-order mark + ``plain`` (streamed), then ``plain`` removed.

    For CSV files written by an engine (DuckDB, Spark), which write no BOM.
    """
    with open(target, "wb") as out, open(plain, "rb") as src:
        out.write(BOM)
        shutil.copyfileobj(src, out, length=1 << 22)
    plain.unlink()
