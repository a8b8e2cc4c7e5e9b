"""Sleeping members (沉睡会员): status, stock and daily inflow, reminders, reactivation.

The weekly routine of a shop CRM team: a member who has not ordered for
``sleep_after`` days is asleep; every day some more fall asleep; those about to fall
asleep get a reminder (沉睡前提醒); sleepers are split by quality (高质量 / 低质量);
long sleepers who ignore several wake-up campaigns (唤醒) are given up on (放弃).

Definitions
-----------
Days are calendar days: order times are cut to their date, several orders on one day
are one order day. For a customer on day ``t`` (the state at the *end* of day ``t``):

- the customer is a **member** on ``t`` when their first order is on or before ``t``;
  customers whose first order is later are not counted that day;
- ``d`` = days since the last order on or before ``t`` (0 on a day with an order);
- **sleeping** iff ``d >= sleep_after``;
- **pre_sleep** iff ``sleep_after - remind_before <= d < sleep_after``;
- **active** otherwise (``d < sleep_after - remind_before``);
- **newly_sleeping** on ``t`` iff ``d == sleep_after`` on ``t``: the last order was
  exactly ``sleep_after`` days before and none since. An order exactly ``sleep_after``
  days after the previous one therefore prevents falling asleep;
- **woken** on ``t`` iff the customer orders on ``t`` and was sleeping at the end of
  ``t - 1`` (``d >= sleep_after`` on ``t - 1``, i.e. a gap of more than ``sleep_after``
  days between two order days);
- the customer **fell asleep** on ``sleep_date = last_order + sleep_after``;
- **reminder day**: the day ``d`` reaches ``sleep_after - remind_before``.

:func:`member_status` additionally marks sleepers as **given_up** when they have been
asleep for more than ``give_up_after`` days (``d >= sleep_after + give_up_after``) or
were contacted at least ``give_up_contacts`` times after falling asleep (contact days
``c`` with ``sleep_date < c <= as_of``; no order since is implied, because falling
asleep is measured from the last order). ``given_up`` members are still asleep:
:func:`sleeping_flow`'s ``sleeping`` counts ``sleeping`` plus ``given_up``.

**Quality** is defined among the asleep (``sleeping`` and ``given_up``): ``high`` when
``avg_order_value >= aov_threshold`` (default: the median average order value of all
members on ``as_of``) **or** ``n_orders >= min_orders`` (default 2, a repeat buyer);
``low`` otherwise; missing for members who are not asleep.

Every function counts from the order table only (validated with
:func:`~crm_analytics.validate_orders` if needed); ``as_of`` defaults to the last order
date, never today.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import pandas as pd

from crm_analytics._core.checks import (
    check_fraction,
    format_examples,
    require_columns,
    require_dataframe,
)
from crm_analytics._core.dates import day_number, iso_day, to_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source, runner_for
from crm_analytics.orders.encode import PreparedOrders, customer_codes, order_days, prepare_orders
from crm_analytics.sleeping.rules import NEVER, check_count, check_sleep
from crm_analytics.sleeping.sql import sleeping_flow_on_engine
from crm_analytics.summary import (
    customer_summary,
    occasion_keys,
    purchase_occasions,
    resolve_as_of,
    summary_as_of,
)

__all__ = [
    "STATUSES",
    "Reactivation",
    "SleepAfterSuggestion",
    "member_status",
    "reactivation",
    "reminder_list",
    "sleeping_flow",
    "status_overview",
    "suggest_sleep_after",
]

#: Member statuses, from awake to given up.
STATUSES = ("active", "pre_sleep", "sleeping", "given_up")
QUALITIES = ("high", "low")
#: Why a member is given up: asleep too long, ignored wake-up contacts, or both.
GIVE_UP_REASONS = ("asleep_too_long", "ignored_contacts", "both")

_EPOCH = np.datetime64("1970-01-01", "D")
_GAP_EDGES = (1, 8, 15, 31, 61, 91, 181, 366)
_GAP_LABELS = ("1-7", "8-14", "15-30", "31-60", "61-90", "91-180", "181-365", ">365")


# --------------------------------------------------------------------------- helpers
def _order_days(orders: pd.DataFrame | PreparedOrders, *, amounts: bool = False):
    """Each customer's order days: ``(occ_cust, occ_day, occ_amount)``.

    Sorted by customer code then day; several orders on a day are one order day (with
    their amounts summed when ``amounts``, else ``occ_amount`` is None).
    """
    prepared = orders if isinstance(orders, PreparedOrders) else None
    frame = orders.orders if prepared is not None else orders
    codes, _ = customer_codes(orders)
    days = prepared.days if prepared is not None else order_days(frame)
    if not amounts:  # the summary's occasions (once per PreparedOrders object)
        occ_key, day0, span = (purchase_occasions(prepared) if prepared is not None
                               else occasion_keys(codes, days))
        occ_key = occ_key.astype(np.int64)
        return occ_key // span, occ_key % span + day0, None
    day0 = days.min()
    span = np.int64(days.max() - day0 + 1)
    key = codes.astype(np.int64) * span + (days - day0)
    order = np.argsort(key, kind="stable")
    key = key[order]
    new = np.empty(len(key), dtype=bool)
    new[:1] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    amount = frame["amount"].to_numpy(dtype=float)[order]
    occ_amount = np.add.reduceat(amount, np.flatnonzero(new))
    occ_key = key[new]
    return occ_key // span, occ_key % span + day0, occ_amount


def _next_day(occ_cust: np.ndarray, occ_day: np.ndarray) -> np.ndarray:
    """The customer's next order day after each order day (``NEVER`` after the last)."""
    nxt = np.full(len(occ_day), NEVER, dtype=np.int64)
    same = occ_cust[1:] == occ_cust[:-1]
    nxt[:-1][same] = occ_day[1:][same]
    return nxt


