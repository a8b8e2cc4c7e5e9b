"""Layer 2: orders in. Reading exports, validating them, bundled data.

:func:`read_orders` reads CSV/Parquet/Excel and platform exports (Taobao/Tmall,
Shopify); :func:`validate_orders` checks and canonicalises an order table;
:func:`load_sample` and :func:`load_cdnow` give bundled data sets.
"""

from crm_analytics.orders.datasets import load_cdnow, load_sample, sample_data_dir
from crm_analytics.orders.encode import PreparedOrders, prepare_orders
from crm_analytics.orders.readers import SOURCES, detect_source, read_orders
from crm_analytics.orders.validate import (
    ValidationReport,
    validate_orders,
    validation_report,
)

__all__ = [
    "SOURCES",
    "ValidationReport",
    "detect_source",
    "PreparedOrders",
    "prepare_orders",
    "load_cdnow",
    "load_sample",
    "read_orders",
    "sample_data_dir",
    "validate_orders",
    "validation_report",
]
