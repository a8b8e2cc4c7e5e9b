"""crm-analytics: keep and win back online-shop customers from an order table."""

from crm_analytics._checks import CrmDataError
from crm_analytics.datasets import load_cdnow, load_sample
from crm_analytics.orders import ValidationReport, validate_orders, validation_report
from crm_analytics.summary import calibration_holdout_split, customer_summary

__version__ = "0.1.0"

__all__ = [
    "CrmDataError",
    "ValidationReport",
    "calibration_holdout_split",
    "customer_summary",
    "load_cdnow",
    "load_sample",
    "validate_orders",
    "validation_report",
]
