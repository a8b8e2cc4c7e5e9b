"""crm-analytics: keep and win back online-shop customers from an order table.

Orders in (:func:`read_orders`, :func:`validate_orders`), then per-customer RFM
(:func:`customer_summary`), cohort repurchase rates, churn (BG/NBD) and LTV, KMeans and
RFM segments with Excel-safe CSV export, sleeping members, and campaign lift. Plots are
in :mod:`crm_analytics.plots`; the command line is ``crm-analytics``.

Importing the package changes no global state (warning filters, pandas options,
matplotlib styles); lifetimes is imported lazily by :mod:`crm_analytics._lifetimes`.
"""

from crm_analytics._checks import CrmDataError
from crm_analytics.campaigns import (
    HoldoutPlan,
    LiftResult,
    RandomizationCheck,
    SampleRatioMismatchWarning,
    assign_holdout,
    campaign_lift,
    campaign_settings,
    check_randomization,
    holdout_tradeoff,
    lift_by_metric,
    lift_by_segment,
    plan_holdout,
)
from crm_analytics.churn import (
    ChurnModel,
    HoldoutReport,
    churn_holdout_report,
    churn_scores,
    fit_churn_model,
)
from crm_analytics.cohorts import (
    DaysToSecondOrder,
    RepurchaseRate,
    cohort_repurchase,
    cohort_revenue,
    days_to_second_order,
    repeat_orders_per_customer,
    repurchase_rate,
)
from crm_analytics.datasets import load_cdnow, load_sample
from crm_analytics.export import export_segments
from crm_analytics.ltv import (
    SpendModel,
    estimate_lifetime_years,
    fit_spend_model,
    formula_ltv,
    predict_ltv,
)
from crm_analytics.orders import ValidationReport, validate_orders, validation_report
from crm_analytics.readers import detect_source, read_orders
from crm_analytics.segments import SegmentationResult, kmeans_segments, rfm_segments
from crm_analytics.sleeping import (
    member_status,
    reactivation,
    reminder_list,
    sleeping_flow,
    status_overview,
    suggest_sleep_after,
)
from crm_analytics.summary import calibration_holdout_split, customer_summary

__version__ = "0.1.0"

_LAZY = {"simulate_shop", "SimulatedShop"}


def __getattr__(name: str):
    # The simulator is imported on first use, so `python -m crm_analytics.simulate`
    # does not find the module already imported.
    if name in _LAZY:
        from crm_analytics import simulate

        return getattr(simulate, name)
    raise AttributeError(f"module 'crm_analytics' has no attribute {name!r}")


__all__ = [
    "ChurnModel",
    "CrmDataError",
    "DaysToSecondOrder",
    "HoldoutPlan",
    "HoldoutReport",
    "LiftResult",
    "RandomizationCheck",
    "RepurchaseRate",
    "SampleRatioMismatchWarning",
    "SegmentationResult",
    "SimulatedShop",
    "SpendModel",
    "ValidationReport",
    "assign_holdout",
    "calibration_holdout_split",
    "campaign_lift",
    "campaign_settings",
    "check_randomization",
    "churn_holdout_report",
    "churn_scores",
    "cohort_repurchase",
    "cohort_revenue",
    "customer_summary",
    "days_to_second_order",
    "detect_source",
    "estimate_lifetime_years",
    "export_segments",
    "fit_churn_model",
    "fit_spend_model",
    "formula_ltv",
    "holdout_tradeoff",
    "kmeans_segments",
    "lift_by_metric",
    "lift_by_segment",
    "load_cdnow",
    "load_sample",
    "member_status",
    "plan_holdout",
    "predict_ltv",
    "reactivation",
    "read_orders",
    "reminder_list",
    "repeat_orders_per_customer",
    "repurchase_rate",
    "rfm_segments",
    "simulate_shop",
    "sleeping_flow",
    "status_overview",
    "suggest_sleep_after",
    "validate_orders",
    "validation_report",
]
