"""Sleeping-member rules both paths share: thresholds, member status and quality.

Each rule is written once, here, with its NumPy form (used on pandas input and on
tables fetched from an engine) and its SQL form (a ``CASE`` expression generated
from the same bounds, used by :mod:`crm_analytics.sleeping.sql` and the engine
report).

Member status on a day, from ``d`` = days since the last order on or before it:

====================  ==================================================
status                ``d`` at least (the highest bound reached wins)
====================  ==================================================
``active``            0
``pre_sleep``         ``sleep_after - remind_before``
``sleeping``          ``sleep_after``
``given_up``          ``sleep_after + give_up_after`` (when given)
====================  ==================================================

Sleepers contacted ``give_up_contacts`` times since falling asleep are given up too
(that rule needs the campaign table, so it is applied in pandas on both paths).
**Quality**, among the asleep (``sleeping`` and ``given_up``): ``high`` when
``avg_order_value >= aov_threshold`` or ``n_orders >= min_orders``, else ``low``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import pandas as pd

from crm_analytics._core.errors import CrmDataError

__all__ = [
    "ASLEEP_STATUSES",
    "GIVE_UP_REASONS",
    "NEVER",
    "QUALITIES",
    "STATUSES",
    "STATUS_BASE_COLUMNS",
    "check_aov_threshold",
    "check_count",
    "check_sleep",
    "default_aov_threshold",
    "give_up_reason_codes",
    "quality_codes",
    "quality_sql",
    "status_bounds",
    "status_codes",
    "status_sql",
    "status_table",
]

#: "No next order": a day number far beyond any date.
NEVER = np.int64(2**40)

#: Member statuses, from awake to given up (the order of the categorical codes).
STATUSES = ("active", "pre_sleep", "sleeping", "given_up")
#: The statuses of members who are asleep (the ones with a quality).
ASLEEP_STATUSES = ("sleeping", "given_up")
#: Sleeper quality, high first.
QUALITIES = ("high", "low")
#: Why a member is given up: asleep too long, ignored wake-up contacts, or both.
GIVE_UP_REASONS = ("asleep_too_long", "ignored_contacts", "both")


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


def check_aov_threshold(value: object) -> float:
    """``aov_threshold`` as a finite float (the SQL form needs a finite literal)."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok:
        raise CrmDataError(
            "The 'aov_threshold' parameter must be a finite number (an average order "
            f"value), or None for the members' median. Got {value!r} instead."
        )
    return float(value)


def default_aov_threshold(avg_order_value: object) -> float:
    """The default quality threshold: the median average order value of the members.

    Parameters
    ----------
    avg_order_value : array-like or pandas.DataFrame
        The members' average order values, or a table with an ``avg_order_value``
        column (e.g. the output of :func:`crm_analytics.sleeping.member_status`). The
        engine path passes only the one or two middle values, which have the same
        median.

    Returns
    -------
    float

    Examples
    --------
    >>> default_aov_threshold([10.0, 15.0, 80.0, 20.0])
    17.5
    """
    values = getattr(avg_order_value, "columns", None) is not None
    data = avg_order_value["avg_order_value"] if values else avg_order_value
    return float(np.median(np.asarray(data, dtype=float)))


def status_bounds(sleep_after: int, remind_before: int,
                  give_up_after: int | None = None) -> tuple[tuple[str, int], ...]:
    """Each status with the smallest ``days_since_last_order`` it starts at.

    Examples
    --------
    >>> status_bounds(90, 10, 275)
    (('active', 0), ('pre_sleep', 80), ('sleeping', 90), ('given_up', 365))
    """
    bounds = [("active", 0), ("pre_sleep", sleep_after - remind_before),
              ("sleeping", sleep_after)]
    if give_up_after is not None:
        bounds.append(("given_up", sleep_after + give_up_after))
    return tuple(bounds)


def status_codes(days_since_last_order: np.ndarray, *, sleep_after: int, remind_before: int,
                 give_up_after: int | None = None,
                 ignored_contacts: np.ndarray | None = None) -> np.ndarray:
    """Status codes (positions in :data:`STATUSES`) from days since the last order.

    ``ignored_contacts`` (a mask of sleepers who ignored enough wake-up contacts) makes
    those members ``given_up`` too.

    Examples
    --------
    >>> status_codes(np.array([0, 80, 89, 90, 365]), sleep_after=90, remind_before=10,
    ...              give_up_after=275).tolist()
    [0, 1, 1, 2, 3]
    """
    starts = np.array([lo for _, lo in status_bounds(sleep_after, remind_before,
                                                     give_up_after)[1:]])
    codes = np.searchsorted(starts, np.asarray(days_since_last_order), side="right")
    if ignored_contacts is not None:
        codes = np.where(ignored_contacts, STATUSES.index("given_up"), codes)
    return codes.astype(np.int8)


