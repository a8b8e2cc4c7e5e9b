"""Several stores, one customer: unify customer ids across shops by a shared key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics.orders.encode import PreparedOrders

__all__ = ["MergedCustomers", "merge_customers"]


@dataclass(frozen=True, eq=False)
class MergedCustomers:
    """Result of :func:`merge_customers`.

    Attributes
    ----------
    customers : pandas.DataFrame
        One row per (store, customer_id): ``store``, ``customer_id``, ``key`` (the
        shared key used; missing when the customer has none) and ``unified_id``
        (the key, or ``"<store>:<customer_id>"`` for customers without a key).
    conflicts : pandas.DataFrame
        ``store``, ``kind`` (``"key_with_several_ids"``: one key for several ids of one
        store; ``"id_with_several_keys"``: one id with several keys, the most frequent
        used), ``value`` (the key or the id) and ``ids`` (the other side, joined by
        ", "). Empty when the stores are consistent.
    key : str
        The key column.
    """

    customers: pd.DataFrame
    conflicts: pd.DataFrame
    key: str

    def unify(self, orders: pd.DataFrame, *, store: str) -> pd.DataFrame:
        """Orders of one store with ``customer_id`` replaced by the unified id.

        Adds a ``store`` column and prefixes ``order_id`` with ``"<store>:"`` so orders
        of several stores can be concatenated and analysed together. Customers unknown
        to the merge become ``"<store>:<customer_id>"``. Does not modify ``orders``.
        """
        if isinstance(orders, PreparedOrders):
            orders = orders.orders
        mine = self.customers[self.customers["store"] == store]
        lookup = pd.Series(mine["unified_id"].to_numpy(), index=mine["customer_id"].to_numpy())
        ids = orders["customer_id"].astype(str)
        unified = ids.map(lookup)
        out = orders.copy()
        out["customer_id"] = unified.where(unified.notna(), store + ":" + ids).astype(str)
        if "order_id" in out.columns:
            out["order_id"] = store + ":" + out["order_id"].astype(str)
        out["store"] = store
        return out

    def combine(self, orders_by_store: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """The orders of several stores in one table, customers unified (see :meth:`unify`)."""
        parts = [self.unify(o, store=s) for s, o in orders_by_store.items()]
        return pd.concat(parts, ignore_index=True).sort_values("order_date", kind="stable",
                                                               ignore_index=True)


def merge_customers(tables: Mapping[str, pd.DataFrame], *, key: str) -> MergedCustomers:
    """Unify customers across stores or platforms by a shared key.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Store name -> a table with ``customer_id`` and the ``key`` column (orders or a
        customers table; several rows per customer are fine).
    key : str
        The shared key column: a hashed phone number, a union id ... Missing keys are
        allowed (those customers stay separate).

    Returns
    -------
    MergedCustomers
        The id mapping, the conflicts, and :meth:`MergedCustomers.combine` to build one
        order table every analysis can run on.

    Raises
    ------
    CrmDataError
        No tables, a table without ``customer_id`` or ``key``.

    Examples
    --------
    >>> tmall = pd.DataFrame({"customer_id": ["t1", "t2", "t3"],
    ...                       "phone_hash": ["h1", "h2", "h2"]})
    >>> jd = pd.DataFrame({"customer_id": ["j9", "j8"], "phone_hash": ["h1", None]})
    >>> merged = merge_customers({"tmall": tmall, "jd": jd}, key="phone_hash")
    >>> merged.customers
       store customer_id  key unified_id
    0  tmall          t1   h1         h1
    1  tmall          t2   h2         h2
    2  tmall          t3   h2         h2
    3     jd          j8  NaN      jd:j8
    4     jd          j9   h1         h1
    >>> merged.conflicts
       store                  kind value     ids
    0  tmall  key_with_several_ids    h2  t2, t3
    """
    if not isinstance(tables, Mapping) or not tables:
        raise CrmDataError(
            "The 'tables' parameter must be a non-empty mapping of store name to table, "
            "e.g. {'tmall': tmall_orders, 'jd': jd_orders}."
        )
    parts, conflicts = [], []
    for store, table in tables.items():
        if not isinstance(table, pd.DataFrame) or not {"customer_id", key} <= set(table):
            have = list(table.columns) if isinstance(table, pd.DataFrame) else type(table)
            raise CrmDataError(
                f"The table of store {store!r} needs customer_id and {key!r} columns; it "
                f"has {have}."
            )
        ids = table["customer_id"].astype(str).str.strip()
        keys = table[key].astype(object).where(table[key].notna())
        keys = keys.map(lambda v: v if v is None or isinstance(v, float) else str(v).strip())
        keys = keys.where(keys != "")
        pairs = pd.DataFrame({"customer_id": ids, "key": keys}).dropna()
        counts = pairs.value_counts().reset_index(name="n")
        # one key per id: the most frequent (ties: the first in key order)
        counts = counts.sort_values(["customer_id", "n", "key"], ascending=[True, False, True])
        for cid, g in counts.groupby("customer_id", sort=True):
            if len(g) > 1:
                conflicts.append({"store": store, "kind": "id_with_several_keys",
                                  "value": cid, "ids": ", ".join(g["key"])})
        chosen = counts.drop_duplicates("customer_id")
        for k, g in chosen.groupby("key", sort=True):
            if len(g) > 1:
                conflicts.append({"store": store, "kind": "key_with_several_ids",
                                  "value": k, "ids": ", ".join(sorted(g["customer_id"]))})
        all_ids = pd.DataFrame({"customer_id": np.sort(ids.unique())})
        mapped = all_ids.merge(chosen[["customer_id", "key"]], on="customer_id", how="left")
        mapped["unified_id"] = mapped["key"].where(mapped["key"].notna(),
                                                   store + ":" + mapped["customer_id"])
        mapped.insert(0, "store", store)
        parts.append(mapped)
    return MergedCustomers(
        customers=pd.concat(parts, ignore_index=True),
        conflicts=pd.DataFrame(conflicts, columns=["store", "kind", "value", "ids"]),
        key=key,
    )
