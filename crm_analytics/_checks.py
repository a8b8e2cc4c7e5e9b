"""Shared input checks and the package's one exception family.

Every public entry point validates its inputs here, then trusts them. Messages say
what failed, where (column, how many rows, up to five examples) and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

import pandas as pd

__all__ = ["CrmDataError"]

#: Time units accepted for recency / T: number of days in one unit.
TIME_UNIT_DAYS = {"D": 1.0, "W": 7.0}


class CrmDataError(ValueError):
    """Raised when input data cannot be used as given.

    A ``ValueError`` subclass, so ``except ValueError`` still catches it. The message
    names the column, the number of affected rows, shows up to five examples and says
    how to fix the data.
    """


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


def check_time_unit(time_unit: str) -> float:
    """Return days per unit for ``time_unit`` or raise."""
    if time_unit not in TIME_UNIT_DAYS:
        raise CrmDataError(
            f"The 'time_unit' parameter must be one of {sorted(TIME_UNIT_DAYS)} "
            f"(days or weeks). Got {time_unit!r} instead."
        )
    return TIME_UNIT_DAYS[time_unit]


def to_day(value: object, name: str) -> pd.Timestamp:
    """Parse a date-like parameter to a midnight ``Timestamp`` or raise naming it."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise CrmDataError(
            f"The {name!r} parameter must be a date such as '2024-06-30'. Got {value!r}."
        ) from exc
    if ts is pd.NaT:
        raise CrmDataError(f"The {name!r} parameter must be a date. Got {value!r}.")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return ts.normalize()


def iso_day(value: object) -> str | None:
    """A date as an ISO string (``"2025-12-31"``) for ``DataFrame.attrs``.

    pandas writes ``attrs`` into Parquet files as JSON, so dates there are kept as
    strings; read them back with ``pd.Timestamp(df.attrs["as_of"])``.
    """
    if value is None or value is pd.NaT:
        return None
    ts = pd.Timestamp(value)
    return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()


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
