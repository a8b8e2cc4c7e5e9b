"""Lifecycle and KPI-board rules both paths share: periods, stages, the board.

Both the pandas path and the SQL path (:mod:`crm_analytics.membership.sql`) reduce the
orders to small per-(customer, period) *cells* (first and last purchase day in the
period, purchase days, orders, revenue) or to per-period sums; everything after that,
the stage of every customer in every period and every KPI, is computed here, once, in
numpy.

Periods are calendar weeks (Monday first), months, quarters or years, numbered since
1970 as in :mod:`crm_analytics.cohorts.rules` (years: months // 12).
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from crm_analytics._core.dates import dates_from_days
from crm_analytics._core.errors import CrmDataError
from crm_analytics.cohorts.rules import period_index, period_sql, period_start

__all__ = [
    "FREQS",
    "NOT_YET",
    "REPEAT_MIN_ORDERS",
    "STAGES",
    "board_table",
    "check_freq",
    "check_stage_days",
    "first_slots",
    "period_days",
    "period_number",
    "period_number_sql",
    "period_starts",
    "stage_matrix",
]

#: Calendar periods: pandas-style alias -> name used in labels.
FREQS = {"W": "week", "M": "month", "Q": "quarter", "Y": "year"}

#: Lifecycle stages, in the order charts stack them. Codes are positions in this tuple.
STAGES = ("new", "won_back", "repeat_active", "one_time_active", "sleeping", "lost")
_NEW, _WON, _REPEAT, _ONE, _SLEEP, _LOST = range(len(STAGES))
#: Stage code of a customer who has not ordered yet.
NOT_YET = -1

#: A repeat customer of a period has at least this many orders in it (KPI board).
REPEAT_MIN_ORDERS = 2

_NO_DAY = np.iinfo(np.int32).min // 2


def check_freq(freq: object, name: str = "freq") -> str:
    """A period alias of :data:`FREQS`, or a :class:`CrmDataError` naming the parameter."""
    if not isinstance(freq, str) or freq not in FREQS:
        raise CrmDataError(
            f"The {name!r} parameter must be one of {list(FREQS)} (calendar week starting "
            f"Monday, month, quarter or year). Got {freq!r} instead."
        )
    return freq


def check_stage_days(sleep_after: object, lost_after: object) -> tuple[int, int]:
    """``sleep_after < lost_after``, both whole days >= 1."""
    for name, value in (("sleep_after", sleep_after), ("lost_after", lost_after)):
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if not ok or value < 1:
            raise CrmDataError(
                f"The {name!r} parameter must be a whole number of days >= 1. "
                f"Got {value!r} instead."
            )
    if lost_after <= sleep_after:
        raise CrmDataError(
            f"lost_after ({lost_after}) must be larger than sleep_after ({sleep_after}): a "
            "customer sleeps first and is lost later."
        )
    return int(sleep_after), int(lost_after)


def period_number(days: np.ndarray, freq: str) -> np.ndarray:
    """Calendar period number of each day number (days since 1970-01-01)."""
    days = np.asarray(days, dtype=np.int64)
    if freq == "Y":
        return period_index(days, "M") // 12
    return period_index(days, freq)


def period_starts(numbers_: np.ndarray, freq: str) -> np.ndarray:
    """Day number of the first day of each period number."""
    numbers_ = np.asarray(numbers_, dtype=np.int64)
    if freq == "Y":
        return period_start(numbers_ * 12, "M")
    return period_start(numbers_, freq)


def period_days(first: int, last: int, freq: str, as_of_day: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start day, end day (capped at ``as_of_day``) and completeness of periods
    ``first..last``."""
    nums = np.arange(first, last + 1, dtype=np.int64)
    start = period_starts(nums, freq)
    full_end = period_starts(nums + 1, freq) - 1
    return start, np.minimum(full_end, as_of_day), full_end <= as_of_day


def period_number_sql(day: str, date: str, freq: str) -> str:
    """:func:`period_number` as SQL, from a day-number and a DATE expression of one day.

    Examples
    --------
    >>> period_number_sql("d", "dt", "Y")
    '(YEAR(dt) - 1970)'
    """
    if freq == "Y":
        return f"(YEAR({date}) - 1970)"
    return period_sql(day, date, freq)


def first_slots(cell_code: np.ndarray, cell_p: np.ndarray, n_customers: int) -> np.ndarray:
    """Each customer's first period slot with a purchase, from the purchase cells."""
    first = np.full(n_customers, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, cell_code, np.asarray(cell_p, dtype=np.int64))
    return first


