"""All of crm-analytics' matplotlib drawing: ``plot_<thing>(result, *, ax=None) -> Axes``.

Every function draws on the ``ax`` it is given (or a new figure), returns the axes and
sets no global style. Chinese labels use an installed CJK font when there is one
(e.g. Microsoft YaHei, PingFang SC, Noto Sans CJK, WenQuanYi), else English.
"""

from crm_analytics.plots.backtest import plot_backtest_calibration
from crm_analytics.plots.campaigns import plot_cumulative_outcome, plot_lift, plot_lift_by_segment
from crm_analytics.plots.churn import (
    plot_cumulative_tracking,
    plot_frequency_recency_alive,
    plot_holdout_by_frequency,
)
from crm_analytics.plots.cohorts import plot_cohort_heatmap, plot_repurchase_curves
from crm_analytics.plots.lifecycle import (
    plot_kpi_board,
    plot_lifecycle,
    plot_lifecycle_flow,
    plot_repurchase_by,
)
from crm_analytics.plots.ltv import plot_ltv_by_group, plot_ltv_distribution, plot_ltv_histogram
from crm_analytics.plots.overview import plot_churn_risk, plot_member_status
from crm_analytics.plots.reminders import plot_payment_timing, plot_repurchase_cycles
from crm_analytics.plots.segments import (
    plot_segment_profiles,
    plot_segment_scatter,
    plot_segment_sizes,
)
from crm_analytics.plots.sleeping import (
    plot_order_gaps,
    plot_reactivation,
    plot_sleepers_by_quality,
    plot_sleeping_flow,
)
from crm_analytics.plots.uplift import plot_qini

__all__ = [
    "plot_backtest_calibration",
    "plot_churn_risk",
    "plot_cohort_heatmap",
    "plot_cumulative_outcome",
    "plot_cumulative_tracking",
    "plot_frequency_recency_alive",
    "plot_holdout_by_frequency",
    "plot_kpi_board",
    "plot_lifecycle",
    "plot_lifecycle_flow",
    "plot_lift",
    "plot_lift_by_segment",
    "plot_ltv_by_group",
    "plot_ltv_distribution",
    "plot_ltv_histogram",
    "plot_member_status",
    "plot_order_gaps",
    "plot_payment_timing",
    "plot_qini",
    "plot_reactivation",
    "plot_repurchase_by",
    "plot_repurchase_curves",
    "plot_repurchase_cycles",
    "plot_segment_profiles",
    "plot_segment_scatter",
    "plot_segment_sizes",
    "plot_sleepers_by_quality",
    "plot_sleeping_flow",
]
