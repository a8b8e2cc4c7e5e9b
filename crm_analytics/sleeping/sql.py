"""The daily sleeping flow as SQL (DuckDB, Spark)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends.sql import (
    EPOCH,
    FLOW_ROW_FACTOR,
    Runner,
    check_orders,
    chunk_count,
    first_day,
    orders_cte,
    resolve_day,
)
from crm_analytics.sleeping.rules import NEVER, check_sleep


# --------------------------------------------------------------------------- sleeping
def sleeping_flow_on_engine(runner: Runner, *, start=None, end=None, sleep_after: int = 90,
                  remind_before: int = 10) -> pd.DataFrame:
    """Daily sleeping flow; see :func:`crm_analytics.sleeping.sleeping_flow`.

    The SQL turns every customer's order days into interval end points (sleep and
    pre-sleep intervals, first orders, falling asleep, waking up) counted per day of
    the reported range; the difference arrays are summed up in numpy (one row per day).
    """
    s, r = check_sleep(sleep_after, remind_before)
    counts_ = check_orders(runner)
    if start is None:
        day0 = first_day(runner)
        start_ts = pd.Timestamp(EPOCH + day0).as_unit("ns")
    else:
        start_ts, day0 = resolve_day(runner, start, "start")
    end_ts, end_day = resolve_day(runner, end, "end")
    if end_day < day0:
        raise CrmDataError(
            f"The 'end' parameter ({end_ts.date()}) must not be before 'start' "
            f"({start_ts.date()})."
        )
    n = end_day - day0 + 1
    never = int(NEVER)
    hi_end = day0 + n

    def clip(x: str) -> str:
        return f"LEAST(GREATEST({x} - {day0}, 0), {n})"

    def interval(kind: str, lo: str, hi: str) -> str:
        keep = f"({hi}) > ({lo}) AND ({lo}) < {hi_end} AND ({hi}) > {day0}"
        return (
            f"SELECT '{kind}_lo' AS kind, {clip(lo)} AS idx, COUNT(*) AS n FROM iv WHERE {keep} "
            f"GROUP BY 2 UNION ALL "
            f"SELECT '{kind}_hi', {clip(hi)}, COUNT(*) FROM iv WHERE {keep} GROUP BY 2"
        )

    template = f"""
WITH {{orders}},
occ AS (SELECT DISTINCT customer_id, day FROM o),
iv AS (
  SELECT day,
         COALESCE(LEAD(day) OVER (PARTITION BY customer_id ORDER BY day), {never}) AS nxt,
         ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY day) AS rn
  FROM occ
)
SELECT 'members' AS kind, {clip('day')} AS idx, COUNT(*) AS n FROM iv WHERE rn = 1 GROUP BY 2
UNION ALL {interval('sleep', f'day + {s}', 'nxt')}
UNION ALL {interval('pre', f'day + {s - r}', f'LEAST(day + {s}, nxt)')}
UNION ALL SELECT 'newly', day + {s} - {day0}, COUNT(*) FROM iv
  WHERE nxt - day > {s} AND day + {s} >= {day0} AND day + {s} < {hi_end} GROUP BY 2
UNION ALL SELECT 'woken', nxt - {day0}, COUNT(*) FROM iv
  WHERE nxt - day > {s} AND nxt < {never} AND nxt >= {day0} AND nxt < {hi_end} GROUP BY 2
"""
    # customers in hash buckets, one query each (the counts add up): DuckDB's window
    # over every customer's order days does not spill, so it must fit in memory
    k = chunk_count(runner, FLOW_ROW_FACTOR * counts_["n_rows"])
    raw = pd.concat([
        runner.fetch(template.replace(
            "{orders}", orders_cte(runner, bucket=(i, k) if k > 1 else None)))
        for i in range(k)], ignore_index=True)

    def counts(kind: str) -> np.ndarray:
        part = raw[raw["kind"] == kind]
        return np.bincount(part["idx"].to_numpy(np.int64), weights=part["n"].to_numpy(float),
                           minlength=n + 1).astype(np.int64)

    members = np.cumsum(counts("members"))[:n]
    sleeping = np.cumsum(counts("sleep_lo") - counts("sleep_hi"))[:n]
    pre_sleep = np.cumsum(counts("pre_lo") - counts("pre_hi"))[:n]
    flow = pd.DataFrame({
        "date": pd.date_range(start_ts, periods=n, freq="D"),
        "members": members,
        "active": members - pre_sleep - sleeping,
        "pre_sleep": pre_sleep,
        "sleeping": sleeping,
        "newly_sleeping": counts("newly")[:n],
        "woken": counts("woken")[:n],
    })
    flow.attrs = {"sleep_after": s, "remind_before": r}
    return flow


