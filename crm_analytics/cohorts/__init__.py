"""Repurchase cohorts: who comes back, how soon, and what cohorts spend.

Definitions used throughout (one calendar *day* is one purchase occasion):

- A customer's **first order day** is the calendar day of their first order; their
  **cohort** is the calendar period (week, month or quarter) of that day. Cohorts are
  labelled by the Timestamp of the period's first day (weeks start on Monday, as
  pandas' ``"W"`` periods).
- A **repeat order** is an order on a later day than the first order day; a second
  order on the first day is not a repeat. Its **period index** ``k`` is its calendar
  period minus the cohort period (``0`` = the same period as the first order).
- A cohort cell (cohort, ``k``) is **complete** when its calendar period has fully
  elapsed by ``as_of``. Incomplete cells are kept but flagged (``complete=False``) so
  they are never read, or drawn, as low rates; cells after ``as_of`` are not emitted.
- Orders after ``as_of`` are ignored, so the tables can be recomputed "as of" any past
  day.

Functions: :func:`cohort_repurchase` (the cohort table, "on" and "cumulative"
retention) and :func:`cohort_revenue` (revenue per cohort customer by period), in
:mod:`~crm_analytics.cohorts.tables`; :func:`repurchase_rate` (one overall rate,
optionally within N days) and :func:`repeat_orders_per_customer`, in
:mod:`~crm_analytics.cohorts.rates`; :func:`days_to_second_order`, in
:mod:`~crm_analytics.cohorts.second_order`. The periods, the cohort grid and the
table layout are defined once in :mod:`~crm_analytics.cohorts.rules` and used by both
the pandas path and the SQL path (:mod:`~crm_analytics.cohorts.sql`). Tables never use
``DataFrame.attrs``: ``period``, ``how`` and ``as_of`` are the call's parameters.
Drawing lives in :mod:`crm_analytics.plots.cohorts`.
"""

from crm_analytics.cohorts.rates import RepurchaseRate, repeat_orders_per_customer, repurchase_rate
from crm_analytics.cohorts.rules import COHORT_PERIODS
from crm_analytics.cohorts.second_order import DaysToSecondOrder, days_to_second_order
from crm_analytics.cohorts.tables import cohort_repurchase, cohort_revenue

__all__ = [
    "COHORT_PERIODS",
    "DaysToSecondOrder",
    "RepurchaseRate",
    "cohort_repurchase",
    "cohort_revenue",
    "days_to_second_order",
    "repeat_orders_per_customer",
    "repurchase_rate",
]
