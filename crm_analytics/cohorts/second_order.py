"""Days from the first to the second purchase day, per customer and overall."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics._core.dates import dates_from_days
from crm_analytics.cohorts.data import NO_DAY, check_days, cohort_orders, second_day

__all__ = ["DaysToSecondOrder", "days_to_second_order"]

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
        horizon = int(observed.max()) if max_days is None else check_days(max_days, "max_days")
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
    data = cohort_orders(orders, as_of, "days_to_second_order")
    second = second_day(data)
    has = second != NO_DAY
    gap = np.where(has, second - data.first_day, 0).astype(float)
    gap[~has] = np.nan
    customers = pd.DataFrame(
        {
            "customer_id": data.uniques.astype(str),
            "first_order": dates_from_days(data.first_day),
            "second_order": pd.Series(dates_from_days(np.where(has, second, 0))).where(has),
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
