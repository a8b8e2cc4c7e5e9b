"""Write customer segments to CSV for SMS/email tools and for Excel users.

Files are UTF-8 with a byte-order mark (``utf-8-sig``), so Excel shows Chinese
segment names correctly, and hold every customer exactly once.

Long numeric ids and Excel
--------------------------
Excel turns a 16-digit member id such as ``1930679858170647`` into ``1.93068E+15``
and keeps only 15 significant digits; ids with leading zeros lose them. Two ways out:

- Default (``excel_safe_ids=False``): ids are written as plain text, exactly as they
  are. Machine readers (messaging tools, ``pandas.read_csv(path, dtype={"customer_id":
  str})``, :func:`read_segments`) get the exact ids. Excel users should open the file
  with *Data > From Text/CSV* and set the ``customer_id`` column type to *Text* instead
  of double-clicking it.
- ``excel_safe_ids=True``: each id is written as the formula text ``="1930679858170647"``
  (the form Taobao uses in its own order exports). A double-click in Excel shows the
  exact id as text, and ids starting with ``=``, ``+``, ``-`` or ``@`` can no longer be
  run as formulas. Other programs see the ``="..."`` wrapper and must strip it
  (:func:`read_segments` does). Use this for files meant for people, not for upload.

Formula (CSV) injection
-----------------------
Customer ids are often chosen by buyers (nicknames, e-mails). A text cell starting with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return (``=HYPERLINK("http://...")``,
``+cmd|' /C calc'!A0``, ``@SUM(1)``) would run as a formula in a spreadsheet, so by
default such cells, in every text column, are written with a single quote in front
(the OWASP advice; numbers, such as negative amounts, are untouched).
:func:`read_segments` removes that quote again, so it gives back the exact ids.
``neutralise_formulas=False`` writes every cell as it is, for programs only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from crm_analytics._core.checks import format_examples, require_columns
from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.frames import (
    ENCODING,
    join_extra,
    unneutralise_text,
    write_excel_csv,
)
from crm_analytics.segments.kmeans import SegmentationResult
from crm_analytics.segments.rfm import RfmSegmentation
from crm_analytics.segments.rules import SEGMENT_COLUMNS

__all__ = ["export_segments", "read_segments"]

_EXCEL_ID = re.compile(r'^="(.*)"$', flags=re.DOTALL)
_UNSAFE_NAME = re.compile(r"[^0-9A-Za-z_\-]+")


def _segment_frame(result_or_frame: object) -> pd.DataFrame:
    if isinstance(result_or_frame, SegmentationResult | RfmSegmentation):
        return result_or_frame.assignments
    if isinstance(result_or_frame, pd.DataFrame):
        require_columns(result_or_frame, ["customer_id", "segment"], "the segment table")
        return result_or_frame
    raise CrmDataError(
        "export_segments needs a SegmentationResult (from kmeans_segments), an "
        "RfmSegmentation (from rfm_segments) or a DataFrame with customer_id and segment "
        "columns. Got "
        f"{type(result_or_frame).__name__}."
    )


def _file_part(value: object) -> str:
    text = _UNSAFE_NAME.sub("_", str(value)).strip("_")
    return text or "segment"


def export_segments(
    result_or_frame: SegmentationResult | RfmSegmentation | pd.DataFrame,
    path: str | Path,
    *,
    extra: pd.DataFrame | Sequence[pd.DataFrame] | None = None,
    columns: Sequence[str] | None = None,
    excel_safe_ids: bool = False,
    split_by_segment: bool = False,
    float_format: str | None = None,
    neutralise_formulas: bool = True,
) -> Path | list[Path]:
    """Write one row per customer with segment id, names and key RFM/churn/LTV columns.

    Parameters
    ----------
    result_or_frame : SegmentationResult, RfmSegmentation or pandas.DataFrame
        :func:`~crm_analytics.segments.kmeans_segments` or
        :func:`~crm_analytics.segments.rfm_segments` result (its ``assignments``), or
        a table with ``customer_id`` and ``segment``. Not modified.
    path : str or Path
        CSV file to write (parent folders are created).
    extra : DataFrame or list of DataFrame, optional
        Per-customer tables joined on ``customer_id``, e.g. ``[summary, churn_scores,
        ltv]``. Columns already present are kept from the first table that has them;
        customers absent from a table get empty cells; customers only in ``extra`` are
        not added.
    columns : sequence of str, optional
        Columns to write besides ``customer_id`` and the segment columns (which always
        come first). Default: all columns.
    excel_safe_ids : bool, default False
        Write ids as ``="<id>"`` so Excel keeps long numeric ids exact (see the module
        docstring for the trade-off). Default: plain ids, best for machine readers.
    split_by_segment : bool, default False
        Also write one file per segment, ``<stem>_<segment>.csv`` next to ``path``.
    float_format : str, optional
        Passed to :meth:`pandas.DataFrame.to_csv`, e.g. ``"%.2f"``.
    neutralise_formulas : bool, default True
        Write text cells that a spreadsheet would run as formulas (starting with ``=``,
        ``+``, ``-``, ``@``, tab or carriage return) with a single quote in front; see
        the module docstring. False writes the raw values (for programs, not people).

    Returns
    -------
    Path or list of Path
        The file written; with ``split_by_segment`` the list ``[path, *segment
        files]`` in segment order.

    Raises
    ------
    CrmDataError
        Wrong input type, missing ``customer_id``/``segment``, empty or duplicate
        customer ids (in the input or an ``extra`` table), unknown ``columns``.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> seg = pd.DataFrame({"customer_id": ["1930679858170647", "007"],
    ...     "segment": [1, 2], "segment_name": ["champions / 冠军客户", "at risk / 有流失风险"]})
    >>> out = export_segments(seg, pathlib.Path(tempfile.mkdtemp()) / "segments.csv")
    >>> back = pd.read_csv(out, dtype={"customer_id": str}, encoding="utf-8-sig")
    >>> back["customer_id"].tolist(), back["segment_name"].tolist()
    (['1930679858170647', '007'], ['champions / 冠军客户', 'at risk / 有流失风险'])
    """
    frame = _segment_frame(result_or_frame)
    if len(frame) == 0:
        raise CrmDataError("The segment table is empty (0 customers); nothing to export.")
    raw_ids = frame["customer_id"]
    null = raw_ids.isna() | (raw_ids.astype(str).str.strip() == "")
    if null.any():
        raise CrmDataError(
            f"Column 'customer_id' is empty in {int(null.sum())} of {len(frame)} rows "
            f"({format_examples(raw_ids[null])}). Every exported row needs an id."
        )
    ids = raw_ids.astype(str)
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise CrmDataError(
            f"The segment table has {int(dup.sum())} rows sharing {ids[dup].nunique()} "
            f"customer_id values ({format_examples(ids[dup])}). Each customer must appear "
            "exactly once in an export: drop the duplicates first."
        )
    out = frame.reset_index(drop=True).assign(customer_id=ids.array)  # no Python objects
    out = join_extra(out, extra)
    first = ["customer_id"] + [c for c in SEGMENT_COLUMNS if c in out.columns]
    if columns is None:
        rest = [c for c in out.columns if c not in first]
    else:
        if isinstance(columns, str):
            columns = [columns]
        missing = [c for c in columns if c not in out.columns]
        if missing:
            raise CrmDataError(
                f"columns={list(columns)} names {missing}, not in the segment table or the "
                f"extra tables. Available: {list(map(str, out.columns))}."
            )
        rest = [c for c in columns if c not in first]
    out = out[first + rest]
    if excel_safe_ids:
        out = out.assign(
            customer_id='="' + out["customer_id"].str.replace('"', '""', regex=False) + '"'
        )

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # the ="<id>" wrapper is an inert formula (a text literal): written as it is
    wrapped = ("customer_id",) if excel_safe_ids else ()

    def write(frame: pd.DataFrame, file: Path) -> None:
        write_excel_csv(frame, file, float_format=float_format,
                        neutralise_formulas=neutralise_formulas, formula_columns=wrapped)

    write(out, target)
    if not split_by_segment:
        return target
    written = [target]
    seg = out["segment"]
    values = pd.unique(seg.dropna())
    try:
        values = np.sort(values)
    except TypeError:
        pass
    names: dict[str, object] = {}
    for value in values:
        part = _file_part(value)
        while part in names:
            part += "_"
        names[part] = value
        file = target.with_name(f"{target.stem}_{part}.csv")
        write(out[seg == value], file)
        written.append(file)
    if seg.isna().any():
        file = target.with_name(f"{target.stem}_unassigned.csv")
        write(out[seg.isna()], file)
        written.append(file)
    return written


def read_segments(path: str | Path, *, neutralise_formulas: bool = True) -> pd.DataFrame:
    '''Read a file written by :func:`export_segments` back, ids and texts exact.

    ``customer_id`` is read as text, the ``="..."`` Excel wrapper of
    ``excel_safe_ids=True`` is removed, and so is the quote put in front of text cells
    that would otherwise run as formulas.

    Parameters
    ----------
    path : str or Path
        A CSV file written by :func:`export_segments`.
    neutralise_formulas : bool, default True
        As given to :func:`export_segments`: True removes the added quotes; False reads
        every cell as it is.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> seg = pd.DataFrame({"customer_id": ["1930679858170647"], "segment": [1]})
    >>> f = export_segments(seg, pathlib.Path(tempfile.mkdtemp()) / "s.csv",
    ...                     excel_safe_ids=True)
    >>> f.read_text(encoding="utf-8-sig").splitlines()[1]
    '"=""1930679858170647""",1'
    >>> read_segments(f)["customer_id"].tolist()
    ['1930679858170647']
    >>> seg = pd.DataFrame({"customer_id": ["=HYPERLINK(1)", "@SUM(1)"], "segment": [1, 2]})
    >>> f = export_segments(seg, pathlib.Path(tempfile.mkdtemp()) / "s.csv")
    >>> print(f.read_text(encoding="utf-8-sig"), end="")
    "customer_id","segment"
    "'=HYPERLINK(1)",1
    "'@SUM(1)",2
    >>> read_segments(f)["customer_id"].tolist()
    ['=HYPERLINK(1)', '@SUM(1)']
    '''
    table = pd.read_csv(path, dtype={"customer_id": str}, encoding=ENCODING,
                        keep_default_na=False, na_values=[""])
    wrapped = None
    if "customer_id" in table.columns:
        ids = table["customer_id"].astype(str)
        wrapped = ids.str.match(_EXCEL_ID)
        table["customer_id"] = ids.str.replace(_EXCEL_ID, r"\1", regex=True).str.replace(
            '""', '"', regex=False
        ).where(wrapped, ids)
    if not neutralise_formulas:
        return table
    for j, name in enumerate(table.columns):
        col = table.iloc[:, j]
        fixed = unneutralise_text(col)
        if name == "customer_id" and wrapped is not None and wrapped.any():
            fixed = col.where(wrapped, fixed)  # ids inside ="..." had no quote added
        if fixed is not col:
            table.isetitem(j, fixed)
    table.columns = unneutralise_text(pd.Series(list(table.columns), dtype=object)).tolist()
    return table