def status_sql(days: str, *, sleep_after: int, remind_before: int,
               give_up_after: int | None = None) -> str:
    """The status as a SQL ``CASE`` over the column ``days`` (days since the last order).

    Examples
    --------
    >>> status_sql("d", sleep_after=90, remind_before=10)
    "CASE WHEN d >= 90 THEN 'sleeping' WHEN d >= 80 THEN 'pre_sleep' ELSE 'active' END"
    """
    bounds = status_bounds(sleep_after, remind_before, give_up_after)
    whens = " ".join(f"WHEN {days} >= {int(lo)} THEN '{name}'" for name, lo in bounds[:0:-1])
    return f"CASE {whens} ELSE '{bounds[0][0]}' END"


def quality_codes(asleep: np.ndarray, avg_order_value: np.ndarray, n_orders: np.ndarray, *,
                  aov_threshold: float, min_orders: int) -> np.ndarray:
    """Quality codes (positions in :data:`QUALITIES`, -1 when not asleep).

    Examples
    --------
    >>> quality_codes(np.array([True, True, False]), np.array([5.0, 50.0, 50.0]),
    ...               np.array([1, 1, 1]), aov_threshold=20.0, min_orders=2).tolist()
    [1, 0, -1]
    """
    high = (avg_order_value >= aov_threshold) | (n_orders >= min_orders)
    return np.where(asleep, np.where(high, 0, 1), -1).astype(np.int8)


def quality_sql(days: str, avg_order_value: str, n_orders: str, *, sleep_after: int,
                aov_threshold: float, min_orders: int) -> str:
    """The quality as a SQL ``CASE`` (NULL when not asleep).

    The threshold is written as a text cast to DOUBLE, so the engine reads exactly the
    float Python holds.

    Examples
    --------
    >>> sql = quality_sql("d", "aov", "n", sleep_after=90, aov_threshold=20.0, min_orders=2)
    >>> sql[:56]
    "CASE WHEN d >= 90 THEN CASE WHEN aov >= CAST('20.0' AS D"
    """
    threshold = f"CAST('{check_aov_threshold(aov_threshold)!r}' AS DOUBLE)"
    high, low = QUALITIES
    return (f"CASE WHEN {days} >= {int(sleep_after)} THEN CASE WHEN {avg_order_value} >= "
            f"{threshold} OR {n_orders} >= {int(min_orders)} THEN '{high}' ELSE '{low}' END END")


def give_up_reason_codes(too_long: np.ndarray, ignored_contacts: np.ndarray) -> np.ndarray:
    """Give-up reason codes (positions in :data:`GIVE_UP_REASONS`, -1 when not given up)."""
    return np.where(too_long & ignored_contacts, 2,
                    np.where(too_long, 0, np.where(ignored_contacts, 1, -1))).astype(np.int8)


#: The summary columns a member status table starts from, in their order.
STATUS_BASE_COLUMNS = ("customer_id", "last_order", "days_since_last_order", "n_orders",
                       "avg_order_value", "total_amount", "first_order")


def status_table(base: pd.DataFrame, *, status: np.ndarray, quality: np.ndarray,
                 give_up_reason: np.ndarray, sleep_after: int) -> pd.DataFrame:
    """The member status table from summary columns and the rule codes (both paths).

    ``base`` holds :data:`STATUS_BASE_COLUMNS`; ``status``, ``quality`` and
    ``give_up_reason`` are codes into :data:`STATUSES`, :data:`QUALITIES` and
    :data:`GIVE_UP_REASONS` (-1: missing).
    """
    out = pd.DataFrame({c: base[c].array for c in STATUS_BASE_COLUMNS})  # a new table
    out.insert(3, "status", pd.Categorical.from_codes(status, categories=list(STATUSES),
                                                      ordered=True))
    out.insert(7, "quality", pd.Categorical.from_codes(quality, categories=list(QUALITIES)))
    out["sleep_date"] = out["last_order"] + pd.Timedelta(days=sleep_after)
    out["give_up_reason"] = pd.Categorical.from_codes(give_up_reason,
                                                      categories=list(GIVE_UP_REASONS))
    return out
