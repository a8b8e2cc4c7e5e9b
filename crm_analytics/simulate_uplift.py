"""Campaigns whose effect differs between members, on a simulated shop: uplift truth.

:func:`simulate_uplift_campaigns` takes a shop from
:func:`~crm_analytics.simulate.simulate_shop` (its natural orders and true customer
parameters) and runs randomized campaigns on it whose effect on each member depends on
what the shop can see in the order history:

- **recently lapsed, high-value members** (last order 60 to 365 days before the start,
  true mean order value above the shop's median) are the persuadable ones: a treated
  member places an extra order with probability ``0.35``;
- **frequent buyers who buy anyway** (an expected natural order or more every
  ``1 / 0.4`` windows, or an order in the last 21 days) do not react: ``0``;
- **coupon-only bargain hunters** (a fifth of the customers; they buy on promotion,
  which shows as a low margin on all their orders) place no extra order, but in coupon
  campaigns every natural order they place in the window redeems the coupon: a
  *negative* margin effect of ``coupon_value`` per order;
- other lapsed members ``0.08``, everyone else ``0.04``.

Each member's true expected incremental margin over the window is recorded
(``true_incremental_margin``) and can be computed for any later send day
(:meth:`UpliftShop.true_uplift`), so targeting can be scored against the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics.simulate import SimulatedShop

__all__ = ["EFFECTS", "UpliftShop", "simulate_uplift_campaigns"]

#: Extra-order probability of a treated member, by history group.
EFFECTS = {"lapsed_high_value": 0.35, "lapsed": 0.08, "buys_anyway": 0.0,
           "bargain_hunter": 0.0, "other": 0.04}
_BARGAIN_SHARE = 0.2
_BARGAIN_MARGIN = 0.3  # bargain hunters keep this share of the usual margin


@dataclass(frozen=True, eq=False)
class UpliftShop:
    """Output of :func:`simulate_uplift_campaigns`.

    Attributes
    ----------
    orders : pandas.DataFrame
        The shop's natural orders (bargain hunters' margins lowered) plus the orders the
        campaigns caused, with coupon redemptions netted into ``margin``.
    campaigns : pandas.DataFrame
        One row per audience member per campaign: ``campaign_id``, ``campaign_type``,
        ``start``, ``window_days``, ``customer_id``, ``group``, ``member_tier`` and the
        truth ``true_group`` (history group), ``true_uplift_prob`` and
        ``true_incremental_margin`` (expected, per member, had they been treated).
    customers : pandas.DataFrame
        The shop's customers with ``true_bargain_hunter``.
    coupon_value : float
    shop : SimulatedShop
    """

    orders: pd.DataFrame
    campaigns: pd.DataFrame
    customers: pd.DataFrame
    coupon_value: float
    shop: SimulatedShop

    def true_uplift(self, as_of: object, *, campaign_type: str = "coupon",
                    window_days: int = 30) -> pd.DataFrame:
        """Every customer's true expected incremental margin of a campaign on ``as_of + 1``.

        ``customer_id``, ``true_group``, ``true_uplift_prob``, ``true_incremental_margin``
        for customers with an order by ``as_of`` (the history used is all orders,
        campaign orders included, up to ``as_of``).
        """
        start = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
        ids, effects = _effects(self.orders, self.customers, start, window_days,
                                campaign_type, self.coupon_value, self.shop)
        return pd.DataFrame({"customer_id": ids, **effects})


def _effects(orders: pd.DataFrame, customers: pd.DataFrame, start: pd.Timestamp,
             window_days: int, campaign_type: str, coupon_value: float, shop: SimulatedShop):
    """Members (ordered before ``start``) and their true effects for a campaign then."""
    before = orders[orders["order_date"] < start]
    g = before.groupby("customer_id", sort=True)
    last = g["order_date"].max()
    ids = last.index.to_numpy(dtype=object)
    cust = customers.set_index("customer_id").reindex(ids)
    since = (start - last).dt.days.to_numpy(dtype=float)
    spend_mean = cust["true_spend_mean"].to_numpy(dtype=float)
    median = np.median(customers["true_spend_mean"].to_numpy(dtype=float))
    dropout = cust["true_dropout_date"]
    alive = (dropout.isna() | (dropout >= start)).to_numpy()
    expected_natural = np.where(alive, cust["true_lambda"].to_numpy(dtype=float)
                                * window_days, 0.0)
    bargain = cust["true_bargain_hunter"].to_numpy(dtype=bool)
    margin_rate = (g["margin"].sum() / g["amount"].sum()).to_numpy(dtype=float)
    lapsed = (since >= 60) & (since <= 365)
    group = np.select(
        [bargain, (expected_natural >= 0.4) | (since <= 21), lapsed & (spend_mean > median),
         lapsed],
        ["bargain_hunter", "buys_anyway", "lapsed_high_value", "lapsed"], "other",
    )
    prob = np.array([EFFECTS[x] for x in group])
    coupon = coupon_value if campaign_type == "coupon" else 0.0
    extra_margin = spend_mean * margin_rate - coupon
    loss = np.where(group == "bargain_hunter", coupon * expected_natural, 0.0)
    return ids, {"true_group": group, "true_uplift_prob": prob,
                 "true_incremental_margin": prob * extra_margin - loss}


def simulate_uplift_campaigns(
    shop: SimulatedShop,
    *,
    n_campaigns: int = 6,
    window_days: int = 30,
    holdout: float = 0.3,
    coupon_value: float = 15.0,
    first_start: object = None,
    audience_size: int | None = None,
    seed: int = 0,
) -> UpliftShop:
    """Run ``n_campaigns`` randomized coupon campaigns with member-level effects.

    Parameters
    ----------
    shop : SimulatedShop
        From ``simulate_shop(..., params={"campaigns": []})`` (its own campaigns, if
        any, stay in its orders but are not part of the returned campaigns).
    n_campaigns : int, default 6
        Campaigns, one every ``window_days`` days, the last one ending by the shop's end.
    window_days : int, default 30
    holdout : float, default 0.3
        Control share of each audience.
    coupon_value : float, default 15
        Margin given away per redeemed coupon.
    first_start : date-like, optional
        Start of the first campaign (default: as late as fits).
    audience_size : int, optional
        Members per campaign, drawn at random from those with an order before the
        start (default: all of them).
    seed : int, default 0

    Returns
    -------
    UpliftShop

    Examples
    --------
    >>> from crm_analytics.simulate import simulate_shop
    >>> base = simulate_shop(3000, seed=3, params={"campaigns": []})
    >>> up = simulate_uplift_campaigns(base, n_campaigns=2, seed=1)
    >>> sorted(up.campaigns["group"].unique())
    ['control', 'treatment']
    >>> bool((up.campaigns.groupby("true_group")["true_uplift_prob"].max() >= 0).all())
    True
    """
    rng = np.random.default_rng(seed)
    customers = shop.customers.copy()
    bargain = rng.random(len(customers)) < _BARGAIN_SHARE
    customers["true_bargain_hunter"] = bargain
    orders = shop.orders.copy()
    is_bargain = orders["customer_id"].isin(customers.loc[bargain, "customer_id"]).to_numpy()
    orders.loc[is_bargain, "margin"] = (orders.loc[is_bargain, "margin"]
                                        * _BARGAIN_MARGIN).round(2)
    end = shop.end.normalize()
    if first_start is None:
        first = end - pd.Timedelta(days=window_days * n_campaigns + 1)
    else:
        first = pd.Timestamp(first_start).normalize()
    p = shop.truth["p"]
    extra_rows, camp_rows = [], []
    next_id = 4_100_000_000_000_000_000
    for k in range(n_campaigns):
        start = first + pd.Timedelta(days=window_days * k)
        stop = start + pd.Timedelta(days=window_days)
        current = pd.concat([orders, *extra_rows], ignore_index=True) if extra_rows \
            else orders
        ids, eff = _effects(current, customers, start, window_days, "coupon",
                            coupon_value, shop)
        if audience_size is not None and audience_size < len(ids):
            pick = np.sort(rng.choice(len(ids), size=audience_size, replace=False))
            ids, eff = ids[pick], {k: v[pick] for k, v in eff.items()}
        treated = rng.random(len(ids)) >= holdout
        cust = customers.set_index("customer_id").reindex(ids)
        # coupon redemptions: treated bargain hunters' natural orders in the window
        in_window = ((orders["order_date"] >= start) & (orders["order_date"] < stop)).to_numpy()
        redeem = in_window & orders["customer_id"].isin(
            ids[treated & (eff["true_group"] == "bargain_hunter")]).to_numpy()
        orders.loc[redeem, "margin"] = (orders.loc[redeem, "margin"] - coupon_value).round(2)
        # extra orders caused by the campaign
        extra = treated & (rng.random(len(ids)) < eff["true_uplift_prob"])
        who = ids[extra]
        if who.size:
            nu = p / cust["true_spend_mean"].to_numpy(dtype=float)[extra]
            amount = np.round(rng.gamma(p, 1.0 / nu), 2)
            rate = _margin_rates(current, who)
            seconds = rng.integers(0, window_days * 86400, size=who.size)
            extra_rows.append(pd.DataFrame({
                "customer_id": who,
                "order_id": [str(next_id + i) for i in range(who.size)],
                "order_date": start + pd.to_timedelta(seconds, unit="s"),
                "amount": amount,
                "margin": np.round(amount * rate - coupon_value, 2),
            }))
            next_id += who.size
        camp_rows.append(pd.DataFrame({
            "campaign_id": f"CPN-{start:%Y%m%d}",
            "campaign_type": "coupon",
            "start": start,
            "window_days": window_days,
            "customer_id": ids,
            "group": np.where(treated, "treatment", "control"),
            "member_tier": cust["member_tier"].to_numpy(),
            **eff,
        }))
    all_orders = pd.concat([orders, *extra_rows], ignore_index=True)
    all_orders = all_orders.sort_values(["order_date", "order_id"], kind="stable")
    return UpliftShop(all_orders.reset_index(drop=True),
                      pd.concat(camp_rows, ignore_index=True), customers, coupon_value, shop)


def _margin_rates(orders: pd.DataFrame, ids: np.ndarray) -> np.ndarray:
    mine = orders[orders["customer_id"].isin(ids)]
    g = mine.groupby("customer_id")
    rate = g["margin"].sum() / g["amount"].sum()
    return rate.reindex(ids).fillna(0.4).to_numpy(dtype=float)
