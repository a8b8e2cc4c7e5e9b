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

The rules (status bounds, quality, the default quality threshold) are written once in
:mod:`crm_analytics.sleeping.rules`, with their NumPy and SQL forms. Modules:
:mod:`~crm_analytics.sleeping.flow` (:func:`sleeping_flow`),
:mod:`~crm_analytics.sleeping.status` (:func:`member_status`, :func:`status_overview`),
:mod:`~crm_analytics.sleeping.reminders` (:func:`reminder_list`),
:mod:`~crm_analytics.sleeping.suggest` (:func:`suggest_sleep_after`),
:mod:`~crm_analytics.sleeping.reactivate` (:func:`reactivation`) and
:mod:`~crm_analytics.sleeping.sql` (the engine side). Results never use
``DataFrame.attrs``: the settings are the parameters of the call.

Every function counts from the order table only (validated with
:func:`~crm_analytics.validate_orders` if needed); ``as_of`` defaults to the last order
date, never today.
"""

from crm_analytics.sleeping.flow import sleeping_flow
from crm_analytics.sleeping.reactivate import Reactivation, reactivation
from crm_analytics.sleeping.reminders import reminder_list
from crm_analytics.sleeping.rules import (
    ASLEEP_STATUSES,
    GIVE_UP_REASONS,
    QUALITIES,
    STATUSES,
    default_aov_threshold,
)
from crm_analytics.sleeping.status import member_status, status_overview
from crm_analytics.sleeping.suggest import SleepAfterSuggestion, suggest_sleep_after

__all__ = [
    "ASLEEP_STATUSES",
    "GIVE_UP_REASONS",
    "QUALITIES",
    "STATUSES",
    "Reactivation",
    "SleepAfterSuggestion",
    "default_aov_threshold",
    "member_status",
    "reactivation",
    "reminder_list",
    "sleeping_flow",
    "status_overview",
    "suggest_sleep_after",
]
