"""Sleeping-member rules both paths share: the thresholds and the "no next order" day."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from crm_analytics._core.errors import CrmDataError

__all__ = ["NEVER", "check_count", "check_sleep"]

#: "No next order": a day number far beyond any date.
NEVER = np.int64(2**40)


def check_count(value: object, name: str, minimum: int, unit: str = " of days") -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise CrmDataError(
            f"The {name!r} parameter must be a whole number{unit} >= {minimum}. "
            f"Got {value!r} instead."
        )
    return int(value)


def check_sleep(sleep_after: object, remind_before: object) -> tuple[int, int]:
    s = check_count(sleep_after, "sleep_after", 1)
    r = check_count(remind_before, "remind_before", 0)
    if r >= s:
        raise CrmDataError(
            f"The 'remind_before' parameter must be smaller than sleep_after={s} (the "
            f"reminder goes out before falling asleep). Got {r} instead."
        )
    return s, r
