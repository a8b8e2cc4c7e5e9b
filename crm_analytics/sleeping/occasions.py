"""Each customer's order days, and day counts over intervals (shared by the analyses)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source
from crm_analytics.orders.encode import PreparedOrders, customer_codes, order_days
from crm_analytics.sleeping.rules import NEVER
from crm_analytics.summary import occasion_keys, purchase_occasions

#: Day number 0.
EPOCH_DAY = np.datetime64("1970-01-01", "D")


def refuse_engine_source(orders: object, name: str) -> None:
    """The one error of an analysis without a SQL path, for engine sources."""
    if is_engine_source(orders):
        raise CrmDataError(
            f"{name} is not available for Parquet/DuckDB/Spark sources; load the orders "
            "with crm_analytics.read_orders(...) (or pandas) first. member_status, "
            "sleeping_flow and reminder_list accept engine sources directly."
        )


def customer_order_days(orders: pd.DataFrame | PreparedOrders, *, amounts: bool = False):
    """Each customer's order days: ``(occ_cust, occ_day, occ_amount)``.

    Sorted by customer code then day; several orders on a day are one order day (with
    their amounts summed when ``amounts``, else ``occ_amount`` is None).
    """
    prepared = orders if isinstance(orders, PreparedOrders) else None
    frame = orders.orders if prepared is not None else orders
    codes, _ = customer_codes(orders)
    days = prepared.days if prepared is not None else order_days(frame)
    if not amounts:  # the summary's occasions (once per PreparedOrders object)
        occ_key, day0, span = (purchase_occasions(prepared) if prepared is not None
                               else occasion_keys(codes, days))
        occ_key = occ_key.astype(np.int64)
        return occ_key // span, occ_key % span + day0, None
    day0 = days.min()
    span = np.int64(days.max() - day0 + 1)
    key = codes.astype(np.int64) * span + (days - day0)
    order = np.argsort(key, kind="stable")
    key = key[order]
    new = np.empty(len(key), dtype=bool)
    new[:1] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    amount = frame["amount"].to_numpy(dtype=float)[order]
    occ_amount = np.add.reduceat(amount, np.flatnonzero(new))
    occ_key = key[new]
    return occ_key // span, occ_key % span + day0, occ_amount


def next_day(occ_cust: np.ndarray, occ_day: np.ndarray) -> np.ndarray:
    """The customer's next order day after each order day (``NEVER`` after the last)."""
    nxt = np.full(len(occ_day), NEVER, dtype=np.int64)
    same = occ_cust[1:] == occ_cust[:-1]
    nxt[:-1][same] = occ_day[1:][same]
    return nxt


def count_intervals(lo: np.ndarray, hi: np.ndarray, start: int, n_days: int) -> np.ndarray:
    """For each day ``t`` in ``start .. start + n_days - 1``: #intervals with lo <= t < hi."""
    keep = (hi > lo) & (lo < start + n_days) & (hi > start)
    lo_i = np.clip(lo[keep] - start, 0, n_days)
    hi_i = np.clip(hi[keep] - start, 0, n_days)
    diff = np.bincount(lo_i, minlength=n_days + 1) - np.bincount(hi_i, minlength=n_days + 1)
    return np.cumsum(diff[:n_days])


def count_days(days: np.ndarray, start: int, n_days: int) -> np.ndarray:
    """How many of ``days`` fall on each day of the range."""
    inside = (days >= start) & (days < start + n_days)
    return np.bincount(days[inside] - start, minlength=n_days)
