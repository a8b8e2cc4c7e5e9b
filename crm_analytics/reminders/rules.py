"""The rules of the reminder analyses, written once for the pandas and the SQL paths.

- **Payment state** of a created order: paid when it has a payment time (``paid_at``);
  its delay is ``paid_at - created_at`` in minutes. A payment time earlier than the
  creation time is an error in the data: counted, reported and left out. A status that
  says the order was paid (anything but :data:`NOT_PAID_STATUSES`) without a payment
  time is reported and left out too (when it was paid is unknown).
- **Complete orders**: an order created less than the longest window before ``as_of``
  has not had the time to pay within that window: left out of the timing table (its
  share would look low), and counted.
- **Buckets**: hour of creation (0-23, the time as written in the data) or weekday
  (0 = Monday).
- **Repurchase cycle**: the purchases of one product by one customer on one day are one
  purchase (quantities added); between two consecutive purchases the cycle per unit is
  ``days between them / quantity bought in the earlier one``. A product with fewer than
  ``min_repeats`` such gaps gets no cycle.

Both paths get their windows, statuses, buckets and the finished tables from here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from crm_analytics._core.errors import CrmDataError

__all__ = [
    "AWAITING_PAYMENT_STATUSES",
    "BUCKET_RULES",
    "CLOSED_STATUSES",
    "CYCLE_BYS",
    "PAYMENT_COLUMNS",
    "cycle_item",
    "LATE_AFTER",
    "MIN_REPEATS",
    "NOT_PAID_STATUSES",
    "PAYMENT_BYS",
    "WEEKDAYS",
    "check_by",
    "check_cycle_by",
    "check_min_repeats",
    "check_windows",
    "cycle_table",
    "overall_row",
    "parse_duration",
    "payment_table",
    "status_codes",
    "thresholds",
]

#: ``by`` values of :func:`~crm_analytics.reminders.payment_timing`: the bucket and its
#: number of values.
PAYMENT_BYS = {"hour": 24, "weekday": 7}
#: How a creation time becomes its bucket: ``(minutes since 1970-01-01 // unit + shift)
#: % size``, the same arithmetic in numpy and SQL (1970-01-01 was a Thursday).
BUCKET_RULES = {"hour": (60, 0, 24), "weekday": (1440, 3, 7)}
#: Weekday names, 0 = Monday.
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: Headline: the share of paid orders paid after each of these delays (a reminder then
#: can still win them). Column name -> duration.
LATE_AFTER = {"late_share_after_2h": "2h", "late_share_after_24h": "24h"}
#: ``by`` values of :func:`~crm_analytics.reminders.repurchase_cycles`.
CYCLE_BYS = ("product", "category")
#: The columns payment timing needs.
PAYMENT_COLUMNS = ("created_at", "paid_at")


def cycle_item(columns) -> str | None:
    """What repurchase cycles are counted by for orders with these columns: the first of
    :data:`CYCLE_BYS` they have, when they also have ``quantity``; None otherwise.

    >>> cycle_item({"category", "quantity"}), cycle_item({"product"})
    ('category', None)
    """
    columns = set(columns)
    if "quantity" not in columns:
        return None
    return next((by for by in CYCLE_BYS if by in columns), None)
#: Fewest repeat purchases (gaps) a product needs for a cycle.
MIN_REPEATS = 30

#: Statuses (trimmed, lower-cased) of orders still waiting for payment.
AWAITING_PAYMENT_STATUSES = frozenset({"unpaid", "pending", "未付款", "等待买家付款"})
#: Statuses of orders closed without payment being expected any more.
CLOSED_STATUSES = frozenset({
    "cancelled", "canceled", "closed", "voided", "void", "failed", "交易关闭", "已关闭",
    "已取消",
})
#: Statuses of orders that are expected to have no payment time: waiting for payment,
#: or cancelled / closed. Any other status without a payment time says "paid" without
#: saying when.
NOT_PAID_STATUSES = AWAITING_PAYMENT_STATUSES | CLOSED_STATUSES

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(min|m|h|d)\s*$")
_MINUTES = {"min": 1.0, "m": 1.0, "h": 60.0, "d": 1440.0}


def parse_duration(value: object, name: str = "window") -> float:
    """A duration such as ``"15min"``, ``"2h"``, ``"3d"`` (or a Timedelta) in minutes.

    >>> parse_duration("15min"), parse_duration("24h"), parse_duration("3d")
    (15.0, 1440.0, 4320.0)
    """
    if isinstance(value, pd.Timedelta):
        minutes = value.total_seconds() / 60.0
    else:
        match = _DURATION.match(str(value)) if isinstance(value, str) else None
        if match is None:
            raise CrmDataError(
                f"The {name!r} parameter must be a duration like '15min', '2h' or '3d'. "
                f"Got {value!r} instead."
            )
        minutes = float(match.group(1)) * _MINUTES[match.group(2)]
    if not minutes > 0:
        raise CrmDataError(f"The {name!r} parameter must be a positive duration. Got {value!r}.")
    return float(minutes)


def check_windows(windows: object) -> dict[str, float]:
    """Window label -> minutes, in the order given; labels as given (``"15min"``)."""
    if isinstance(windows, str) or not isinstance(windows, Sequence) or not windows:
        raise CrmDataError(
            "The 'windows' parameter must be a non-empty list of durations like "
            f"('15min', '1h', '2h', '24h'). Got {windows!r} instead."
        )
    out = {}
    for w in windows:
        label = str(w).strip() if isinstance(w, str) else str(w)
        if label in out:
            raise CrmDataError(f"The 'windows' parameter lists {label!r} twice.")
        out[label] = parse_duration(w, "windows")
    return out


def check_by(by: object) -> str:
    if by not in PAYMENT_BYS:
        raise CrmDataError(
            f"The 'by' parameter must be one of {list(PAYMENT_BYS)}. Got {by!r} instead."
        )
    return str(by)


def check_cycle_by(by: object) -> str:
    if by not in CYCLE_BYS:
        raise CrmDataError(
            f"The 'by' parameter must be one of {list(CYCLE_BYS)}. Got {by!r} instead."
        )
    return str(by)


def thresholds(windows: dict[str, float]) -> dict[str, float]:
    """Every delay (minutes) whose paid-within count is needed: the windows and the
    headline's :data:`LATE_AFTER` delays."""
    out = dict(windows)
    for label in LATE_AFTER.values():
        out.setdefault(label, parse_duration(label))
    return out


