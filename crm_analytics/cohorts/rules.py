"""Cohort rules both paths share: the calendar periods, their numbering and the grid.

A period number counts calendar weeks (Monday first), months or quarters since
1970; the SQL path computes the same numbers (see :mod:`crm_analytics.cohorts.sql`).
The cohort x period-index grid (which cells exist, which are complete) and the
finished tables are built here, once, from counts that either path computes: the
pandas path with ``np.bincount`` on the orders, the SQL path with ``GROUP BY``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics._core.dates import dates_from_days
from crm_analytics._core.errors import CrmDataError

__all__ = [
    "COHORT_PERIODS",
    "HOWS",
    "CohortGrid",
    "check_how",
    "check_period",
    "cohort_grid",
    "period_index",
    "period_sql",
    "period_start",
    "repurchase_table",
    "revenue_table",
]

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


def period_sql(day: str, date: str, period: str) -> str:
    """:func:`period_index` as SQL, from a day-number and a DATE expression of one day.

    Examples
    --------
    >>> period_sql("d", "dt", "W")
    'CAST(FLOOR((d + 3) / 7.0) AS BIGINT)'
    """
    if period == "W":  # 1970-01-01 is a Thursday; weeks start on Monday
        return f"CAST(FLOOR(({day} + 3) / 7.0) AS BIGINT)"
    months = f"((YEAR({date}) - 1970) * 12 + MONTH({date}) - 1)"
    return months if period == "M" else f"CAST(FLOOR({months} / 3.0) AS BIGINT)"


def period_start(index: np.ndarray, period: str) -> np.ndarray:
    """Day number of the first day of each calendar period number."""
    if period == "W":
        return index * 7 - 3
    months = index if period == "M" else index * 3
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


# --------------------------------------------------------------------------- the grid
@dataclass(frozen=True, eq=False)
class CohortGrid:
    """The cohort x period-index grid from the first cohort to the period of ``as_of``.

    Counts live in flat arrays of ``width * width`` cells, cell ``slot * width + k``
    for cohort slot ``slot`` (0 = the first cohort, calendar period :attr:`first`)
    and period index ``k``.

    Attributes
    ----------
    period : str
        ``"W"``, ``"M"`` or ``"Q"``.
    first : int
        Calendar period number of slot 0.
    width : int
        Number of cohort slots, and of period indices.
    size : numpy.ndarray
        Customers per cohort slot.
    cells : numpy.ndarray
        Flat indices of the emitted cells, in order: cohorts with customers, period
        indices up to the period holding ``as_of``.
    complete : numpy.ndarray
        Per emitted cell: the period is over by ``as_of``.
    """

    period: str
    first: int
    width: int
    size: np.ndarray
    cells: np.ndarray
    complete: np.ndarray

    def flat(self, cohort: np.ndarray, k: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Flat grid holding ``values`` at the (calendar cohort period, ``k``) cells."""
        out = np.zeros(self.width * self.width, dtype=np.asarray(values).dtype)
        idx = (np.asarray(cohort, dtype=np.int64) - self.first) * self.width + np.asarray(
            k, dtype=np.int64)
        out[idx] = values
        return out

    def cumulative(self, flat: np.ndarray) -> np.ndarray:
        """Running sums over ``k`` within each cohort, flat again."""
        return flat.reshape(self.width, self.width).cumsum(axis=1).ravel()

    def columns(self) -> dict[str, np.ndarray]:
        """``cohort`` (Timestamps), ``period`` and ``cohort_size`` of the emitted cells."""
        slot, k = np.divmod(self.cells, self.width)
        return {
            "cohort": dates_from_days(period_start(self.first + slot, self.period)),
            "period": k.astype(np.int64),
            "cohort_size": self.size[slot].astype(np.int64),
        }


def cohort_grid(cohorts: np.ndarray, *, period: str, as_of_day: int,
                sizes: np.ndarray | None = None) -> CohortGrid:
    """The grid of cohorts ``cohorts`` (calendar period numbers) up to ``as_of_day``.

    ``cohorts`` holds one calendar period number per customer (pandas path), or one
    per cohort with its number of customers in ``sizes`` (SQL path). A cell is
    complete when its period ends on or before ``as_of``, i.e. the next period starts
    by ``as_of + 1``.

    Examples
    --------
    >>> grid = cohort_grid(np.array([648, 648, 649]), period="M", as_of_day=19782)
    >>> grid.size.tolist(), grid.cells.tolist(), grid.complete.tolist()
    ([2, 1], [0, 1, 2], [True, True, True])
    """
    cohorts = np.asarray(cohorts, dtype=np.int64)
    first = int(cohorts.min())
    last = int(period_index(np.array([as_of_day]), period)[0])
    width = last - first + 1
    if sizes is None:
        size = np.bincount(cohorts - first, minlength=width)
    else:
        size = np.zeros(width, dtype=np.int64)
        size[cohorts - first] = np.asarray(sizes, dtype=np.int64)
    slot, k = np.divmod(np.arange(width * width), width)
    cells = np.flatnonzero((size[slot] > 0) & (slot + k <= width - 1))
    next_start = period_start(first + slot[cells] + k[cells] + 1, period)
    complete = next_start <= as_of_day + 1
    return CohortGrid(period, first, width, size, cells, complete)


def repurchase_table(grid: CohortGrid, counts: np.ndarray) -> pd.DataFrame:
    """The :func:`~crm_analytics.cohorts.cohort_repurchase` table from flat counts."""
    cols = grid.columns()
    customers = counts[grid.cells].astype(np.int64)
    return pd.DataFrame({
        **cols,
        "customers": customers,
        "rate": customers / cols["cohort_size"],
        "complete": grid.complete,
    })


def revenue_table(grid: CohortGrid, revenue: np.ndarray) -> pd.DataFrame:
    """The :func:`~crm_analytics.cohorts.cohort_revenue` table from flat revenue."""
    cols = grid.columns()
    cells = grid.cells
    return pd.DataFrame({
        **cols,
        "revenue": revenue[cells],
        "revenue_per_customer": revenue[cells] / cols["cohort_size"],
        "cumulative_revenue_per_customer": grid.cumulative(revenue)[cells]
        / cols["cohort_size"],
        "complete": grid.complete,
    })
