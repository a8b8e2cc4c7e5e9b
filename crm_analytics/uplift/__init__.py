"""Whom to send to next time: per-member incremental margin from past holdout campaigns.

:func:`fit_uplift` learns, from past campaigns with randomized holdouts, how much a
message changes each member's margin (or revenue, or chance to order) in the campaign
window, from their order history as it stood on the start day; it is cross-fitted, and
:func:`qini` / :func:`uplift_curve` check on those out-of-fold scores whether the
ranking beats random targeting. :func:`send_list` turns the model into the next
campaign's budgeted list, with its own random holdout.

Modules
-------
``features`` (history before a day, outcomes after it), ``fit`` (the learners),
``evaluate`` (Qini and uplift curves), ``send`` (the send list).
"""

from __future__ import annotations

from crm_analytics.uplift.evaluate import QiniResult, qini, uplift_curve
from crm_analytics.uplift.features import FEATURES, member_features
from crm_analytics.uplift.fit import LEARNERS, UpliftModel, fit_uplift
from crm_analytics.uplift.send import SendList, UpliftNotDistinguishableWarning, send_list

__all__ = [
    "FEATURES",
    "LEARNERS",
    "QiniResult",
    "SendList",
    "UpliftModel",
    "UpliftNotDistinguishableWarning",
    "fit_uplift",
    "member_features",
    "qini",
    "send_list",
    "uplift_curve",
]
