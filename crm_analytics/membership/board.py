"""The shop's KPI board: customers, orders, revenue, repurchase and members by period."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source, runner_for
from crm_analytics.membership.data import member_join_days, period_orders
from crm_analytics.membership.rules import (
    REPEAT_MIN_ORDERS,
    SUM_COLUMNS,
    board_table,
    period_days,
)
from crm_analytics.membership.sql import kpi_sums_on_engine

__all__ = ["BOARD_PERIODS", "kpi_board"]

#: Periods of the KPI board.
BOARD_PERIODS = ("Y", "Q", "M")


def _check_period(period: object) -> str:
    if not isinstance(period, str) or period not in BOARD_PERIODS:
        raise CrmDataError(
            f"The 'period' parameter of kpi_board must be one of {list(BOARD_PERIODS)} "
            f"(year, quarter, month). Got {period!r} instead."
        )
    return period


def kpi_board(
    orders: pd.DataFrame,
    *,
    as_of: object = None,
    period: str = "Y",
    members: pd.DataFrame | None = None,
    by: object = None,
    customers: pd.DataFrame | None = None,
    min_size: int = 20,
) -> pd.DataFrame:
    """The shop's KPI board: one row per period, with the change on the previous period.

    Parameters
    ----------
    orders : pandas.DataFrame, PreparedOrders or engine source
        Canonical orders (also a Parquet path/glob or DuckDB relation; see
        :func:`crm_analytics.engine_source`). Not modified.
    as_of : date-like, optional
        Last day of data (included whole); default the last order day. The period
        holding it is incomplete (``complete`` False).
    period : {"Y", "Q", "M"}, default "Y"
        Calendar year, quarter or month.
    members : pandas.DataFrame, optional
        Who is a member: ``customer_id`` and optionally ``join_date`` (one row per
        member, or per member tier as in the sample's ``members`` table). Adds the
        member columns. An order is a member order when the customer had joined by its
        day (without ``join_date``: every order of a listed member).
    by : str or pandas.Series, optional
        Cut the board by a customer attribute (``"first_channel"``, ``"province"``,
        ...; see :func:`crm_analytics.summary.dimensions.customer_dimension`): one
        board per level, in a first column named after the dimension. Members who
        never ordered have no level and are then not counted.
    customers : pandas.DataFrame, optional
        Customer attributes for ``by``.
    min_size : int, default 20
        With ``by``: levels with fewer customers are grouped under ``"other"``.

    Returns
    -------
    pandas.DataFrame
        One row per period (first day of the period in ``period``), with

        - ``customers`` (who ordered), ``orders``, ``revenue``, ``aov`` (revenue per
          order);
        - ``repurchase_rate``: share of the period's customers with 2 or more orders
          in it (the period's *repeat customers*);
        - ``orders_per_repeat_customer`` and ``repeat_revenue_share`` (the repeat
          customers' share of the revenue);
        - with ``members``: ``members`` (joined by the period's end, whether they
          ordered or not), ``member_revenue``, ``member_gmv_share`` (share of the
          revenue) and ``revenue_per_member_year`` (member revenue per member, scaled to
          365 days: the period's days up to ``as_of``);
        - a ``<column>_change`` for each: the relative change on the previous period
          (``0.1`` = +10%) for counts, money and averages, the difference for
          ``repurchase_rate``, ``repeat_revenue_share`` and ``member_gmv_share``
          (NaN for the first period);
        - ``days`` (days of the period up to ``as_of``) and ``complete`` (False when
          the period ends after ``as_of``: compare it with care).

    Raises
    ------
    CrmDataError
        Invalid ``period``, ``members``, ``by`` or orders; ``members``/``by`` with an
        engine source.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b", "b", "c"],
    ...     "order_id": ["1", "2", "3", "4", "5"],
    ...     "order_date": pd.to_datetime(["2024-01-03", "2024-01-20", "2024-01-09",
    ...                                   "2024-02-05", "2024-02-07"]),
    ...     "amount": [10.0, 30.0, 20.0, 40.0, 60.0]})
    >>> board = kpi_board(orders, as_of="2024-02-29", period="M")
    >>> board[["period", "customers", "orders", "revenue", "aov", "repurchase_rate"]]
          period  customers  orders  revenue   aov  repurchase_rate
    0 2024-01-01          2       3     60.0  20.0              0.5
    1 2024-02-01          2       2    100.0  50.0              0.0
    >>> board["revenue_change"].round(3).tolist()
    [nan, 0.667]
    """
    period = _check_period(period)
    if is_engine_source(orders):
        if members is not None or by is not None:
            raise CrmDataError(
                "kpi_board(..., members=/by=) is not available for Parquet/DuckDB/Spark "
                "sources; load the orders with crm_analytics.read_orders(...) for the "
                "member columns and dimensions."
            )
        sums, as_of_day = kpi_sums_on_engine(runner_for(orders), freq=period, as_of=as_of)
        return board_table(sums, freq=period, as_of_day=as_of_day)
    data = period_orders(orders, as_of, period)
    n = len(data.uniques)
    if by is not None:
        level, labels, name, _ = data.levels(by, customers, min_size)
    else:
        level, labels, name = np.zeros(n, dtype=np.int64), ("",), None
    n_levels = len(labels)
    join_day = all_joins = None
    if members is not None:
        join_day, all_joins = member_join_days(members, data.uniques)
    _, end, _ = period_days(data.first, data.first + data.n_periods - 1, period,
                            data.as_of_day)
    bounds = np.searchsorted(data.slot, np.arange(data.n_periods + 1))
    rows = []
    for p in range(data.n_periods):
        s, e = bounds[p], bounds[p + 1]
        codes, amount = data.codes[s:e], data.amount[s:e]
        count = np.bincount(codes, minlength=n)
        buyers = np.flatnonzero(count)  # the period's customers: all sums run on them
        count = count[buyers]
        spend = np.bincount(codes, weights=amount, minlength=n)[buyers]
        lev = level[buyers]
        repeat = count >= REPEAT_MIN_ORDERS

        def per_level(weights: np.ndarray, lev: np.ndarray = lev) -> np.ndarray:
            return np.bincount(lev, weights=weights, minlength=n_levels)

        sums = {
            "customers": per_level(None),
            "orders": per_level(count),
            "revenue": per_level(spend),
            "repeat_customers": per_level(repeat),
            "repeat_orders": per_level(np.where(repeat, count, 0)),
            "repeat_revenue": per_level(np.where(repeat, spend, 0.0)),
        }
        if join_day is not None:
            is_member = join_day[codes] <= data.days[s:e]
            sums["member_revenue"] = np.bincount(level[codes], weights=amount * is_member,
                                                 minlength=n_levels)
            if by is None:
                sums["members"] = np.array([np.searchsorted(all_joins, end[p], "right")])
            else:
                sums["members"] = np.bincount(level, weights=join_day <= end[p],
                                              minlength=n_levels)
        for i in range(n_levels):
            row = {"p": data.first + p, **{k: v[i] for k, v in sums.items()}}
            if name is not None:
                row[name] = labels[i]
            rows.append(row)
    table = pd.DataFrame(rows)
    for col in ("customers", "orders", "repeat_customers", "repeat_orders", "members"):
        if col in table:
            table[col] = table[col].round().astype(np.int64)
    table = table[[c for c in table.columns if c not in SUM_COLUMNS] + list(SUM_COLUMNS)]
    if name is not None:
        # a level's board starts at its first period with a customer
        started = table.groupby(name, sort=False)["customers"].transform("cumsum") > 0
        table = table[started.to_numpy()]
    return board_table(table, freq=period, as_of_day=data.as_of_day, group=name)