def _count_intervals(lo: np.ndarray, hi: np.ndarray, start: int, n_days: int) -> np.ndarray:
    """For each day ``t`` in ``start .. start + n_days - 1``: #intervals with lo <= t < hi."""
    keep = (hi > lo) & (lo < start + n_days) & (hi > start)
    lo_i = np.clip(lo[keep] - start, 0, n_days)
    hi_i = np.clip(hi[keep] - start, 0, n_days)
    diff = np.bincount(lo_i, minlength=n_days + 1) - np.bincount(hi_i, minlength=n_days + 1)
    return np.cumsum(diff[:n_days])


def _count_days(days: np.ndarray, start: int, n_days: int) -> np.ndarray:
    """How many of ``days`` fall on each day of the range."""
    inside = (days >= start) & (days < start + n_days)
    return np.bincount(days[inside] - start, minlength=n_days)


# --------------------------------------------------------------------------- flow
def sleeping_flow(
    orders: pd.DataFrame,
    *,
    start: object = None,
    end: object = None,
    sleep_after: int = 90,
    remind_before: int = 10,
) -> pd.DataFrame:
    """Daily stock and flow of sleeping members (沉睡会员存量与每日新增).

    Vectorised: each gap of more than ``sleep_after`` days between two order days (or
    after the last one) is a *sleep interval* ``[last + sleep_after, next order)``;
    the daily counts are difference arrays over those intervals. No loop over
    customers or days.

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical orders. Not modified. Orders after ``end`` do not change the counts
        up to ``end``.
    start, end : date-like, optional
        First and last day reported (both included). Default: the first and the last
        order date.
    sleep_after : int, default 90
        Days without an order after which a member is asleep.
    remind_before : int, default 10
        The pre-sleep window: ``sleep_after - remind_before <= d < sleep_after``.

    Returns
    -------
    pandas.DataFrame
        One row per day: ``date, members, active, pre_sleep, sleeping,
        newly_sleeping, woken`` (see the module docstring for the definitions).
        ``sleeping[t] == sleeping[t-1] + newly_sleeping[t] - woken[t]``.

    Raises
    ------
    CrmDataError
        Invalid orders, ``end`` before ``start``, or invalid day counts.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_id": ["1", "2", "3"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-06", "2024-01-02"]),
    ...     "amount": [10.0, 20.0, 5.0]})
    >>> sleeping_flow(orders, start="2024-01-03", end="2024-01-06",
    ...               sleep_after=2, remind_before=1)
            date  members  active  pre_sleep  sleeping  newly_sleeping  woken
    0 2024-01-03        2       0          1         1               1      0
    1 2024-01-04        2       0          0         2               1      0
    2 2024-01-05        2       0          0         2               0      0
    3 2024-01-06        2       1          0         1               0      1
    """
    if is_engine_source(orders):  # Parquet path, DuckDB relation, Spark frame
        return sleeping_flow_on_engine(runner_for(orders), start=start, end=end,
                                       sleep_after=sleep_after, remind_before=remind_before)
    s, r = check_sleep(sleep_after, remind_before)
    prepared = prepare_orders(orders)
    orders = prepared.orders
    start_ts = to_day(start, "start") if start is not None else orders["order_date"].min()
    start_ts = start_ts.normalize()
    end_ts = resolve_as_of(orders, end, "end")
    if end_ts < start_ts:
        raise CrmDataError(
            f"The 'end' parameter ({end_ts.date()}) must not be before 'start' "
            f"({start_ts.date()})."
        )
    day0, n_days = day_number(start_ts), (end_ts - start_ts).days + 1
    occ_cust, occ_day, _ = _order_days(prepared)
    nxt = _next_day(occ_cust, occ_day)
    first = np.ones(len(occ_day), dtype=bool)
    first[1:] = occ_cust[1:] != occ_cust[:-1]

    members = np.cumsum(
        np.bincount(np.clip(occ_day[first] - day0, 0, n_days), minlength=n_days + 1)
    )[:n_days]
    asleep_from = occ_day + s
    sleeping = _count_intervals(asleep_from, nxt, day0, n_days)
    pre_sleep = _count_intervals(occ_day + (s - r), np.minimum(asleep_from, nxt), day0, n_days)
    gap_long = nxt - occ_day > s
    newly = _count_days(asleep_from[gap_long], day0, n_days)
    woken = _count_days(nxt[gap_long & (nxt < NEVER)], day0, n_days)
    flow = pd.DataFrame(
        {
            "date": pd.date_range(start_ts, periods=n_days, freq="D"),
            "members": members,
            "active": members - pre_sleep - sleeping,
            "pre_sleep": pre_sleep,
            "sleeping": sleeping,
            "newly_sleeping": newly,
            "woken": woken,
        }
    )
    flow.attrs = {"sleep_after": s, "remind_before": r}
    return flow


