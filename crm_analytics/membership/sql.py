"""The KPI board and the lifecycle stages as SQL (DuckDB, Spark).

The engine only groups: per-period sums for the board (the repeat-customer threshold
:data:`~crm_analytics.membership.rules.REPEAT_MIN_ORDERS` written into the SQL), and
per-(customer, period) purchase cells for the stages. The board, the stages and every
rule after that come from :mod:`crm_analytics.membership.rules`, the code the pandas path
runs. The kept orders are :func:`crm_analytics.backends.sql.orders_cte` (statuses,
null customer ids, line items, reversals and date outliers as on the pandas path).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends.sql import (
    DIALECTS,
    Runner,
    as_text,
    first_day,
    orders_cte,
    resolve_day,
)
from crm_analytics.membership.rules import REPEAT_MIN_ORDERS, period_number_sql
from crm_analytics.orders.encode import factorize_ids
from crm_analytics.orders.sql import check_engine_orders

__all__ = ["lifecycle_cells_on_engine", "kpi_sums_on_engine"]


def _prepare(runner: Runner, as_of: object) -> tuple[pd.Timestamp, int]:
    check_engine_orders(runner)
    as_of_ts, as_of_day = resolve_day(runner, as_of, "as_of")
    if first_day(runner) > as_of_day:
        raise CrmDataError(
            f"No order is on or before as_of={as_of_ts.date()}. Use a later as_of."
        )
    return as_of_ts, as_of_day


def _period(runner: Runner, freq: str) -> str:
    date = DIALECTS[runner.dialect]["day_date"].format(x="day")
    return period_number_sql("day", date, freq)


def kpi_sums_on_engine(runner: Runner, *, freq: str, as_of: object = None
                       ) -> tuple[pd.DataFrame, int]:
    """Per-period sums of :func:`crm_analytics.membership.kpi_board`, and the as-of day."""
    _, as_of_day = _prepare(runner, as_of)
    k = int(REPEAT_MIN_ORDERS)
    query = f"""
WITH {orders_cte(runner, as_of_day=as_of_day)},
cp AS (
  SELECT customer_id, {_period(runner, freq)} AS p, COUNT(*) AS n, SUM(amount) AS revenue
  FROM o GROUP BY 1, 2
)
SELECT p, COUNT(*) AS customers, SUM(n) AS orders, SUM(revenue) AS revenue,
       SUM(CASE WHEN n >= {k} THEN 1 ELSE 0 END) AS repeat_customers,
       SUM(CASE WHEN n >= {k} THEN n ELSE 0 END) AS repeat_orders,
       SUM(CASE WHEN n >= {k} THEN revenue ELSE 0.0 END) AS repeat_revenue
FROM cp GROUP BY p ORDER BY p
"""
    sums = runner.fetch(query)
    for col in ("p", "customers", "orders", "repeat_customers", "repeat_orders"):
        sums[col] = sums[col].to_numpy(dtype=np.int64)
    for col in ("revenue", "repeat_revenue"):
        sums[col] = sums[col].to_numpy(dtype=float)
    return sums, as_of_day


def lifecycle_cells_on_engine(runner: Runner, *, freq: str, as_of: object = None) -> dict:
    """Purchase cells per (customer, period) for :func:`crm_analytics.membership.lifecycle`.

    Returns a dict of arrays sorted by customer code then period: ``code``, ``p``
    (period number), ``first_in``/``last_in`` (purchase days), ``n_days``, and
    ``uniques`` (customer ids by code), ``as_of`` and ``as_of_day``.
    """
    as_of_ts, as_of_day = _prepare(runner, as_of)
    query = f"""
WITH {orders_cte(runner, as_of_day=as_of_day)},
d AS (SELECT customer_id, day FROM o GROUP BY 1, 2)
SELECT customer_id, {_period(runner, freq)} AS p, MIN(day) AS first_in,
       MAX(day) AS last_in, COUNT(*) AS n_days
FROM d GROUP BY 1, 2
"""
    cells = runner.fetch(query)
    codes, uniques = factorize_ids(as_text(cells["customer_id"]), sort=True)
    p = cells["p"].to_numpy(dtype=np.int64)
    order = np.lexsort((p, codes))
    return {
        "code": np.asarray(codes)[order],
        "p": p[order],
        "first_in": cells["first_in"].to_numpy(dtype=np.int64)[order],
        "last_in": cells["last_in"].to_numpy(dtype=np.int64)[order],
        "n_days": cells["n_days"].to_numpy(dtype=np.int64)[order],
        "uniques": uniques,
        "as_of": as_of_ts,
        "as_of_day": as_of_day,
    }
