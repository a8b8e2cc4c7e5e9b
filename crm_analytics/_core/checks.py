"""Shared input checks.

Every public entry point validates its inputs here, then trusts them. Messages say
what failed, where (column, how many rows, up to five examples) and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

import pandas as pd

from crm_analytics._core.errors import CrmDataError

__all__ = [
    "check_fraction",
    "check_positive",
    "closest_column",
    "format_examples",
    "require_columns",
    "require_dataframe",
]


def format_examples(values: pd.Series, limit: int = 5) -> str:
    """Show up to ``limit`` examples of a Series as ``row <label>: <value>``."""
    shown = [f"row {idx}: {val!r}" for idx, val in values.head(limit).items()]
    more = len(values) - len(shown)
    text = "; ".join(shown)
    return text + (f"; ... and {more} more" if more > 0 else "")


def closest_column(name: str, candidates: Iterable[object], aliases: Sequence[str] = ()) -> str:
    """A hint naming the existing column closest to ``name`` (or nothing)."""
    cols = [str(c) for c in candidates]
    lowered = {c.strip().lower(): c for c in cols}
    for alias in aliases:
        if alias.lower() in lowered:
            return f" The closest existing column is {lowered[alias.lower()]!r}."
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.5)
    if match:
        return f" The closest existing column is {lowered[match[0]]!r}."
    return ""


def require_dataframe(obj: object, name: str = "orders") -> pd.DataFrame:
    """Raise a clear error unless ``obj`` is a pandas DataFrame."""
    if not isinstance(obj, pd.DataFrame):
        raise CrmDataError(
            f"{name} must be a pandas DataFrame; got {type(obj).__name__}. "
            "Load your file with crm_analytics.read_orders(path) or pandas first."
        )
    return obj


def require_columns(df: pd.DataFrame, required: Sequence[str], what: str) -> None:
    """Raise naming every missing column and the closest existing one."""
    missing = [c for c in required if c not in df.columns]
    if missing:
        hints = "".join(closest_column(c, df.columns) for c in missing)
        raise CrmDataError(
            f"{what} is missing column(s) {missing}; it has {list(map(str, df.columns))}."
            f"{hints} Rename them, or pass the output of the function that makes {what}."
        )


def check_positive(value: float, name: str, *, allow_zero: bool = False) -> None:
    """Raise unless ``value`` is a positive (or non-negative) number."""
    ok = value >= 0 if allow_zero else value > 0
    if not ok:
        bound = "[0, inf)" if allow_zero else "(0, inf)"
        raise CrmDataError(
            f"The {name!r} parameter must be a number in the range {bound}. Got {value!r}."
        )


def check_fraction(value: float, name: str) -> None:
    """Raise unless ``0 < value < 1``."""
    if not 0 < value < 1:
        raise CrmDataError(
            f"The {name!r} parameter must be strictly between 0 and 1. Got {value!r}."
        )
