"""Payment reminders (催付): when created orders get paid, and who is waiting now.

These analyses count every *created* order, paid or not, so they read the orders as
given (``read_orders(..., include_unpaid=True)``) instead of the kept purchases of
:func:`~crm_analytics.prepare_orders`, which leaves unpaid orders out. They need
``created_at`` and ``paid_at``; a buyer column only where a buyer's history is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crm_analytics._core.checks import format_examples, require_dataframe
from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.frames import write_excel_csv
from crm_analytics._core.vocab import EXCLUDED_STATUSES
from crm_analytics.backends import is_engine_source, runner_for
from crm_analytics.orders.encode import prepare_orders
from crm_analytics.reminders.rules import (
    BUCKET_RULES,
    PAYMENT_BYS,
    WEEKDAYS,
    check_by,
    check_windows,
    overall_row,
    parse_duration,
    payment_table,
    status_codes,
    thresholds,
)
from crm_analytics.reminders.sql import NAT, NS_PER_MIN, payment_counts_on_engine

__all__ = ["PaymentTiming", "payment_state", "payment_timing", "unpaid_orders"]

_NS_PER_MIN = NS_PER_MIN
_NAT = NAT


@dataclass(frozen=True, eq=False)
class PaymentTiming:
    """Result of :func:`payment_timing`.

    Attributes
    ----------
    by : str
        ``"hour"`` (of creation, 0-23) or ``"weekday"`` (0 = Monday).
    windows : tuple of str
        The windows, as given (``"15min"``, ``"1h"`` ...).
    as_of : pandas.Timestamp
        Payments after it are not known yet; orders created later are left out.
    table : pandas.DataFrame
        One row per hour (or weekday): ``hour`` / ``weekday``, ``created``, ``paid``,
        ``paid_share`` (share of created orders paid by ``as_of``),
        ``paid_within_<window>`` (share of created orders paid within the window) and
        ``median_minutes_to_pay`` (of the paid ones).
    overall : pandas.Series
        The same for all orders together, plus ``late_share_after_2h`` and
        ``late_share_after_24h``: the shares of *paid* orders paid later than 2 h / 24 h
        after creation, which a reminder at that moment can still win.
    n_orders : int
        Orders counted.
    n_paid_before_created : int
        Orders whose payment time is earlier than their creation time: left out.
    n_paid_without_time : int
        Orders whose status says paid but that have no payment time: left out.
    n_without_created : int
        Orders without a creation time: left out.
    n_too_recent : int
        Orders created less than the longest window before ``as_of``: left out (they
        have not had the time to pay within it).
    notes : tuple of str
        What was left out and why, in words.
    """

    by: str
    windows: tuple[str, ...]
    as_of: pd.Timestamp
    table: pd.DataFrame
    overall: pd.Series
    n_orders: int
    n_paid_before_created: int = 0
    n_paid_without_time: int = 0
    n_without_created: int = 0
    n_too_recent: int = 0
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """The headline in plain words."""
        o = self.overall
        if not o["paid"]:
            return f"None of the {self.n_orders:,} orders created was paid."
        lines = [
            f"{o['paid_share']:.1%} of {self.n_orders:,} created orders were paid; the median "
            f"payment came {o['median_minutes_to_pay']:.0f} minutes after the order.",
            f"{o['late_share_after_2h']:.1%} of the payments came more than 2 hours after "
            f"the order and {o['late_share_after_24h']:.1%} more than 24 hours after: what a "
            "reminder at that moment can still win.",
        ]
        return "\n".join(lines + list(self.notes))


def _times(frame: pd.DataFrame, col: str) -> np.ndarray:
    """A date column as int64 nanoseconds (wall-clock time; missing = int64 min)."""
    values = frame[col]
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_localize(None)
    elif not pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
        bad = parsed.isna() & values.notna() & (values.astype(str).str.strip() != "")
        if bad.any():
            raise CrmDataError(
                f"Column {col!r} has {int(bad.sum())} values that are not dates "
                f"({format_examples(values[bad])}). Read the file with read_orders "
                "(it parses platform dates), or convert the column with pandas.to_datetime."
            )
        values = parsed
    return values.to_numpy(dtype="datetime64[ns]").view(np.int64)


def payment_state(orders: pd.DataFrame) -> dict[str, np.ndarray]:
    """The payment state of every created order (the rule of the module docstring).

    Returns a dict of arrays: ``created`` (int64 ns), ``paid`` (int64 ns, int64 min when
    unpaid), ``has_created``, ``has_paid``, ``paid_before_created``, ``paid_without_time``,
    ``awaiting`` and ``closed`` (from ``status``, all False without one).
    """
    n = len(orders)
    created = _times(orders, "created_at")
    paid = _times(orders, "paid_at") if "paid_at" in orders.columns else np.full(n, _NAT)
    has_created, has_paid = created != _NAT, paid != _NAT
    awaiting, closed = status_codes(orders["status"] if "status" in orders.columns
                                    else None, n)
    status_says_paid = ~(awaiting | closed)
    if "status" in orders.columns:
        status_says_paid &= orders["status"].notna().to_numpy()
    else:
        status_says_paid[:] = False
    return {
        "created": created, "paid": paid, "has_created": has_created, "has_paid": has_paid,
        "paid_before_created": has_created & has_paid & (paid < created),
        "paid_without_time": ~has_paid & status_says_paid,
        "awaiting": awaiting, "closed": closed,
    }


def _payment_frame(orders: object, name: str, required: tuple[str, ...]) -> pd.DataFrame:
    orders = require_dataframe(orders, "orders")
    missing = [c for c in required if c not in orders.columns]
    if missing:
        raise CrmDataError(
            f"{name} needs the column(s) {missing}; the orders have "
            f"{list(orders.columns)}. Read the export with read_orders(path, "
            "include_unpaid=True) (Taobao 订单创建时间 / 订单付款时间, Shopify Created at / "
            "Paid at), or rename your columns to created_at and paid_at."
        )
    return orders


def _as_of_ns(as_of: object, state: dict[str, np.ndarray]) -> int:
    if as_of is None:
        latest = max(int(state["created"].max(initial=_NAT)), int(state["paid"].max(initial=_NAT)))
        if latest == _NAT:
            raise CrmDataError("The orders have no creation or payment times.")
        return latest
    try:
        ts = pd.Timestamp(as_of)
    except (TypeError, ValueError):
        ts = None
    if ts is None or ts is pd.NaT:
        raise CrmDataError(f"The 'as_of' parameter must be a date or time. Got {as_of!r}.")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return int(ts.as_unit("ns").value)


def _notes(counts: dict[str, int]) -> tuple[str, ...]:
    words = {
        "n_paid_before_created": "have a payment time earlier than their creation time "
                                 "(an error in the data)",
        "n_paid_without_time": "have a paid status but no payment time",
        "n_without_created": "have no creation time",
        "n_too_recent": "were created too recently to have had the whole window to pay",
    }
    return tuple(f"{v:,} orders {words[k]}: left out." for k, v in counts.items() if v)


def delay_minutes(created_ns: np.ndarray, paid_ns: np.ndarray) -> np.ndarray:
    """Minutes from creation to payment, both times taken to the microsecond (as SQL
    engines store them), so both paths compare the same numbers with the windows."""
    return (paid_ns // 1000 - created_ns // 1000) / (_NS_PER_MIN / 1000)


def buckets(created_ns: np.ndarray, by: str) -> np.ndarray:
    """Hour of the day (0-23) or weekday (0 = Monday) of int64-nanosecond times."""
    unit, shift, size = BUCKET_RULES[by]
    return (created_ns // (unit * _NS_PER_MIN) + shift) % size


def payment_timing(orders: object, *, by: str = "hour",
                   windows: tuple[str, ...] = ("15min", "1h", "2h", "24h"),
                   as_of: object = None) -> PaymentTiming:
    """When created orders get paid, per hour (or weekday) of creation.

    Every created order counts (paid, refunded later, or never paid); an order is paid
    when it has a payment time (``paid_at``) by ``as_of``. Its delay is ``paid_at -
    created_at``; it is paid within a window when the delay is at most the window.

    Parameters
    ----------
    orders : pandas.DataFrame or engine source
        One row per created order with ``created_at`` and ``paid_at`` (missing when not
        paid) and optionally ``status``: what ``read_orders(path,
        include_unpaid=True)`` returns. No buyer column is needed. A Parquet path or
        DuckDB relation holding these columns works too (computed in SQL).
    by : {"hour", "weekday"}, default "hour"
        Bucket of the creation time (as written in the data, 0 = Monday).
    windows : sequence of str, default ("15min", "1h", "2h", "24h")
        Delays like ``"15min"``, ``"2h"``, ``"3d"``: one ``paid_within_<window>``
        column each.
    as_of : date-like, optional
        The moment of the analysis (default: the latest creation or payment time).
        Orders created less than the longest window before it are left out.

    Returns
    -------
    PaymentTiming
        ``.table`` per bucket, ``.overall`` for all orders, counts of what was left out.

    Raises
    ------
    CrmDataError
        Missing ``created_at`` / ``paid_at``, dates that cannot be read, a bad ``by`` or
        window, or no order left.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.to_datetime
    >>> orders = pd.DataFrame({
    ...     "order_id": ["1", "2", "3", "4"],
    ...     "created_at": t(["2025-01-01 09:00", "2025-01-01 09:30", "2025-01-01 20:00",
    ...                      "2025-01-02 09:10"]),
    ...     "paid_at": t(["2025-01-01 09:05", "2025-01-01 13:00", None, "2025-01-02 09:11"]),
    ... })
    >>> res = payment_timing(orders, windows=("15min", "2h"), as_of="2025-01-05")
    >>> res.table.loc[9, ["hour", "created", "paid", "median_minutes_to_pay"]].tolist()
    [9.0, 3.0, 3.0, 5.0]
    >>> res.table.loc[9, ["paid_within_15min", "paid_within_2h"]].round(3).tolist()
    [0.667, 0.667]
    >>> round(res.overall["late_share_after_2h"], 3)
    0.333
    """
    by = check_by(by)
    win = check_windows(windows)
    if is_engine_source(orders):
        counts, total, as_of_ns, left_out = payment_counts_on_engine(
            runner_for(orders), by=by, windows=win, as_of=as_of)
        n_orders = int(total["created"])
        table, overall = payment_table(by, win, counts), overall_row(win, total)
    else:
        frame = _payment_frame(orders, "payment_timing", ("created_at", "paid_at"))
        state = payment_state(frame)
        as_of_ns = _as_of_ns(as_of, state)
        longest = int(round(max(win.values()) * _NS_PER_MIN))
        valid = (state["has_created"] & ~state["paid_before_created"]
                 & ~state["paid_without_time"] & (state["created"] <= as_of_ns))
        complete = state["created"] <= as_of_ns - longest
        keep = valid & complete
        left_out = {
            "n_paid_before_created": int(state["paid_before_created"].sum()),
            "n_paid_without_time": int((state["paid_without_time"]
                                        & ~state["paid_before_created"]).sum()),
            "n_without_created": int((~state["has_created"]).sum()),
            "n_too_recent": int((valid & ~complete).sum()),
        }
        n_orders = int(keep.sum())
        if n_orders:
            created, paid_ns = state["created"][keep], state["paid"][keep]
            is_paid = (paid_ns != _NAT) & (paid_ns <= as_of_ns)
            delay = np.where(is_paid, delay_minutes(created, paid_ns), np.nan)
            table, overall = timing_tables(by, win, buckets(created, by), delay)
    if n_orders == 0:
        raise CrmDataError(
            "payment_timing has no order left to count. "
            + (" ".join(_notes(left_out)) or "The orders are empty.")
        )
    return PaymentTiming(by=by, windows=tuple(win), as_of=pd.Timestamp(as_of_ns),
                         table=table, overall=overall, n_orders=n_orders,
                         notes=_notes(left_out), **left_out)


def timing_tables(by: str, windows: dict[str, float], bucket: np.ndarray,
                  delay: np.ndarray) -> tuple[pd.DataFrame, pd.Series]:
    """The table and overall row from each counted order's bucket and delay (minutes,
    NaN when not paid)."""
    n = PAYMENT_BYS[by]
    paid = ~np.isnan(delay)
    counts = {"bucket": np.arange(n),
              "created": np.bincount(bucket, minlength=n),
              "paid": np.bincount(bucket[paid], minlength=n)}
    pb, pd_ = bucket[paid], delay[paid]
    for label, minutes in thresholds(windows).items():
        counts[f"within_{label}"] = np.bincount(pb[pd_ <= minutes], minlength=n)
    order = np.argsort(pb, kind="stable")
    sorted_delay, ends = pd_[order], np.cumsum(counts["paid"])
    counts["median"] = [float(np.median(sorted_delay[e - k:e])) if k else np.nan
                        for k, e in zip(counts["paid"], ends, strict=True)]
    frame = pd.DataFrame(counts)
    total = {k: int(v.sum()) for k, v in counts.items() if k not in ("bucket", "median")}
    total["median"] = float(np.median(pd_)) if pd_.size else np.nan
    return payment_table(by, windows, frame), overall_row(windows, total)


def weekday_names(table: pd.DataFrame) -> pd.Series:
    """Names (Mon..Sun) of a weekday table's rows."""
    return table["weekday"].map(dict(enumerate(WEEKDAYS)))


