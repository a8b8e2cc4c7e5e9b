"""Dates: day numbers, the as-of day and time units, one rule for every analysis.

Inside the package a calendar day is often handled as its *day number*, the number of
days since 1970-01-01 (:data:`EPOCH`), in numpy and in SQL alike, so no timezone or
timestamp unit can shift a date between the pandas and the engine paths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.errors import CrmDataError

__all__ = ["EPOCH", "TIME_UNIT_DAYS", "check_time_unit", "dates_from_days", "day_number", "iso_day", "to_day"]

#: Day number 0.
EPOCH = np.datetime64("1970-01-01", "D")

#: Time units accepted for recency / T: number of days in one unit.
TIME_UNIT_DAYS = {"D": 1.0, "W": 7.0}


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
    """A date as ISO text (``"2025-12-31"``; with the time when it is not midnight).

    >>> iso_day(pd.Timestamp("2025-12-31")), iso_day(None)
    ('2025-12-31', None)
    """
    if value is None or value is pd.NaT:
        return None
    ts = pd.Timestamp(value)
    return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()


def day_number(ts: pd.Timestamp) -> int:
    """The day number (days since 1970-01-01) of a timestamp's calendar day.

    >>> day_number(pd.Timestamp("1970-01-11 13:00"))
    10
    """
    return int((pd.Timestamp(ts).to_datetime64().astype("datetime64[D]") - EPOCH).astype(np.int64))


def dates_from_days(day_numbers) -> np.ndarray:
    """Midnight ``datetime64[ns]`` values of day numbers.

    >>> dates_from_days([0, 31])
    array(['1970-01-01T00:00:00.000000000', '1970-02-01T00:00:00.000000000'],
          dtype='datetime64[ns]')
    """
    return (np.asarray(day_numbers, dtype=np.int64) + EPOCH).astype("datetime64[ns]")
