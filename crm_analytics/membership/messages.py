"""Message funnels: sent, delivered, opened, clicked, ordered; lift over a holdout."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crm_analytics._core.checks import check_fraction
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source
from crm_analytics.campaigns.stats import lift_statistics
from crm_analytics.orders.encode import prepare_orders

__all__ = ["CONTROL_GROUPS", "MESSAGE_REQUIRED", "MessageFunnel", "message_funnel"]

#: Columns a message log must have.
MESSAGE_REQUIRED = ("customer_id", "sent_at", "channel", "campaign_id")
#: Funnel steps read from the log when present (True/False per message).
_STEPS = ("delivered", "opened", "clicked")
#: ``group`` values of held-out (never sent) rows.
CONTROL_GROUPS = frozenset({"control", "holdout", "hold_out", "对照组"})


@dataclass(frozen=True, eq=False)
class MessageFunnel:
    """Result of :func:`message_funnel`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per campaign and channel (see :func:`message_funnel`).
    window_days : int
        Days counted from the sending day (that day included).
    confidence_level : float
        Level of the lift intervals.
    n_messages : int
        Rows of the log (sent and held out).
    n_unknown_customers : int
        Distinct customers of the log who have no order at all (kept, as non-buyers);
        a large share suggests the log and the orders use different customer ids.
    unknown_examples : list of str
        Up to 5 of them.
    notes : list of str
        Sentences for a report.
    """

    table: pd.DataFrame
    window_days: int
    confidence_level: float
    n_messages: int
    n_unknown_customers: int
    unknown_examples: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def _flag(values: pd.Series, name: str) -> np.ndarray:
    """A True/False column (bools, 0/1, "true"/"false", "是"/"否"); missing = False."""
    if values.dtype == bool:
        return values.to_numpy()
    text = values.astype(str).str.strip().str.lower()
    yes = text.isin({"true", "1", "1.0", "yes", "y", "是"})
    no = text.isin({"false", "0", "0.0", "no", "n", "否", "nan", "none", "<na>", ""})
    bad = ~(yes | no)
    if bad.any():
        raise CrmDataError(
            f"The message log's {name!r} column must be True/False; got "
            f"{sorted(set(values[bad].astype(str)))[:5]}."
        )
    return yes.to_numpy()


def message_funnel(
    messages: pd.DataFrame,
    orders: pd.DataFrame,
    *,
    window_days: int = 7,
    confidence_level: float = 0.95,
) -> MessageFunnel:
    """Per campaign and channel: sent, delivered, opened, clicked and ordered; lift.

    Parameters
    ----------
    messages : pandas.DataFrame
        The message log: one row per message, with ``customer_id``, ``sent_at``
        (date-time), ``channel`` (sms, email, ...), ``campaign_id`` and optionally
        ``delivered``, ``opened``, ``clicked`` (True/False) and ``group``: rows whose
        group is ``control`` (or ``holdout``) are the holdout, never sent, their
        ``sent_at`` the time they would have been.
    orders : pandas.DataFrame or PreparedOrders
        Canonical orders. Not modified.
    window_days : int, default 7
        An order counts when its day is within ``window_days`` days from the sending
        day (``[sent day, sent day + window_days)``, the sending day included, as
        campaign windows).
    confidence_level : float, default 0.95
        Level of the lift interval.

    Returns
    -------
    MessageFunnel
        ``table`` has one row per ``campaign_id`` and ``channel``: ``sent``,
        ``delivered``, ``opened``, ``clicked`` (NaN when the log lacks the column),
        ``ordered`` (sent messages followed by an order in the window), ``revenue``
        (their orders' amount in the window), ``delivery_rate`` (of sent),
        ``open_rate`` (of delivered), ``click_rate`` (of opened), ``order_rate`` (of
        sent); with a holdout: ``held_out``, ``control_ordered``,
        ``control_order_rate``, ``lift`` (order rate sent minus held out, Welch, from
        :func:`crm_analytics.campaigns.stats.lift_statistics`), ``lift_ci_low``,
        ``lift_ci_high``, ``lift_p_value`` and ``incremental_orders`` (lift x sent).

    Raises
    ------
    CrmDataError
        Missing columns, unreadable ``sent_at`` or flags, a bad ``window_days``, or an
        engine source.

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": ["a", "b", "c"], "order_id": ["1", "2", "3"],
    ...     "order_date": pd.to_datetime(["2024-03-02", "2024-03-20", "2024-03-03"]),
    ...     "amount": [10.0, 20.0, 30.0]})
    >>> log = pd.DataFrame({"customer_id": ["a", "b", "c"], "campaign_id": "C1",
    ...     "channel": "sms", "sent_at": pd.to_datetime(["2024-03-01 10:00"] * 3),
    ...     "delivered": [True, True, False], "opened": [True, False, False],
    ...     "clicked": [True, False, False]})
    >>> message_funnel(log, orders).table[["sent", "delivered", "opened", "ordered"]]
       sent  delivered  opened  ordered
    0     3        2.0     1.0        2
    """
    ok = isinstance(window_days, numbers.Integral) and not isinstance(window_days, bool)
    if not ok or window_days < 1:
        raise CrmDataError(
            f"The 'window_days' parameter must be a whole number of days >= 1. Got "
            f"{window_days!r} instead."
        )
    check_fraction(confidence_level, "confidence_level")
    if is_engine_source(orders):
        raise CrmDataError(
            "message_funnel is not available for Parquet/DuckDB/Spark sources; load the "
            "orders with crm_analytics.read_orders(...)."
        )
    if not isinstance(messages, pd.DataFrame):
        raise CrmDataError("The 'messages' parameter must be a DataFrame (the message log).")
    missing = [c for c in MESSAGE_REQUIRED if c not in messages.columns]
    if missing:
        raise CrmDataError(
            f"The message log has no {missing} column(s); it needs {list(MESSAGE_REQUIRED)} "
            f"(and optionally {list(_STEPS)} and group). Its columns: "
            f"{list(messages.columns)}."
        )
    sent_at = messages["sent_at"]
    if not pd.api.types.is_datetime64_any_dtype(sent_at):
        sent_at = pd.to_datetime(sent_at, errors="coerce", format="mixed")
    bad = sent_at.isna()
    if bad.any():
        raise CrmDataError(
            f"{int(bad.sum())} sent_at values of the message log are missing or not dates, "
            f"e.g. rows {list(np.flatnonzero(bad.to_numpy())[:5])}."
        )
    prepared = prepare_orders(orders)
    days = prepared.days
    ids = messages["customer_id"].astype(str).str.strip()
    code = prepared.customer_ids.get_indexer(ids.to_numpy(dtype=object))
    unknown = pd.unique(ids[code < 0])
    # orders sorted by (customer, day) with a running amount: window sums by bisection
    day0 = int(days.min())
    span = int(days.max()) - day0 + 1 + window_days + 1
    okey = prepared.codes.astype(np.int64) * span + (days - day0)
    order = np.argsort(okey, kind="stable")
    okey = okey[order]
    running = np.concatenate([[0.0], np.cumsum(prepared.orders["amount"].to_numpy(
        dtype=float)[order])])
    sent_day = sent_at.to_numpy(dtype="datetime64[D]").astype(np.int64)
    lo_day = np.clip(sent_day - day0, 0, span - 1)
    hi_day = np.clip(sent_day - day0 + window_days, 0, span - 1)
    safe = np.maximum(code, 0).astype(np.int64) * span
    lo = np.searchsorted(okey, safe + lo_day)
    hi = np.searchsorted(okey, safe + hi_day)
    known = code >= 0
    ordered = known & (hi > lo)
    revenue = np.where(known, running[hi] - running[lo], 0.0)
    if "group" in messages.columns:
        group = messages["group"].astype(str).str.strip().str.lower()
        control = group.isin(CONTROL_GROUPS).to_numpy()
    else:
        control = np.zeros(len(messages), dtype=bool)
    frame = pd.DataFrame({
        "campaign_id": messages["campaign_id"].astype(str).to_numpy(),
        "channel": messages["channel"].astype(str).to_numpy(),
        "sent": ~control,
        "ordered": ordered,
        "revenue": revenue,
        "control": control,
    })
    for step in _STEPS:
        if step in messages.columns:
            frame[step] = _flag(messages[step], step) & ~control
    rows = []
    for (campaign, channel), g in frame.groupby(["campaign_id", "channel"], sort=False):
        sent = g[g["sent"]]
        held = g[g["control"]]
        row = {"campaign_id": campaign, "channel": channel, "sent": len(sent)}
        for step in _STEPS:
            row[step] = float(sent[step].sum()) if step in g else np.nan
        row["ordered"] = int(sent["ordered"].sum())
        row["revenue"] = float(sent["revenue"].sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            row["delivery_rate"] = row["delivered"] / row["sent"] if row["sent"] else np.nan
            row["open_rate"] = row["opened"] / row["delivered"] if row["delivered"] else np.nan
            row["click_rate"] = row["clicked"] / row["opened"] if row["opened"] else np.nan
            row["order_rate"] = row["ordered"] / row["sent"] if row["sent"] else np.nan
        if control.any():
            row["held_out"] = len(held)
            row["control_ordered"] = int(held["ordered"].sum())
            row["control_order_rate"] = held["ordered"].mean() if len(held) else np.nan
            lift = low = high = p_value = np.nan
            if len(sent) >= 2 and len(held) >= 2:
                stats = lift_statistics(sent["ordered"].to_numpy(dtype=float),
                                        held["ordered"].to_numpy(dtype=float),
                                        confidence_level=confidence_level)
                lift, (low, high), p_value = (stats.absolute_lift, stats.absolute_ci,
                                              stats.p_value)
            row.update(lift=lift, lift_ci_low=low, lift_ci_high=high, lift_p_value=p_value,
                       incremental_orders=lift * len(sent))
        rows.append(row)
    notes = []
    if len(unknown):
        notes.append(
            f"{len(unknown):,} customers of the message log ({int((~known).sum()):,} "
            "messages) have no order in the orders: counted as not ordering. Check that "
            "both use the same customer ids."
        )
    return MessageFunnel(
        table=pd.DataFrame(rows),
        window_days=int(window_days),
        confidence_level=float(confidence_level),
        n_messages=len(messages),
        n_unknown_customers=len(unknown),
        unknown_examples=[str(u) for u in unknown[:5]],
        notes=notes,
    )
