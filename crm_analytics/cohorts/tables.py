"""The cohort tables: repurchase by cohort and period, revenue per cohort customer."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics.backends import is_engine_source, runner_for
from crm_analytics.cohorts.data import CohortOrders, by_levels, cohort_orders
from crm_analytics.cohorts.rules import (
    check_how,
    check_period,
    cohort_grid,
    period_index,
    repurchase_table,
    revenue_table,
)
from crm_analytics.cohorts.sql import cohort_repurchase_on_engine, cohort_revenue_on_engine

__all__ = ["cohort_repurchase", "cohort_revenue"]


def cohort_repurchase(
    orders: pd.DataFrame, *, period: str = "M", how: str = "on", as_of: object = None,
    by: object = None, customers: pd.DataFrame | None = None, min_size: int = 20,
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
    by : str or pandas.Series, optional
        Cut the table by a customer attribute: ``"first_channel"``, ``"first_category"``,
        ``"first_product"``, ``"first_coupon"`` (the first order's value of that orders
        column), ``"province"`` or ``"member_tier"`` (from ``customers``; the province
        may come from an address), or a Series indexed by customer_id (see
        :func:`crm_analytics.summary.dimensions.customer_dimension`). Missing values
        form the level ``"unknown"``; small levels are grouped under ``"other"``.
    customers : pandas.DataFrame, optional
        Customer attributes (``customer_id`` plus columns) for ``by``.
    min_size : int, default 20
        With ``by``: levels with fewer customers are grouped under ``"other"``.

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
        absent. The table does not repeat ``period``, ``how`` and ``as_of``: they
        are the parameters (pass ``period``/``how`` on to the plots of
        :mod:`crm_analytics.plots.cohorts` for their labels). With ``by``, a first
        column named after the dimension (e.g. ``first_channel``) holds the level, and
        each level has its own cohorts.

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
    if by is not None:
        period, how = check_period(period), check_how(how)
        prepared, split = by_levels(orders, by, customers, min_size, "cohort_repurchase")
        data = cohort_orders(prepared, as_of, "cohort_repurchase")
        parts = [_repurchase(sub, period, how).assign(**{name: level})
                 for name, level, sub in split(data)]
        table = pd.concat(parts, ignore_index=True)
        return table[[table.columns[-1], *table.columns[:-1]]]
    if is_engine_source(orders):  # Parquet path, DuckDB relation, Spark frame
        return cohort_repurchase_on_engine(runner_for(orders), period=period, how=how,
                                           as_of=as_of)
    period = check_period(period)
    how = check_how(how)
    return _repurchase(cohort_orders(orders, as_of, "cohort_repurchase"), period, how)


def _repurchase(data: CohortOrders, period: str, how: str) -> pd.DataFrame:
    """The cohort repurchase table of ``data`` (all its customers)."""
    cohort_abs = period_index(data.first_day, period)  # per customer
    grid = cohort_grid(cohort_abs, period=period, as_of_day=data.as_of_day)
    cohort, width = cohort_abs - grid.first, grid.width  # slot per customer
    repeat = data.repeat
    rep_codes = data.codes[repeat]
    rep_k = period_index(data.days[repeat], period) - cohort_abs[rep_codes]
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
        counts = grid.cumulative(np.bincount(cohort[has] * width + first_k[has],
                                             minlength=n_cells))
    return repurchase_table(grid, counts)


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
        after ``as_of``, so its revenue is still growing).

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
    data = cohort_orders(orders, as_of, "cohort_revenue")
    cohort_abs = period_index(data.first_day, period)  # per customer
    grid = cohort_grid(cohort_abs, period=period, as_of_day=data.as_of_day)
    width = grid.width
    order_cohort = cohort_abs[data.codes]
    order_k = period_index(data.days, period) - order_cohort
    revenue = np.bincount(
        (order_cohort - grid.first) * width + order_k, weights=data.amount,
        minlength=width * width,
    )
    return revenue_table(grid, revenue)
