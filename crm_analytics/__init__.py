"""crm-analytics: keep and win back online-shop customers from an order table.

Orders in (:func:`read_orders`, :func:`validate_orders`), then per-customer RFM
(:func:`customer_summary`), cohort repurchase rates, churn (BG/NBD) and LTV, KMeans and
RFM segments with Excel-safe CSV export, sleeping members, and campaign lift. Plots are
in :mod:`crm_analytics.plots`; the command line is ``crm-analytics``.

Importing the package changes no global state (warning filters, pandas options,
matplotlib styles); lifetimes is imported lazily by :mod:`crm_analytics.fitting.lifetimes_bridge`.
"""

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: Public name -> the module that defines it. Names are imported on first use (PEP 562),
#: so ``import crm_analytics`` and ``crm-analytics --help`` stay fast and load the
#: scientific stack only when an analysis runs.
_EXPORTS = {
    "ReminderReport": "crm_analytics.reminders",
    "RepurchaseCycles": "crm_analytics.reminders",
    "ReminderTest": "crm_analytics.reminders",
    "PaymentTiming": "crm_analytics.reminders",
    "replenishment_list": "crm_analytics.reminders",
    "repurchase_cycles": "crm_analytics.reminders",
    "reminder_test": "crm_analytics.reminders",
    "unpaid_orders": "crm_analytics.reminders",
    "payment_timing": "crm_analytics.reminders",
    "UnreadableInputError": "crm_analytics._core.errors",
    "engine_validation_report": "crm_analytics.orders.sql",
    "date_outlier_cutoff": "crm_analytics.orders.rules",
    "province_from_address": "crm_analytics.summary.dimensions",
    "CustomerDimension": "crm_analytics.summary.dimensions",
    "customer_dimension": "crm_analytics.summary.dimensions",
    "MergedCustomers": "crm_analytics.membership",
    "merge_customers": "crm_analytics.membership",
    "MessageFunnel": "crm_analytics.membership",
    "message_funnel": "crm_analytics.membership",
    "tier_migration": "crm_analytics.membership",
    "tier_kpis": "crm_analytics.membership",
    "lifecycle_kpis": "crm_analytics.membership",
    "lifecycle_flow": "crm_analytics.membership",
    "lifecycle_counts": "crm_analytics.membership",
    "lifecycle": "crm_analytics.membership",
    "kpi_board": "crm_analytics.membership",
    "combine_line_items": "crm_analytics.orders.lines",
    "readable_profiles": "crm_analytics.segments",
    "UpliftNotDistinguishableWarning": "crm_analytics.uplift",
    "QiniResult": "crm_analytics.uplift",
    "SendList": "crm_analytics.uplift",
    "UpliftModel": "crm_analytics.uplift",
    "uplift_curve": "crm_analytics.uplift",
    "qini": "crm_analytics.uplift",
    "send_list": "crm_analytics.uplift",
    "fit_uplift": "crm_analytics.uplift",
    "run_report": "crm_analytics.report",
    "p_order_count": "crm_analytics.churn.scores",
    "p_alive_at": "crm_analytics.churn.scores",
    "shop_total": "crm_analytics.ltv.predict",
    "BacktestResult": "crm_analytics.churn.backtest",
    "backtest_churn": "crm_analytics.churn.backtest",
    "ModelChoice": "crm_analytics.churn.fit",
    "choose_churn_model": "crm_analytics.churn.fit",
    "ChurnModel": "crm_analytics.churn",
    "CrmDataError": "crm_analytics._core.errors",
    "DaysToSecondOrder": "crm_analytics.cohorts",
    "HoldoutPlan": "crm_analytics.campaigns",
    "HoldoutReport": "crm_analytics.churn",
    "LiftResult": "crm_analytics.campaigns",
    "PreparedOrders": "crm_analytics.orders.encode",
    "RandomizationCheck": "crm_analytics.campaigns",
    "RepurchaseRate": "crm_analytics.cohorts",
    "RfmSegmentation": "crm_analytics.segments",
    "SampleRatioMismatchWarning": "crm_analytics.campaigns",
    "SegmentationResult": "crm_analytics.segments",
    "SimulatedShop": "crm_analytics.simulate",
    "SpendModel": "crm_analytics.ltv",
    "ValidationReport": "crm_analytics.orders.validate",
    "assign_holdout": "crm_analytics.campaigns",
    "calibration_holdout_split": "crm_analytics.summary",
    "campaign_lift": "crm_analytics.campaigns",
    "campaign_settings": "crm_analytics.campaigns",
    "check_randomization": "crm_analytics.campaigns",
    "churn_holdout_report": "crm_analytics.churn",
    "churn_scores": "crm_analytics.churn",
    "cohort_repurchase": "crm_analytics.cohorts",
    "cohort_revenue": "crm_analytics.cohorts",
    "customer_summary": "crm_analytics.summary",
    "days_to_second_order": "crm_analytics.cohorts",
    "detect_source": "crm_analytics.orders.readers",
    "engine_source": "crm_analytics.backends",
    "estimate_lifetime_years": "crm_analytics.ltv",
    "export_segments": "crm_analytics.segments.export",
    "fit_churn_model": "crm_analytics.churn",
    "fit_spend_model": "crm_analytics.ltv",
    "formula_ltv": "crm_analytics.ltv",
    "holdout_tradeoff": "crm_analytics.campaigns",
    "kmeans_segments": "crm_analytics.segments",
    "lift_by_metric": "crm_analytics.campaigns",
    "lift_by_segment": "crm_analytics.campaigns",
    "load_cdnow": "crm_analytics.orders.datasets",
    "load_sample": "crm_analytics.orders.datasets",
    "member_status": "crm_analytics.sleeping",
    "plan_holdout": "crm_analytics.campaigns",
    "predict_ltv": "crm_analytics.ltv",
    "prepare_orders": "crm_analytics.orders.encode",
    "reactivation": "crm_analytics.sleeping",
    "read_orders": "crm_analytics.orders.readers",
    "reminder_list": "crm_analytics.sleeping",
    "repeat_orders_per_customer": "crm_analytics.cohorts",
    "repurchase_rate": "crm_analytics.cohorts",
    "rfm_segments": "crm_analytics.segments",
    "score_customers": "crm_analytics.ltv",
    "simulate_shop": "crm_analytics.simulate",
    "sleeping_flow": "crm_analytics.sleeping",
    "status_overview": "crm_analytics.sleeping",
    "suggest_sleep_after": "crm_analytics.sleeping",
    "validate_orders": "crm_analytics.orders.validate",
    "validation_report": "crm_analytics.orders.validate",
}