# ----------------------------------------------------------------------------- unpaid list
def unpaid_orders(orders: object, *, as_of: object = None, older_than: str = "2h",
                  within: str = "72h", path: object = None) -> pd.DataFrame:
    """Orders waiting for payment now: the list for a payment reminder (催付).

    An order is listed when it was created between ``within`` and ``older_than`` before
    ``as_of``, has no payment by then, and is not closed or cancelled (status). Each row
    carries the buyer's history before the order: whether they bought before, their
    paid orders and spend.

    Parameters
    ----------
    orders : pandas.DataFrame
        Every created order (``read_orders(path, include_unpaid=True)``): ``order_id``,
        ``customer_id``, ``amount``, ``created_at``, ``paid_at`` and optionally
        ``status``. Paid orders give the history; unpaid ones are listed.
    as_of : date-like
        The moment of the list (default: the latest creation or payment time).
    older_than : str, default "2h"
        Only orders waiting at least this long (a reminder sooner is pushy).
    within : str, default "72h"
        Only orders created at most this long ago (Taobao closes unpaid orders after
        about 72 hours).
    path : str or Path, optional
        Also write the list there as an Excel-safe CSV (UTF-8 with BOM, cells that a
        spreadsheet would run as formulas neutralised).

    Returns
    -------
    pandas.DataFrame
        ``order_id, customer_id, amount, created_at, minutes_waiting, bought_before,
        order_count, spend`` (``order_count`` / ``spend``: paid orders of the buyer
        before this one), the longest waiting first.

    Raises
    ------
    CrmDataError
        Missing columns, unreadable dates, ``older_than`` not shorter than ``within``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.to_datetime
    >>> orders = pd.DataFrame({
    ...     "customer_id": ["a", "a", "b"], "order_id": ["1", "2", "3"],
    ...     "order_date": t(["2025-01-01 10:00", "2025-01-03 08:00", "2025-01-03 09:00"]),
    ...     "amount": [50.0, 80.0, 20.0], "status": ["paid", "unpaid", "unpaid"],
    ...     "created_at": t(["2025-01-01 09:58", "2025-01-03 08:00", "2025-01-03 09:00"]),
    ...     "paid_at": t(["2025-01-01 10:00", None, None])})
    >>> unpaid_orders(orders, as_of="2025-01-03 10:30")[
    ...     ["order_id", "minutes_waiting", "bought_before", "order_count", "spend"]]
      order_id  minutes_waiting  bought_before  order_count  spend
    0        2            150.0           True            1   50.0
    """
    if is_engine_source(orders):
        raise CrmDataError(
            "unpaid_orders is not available for Parquet/DuckDB/Spark sources; select the "
            "recent orders (created_at in the last days) into a pandas DataFrame first."
        )
    frame = _payment_frame(orders, "unpaid_orders",
                           ("order_id", "customer_id", "amount", "created_at"))
    low, high = parse_duration(older_than, "older_than"), parse_duration(within, "within")
    if low >= high:
        raise CrmDataError(
            f"The 'older_than' parameter ({older_than!r}) must be shorter than 'within' "
            f"({within!r})."
        )
    state = payment_state(frame)
    as_of_ns = _as_of_ns(as_of, state)
    created = state["created"]
    waiting = (as_of_ns - created) / _NS_PER_MIN
    paid_by_then = state["has_paid"] & (state["paid"] <= as_of_ns)
    listed = (state["has_created"] & (waiting >= low) & (waiting <= high) & ~paid_by_then
              & ~state["closed"] & ~state["paid_without_time"])
    out = pd.DataFrame({
        "order_id": frame["order_id"].astype(str).to_numpy()[listed],
        "customer_id": frame["customer_id"].astype(str).to_numpy()[listed],
        "amount": frame["amount"].to_numpy(dtype=float)[listed],
        "created_at": pd.to_datetime(created[listed]),
        "minutes_waiting": waiting[listed],
    })
    out = out.sort_values(["created_at", "order_id"], kind="stable").reset_index(drop=True)
    history = _history_before(frame, out)
    out = pd.concat([out, history], axis=1)
    if path is not None:
        write_excel_csv(out, Path(path))
    return out


