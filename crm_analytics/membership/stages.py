"""Lifecycle stages: new, won back, repeat/one-time active, sleeping, lost; flows; KPIs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.dates import dates_from_days
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source, runner_for
from crm_analytics.membership.data import PeriodOrders, period_orders
from crm_analytics.membership.rules import (
    NOT_YET,
    STAGES,
    check_freq,
    check_stage_days,
    first_slots,
    period_days,
    period_number,
    stage_matrix,
)
from crm_analytics.membership.sql import lifecycle_cells_on_engine

__all__ = ["NO_STAGE", "lifecycle", "lifecycle_counts", "lifecycle_flow", "lifecycle_kpis"]

#: ``from_stage`` of a customer's first period in :func:`lifecycle_flow`.
NO_STAGE = "none"


def _cells(data: PeriodOrders) -> tuple[np.ndarray, ...]:
    """Purchase cells (customer code, period slot) with first/last day and purchase days.

    Period by period over the date-sorted orders, without sorting: within a period the
    last write of a customer's day is their last purchase day, the last write in reverse
    their first; two different days mean two or more purchase days (all the stage rules
    need).
    """
    slot = data.slot
    order = None
    if len(slot) > 1 and (slot[1:] < slot[:-1]).any():  # not sorted by date: sort once
        order = np.argsort(slot, kind="stable")
    codes = data.codes if order is None else data.codes[order]
    days = data.days if order is None else data.days[order]
    slot = slot if order is None else slot[order]
    n = len(data.uniques)
    bounds = np.searchsorted(slot, np.arange(data.n_periods + 1))
    first_day = np.empty(n, dtype=np.int64)
    last_day = np.empty(n, dtype=np.int64)
    parts = []
    for p in range(data.n_periods):
        s, e = bounds[p], bounds[p + 1]
        if s == e:
            continue
        cb, db = codes[s:e], days[s:e]
        seen = np.zeros(n, dtype=bool)
        seen[cb] = True
        buyers = np.flatnonzero(seen)
        last_day[cb] = db
        first_day[cb[::-1]] = db[::-1]
        f, la = first_day[buyers], last_day[buyers]
        parts.append((buyers, np.full(len(buyers), p, dtype=np.int64), f, la,
                      1 + (la != f)))
    return tuple(np.concatenate([part[i] for part in parts]) for i in range(5))


def _check_periods(periods: object) -> int | None:
    if periods is None:
        return None
    if isinstance(periods, bool) or not isinstance(periods, (int, np.integer)) or periods < 1:
        raise CrmDataError(
            f"The 'periods' parameter must be a whole number >= 1 (the most recent periods "
            f"to return) or None. Got {periods!r} instead."
        )
    return int(periods)


def _stages(orders, as_of, freq, sleep_after, lost_after):
    """Stage matrix, customer ids, first period number, period starts, as-of day, data."""
    freq = check_freq(freq)
    sleep_after, lost_after = check_stage_days(sleep_after, lost_after)
    if is_engine_source(orders):
        c = lifecycle_cells_on_engine(runner_for(orders), freq=freq, as_of=as_of)
        first = int(c["p"].min())
        last = int(period_number(np.array([c["as_of_day"]]), freq)[0])
        code, slot = c["code"], c["p"] - first
        first_in, last_in, n_days = c["first_in"], c["last_in"], c["n_days"]
        uniques, as_of_day, data = c["uniques"], c["as_of_day"], None
        n_periods = last - first + 1
    else:
        data = period_orders(orders, as_of, freq)
        code, slot, first_in, last_in, n_days = _cells(data)
        first, n_periods = data.first, data.n_periods
        uniques, as_of_day = data.uniques, data.as_of_day
    start, end, _ = period_days(first, first + n_periods - 1, freq, as_of_day)
    stage = stage_matrix(code, slot, first_in, last_in, n_days, n_customers=len(uniques),
                         end_day=end, sleep_after=sleep_after, lost_after=lost_after)
    return stage, uniques, start, data, (code, slot)


def lifecycle(
    orders: pd.DataFrame,
    *,
    as_of: object = None,
    freq: str = "M",
    sleep_after: int = 90,
    lost_after: int = 365,
    periods: int | None = None,
    by: object = None,
    customers: pd.DataFrame | None = None,
    min_size: int = 20,
) -> pd.DataFrame:
    """Each customer's lifecycle stage in each period.

    Stages (one per customer and period, from the period of the first purchase on; a
    purchase is a calendar day with an order):

    - ``new``: the first purchase is in the period;
    - ``won_back``: the first purchase in the period came more than ``sleep_after``
      days after the previous one (back from sleeping or lost);
    - otherwise judged at the period's end (``as_of`` for the period holding it) by the
      days since the last purchase: ``lost`` (more than ``lost_after``), ``sleeping``
      (more than ``sleep_after``, at most ``lost_after``), else ``repeat_active``
      (purchases on two or more days so far) or ``one_time_active`` (one).

    Parameters
    ----------
    orders : pandas.DataFrame, PreparedOrders or engine source
        Canonical orders, or a Parquet path/glob or DuckDB relation. Not modified.
    as_of : date-like, optional
        Last day of data (included whole); default the last order day.
    freq : {"M", "W", "Q", "Y"}, default "M"
        Calendar period (weeks start on Monday).
    sleep_after, lost_after : int, default 90 and 365
        Days without a purchase after which a customer is sleeping, then lost.
    periods : int, optional
        Return only the most recent ``periods`` periods (the stages still use the whole
        history).
    by : str or pandas.Series, optional
        Add a customer attribute column (``"first_channel"``, ``"province"``, ...; see
        :func:`crm_analytics.summary.dimensions.customer_dimension`). Not for engine
        sources.
    customers : pandas.DataFrame, optional
        Customer attributes for ``by``.
    min_size : int, default 20
        With ``by``: levels with fewer customers are grouped under ``"other"``.

    Returns
    -------
    pandas.DataFrame
        Long table sorted by customer and period: ``customer_id``, ``period`` (first
        day of the period) and ``stage`` (a Categorical with the categories
        :data:`~crm_analytics.membership.rules.STAGES`), plus the ``by`` column. Every
        customer who has ordered by the end of a period has exactly one row for it.

    Raises
    ------
    CrmDataError
        Invalid ``freq``, ``sleep_after``/``lost_after``, ``periods``, ``by`` or orders.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_id": ["1", "2", "3"],
    ...     "order_date": pd.to_datetime(["2024-01-05", "2024-06-10", "2024-02-01"]),
    ...     "amount": [10.0, 20.0, 15.0]})
    >>> stages = lifecycle(orders, as_of="2024-06-30", sleep_after=60, lost_after=120)
    >>> stages[stages["customer_id"] == "a"]
      customer_id     period            stage
    0           a 2024-01-01              new
    1           a 2024-02-01  one_time_active
    2           a 2024-03-01         sleeping
    3           a 2024-04-01         sleeping
    4           a 2024-05-01             lost
    5           a 2024-06-01         won_back
    """
    periods = _check_periods(periods)
    if by is not None and is_engine_source(orders):
        raise CrmDataError(
            "lifecycle(..., by=) is not available for Parquet/DuckDB/Spark sources; load "
            "the orders with crm_analytics.read_orders(...) to cut them by an attribute."
        )
    stage, uniques, start, data, _ = _stages(orders, as_of, freq, sleep_after, lost_after)
    n_periods = stage.shape[1]
    if periods is not None and periods < n_periods:
        stage = stage[:, n_periods - periods:]
        start = start[n_periods - periods:]
        n_periods = periods
    flat = stage.ravel()
    idx = np.flatnonzero(flat != NOT_YET)
    code, slot = np.divmod(idx, n_periods)
    out = pd.DataFrame({
        "customer_id": np.asarray(uniques, dtype=object)[code] if len(idx) < 200_000
        else pd.array(uniques).take(code),
        "period": dates_from_days(start)[slot],
        "stage": pd.Categorical.from_codes(flat[idx], categories=list(STAGES)),
    }, copy=False)
    if by is not None:
        level, labels, name, _ = data.levels(by, customers, min_size)
        out[name] = pd.Categorical.from_codes(level[code], categories=list(labels))
    return out


def _check_stages(stages: object, name: str) -> None:
    if not isinstance(stages, pd.DataFrame):
        raise CrmDataError(f"{name} needs a lifecycle() table (a DataFrame).")
    missing = {"customer_id", "period", "stage"} - set(stages.columns)
    if missing:
        raise CrmDataError(
            f"{name} needs a lifecycle() table; it has no {sorted(missing)} column."
        )


def lifecycle_counts(stages: pd.DataFrame) -> pd.DataFrame:
    """Customers per period and stage, every stage present (zeros included).

    Parameters
    ----------
    stages : pandas.DataFrame
        A :func:`lifecycle` table. Not modified.

    Returns
    -------
    pandas.DataFrame
        ``period``, ``stage`` (in the order of
        :data:`~crm_analytics.membership.rules.STAGES`), ``customers`` and ``share``
        (of the period's customers); what :func:`crm_analytics.plots.lifecycle.plot_lifecycle`
        draws.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "b"], "order_id": ["1", "2"],
    ...     "order_date": pd.to_datetime(["2024-01-05", "2024-02-01"]), "amount": [1.0, 2.0]})
    >>> lifecycle_counts(lifecycle(orders)).query("customers > 0")
          period            stage  customers  share
    0 2024-01-01              new          1    1.0
    6 2024-02-01              new          1    0.5
    9 2024-02-01  one_time_active          1    0.5
    """
    _check_stages(stages, "lifecycle_counts")
    per, periods = pd.factorize(stages["period"], sort=True)
    stage = pd.Categorical(stages["stage"], categories=list(STAGES)).codes.astype(np.int64)
    n_s = len(STAGES)
    counts = np.bincount(per * n_s + stage, minlength=len(periods) * n_s)
    p, s = np.divmod(np.arange(len(counts)), n_s)
    totals = counts.reshape(-1, n_s).sum(axis=1)
    return pd.DataFrame({
        "period": np.asarray(periods)[p],
        "stage": pd.Categorical.from_codes(s, categories=list(STAGES)),
        "customers": counts.astype(np.int64),
        "share": counts / np.maximum(totals[p], 1),
    })


def lifecycle_flow(stages: pd.DataFrame) -> pd.DataFrame:
    """Transitions between the stages of consecutive periods.

    Parameters
    ----------
    stages : pandas.DataFrame
        A :func:`lifecycle` table (``customer_id``, ``period``, ``stage``). Not
        modified.

    Returns
    -------
    pandas.DataFrame
        ``period`` (the later period), ``from_stage`` (the stage in the period before;
        ``"none"`` for customers new in ``period``), ``to_stage`` and ``customers``, one
        row per transition that occurs, sorted by period and the stage order
        (``"none"`` last).

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_id": ["1", "2", "3"],
    ...     "order_date": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-02-01"]),
    ...     "amount": [10.0, 20.0, 15.0]})
    >>> lifecycle_flow(lifecycle(orders))
          period from_stage       to_stage  customers
    0 2024-01-01       none            new          1
    1 2024-02-01        new  repeat_active          1
    2 2024-02-01       none            new          1
    """
    _check_stages(stages, "lifecycle_flow")
    cust, _ = pd.factorize(stages["customer_id"])
    per, periods = pd.factorize(stages["period"], sort=True)
    stage = pd.Categorical(stages["stage"], categories=list(STAGES)).codes.astype(np.int64)
    if (stage < 0).any():
        raise CrmDataError(f"Unknown stages in the table; expected {list(STAGES)}.")
    n_p = len(periods)
    key = cust.astype(np.int64) * n_p + per
    order = np.argsort(key, kind="stable")
    key, stage, per = key[order], stage[order], per[order]
    prev = np.full(len(key), len(STAGES), dtype=np.int64)  # "none"
    same = (key[1:] == key[:-1] + 1) & (per[1:] > 0)
    prev[1:][same] = stage[:-1][same]
    n_s = len(STAGES) + 1
    counts = np.bincount((per * n_s + prev) * n_s + stage, minlength=n_p * n_s * n_s)
    nz = np.flatnonzero(counts)
    rest, to = np.divmod(nz, n_s)
    p, frm = np.divmod(rest, n_s)
    names = np.array([*STAGES, NO_STAGE], dtype=object)
    return pd.DataFrame({
        "period": np.asarray(periods)[p],
        "from_stage": names[frm],
        "to_stage": names[to],
        "customers": counts[nz].astype(np.int64),
    })


def lifecycle_kpis(
    orders: pd.DataFrame,
    *,
    as_of: object = None,
    freq: str = "M",
    sleep_after: int = 90,
    lost_after: int = 365,
    by: object = None,
    customers: pd.DataFrame | None = None,
    min_size: int = 20,
) -> pd.DataFrame:
    """Per period: new and returning customers, returning revenue share, wins back.

    Parameters
    ----------
    orders : pandas.DataFrame or PreparedOrders
        Canonical orders. Not modified.
    as_of, freq, sleep_after, lost_after, by, customers, min_size
        As in :func:`lifecycle`.

    Returns
    -------
    pandas.DataFrame
        One row per period (and level of ``by``): ``period``, ``customers`` (who
        ordered), ``new_customers`` (first order in the period), ``returning_customers``
        (ordered, first order before the period), ``revenue``, ``returning_revenue``,
        ``returning_revenue_share`` and ``won_back`` (stage ``won_back``).

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_id": ["1", "2", "3"],
    ...     "order_date": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-02-01"]),
    ...     "amount": [10.0, 20.0, 15.0]})
    >>> lifecycle_kpis(orders)[["period", "new_customers", "returning_customers",
    ...                         "returning_revenue_share"]]
          period  new_customers  returning_customers  returning_revenue_share
    0 2024-01-01              1                    0                 0.000000
    1 2024-02-01              1                    1                 0.571429
    """
    if is_engine_source(orders):
        raise CrmDataError(
            "lifecycle_kpis is not available for Parquet/DuckDB/Spark sources; run "
            "lifecycle(source) for the stages or kpi_board(source) for the board, or load "
            "the orders with crm_analytics.read_orders(...)."
        )
    stage, uniques, start, data, (c_code, c_slot) = _stages(orders, as_of, freq,
                                                            sleep_after, lost_after)
    n, n_p = stage.shape
    if by is not None:
        level, labels, name, _ = data.levels(by, customers, min_size)
    else:
        level, labels, name = np.zeros(n, dtype=np.int64), ("",), None
    n_l = len(labels)
    first_slot = first_slots(c_code, c_slot, n)
    first_cell = c_slot == first_slot[c_code]
    slot = data.slot.astype(np.int64)
    lev = level[data.codes]
    returning_order = slot > first_slot[data.codes]
    size = n_p * n_l

    def count(key: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(key, weights=weights, minlength=size).reshape(n_p, n_l)

    revenue = count(slot * n_l + lev, data.amount)
    ret_revenue = count(slot * n_l + lev, np.where(returning_order, data.amount, 0.0))
    # customers per period: the purchase cells (distinct customer and period)
    cell_key = c_slot * n_l + level[c_code]
    buyers = count(cell_key)
    returning = count(cell_key[~first_cell])
    won_code, won_slot = np.nonzero(stage == STAGES.index("won_back"))
    won_back = count(won_slot * n_l + level[won_code])
    p, lv = np.divmod(np.arange(size), n_l)
    out = pd.DataFrame({
        "period": dates_from_days(start)[p],
        "customers": buyers.ravel().astype(np.int64),
        "new_customers": (buyers - returning).ravel().astype(np.int64),
        "returning_customers": returning.ravel().astype(np.int64),
        "revenue": revenue.ravel(),
        "returning_revenue": ret_revenue.ravel(),
        "won_back": won_back.ravel().astype(np.int64),
    })
    with np.errstate(invalid="ignore", divide="ignore"):
        out.insert(6, "returning_revenue_share", out["returning_revenue"] / out["revenue"])
    if name is not None:
        out.insert(0, name, np.asarray(labels, dtype=object)[lv])
        out = out.sort_values([name, "period"], kind="stable", key=lambda s: s.map(
            {v: i for i, v in enumerate(labels)}) if s.name == name else s)
        out = out.reset_index(drop=True)
    return out
