"""Replenishment (追销): how long a product lasts, and whose runs out soon.

:func:`repurchase_cycles` measures each product's repurchase cycle per unit from the
customers who bought it twice; :func:`replenishment_list` lists the customers whose
last purchase runs out within a few days (last date + cycle x quantity).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crm_analytics._core.checks import check_positive, format_examples
from crm_analytics._core.dates import EPOCH, dates_from_days, day_number
from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.frames import write_excel_csv
from crm_analytics.backends import is_engine_source, runner_for
from crm_analytics.orders.encode import PreparedOrders, prepare_orders
from crm_analytics.reminders.rules import (
    MIN_REPEATS,
    check_cycle_by,
    check_min_repeats,
    cycle_table,
)
from crm_analytics.reminders.sql import cycle_stats_on_engine
from crm_analytics.summary import resolve_as_of

__all__ = ["RepurchaseCycles", "replenishment_list", "repurchase_cycles"]


@dataclass(frozen=True, eq=False)
class RepurchaseCycles:
    """Result of :func:`repurchase_cycles`.

    Attributes
    ----------
    by : str
        ``"product"`` or ``"category"``.
    min_repeats : int
        Fewest repeat purchases a product needs for a cycle.
    as_of : pandas.Timestamp
        Orders after this day were not used.
    table : pandas.DataFrame
        One row per product (or category) bought twice by one customer: ``product`` /
        ``category``, ``repeat_buyers`` (customers who bought it again),
        ``repeat_purchases`` (gaps measured), ``cycle_days_per_unit`` (median days
        between two purchases by the same customer, per unit bought in the earlier one),
        ``cycle_q25`` and ``cycle_q75`` (quartiles), and ``note`` (why there is no
        cycle: too few repeat purchases). Most repeated first.
    n_bad_quantity : int
        Order rows with a quantity of 0 or below (or missing): left out.
    n_without_product : int
        Order rows without a product (category): left out.
    notes : tuple of str
    """

    by: str
    min_repeats: int
    as_of: pd.Timestamp
    table: pd.DataFrame
    n_bad_quantity: int = 0
    n_without_product: int = 0
    notes: tuple[str, ...] = ()

    def cycles(self) -> pd.Series:
        """Cycle per unit (days) of the products that have one, indexed by product."""
        t = self.table.dropna(subset=["cycle_days_per_unit"])
        return t.set_index(self.by)["cycle_days_per_unit"]


def _notes(by: str, n_bad: int, n_none: int) -> tuple[str, ...]:
    notes = []
    if n_bad:
        notes.append(f"{n_bad:,} order rows have a quantity of 0 or below (or none): "
                     "left out.")
    if n_none:
        notes.append(f"{n_none:,} order rows have no {by}: left out.")
    return tuple(notes)


def _occasions(prepared: PreparedOrders, by: str, as_of_day: int):
    """Purchases of one item by one customer on one day, sorted by (item, customer, day).

    Returns ``(item, cust, day, qty, items, n_bad_quantity, n_no_item)``; ``items`` are
    the item labels (codes index them).
    """
    o = prepared.orders
    missing = [c for c in (by, "quantity") if c not in o.columns]
    if missing:
        raise CrmDataError(
            f"Repurchase cycles need the column(s) {missing}; the orders have "
            f"{list(o.columns)}. Pass columns={{{by!r}: '<your {by} column>', "
            "'quantity': '<your quantity column>'} to read_orders (command line: "
            f"--columns {by}=...,quantity=...)."
        )
    qty = pd.to_numeric(o["quantity"], errors="coerce").to_numpy(dtype=float)
    item_codes, items = pd.factorize(o[by])
    days = prepared.days
    in_time = days <= as_of_day
    good_qty = np.isfinite(qty) & (qty > 0)
    n_bad = int((in_time & ~good_qty).sum())
    n_no_item = int((in_time & good_qty & (item_codes < 0)).sum())
    keep = in_time & good_qty & (item_codes >= 0)
    cust = prepared.codes[keep].astype(np.int64)
    item = item_codes[keep].astype(np.int64)
    day = days[keep].astype(np.int64)
    qty = qty[keep]
    n_cust = int(cust.max()) + 1 if cust.size else 1
    d0 = int(day.min()) if day.size else 0
    span = int(day.max()) - d0 + 1 if day.size else 1
    if float(len(items)) * n_cust * span < 2.0**62:
        key = (item * n_cust + cust) * span + (day - d0)
        order = np.argsort(key)  # same-key rows are summed: their order does not matter
        key = key[order]
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    else:  # pragma: no cover - astronomically many products x customers x days
        order = np.lexsort((day, cust, item))
        k = np.c_[item[order], cust[order], day[order]]
        first = np.flatnonzero(np.r_[True, (k[1:] != k[:-1]).any(axis=1)])
    q = np.add.reduceat(qty[order], first) if first.size else qty[:0]
    sel = order[first]
    return item[sel], cust[sel], day[sel], q, items, n_bad, n_no_item


def _gap_stats(item, cust, day, qty, items) -> pd.DataFrame:
    """Per item: repeat buyers, gaps and the quartiles of the gap per unit."""
    same = (item[1:] == item[:-1]) & (cust[1:] == cust[:-1])
    g_item = item[1:][same]
    per_unit = (day[1:] - day[:-1])[same] / qty[:-1][same]
    g_cust = cust[1:][same]
    new_buyer = np.r_[True, (g_item[1:] != g_item[:-1]) | (g_cust[1:] != g_cust[:-1])]
    n_items = len(items)
    repeats = np.bincount(g_item, minlength=n_items)
    buyers = np.bincount(g_item[new_buyer], minlength=n_items) if g_item.size else repeats
    ends = np.cumsum(repeats)  # gaps are sorted by item already
    rows = []
    for i in np.flatnonzero(repeats):
        seg = per_unit[ends[i] - repeats[i]:ends[i]]
        q25, q50, q75 = np.quantile(seg, [0.25, 0.5, 0.75])
        rows.append((items[i], int(buyers[i]), int(repeats[i]), q25, q50, q75))
    return pd.DataFrame(rows, columns=["item", "repeat_buyers", "repeat_purchases",
                                       "q25", "q50", "q75"])


def repurchase_cycles(orders: object, *, by: str = "product", min_repeats: int = MIN_REPEATS,
                      as_of: object = None) -> RepurchaseCycles:
    """Each product's repurchase cycle (复购周期) per unit, from customers who re-bought.

    For every customer and product, purchases on the same day count as one (quantities
    added). Between two consecutive purchases of the product by the same customer, the
    cycle per unit is the days between them divided by the quantity bought in the
    earlier one: 3 cans that lasted 60 days give 20 days per can. A product's cycle is
    the median of these, with the quartiles as its spread.

    The product column is used as given: a column of whole titles with the quantity
    inside ("奶粉 3罐装") makes each pack size its own product, and its quantity counts
    packs. Map a cleaner product column before (``orders.assign(product=...)``, or
    ``read_orders(..., columns={"product": "<column>"})``).

    Parameters
    ----------
    orders : pandas.DataFrame, PreparedOrders or engine source
        Orders with ``product`` (or ``category``) and ``quantity`` columns, one row per
        order (read_orders combines line items). Parquet paths and DuckDB relations are
        computed in SQL.
    by : {"product", "category"}, default "product"
    min_repeats : int, default 30
        Products with fewer repeat purchases get no cycle (NaN) and a note.
    as_of : date-like, optional
        Use orders up to this day (default: the last order day).

    Returns
    -------
    RepurchaseCycles
        ``.table`` with columns ``product`` (or ``category``), ``repeat_buyers``,
        ``repeat_purchases``, ``cycle_days_per_unit``, ``cycle_q25``, ``cycle_q75``,
        ``note``; counts of the rows left out (quantity 0 or below, no product).

    Raises
    ------
    CrmDataError
        Missing ``product`` / ``quantity`` columns, a bad ``by`` or ``min_repeats``, or
        any error of :func:`~crm_analytics.validate_orders`.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({
    ...     "customer_id": ["a", "a", "a", "b", "b"], "order_id": list("12345"),
    ...     "order_date": pd.to_datetime(["2025-01-01", "2025-03-02", "2025-04-01",
    ...                                   "2025-01-10", "2025-02-09"]),
    ...     "amount": [300.0, 100.0, 200.0, 100.0, 100.0],
    ...     "product": ["formula"] * 5, "quantity": [3, 1, 2, 1, 1]})
    >>> res = repurchase_cycles(orders, min_repeats=2)
    >>> res.table[["product", "repeat_buyers", "repeat_purchases", "cycle_days_per_unit"]]
       product  repeat_buyers  repeat_purchases  cycle_days_per_unit
    0  formula              2                 3                 30.0
    """
    by = check_cycle_by(by)
    min_repeats = check_min_repeats(min_repeats)
    if is_engine_source(orders):
        stats, n_bad, n_none, as_of_day = cycle_stats_on_engine(runner_for(orders), by=by,
                                                                as_of=as_of)
    else:
        prepared = prepare_orders(orders)
        as_of_day = day_number(resolve_as_of(prepared.orders, as_of))
        item, cust, day, qty, items, n_bad, n_none = _occasions(prepared, by, as_of_day)
        stats = _gap_stats(item, cust, day, qty, items)
    return RepurchaseCycles(by=by, min_repeats=min_repeats,
                            as_of=pd.Timestamp(EPOCH + np.timedelta64(as_of_day, "D")),
                            table=cycle_table(by, stats, min_repeats),
                            n_bad_quantity=n_bad, n_without_product=n_none,
                            notes=_notes(by, n_bad, n_none))


def _cycle_lookup(cycles: object, by: str) -> pd.Series:
    table = cycles.table if isinstance(cycles, RepurchaseCycles) else cycles
    if not isinstance(table, pd.DataFrame) or not {by, "cycle_days_per_unit"} <= set(
            table.columns):
        raise CrmDataError(
            f"The 'cycles' parameter must be a repurchase_cycles(...) result or a table "
            f"with columns {by!r} and 'cycle_days_per_unit'. Got {type(table).__name__}."
        )
    t = table.dropna(subset=["cycle_days_per_unit"])
    bad = ~(t["cycle_days_per_unit"] > 0)
    if bad.any():
        raise CrmDataError(
            f"Column 'cycle_days_per_unit' of 'cycles' must be positive; "
            f"{int(bad.sum())} rows are not ({format_examples(t.loc[bad, by])})."
        )
    return t.set_index(t[by].astype(str))["cycle_days_per_unit"].astype(float)


def replenishment_list(orders: object, *, as_of: object = None, lead_days: int = 7,
                       by: str = "product", cycles: object = None,
                       min_repeats: int = MIN_REPEATS, path: object = None) -> pd.DataFrame:
    """Customers whose last purchase of a product runs out within ``lead_days``.

    The expected run-out day of a customer's last purchase of a product is its day plus
    ``floor(cycle_days_per_unit x quantity)`` (quantities of one day added). A customer
    is listed when that day falls in ``[as_of, as_of + lead_days]``: contact them about
    a week before they run out. A customer who re-bought the product since is judged on
    the new purchase, so they are not listed for the old one.

    Parameters
    ----------
    orders : pandas.DataFrame or PreparedOrders
        Orders with ``product`` (or ``category``) and ``quantity``.
    as_of : date-like, optional
        The day of the list (default: the last order day). Later orders are not used.
    lead_days : int, default 7
    by : {"product", "category"}, default "product"
    cycles : RepurchaseCycles or pandas.DataFrame, optional
        Cycles to use (a table with ``product`` and ``cycle_days_per_unit``, e.g. the
        cycles you know from the supplier); default :func:`repurchase_cycles` of the
        same orders up to ``as_of``. Products without a cycle are not listed.
    min_repeats : int, default 30
        Passed to :func:`repurchase_cycles` when ``cycles`` is not given.
    path : str or Path, optional
        Also write the list there as an Excel-safe CSV (UTF-8 with BOM).

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``product`` (or ``category``), ``last_purchase`` (day),
        ``quantity``, ``cycle_days_per_unit``, ``runout_date``, ``days_to_runout`` and
        the customer's history up to ``as_of``: ``orders``, ``spend``, ``first_order``,
        ``last_order``. Sorted by run-out date, then customer.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({
    ...     "customer_id": ["a", "b", "b"], "order_id": ["1", "2", "3"],
    ...     "order_date": pd.to_datetime(["2025-01-01", "2025-01-05", "2025-02-01"]),
    ...     "amount": [300.0, 100.0, 100.0], "product": ["formula"] * 3,
    ...     "quantity": [3, 1, 1]})
    >>> cycles = pd.DataFrame({"product": ["formula"], "cycle_days_per_unit": [20.0]})
    >>> replenishment_list(orders, as_of="2025-02-25", cycles=cycles)[
    ...     ["customer_id", "runout_date", "days_to_runout", "orders"]]
      customer_id runout_date  days_to_runout  orders
    0           a  2025-03-02               5       1
    """
    by = check_cycle_by(by)
    if isinstance(lead_days, bool) or not isinstance(lead_days, int | np.integer):
        raise CrmDataError(f"The 'lead_days' parameter must be an int. Got {lead_days!r}.")
    check_positive(lead_days, "lead_days", allow_zero=True)
    if is_engine_source(orders):
        raise CrmDataError(
            "replenishment_list is not available for Parquet/DuckDB/Spark sources; run "
            "repurchase_cycles(source) there, then pass the customers' recent orders as "
            "a DataFrame with cycles=<that result>."
        )
    prepared = prepare_orders(orders)
    as_of_ts = resolve_as_of(prepared.orders, as_of)
    as_of_day = day_number(as_of_ts)
    if cycles is None:
        cycles = repurchase_cycles(prepared, by=by, min_repeats=min_repeats, as_of=as_of_ts)
    lookup = _cycle_lookup(cycles, by)
    item, cust, day, qty, items, _, _ = _occasions(prepared, by, as_of_day)
    last = np.r_[(item[1:] != item[:-1]) | (cust[1:] != cust[:-1]), True] if item.size \
        else np.zeros(0, dtype=bool)
    item, cust, day, qty = item[last], cust[last], day[last], qty[last]
    cycle = lookup.reindex(pd.Index(items).astype(str)).to_numpy(dtype=float)[item]
    with np.errstate(invalid="ignore"):
        runout = day + np.floor(cycle * qty)
    left = runout - as_of_day
    hit = np.isfinite(left) & (left >= 0) & (left <= lead_days)
    codes, days = prepared.codes, prepared.days
    kept = days <= as_of_day
    n = len(prepared.customer_ids)
    n_orders = np.bincount(codes[kept], minlength=n)
    spend = np.bincount(codes[kept], weights=prepared.orders["amount"].to_numpy(
        dtype=float)[kept], minlength=n)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, codes[kept], days[kept])
    lastd = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(lastd, codes[kept], days[kept])
    c = cust[hit]
    out = pd.DataFrame({
        "customer_id": prepared.customer_ids.to_numpy(dtype=object)[c],
        by: pd.Index(items).astype(str).to_numpy(dtype=object)[item[hit]],
        "last_purchase": dates_from_days(day[hit]),
        "quantity": qty[hit],
        "cycle_days_per_unit": cycle[hit],
        "runout_date": dates_from_days(runout[hit].astype(np.int64)),
        "days_to_runout": left[hit].astype(np.int64),
        "orders": n_orders[c],
        "spend": spend[c],
        "first_order": dates_from_days(first[c]),
        "last_order": dates_from_days(lastd[c]),
    })
    out = out.sort_values(["runout_date", "customer_id", by], kind="stable").reset_index(
        drop=True)
    if path is not None:
        write_excel_csv(out, Path(path))
    return out