# --------------------------------------------------------------------------- status
def _contacts_per_sleeper(
    campaigns: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    sleep_after: int,
    customer_id: str,
    contact_date: str,
    group_col: str,
    treated: str,
) -> tuple[np.ndarray, int]:
    """Contacts after each customer fell asleep, and the number of unmatched contacts."""
    require_dataframe(campaigns, "campaigns")
    require_columns(campaigns, [customer_id, contact_date], "The campaign contact table")
    contacts = campaigns
    if group_col in contacts.columns:
        contacts = contacts[contacts[group_col].astype("string").eq(treated).fillna(False)]
    raw = contacts[contact_date]
    if pd.api.types.is_datetime64_any_dtype(raw):
        dates = raw
    else:
        dates = pd.to_datetime(raw, errors="coerce", format="mixed")
    bad = dates.isna()
    if bad.any():
        raise CrmDataError(
            f"Column {contact_date!r} of the campaign contact table has "
            f"{int(bad.sum())} values that are not dates ({format_examples(raw[bad])}). "
            "Use ISO dates such as '2024-06-18'; fill in or remove those rows."
        )
    if getattr(dates.dtype, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    day = dates.to_numpy(dtype="datetime64[D]").astype(np.int64)
    ids = contacts[customer_id].astype("string").str.strip()
    pos = pd.Index(summary["customer_id"]).get_indexer(ids.to_numpy(dtype=object))
    in_time = day <= day_number(as_of)
    matched = (pos >= 0) & in_time
    last = _to_day_numbers(summary["last_order"].to_numpy())
    counted = matched.copy()
    counted[matched] = day[matched] > last[pos[matched]] + sleep_after
    counts = np.bincount(pos[counted], minlength=len(summary))
    return counts, int(((pos < 0) & in_time).sum())


def _to_day_numbers(values: np.ndarray) -> np.ndarray:
    return (values.astype("datetime64[D]") - _EPOCH).astype(np.int64)


def member_status(
    orders: pd.DataFrame,
    *,
    as_of: object = None,
    sleep_after: int = 90,
    remind_before: int = 10,
    give_up_after: int | None = None,
    campaigns: pd.DataFrame | None = None,
    give_up_contacts: int = 3,
    aov_threshold: float | None = None,
    min_orders: int = 2,
    contact_date: str = "start",
    contact_customer_id: str = "customer_id",
    group_col: str = "group",
    treated: str = "treatment",
) -> pd.DataFrame:
    """Each member's status on ``as_of``: active, pre_sleep, sleeping or given_up.

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical orders. Not modified. Orders after ``as_of`` are ignored.
    as_of : date-like, optional
        The day the status is taken (end of that day). Default: the last order date.
    sleep_after, remind_before : int, default 90 and 10
        See the module docstring.
    give_up_after : int, optional
        Give up on members asleep for more than this many days
        (``days_since_last_order >= sleep_after + give_up_after``). Default: never.
    campaigns : pandas.DataFrame, optional
        Campaign contacts, one row per contacted member per campaign, with the columns
        ``contact_customer_id`` and ``contact_date`` (e.g. ``load_sample("campaigns")``).
        When a ``group_col`` column exists only rows where it equals ``treated`` count
        (the control group was not contacted). Contacts of every campaign type count;
        filter the table first to count only some. Contacts after ``as_of`` and of
        customers not in ``orders`` are ignored (their number is in
        ``attrs["n_contacts_unmatched"]``).
    give_up_contacts : int, default 3
        Give up on sleepers contacted at least this many times after falling asleep
        (only with ``campaigns``).
    aov_threshold : float, optional
        Average order value from which a sleeper is ``high`` quality. Default: the
        median average order value of all members on ``as_of``.
    min_orders : int, default 2
        Number of orders from which a sleeper is ``high`` quality.
    contact_date, contact_customer_id, group_col, treated : str
        Column names and the treated-group label of ``campaigns``.

    Returns
    -------
    pandas.DataFrame
        One row per member (customers whose first order is after ``as_of`` are not
        members yet; their number is in ``attrs["n_not_yet_members"]``), sorted by
        ``customer_id``: ``customer_id, last_order, days_since_last_order, status,
        n_orders, avg_order_value, total_amount, quality, first_order, sleep_date``,
        with ``campaigns`` ``n_wake_up_contacts``, and ``give_up_reason``
        (``asleep_too_long``, ``ignored_contacts``, ``both``; missing unless given up).
        ``status``, ``quality`` and ``give_up_reason`` are categoricals (quality
        missing when not asleep). ``attrs`` repeats the
        settings, including the ``aov_threshold`` used.

    Raises
    ------
    CrmDataError
        Invalid orders or parameters, or a campaign table without the named columns
        or with unparseable dates.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "b", "c", "c"],
    ...     "order_id": ["1", "2", "3", "4"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-03-25", "2024-01-05",
    ...                                   "2024-01-14"]),
    ...     "amount": [80.0, 20.0, 10.0, 10.0]})
    >>> st = member_status(orders, as_of="2024-04-05", sleep_after=90, remind_before=10)
    >>> st[["customer_id", "days_since_last_order", "status", "quality"]]
      customer_id  days_since_last_order     status quality
    0           a                     95   sleeping    high
    1           b                     11     active     NaN
    2           c                     82  pre_sleep     NaN
    """
    s, r = check_sleep(sleep_after, remind_before)
    if give_up_after is not None:
        give_up_after = check_count(give_up_after, "give_up_after", 0)
    give_up_contacts = check_count(give_up_contacts, "give_up_contacts", 1, " of contacts")
    min_orders = check_count(min_orders, "min_orders", 1, " of orders")
    if is_engine_source(orders):  # Parquet path, DuckDB relation, Spark frame
        summary = customer_summary(orders, as_of=as_of)
        as_of_ts = summary_as_of(summary)
        n_customers = None  # customers after as_of are not counted inside the engine
    else:
        prepared = prepare_orders(orders)
        as_of_ts = resolve_as_of(prepared.orders, as_of)
        summary = customer_summary(prepared, as_of=as_of_ts)
        n_customers = len(prepared.customer_ids)
    d = summary["days_since_last_order"].to_numpy()
    asleep = d >= s
    too_long = np.zeros(len(d), dtype=bool)
    if give_up_after is not None:
        too_long = d >= s + give_up_after
    ignored = np.zeros(len(d), dtype=bool)
    out = summary[
        ["customer_id", "last_order", "days_since_last_order", "n_orders",
         "avg_order_value", "total_amount", "first_order"]
    ].copy()
    n_unmatched = 0
    if campaigns is not None:
        contacts, n_unmatched = _contacts_per_sleeper(
            campaigns, summary, as_of=as_of_ts, sleep_after=s, customer_id=contact_customer_id,
            contact_date=contact_date, group_col=group_col, treated=treated,
        )
        ignored = asleep & (contacts >= give_up_contacts)
    given_up = too_long | ignored
    code = np.where(asleep, np.where(given_up, 3, 2), np.where(d >= s - r, 1, 0))
    status = pd.Categorical.from_codes(code, categories=list(STATUSES), ordered=True)

    aov = out["avg_order_value"].to_numpy()
    if aov_threshold is None:
        aov_threshold = float(np.median(aov))
    high = (aov >= aov_threshold) | (out["n_orders"].to_numpy() >= min_orders)
    quality = pd.Categorical.from_codes(
        np.where(asleep, np.where(high, 0, 1), -1), categories=list(QUALITIES)
    )
    out.insert(3, "status", status)
    out.insert(7, "quality", quality)
    out["sleep_date"] = out["last_order"] + pd.Timedelta(days=s)
    if campaigns is not None:
        out["n_wake_up_contacts"] = contacts.astype(np.int64)
    out["give_up_reason"] = pd.Categorical.from_codes(
        np.where(too_long & ignored, 2, np.where(too_long, 0, np.where(ignored, 1, -1))),
        categories=list(GIVE_UP_REASONS),
    )
    out.attrs = {
        "as_of": iso_day(as_of_ts),
        "sleep_after": s,
        "remind_before": r,
        "give_up_after": give_up_after,
        "give_up_contacts": give_up_contacts if campaigns is not None else None,
        "aov_threshold": float(aov_threshold),
        "min_orders": min_orders,
        "n_not_yet_members": None if n_customers is None else int(n_customers - len(out)),
        "n_contacts_unmatched": n_unmatched,
    }
    return out


def status_overview(status: pd.DataFrame) -> pd.DataFrame:
    """Members and their past value by status and quality, from :func:`member_status`.

    Parameters
    ----------
    status : pandas.DataFrame
        The output of :func:`member_status`.

    Returns
    -------
    pandas.DataFrame
        Columns ``status, quality, n_members, share_of_members, total_amount,
        share_of_amount, avg_order_value`` (average of the members' average order
        values); quality is ``"-"`` for members who are not asleep.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "b"], "order_id": ["1", "2"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-04-01"]),
    ...     "amount": [80.0, 20.0]})
    >>> status_overview(member_status(orders))[["status", "quality", "n_members"]]
         status quality  n_members
    0    active       -          1
    1  sleeping    high          1
    """
    require_dataframe(status, "status")
    require_columns(status, ["status", "quality", "customer_id", "total_amount",
                             "avg_order_value"], "The member status table")
    table = status.assign(
        quality=status["quality"].astype("string").fillna("-"),
        status=pd.Categorical(status["status"], categories=list(STATUSES), ordered=True),
    )
    grouped = table.groupby(["status", "quality"], observed=True, sort=True)
    out = grouped.agg(
        n_members=("customer_id", "size"),
        total_amount=("total_amount", "sum"),
        avg_order_value=("avg_order_value", "mean"),
    ).reset_index()
    out.insert(3, "share_of_members", out["n_members"] / max(len(status), 1))
    total = status["total_amount"].sum()
    out.insert(5, "share_of_amount", out["total_amount"] / total if total else np.nan)
    out["status"] = out["status"].astype(str)
    return out


def reminder_list(
    orders: pd.DataFrame,
    *,
    on: object = None,
    sleep_after: int = 90,
    remind_before: int = 10,
) -> pd.DataFrame:
    """Members who reach their reminder day on ``on`` (沉睡前提醒名单).

    The reminder day is when days since the last order reaches
    ``sleep_after - remind_before``; members who ordered since are not on the list.

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical orders. Not modified. Orders after ``on`` are ignored.
    on : date-like, optional
        The day the reminders go out. Default: the last order date.
    sleep_after, remind_before : int, default 90 and 10

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (str), ``last_order, days_since_last_order, n_orders,
        total_amount, avg_order_value, sleep_date`` (the day they fall asleep without
        an order), ``segment`` (``"pre_sleep_reminder"``) and ``segment_name``,
        highest ``total_amount`` first: ready for
        :func:`crm_analytics.segments.export.export_segments` (UTF-8 with BOM for Excel).

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "b"], "order_id": ["1", "2"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-02"]),
    ...     "amount": [80.0, 20.0]})
    >>> reminder_list(orders, on="2024-03-21")[["customer_id", "days_since_last_order"]]
      customer_id  days_since_last_order
    0           a                     80
    """
    s, r = check_sleep(sleep_after, remind_before)
    prepared = prepare_orders(orders)
    on_ts = resolve_as_of(prepared.orders, on, "on")
    summary = customer_summary(prepared, as_of=on_ts)
    due = summary[summary["days_since_last_order"] == s - r]
    out = due[["customer_id", "last_order", "days_since_last_order", "n_orders",
               "total_amount", "avg_order_value"]].copy()
    out["customer_id"] = out["customer_id"].astype(str)
    out["sleep_date"] = out["last_order"] + pd.Timedelta(days=s)
    out["segment"] = "pre_sleep_reminder"
    out["segment_name"] = "pre-sleep reminder / 沉睡前提醒"
    out = out.sort_values(["total_amount", "customer_id"], ascending=[False, True])
    out = out.reset_index(drop=True)
    out.attrs = {"on": iso_day(on_ts), "sleep_after": s, "remind_before": r}
    return out


# --------------------------------------------------------------------------- threshold
@dataclass(frozen=True, eq=False)
class SleepAfterSuggestion:
    """A data-driven ``sleep_after``, with the gap distribution behind it.

    Attributes
    ----------
    sleep_after : int
        The ``quantile`` of the gaps between consecutive order days, rounded up.
    quantile : float
        The quantile used.
    gap_quantiles : pandas.DataFrame
        ``quantile, gap_days`` for common quantiles (and the one used).
    gap_distribution : pandas.DataFrame
        ``gap_days`` (bin label), ``n_gaps, share, cumulative_share``.
    n_customers : int
        Customers with at least two order days (the only ones with a gap).
    n_gaps : int
        Gaps observed.
    as_of : pandas.Timestamp
        Last day of data used.
    p_alive_level : float
        The P(alive) level of the churn-model view.
    p_alive_days : int or None
        With a churn model: days since the last order after which a typical repeat
        customer's P(alive) is below ``p_alive_level`` (None without a model, or when
        not reached within ten years).
    p_alive_curve : pandas.DataFrame or None
        ``days_since_last_order, p_alive`` for that typical customer.
    typical_customer : dict or None
        The ``frequency`` and ``recency`` (in the model's time unit) used.
    """

    sleep_after: int
    quantile: float
    gap_quantiles: pd.DataFrame
    gap_distribution: pd.DataFrame
    n_customers: int
    n_gaps: int
    as_of: pd.Timestamp
    p_alive_level: float = 0.5
    p_alive_days: int | None = None
    p_alive_curve: pd.DataFrame | None = None
    typical_customer: dict | None = None

    def summary(self) -> str:
        """A few plain sentences explaining the suggestion."""
        median = int(self.gap_quantiles.set_index("quantile").loc[0.5, "gap_days"])
        text = (
            f"{self.n_gaps} gaps between order days of {self.n_customers} repeat customers "
            f"(data up to {self.as_of.date()}); the median gap is {median} days and "
            f"{self.quantile:.0%} of repurchases came within {self.sleep_after} days, so "
            f"suggest sleep_after={self.sleep_after}. Gaps longer than the data window "
            "cannot be seen, so on a short history this is a lower bound."
        )
        if self.p_alive_days is not None:
            text += (
                f" The churn model says a typical repeat customer's P(alive) falls below "
                f"{self.p_alive_level:.0%} after {self.p_alive_days} days without an order."
            )
        return text


def _p_alive_view(model: object, orders: pd.DataFrame, as_of: pd.Timestamp, level: float):
    params = getattr(model, "params", None)
    keys = ("r", "alpha", "a", "b")
    if params is None or not all(k in params for k in keys):
        raise CrmDataError(
            "The 'churn_model' parameter must be a fitted BG/NBD model with a .params "
            f"mapping holding {list(keys)} (e.g. crm_analytics.churn.fit_churn(...)). "
            f"Got {type(model).__name__}."
        )
    time_unit = getattr(model, "time_unit", "D")
    summary = customer_summary(orders, as_of=as_of, time_unit=time_unit)
    repeat = summary[summary["frequency"] > 0]
    if repeat.empty:
        return None, None, None
    x = max(1, round(float(repeat["frequency"].median())))
    t_x = float(repeat["recency"].median())
    days = np.arange(0, 3651)
    big_t = t_x + days / (7.0 if time_unit == "W" else 1.0)
    if callable(getattr(model, "p_alive", None)):  # the model's own (BG/NBD or MBG/NBD)
        p_alive = np.asarray(model.p_alive(np.full(len(days), x), np.full(len(days), t_x),
                                           big_t), dtype=float)
    else:  # BG/NBD P(alive | x, t_x, T) for x > 0 (Fader, Hardie & Lee 2005, eq. 13)
        r, alpha, a, b = (float(params[k]) for k in keys)
        log_ratio = np.log(a / (b + x - 1)) + (r + x) * np.log((alpha + big_t) / (alpha + t_x))
        p_alive = 1.0 / (1.0 + np.exp(log_ratio))
    below = np.flatnonzero(p_alive < level)
    crossing = int(days[below[0]]) if len(below) else None
    curve = pd.DataFrame({"days_since_last_order": days, "p_alive": p_alive})
    return crossing, curve, {"frequency": x, "recency": t_x, "time_unit": time_unit}


def suggest_sleep_after(
    orders: pd.DataFrame,
    *,
    quantile: float = 0.9,
    as_of: object = None,
    churn_model: object = None,
    p_alive_level: float = 0.5,
) -> SleepAfterSuggestion:
    """Suggest ``sleep_after`` from the shop's own repurchase gaps.

    Pools the gaps (in days) between consecutive order days of every customer and
    takes their ``quantile``: with 0.9, nine in ten repurchases happen within the
    suggested number of days, so a member past it is unlikely to be "between two
    orders". Gaps longer than the data window cannot be observed, so on a short
    history the suggestion is a lower bound.

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical orders. Not modified.
    quantile : float, default 0.9
        Strictly between 0 and 1.
    as_of : date-like, optional
        Use orders up to this day. Default: the last order date.
    churn_model : optional
        A fitted BG/NBD model with ``.params`` (``r, alpha, a, b``) and ``.time_unit``
        (e.g. from :mod:`crm_analytics.churn`). Adds the day after which a typical
        repeat customer (median frequency and recency of repeat customers) has
        P(alive) below ``p_alive_level``.
    p_alive_level : float, default 0.5

    Returns
    -------
    SleepAfterSuggestion

    Raises
    ------
    CrmDataError
        No customer has two order days, or invalid parameters.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b"],
    ...     "order_id": ["1", "2", "3", "4", "5"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-11", "2024-02-10",
    ...                                   "2024-01-01", "2024-01-21"]),
    ...     "amount": [10.0] * 5})
    >>> res = suggest_sleep_after(orders, quantile=0.5)
    >>> res.sleep_after, res.n_customers, res.n_gaps
    (20, 2, 3)
    """
    check_fraction(quantile, "quantile")
    check_fraction(p_alive_level, "p_alive_level")
    orders = prepare_orders(orders).orders
    as_of_ts = resolve_as_of(orders, as_of)
    sub = orders[orders["order_date"] < as_of_ts + pd.Timedelta(days=1)]
    if sub.empty:
        raise CrmDataError(f"No order is on or before as_of={as_of_ts.date()}.")
    occ_cust, occ_day, _ = _order_days(sub)
    same = occ_cust[1:] == occ_cust[:-1]
    gaps = (occ_day[1:] - occ_day[:-1])[same]
    if len(gaps) == 0:
        raise CrmDataError(
            "No customer has orders on two different days, so there is no repurchase gap "
            "to learn sleep_after from. Use a longer history, or set sleep_after from the "
            "shop's experience (90 days is common)."
        )
    levels = sorted({0.5, 0.75, 0.8, 0.9, 0.95, 0.99, float(quantile)})
    gap_q = pd.DataFrame(
        {"quantile": levels, "gap_days": np.quantile(gaps, levels, method="inverted_cdf")}
    )
    counts = np.bincount(np.searchsorted(_GAP_EDGES, gaps, side="right") - 1,
                         minlength=len(_GAP_EDGES))
    dist = pd.DataFrame({"gap_days": list(_GAP_LABELS), "n_gaps": counts.astype(np.int64)})
    dist["share"] = dist["n_gaps"] / len(gaps)
    dist["cumulative_share"] = dist["share"].cumsum()
    crossing = curve = typical = None
    if churn_model is not None:
        crossing, curve, typical = _p_alive_view(churn_model, sub, as_of_ts, p_alive_level)
    return SleepAfterSuggestion(
        sleep_after=int(math.ceil(np.quantile(gaps, quantile, method="inverted_cdf"))),
        quantile=float(quantile),
        gap_quantiles=gap_q,
        gap_distribution=dist,
        n_customers=int(np.unique(occ_cust[1:][same]).size),
        n_gaps=int(len(gaps)),
        as_of=as_of_ts,
        p_alive_level=float(p_alive_level),
        p_alive_days=crossing,
        p_alive_curve=curve,
        typical_customer=typical,
    )


# --------------------------------------------------------------------------- reactivation
@dataclass(frozen=True, eq=False)
class Reactivation:
    """Reactivation of members after they fell asleep, by month of falling asleep.

    Attributes
    ----------
    table : pandas.DataFrame
        Long form, one row per cohort and window: ``cohort`` (first day of the month
        the members fell asleep), ``window_days, n_asleep, n_reactivated,
        reactivation_rate, revenue, revenue_per_sleeper, complete``. A member is
        reactivated within ``w`` days when their next order is at most ``w`` days
        after ``sleep_date``; ``revenue`` is what the cohort spent in those ``w``
        days. A cell is ``complete`` when the whole window of every member is on or
        before ``as_of`` (the month's last day + ``w`` <= ``as_of``); incomplete cells
        have missing counts and rates, never a too-low rate.
    curve : pandas.DataFrame
        All cohorts pooled: ``days_since_asleep, n_observed`` (sleep episodes
        observed that long), ``n_reactivated, share_reactivated`` (woken within that
        many days, among the observed).
    sleep_after : int
    windows : tuple of int
    as_of : pandas.Timestamp
    """

    table: pd.DataFrame
    curve: pd.DataFrame
    sleep_after: int
    windows: tuple[int, ...]
    as_of: pd.Timestamp

    def rates(self) -> pd.DataFrame:
        """Reactivation rate, one row per cohort and one column per window."""
        return self.table.pivot(index="cohort", columns="window_days",
                                values="reactivation_rate")

    def overall(self) -> pd.DataFrame:
        """Complete cohorts pooled: one row per window."""
        done = self.table[self.table["complete"]]
        out = done.groupby("window_days").agg(
            n_asleep=("n_asleep", "sum"), n_reactivated=("n_reactivated", "sum"),
            revenue=("revenue", "sum"),
        ).reindex(list(self.windows))
        out["reactivation_rate"] = out["n_reactivated"] / out["n_asleep"]
        out["revenue_per_sleeper"] = out["revenue"] / out["n_asleep"]
        return out.reset_index()


def reactivation(
    orders: pd.DataFrame,
    *,
    sleep_after: int = 90,
    as_of: object = None,
    windows: tuple[int, ...] = (30, 60, 90),
) -> Reactivation:
    """Of members who fell asleep each month, the share that ordered again, and value.

    Every sleep episode counts (a member can fall asleep, wake and fall asleep
    again). See :class:`Reactivation` for the definitions.

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical orders. Not modified. Orders after ``as_of`` are ignored.
    sleep_after : int, default 90
    as_of : date-like, optional
        End of observation. Default: the last order date.
    windows : tuple of int, default (30, 60, 90)
        Days after falling asleep.

    Returns
    -------
    Reactivation

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_id": ["1", "2", "3"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-20", "2024-01-02"]),
    ...     "amount": [10.0, 25.0, 5.0]})
    >>> res = reactivation(orders, sleep_after=10, as_of="2024-03-31", windows=(10, 30))
    >>> res.table[["cohort", "window_days", "n_asleep", "n_reactivated", "revenue"]]
          cohort  window_days  n_asleep  n_reactivated  revenue
    0 2024-01-01           10         3              1     25.0
    1 2024-01-01           30         3              1     25.0
    """
    s = check_count(sleep_after, "sleep_after", 1)
    if isinstance(windows, Integral):
        windows = (windows,)
    windows = tuple(sorted({check_count(w, "windows", 1) for w in windows}))
    if not windows:
        raise CrmDataError("The 'windows' parameter must list at least one number of days.")
    orders = prepare_orders(orders).orders
    as_of_ts = resolve_as_of(orders, as_of)
    as_of_day = day_number(as_of_ts)
    sub = orders[orders["order_date"] < as_of_ts + pd.Timedelta(days=1)]
    if sub.empty:
        raise CrmDataError(f"No order is on or before as_of={as_of_ts.date()}.")
    occ_cust, occ_day, occ_amount = _order_days(sub, amounts=True)
    nxt = _next_day(occ_cust, occ_day)
    asleep_day = occ_day + s
    episode = (nxt - occ_day > s) & (asleep_day <= as_of_day)
    idx = np.flatnonzero(episode)
    fell = asleep_day[idx]
    lag = np.where(nxt[idx] < NEVER, nxt[idx] - fell, NEVER)
    # revenue in (fell, fell + w]: cumulative amount per customer via the sorted keys
    span = np.int64(as_of_day - occ_day.min() + 1)
    key = occ_cust * span + (occ_day - occ_day.min())
    cum = np.cumsum(occ_amount)
    cohort = (fell + _EPOCH).astype("datetime64[M]")
    month_end = ((cohort + 1).astype("datetime64[D]") - _EPOCH).astype(np.int64) - 1
    parts = []
    for w in windows:  # a handful of windows, not customers
        limit = np.minimum(fell + w, as_of_day) - occ_day.min()
        j = np.searchsorted(key, occ_cust[idx] * span + limit, side="right") - 1
        revenue = np.where(lag <= w, cum[j] - cum[idx], 0.0)
        parts.append(pd.DataFrame({
            "cohort": cohort.astype("datetime64[ns]"), "window_days": w,
            "reactivated": lag <= w, "revenue": revenue,
            "complete": month_end + w <= as_of_day,
        }))
    episodes = pd.concat(parts, ignore_index=True)
    table = episodes.groupby(["cohort", "window_days"], sort=True).agg(
        n_asleep=("reactivated", "size"), n_reactivated=("reactivated", "sum"),
        revenue=("revenue", "sum"), complete=("complete", "all"),
    ).reset_index()
    table["n_reactivated"] = table["n_reactivated"].astype("Int64")
    table.loc[~table["complete"], ["n_reactivated"]] = pd.NA
    table["revenue"] = table["revenue"].where(table["complete"])
    table["reactivation_rate"] = table["n_reactivated"].astype(float) / table["n_asleep"]
    table["revenue_per_sleeper"] = table["revenue"] / table["n_asleep"]
    table = table[["cohort", "window_days", "n_asleep", "n_reactivated", "reactivation_rate",
                   "revenue", "revenue_per_sleeper", "complete"]]

    horizon = max(windows)
    observed = np.clip(as_of_day - fell, 0, horizon)
    n_obs = np.cumsum(np.bincount(observed, minlength=horizon + 1)[::-1])[::-1]
    woke = lag <= observed
    diff = np.bincount(lag[woke], minlength=horizon + 2)[: horizon + 2] - np.bincount(
        observed[woke] + 1, minlength=horizon + 2
    )
    n_react = np.cumsum(diff)[: horizon + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_obs > 0, n_react / np.maximum(n_obs, 1), np.nan)
    curve = pd.DataFrame({
        "days_since_asleep": np.arange(horizon + 1), "n_observed": n_obs,
        "n_reactivated": n_react, "share_reactivated": share,
    }).iloc[1:].reset_index(drop=True)
    return Reactivation(table=table, curve=curve, sleep_after=s, windows=windows,
                        as_of=as_of_ts)