__all__ = [
    "BacktestResult",
    "ChurnModel",
    "CrmDataError",
    "CustomerDimension",
    "DaysToSecondOrder",
    "HoldoutPlan",
    "HoldoutReport",
    "LiftResult",
    "MergedCustomers",
    "MessageFunnel",
    "ModelChoice",
    "PaymentTiming",
    "PreparedOrders",
    "QiniResult",
    "RandomizationCheck",
    "ReminderReport",
    "ReminderTest",
    "RepurchaseCycles",
    "RepurchaseRate",
    "RfmSegmentation",
    "SampleRatioMismatchWarning",
    "SegmentationResult",
    "SendList",
    "SimulatedShop",
    "SpendModel",
    "UnreadableInputError",
    "UpliftModel",
    "UpliftNotDistinguishableWarning",
    "ValidationReport",
    "assign_holdout",
    "backtest_churn",
    "calibration_holdout_split",
    "campaign_lift",
    "campaign_settings",
    "check_randomization",
    "choose_churn_model",
    "churn_holdout_report",
    "churn_scores",
    "cohort_repurchase",
    "cohort_revenue",
    "combine_line_items",
    "customer_dimension",
    "customer_summary",
    "date_outlier_cutoff",
    "days_to_second_order",
    "detect_source",
    "engine_source",
    "engine_validation_report",
    "estimate_lifetime_years",
    "export_segments",
    "fit_churn_model",
    "fit_spend_model",
    "fit_uplift",
    "formula_ltv",
    "holdout_tradeoff",
    "kmeans_segments",
    "kpi_board",
    "lifecycle",
    "lifecycle_counts",
    "lifecycle_flow",
    "lifecycle_kpis",
    "lift_by_metric",
    "lift_by_segment",
    "load_cdnow",
    "load_sample",
    "member_status",
    "merge_customers",
    "message_funnel",
    "p_alive_at",
    "p_order_count",
    "payment_timing",
    "plan_holdout",
    "predict_ltv",
    "prepare_orders",
    "province_from_address",
    "qini",
    "reactivation",
    "read_orders",
    "readable_profiles",
    "reminder_list",
    "reminder_test",
    "repeat_orders_per_customer",
    "replenishment_list",
    "repurchase_cycles",
    "repurchase_rate",
    "rfm_segments",
    "run_report",
    "score_customers",
    "send_list",
    "shop_total",
    "simulate_shop",
    "sleeping_flow",
    "status_overview",
    "suggest_sleep_after",
    "tier_kpis",
    "tier_migration",
    "unpaid_orders",
    "uplift_curve",
    "validate_orders",
    "validation_report",
]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'crm_analytics' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static analysers and IDEs see the names directly
    from crm_analytics._core.errors import CrmDataError, UnreadableInputError
    from crm_analytics.backends import engine_source
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
    from crm_analytics.churn.backtest import BacktestResult, backtest_churn
    from crm_analytics.churn.fit import ModelChoice, choose_churn_model
    from crm_analytics.churn.scores import p_alive_at, p_order_count
    from crm_analytics.cohorts import (
        DaysToSecondOrder,
        RepurchaseRate,
        cohort_repurchase,
        cohort_revenue,
        days_to_second_order,
        repeat_orders_per_customer,
        repurchase_rate,
    )
    from crm_analytics.ltv import (
        SpendModel,
        estimate_lifetime_years,
        fit_spend_model,
        formula_ltv,
        predict_ltv,
        score_customers,
    )
    from crm_analytics.ltv.predict import shop_total
    from crm_analytics.membership import (
        MergedCustomers,
        MessageFunnel,
        kpi_board,
        lifecycle,
        lifecycle_counts,
        lifecycle_flow,
        lifecycle_kpis,
        merge_customers,
        message_funnel,
        tier_kpis,
        tier_migration,
    )
    from crm_analytics.orders.datasets import load_cdnow, load_sample
    from crm_analytics.orders.lines import combine_line_items
    from crm_analytics.orders.readers import detect_source, read_orders
    from crm_analytics.orders.rules import date_outlier_cutoff
    from crm_analytics.orders.sql import engine_validation_report
    from crm_analytics.orders.validate import ValidationReport, validate_orders, validation_report
    from crm_analytics.reminders import (
        PaymentTiming,
        ReminderReport,
        ReminderTest,
        RepurchaseCycles,
        payment_timing,
        reminder_test,
        replenishment_list,
        repurchase_cycles,
        unpaid_orders,
    )
    from crm_analytics.report import run_report
    from crm_analytics.segments import (
        RfmSegmentation,
        SegmentationResult,
        kmeans_segments,
        readable_profiles,
        rfm_segments,
    )
    from crm_analytics.segments.export import export_segments
    from crm_analytics.simulate import SimulatedShop, simulate_shop
    from crm_analytics.sleeping import (
        member_status,
        reactivation,
        reminder_list,
        sleeping_flow,
        status_overview,
        suggest_sleep_after,
    )
    from crm_analytics.summary import calibration_holdout_split, customer_summary
    from crm_analytics.summary.dimensions import (
        CustomerDimension,
        customer_dimension,
        province_from_address,
    )
    from crm_analytics.uplift import (
        QiniResult,
        SendList,
        UpliftModel,
        UpliftNotDistinguishableWarning,
        fit_uplift,
        qini,
        send_list,
        uplift_curve,
    )