def stage_matrix(cell_code: np.ndarray, cell_p: np.ndarray, first_in: np.ndarray,
                 last_in: np.ndarray, n_days: np.ndarray, *, n_customers: int,
                 end_day: np.ndarray, sleep_after: int, lost_after: int) -> np.ndarray:
    """Stage code of every customer (rows) in every period (columns).

    The cells are the (customer code, period slot) pairs with a purchase, unique, in any
    order, with the first and last purchase day in the period and the number of
    purchase days (only whether it is 1 or more matters). ``end_day`` is the day each period is judged at (its last
    day, or ``as_of`` for the period holding it). The rules:

    - not yet a customer (:data:`NOT_YET`) before the first purchase;
    - ``new`` in the period of the first purchase;
    - ``won_back`` when the first purchase in the period came more than ``sleep_after``
      days after the previous purchase;
    - otherwise, by the days from the last purchase to the period's end: ``lost`` above
      ``lost_after``, ``sleeping`` above ``sleep_after``, else ``repeat_active`` with
      purchases on two or more days so far, ``one_time_active`` with one.
    """
    n_periods = len(end_day)
    shape = (n_customers, n_periods)
    flat = np.asarray(cell_code, dtype=np.int64) * n_periods + cell_p
    last = np.full(shape, _NO_DAY, dtype=np.int32)
    last.ravel()[flat] = last_in
    np.maximum.accumulate(last, axis=1, out=last)
    count = np.zeros(shape, dtype=np.int16 if n_periods < 1000 else np.int32)
    count.ravel()[flat] = np.minimum(n_days, 2)
    np.cumsum(count, axis=1, out=count)
    # cells: the first purchase period is new; a late return is won back
    first_cell = cell_p == first_slots(cell_code, cell_p, n_customers)[cell_code]
    later = ~first_cell
    prev_last = last[cell_code[later], cell_p[later] - 1]
    won = first_in[later] - prev_last > sleep_after
    # by purchase days so far (0, 1, 2+) and days since the last (active, asleep, lost):
    # one lookup instead of masked assignments (fast at millions of cells)
    gap = np.subtract(np.asarray(end_day, dtype=np.int32)[None, :], last, out=last)
    asleep = (gap > sleep_after).view(np.int8)
    asleep += (gap > lost_after).view(np.int8)
    np.minimum(count, 2, out=count)  # purchase days so far, 2 meaning two or more
    key = count.astype(np.int8)
    key *= 3
    key += asleep
    lookup = np.array([NOT_YET, NOT_YET, NOT_YET, _ONE, _SLEEP, _LOST, _REPEAT, _SLEEP, _LOST],
                      dtype=np.int8)
    stage = lookup[key]
    stage[cell_code[first_cell], cell_p[first_cell]] = _NEW
    stage[cell_code[later][won], cell_p[later][won]] = _WON
    return stage


#: Columns of the per-period sums :func:`board_table` reads (both paths compute them).
SUM_COLUMNS = ("customers", "orders", "revenue", "repeat_customers", "repeat_orders",
               "repeat_revenue")
#: Board columns whose ``_change`` is a difference (rates and shares); the others get a
#: relative change.
_DIFF_COLUMNS = ("repurchase_rate", "repeat_revenue_share", "member_gmv_share")


def board_table(sums: pd.DataFrame, *, freq: str, as_of_day: int,
                group: str | None = None) -> pd.DataFrame:
    """The KPI board from per-period sums (one rule for the pandas and SQL paths).

    ``sums`` has ``p`` (period number), :data:`SUM_COLUMNS`, optionally
    ``members``/``member_revenue`` and the ``group`` column; missing periods between
    the first and the last are filled with zeros. ``_change`` columns compare with the
    previous period of the same group: a relative change (``x / previous - 1``) for
    counts, money and averages, a difference for rates and shares.
    """
    has_members = "members" in sums.columns
    keys = [group] if group else []
    parts = []
    for key, part in (sums.groupby(keys, sort=False) if keys else [(None, sums)]):
        part = part.set_index("p").sort_index()
        first, last = int(part.index.min()), int(part.index.max())
        part = part.reindex(np.arange(first, last + 1), fill_value=0)
        start, end, complete = period_days(first, last, freq, as_of_day)
        c, o, r = (part[k].to_numpy(dtype=float) for k in ("customers", "orders", "revenue"))
        rc = part["repeat_customers"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = {
                "period": dates_from_days(start),
                "customers": part["customers"].to_numpy(dtype=np.int64),
                "orders": part["orders"].to_numpy(dtype=np.int64),
                "revenue": r,
                "aov": r / o,
                "repurchase_rate": rc / c,
                "orders_per_repeat_customer": part["repeat_orders"].to_numpy(dtype=float) / rc,
                "repeat_revenue_share": part["repeat_revenue"].to_numpy(dtype=float) / r,
            }
            if has_members:
                m = part["members"].to_numpy(dtype=float)
                mr = part["member_revenue"].to_numpy(dtype=float)
                length = (end - start + 1).astype(float)
                out["members"] = part["members"].to_numpy(dtype=np.int64)
                out["member_revenue"] = mr
                out["member_gmv_share"] = mr / r
                out["revenue_per_member_year"] = mr / m * 365.0 / length
        table = pd.DataFrame(out)
        for col in list(out)[1:]:
            prev = table[col].shift(1)
            with np.errstate(divide="ignore", invalid="ignore"):
                change = (table[col] - prev if col in _DIFF_COLUMNS
                          else table[col] / prev - 1)
            table[f"{col}_change"] = change.replace([np.inf, -np.inf], np.nan)
        table["days"] = (end - start + 1).astype(np.int64)
        table["complete"] = complete
        if keys:
            table.insert(0, group, key[0] if isinstance(key, tuple) else key)
        parts.append(table)
    return pd.concat(parts, ignore_index=True)
