"""Beyond one machine: the order reductions on DuckDB (out-of-core) and Spark.

The functions here take the orders as a **DuckDB relation, a Parquet path / glob / list
of paths** (run embedded in DuckDB, out-of-core with ``memory_limit``) or a **PySpark
DataFrame** (run distributed), and return the same tables as the pandas functions of the
same name. Each reduction is written once, as SQL (:mod:`crm_analytics.engines.sql`);
the engines only run it. Only aggregated tables come back to pandas: one row per
customer for :func:`customer_summary` (or, with ``output="native"``, a lazy DuckDB
relation / Spark DataFrame that never passes through pandas), one row per cohort cell
or per day for the others.

Orders must already have the canonical column names (``customer_id``, ``order_date``,
``amount``, optionally ``margin`` and ``status``); rows whose status means cancelled or
refunded are excluded as in :func:`crm_analytics.validate_orders`.

Examples
--------
>>> import pandas as pd, duckdb
>>> orders = duckdb.sql("SELECT * FROM (VALUES ('a', TIMESTAMP '2024-01-01', 10.0), "
...     "('a', TIMESTAMP '2024-01-11', 30.0), ('b', TIMESTAMP '2024-01-05', 8.0)) "
...     "AS t(customer_id, order_date, amount)")
>>> s = customer_summary(orders, as_of="2024-01-31")
>>> s[["customer_id", "frequency", "recency", "T", "monetary_value"]]
  customer_id  frequency  recency     T  monetary_value
0           a          1     10.0  30.0            30.0
1           b          0      0.0  26.0             0.0
"""

from __future__ import annotations

import os

import pandas as pd

from crm_analytics._checks import CrmDataError
from crm_analytics.engines import sql

__all__ = [
    "campaign_outcomes",
    "cohort_repurchase",
    "cohort_revenue",
    "customer_summary",
    "is_engine_source",
    "score_customers",
    "sleeping_flow",
]


def _is_spark(obj: object) -> bool:
    return type(obj).__module__.startswith("pyspark.sql")


def _is_duckdb(obj: object) -> bool:
    if type(obj).__module__.startswith("duckdb") or isinstance(obj, str | os.PathLike):
        return True
    return isinstance(obj, list | tuple) and len(obj) > 0 and all(
        isinstance(p, str | os.PathLike) for p in obj)


def is_engine_source(obj: object) -> bool:
    """True when ``obj`` is orders for an engine (not a pandas DataFrame).

    A DuckDB relation, a Parquet path / glob / list of paths, or a PySpark DataFrame.
    The pandas functions use it to hand such inputs over to this module.

    >>> is_engine_source("orders/*.parquet"), is_engine_source(pd.DataFrame())
    (True, False)
    """
    return not isinstance(obj, pd.DataFrame) and (_is_spark(obj) or _is_duckdb(obj))


def _runner(orders: object, options: dict) -> sql.Runner:
    if _is_spark(orders):
        from crm_analytics.engines import spark

        return spark.SparkRunner(orders)
    if isinstance(orders, pd.DataFrame) or _is_duckdb(orders):
        try:
            from crm_analytics.engines import duckdb as engine
        except ImportError as exc:  # pragma: no cover - duckdb is a dependency
            raise CrmDataError(
                "Reading Parquet files or DuckDB relations needs duckdb: pip install duckdb"
            ) from exc
        return engine.DuckDBRunner(orders, **{k: v for k, v in options.items() if v is not None})
    raise CrmDataError(
        "orders must be a pandas DataFrame, a DuckDB relation, a Parquet path / glob / list "
        f"of paths, or a PySpark DataFrame. Got {type(orders).__name__}."
    )


def customer_summary(
    orders: object,
    *,
    as_of: object = None,
    time_unit: str = "D",
    output: str = "pandas",
    connection: object = None,
    memory_limit: str | None = None,
    temp_directory: str | os.PathLike | None = None,
    threads: int | None = None,
):
    """Per-customer summary in DuckDB or Spark, equal to the pandas ``customer_summary``.

    Parameters
    ----------
    orders : duckdb relation, str, Path, list of paths, or pyspark DataFrame
        Canonical orders (see the module docstring). A ``str`` is a Parquet path or glob,
        or a table name when ``connection`` is given.
    as_of : date-like, optional
        End of the observation period; defaults to the last order date.
    time_unit : {"D", "W"}, default "D"
        Unit of ``recency`` and ``T``.
    output : {"pandas", "native"}, default "pandas"
        ``"native"`` returns a lazy DuckDB relation / Spark DataFrame with the same
        columns (nothing is collected), for customer counts pandas cannot hold.
    connection : duckdb.DuckDBPyConnection, optional
        Connection holding the table named by ``orders``.
    memory_limit, temp_directory, threads : optional
        DuckDB settings of the private connection used for Parquet input, e.g.
        ``memory_limit="1GB"`` with a ``temp_directory`` to spill to.

    Returns
    -------
    pandas.DataFrame
        Same columns, dtypes, order and ``attrs`` as
        :func:`crm_analytics.summary.customer_summary`.

    Raises
    ------
    CrmDataError
        Missing columns or values, unreadable files, or no order before ``as_of``.
    """
    runner = _runner(orders, dict(connection=connection, memory_limit=memory_limit,
                                  temp_directory=temp_directory, threads=threads))
    return sql.customer_summary(runner, as_of=as_of, time_unit=time_unit, output=output)


