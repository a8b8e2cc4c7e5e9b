"""The sleeping analyses as SQL (DuckDB, Spark): the daily flow and member status.

Member status and quality are generated from the rules of
:mod:`crm_analytics.sleeping.rules` (the same bounds and constants the NumPy path
uses): :func:`member_status_sql` gives the SQL expressions over a customer summary
table, :func:`member_status_on_engine` the whole table of
:func:`crm_analytics.sleeping.member_status`, :func:`status_counts_on_engine` the
members per status.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends.order_stats import medians
from crm_analytics.backends.sql import (
    EPOCH,
    FLOW_ROW_FACTOR,
    Runner,
    as_text,
    chunk_count,
    dates_from_days,
    first_day,
    orders_cte,
    resolve_day,
)
from crm_analytics.orders.sql import check_engine_orders
from crm_analytics.sleeping.rules import (
    GIVE_UP_REASONS,
    NEVER,
    QUALITIES,
    STATUSES,
    check_aov_threshold,
    check_count,
    check_sleep,
    quality_sql,
    status_sql,
    status_table,
)
from crm_analytics.summary.sql import customer_summary_sql

__all__ = [
    "default_aov_threshold_on_engine",
    "member_status_on_engine",
    "member_status_sql",
    "sleeping_flow_on_engine",
    "status_counts_on_engine",
]


# --------------------------------------------------------------------------- sleeping
def sleeping_flow_on_engine(runner: Runner, *, start=None, end=None, sleep_after: int = 90,
                  remind_before: int = 10) -> pd.DataFrame:
    """Daily sleeping flow; see :func:`crm_analytics.sleeping.sleeping_flow`.

    The SQL turns every customer's order days into interval end points (sleep and
    pre-sleep intervals, first orders, falling asleep, waking up) counted per day of
    the reported range; the difference arrays are summed up in numpy (one row per day).
    """
    s, r = check_sleep(sleep_after, remind_before)
    counts_ = check_engine_orders(runner)
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
    return flow


# --------------------------------------------------------------------------- status
def member_status_sql(
    *, alias: str = "s", sleep_after: int = 90, remind_before: int = 10,
    give_up_after: int | None = None, aov_threshold: float, min_orders: int = 2,
) -> dict[str, str]:
    """Member status columns as SQL expressions over a customer summary table.

    Generated from :mod:`crm_analytics.sleeping.rules`, the rules the pandas path
    applies in NumPy. ``alias`` names a table (or alias) with the columns of
    :func:`crm_analytics.summary.sql.customer_summary_sql` (``days_since_last_order``,
    ``avg_order_value``, ``n_orders``, ``last_day``). Giving up after wake-up contacts
    needs the campaign table, so it is not part of the SQL (see
    :func:`crm_analytics.sleeping.member_status`).

    Parameters
    ----------
    alias : str, default "s"
    sleep_after, remind_before, give_up_after, min_orders
        As in :func:`crm_analytics.sleeping.member_status`.
    aov_threshold : float
        The quality threshold; the default of ``member_status`` (the members' median
        average order value) is :func:`default_aov_threshold_on_engine`.

    Returns
    -------
    dict
        ``status``, ``quality`` and ``give_up_reason`` (text, NULL when missing) and
        ``sleep_day`` (the day number of ``sleep_date``).

    Examples
    --------
    >>> cols = member_status_sql(sleep_after=90, remind_before=10, aov_threshold=20.0)
    >>> cols["status"].startswith("CASE WHEN s.days_since_last_order >= 90 THEN 'sleeping'")
    True
    >>> cols["sleep_day"]
    's.last_day + 90'
    """
    s, r = check_sleep(sleep_after, remind_before)
    if give_up_after is not None:
        give_up_after = check_count(give_up_after, "give_up_after", 0)
    min_orders = check_count(min_orders, "min_orders", 1, " of orders")
    days = f"{alias}.days_since_last_order"
    reason = "CAST(NULL AS STRING)"
    if give_up_after is not None:
        reason = (f"CASE WHEN {days} >= {s + give_up_after} "
                  f"THEN '{GIVE_UP_REASONS[0]}' END")
    return {
        "status": status_sql(days, sleep_after=s, remind_before=r, give_up_after=give_up_after),
        "quality": quality_sql(days, f"{alias}.avg_order_value", f"{alias}.n_orders",
                               sleep_after=s, aov_threshold=aov_threshold,
                               min_orders=min_orders),
        "give_up_reason": reason,
        "sleep_day": f"{alias}.last_day + {s}",
    }


def default_aov_threshold_on_engine(runner: Runner, source: str) -> float:
    """The members' median average order value, as :func:`default_aov_threshold`.

    ``source`` is a table name or a parenthesised subquery (with an alias) holding a
    customer summary. The exact median comes from fixed-memory order statistics
    (:func:`crm_analytics.backends.order_stats.medians`: bucket counts, then only the
    middle values fetched), so it is the float the pandas path computes and no window
    over every customer has to fit in memory.
    """
    return float(medians(runner, source, "avg_order_value")["median"].iloc[0])


def status_counts_on_engine(runner: Runner, source: str, *, sleep_after: int = 90,
                            remind_before: int = 10,
                            give_up_after: int | None = None) -> pd.Series:
    """Members per status (indexed by :data:`STATUSES`, zeros included).

    ``source`` is a table name (or a parenthesised subquery) holding a customer
    summary; it is read under the alias ``s``.
    """
    expr = status_sql("s.days_since_last_order", sleep_after=sleep_after,
                      remind_before=remind_before, give_up_after=give_up_after)
    counts = runner.fetch(f"SELECT {expr} AS status, COUNT(*) AS n FROM {source} s GROUP BY 1")
    return (counts.set_index("status")["n"].reindex(list(STATUSES), fill_value=0)
            .astype(np.int64).rename_axis("status"))


def member_status_on_engine(
    runner: Runner, *, as_of: object = None, sleep_after: int = 90, remind_before: int = 10,
    give_up_after: int | None = None, aov_threshold: float | None = None, min_orders: int = 2,
) -> pd.DataFrame:
    """Member status table; see :func:`crm_analytics.sleeping.member_status`.

    The summary, status and quality are computed in the engine from
    :func:`member_status_sql`; only the finished table (one row per member) is
    fetched. Wake-up contacts are applied by ``member_status`` afterwards.
    """
    s, r = check_sleep(sleep_after, remind_before)
    if aov_threshold is not None:
        aov_threshold = check_aov_threshold(aov_threshold)
    counts = check_engine_orders(runner)
    as_of_ts, as_of_day = resolve_day(runner, as_of, "as_of")
    if first_day(runner) > as_of_day:
        raise CrmDataError(
            f"No order is on or before as_of={as_of_ts.date()}. Use a later as_of."
        )
    summary = "(" + customer_summary_sql(
        runner, as_of_day=as_of_day, unit_days=1.0, margin=False, order=False,
        chunks=chunk_count(runner, counts["n_rows"])) + ")"
    if aov_threshold is None:
        aov_threshold = default_aov_threshold_on_engine(runner, summary + " m")
    cols = member_status_sql(alias="s", sleep_after=s, remind_before=r,
                             give_up_after=give_up_after, aov_threshold=aov_threshold,
                             min_orders=min_orders)
    raw = runner.fetch(
        "SELECT s.customer_id, s.first_day, s.last_day, s.n_orders, s.total_amount, "
        "s.avg_order_value, s.days_since_last_order, "
        + ", ".join(f"{cols[c]} AS {c}" for c in ("status", "quality", "give_up_reason"))
        + f" FROM {summary} s ORDER BY s.customer_id"
    )
    base = pd.DataFrame({
        "customer_id": as_text(raw["customer_id"]).to_numpy(),
        "last_order": dates_from_days(raw["last_day"]),
        "days_since_last_order": raw["days_since_last_order"].to_numpy(dtype=np.int64),
        "n_orders": raw["n_orders"].to_numpy(dtype=np.int64),
        "avg_order_value": raw["avg_order_value"].to_numpy(dtype=float),
        "total_amount": raw["total_amount"].to_numpy(dtype=float),
        "first_order": dates_from_days(raw["first_day"]),
    })

    def codes(col: str, names: tuple[str, ...]) -> np.ndarray:
        return pd.Categorical(raw[col].astype(object), categories=list(names)).codes

    return status_table(base, status=codes("status", STATUSES),
                        quality=codes("quality", QUALITIES),
                        give_up_reason=codes("give_up_reason", GIVE_UP_REASONS),
                        sleep_after=s)
