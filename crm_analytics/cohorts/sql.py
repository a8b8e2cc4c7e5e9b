"""Cohort tables as SQL (DuckDB, Spark): the engine counts, the rules build the grid.

The engine returns small counts per (cohort period, period index); the grid, the
complete flags and the finished tables come from :mod:`crm_analytics.cohorts.rules`,
the same code the pandas path uses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends.sql import (
    DIALECTS,
    Runner,
    first_day,
    orders_cte,
    resolve_day,
)
from crm_analytics.cohorts.rules import (
    CohortGrid,
    check_how,
    check_period,
    cohort_grid,
    period_sql,
    repurchase_table,
    revenue_table,
)
from crm_analytics.orders.sql import check_engine_orders

__all__ = ["cohort_repurchase_on_engine", "cohort_revenue_on_engine"]


# --------------------------------------------------------------------------- cohorts
def _period_sql(runner: Runner, period: str) -> str:
    """Calendar period number of a kept order's ``day``, from :func:`rules.period_sql`."""
    return period_sql("day", DIALECTS[runner.dialect]["day_date"].format(x="day"), period)


def _cohort_counts(runner: Runner, period: str, as_of_day: int) -> pd.DataFrame:
    """Long table ``kind, cohort_p, k, n, revenue`` (sizes, on, first repeat, revenue).

    Built on the kept orders (:func:`~crm_analytics.backends.sql.orders_cte`): the same
    orders as every other analysis, so guests, reversed orders, date outliers and line
    items are handled as in :func:`crm_analytics.validate_orders`.
    """
    query = f"""
WITH {orders_cte(runner, as_of_day=as_of_day)},
cp AS (
  SELECT customer_id, {_period_sql(runner, period)} AS p,
         MIN(day) AS min_day, MAX(day) AS max_day, SUM(CAST(amount AS DOUBLE)) AS amount
  FROM o GROUP BY 1, 2
),
c AS (
  SELECT customer_id, p, max_day, amount,
         MIN(min_day) OVER (PARTITION BY customer_id) AS first_day,
         MIN(p) OVER (PARTITION BY customer_id) AS cohort_p
  FROM cp
),
r AS (
  SELECT customer_id, cohort_p, MIN(p - cohort_p) AS k FROM c
  WHERE max_day > first_day GROUP BY customer_id, cohort_p
)
SELECT 'size' AS kind, cohort_p, CAST(0 AS BIGINT) AS k, COUNT(*) AS n,
       CAST(0.0 AS DOUBLE) AS revenue FROM c WHERE p = cohort_p GROUP BY cohort_p
UNION ALL
SELECT 'on', cohort_p, p - cohort_p, COUNT(*), SUM(amount) FROM c
  WHERE max_day > first_day GROUP BY cohort_p, p - cohort_p
UNION ALL
SELECT 'first', cohort_p, k, COUNT(*), CAST(0.0 AS DOUBLE) FROM r GROUP BY cohort_p, k
UNION ALL
SELECT 'revenue', cohort_p, p - cohort_p, COUNT(*), SUM(amount) FROM c
  GROUP BY cohort_p, p - cohort_p
"""
    return runner.fetch(query)


def _flat(grid: CohortGrid, counts: pd.DataFrame, kind: str, col: str) -> np.ndarray:
    """One kind of count from the long table, as a flat grid."""
    part = counts[counts["kind"] == kind]
    values = part[col].to_numpy(dtype=float if col == "revenue" else np.int64)
    return grid.flat(part["cohort_p"].to_numpy(np.int64), part["k"].to_numpy(np.int64), values)


def _cohort_prepare(runner: Runner, period: str, as_of: object):
    check_period(period)
    check_engine_orders(runner)
    as_of_ts, as_of_day = resolve_day(runner, as_of, "as_of")
    if first_day(runner) > as_of_day:
        raise CrmDataError(
            f"No order is on or before as_of={as_of_ts.date()}. Use a later as_of."
        )
    counts = _cohort_counts(runner, period, as_of_day)
    sizes = counts[counts["kind"] == "size"]
    grid = cohort_grid(sizes["cohort_p"].to_numpy(np.int64), period=period,
                       as_of_day=as_of_day, sizes=sizes["n"].to_numpy(np.int64))
    return counts, grid


def cohort_repurchase_on_engine(runner: Runner, *, period: str = "M", how: str = "on", as_of=None):
    """Cohort repurchase table; see :func:`crm_analytics.cohorts.cohort_repurchase`.

    The engine counts; the grid, the complete flags and the table come from
    :mod:`crm_analytics.cohorts.rules`, as on the pandas path.
    """
    check_how(how)
    counts, grid = _cohort_prepare(runner, period, as_of)
    if how == "on":
        flat = _flat(grid, counts, "on", "n")
    else:
        flat = grid.cumulative(_flat(grid, counts, "first", "n"))
    return repurchase_table(grid, flat)


def cohort_revenue_on_engine(runner: Runner, *, period: str = "M", as_of=None):
    """Cohort revenue table; see :func:`crm_analytics.cohorts.cohort_revenue`."""
    counts, grid = _cohort_prepare(runner, period, as_of)
    return revenue_table(grid, _flat(grid, counts, "revenue", "revenue"))
