"""The per-customer summary as SQL (DuckDB, Spark)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.dates import check_time_unit
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends.sql import (
    DIALECTS,
    Runner,
    as_text,
    chunk_count,
    dates_from_days,
    first_day,
    has_column,
    orders_cte,
    resolve_day,
)
from crm_analytics.orders.sql import check_engine_orders

# --------------------------------------------------------------------------- summary


def customer_summary_sql(
    runner: Runner, *, as_of_day: int, unit_days: float, margin: bool, dates: bool = False,
    chunks: int = 1, order: bool = True,
) -> str:
    """The per-customer summary query (day numbers, or timestamps with ``dates``).

    Two plain GROUP BYs: orders to (customer, day) occasions, occasions to customers.
    With ``chunks > 1`` the customers are split into that many hash buckets, each
    aggregated on its own (``UNION ALL``) and the (already small) result sorted once:
    DuckDB then never holds the occasion table of all customers at once. The first
    GROUP BY has about one group per order, and DuckDB's hash aggregate fails with
    "Out of Memory" instead of spilling when that table is much larger than
    ``memory_limit`` (64M orders at 1 GB); in buckets each scan of the files keeps one
    bucket, so the price is one more read of the order columns per chunk.
    ``order=False`` leaves the rows unsorted (for a table materialised in the engine).
    """
    a = int(as_of_day)
    sort = " ORDER BY customer_id\n" if order else "\n"
    if chunks > 1:
        parts = [_summary_body(runner, as_of_day=a, unit_days=unit_days, margin=margin,
                               dates=dates, bucket=(i, int(chunks)))
                 for i in range(int(chunks))]
        return ("SELECT * FROM (" + "\nUNION ALL\n".join(f"({p})" for p in parts)
                + ") u" + sort)
    return _summary_body(runner, as_of_day=a, unit_days=unit_days, margin=margin,
                         dates=dates) + sort


def _summary_body(runner: Runner, *, as_of_day: int, unit_days: float, margin: bool,
                  dates: bool, bucket: tuple[int, int] | None = None) -> str:
    margin_occ = ", SUM(margin) AS margin" if margin else ""
    margin_out = "SUM(margin) AS total_margin, " if margin else ""
    if dates:
        fmt = DIALECTS[runner.dialect]["date"]
        first = fmt.format(x="MIN(day)") + " AS first_order"
        last = fmt.format(x="MAX(day)") + " AS last_order"
    else:
        first, last = "MIN(day) AS first_day", "MAX(day) AS last_day"
    a = int(as_of_day)
    return f"""
WITH {orders_cte(runner, as_of_day=a, margin=margin, bucket=bucket)},
occ AS (
  SELECT customer_id, day, SUM(amount) AS amount, COUNT(*) AS n{margin_occ}
  FROM o GROUP BY customer_id, day
)
SELECT customer_id, {first}, {last},
  SUM(n) AS n_orders,
  COUNT(*) - 1 AS frequency,
  CAST(MAX(day) - MIN(day) AS DOUBLE) / {unit_days!r} AS recency,
  CAST({a} - MIN(day) AS DOUBLE) / {unit_days!r} AS T,
  CASE WHEN COUNT(*) > 1
       THEN (SUM(amount) - MIN_BY(amount, day)) / CAST(COUNT(*) - 1 AS DOUBLE)
       ELSE CAST(0.0 AS DOUBLE) END AS monetary_value,
  SUM(amount) AS total_amount,
  SUM(amount) / CAST(SUM(n) AS DOUBLE) AS avg_order_value,
  {margin_out}CAST({a} - MAX(day) AS BIGINT) AS days_since_last_order
FROM occ GROUP BY customer_id
"""




def summary_on_engine(
    runner: Runner, *, as_of: object = None, time_unit: str = "D", output: str = "pandas",
    chunks: int | None = None,
):
    """Per-customer summary of an engine source; see :func:`crm_analytics.customer_summary`.

    ``chunks`` (default: from the engine's memory limit, see :data:`ROW_BYTES`) splits
    the customers into hash buckets aggregated one after the other.
    """
    unit_days = check_time_unit(time_unit)
    if output not in ("pandas", "native"):
        raise CrmDataError(f"The 'output' parameter must be 'pandas' or 'native'. Got {output!r}.")
    counts = check_engine_orders(runner)
    as_of_ts, as_of_day = resolve_day(runner, as_of, "as_of")
    if first_day(runner) > as_of_day:
        raise CrmDataError(
            f"No order is on or before as_of={as_of_ts.date()}. Use a later as_of."
        )
    if chunks is None:
        chunks = chunk_count(runner, counts["n_rows"])
    elif not (isinstance(chunks, int | np.integer) and chunks >= 1):
        raise CrmDataError(f"The 'chunks' parameter must be an int >= 1. Got {chunks!r}.")
    margin = has_column(runner, "margin")
    query = customer_summary_sql(runner, as_of_day=as_of_day, unit_days=unit_days,
                                 margin=margin, dates=output == "native", chunks=int(chunks))
    if output == "native":
        return runner.native(query)
    raw = runner.fetch(query)
    cols = {
        "customer_id": as_text(raw["customer_id"]).to_numpy(),
        "first_order": dates_from_days(raw["first_day"]),
        "last_order": dates_from_days(raw["last_day"]),
    }
    for c in ("n_orders", "frequency"):
        cols[c] = raw[c].to_numpy(dtype=np.int64)
    for c in ("recency", "T", "monetary_value", "total_amount", "avg_order_value"):
        cols[c] = raw[c].to_numpy(dtype=float)
    if margin:
        cols["total_margin"] = raw["total_margin"].to_numpy(dtype=float)
    cols["days_since_last_order"] = raw["days_since_last_order"].to_numpy(dtype=np.int64)
    result = pd.DataFrame(cols)
    result["customer_id"] = as_text(result["customer_id"])
    return result


