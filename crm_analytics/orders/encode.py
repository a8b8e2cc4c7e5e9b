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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crm_analytics._core.checks import require_dataframe
from crm_analytics._core.errors import CrmDataError
from crm_analytics.orders.validate import POWERS_OF_TEN, ValidationReport, validate_orders

__all__ = [
    "EXPECTED_IDS_PER_ROW",
    "HASHED_MIN_ROWS",
    "PreparedOrders",
    "customer_codes",
    "factorize_digit_ids",
    "factorize_ids",
    "factorize_text_ids",
    "hash_texts",
    "order_days",
    "prepare_orders",
]

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


#: Below this many ids pandas' own factorize is as fast as hashing them in DuckDB.
HASHED_MIN_ROWS = 50_000


def hash_texts(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A 64-bit hash of each text (DuckDB's ``hash``, multi-threaded), as int64.

    Runs on a cursor of DuckDB's default in-memory database (no new database to open);
    nothing is stored there. Callers check the result (:func:`factorize_text_ids`), so
    no DuckDB setting can change what they return.
    """
    import duckdb

    default = duckdb.default_connection  # a function in DuckDB >= 1.2, an object before
    con = (default() if callable(default) else default).cursor()
    try:
        hashes = con.from_arrow(pa.table({"id": arr})).select("hash(id) AS h").fetchnumpy()["h"]
    finally:
        con.close()
    return np.asarray(hashes).view(np.int64)


#: Customers are expected to be about this fraction of the orders or fewer: the hash
#: table of the factorize is sized for it (a table sized for every row is twice as slow).
EXPECTED_IDS_PER_ROW = 0.25


def factorize_text_ids(ids: pd.Series, hashes: np.ndarray | None = None
                       ) -> tuple[np.ndarray, pd.Index] | None:
    """``pd.factorize(ids, sort=True)`` for Arrow text ids (nicknames, e-mails, "c123").

    Text ids are hashed to int64 (:func:`hash_texts`) and the hashes factorized, which is
    several times cheaper than pandas' hash table of text; only the distinct ids are
    then sorted (on a second thread, while the codes are checked). Exact: each id is compared with the first id of its hash code, and on
    any difference (a hash collision) None is returned, so the caller uses pandas.
    None also for ids that are not Arrow text or hold nulls.

    >>> codes, uniques = factorize_text_ids(pd.Series(["张三", "c9", "a@b.cn", "c9"],
    ...                                               dtype="str"))
    >>> codes.tolist(), list(uniques)
    ([2, 1, 0, 1], ['a@b.cn', 'c9', '张三'])
    """
    arr = getattr(ids.array, "_pa_array", None)
    if arr is None or len(arr) == 0 or arr.null_count:
        return None
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    hashes = hash_texts(arr) if hashes is None else hashes
    codes, _ = pd.factorize(hashes, sort=False,
                            size_hint=int(len(hashes) * EXPECTED_IDS_PER_ROW) + 1)
    # codes are numbered in order of first appearance: code k first appears where the
    # running maximum grows, so these are the rows of the first id of each code
    running = np.maximum.accumulate(codes)
    first = np.flatnonzero(np.concatenate(([True], codes[1:] > running[:-1])))
    firsts = arr.take(pa.array(first))
    if isinstance(firsts, pa.ChunkedArray):
        firsts = firsts.combine_chunks()  # one buffer: taking from it is twice as fast
    # sort the distinct ids on a second thread (Arrow releases the GIL) while checking
    with ThreadPoolExecutor(max_workers=1) as pool:
        sorting = pool.submit(pc.sort_indices, firsts)
        if not pc.all(pc.equal(arr, firsts.take(pa.array(codes)))).as_py():
            return None  # two ids share a hash: let pandas compare the texts
        order = sorting.result().to_numpy()
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    text = firsts.take(pa.array(order))
    uniques = pd.Index(ids.dtype.construct_array_type()._from_sequence(text, dtype=ids.dtype))
    return rank[codes], uniques


def factorize_ids(ids: pd.Series, *, sort: bool = True) -> tuple[np.ndarray, pd.Index]:
    """Integer codes and unique values of customer ids (sorted, as ``pd.factorize``).

    Digit ids are factorized as numbers (:func:`factorize_digit_ids`), other Arrow text
    ids through their hashes (:func:`factorize_text_ids`, from ``HASHED_MIN_ROWS`` ids);
    the codes and uniques are always those of ``pd.factorize(ids, sort=True)``.

    >>> codes, uniques = factorize_ids(pd.Series(["b", "a", "b"]))
    >>> codes.tolist(), list(uniques)
    ([1, 0, 1], ['a', 'b'])
    """
    fast = factorize_digit_ids(ids)
    if fast is None and sort and len(ids) >= HASHED_MIN_ROWS:
        fast = factorize_text_ids(ids)
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


def prepare_orders(orders: pd.DataFrame | PreparedOrders, *,
                   report: ValidationReport | None = None,
                   **validate_options: object) -> PreparedOrders:
    """Validate orders once and encode their customer ids once, for several analyses.

    Parameters
    ----------
    orders : pandas.DataFrame or PreparedOrders
        Orders as for :func:`crm_analytics.validate_orders` (a PreparedOrders is
        returned as it is).
    report : ValidationReport, optional
        The report of an earlier step, kept as :attr:`PreparedOrders.report`: pass the
        one from ``read_orders(path, return_report=True)`` so that the rows the reader
        excluded (closed, unpaid, refunded ...) stay listed. The orders are validated
        all the same; what that validation notes or excludes is added to it.
    **validate_options
        Passed to :func:`crm_analytics.validate_orders` (e.g. ``columns``).

    Returns
    -------
    PreparedOrders

    Raises
    ------
    CrmDataError
        Any error of :func:`crm_analytics.validate_orders`, or a ``report`` given with
        orders that are already prepared.

    Examples
    --------
    >>> import crm_analytics as ca
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_id": ["1", "2", "3"],
    ...     "order_date": ["2024-01-01", "2024-01-11", "2024-01-05"], "amount": [10, 30, 8]})
    >>> prepared = ca.prepare_orders(orders)
    >>> ca.customer_summary(prepared, as_of="2024-01-31")["frequency"].tolist()
    [1, 0]
    >>> prepared.report.n_rows_out
    3
    """
    if isinstance(orders, PreparedOrders):
        if report is not None and report is not orders.report:
            raise CrmDataError(
                "These orders are already prepared with their report; pass report= to "
                "prepare_orders when preparing the DataFrame instead."
            )
        return orders
    require_dataframe(orders, "orders")
    validated, own = validate_orders(orders, return_report=True, **validate_options)
    return PreparedOrders(validated, own if report is None else _merge_reports(report, own))


def _merge_reports(first: ValidationReport, then: ValidationReport) -> ValidationReport:
    """``first`` followed by a validation ``then`` of its result: rows in are the first's.

    Exclusions, dropped customers, notes and warnings add up; the currency and the date
    readings are the first's (what the file said), completed by the second's.
    """
    parts = [p for p in (first.excluded, then.excluded) if len(p)]
    excluded = pd.concat(parts, ignore_index=True) if len(parts) > 1 else (
        parts[0] if parts else first.excluded)
    counts = None
    if first.excluded_counts is not None or then.excluded_counts is not None:
        counts = {}
        for part in (first, then):
            for reason, n in part.exclusion_counts().itertuples(index=False):
                counts[reason] = counts.get(reason, 0) + int(n)
    return ValidationReport(
        n_rows_in=first.n_rows_in,
        n_rows_out=then.n_rows_out,
        excluded=excluded,
        dropped_customers=sorted(set(first.dropped_customers) | set(then.dropped_customers)),
        notes=list(first.notes) + [n for n in then.notes if n not in first.notes],
        currency=first.currency if first.currency is not None else then.currency,
        date_readings={**then.date_readings, **first.date_readings},
        warnings=list(first.warnings) + [w for w in then.warnings if w not in first.warnings],
        excluded_counts=counts,
    )


def customer_codes(orders: pd.DataFrame | PreparedOrders, keep: np.ndarray | None = None
                   ) -> tuple[np.ndarray, pd.Index]:
    """Customer codes and sorted ids of (the ``keep`` rows of) validated orders."""
    if isinstance(orders, PreparedOrders):
        return orders.customer_codes(keep)
    ids = orders["customer_id"]
    return factorize_ids(ids if keep is None else ids[keep], sort=True)
