"""Repurchase cohorts: who comes back, how soon, and what cohorts spend.

Definitions used throughout (one calendar *day* is one purchase occasion):

- A customer's **first order day** is the calendar day of their first order; their
  **cohort** is the calendar period (week, month or quarter) of that day. Cohorts are
  labelled by the Timestamp of the period's first day (weeks start on Monday, as
  pandas' ``"W"`` periods).
- A **repeat order** is an order on a later day than the first order day; a second
  order on the first day is not a repeat. Its **period index** ``k`` is its calendar
  period minus the cohort period (``0`` = the same period as the first order).
- A cohort cell (cohort, ``k``) is **complete** when its calendar period has fully
  elapsed by ``as_of``. Incomplete cells are kept but flagged (``complete=False``) so
  they are never read, or drawn, as low rates; cells after ``as_of`` are not emitted.
- Orders after ``as_of`` are ignored, so the tables can be recomputed "as of" any past
  day.

Functions: :func:`cohort_repurchase` (the cohort table, "on" and "cumulative"
retention), :func:`cohort_revenue` (revenue per cohort customer by period),
:func:`repurchase_rate` (one overall rate, optionally within N days),
:func:`repeat_orders_per_customer` and :func:`days_to_second_order`. Drawing lives in
:mod:`crm_analytics.plots.cohorts`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics._core.dates import day_number, iso_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source, runner_for
from crm_analytics.cohorts.rules import (
    COHORT_PERIODS,
    check_how,
    check_period,
    period_index,
    period_start,
)
from crm_analytics.cohorts.sql import cohort_repurchase_on_engine, cohort_revenue_on_engine
from crm_analytics.orders.encode import PreparedOrders, prepare_orders
from crm_analytics.summary import resolve_as_of

__all__ = [
    "COHORT_PERIODS",
    "DaysToSecondOrder",
    "RepurchaseRate",
    "cohort_repurchase",
    "cohort_revenue",
    "days_to_second_order",
    "repeat_orders_per_customer",
    "repurchase_rate",
]

_EPOCH = np.datetime64("1970-01-01", "D")
_NO_DAY = np.iinfo(np.int64).max


# --------------------------------------------------------------------------- helpers
def _check_days(value: object, name: str) -> int:
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1
    if not ok:
        raise CrmDataError(
            f"The {name!r} parameter must be a whole number of days >= 1 (or None). "
            f"Got {value!r} instead."
        )
    return int(value)


def _as_timestamps(day_numbers: np.ndarray) -> np.ndarray:
    return (np.asarray(day_numbers, dtype=np.int64) + _EPOCH).astype("datetime64[ns]")


@dataclass(frozen=True, eq=False)
class _Orders:
    """Orders up to ``as_of`` as arrays, with each customer's first order day."""

    codes: np.ndarray  # customer code per order
    uniques: pd.Index  # customer ids by code
    days: np.ndarray  # order day numbers
    amount: np.ndarray
    first_day: np.ndarray  # per customer
    as_of: pd.Timestamp
    as_of_day: int

    @property
    def repeat(self) -> np.ndarray:
        """Mask of repeat orders (on a later day than the customer's first order day)."""
        return self.days > self.first_day[self.codes]


def _prepare(orders: object, as_of: object) -> _Orders:
    prepared = prepare_orders(orders)
    as_of_ts = resolve_as_of(prepared.orders, as_of)
    as_of_day = day_number(as_of_ts)
    # with prepared orders, computed once for every cohort step
    return prepared.derived(("cohort_orders", as_of_day),
                            lambda: _prepare_arrays(prepared, as_of_ts, as_of_day))


