"""Per-member campaign outcomes as SQL (DuckDB, Spark)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics.backends.sql import (
    Runner,
    as_text,
    check_orders,
    has_column,
    orders_cte,
    resolve_day,
)
from crm_analytics.campaigns.rules import check_windows, member_ids


# --------------------------------------------------------------------------- campaigns
def campaign_outcomes(
    runner: Runner,
    audience: pd.DataFrame,
    *,
    start: object,
    window_days: int = 30,
    pre_days: int | None = None,
    as_of: object = None,
    group_col: str = "group",
    margin_rate: float | None = None,
) -> pd.DataFrame:
    """Every audience member's outcomes in the window and the pre-period.

    The engine aggregates the orders of ``[start - pre_days, start + window_days)`` (up
    to ``as_of``) per buyer; the audience (already in memory) is joined in pandas, so
    members without an order get zeros. Columns: ``customer_id, group, conversion,
    orders, revenue[, margin], pre_conversion, pre_orders, pre_revenue[, pre_margin]``
    as in :func:`crm_analytics.campaigns.campaign_lift`'s per-member table. Margin comes
    from the orders' ``margin`` column, else ``amount * margin_rate``, else is left out
    (orders with a missing margin count as 0). Returns ``(members, as_of)``: the table and
    the last day used.
    """
    pre_days = check_windows(window_days, pre_days)
    ids = member_ids(audience, "the audience table")
    check_orders(runner)
    _, start_day = resolve_day(runner, start, "start")
    as_of_ts, as_of_day = resolve_day(runner, as_of, "as_of")
    has_margin = has_column(runner, "margin") or margin_rate is not None
    margin_expr = "margin" if has_column(runner, "margin") else f"amount * {float(margin_rate or 0)!r}"
    lo, hi = start_day - pre_days, start_day + window_days
    sums = []
    for prefix, cond in (("", f"day >= {start_day}"), ("pre_", f"day < {start_day}")):
        sums.append(f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS {prefix}orders")
        sums.append(f"SUM(CASE WHEN {cond} THEN amount ELSE 0.0 END) AS {prefix}revenue")
        if has_margin:
            sums.append(f"SUM(CASE WHEN {cond} THEN {margin_expr} ELSE 0.0 END) "
                        f"AS {prefix}margin")
    query = f"""
WITH {orders_cte(runner, as_of_day=as_of_day, margin=has_column(runner, 'margin'))}
SELECT customer_id, {', '.join(sums)} FROM o
WHERE day >= {lo} AND day < {hi} GROUP BY customer_id
"""
    raw = runner.fetch(query)
    raw.index = pd.Index(as_text(raw["customer_id"]).to_numpy(dtype=object))
    pos = raw.index.get_indexer(ids)
    found = pos >= 0
    members = pd.DataFrame({"customer_id": ids, "group": audience[group_col].to_numpy()})
    metrics = ("orders", "revenue") + (("margin",) if has_margin else ())
    for prefix in ("", "pre_"):
        for m in metrics:
            values = np.zeros(len(ids))
            values[found] = raw[prefix + m].to_numpy(dtype=float)[pos[found]]
            members[prefix + m] = values
        members.insert(list(members.columns).index(prefix + "orders"), prefix + "conversion",
                       (members[prefix + "orders"] > 0).astype(float))
    members["customer_id"] = as_text(members["customer_id"])
    return members, as_of_ts


