"""Reactivation: of members who fell asleep each month, who ordered again, and value."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np
import pandas as pd

from crm_analytics._core.dates import day_number
from crm_analytics._core.errors import CrmDataError
from crm_analytics.orders.encode import prepare_orders
from crm_analytics.sleeping.occasions import (
    EPOCH_DAY,
    customer_order_days,
    next_day,
    refuse_engine_source,
)
from crm_analytics.sleeping.rules import NEVER, check_count
from crm_analytics.summary import resolve_as_of

__all__ = ["Reactivation", "reactivation"]


@dataclass(frozen=True, eq=False)
class Reactivation:
    """Reactivation of members after they fell asleep, by month of falling asleep.

    Attributes
    ----------
    table : pandas.DataFrame
        Long form, one row per cohort and window: ``cohort`` (first day of the month
        the members fell asleep), ``window_days, n_asleep, n_reactivated,
        reactivation_rate, revenue, revenue_per_sleeper, complete``. A member is
        reactivated within ``w`` days when their next order is at most ``w`` days
        after ``sleep_date``; ``revenue`` is what the cohort spent in those ``w``
        days. A cell is ``complete`` when the whole window of every member is on or
        before ``as_of`` (the month's last day + ``w`` <= ``as_of``); incomplete cells
        have missing counts and rates, never a too-low rate.
    curve : pandas.DataFrame
        All cohorts pooled: ``days_since_asleep, n_observed`` (sleep episodes
        observed that long), ``n_reactivated, share_reactivated`` (woken within that
        many days, among the observed).
    sleep_after : int
    windows : tuple of int
    as_of : pandas.Timestamp
    """

    table: pd.DataFrame
    curve: pd.DataFrame
    sleep_after: int
    windows: tuple[int, ...]
    as_of: pd.Timestamp

    def rates(self) -> pd.DataFrame:
        """Reactivation rate, one row per cohort and one column per window."""
        return self.table.pivot(index="cohort", columns="window_days",
                                values="reactivation_rate")

    def overall(self) -> pd.DataFrame:
        """Complete cohorts pooled: one row per window."""
        done = self.table[self.table["complete"]]
        out = done.groupby("window_days").agg(
            n_asleep=("n_asleep", "sum"), n_reactivated=("n_reactivated", "sum"),
            revenue=("revenue", "sum"),
        ).reindex(list(self.windows))
        out["reactivation_rate"] = out["n_reactivated"] / out["n_asleep"]
        out["revenue_per_sleeper"] = out["revenue"] / out["n_asleep"]
        return out.reset_index()


def reactivation(
    orders: pd.DataFrame,
    *,
    sleep_after: int = 90,
    as_of: object = None,
    windows: tuple[int, ...] = (30, 60, 90),
) -> Reactivation:
    """Of members who fell asleep each month, the share that ordered again, and value.

    Every sleep episode counts (a member can fall asleep, wake and fall asleep
    again). See :class:`Reactivation` for the definitions.

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical orders. Not modified. Orders after ``as_of`` are ignored.
    sleep_after : int, default 90
    as_of : date-like, optional
        End of observation. Default: the last order date.
    windows : tuple of int, default (30, 60, 90)
        Days after falling asleep.

    Returns
    -------
    Reactivation

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_id": ["1", "2", "3"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-20", "2024-01-02"]),
    ...     "amount": [10.0, 25.0, 5.0]})
    >>> res = reactivation(orders, sleep_after=10, as_of="2024-03-31", windows=(10, 30))
    >>> res.table[["cohort", "window_days", "n_asleep", "n_reactivated", "revenue"]]
          cohort  window_days  n_asleep  n_reactivated  revenue
    0 2024-01-01           10         3              1     25.0
    1 2024-01-01           30         3              1     25.0
    """
    refuse_engine_source(orders, "reactivation")
    s = check_count(sleep_after, "sleep_after", 1)
    if isinstance(windows, Integral):
        windows = (windows,)
    windows = tuple(sorted({check_count(w, "windows", 1) for w in windows}))
    if not windows:
        raise CrmDataError("The 'windows' parameter must list at least one number of days.")
    orders = prepare_orders(orders).orders
    as_of_ts = resolve_as_of(orders, as_of)
    as_of_day = day_number(as_of_ts)
    sub = orders[orders["order_date"] < as_of_ts + pd.Timedelta(days=1)]
    if sub.empty:
        raise CrmDataError(f"No order is on or before as_of={as_of_ts.date()}.")
    occ_cust, occ_day, occ_amount = customer_order_days(sub, amounts=True)
    nxt = next_day(occ_cust, occ_day)
    asleep_day = occ_day + s
    episode = (nxt - occ_day > s) & (asleep_day <= as_of_day)
    idx = np.flatnonzero(episode)
    fell = asleep_day[idx]
    lag = np.where(nxt[idx] < NEVER, nxt[idx] - fell, NEVER)
    # revenue in (fell, fell + w]: cumulative amount per customer via the sorted keys
    span = np.int64(as_of_day - occ_day.min() + 1)
    key = occ_cust * span + (occ_day - occ_day.min())
    cum = np.cumsum(occ_amount)
    cohort = (fell + EPOCH_DAY).astype("datetime64[M]")
    month_end = ((cohort + 1).astype("datetime64[D]") - EPOCH_DAY).astype(np.int64) - 1
    parts = []
    for w in windows:  # a handful of windows, not customers
        limit = np.minimum(fell + w, as_of_day) - occ_day.min()
        j = np.searchsorted(key, occ_cust[idx] * span + limit, side="right") - 1
        revenue = np.where(lag <= w, cum[j] - cum[idx], 0.0)
        parts.append(pd.DataFrame({
            "cohort": cohort.astype("datetime64[ns]"), "window_days": w,
            "reactivated": lag <= w, "revenue": revenue,
            "complete": month_end + w <= as_of_day,
        }))
    episodes = pd.concat(parts, ignore_index=True)
    table = episodes.groupby(["cohort", "window_days"], sort=True).agg(
        n_asleep=("reactivated", "size"), n_reactivated=("reactivated", "sum"),
        revenue=("revenue", "sum"), complete=("complete", "all"),
    ).reset_index()
    table["n_reactivated"] = table["n_reactivated"].astype("Int64")
    table.loc[~table["complete"], ["n_reactivated"]] = pd.NA
    table["revenue"] = table["revenue"].where(table["complete"])
    table["reactivation_rate"] = table["n_reactivated"].astype(float) / table["n_asleep"]
    table["revenue_per_sleeper"] = table["revenue"] / table["n_asleep"]
    table = table[["cohort", "window_days", "n_asleep", "n_reactivated", "reactivation_rate",
                   "revenue", "revenue_per_sleeper", "complete"]]

    horizon = max(windows)
    observed = np.clip(as_of_day - fell, 0, horizon)
    n_obs = np.cumsum(np.bincount(observed, minlength=horizon + 1)[::-1])[::-1]
    woke = lag <= observed
    diff = np.bincount(lag[woke], minlength=horizon + 2)[: horizon + 2] - np.bincount(
        observed[woke] + 1, minlength=horizon + 2
    )
    n_react = np.cumsum(diff)[: horizon + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_obs > 0, n_react / np.maximum(n_obs, 1), np.nan)
    curve = pd.DataFrame({
        "days_since_asleep": np.arange(horizon + 1), "n_observed": n_obs,
        "n_reactivated": n_react, "share_reactivated": share,
    }).iloc[1:].reset_index(drop=True)
    return Reactivation(table=table, curve=curve, sleep_after=s, windows=windows,
                        as_of=as_of_ts)