def _prepare_arrays(prepared: PreparedOrders, as_of_ts: pd.Timestamp,
                    as_of_day: int) -> _Orders:
    orders = prepared.orders
    days = prepared.days
    keep = days <= as_of_day
    if not keep.any():
        raise CrmDataError(
            f"No order is on or before as_of={as_of_ts.date()} (first order "
            f"{orders['order_date'].min().date()}). Use a later as_of."
        )
    amount = orders["amount"].to_numpy(dtype=float)
    codes, uniques = prepared.customer_codes(None if keep.all() else keep)
    if not keep.all():
        days, amount = days[keep], amount[keep]
    first_day = np.full(len(uniques), _NO_DAY)
    np.minimum.at(first_day, codes, days)
    first_day.flags.writeable = False
    return _Orders(codes, uniques, days, amount, first_day, as_of_ts, as_of_day)


def _second_day(data: _Orders) -> np.ndarray:
    """Each customer's second purchase day (``_NO_DAY`` when there is none)."""
    second = np.full(len(data.first_day), _NO_DAY)
    repeat = data.repeat
    np.minimum.at(second, data.codes[repeat], data.days[repeat])
    return second


@dataclass(frozen=True, eq=False)
class _Grid:
    """The cohort x period-index grid from the first cohort to the period of ``as_of``."""

    cohort: np.ndarray  # cohort slot of each customer (0 = the first cohort)
    size: np.ndarray  # customers per cohort slot
    width: int  # number of slots, and of period indices
    cells: np.ndarray  # flat indices ``slot * width + k`` of the emitted cells, in order
    complete: np.ndarray  # per emitted cell
    first: int  # calendar period number of slot 0
    period: str

    def columns(self) -> dict[str, np.ndarray]:
        """``cohort``, ``period``, ``cohort_size`` and ``complete`` of the emitted cells."""
        slot, k = np.divmod(self.cells, self.width)
        return {
            "cohort": _as_timestamps(period_start(self.first + slot, self.period)),
            "period": k.astype(np.int64),
            "cohort_size": self.size[slot].astype(np.int64),
            "complete": self.complete,
        }


def _cohort_grid(data: _Orders, period: str) -> _Grid:
    cohort_abs = period_index(data.first_day, period)
    first = int(cohort_abs.min())
    last = int(period_index(np.array([data.as_of_day]), period)[0])
    width = last - first + 1
    cohort = cohort_abs - first
    size = np.bincount(cohort, minlength=width)
    slot, k = np.divmod(np.arange(width * width), width)
    # cohorts with customers; period indices up to the period holding as_of
    cells = np.flatnonzero((size[slot] > 0) & (slot + k <= width - 1))
    # complete: the period ends on or before as_of, i.e. the next one starts by as_of + 1
    next_start = period_start(first + slot[cells] + k[cells] + 1, period)
    complete = next_start <= data.as_of_day + 1
    return _Grid(cohort, size, width, cells, complete, first, period)


