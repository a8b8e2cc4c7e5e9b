"""Validated orders with their customer ids encoded once: :class:`PreparedOrders`.

Encoding millions of text customer ids into integer codes is the largest part of each
per-customer step. A pipeline that runs several analyses on the same orders calls
:func:`prepare_orders` once and passes the result wherever orders are accepted; each
analysis then reuses the codes and the arrays derived from them (order days, purchase
occasions), computed at most once per :class:`PreparedOrders` object. Nothing is kept
anywhere else: the same inputs give the same results whether or not they were prepared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crm_analytics._core.checks import require_dataframe
from crm_analytics.orders.validate import POWERS_OF_TEN, ValidationReport, validate_orders

__all__ = ["PreparedOrders", "customer_codes", "order_days", "prepare_orders"]

_Value = TypeVar("_Value")


def order_days(orders: pd.DataFrame) -> np.ndarray:
    """Order dates as integer day numbers (days since 1970-01-01).

    >>> order_days(pd.DataFrame({"order_date": pd.to_datetime(["1970-01-02"])}))
    array([1])
    """
    return orders["order_date"].to_numpy(dtype="datetime64[D]").astype(np.int64)


def factorize_digit_ids(ids: pd.Series) -> tuple[np.ndarray, pd.Index] | None:
    """``pd.factorize(ids, sort=True)`` for Arrow text ids that are plain decimal numbers.

    Platform ids (Taobao, JD, Shopify customer numbers) are often digits; hashing them
    as int64 is several times cheaper than hashing text. Used only when every id is the
    canonical text of a number below 10**18 (no sign, space or leading zero: the byte
    length equals the digit count), so the codes and uniques equal pandas' exactly.
    Returns None otherwise, at the cost of one cheap check (ids that do not start with a
    digit are turned down before any cast is tried).
    """
    arr = getattr(ids.array, "_pa_array", None)
    if arr is None or len(arr) == 0 or arr.null_count:
        return None
    first = arr.chunk(0) if isinstance(arr, pa.ChunkedArray) and arr.num_chunks else arr
    if len(first) and not pc.utf8_is_digit(first[:1]).to_pylist()[0]:
        return None  # nicknames, e-mails, "c123": no cast is attempted
    try:
        values = pc.cast(arr, pa.int64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    codes, uniq = pd.factorize(values, sort=False)
    if uniq.min() < 0:
        return None
    n_digits = np.maximum(np.searchsorted(POWERS_OF_TEN, uniq, side="right"), 1)
    if n_digits.max() > 18:
        return None
    # "007", "+7" are not canonical. Each text is at least as long as its number's digit
    # count, so all are canonical exactly when the byte totals are equal (no per-row pass).
    text_bytes = pc.sum(pc.binary_length(arr)).as_py()
    if text_bytes != int(np.bincount(codes, minlength=len(uniq)) @ n_digits):
        return None
    # text order: digits left-aligned (zero-padded on the right), then shorter first
    order = np.lexsort((n_digits, uniq * POWERS_OF_TEN[18 - n_digits]))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    text = pc.cast(pa.array(uniq[order]), arr.type)
    uniques = pd.Index(ids.dtype.construct_array_type()._from_sequence(text, dtype=ids.dtype))
    return rank[codes], uniques


def factorize_ids(ids: pd.Series, *, sort: bool = True) -> tuple[np.ndarray, pd.Index]:
    """Integer codes and unique values of customer ids (sorted, as ``pd.factorize``).

    >>> codes, uniques = factorize_ids(pd.Series(["b", "a", "b"]))
    >>> codes.tolist(), list(uniques)
    ([1, 0, 1], ['a', 'b'])
    """
    fast = factorize_digit_ids(ids)
    return fast if fast is not None else pd.factorize(ids, sort=sort)


def _subset_codes(codes: np.ndarray, uniques: pd.Index,
                  keep: np.ndarray | None) -> tuple[np.ndarray, pd.Index]:
    if keep is None:
        return codes, uniques
    codes = codes[keep]
    present = np.bincount(codes, minlength=len(uniques)) > 0
    if present.all():
        return codes, uniques
    new_code = np.cumsum(present) - 1  # drop customers without a kept order, keep order
    return new_code[codes], uniques[present]


@dataclass(frozen=True, eq=False)
class PreparedOrders:
    """Validated orders with customer codes and day numbers computed at most once.

    Make one with :func:`prepare_orders`; every analysis that accepts orders accepts it.

    Attributes
    ----------
    orders : pandas.DataFrame
        The validated, canonical orders. Treat as read-only.
    report : ValidationReport or None
        What validation changed or excluded.
    """

    orders: pd.DataFrame
    report: ValidationReport | None = None
    _derived: dict = field(default_factory=dict, repr=False)

    @cached_property
    def _codes(self) -> tuple[np.ndarray, pd.Index]:
        codes, uniques = factorize_ids(self.orders["customer_id"], sort=True)
        codes = np.asarray(codes)
        codes.flags.writeable = False
        return codes, uniques

    @property
    def codes(self) -> np.ndarray:
        """Customer code of each order (position of its id in :attr:`customer_ids`)."""
        return self._codes[0]

    @property
    def customer_ids(self) -> pd.Index:
        """The distinct customer ids, sorted."""
        return self._codes[1]

    @cached_property
    def days(self) -> np.ndarray:
        """Day number of each order (days since 1970-01-01), read-only."""
        days = order_days(self.orders)
        days.flags.writeable = False
        return days

    def customer_codes(self, keep: np.ndarray | None = None) -> tuple[np.ndarray, pd.Index]:
        """Codes and sorted ids of the orders selected by the boolean mask ``keep``."""
        return _subset_codes(self.codes, self.customer_ids, keep)

    def derived(self, key: tuple, compute: Callable[[], _Value]) -> _Value:
        """``compute()`` once per ``key`` for these orders; NumPy results are read-only.

        Used by the analyses for intermediate arrays that depend only on the orders and
        ``key`` (for example purchase occasions up to an as-of day).
        """
        if key not in self._derived:
            value = compute()
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, np.ndarray):
                    item.flags.writeable = False
            self._derived[key] = value
        return self._derived[key]


def prepare_orders(orders: pd.DataFrame | PreparedOrders, **validate_options: object
                   ) -> PreparedOrders:
    """Validate orders once and encode their customer ids once, for several analyses.

    Parameters
    ----------
    orders : pandas.DataFrame or PreparedOrders
        Orders as for :func:`crm_analytics.validate_orders` (a PreparedOrders is
        returned as it is).
    **validate_options
        Passed to :func:`crm_analytics.validate_orders` (e.g. ``column_map``).

    Returns
    -------
    PreparedOrders

    Examples
    --------
    >>> import crm_analytics as ca
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_id": ["1", "2", "3"],
    ...     "order_date": ["2024-01-01", "2024-01-11", "2024-01-05"], "amount": [10, 30, 8]})
    >>> prepared = ca.prepare_orders(orders)
    >>> ca.customer_summary(prepared, as_of="2024-01-31")["frequency"].tolist()
    [1, 0]
    """
    if isinstance(orders, PreparedOrders):
        return orders
    require_dataframe(orders, "orders")
    validated, report = validate_orders(orders, return_report=True, **validate_options)
    return PreparedOrders(validated, report)


def customer_codes(orders: pd.DataFrame | PreparedOrders, keep: np.ndarray | None = None
                   ) -> tuple[np.ndarray, pd.Index]:
    """Customer codes and sorted ids of (the ``keep`` rows of) validated orders."""
    if isinstance(orders, PreparedOrders):
        return orders.customer_codes(keep)
    ids = orders["customer_id"]
    return factorize_ids(ids if keep is None else ids[keep], sort=True)
