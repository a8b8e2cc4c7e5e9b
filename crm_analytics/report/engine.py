"""Deprecated: :func:`run_engine_report` is :func:`crm_analytics.report.run_report`.

``run_report`` computes the report inside the engine for Parquet paths, DuckDB
relations and Spark DataFrames (:mod:`crm_analytics.report.engine_path`). This module
goes in the next release.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from crm_analytics.report import ReportResult, run_report
from crm_analytics.report.engine_path import SAMPLE_SIZE

__all__ = ["SAMPLE_SIZE", "run_engine_report"]


def run_engine_report(
    orders: object,
    *,
    out_dir: str | Path = "crm_report",
    as_of: object = None,
    sleep_after: int = 90,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    margin_rate: float | None = None,
    n_segments: int | None = None,
    progress: bool = True,
    source_name: str = "orders",
    sample_size: int = SAMPLE_SIZE,
    seed: int = 0,
    **engine_options: object,
) -> ReportResult:
    """Deprecated alias of :func:`crm_analytics.report.run_report` (same parameters).

    .. deprecated::
        Call ``run_report``: it runs in the engine for engine sources.
    """
    warnings.warn("run_engine_report is deprecated; call crm_analytics.report.run_report, "
                  "which runs in the engine for Parquet, DuckDB and Spark sources.",
                  DeprecationWarning, stacklevel=2)
    return run_report(
        orders, out_dir=out_dir, as_of=as_of, sleep_after=sleep_after,
        horizon_months=horizon_months, monthly_discount_rate=monthly_discount_rate,
        margin_rate=margin_rate, n_clusters=n_segments, progress=progress,
        source_name=source_name, sample_size=sample_size, seed=seed, **engine_options)