# --------------------------------------------------------------------------- cohorts
def cohort_repurchase(
    orders: pd.DataFrame, *, period: str = "M", how: str = "on", as_of: object = None
) -> pd.DataFrame:
    """Repurchase rate by first-order cohort and periods since the first order.

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical orders (validated with :func:`~crm_analytics.validate_orders` if not
        already). Not modified.
    period : {"M", "W", "Q"}, default "M"
        Calendar period of cohorts and of the period index: month, week (starting
        Monday) or quarter.
    how : {"on", "cumulative"}, default "on"
        ``"on"``: customers with a repeat order *in* period index ``k``.
        ``"cumulative"``: customers with a repeat order in any period index ``<= k``,
        i.e. the share who repurchased within ``k`` periods.
    as_of : date-like, optional
        Last day of data (included whole); defaults to the last order date. Orders
        after it are ignored.

    Returns
    -------
    pandas.DataFrame
        Tidy table, one row per (cohort, period index), sorted by both, with columns

        - ``cohort``: first day of the cohort's period (Timestamp);
        - ``period``: period index ``k`` (0 = the period of the first order);
        - ``cohort_size``: customers whose first order falls in the cohort;
        - ``customers``: of those, how many repurchased on (or by) period ``k``;
        - ``rate``: ``customers / cohort_size``;
        - ``complete``: False when period ``k`` of the cohort ends after ``as_of``.

        Every cell from ``k = 0`` to the period containing ``as_of`` is present, zero
        counts included, so a 0 is a real zero. Cohorts with no new customer are
        absent. ``attrs`` holds ``period``, ``how`` and ``as_of``.

    Raises
    ------
    CrmDataError
        Invalid ``period`` or ``how``, invalid orders, or no order on or before
        ``as_of``.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b", "c", "c"],
    ...     "order_id": ["1", "2", "3", "4", "5"],
    ...     "order_date": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-01-20",
    ...                                   "2024-02-01", "2024-02-01"]),
    ...     "amount": [10.0, 20.0, 15.0, 5.0, 8.0]})
    >>> cohort_repurchase(orders, as_of="2024-02-29")
          cohort  period  cohort_size  customers  rate  complete
    0 2024-01-01       0            2          0   0.0      True
    1 2024-01-01       1            2          1   0.5      True
    2 2024-02-01       0            1          0   0.0      True
    """
    if is_engine_source(orders):  # Parquet path, DuckDB relation, Spark frame
        return cohort_repurchase_on_engine(runner_for(orders), period=period, how=how,
                                           as_of=as_of)
    period = check_period(period)
    how = check_how(how)
    data = _prepare(orders, as_of)
    grid = _cohort_grid(data, period)
    cohort, width = grid.cohort, grid.width
    repeat = data.repeat
    rep_codes = data.codes[repeat]
    rep_k = period_index(data.days[repeat], period) - (grid.first + cohort[rep_codes])
    n_cells = width * width
    if how == "on":
        # distinct (customer, k) pairs: sort an integer key, keep the first of each run
        key = rep_codes.astype(np.int64) * width + rep_k
        if len(data.first_day) * width < np.iinfo(np.int32).max:
            key = key.astype(np.int32)
        key.sort()
        first = np.ones(len(key), dtype=bool)
        np.not_equal(key[1:], key[:-1], out=first[1:])
        cust, k = np.divmod(key[first].astype(np.int64), width)
        counts = np.bincount(cohort[cust] * width + k, minlength=n_cells)
    else:
        first_k = np.full(len(data.first_day), width, dtype=np.int64)
        np.minimum.at(first_k, rep_codes, rep_k)
        has = first_k < width
        counts = np.bincount(cohort[has] * width + first_k[has], minlength=n_cells)
        counts = counts.reshape(width, width).cumsum(axis=1).ravel()
    cols = grid.columns()
    customers = counts[grid.cells].astype(np.int64)
    result = pd.DataFrame(
        {
            "cohort": cols["cohort"],
            "period": cols["period"],
            "cohort_size": cols["cohort_size"],
            "customers": customers,
            "rate": customers / cols["cohort_size"],
            "complete": cols["complete"],
        }
    )
    result.attrs = {"period": period, "how": how, "as_of": iso_day(data.as_of)}
    return result


