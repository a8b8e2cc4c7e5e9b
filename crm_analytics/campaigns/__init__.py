"""Campaign lift: what an SMS, email or coupon campaign earned over doing nothing.

A campaign is judged against a randomized holdout (对照组): members picked by
:func:`assign_holdout` receive nothing, everyone else receives the message. After the
campaign, :func:`campaign_lift` compares the two groups over the window
``[start, start + window_days)`` and reports the lift (提升) with confidence intervals,
the incremental orders, revenue and margin earned from the treated group, and the ROI
after the message cost. :func:`lift_by_segment` repeats this per segment with p-values
adjusted for multiple comparisons. The statistics live in
:mod:`crm_analytics.campaigns.stats` (GrowthBook / Eppo conventions, REFERENCE.md).

Choices
-------
- Every audience member gets an outcome: members without an order in the window count
  as zero (that is the point of a holdout); nobody is dropped.
- The headline estimate is CUPED-adjusted when ``covariate`` is given (the default,
  ``"pre_period"``: the same metric over the ``pre_days``, default ``window_days``,
  before ``start``); the unadjusted estimate is reported beside it (``unadjusted_*``).
  Both are unbiased; the adjusted one is tighter when behaviour before and during the
  window correlates. The choice is made before seeing the data (never "whichever is
  significant").
  ``mean_treatment`` / ``mean_control`` are always the raw observed means.
- The planned split for the sample-ratio-mismatch check is ``planned_holdout``; when
  not given it is read from the audience's ``planned_holdout`` column, else it is 0.1,
  :func:`assign_holdout`'s default (and a note says so).
- Margin comes from the orders' ``margin`` column when present, otherwise
  ``amount * margin_rate``; without either, margin and ROI are NaN with a note.
- ``orders`` may be a Parquet path / glob, a DuckDB relation or a Spark DataFrame: the
  per-member outcomes then come from :func:`crm_analytics.campaigns.sql.campaign_outcomes`
  (same windows and margin rule, from :mod:`crm_analytics.campaigns.rules`) and the same
  statistics follow, but the ``cumulative`` daily curve is left empty (a note says so).

Modules
-------
``rules`` (what the pandas and SQL paths share), ``holdout`` (assigning and sizing the
holdout), ``outcomes`` (checked inputs and per-member outcomes), ``sql`` (the same
outcomes on an engine), ``stats`` (the statistics), ``lift`` (:func:`campaign_lift`,
:func:`lift_by_metric`, :func:`lift_by_segment`) and ``randomization``
(:func:`check_randomization`).
"""

from __future__ import annotations

from crm_analytics.campaigns.holdout import (
    HoldoutPlan,
    assign_holdout,
    holdout_tradeoff,
    plan_holdout,
)
from crm_analytics.campaigns.lift import campaign_lift, lift_by_metric, lift_by_segment
from crm_analytics.campaigns.outcomes import (
    IncompleteWindowWarning,
    SampleRatioMismatchWarning,
    campaign_settings,
)
from crm_analytics.campaigns.randomization import RandomizationCheck, check_randomization
from crm_analytics.campaigns.rules import METRICS
from crm_analytics.campaigns.stats import ConfidenceInterval, LiftResult

__all__ = [
    "METRICS",
    "ConfidenceInterval",
    "HoldoutPlan",
    "IncompleteWindowWarning",
    "LiftResult",
    "RandomizationCheck",
    "SampleRatioMismatchWarning",
    "assign_holdout",
    "campaign_lift",
    "campaign_settings",
    "check_randomization",
    "holdout_tradeoff",
    "lift_by_metric",
    "lift_by_segment",
    "plan_holdout",
]
