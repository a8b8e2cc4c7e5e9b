"""Each member's order history as it stood on a given day, and what they did after it.

The uplift model learns from (member, campaign start) pairs and scores members on a
send day; both need the history *before* a day, never after it. One sort of the orders
by (customer, day) answers every (member, day) pair with a binary search: orders
before the day, their spend and margin, the first and last order, the last year's
orders, and the orders inside a window after the day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics._core.dates import TIME_UNIT_DAYS
from crm_analytics._core.errors import CrmDataError
from crm_analytics.campaigns.rules import margin_source, margin_values
from crm_analytics.orders.encode import PreparedOrders

__all__ = ["FEATURES", "OrderHistory", "member_features", "window_outcomes"]

#: Feature columns computed from the order history, in this order.
FEATURES = (
    "recency_days", "frequency", "spend", "aov", "tenure_days", "orders_last_365d",
    "spend_last_365d", "margin_rate", "sleeping",
)
_NO_HISTORY = 3650.0  # recency/tenure for a member with no order yet: "very long ago"


@dataclass(frozen=True, eq=False)
class OrderHistory:
    """Orders sorted by (customer code, day) with running sums, for history look-ups.

    Build it with :meth:`from_prepared`; ``codes_of`` turns customer ids into codes
    (-1 for ids without any order).
    """

    keys: np.ndarray  # code * stride + day, sorted
    day: np.ndarray
    cum_amount: np.ndarray  # running sums with a leading 0
    cum_margin: np.ndarray
    first_pos: np.ndarray  # position of each customer's first order
    stride: np.int64
    day_offset: np.int64
    customer_ids: pd.Index
    has_margin: bool

    @classmethod
    def from_prepared(cls, prepared: PreparedOrders, *, margin_rate: float | None = None
                      ) -> OrderHistory:
        orders = prepared.orders
        codes = prepared.codes.astype(np.int64)
        days = prepared.days.astype(np.int64)
        offset = np.int64(days.min()) - 4000 if len(days) else np.int64(0)
        rel = days - offset
        stride = np.int64(rel.max() + 8000) if len(rel) else np.int64(1)
        if len(days) and np.all(days[1:] >= days[:-1]):  # validated orders are date-sorted
            order = np.argsort(codes, kind="stable")
        else:
            order = np.lexsort((rel, codes))
        keys = codes[order] * stride + rel[order]
        amount = orders["amount"].to_numpy(dtype=float)[order]
        margin_col = (orders["margin"].to_numpy(dtype=float)[order]
                      if "margin" in orders.columns else None)
        n_missing = int(np.isnan(margin_col).sum()) if margin_col is not None else 0
        source, _ = margin_source(has_margin_column=margin_col is not None,
                                  n_missing=n_missing, margin_rate=margin_rate)
        margin = margin_values(source, amount, margin_col, margin_rate)
        n = len(prepared.customer_ids)
        first_pos = np.searchsorted(keys, np.arange(n, dtype=np.int64) * stride)
        return cls(
            keys=keys, day=rel[order],
            cum_amount=np.concatenate([[0.0], np.cumsum(amount)]),
            cum_margin=np.concatenate([[0.0], np.cumsum(np.nan_to_num(margin))]),
            first_pos=first_pos, stride=stride, day_offset=offset,
            customer_ids=prepared.customer_ids, has_margin=source is not None,
        )

    def codes_of(self, ids: pd.Series | np.ndarray) -> np.ndarray:
        """Customer codes of ``ids`` (-1 where the id has no order)."""
        return self.customer_ids.get_indexer(pd.Index(np.asarray(ids, dtype=object)))

    def _before(self, codes: np.ndarray, rel_day: np.ndarray) -> np.ndarray:
        """Position after the last order strictly before ``rel_day`` (per pair)."""
        safe = np.maximum(codes, 0)
        rel_day = np.clip(rel_day, 0, self.stride - 1)  # stay inside the customer's range
        return np.searchsorted(self.keys, safe * self.stride + rel_day)

    def _rel(self, days: np.ndarray) -> np.ndarray:
        return np.asarray(days, dtype=np.int64) - self.day_offset


def member_features(history: OrderHistory, codes: np.ndarray, days: np.ndarray, *,
                    sleep_after: int = 90, churn_model: object = None) -> pd.DataFrame:
    """History features of each (member code, day) pair, from orders before the day.

    Parameters
    ----------
    history : OrderHistory
    codes : numpy.ndarray of int
        Customer codes (``history.codes_of(ids)``; -1: no order at all).
    days : numpy.ndarray of int
        Day numbers (days since 1970-01-01): the history is the orders before this day.
    sleep_after : int, default 90
        Days without an order after which a member counts as sleeping.
    churn_model : ChurnModel, optional
        Adds ``p_no_order``: the model's probability of no order in the next
        ``sleep_after`` days given the history.

    Returns
    -------
    pandas.DataFrame
        One row per pair, columns :data:`FEATURES` (plus ``p_no_order``).

    Examples
    --------
    >>> import pandas as pd
    >>> from crm_analytics.orders.encode import prepare_orders
    >>> from crm_analytics._core.dates import day_number
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_id": ["1", "2", "3"],
    ...     "order_date": ["2024-01-01", "2024-03-01", "2024-02-01"], "amount": [10, 30, 5]})
    >>> h = OrderHistory.from_prepared(prepare_orders(orders))
    >>> day = day_number(pd.Timestamp("2024-03-02"))
    >>> f = member_features(h, h.codes_of(["a", "b"]), np.array([day, day]))
    >>> f[["recency_days", "frequency", "spend", "aov"]]
       recency_days  frequency  spend   aov
    0           1.0        2.0   40.0  20.0
    1          30.0        1.0    5.0   5.0
    """
    codes = np.asarray(codes, dtype=np.int64)
    rel = history._rel(days)
    known = codes >= 0
    first = np.where(known, history.first_pos[np.maximum(codes, 0)], 0)
    end = np.where(known, history._before(codes, rel), 0)
    n = np.maximum(end - first, 0).astype(float)
    has = n > 0
    last_day = np.where(has, history.day[np.maximum(end - 1, 0)], rel)
    first_day = np.where(has, history.day[np.minimum(first, len(history.day) - 1)], rel)
    spend = history.cum_amount[end] - history.cum_amount[first]
    margin = history.cum_margin[end] - history.cum_margin[first]
    start_365 = np.where(known, history._before(codes, rel - 365), 0)
    start_365 = np.maximum(start_365, first)
    n_365 = np.maximum(end - start_365, 0).astype(float)
    spend_365 = history.cum_amount[end] - history.cum_amount[start_365]
    recency = np.where(has, (rel - last_day).astype(float), _NO_HISTORY)
    with np.errstate(divide="ignore", invalid="ignore"):
        aov = np.where(has, spend / np.maximum(n, 1), 0.0)
        margin_rate = np.where(spend > 0, margin / spend, np.nan) if history.has_margin \
            else np.full(len(n), np.nan)
    out = pd.DataFrame({
        "recency_days": recency,
        "frequency": n,
        "spend": spend,
        "aov": aov,
        "tenure_days": np.where(has, (rel - first_day).astype(float), 0.0),
        "orders_last_365d": n_365,
        "spend_last_365d": spend_365,
        "margin_rate": margin_rate,
        "sleeping": (recency > sleep_after).astype(float),
    })
    if churn_model is not None:
        unit = TIME_UNIT_DAYS[getattr(churn_model, "time_unit", "D")]
        x = np.maximum(n - 1, 0)
        t_x = np.where(has, (last_day - first_day) / unit, 0.0)
        age = np.where(has, (rel - first_day) / unit, 0.0)
        try:
            p = churn_model.p_no_order(sleep_after / unit, x, t_x, age)
        except AttributeError as exc:
            raise CrmDataError("churn_model must be a fitted ChurnModel "
                               "(crm_analytics.fit_churn_model).") from exc
        out["p_no_order"] = np.where(has, p, 1.0)
    return out


def window_outcomes(history: OrderHistory, codes: np.ndarray, days: np.ndarray,
                    window_days: int) -> dict[str, np.ndarray]:
    """Orders, revenue and margin of each pair in ``[day, day + window_days)``.

    Returns a dict with ``orders``, ``revenue``, ``margin`` (NaN without a margin
    source) and ``conversion`` (1.0 when at least one order).
    """
    codes = np.asarray(codes, dtype=np.int64)
    rel = history._rel(days)
    known = codes >= 0
    lo = np.where(known, history._before(codes, rel), 0)
    hi = np.where(known, history._before(codes, rel + int(window_days)), 0)
    count = (hi - lo).astype(float)
    margin = history.cum_margin[hi] - history.cum_margin[lo]
    return {
        "orders": count,
        "revenue": history.cum_amount[hi] - history.cum_amount[lo],
        "margin": margin if history.has_margin else np.full(len(codes), np.nan),
        "conversion": (count > 0).astype(float),
    }