def cohort_revenue(
    orders: pd.DataFrame, *, period: str = "M", as_of: object = None
) -> pd.DataFrame:
    """Revenue per cohort customer by period since the first order.

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical orders. Not modified.
    period : {"M", "W", "Q"}, default "M"
        Calendar period of cohorts and of the period index (see
        :func:`cohort_repurchase`).
    as_of : date-like, optional
        Last day of data (included whole); defaults to the last order date. Orders
        after it are ignored.

    Returns
    -------
    pandas.DataFrame
        One row per (cohort, period index) with columns ``cohort``, ``period``,
        ``cohort_size``, ``revenue`` (all orders of the cohort's customers in period
        ``k``, the first order included, so ``k = 0`` holds first-order revenue),
        ``revenue_per_customer`` (``revenue / cohort_size``: every cohort customer
        counts, buyer or not), ``cumulative_revenue_per_customer`` (periods ``0..k``)
        and ``complete`` (as in :func:`cohort_repurchase`: False when the period ends
        after ``as_of``, so its revenue is still growing). ``attrs`` holds ``period``
        and ``as_of``.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_id": ["1", "2", "3"],
    ...     "order_date": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-01-20"]),
    ...     "amount": [10.0, 20.0, 30.0]})
    >>> table = cohort_revenue(orders, as_of="2024-02-29")
    >>> table[["period", "cohort_size", "revenue", "revenue_per_customer"]]
       period  cohort_size  revenue  revenue_per_customer
    0       0            2     40.0                  20.0
    1       1            2     20.0                  10.0
    >>> table["cumulative_revenue_per_customer"].tolist()
    [20.0, 30.0]
    """
    if is_engine_source(orders):  # Parquet path, DuckDB relation, Spark frame
        return cohort_revenue_on_engine(runner_for(orders), period=period, as_of=as_of)
    period = check_period(period)
    data = _prepare(orders, as_of)
    grid = _cohort_grid(data, period)
    cells, width = grid.cells, grid.width
    order_cohort = grid.cohort[data.codes]
    order_k = period_index(data.days, period) - (grid.first + order_cohort)
    revenue = np.bincount(
        order_cohort * width + order_k, weights=data.amount, minlength=width * width
    )
    cumulative = revenue.reshape(width, width).cumsum(axis=1).ravel()
    cols = grid.columns()
    result = pd.DataFrame(
        {
            "cohort": cols["cohort"],
            "period": cols["period"],
            "cohort_size": cols["cohort_size"],
            "revenue": revenue[cells],
            "revenue_per_customer": revenue[cells] / cols["cohort_size"],
            "cumulative_revenue_per_customer": cumulative[cells] / cols["cohort_size"],
            "complete": cols["complete"],
        }
    )
    result.attrs = {"period": period, "as_of": iso_day(data.as_of)}
    return result


# --------------------------------------------------------------------------- overall rates
@dataclass(frozen=True, eq=False)
class RepurchaseRate:
    """Share of customers who bought again; ``float(result)`` gives :attr:`rate`.

    Attributes
    ----------
    rate : float
        ``n_repeat_customers / n_customers`` (NaN when ``n_customers`` is 0).
    n_customers : int
        Customers in the denominator.
    n_repeat_customers : int
        Of those, customers with a repeat order (within ``within_days`` if given).
    n_too_recent : int
        Customers left out of the denominator because their first order is less than
        ``within_days`` days before ``as_of`` (0 when ``within_days`` is None).
    within_days : int or None
        The repurchase window, in days after the first order day.
    as_of : pandas.Timestamp
        Last day of data used.
    """

    rate: float
    n_customers: int
    n_repeat_customers: int
    n_too_recent: int
    within_days: int | None
    as_of: pd.Timestamp

    def __float__(self) -> float:
        return float(self.rate)


