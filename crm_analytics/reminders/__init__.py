"""Payment reminders (催付) and replenishment reminders (追销).

- :func:`payment_timing`: when created orders get paid, per hour or weekday of creation,
  and the share of payments a reminder at 2 h / 24 h can still win.
- :func:`unpaid_orders`: the orders waiting for payment now, with the buyer's history
  (the 催付 list; also the "ordered, not paid" audience of group-buy campaigns).
- :func:`reminder_test`: a randomized test of reminder timings (arms from
  :func:`~crm_analytics.assign_holdout` with ``arms=``).
- :func:`repurchase_cycles`: each product's repurchase cycle per unit.
- :func:`replenishment_list`: customers whose last purchase runs out within a week.
- :func:`report_tables`: what the report shows, for whatever the orders hold.

Payment analyses count every created order (read them with
``read_orders(path, include_unpaid=True)``); the replenishment analyses use the kept
purchases, like every customer analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from crm_analytics.backends import is_engine_source, runner_for
from crm_analytics.orders.encode import PreparedOrders
from crm_analytics.reminders.cycles import (
    RepurchaseCycles,
    replenishment_list,
    repurchase_cycles,
)
from crm_analytics.reminders.experiment import CONTROL_ARMS, ReminderTest, reminder_test
from crm_analytics.reminders.payments import PaymentTiming, payment_timing, unpaid_orders
from crm_analytics.reminders.rules import (
    CYCLE_BYS,
    MIN_REPEATS,
    PAYMENT_BYS,
    PAYMENT_COLUMNS,
    cycle_item,
)

__all__ = [
    "CONTROL_ARMS",
    "CYCLE_BYS",
    "MIN_REPEATS",
    "PAYMENT_BYS",
    "PaymentTiming",
    "ReminderReport",
    "ReminderTest",
    "RepurchaseCycles",
    "payment_timing",
    "reminder_test",
    "replenishment_list",
    "report_tables",
    "repurchase_cycles",
    "unpaid_orders",
]


@dataclass(frozen=True, eq=False)
class ReminderReport:
    """Result of :func:`report_tables`: the report's Payment and Replenishment sections.

    Attributes
    ----------
    payment : PaymentTiming or None
        By hour of creation; None when the orders have no ``created_at`` / ``paid_at``.
    payment_by_weekday : PaymentTiming or None
    cycles : RepurchaseCycles or None
        None when the orders have no product (category) and quantity.
    replenishment : pandas.DataFrame or None
        :func:`replenishment_list` at the last order day.
    """

    payment: PaymentTiming | None = None
    payment_by_weekday: PaymentTiming | None = None
    cycles: RepurchaseCycles | None = None
    replenishment: pd.DataFrame | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """Name -> table, for the report's CSV files (only the sections that exist)."""
        out = {}
        if self.payment is not None:
            out["payment_timing_by_hour"] = self.payment.table
            out["payment_timing_by_weekday"] = self.payment_by_weekday.table
            out["payment_timing_overall"] = self.payment.overall.to_frame().T
        if self.cycles is not None:
            out["repurchase_cycles"] = self.cycles.table
            out["replenishment_list"] = self.replenishment
        return out


def report_tables(orders: object, *, as_of: object = None, lead_days: int = 7
                  ) -> ReminderReport:
    """The Payment and Replenishment sections' results, for the sections the data allow.

    Payment when the orders have ``created_at`` and ``paid_at``; Replenishment when they
    have ``quantity`` and ``product`` (else ``category``).

    Parameters
    ----------
    orders : pandas.DataFrame or engine source
        Every created order (``read_orders(path, include_unpaid=True)``); the customer
        analyses inside leave non-purchases out themselves. For an engine source only
        the payment timing and the cycles are computed (no list).
    as_of : date-like, optional
        Day of the replenishment list (default: the last order day).
    lead_days : int, default 7

    Returns
    -------
    ReminderReport

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a"], "order_id": ["1"],
    ...     "order_date": pd.to_datetime(["2025-01-01"]), "amount": [10.0]})
    >>> report_tables(orders).tables()
    {}
    """
    engine = is_engine_source(orders)
    if engine:
        orders = runner_for(orders)
        cols = {c.lower() for c in orders.columns}
    else:
        frame = orders.orders if isinstance(orders, PreparedOrders) else orders
        cols = set(frame.columns)
    payment = weekday = cycles = listed = None
    if set(PAYMENT_COLUMNS) <= cols:
        source = orders if engine else frame
        payment = payment_timing(source)
        weekday = payment_timing(source, by="weekday")
    by = cycle_item(cols)
    if by is not None:
        cycles = repurchase_cycles(orders, by=by, as_of=as_of)
        if not engine:
            listed = replenishment_list(orders, by=by, as_of=as_of, lead_days=lead_days,
                                        cycles=cycles)
    return ReminderReport(payment, weekday, cycles, listed)
