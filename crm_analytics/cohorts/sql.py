"""Cohort tables as SQL (DuckDB, Spark)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.dates import iso_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends.sql import (
    Runner,
    check_orders,
    dates_from_days,
    day_expr,
    first_day,
    has_column,
    resolve_day,
    status_filter,
)
from crm_analytics.cohorts.rules import check_how, check_period, period_index, period_start


# --------------------------------------------------------------------------- cohorts
def _period_sql(runner: Runner, period: str) -> str:
    """Calendar period number of ``order_date`` (as :func:`cohorts._period_index`)."""
    if period == "W":  # 1970-01-01 is a Thursday; weeks start on Monday
        return f"CAST(FLOOR(({day_expr(runner, 'order_date')} + 3) / 7.0) AS BIGINT)"
    d = "CAST(CAST(order_date AS TIMESTAMP) AS DATE)"
    months = f"((YEAR({d}) - 1970) * 12 + MONTH({d}) - 1)"
    return months if period == "M" else f"CAST(FLOOR({months} / 3.0) AS BIGINT)"


def _cohort_counts(runner: Runner, period: str, as_of_day: int) -> pd.DataFrame:
    """Long table ``kind, cohort_p, k, n, revenue`` (sizes, on, first repeat, revenue)."""
    day = day_expr(runner, "order_date")
    status = ""
    if has_column(runner, "status"):
        status = " AND " + status_filter()
    query = f"""
WITH cp AS (
  SELECT CAST(customer_id AS STRING) AS customer_id, {_period_sql(runner, period)} AS p,
         MIN({day}) AS min_day, MAX({day}) AS max_day, SUM(CAST(amount AS DOUBLE)) AS amount
  FROM {{src}} WHERE {day} <= {int(as_of_day)}{status}
  GROUP BY 1, 2
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


def _grid(counts: pd.DataFrame, period: str, as_of_day: int):
    """Cohort x k grid (as :func:`cohorts._cohort_grid`): cells, sizes, complete flags."""
    sizes = counts[counts["kind"] == "size"]
    first = int(sizes["cohort_p"].min())
    last = int(period_index(np.array([as_of_day]), period)[0])
    width = last - first + 1
    size = np.zeros(width, dtype=np.int64)
    size[sizes["cohort_p"].to_numpy(dtype=np.int64) - first] = sizes["n"].to_numpy(np.int64)
    slot, k = np.divmod(np.arange(width * width), width)
    cells = np.flatnonzero((size[slot] > 0) & (slot + k <= width - 1))
    next_start = period_start(first + slot[cells] + k[cells] + 1, period)
    complete = next_start <= as_of_day + 1
    return first, width, size, cells, complete


def _flat(counts: pd.DataFrame, kind: str, col: str, first: int, width: int) -> np.ndarray:
    part = counts[counts["kind"] == kind]
    flat = np.zeros(width * width, dtype=float if col == "revenue" else np.int64)
    idx = (part["cohort_p"].to_numpy(np.int64) - first) * width + part["k"].to_numpy(np.int64)
    flat[idx] = part[col].to_numpy(dtype=flat.dtype)
    return flat


def _cohort_prepare(runner: Runner, period: str, as_of: object):
    check_period(period)
    check_orders(runner)
    as_of_ts, as_of_day = resolve_day(runner, as_of, "as_of")
    if first_day(runner) > as_of_day:
        raise CrmDataError(
            f"No order is on or before as_of={as_of_ts.date()}. Use a later as_of."
        )
    counts = _cohort_counts(runner, period, as_of_day)
    return as_of_ts, counts, _grid(counts, period, as_of_day)


def _grid_columns(first, width, size, cells, complete, period) -> dict[str, np.ndarray]:
    slot, k = np.divmod(cells, width)
    return {
        "cohort": dates_from_days(period_start(first + slot, period)),
        "period": k.astype(np.int64),
        "cohort_size": size[slot].astype(np.int64),
    }


def cohort_repurchase_on_engine(runner: Runner, *, period: str = "M", how: str = "on", as_of=None):
    """Cohort repurchase table; see :func:`crm_analytics.engines.cohort_repurchase`."""
    check_how(how)
    as_of_ts, counts, (first, width, size, cells, complete) = _cohort_prepare(
        runner, period, as_of)
    if how == "on":
        flat = _flat(counts, "on", "n", first, width)
    else:
        flat = _flat(counts, "first", "n", first, width).reshape(width, width)
        flat = flat.cumsum(axis=1).ravel()
    cols = _grid_columns(first, width, size, cells, complete, period)
    customers = flat[cells].astype(np.int64)
    result = pd.DataFrame({**cols, "customers": customers,
                           "rate": customers / cols["cohort_size"], "complete": complete})
    result.attrs = {"period": period, "how": how, "as_of": iso_day(as_of_ts)}
    return result


def cohort_revenue_on_engine(runner: Runner, *, period: str = "M", as_of=None):
    """Cohort revenue table; see :func:`crm_analytics.cohorts.cohort_revenue`."""
    as_of_ts, counts, (first, width, size, cells, complete) = _cohort_prepare(
        runner, period, as_of)
    revenue = _flat(counts, "revenue", "revenue", first, width)
    cumulative = revenue.reshape(width, width).cumsum(axis=1).ravel()
    cols = _grid_columns(first, width, size, cells, complete, period)
    result = pd.DataFrame({
        **cols,
        "revenue": revenue[cells],
        "revenue_per_customer": revenue[cells] / cols["cohort_size"],
        "cumulative_revenue_per_customer": cumulative[cells] / cols["cohort_size"],
        "complete": complete,
    })
    result.attrs = {"period": period, "as_of": iso_day(as_of_ts)}
    return result