def repurchase_rate(
    orders: pd.DataFrame, *, within_days: int | None = None, as_of: object = None
) -> RepurchaseRate:
    """Overall repurchase rate: the share of customers with a repeat order.

    A repeat order is an order on a later day than the customer's first order day.

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical orders. Not modified.
    within_days : int, optional
        Count a customer as repurchasing only if the second purchase day is at most
        ``within_days`` days after the first order day. To be fair to recent
        customers, the denominator then holds only customers whose first order day is
        at least ``within_days`` days before ``as_of`` (everyone counted had the whole
        window to come back); the others are counted in ``n_too_recent``. Without it,
        every customer counts, however recent, so the rate is lower when many
        customers are new.
    as_of : date-like, optional
        Last day of data (included whole); defaults to the last order date.

    Returns
    -------
    RepurchaseRate
        The rate with its counts and settings; ``float(result)`` is the rate.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b", "c", "c"],
    ...     "order_id": ["1", "2", "3", "4", "5"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-02",
    ...                                   "2024-01-20", "2024-01-25"]),
    ...     "amount": [10.0, 20.0, 15.0, 5.0, 8.0]})
    >>> r = repurchase_rate(orders)
    >>> round(float(r), 3), r.n_repeat_customers, r.n_customers
    (0.667, 2, 3)
    >>> r = repurchase_rate(orders, within_days=7)
    >>> r.rate, r.n_repeat_customers, r.n_customers, r.n_too_recent
    (0.0, 0, 2, 1)
    """
    if within_days is not None:
        within_days = _check_days(within_days, "within_days")
    data = _prepare(orders, as_of)
    second = _second_day(data)
    has_repeat = second != _NO_DAY
    if within_days is None:
        counted = np.ones(len(second), dtype=bool)
    else:
        counted = data.first_day <= data.as_of_day - within_days
        has_repeat &= second - data.first_day <= within_days
    n_customers = int(counted.sum())
    n_repeat = int((has_repeat & counted).sum())
    return RepurchaseRate(
        rate=n_repeat / n_customers if n_customers else float("nan"),
        n_customers=n_customers,
        n_repeat_customers=n_repeat,
        n_too_recent=int((~counted).sum()),
        within_days=within_days,
        as_of=data.as_of,
    )


def repeat_orders_per_customer(orders: pd.DataFrame, *, as_of: object = None) -> float:
    """Average number of repeat orders per repeat customer.

    Repeat orders are orders on a later day than the customer's first order day, each
    order counted (two orders on one later day count twice; ``frequency`` in
    :func:`~crm_analytics.customer_summary` counts days instead). Customers without a
    repeat order are not in the average.

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical orders. Not modified.
    as_of : date-like, optional
        Last day of data (included whole); defaults to the last order date.

    Returns
    -------
    float
        Repeat orders / customers with at least one; NaN when nobody repurchased.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "c", "c"],
    ...     "order_id": ["1", "2", "3", "4", "5", "6"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-09",
    ...                                   "2024-01-02", "2024-01-03", "2024-01-04"]),
    ...     "amount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    >>> repeat_orders_per_customer(orders)
    1.5
    """
    data = _prepare(orders, as_of)
    repeat = data.repeat
    n_repeat_customers = int(np.count_nonzero(np.bincount(data.codes[repeat])))
    if n_repeat_customers == 0:
        return float("nan")
    return float(repeat.sum() / n_repeat_customers)


# --------------------------------------------------------------------------- second order
#: Quantiles reported by :func:`days_to_second_order`.
_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