def cohort_repurchase(orders: object, *, period: str = "M", how: str = "on",
                      as_of: object = None, **engine_options: object) -> pd.DataFrame:
    """:func:`crm_analytics.cohorts.cohort_repurchase` in DuckDB or Spark.

    ``engine_options`` are those of :func:`customer_summary` (``connection``,
    ``memory_limit``, ``temp_directory``, ``threads``).
    """
    return sql.cohort_repurchase(_runner(orders, engine_options), period=period, how=how,
                                 as_of=as_of)


def cohort_revenue(orders: object, *, period: str = "M", as_of: object = None,
                   **engine_options: object) -> pd.DataFrame:
    """:func:`crm_analytics.cohorts.cohort_revenue` in DuckDB or Spark."""
    return sql.cohort_revenue(_runner(orders, engine_options), period=period, as_of=as_of)


def sleeping_flow(orders: object, *, start: object = None, end: object = None,
                  sleep_after: int = 90, remind_before: int = 10,
                  **engine_options: object) -> pd.DataFrame:
    """:func:`crm_analytics.sleeping.sleeping_flow` in DuckDB or Spark."""
    return sql.sleeping_flow(_runner(orders, engine_options), start=start, end=end,
                             sleep_after=sleep_after, remind_before=remind_before)


def campaign_outcomes(orders: object, audience: pd.DataFrame, *, start: object,
                      window_days: int = 30, pre_days: int | None = None,
                      as_of: object = None, group_col: str = "group",
                      margin_rate: float | None = None,
                      **engine_options: object) -> pd.DataFrame:
    """Per-member campaign outcomes (window and pre-period) in DuckDB or Spark.

    The table :func:`crm_analytics.campaigns.campaign_lift` builds before its
    statistics: ``customer_id, group, conversion, orders, revenue[, margin],
    pre_conversion, pre_orders, pre_revenue[, pre_margin]``, zeros for members without
    an order, in the audience's row order.
    """
    return sql.campaign_outcomes(_runner(orders, engine_options), audience, start=start,
                                 window_days=window_days, pre_days=pre_days, as_of=as_of,
                                 group_col=group_col, margin_rate=margin_rate)


def score_customers(orders: object, model, spend_model=None, *, as_of: object = None,
                    time_unit: str = "D", horizon: float = 90, horizon_months: int = 12,
                    monthly_discount_rate: float = 0.01, margin_rate: float | None = None,
                    high_risk_below: float = 0.5, medium_risk_below: float = 0.8,
                    next_order_min_p_alive: float = 0.1, output: str = "native",
                    **engine_options: object):
    """Churn scores (and LTV) of every customer, computed inside DuckDB or Spark.

    The summary is built once in the engine (a DuckDB temp table / a cached Spark
    view); only its distinct ``(frequency, recency, T)`` histories come to pandas, where
    ``model`` (:class:`~crm_analytics.churn.ChurnModel`) scores each once; that small
    table is joined back in the engine. Expected spend (Gamma-Gamma, ``spend_model``)
    is a closed formula evaluated in SQL. Works on Parquet paths, DuckDB relations
    (also bare ones, e.g. ``duckdb.read_parquet(...)``) and Spark DataFrames.

    Returns the columns of :func:`crm_analytics.churn.churn_scores` (``customer_id,
    p_alive, p_churn, expected_orders, churn_risk, expected_next_order,
    next_order_basis, expected_gap_days``; ``horizon`` in days and the risk thresholds
    as there), plus with ``spend_model`` ``ltv_expected_orders,
    expected_spend_per_order, expected_revenue, expected_margin, ltv``: the columns
    ``expected_orders, expected_spend_per_order, expected_revenue, expected_margin, ltv``
    of :func:`crm_analytics.ltv.predict_ltv` over ``horizon_months``. ``churn_risk`` and
    ``next_order_basis`` are text. ``output="native"`` (default) gives a lazy DuckDB
    relation / Spark DataFrame sorted by customer_id, ``"pandas"`` a DataFrame.
    """
    return sql.score_customers(_runner(orders, engine_options), model, spend_model,
                               as_of=as_of, time_unit=time_unit, horizon=horizon,
                               horizon_months=horizon_months,
                               monthly_discount_rate=monthly_discount_rate,
                               margin_rate=margin_rate, high_risk_below=high_risk_below,
                               medium_risk_below=medium_risk_below,
                               next_order_min_p_alive=next_order_min_p_alive, output=output)