def _history_before(orders: pd.DataFrame, listed: pd.DataFrame) -> pd.DataFrame:
    """Per listed order: the buyer's paid orders (kept purchases) strictly before it."""
    empty = pd.DataFrame({"bought_before": np.zeros(len(listed), dtype=bool),
                          "order_count": np.zeros(len(listed), dtype=np.int64),
                          "spend": np.zeros(len(listed))})
    if not len(listed) or "order_date" not in orders.columns:
        return empty
    if "status" in orders.columns:
        words = orders["status"].astype("string").str.strip().str.lower()
        if words.isin(list(EXCLUDED_STATUSES)).fillna(False).all():
            return empty  # no purchase at all: nobody bought before
    kept = prepare_orders(orders).orders
    kept = kept[kept["customer_id"].isin(set(listed["customer_id"]))]
    if not len(kept):
        return empty
    kept = kept.sort_values("order_date", kind="stable")
    g = kept.groupby("customer_id", sort=False)
    hist = pd.DataFrame({"customer_id": kept["customer_id"].astype(str).to_numpy(),
                         "at": kept["order_date"].to_numpy(dtype="datetime64[ns]"),
                         "order_count": g.cumcount().to_numpy() + 1,
                         "spend": g["amount"].cumsum().to_numpy(dtype=float)})
    probe = pd.DataFrame({"customer_id": listed["customer_id"].to_numpy(),
                          "at": listed["created_at"].to_numpy(dtype="datetime64[ns]"),
                          "row": np.arange(len(listed))}).sort_values("at", kind="stable")
    got = pd.merge_asof(probe, hist, on="at", by="customer_id",
                        allow_exact_matches=False).sort_values("row")
    count = got["order_count"].fillna(0).to_numpy(dtype=np.int64)
    return pd.DataFrame({"bought_before": count > 0, "order_count": count,
                         "spend": got["spend"].fillna(0.0).to_numpy(dtype=float)})