def payment_table(by: str, windows: dict[str, float], counts: pd.DataFrame) -> pd.DataFrame:
    """The finished timing table from the counts of either path.

    ``counts`` has one row per bucket present: ``bucket``, ``created``, ``paid``,
    ``within_<label>`` for every label of :func:`thresholds` and ``median``. Every
    bucket (24 hours or 7 weekdays) gets a row; shares are of created orders.
    """
    n = PAYMENT_BYS[by]
    c = counts.set_index("bucket").reindex(range(n))
    created = c["created"].fillna(0).to_numpy(dtype=np.int64)
    paid = c["paid"].fillna(0).to_numpy(dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {by: np.arange(n), "created": created, "paid": paid,
               "paid_share": np.where(created > 0, paid / np.maximum(created, 1), np.nan)}
        for label in windows:
            k = c[f"within_{label}"].fillna(0).to_numpy(dtype=float)
            out[f"paid_within_{label}"] = np.where(created > 0, k / np.maximum(created, 1),
                                                    np.nan)
    out["median_minutes_to_pay"] = c["median"].to_numpy(dtype=float)
    return pd.DataFrame(out)


def overall_row(windows: dict[str, float], counts: dict) -> pd.Series:
    """``.overall``: the table's columns for all buckets together, plus the late shares
    (of paid orders)."""
    created, paid = int(counts["created"]), int(counts["paid"])
    share = (lambda k: k / created) if created else (lambda k: np.nan)
    row = {"created": created, "paid": paid, "paid_share": share(paid)}
    for label in windows:
        row[f"paid_within_{label}"] = share(counts[f"within_{label}"])
    row["median_minutes_to_pay"] = float(counts["median"])
    for col, label in LATE_AFTER.items():
        row[col] = (paid - counts[f"within_{label}"]) / paid if paid else np.nan
    return pd.Series(row, name="overall", dtype=object)


def cycle_table(by: str, stats: pd.DataFrame, min_repeats: int) -> pd.DataFrame:
    """The finished cycle table from the per-product statistics of either path.

    ``stats``: ``item, repeat_buyers, repeat_purchases, q25, q50, q75``. Products with
    fewer than ``min_repeats`` repeat purchases keep their counts but get no cycle
    (NaN) and a ``note`` saying so. Sorted by repeat purchases (most first), then name.
    """
    s = stats.sort_values(["repeat_purchases", "item"], ascending=[False, True],
                          kind="stable").reset_index(drop=True)
    enough = s["repeat_purchases"].to_numpy() >= min_repeats
    out = pd.DataFrame({
        by: s["item"].astype(str).to_numpy(dtype=object),
        "repeat_buyers": s["repeat_buyers"].to_numpy(dtype=np.int64),
        "repeat_purchases": s["repeat_purchases"].to_numpy(dtype=np.int64),
        "cycle_days_per_unit": np.where(enough, s["q50"].to_numpy(dtype=float), np.nan),
        "cycle_q25": np.where(enough, s["q25"].to_numpy(dtype=float), np.nan),
        "cycle_q75": np.where(enough, s["q75"].to_numpy(dtype=float), np.nan),
    })
    out["note"] = np.where(
        enough, "", f"fewer than {min_repeats} repeat purchases: no cycle").astype(object)
    return out


def check_min_repeats(min_repeats: object) -> int:
    if isinstance(min_repeats, bool) or not isinstance(min_repeats, int | np.integer) or (
            min_repeats < 1):
        raise CrmDataError(
            f"The 'min_repeats' parameter must be an int >= 1. Got {min_repeats!r} instead."
        )
    return int(min_repeats)


def status_codes(status: pd.Series | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks ``(awaiting, closed)`` from a status column (trimmed, lower-cased); a missing
    column gives all False."""
    if status is None:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    codes, uniques = pd.factorize(status, use_na_sentinel=True)
    words = pd.Series(uniques, dtype=object).astype(str).str.strip().str.lower()
    awaiting = np.append(words.isin(AWAITING_PAYMENT_STATUSES).to_numpy(dtype=bool), False)
    closed = np.append(words.isin(CLOSED_STATUSES).to_numpy(dtype=bool), False)
    return awaiting[codes], closed[codes]  # code -1 (missing) takes the appended False
