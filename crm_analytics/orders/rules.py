"""Order rules both paths (pandas and SQL) share: date outliers and status reasons.

:func:`date_outlier_cutoff` works on the distinct order days and their order counts, so
``validate_orders`` (numpy on the table) and the engine path (the same counts from SQL)
apply one definition.
"""

from __future__ import annotations

import numpy as np

from crm_analytics._core.vocab import (
    DATE_OUTLIER_GAP_DAYS,
    DATE_OUTLIER_MAX_SHARE,
    REASON_CANCELLED,
    REASON_REFUNDED,
    REASON_UNPAID,
)

__all__ = ["REFUNDED_STATUSES", "UNPAID_STATUSES", "date_outlier_cutoff", "status_reason"]

#: Excluded statuses that mean the money went back (lower-cased, stripped).
REFUNDED_STATUSES = frozenset({"refunded", "returned", "退款成功", "已退款", "全额退款"})
#: Excluded statuses that mean the order was never paid.
UNPAID_STATUSES = frozenset({"unpaid", "pending", "failed", "等待买家付款", "未付款"})


def status_reason(status: str) -> str:
    """The exclusion reason of an excluded status (lower-cased, stripped).

    Refunds and returns are "fully refunded", never-paid states "never paid", anything
    else (cancelled, closed, voided, or a status the user chose to exclude) "cancelled or
    closed".

    >>> status_reason("refunded"), status_reason("等待买家付款"), status_reason("交易关闭")
    ('fully refunded', 'never paid', 'cancelled or closed')
    """
    if status in REFUNDED_STATUSES:
        return REASON_REFUNDED
    if status in UNPAID_STATUSES:
        return REASON_UNPAID
    return REASON_CANCELLED


def date_outlier_cutoff(day_numbers: np.ndarray, counts: np.ndarray) -> int | None:
    """The last credible order day, or None when no order is a date outlier.

    Orders separated from every earlier order by a gap of more than
    ``DATE_OUTLIER_GAP_DAYS`` (180) days are date outliers (a mistyped year, a test
    order dated 2099) when they are few: at most ``DATE_OUTLIER_MAX_SHARE`` (1 %) of the
    orders, so a table needs 100 orders before one can be set aside (in a smaller one a
    late order may just as well be a customer coming back; the report's date range shows
    it). Of the gaps that qualify, the earliest one is the cutoff, so every outlier
    after it is set aside.

    Parameters
    ----------
    day_numbers : numpy.ndarray
        Distinct order days as day numbers (days since 1970-01-01), any order.
    counts : numpy.ndarray
        Orders on each of those days.

    Returns
    -------
    int or None
        The day number of the last credible day (orders after it are outliers), or None.

    Examples
    --------
    619 orders over 2024 and one on 2099-01-01:

    >>> import numpy as np
    >>> days = np.array([19723 + d for d in range(0, 360, 6)] + [47482])
    >>> counts = np.array([10] * 59 + [29, 1])
    >>> int(counts.sum()), int(date_outlier_cutoff(days, counts)) == int(days[-2])
    (620, True)
    >>> date_outlier_cutoff(days[:-1], counts[:-1]) is None
    True

    Nine orders cannot tell a typo from a customer who came back:

    >>> date_outlier_cutoff(np.array([0, 10, 40, 401]), np.array([4, 2, 2, 1])) is None
    True
    """
    days = np.asarray(day_numbers, dtype=np.int64)
    n = np.asarray(counts, dtype=np.int64)
    if len(days) < 2:
        return None
    order = np.argsort(days, kind="stable")
    days, n = days[order], n[order]
    allowed = int(DATE_OUTLIER_MAX_SHARE * int(n.sum()))
    after = np.cumsum(n[::-1])[::-1]  # orders on or after each day
    gaps = np.diff(days)
    qualifies = (gaps > DATE_OUTLIER_GAP_DAYS) & (after[1:] <= allowed)
    if not qualifies.any():
        return None
    first = int(np.flatnonzero(qualifies)[0])
    return int(days[first])
