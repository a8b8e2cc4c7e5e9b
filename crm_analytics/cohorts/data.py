"""Orders up to ``as_of`` as arrays, with each customer's first order day.

What every cohort analysis starts from (the pandas path); computed once per
``PreparedOrders`` and ``as_of``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics._core.dates import day_number
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source
from crm_analytics.orders.encode import PreparedOrders, prepare_orders
from crm_analytics.summary import orders_until, resolve_as_of
from crm_analytics.summary.dimensions import dimension_codes

#: "No such day" (e.g. no second purchase day).
NO_DAY = np.iinfo(np.int64).max


def check_days(value: object, name: str) -> int:
    """A whole number of days >= 1, or a :class:`CrmDataError` naming the parameter."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1
    if not ok:
        raise CrmDataError(
            f"The {name!r} parameter must be a whole number of days >= 1 (or None). "
            f"Got {value!r} instead."
        )
    return int(value)


@dataclass(frozen=True, eq=False)
class CohortOrders:
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


def cohort_orders(orders: object, as_of: object, name: str) -> CohortOrders:
    """The orders up to ``as_of`` as :class:`CohortOrders` (once per ``PreparedOrders``)."""
    if is_engine_source(orders):
        raise CrmDataError(
            f"{name} is not available for Parquet/DuckDB/Spark sources; run "
            "customer_summary(source) first (frequency > 0 marks repeat customers) or load "
            "the orders with crm_analytics.read_orders(...). cohort_repurchase and "
            "cohort_revenue accept engine sources directly."
        )
    prepared = prepare_orders(orders)
    as_of_ts = resolve_as_of(prepared.orders, as_of)
    as_of_day = day_number(as_of_ts)
    # with prepared orders, computed once for every cohort step
    return prepared.derived(("cohort_orders", as_of_day),
                            lambda: _cohort_arrays(prepared, as_of_ts, as_of_day))


def _cohort_arrays(prepared: PreparedOrders, as_of_ts: pd.Timestamp,
                   as_of_day: int) -> CohortOrders:
    orders = prepared.orders
    days = prepared.days
    keep = orders_until(prepared, as_of_day)
    amount = orders["amount"].to_numpy(dtype=float)
    codes, uniques = prepared.customer_codes(None if keep.all() else keep)
    if not keep.all():
        days, amount = days[keep], amount[keep]
    first_day = np.full(len(uniques), NO_DAY)
    np.minimum.at(first_day, codes, days)
    first_day.flags.writeable = False
    return CohortOrders(codes, uniques, days, amount, first_day, as_of_ts, as_of_day)


def subset(data: CohortOrders, sel: np.ndarray) -> CohortOrders:
    """The customers selected by the boolean mask ``sel`` (and their orders), re-coded."""
    remap = np.cumsum(sel) - 1
    rows = sel[data.codes]
    return CohortOrders(remap[data.codes[rows]], data.uniques[sel], data.days[rows],
                        data.amount[rows], data.first_day[sel], data.as_of, data.as_of_day)


def by_levels(orders: object, by: object, customers: object, min_size: int, name: str
              ) -> tuple[PreparedOrders, Callable[[CohortOrders], Iterator]]:
    """Prepared orders and a splitter of :class:`CohortOrders` into ``by`` levels.

    The splitter yields ``(column name, level, subset)`` for every level with customers,
    in the dimension's order (see :mod:`crm_analytics.summary.dimensions`).
    """
    if is_engine_source(orders):
        raise CrmDataError(
            f"{name}(..., by=) is not available for Parquet/DuckDB/Spark sources; load the "
            "orders with crm_analytics.read_orders(...) to cut them by a customer attribute."
        )
    prepared = prepare_orders(orders)
    codes, labels, dim = dimension_codes(prepared, by, customers=customers, min_size=min_size)

    def split(data: CohortOrders) -> Iterator:
        level = codes[prepared.customer_ids.get_indexer(data.uniques)]
        for i, label in enumerate(labels):
            sel = level == i
            if sel.any():
                yield dim.name, label, subset(data, sel)

    return prepared, split


def second_day(data: CohortOrders) -> np.ndarray:
    """Each customer's second purchase day (``NO_DAY`` when there is none)."""
    second = np.full(len(data.first_day), NO_DAY)
    repeat = data.repeat
    np.minimum.at(second, data.codes[repeat], data.days[repeat])
    return second
