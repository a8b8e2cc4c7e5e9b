"""Member tiers: KPIs by tier and tier migration between period start and end."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from crm_analytics._core.dates import dates_from_days, day_number, to_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics.membership.board import BOARD_PERIODS
from crm_analytics.membership.data import period_orders
from crm_analytics.membership.rules import REPEAT_MIN_ORDERS, period_days, period_number

__all__ = ["NON_MEMBER", "NOT_MEMBER_YET", "tier_kpis", "tier_migration"]

#: Tier level of customers absent from the member table (tier_kpis).
NON_MEMBER = "non_member"
#: Tier of a member before joining (tier_migration).
NOT_MEMBER_YET = "none"


def _tier_rows(members: object, tier: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Member ids, the day each tier row starts, and the tier, sorted by id then day."""
    if not isinstance(members, pd.DataFrame) or not {"customer_id", tier} <= set(members):
        raise CrmDataError(
            f"The 'members' parameter must be a DataFrame with customer_id and {tier!r} "
            "columns (optionally join_date and tier_since: one row per tier a member held)."
        )
    ids = members["customer_id"].astype(str).to_numpy(dtype=object)
    since_col = next((c for c in ("tier_since", "join_date") if c in members), None)
    if since_col is None:
        since = np.full(len(ids), np.iinfo(np.int64).min // 2, dtype=np.int64)
    else:
        when = pd.to_datetime(members[since_col], errors="coerce")
        since = when.to_numpy(dtype="datetime64[D]").astype(np.int64)
        since[when.isna().to_numpy()] = np.iinfo(np.int64).min // 2
    tiers = members[tier].astype(object).where(members[tier].notna(), "unknown").to_numpy()
    order = np.lexsort((since, ids))
    return ids[order], since[order], tiers[order].astype(str)


def _tier_at(ids: np.ndarray, since: np.ndarray, tiers: np.ndarray, day: int
             ) -> pd.Series:
    """Each member's tier on ``day`` (the last row starting by then), by member id."""
    valid = np.flatnonzero(since <= day)
    if not len(valid):
        return pd.Series(dtype=object)
    last = np.ones(len(valid), dtype=bool)
    last[:-1] = ids[valid][1:] != ids[valid][:-1]
    pick = valid[last]
    return pd.Series(tiers[pick], index=ids[pick], dtype=object)


def _tier_order(members: pd.DataFrame, tier: str, tiers: Sequence[str] | None,
                present: np.ndarray) -> list[str]:
    if tiers is not None:
        return [str(t) for t in tiers]
    col = members[tier]
    if isinstance(col.dtype, pd.CategoricalDtype):
        return [str(t) for t in col.cat.categories]
    return list(pd.unique(present))


def tier_kpis(
    orders: pd.DataFrame,
    members: pd.DataFrame,
    *,
    as_of: object = None,
    start: object = None,
    tier: str = "member_tier",
    tiers: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Repurchase, AOV and contribution by member tier (and of non-members).

    Parameters
    ----------
    orders : pandas.DataFrame or PreparedOrders
        Canonical orders. Not modified.
    members : pandas.DataFrame
        ``customer_id`` and the tier column; with ``tier_since`` (or ``join_date``), one
        row per tier a member held (the sample's ``members`` table): the tier on
        ``as_of`` is used.
    as_of : date-like, optional
        Last day of data; default the last order day.
    start : date-like, optional
        First day of the orders counted (e.g. a year before ``as_of``); default all.
    tier : str, default "member_tier"
        The tier column.
    tiers : sequence of str, optional
        Tier order, lowest first; default the column's categories or first appearance.

    Returns
    -------
    pandas.DataFrame
        One row per tier, then ``"non_member"``: ``tier``, ``members`` (customers in
        the tier on ``as_of``; non-members: customers who ordered), ``customers`` (of
        them, who ordered in the range), ``orders``, ``revenue``, ``aov``,
        ``repurchase_rate`` (share of the buyers with 2 or more orders),
        ``orders_per_customer``, ``revenue_per_member`` and ``revenue_share`` (the
        tier's share of all revenue: its contribution).

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b", "c"],
    ...     "order_id": ["1", "2", "3", "4"],
    ...     "order_date": pd.to_datetime(["2024-01-03", "2024-01-20", "2024-01-09",
    ...                                   "2024-02-07"]),
    ...     "amount": [10.0, 30.0, 20.0, 40.0]})
    >>> members = pd.DataFrame({"customer_id": ["a", "b"], "member_tier": ["VIP", "普通"]})
    >>> tier_kpis(orders, members)[["tier", "members", "orders", "aov", "revenue_share"]]
             tier  members  orders   aov  revenue_share
    0         VIP        1       2  20.0            0.4
    1          普通        1       1  20.0            0.2
    2  non_member        1       1  40.0            0.4
    """
    ids, since, tier_vals = _tier_rows(members, tier)
    data = period_orders(orders, as_of, "M")
    now = _tier_at(ids, since, tier_vals, data.as_of_day)
    order = _tier_order(members, tier, tiers, now.to_numpy())
    order = [t for t in order if t in set(now.to_numpy())] + sorted(
        set(now.to_numpy()) - set(order))
    labels = [*order, NON_MEMBER]
    n = len(data.uniques)
    level = pd.Categorical(now.reindex(np.asarray(data.uniques, dtype=object)).fillna(
        NON_MEMBER), categories=labels).codes.astype(np.int64)
    keep = np.ones(len(data.codes), dtype=bool)
    if start is not None:
        keep = data.days >= day_number(to_day(start, "start"))
    codes, amount = data.codes[keep], data.amount[keep]
    count = np.bincount(codes, minlength=n)
    spend = np.bincount(codes, weights=amount, minlength=n)
    n_l = len(labels)
    size = np.bincount(pd.Categorical(now.to_numpy(), categories=labels).codes,
                       minlength=n_l)
    buyers = np.bincount(level, weights=count > 0, minlength=n_l)
    size[-1] = int(buyers[-1])
    repeat = np.bincount(level, weights=count >= REPEAT_MIN_ORDERS, minlength=n_l)
    n_orders = np.bincount(level, weights=count, minlength=n_l)
    revenue = np.bincount(level, weights=spend, minlength=n_l)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({
            "tier": labels,
            "members": size.astype(np.int64),
            "customers": buyers.astype(np.int64),
            "orders": n_orders.astype(np.int64),
            "revenue": revenue,
            "aov": revenue / n_orders,
            "repurchase_rate": repeat / buyers,
            "orders_per_customer": n_orders / buyers,
            "revenue_per_member": revenue / size,
            "revenue_share": revenue / revenue.sum(),
        })


def tier_migration(
    members: pd.DataFrame,
    *,
    period: str = "Y",
    as_of: object = None,
    tier: str = "member_tier",
    tiers: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Members by tier at the start of each period against their tier at its end.

    Parameters
    ----------
    members : pandas.DataFrame
        ``customer_id``, the tier column and ``tier_since`` (or ``join_date``): one row
        per tier a member held, from the day given. A member's tier on a day is the
        last row starting by then; before their first row they are not members yet.
    period : {"Y", "Q", "M"}, default "Y"
    as_of : date-like, optional
        Last day; default the last ``tier_since``/``join_date``. The period holding it
        ends on ``as_of``.
    tier, tiers
        As in :func:`tier_kpis`.

    Returns
    -------
    pandas.DataFrame
        ``period`` (first day), ``tier_start`` (tier on the day before the period;
        ``"none"`` when not a member yet), ``tier_end`` (tier at the period's end) and
        ``members``; one row per pair that occurs.

    Examples
    --------
    >>> members = pd.DataFrame({"customer_id": ["a", "a", "b"],
    ...     "member_tier": ["普通", "VIP", "普通"],
    ...     "tier_since": pd.to_datetime(["2024-03-01", "2025-02-01", "2025-05-01"])})
    >>> tier_migration(members, as_of="2025-12-31", tiers=["普通", "VIP"])
          period tier_start tier_end  members
    0 2024-01-01       none       普通        1
    1 2025-01-01       none       普通        1
    2 2025-01-01         普通      VIP        1
    """
    if not isinstance(period, str) or period not in BOARD_PERIODS:
        raise CrmDataError(
            f"The 'period' parameter of tier_migration must be one of {list(BOARD_PERIODS)}. "
            f"Got {period!r} instead."
        )
    ids, since, tier_vals = _tier_rows(members, tier)
    known = since[since > np.iinfo(np.int64).min // 2]
    if as_of is None:
        if not len(known):
            raise CrmDataError("tier_migration needs tier_since or join_date dates, or as_of.")
        as_of_day = int(known.max())
    else:
        as_of_day = day_number(to_day(as_of, "as_of"))
    first_day = int(known.min()) if len(known) else as_of_day
    first = int(period_number(np.array([first_day]), period)[0])
    last = int(period_number(np.array([as_of_day]), period)[0])
    start, end, _ = period_days(first, last, period, as_of_day)
    order = _tier_order(members, tier, tiers, tier_vals)
    labels = [NOT_MEMBER_YET, *order, *sorted(set(tier_vals) - set(order))]
    rows = []
    for s, e in zip(start, end, strict=False):
        at_start = _tier_at(ids, since, tier_vals, int(s) - 1)
        at_end = _tier_at(ids, since, tier_vals, int(e))
        pair = pd.DataFrame({"tier_start": at_start.reindex(at_end.index).fillna(
            NOT_MEMBER_YET), "tier_end": at_end})
        counts = pair.value_counts()
        for (a, b), k in counts.items():
            rows.append({"period": s, "tier_start": a, "tier_end": b, "members": int(k)})
    table = pd.DataFrame(rows, columns=["period", "tier_start", "tier_end", "members"])
    rank = {t: i for i, t in enumerate(labels)}
    table = table.assign(_a=table["tier_start"].map(rank), _b=table["tier_end"].map(rank))
    table = table.sort_values(["period", "_a", "_b"]).drop(columns=["_a", "_b"])
    table["period"] = dates_from_days(table["period"].to_numpy(dtype=np.int64))
    return table.reset_index(drop=True)
