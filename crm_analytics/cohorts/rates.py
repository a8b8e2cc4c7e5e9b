"""Overall repurchase numbers: the repurchase rate and repeat orders per customer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics.cohorts.data import (
    NO_DAY,
    CohortOrders,
    by_levels,
    check_days,
    cohort_orders,
    second_day,
)

__all__ = ["RepurchaseRate", "repeat_orders_per_customer", "repurchase_rate"]


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
    orders: pd.DataFrame, *, within_days: int | None = None, as_of: object = None,
    by: object = None, customers: pd.DataFrame | None = None, min_size: int = 20,
) -> RepurchaseRate | pd.DataFrame:
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
    by : str or pandas.Series, optional
        A customer attribute to cut by, as in
        :func:`~crm_analytics.cohorts.cohort_repurchase` (``"first_channel"``,
        ``"first_category"``, ``"province"``, ``"member_tier"``, ...).
    customers : pandas.DataFrame, optional
        Customer attributes for ``by``.
    min_size : int, default 20
        With ``by``: levels with fewer customers are grouped under ``"other"``.

    Returns
    -------
    RepurchaseRate or pandas.DataFrame
        The rate with its counts and settings; ``float(result)`` is the rate. With
        ``by``, a DataFrame with one row per level: the level (column named after the
        dimension), ``rate``, ``n_customers``, ``n_repeat_customers`` and
        ``n_too_recent``.

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
    >>> repurchase_rate(orders, by=pd.Series({"a": "x", "b": "x", "c": "y"}, name="g"),
    ...                 min_size=1)
       g  rate  n_customers  n_repeat_customers  n_too_recent
    0  x   0.5            2                   1             0
    1  y   1.0            1                   1             0
    """
    if within_days is not None:
        within_days = check_days(within_days, "within_days")
    if by is not None:
        prepared, split = by_levels(orders, by, customers, min_size, "repurchase_rate")
        rows = []
        for name, level, sub in split(cohort_orders(prepared, as_of, "repurchase_rate")):
            r = _rate(sub, within_days)
            rows.append({name: level, "rate": r.rate, "n_customers": r.n_customers,
                         "n_repeat_customers": r.n_repeat_customers,
                         "n_too_recent": r.n_too_recent})
        return pd.DataFrame(rows)
    return _rate(cohort_orders(orders, as_of, "repurchase_rate"), within_days)


def _rate(data: CohortOrders, within_days: int | None) -> RepurchaseRate:
    second = second_day(data)
    has_repeat = second != NO_DAY
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
    data = cohort_orders(orders, as_of, "repeat_orders_per_customer")
    repeat = data.repeat
    n_repeat_customers = int(np.count_nonzero(np.bincount(data.codes[repeat])))
    if n_repeat_customers == 0:
        return float("nan")
    return float(repeat.sum() / n_repeat_customers)
