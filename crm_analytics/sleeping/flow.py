"""The daily stock and flow of sleeping members (沉睡会员存量与每日新增)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.dates import day_number, to_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source, runner_for
from crm_analytics.orders.encode import prepare_orders
from crm_analytics.sleeping.occasions import (
    count_days,
    count_intervals,
    customer_order_days,
    next_day,
)
from crm_analytics.sleeping.rules import NEVER, check_sleep
from crm_analytics.sleeping.sql import sleeping_flow_on_engine
from crm_analytics.summary import resolve_as_of

__all__ = ["sleeping_flow"]


def sleeping_flow(
    orders: pd.DataFrame,
    *,
    start: object = None,
    end: object = None,
    sleep_after: int = 90,
    remind_before: int = 10,
) -> pd.DataFrame:
    """Daily stock and flow of sleeping members (沉睡会员存量与每日新增).

    Vectorised: each gap of more than ``sleep_after`` days between two order days (or
    after the last one) is a *sleep interval* ``[last + sleep_after, next order)``;
    the daily counts are difference arrays over those intervals. No loop over
    customers or days.

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical orders. Not modified. Orders after ``end`` do not change the counts
        up to ``end``.
    start, end : date-like, optional
        First and last day reported (both included). Default: the first and the last
        order date.
    sleep_after : int, default 90
        Days without an order after which a member is asleep.
    remind_before : int, default 10
        The pre-sleep window: ``sleep_after - remind_before <= d < sleep_after``.

    Returns
    -------
    pandas.DataFrame
        One row per day: ``date, members, active, pre_sleep, sleeping,
        newly_sleeping, woken`` (see :mod:`crm_analytics.sleeping` for the
        definitions). ``sleeping[t] == sleeping[t-1] + newly_sleeping[t] - woken[t]``.
        The table does not repeat ``sleep_after`` and ``remind_before``: keep them with
        it if a later step needs them.

    Raises
    ------
    CrmDataError
        Invalid orders, ``end`` before ``start``, or invalid day counts.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_id": ["1", "2", "3"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-06", "2024-01-02"]),
    ...     "amount": [10.0, 20.0, 5.0]})
    >>> sleeping_flow(orders, start="2024-01-03", end="2024-01-06",
    ...               sleep_after=2, remind_before=1)
            date  members  active  pre_sleep  sleeping  newly_sleeping  woken
    0 2024-01-03        2       0          1         1               1      0
    1 2024-01-04        2       0          0         2               1      0
    2 2024-01-05        2       0          0         2               0      0
    3 2024-01-06        2       1          0         1               0      1
    """
    if is_engine_source(orders):  # Parquet path, DuckDB relation, Spark frame
        return sleeping_flow_on_engine(runner_for(orders), start=start, end=end,
                                       sleep_after=sleep_after, remind_before=remind_before)
    s, r = check_sleep(sleep_after, remind_before)
    prepared = prepare_orders(orders)
    orders = prepared.orders
    start_ts = to_day(start, "start") if start is not None else orders["order_date"].min()
    start_ts = start_ts.normalize()
    end_ts = resolve_as_of(orders, end, "end")
    if end_ts < start_ts:
        raise CrmDataError(
            f"The 'end' parameter ({end_ts.date()}) must not be before 'start' "
            f"({start_ts.date()})."
        )
    day0, n_days = day_number(start_ts), (end_ts - start_ts).days + 1
    occ_cust, occ_day, _ = customer_order_days(prepared)
    nxt = next_day(occ_cust, occ_day)
    first = np.ones(len(occ_day), dtype=bool)
    first[1:] = occ_cust[1:] != occ_cust[:-1]

    members = np.cumsum(
        np.bincount(np.clip(occ_day[first] - day0, 0, n_days), minlength=n_days + 1)
    )[:n_days]
    asleep_from = occ_day + s
    sleeping = count_intervals(asleep_from, nxt, day0, n_days)
    pre_sleep = count_intervals(occ_day + (s - r), np.minimum(asleep_from, nxt), day0, n_days)
    gap_long = nxt - occ_day > s
    newly = count_days(asleep_from[gap_long], day0, n_days)
    woken = count_days(nxt[gap_long & (nxt < NEVER)], day0, n_days)
    flow = pd.DataFrame(
        {
            "date": pd.date_range(start_ts, periods=n_days, freq="D"),
            "members": members,
            "active": members - pre_sleep - sleeping,
            "pre_sleep": pre_sleep,
            "sleeping": sleeping,
            "newly_sleeping": newly,
            "woken": woken,
        }
    )
    return flow
