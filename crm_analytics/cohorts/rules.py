"""Cohort rules both paths share: the calendar periods and their numbering.

A period number counts calendar weeks (Monday first), months or quarters since
1970; the SQL path computes the same numbers (see :mod:`crm_analytics.cohorts.sql`).
"""

from __future__ import annotations

import numpy as np

from crm_analytics._core.errors import CrmDataError

__all__ = ["COHORT_PERIODS", "HOWS", "check_how", "check_period", "period_index", "period_start"]

#: Cohort periods: pandas-style alias -> name used in labels.
COHORT_PERIODS = {"W": "week", "M": "month", "Q": "quarter"}
HOWS = ("on", "cumulative")


def check_period(period: object) -> str:
    if not isinstance(period, str) or period not in COHORT_PERIODS:
        raise CrmDataError(
            f"The 'period' parameter must be one of {list(COHORT_PERIODS)} (calendar week "
            f"starting Monday, month or quarter). Got {period!r} instead."
        )
    return period


def check_how(how: object) -> str:
    if not isinstance(how, str) or how not in HOWS:
        raise CrmDataError(
            f"The 'how' parameter must be 'on' (a repeat order in period k) or "
            f"'cumulative' (a repeat order in any period up to k). Got {how!r} instead."
        )
    return how


def period_index(days: np.ndarray, period: str) -> np.ndarray:
    """Calendar period number of each day number (days since 1970-01-01)."""
    if period == "W":
        return (days + 3) // 7  # 1970-01-01 is a Thursday; weeks start on Monday
    if len(days) == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = int(days.min()), int(days.max())
    if hi - lo + 1 < len(days):  # calendar maths once per distinct day, then a lookup
        return period_index(np.arange(lo, hi + 1), period)[days - lo]
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return months if period == "M" else months // 3


def period_start(index: np.ndarray, period: str) -> np.ndarray:
    """Day number of the first day of each calendar period number."""
    if period == "W":
        return index * 7 - 3
    months = index if period == "M" else index * 3
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
