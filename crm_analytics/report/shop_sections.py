"""The report's shop sections: the KPI board, the lifecycle, payment and replenishment.

Computed by the analyses' public functions
(:func:`crm_analytics.membership.report_tables`, :func:`crm_analytics.payment_timing`,
:func:`crm_analytics.repurchase_cycles`, :func:`crm_analytics.replenishment_list`) for
whatever the orders hold, in memory or in an engine:

- the KPI board (quarterly, :data:`BOARD_PERIOD`; the page shows the last
  :data:`BOARD_PERIODS_SHOWN` quarters, ``kpi_board.csv`` holds them all) and the
  monthly lifecycle, always; repurchase by first channel and first category when the
  orders (in memory) have a ``channel`` / ``category`` column;
- Payment when the orders have ``created_at`` and ``paid_at``: it counts every created
  order, so it uses ``created_orders`` (every order as read by
  ``read_orders(path, include_unpaid=True)``) when given;
- Replenishment when the orders have ``quantity`` and ``product`` (else ``category``).

A section that cannot be computed says why in its place (``unavailable``); a section the
data do not allow is absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.money import format_money
from crm_analytics.backends import is_engine_source, runner_for
from crm_analytics.membership import LifecycleTables
from crm_analytics.membership import report_tables as lifecycle_report_tables
from crm_analytics.orders.encode import PreparedOrders
from crm_analytics.reminders import (
    ReminderReport,
    payment_timing,
    replenishment_list,
    repurchase_cycles,
)
from crm_analytics.reminders.rules import PAYMENT_COLUMNS, cycle_item

__all__ = [
    "BOARD_PERIOD",
    "BOARD_PERIODS_SHOWN",
    "LEAD_DAYS",
    "NO_UNPAID_NOTE",
    "ShopSections",
    "readable_board",
    "readable_cycles",
    "readable_payment",
    "shop_sections",
]

#: The KPI board's period on the page: quarters (months are too many, years too few).
BOARD_PERIOD = "Q"
#: Quarters of the board shown on the page (two years); the CSV holds every quarter.
BOARD_PERIODS_SHOWN = 8
#: Days ahead the replenishment list looks for products running out.
LEAD_DAYS = 7
#: Said in the Payment section when the never-paid orders are not in the orders.
NO_UNPAID_NOTE = (
    "Orders never paid were not available (order validation leaves them out), so these "
    "shares count paid orders only. Pass every created order as run_report(..., "
    "created_orders=read_orders(path, include_unpaid=True)); the command line does this "
    "itself for files with creation and payment times.")



@dataclass(frozen=True, eq=False)
class ShopSections:
    """The shop sections' results, and why a section could not be computed.

    Attributes
    ----------
    lifecycle : LifecycleTables or None
        KPI board, lifecycle stage counts, repurchase by first channel / category.
    reminders : ReminderReport or None
        Payment timing (by hour and weekday), repurchase cycles, replenishment list;
        None when the orders allow neither section.
    notes : dict
        Section key (``"lifecycle"``, ``"payment"``, ``"replenishment"``) -> sentences
        for that section (the payment timing's own notes are in its summary).
    unavailable : dict
        Section key (``"kpi_board"``, ``"lifecycle"``, ``"payment"``,
        ``"replenishment"``) -> why it could not be computed.
    """

    lifecycle: LifecycleTables | None = None
    reminders: ReminderReport | None = None
    notes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


def _columns(orders: object) -> set[str]:
    if isinstance(orders, PreparedOrders):
        return set(orders.orders.columns)
    if isinstance(orders, pd.DataFrame):
        return set(orders.columns)
    return {str(c).lower() for c in runner_for(orders).columns}


def _payment_source(orders: object, created_orders: object
                    ) -> tuple[object | None, tuple[str, ...]]:
    """What payment timing counts, and the notes saying what it lacks."""
    if created_orders is not None:
        if isinstance(created_orders, PreparedOrders):
            created_orders = created_orders.orders
        if not isinstance(created_orders, pd.DataFrame):
            raise CrmDataError(
                "The 'created_orders' parameter of run_report is a DataFrame of every "
                "created order (read_orders(path, include_unpaid=True)); got "
                f"{type(created_orders).__name__}.")
        return created_orders, ()
    if not set(PAYMENT_COLUMNS) <= _columns(orders):
        return None, ()
    if is_engine_source(orders):
        return orders, ("Every order of the source is counted, never-paid ones included "
                        "when the source holds them.",)
    return orders.orders, (NO_UNPAID_NOTE,)


def shop_sections(orders: object, *, as_of: pd.Timestamp, as_of_given: bool = False,
                  created_orders: object = None, sleep_after: int = 90) -> ShopSections:
    """The KPI board, lifecycle, Payment and Replenishment sections of the report.

    Parameters
    ----------
    orders : PreparedOrders or engine source
        The report's customer orders.
    as_of : pandas.Timestamp
        The report's as-of day (orders of that day included).
    as_of_given : bool, default False
        The as-of day was given: payments are counted up to its end (else up to the
        latest creation or payment time).
    created_orders : pandas.DataFrame, optional
        Every created order, paid or not (``read_orders(path, include_unpaid=True)``),
        for the Payment section; by default the orders themselves when they have
        ``created_at`` and ``paid_at`` (the section then says that never-paid orders
        were not available).
    sleep_after : int, default 90
        Days without an order after which a customer is sleeping (lifecycle stages).

    Returns
    -------
    ShopSections

    Examples
    --------
    >>> import crm_analytics as ca
    >>> from crm_analytics.orders.encode import prepare_orders
    >>> shop = shop_sections(prepare_orders(ca.load_sample()),
    ...                      as_of=pd.Timestamp("2025-12-31"))
    >>> list(shop.lifecycle.repurchase), shop.reminders
    (['first_channel', 'first_category'], None)
    """
    engine = is_engine_source(orders)
    notes: dict[str, tuple[str, ...]] = {}
    unavailable: dict[str, str] = {}
    lifecycle = None
    try:
        lifecycle = lifecycle_report_tables(orders, as_of=as_of, period=BOARD_PERIOD,
                                            members=None, sleep_after=sleep_after)
        notes["lifecycle"] = tuple(lifecycle.notes)
    except CrmDataError as exc:
        unavailable["kpi_board"] = unavailable["lifecycle"] = str(exc)

    payment = weekday = cycles = listed = None
    source, notes["payment"] = _payment_source(orders, created_orders)
    if source is not None:
        missing = [c for c in PAYMENT_COLUMNS if c not in _columns(source)]
        pay_as_of = (as_of + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
                     if as_of_given else None)
        try:
            if missing:
                raise CrmDataError(f"The created orders have no {' or '.join(missing)} "
                                   "column.")
            payment = payment_timing(source, as_of=pay_as_of)
            weekday = payment_timing(source, by="weekday", as_of=pay_as_of)
        except CrmDataError as exc:
            payment = weekday = None
            unavailable["payment"] = str(exc)

    by = cycle_item(_columns(orders))
    if by is not None:
        try:
            cycles = repurchase_cycles(orders, by=by, as_of=as_of)
            notes["replenishment"] = tuple(cycles.notes)
            if engine:
                notes["replenishment"] += ("The replenishment list needs the orders in "
                                           "memory; only the cycles are shown.",)
            else:
                listed = replenishment_list(orders, by=by, as_of=as_of,
                                            lead_days=LEAD_DAYS, cycles=cycles)
        except CrmDataError as exc:
            cycles = listed = None
            unavailable["replenishment"] = str(exc)
    reminders = (ReminderReport(payment, weekday, cycles, listed)
                 if payment is not None or cycles is not None else None)
    return ShopSections(lifecycle=lifecycle, reminders=reminders,
                        notes={k: v for k, v in notes.items() if v}, unavailable=unavailable)


#: Board columns whose change is a difference of shares (shown in percentage points).
_POINT_CHANGES = ("repurchase_rate", "repeat_revenue_share")


def _change(value: float, points: bool) -> str:
    if pd.isna(value):
        return ""
    return f" ({value * 100:+.1f} pts)" if points else f" ({value:+.1%})"


def readable_board(board: pd.DataFrame, currency: str | None = None,
                   shown: int = BOARD_PERIODS_SHOWN) -> pd.DataFrame:
    """The last ``shown`` periods of a KPI board as the page shows them.

    Each value is followed by its change against the previous period in brackets, as
    the board gives it: relative for counts, money and averages, a difference (in
    percentage points) for the repurchase rate and the repeat customers' revenue share.
    An incomplete period is marked with the day it runs to.

    Examples
    --------
    >>> board = pd.DataFrame({"period": pd.to_datetime(["2025-01-01", "2025-04-01"]),
    ...     "customers": [10, 12], "orders": [15, 20], "revenue": [1500.0, 1800.0],
    ...     "aov": [100.0, 90.0], "repurchase_rate": [0.2, 0.25],
    ...     "orders_per_repeat_customer": [2.5, 2.0], "repeat_revenue_share": [0.4, 0.5],
    ...     "customers_change": [None, 0.2], "repurchase_rate_change": [None, 0.05],
    ...     "days": [90, 30], "complete": [True, False]})
    >>> readable_board(board, "GBP").iloc[1, [0, 1, 2, 5]].tolist()
    ['2025 Q2 (to 30 Apr)', '12 (+20.0%)', '20', '25.0% (+5.0 pts)']
    """
    t = board.tail(shown).reset_index(drop=True)
    period = pd.to_datetime(t["period"])
    freq = _board_freq(period)
    labels = (period.dt.year.astype(str) + " Q" + period.dt.quarter.astype(str)
              if freq == "Q" else period.dt.strftime("%Y-%m") if freq == "M"
              else period.dt.year.astype(str))
    if "complete" in t.columns and "days" in t.columns:
        ends = period + pd.to_timedelta(t["days"] - 1, unit="D")
        labels = labels.where(t["complete"].astype(bool),
                              labels + " (to " + ends.dt.strftime("%d %b").str.lstrip("0")
                              + ")")
    out = pd.DataFrame({"Period": labels})
    shown_columns = (
        ("customers", "Customers", lambda v: f"{v:,.0f}"),
        ("orders", "Orders", lambda v: f"{v:,.0f}"),
        ("revenue", "Revenue", lambda v: format_money(v, currency)),
        ("aov", "Average order value", lambda v: format_money(v, currency, decimals=2)),
        ("repurchase_rate", "Repurchase rate (2+ orders)", lambda v: f"{v:.1%}"),
        ("orders_per_repeat_customer", "Orders per repeat customer", lambda v: f"{v:.2f}"),
        ("repeat_revenue_share", "Revenue share of repeat customers", lambda v: f"{v:.1%}"),
    )
    for col, header, fmt in shown_columns:
        if col not in t.columns:
            continue
        change = t.get(f"{col}_change", pd.Series(float("nan"), index=t.index))
        points = col in _POINT_CHANGES
        out[header] = [("" if pd.isna(v) else fmt(v)) + _change(c, points)
                       for v, c in zip(t[col], change, strict=True)]
    return out


def _board_freq(period: pd.Series) -> str:
    if len(period) < 2:
        return "Q" if BOARD_PERIOD == "Q" else BOARD_PERIOD
    gap = (period.iloc[1] - period.iloc[0]).days
    return "M" if gap < 40 else "Q" if gap < 120 else "Y"


def readable_payment(rem: ReminderReport) -> pd.DataFrame:
    """The payment timing of all created orders, one row per measure, as shown.

    Examples
    --------
    >>> from crm_analytics.reminders import payment_timing
    >>> t = pd.to_datetime
    >>> orders = pd.DataFrame({"created_at": t(["2025-01-01 09:00", "2025-01-01 10:00"]),
    ...                        "paid_at": t(["2025-01-01 09:05", None])})
    >>> timing = payment_timing(orders, as_of="2025-01-05")
    >>> readable_payment(ReminderReport(timing, timing)).iloc[:2].values.tolist()
    [['Orders created', '2'], ['Paid (by the as-of time)', '50.0%']]
    """
    o = rem.payment.overall
    rows = [("Orders created", f"{int(o['created']):,}"),
            ("Paid (by the as-of time)", f"{o['paid_share']:.1%}")]
    rows += [(f"Paid within {c.removeprefix('paid_within_')}", f"{o[c]:.1%}")
             for c in o.index if str(c).startswith("paid_within_")]
    minutes = o.get("median_minutes_to_pay")
    rows.append(("Median minutes to pay", "" if pd.isna(minutes) else f"{minutes:,.0f}"))
    for col, label in (("late_share_after_2h", "Payments after 2 hours"),
                       ("late_share_after_24h", "Payments after 24 hours")):
        if col in o.index and pd.notna(o[col]):
            rows.append((f"{label} (share of payments)", f"{o[col]:.1%}"))
    return pd.DataFrame(rows, columns=["Measure", "All created orders"])


def readable_cycles(rem: ReminderReport, top: int = 20) -> pd.DataFrame:
    """The items with a repurchase cycle (most repeat purchases first), as shown.

    Examples
    --------
    >>> from crm_analytics.reminders import RepurchaseCycles
    >>> table = pd.DataFrame({"product": ["tea"], "repeat_buyers": [40],
    ...     "repeat_purchases": [90], "cycle_days_per_unit": [30.0], "cycle_q25": [25.0],
    ...     "cycle_q75": [35.5], "note": [""]})
    >>> cycles = RepurchaseCycles(by="product", min_repeats=30,
    ...                           as_of=pd.Timestamp("2025-01-01"), table=table)
    >>> readable_cycles(ReminderReport(cycles=cycles)).values.tolist()
    [['tea', '40', '90', '30.0', '25.0 - 35.5']]
    """
    cycles = rem.cycles
    t = cycles.table.dropna(subset=["cycle_days_per_unit"]).head(top)
    return pd.DataFrame({
        cycles.by.capitalize(): t[cycles.by].astype(str),
        "Repeat buyers": t["repeat_buyers"].map(lambda v: f"{int(v):,}"),
        "Repeat purchases": (t["repeat_purchases"].map(lambda v: f"{int(v):,}")
                             if "repeat_purchases" in t else ""),
        "Days per unit (median)": t["cycle_days_per_unit"].map(lambda v: f"{v:,.1f}"),
        "Quartiles": [f"{a:,.1f} - {b:,.1f}" for a, b in zip(t["cycle_q25"], t["cycle_q75"],
                                                            strict=True)],
    }).reset_index(drop=True)
