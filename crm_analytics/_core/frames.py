"""Tables in and out: the per-customer left join and the one Excel-safe CSV writer.

Every CSV meant for people is UTF-8 with a byte-order mark, so Excel opens Chinese text
correctly; :func:`write_excel_csv` and :func:`prepend_bom` are the only places that
write one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from crm_analytics._core.checks import format_examples, require_columns, require_dataframe
from crm_analytics._core.errors import CrmDataError

__all__ = [
    "BOM",
    "ENCODING",
    "arrow_table",
    "as_frames",
    "check_unique_ids",
    "join_extra",
    "prepend_bom",
    "same_ids",
    "write_excel_csv",
]

#: Encoding of every CSV meant for Excel users.
ENCODING = "utf-8-sig"
BOM = "\ufeff".encode()


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


def write_excel_csv(frame: pd.DataFrame, path: Path, *, float_format: str | None = None) -> None:
    """Write a UTF-8-with-BOM CSV (Excel shows Chinese text); Arrow's writer unless
    formatting floats (Arrow is about 10x faster than pandas).

    Both writers produce the same cells: shortest round-trip floats, empty for missing.
    """
    if float_format is None:
        try:
            table = arrow_table(frame)
        except (pa.ArrowException, TypeError, ValueError):
            table = None
        if table is not None:
            with open(path, "wb") as handle:
                handle.write(BOM)
                pa_csv.write_csv(table, handle, pa_csv.WriteOptions(quoting_style="needed"))
            return
    frame.to_csv(path, index=False, encoding=ENCODING, float_format=float_format)


def prepend_bom(plain: Path, target: Path) -> None:
    """``target`` = UTF-8 byte-order mark + ``plain`` (streamed), then ``plain`` removed.

    For CSV files written by an engine (DuckDB, Spark), which write no BOM.
    """
    with open(target, "wb") as out, open(plain, "rb") as src:
        out.write(BOM)
        shutil.copyfileobj(src, out, length=1 << 22)
    plain.unlink()
