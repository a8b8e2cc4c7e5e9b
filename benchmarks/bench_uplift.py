"""fit_uplift and send_list at scale, against a naive pandas feature computation.

Run: ``python benchmarks/bench_uplift.py [--customers 1000000] [--campaigns 10]``.

A shop of ``--customers`` customers (simulate_shop) gets ``--campaigns`` past coupon
campaigns with member-level effects (simulate_uplift_campaigns) whose audiences add up
to about as many rows as there are customers (each audience: members with an order
before the start, sampled), 30% held out. Prints:

- the history features of all audience rows, ours (one sort, binary searches) against
  the naive pandas way (filter the orders before each start, group by customer), checked
  equal first, and the ratio;
- ``fit_uplift`` (T-learner, 3 folds) end to end;
- ``send_list`` for every customer of the shop.

Targets (issue 17): ``fit_uplift`` on 10 campaigns with 1M audience rows in 60 s or
less, ``send_list`` for 1M members in 5 s or less. Not a test.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

from crm_analytics._core.dates import EPOCH
from crm_analytics.orders.encode import prepare_orders
from crm_analytics.simulate import simulate_shop
from crm_analytics.simulate_uplift import simulate_uplift_campaigns
from crm_analytics.uplift import fit_uplift, send_list
from crm_analytics.uplift.features import OrderHistory, member_features


def naive_features(orders: pd.DataFrame, campaigns: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (_cid, start), audience in campaigns.groupby(["campaign_id", "start"], sort=False):
        before = orders[orders["order_date"] < start]
        g = before.groupby("customer_id").agg(n=("amount", "size"), spend=("amount", "sum"),
                                              last=("order_date", "max"))
        f = g.reindex(audience["customer_id"])
        out.append(pd.DataFrame({
            "frequency": f["n"].fillna(0).to_numpy(),
            "spend": f["spend"].fillna(0).to_numpy(),
            "recency_days": (start - f["last"].dt.normalize()).dt.days.to_numpy(),
        }))
    return pd.concat(out, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=10)
    parser.add_argument("--rows", type=int, default=None,
                        help="audience rows over all campaigns (default: --customers)")
    args = parser.parse_args()
    rows = args.rows or args.customers
    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    t = time.perf_counter()
    base = simulate_shop(args.customers, seed=3, params={"alpha": 6.0, "campaigns": []})
    shop = simulate_uplift_campaigns(base, n_campaigns=args.campaigns,
                                     audience_size=rows // args.campaigns, seed=1)
    orders = shop.orders[["customer_id", "order_id", "order_date", "amount", "margin"]]
    campaigns = shop.campaigns[["campaign_id", "customer_id", "group", "start"]]
    print(f"{len(orders):,} orders, {len(campaigns):,} audience rows in {args.campaigns} "
          f"campaigns (made in {time.perf_counter() - t:.0f} s)")
    prepared = prepare_orders(orders)

    t = time.perf_counter()
    history = OrderHistory.from_prepared(prepared)
    days = (campaigns["start"].to_numpy(dtype="datetime64[D]") - EPOCH).astype(np.int64)
    ours = member_features(history, history.codes_of(campaigns["customer_id"]), days)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    ref = naive_features(orders, campaigns)
    t_ref = time.perf_counter() - t
    # same rows in the same (campaign, audience) order: campaigns are grouped in order
    np.testing.assert_allclose(ours["frequency"], ref["frequency"])
    np.testing.assert_allclose(ours["spend"], ref["spend"], atol=1e-3)  # running sums
    has = ref["frequency"] > 0
    np.testing.assert_allclose(ours["recency_days"][has], ref["recency_days"][has])
    print(f"history features: ours {t_ours:.2f} s, naive pandas {t_ref:.2f} s, "
          f"ratio {t_ref / t_ours:.1f}x (equal)")

    t = time.perf_counter()
    model = fit_uplift(prepared, campaigns, metric="margin", learner="t")
    t_fit = time.perf_counter() - t
    print(f"fit_uplift (t, 3 folds): {t_fit:.1f} s (target <= 60 s); "
          f"{model.qini.summary()}")

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = send_list(prepared, model, as_of=orders["order_date"].max(),
                           cost_per_contact=0.05, holdout=0.1, seed=1)
    t_send = time.perf_counter() - t
    print(f"send_list over {len(prepared.customer_ids):,} members: {t_send:.2f} s "
          f"(target <= 5 s); {len(result):,} selected")


if __name__ == "__main__":
    main()
