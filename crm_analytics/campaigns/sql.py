"""Per-member campaign outcomes as SQL (DuckDB, Spark).

The windows (:func:`~crm_analytics.campaigns.rules.outcome_windows`) and the margin
rule (:func:`~crm_analytics.campaigns.rules.margin_source` /
:func:`~crm_analytics.campaigns.rules.margin_sql`) are the ones the pandas path applies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics.backends.sql import (
    Runner,
    as_text,
    has_column,
    orders_cte,
    resolve_day,
)
from crm_analytics.campaigns.rules import (
    check_windows,
    margin_source,
    margin_sql,
    member_ids,
    outcome_windows,
)
from crm_analytics.orders.sql import check_engine_orders

__all__ = ["campaign_outcomes"]


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
    notes: list[str] | None = None,
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Every audience member's outcomes in the window and the pre-period.

    The engine aggregates the orders of ``[start - pre_days, start + window_days)`` (up
    to ``as_of``) per buyer; the audience (already in memory) is joined in pandas, so
    members without an order get zeros. Columns: ``customer_id, group, conversion,
    orders, revenue[, margin], pre_conversion, pre_orders, pre_revenue[, pre_margin]``
    as in :func:`crm_analytics.campaigns.campaign_lift`'s per-member table. Margin
    follows :func:`~crm_analytics.campaigns.rules.margin_source` (left out when unknown);
    its note, if any, is appended to ``notes``. Returns ``(members, as_of)``: the table
    and the last day used.
    """
    pre_days = check_windows(window_days, pre_days)
    ids = member_ids(audience, "the audience table")
    check_engine_orders(runner)
    _, start_day = resolve_day(runner, start, "start")
    as_of_ts, as_of_day = resolve_day(runner, as_of, "as_of")
    has_margin_column = has_column(runner, "margin")
    # the source when some margins are missing; where none is, it equals the column
    if has_margin_column:
        planned = "margin_or_rate" if margin_rate is not None else "margin"
    else:
        planned = "rate" if margin_rate is not None else None
    windows = outcome_windows(window_days, pre_days)
    sums = []
    for prefix, (lo, hi) in windows.items():
        cond = f"day >= {start_day + lo} AND day < {start_day + hi}"
        sums.append(f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS {prefix}orders")
        sums.append(f"SUM(CASE WHEN {cond} THEN amount ELSE 0.0 END) AS {prefix}revenue")
        if planned is not None:
            sums.append(f"SUM(CASE WHEN {cond} THEN {margin_sql(planned, margin_rate)} "
                        f"ELSE 0.0 END) AS {prefix}margin")
    if has_margin_column:
        sums.append("SUM(CASE WHEN margin IS NULL THEN 1 ELSE 0 END) AS crm_no_margin")
    lo = start_day + min(lo for lo, _ in windows.values())
    hi = start_day + max(hi for _, hi in windows.values())
    query = f"""
WITH {orders_cte(runner, as_of_day=as_of_day, margin=has_margin_column)}
SELECT customer_id, {', '.join(sums)} FROM o
WHERE day >= {lo} AND day < {hi} GROUP BY customer_id
"""
    raw = runner.fetch(query)
    raw.index = pd.Index(as_text(raw["customer_id"]).to_numpy(dtype=object))
    pos = raw.index.get_indexer(ids)
    found = pos >= 0
    n_missing = 0
    if has_margin_column:
        n_missing = int(raw["crm_no_margin"].to_numpy(dtype=np.int64)[pos[found]].sum())
    source, note = margin_source(has_margin_column=has_margin_column, n_missing=n_missing,
                                 margin_rate=margin_rate)
    if note is not None and notes is not None:
        notes.append(note)
    members = pd.DataFrame({"customer_id": ids, "group": audience[group_col].to_numpy()})
    metrics = ("orders", "revenue") + (("margin",) if source is not None else ())
    for prefix in windows:
        for m in metrics:
            values = np.zeros(len(ids))
            values[found] = raw[prefix + m].to_numpy(dtype=float)[pos[found]]
            members[prefix + m] = values
        members.insert(list(members.columns).index(prefix + "orders"), prefix + "conversion",
                       (members[prefix + "orders"] > 0).astype(float))
    members["customer_id"] = as_text(members["customer_id"])
    return members, as_of_ts