@dataclass(frozen=True, eq=False)
class DaysToSecondOrder:
    """Days from the first to the second purchase day, per customer and overall.

    Attributes
    ----------
    customers : pandas.DataFrame
        One row per customer (sorted by ``customer_id``): ``customer_id``,
        ``first_order``, ``second_order`` (NaT when none yet), ``days_to_second_order``
        (NaN when none yet), ``days_observed`` (days from the first order day to
        ``as_of``) and ``censored`` (True when there is no second order yet: the gap is
        only known to exceed ``days_observed``).
    distribution : pandas.Series
        Describe-style: ``customers``, ``with_second_order``, ``censored``, then
        ``mean``, ``std``, ``min``, ``10%`` ... ``90%``, ``max`` of the observed gaps.
        These statistics ignore censored customers, so they describe those who came
        back and are biased towards short gaps when many customers are recent; use
        :meth:`cumulative_share` for a censoring-aware view.
    as_of : pandas.Timestamp
        Last day of data used.
    """

    customers: pd.DataFrame
    distribution: pd.Series
    as_of: pd.Timestamp

    def cumulative_share(self, max_days: int | None = None) -> pd.DataFrame:
        """Share of customers with a second order within ``d`` days (Kaplan-Meier).

        Censored customers count as at risk until their ``days_observed``, so recent
        customers neither lower nor inflate the curve.

        Parameters
        ----------
        max_days : int, optional
            Last day of the curve; defaults to the longest ``days_observed``.

        Returns
        -------
        pandas.DataFrame
            Columns ``days`` (1, 2, ...), ``at_risk`` (customers observed that long
            without a second order before that day), ``second_orders`` (second orders
            exactly ``days`` after the first) and ``share`` (estimated share with a
            second order within ``days`` days).
        """
        table = self.customers
        observed = table["days_observed"].to_numpy(dtype=np.int64)
        gap = table["days_to_second_order"].to_numpy(dtype=float)
        has = ~np.isnan(gap)
        time = np.where(has, np.nan_to_num(gap), observed).astype(np.int64)
        horizon = int(observed.max()) if max_days is None else _check_days(max_days, "max_days")
        n = max(horizon, int(time.max())) + 1
        events = np.bincount(time[has], minlength=n)
        leaving = np.bincount(time, minlength=n)  # events and censorings at each time
        at_risk = len(time) - np.concatenate([[0], np.cumsum(leaving)[:-1]])
        with np.errstate(divide="ignore", invalid="ignore"):
            hazard = np.where(at_risk > 0, events / np.maximum(at_risk, 1), 0.0)
        share = 1.0 - np.cumprod(1.0 - hazard)
        days = np.arange(1, horizon + 1)
        return pd.DataFrame(
            {
                "days": days,
                "at_risk": at_risk[days].astype(np.int64),
                "second_orders": events[days].astype(np.int64),
                "share": share[days],
            }
        )


def days_to_second_order(orders: pd.DataFrame, *, as_of: object = None) -> DaysToSecondOrder:
    """Days from each customer's first to second purchase day, with the distribution.

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical orders. Not modified.
    as_of : date-like, optional
        Last day of data (included whole); defaults to the last order date. Orders
        after it are ignored.

    Returns
    -------
    DaysToSecondOrder
        ``customers`` (every customer, those without a second order kept as censored
        with NaN), ``distribution`` (describe-style) and :meth:`~DaysToSecondOrder.
        cumulative_share` (censoring-aware share repurchased within d days).

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "c", "c"],
    ...     "order_id": ["1", "2", "3", "4", "5", "6"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-11",
    ...                                   "2024-01-02", "2024-01-03", "2024-01-07"]),
    ...     "amount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    >>> gaps = days_to_second_order(orders, as_of="2024-01-31")
    >>> gaps.customers[["customer_id", "days_to_second_order", "censored"]]
      customer_id  days_to_second_order  censored
    0           a                  10.0     False
    1           b                   NaN      True
    2           c                   4.0     False
    >>> gaps.distribution[["customers", "with_second_order", "censored", "50%"]].tolist()
    [3.0, 2.0, 1.0, 7.0]
    """
    data = _prepare(orders, as_of)
    second = _second_day(data)
    has = second != _NO_DAY
    gap = np.where(has, second - data.first_day, 0).astype(float)
    gap[~has] = np.nan
    customers = pd.DataFrame(
        {
            "customer_id": data.uniques.astype(str),
            "first_order": _as_timestamps(data.first_day),
            "second_order": pd.Series(_as_timestamps(np.where(has, second, 0))).where(has),
            "days_to_second_order": gap,
            "days_observed": (data.as_of_day - data.first_day).astype(np.int64),
            "censored": ~has,
        }
    )
    observed = pd.Series(gap[has])
    stats = {
        "customers": float(len(gap)),
        "with_second_order": float(has.sum()),
        "censored": float((~has).sum()),
        "mean": observed.mean(),
        "std": observed.std(),
        "min": observed.min(),
    }
    for q in _QUANTILES:
        stats[f"{q:.0%}"] = observed.quantile(q)
    stats["max"] = observed.max()
    distribution = pd.Series(stats, name="days_to_second_order", dtype=float)
    return DaysToSecondOrder(customers=customers, distribution=distribution, as_of=data.as_of)
