"""Member lifecycle and the shop's KPI board.

The shop practice this package serves thinks in a lifecycle (粉丝 -> 客户 -> 会员 ->
终生客户): customers are new, active once or repeatedly, fall asleep, get lost and are
won back; members sit in tiers; messages are judged by their funnel and the orders
they bring.

- :func:`lifecycle` (each customer's stage in each period), :func:`lifecycle_counts`,
  :func:`lifecycle_flow` (transitions) and :func:`lifecycle_kpis` (new, returning,
  won back), in :mod:`~crm_analytics.membership.stages`;
- :func:`kpi_board` (customers, orders, revenue, AOV, repurchase, members' share of GMV
  per year/quarter/month with the change on the previous period), in
  :mod:`~crm_analytics.membership.board`;
- :func:`tier_kpis` and :func:`tier_migration`, in :mod:`~crm_analytics.membership.tiers`;
- :func:`message_funnel`, in :mod:`~crm_analytics.membership.messages` (lift from
  :mod:`crm_analytics.campaigns.stats`);
- :func:`merge_customers`, in :mod:`~crm_analytics.membership.stores`;
- :func:`report_tables`, what the HTML report shows, in
  :mod:`~crm_analytics.membership.report`.

The rules (periods, stages, the board from per-period sums) are written once in
:mod:`~crm_analytics.membership.rules`; :func:`kpi_board` and :func:`lifecycle` also run
on Parquet/DuckDB/Spark sources through :mod:`~crm_analytics.membership.sql`, which only
groups. ``by=`` takes a customer attribute from
:mod:`crm_analytics.summary.dimensions`.
"""

from crm_analytics.membership.board import BOARD_PERIODS, kpi_board
from crm_analytics.membership.messages import MessageFunnel, message_funnel
from crm_analytics.membership.report import LifecycleTables, report_tables
from crm_analytics.membership.rules import FREQS, REPEAT_MIN_ORDERS, STAGES
from crm_analytics.membership.stages import (
    lifecycle,
    lifecycle_counts,
    lifecycle_flow,
    lifecycle_kpis,
)
from crm_analytics.membership.stores import MergedCustomers, merge_customers
from crm_analytics.membership.tiers import tier_kpis, tier_migration

__all__ = [
    "BOARD_PERIODS",
    "FREQS",
    "REPEAT_MIN_ORDERS",
    "STAGES",
    "LifecycleTables",
    "MergedCustomers",
    "MessageFunnel",
    "kpi_board",
    "lifecycle",
    "lifecycle_counts",
    "lifecycle_flow",
    "lifecycle_kpis",
    "merge_customers",
    "message_funnel",
    "report_tables",
    "tier_kpis",
    "tier_migration",
]
