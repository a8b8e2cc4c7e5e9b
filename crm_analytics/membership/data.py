"""Orders up to ``as_of`` as arrays with their period slot; members and levels aligned.

What the lifecycle stages and the KPI board start from on the pandas path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics._core.dates import day_number
from crm_analytics._core.errors import CrmDataError
from crm_analytics.membership.rules import period_number
from crm_analytics.orders.encode import PreparedOrders, prepare_orders
from crm_analytics.summary import orders_until, resolve_as_of
from crm_analytics.summary.dimensions import dimension_codes

__all__ = ["PeriodOrders", "member_join_days", "period_orders"]

#: Join day of a customer who is not a member.
NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True, eq=False)
class PeriodOrders:
    """Orders up to ``as_of`` (sorted by date) with customer codes and period slots."""

    prepared: PreparedOrders
    codes: np.ndarray
    uniques: pd.Index
    days: np.ndarray
    amount: np.ndarray
    slot: np.ndarray  # period slot of each order: period number - first
    first: int  # period number of slot 0
    n_periods: int
    as_of: pd.Timestamp
    as_of_day: int
    freq: str
    all_orders: bool  # no order after as_of: codes and days are the prepared ones

    def levels(self, by: object, customers: object, min_size: int
               ) -> tuple[np.ndarray, tuple, str, list]:
        """Level code of each customer (in :attr:`uniques` order), labels, name, notes."""
        codes, labels, dim = dimension_codes(self.prepared, by, customers=customers,
                                             min_size=min_size)
        ids = self.prepared.customer_ids
        if len(ids) != len(self.uniques):
            codes = codes[ids.get_indexer(self.uniques)]
        return codes, labels, dim.name, dim.notes


def period_orders(orders: object, as_of: object, freq: str) -> PeriodOrders:
    """The orders up to ``as_of`` with their period slots (once per PreparedOrders)."""
    prepared = prepare_orders(orders)
    as_of_ts = resolve_as_of(prepared.orders, as_of)
    as_of_day = day_number(as_of_ts)

    def compute() -> PeriodOrders:
        keep = orders_until(prepared, as_of_day)
        days = prepared.days
        amount = prepared.orders["amount"].to_numpy(dtype=float)
        codes, uniques = prepared.customer_codes(None if keep.all() else keep)
        if not keep.all():
            days, amount = days[keep], amount[keep]
        number = period_number(days, freq)
        first = int(number.min())
        last = int(period_number(np.array([as_of_day]), freq)[0])
        slot = (number - first).astype(np.int32)
        return PeriodOrders(prepared, codes, uniques, days, amount, slot, first,
                            last - first + 1, as_of_ts, as_of_day, freq, bool(keep.all()))

    return prepared.derived(("lifecycle_orders", as_of_day, freq), compute)


def member_join_days(members: object, uniques: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Join day of each customer of ``uniques`` (NEVER if not a member), and of every member.

    ``members`` lists the members (``customer_id``; optionally ``join_date``, else they
    count as members from the start). A member listed several times (one row per tier)
    joined on their earliest ``join_date``.
    """
    if not isinstance(members, pd.DataFrame) or "customer_id" not in members.columns:
        raise CrmDataError(
            "The 'members' parameter must be a DataFrame with a customer_id column (and "
            "optionally join_date), one row per member or per member tier."
        )
    ids = members["customer_id"].astype(str)
    if "join_date" in members.columns:
        join = pd.to_datetime(members["join_date"], errors="coerce")
        n_bad = int(join.isna().sum() - members["join_date"].isna().sum())
        if n_bad:
            raise CrmDataError(
                f"{n_bad} join_date values of the member table are not dates, e.g. "
                f"{members['join_date'][join.isna() & members['join_date'].notna()].head(3).tolist()}."
            )
        day = join.to_numpy(dtype="datetime64[D]").astype(np.int64)
        day[join.isna().to_numpy()] = np.iinfo(np.int64).min  # unknown: member all along
    else:
        day = np.full(len(ids), np.iinfo(np.int64).min, dtype=np.int64)
    per_member = pd.Series(day, index=ids.to_numpy()).groupby(level=0).min()
    pos = per_member.index.get_indexer(uniques)
    join_day = np.where(pos >= 0, per_member.to_numpy()[np.maximum(pos, 0)], NEVER)
    return join_day, np.sort(per_member.to_numpy())
