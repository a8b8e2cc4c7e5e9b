"""Benchmark: payment_timing and repurchase_cycles at shop scale.

Simulates a shop (default 1,000,000 customers, two years, ``alpha=6`` for about 6.5M
orders), adds created/paid times, unpaid orders and products with
:func:`crm_analytics.simulate_reminders.simulate_reminders`, then

1. times :func:`payment_timing` on every created order (paid and unpaid; target 2 s);
2. times :func:`repurchase_cycles` on the prepared orders (validated once, untimed, as
   a pipeline does; target 3 s), and once on the raw DataFrame (validation included);
3. checks both against a plain pandas groupby computation on a subsample of customers.

    /work/main/.venv/bin/python benchmarks/bench_reminders.py
    /work/main/.venv/bin/python benchmarks/bench_reminders.py --n 100000

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import pandas as pd

from crm_analytics.orders.encode import prepare_orders
from crm_analytics.reminders import payment_timing, repurchase_cycles
from crm_analytics.simulate import simulate_shop
from crm_analytics.simulate_reminders import simulate_reminders


def timed(fn, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def naive_timing(orders: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per hour with a pandas groupby (orders created within 24 h of as_of left out)."""
    o = orders[orders["created_at"] <= as_of - pd.Timedelta(hours=24)]
    d = (o["paid_at"] - o["created_at"]).dt.total_seconds() / 60
    g = pd.DataFrame({"hour": o["created_at"].dt.hour, "paid": d.notna(), "d": d,
                      "w2": d <= 120}).groupby("hour")
    return pd.DataFrame({"created": g.size(), "paid_share": g["paid"].mean(),
                         "paid_within_2h": g["w2"].mean(), "median": g["d"].median()})


def naive_cycles(orders: pd.DataFrame) -> pd.DataFrame:
    kept = orders[orders["status"] == "paid"]
    occ = (kept.assign(day=kept["order_date"].dt.normalize())
           .groupby(["customer_id", "product", "day"], as_index=False)["quantity"].sum()
           .sort_values(["customer_id", "product", "day"]))
    g = occ.groupby(["customer_id", "product"])
    occ["u"] = g["day"].diff().dt.days / g["quantity"].shift()
    return occ.dropna(subset=["u"]).groupby("product")["u"].agg(["size", "median"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sub", type=int, default=20_000, help="customers checked naively")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--consumer-share", type=float, default=0.03)
    args = parser.parse_args()

    print(f"python {platform.python_version()}, {os.cpu_count()} cpus, "
          f"load average {os.getloadavg()[0]:.2f}")
    t0 = time.perf_counter()
    shop = simulate_shop(args.n, seed=args.seed, params={"alpha": 6.0, "campaigns": []})
    rs = simulate_reminders(shop, consumer_share=args.consumer_share, seed=args.seed)
    orders = rs.orders
    n_paid = int((orders["status"] == "paid").sum())
    print(f"simulated {args.n:,} customers: {len(orders):,} created orders, "
          f"{n_paid:,} paid, {orders['product'].nunique()} products "
          f"({time.perf_counter() - t0:.0f} s)")

    times, timing = timed(lambda: payment_timing(orders), args.repeat)
    print(f"payment_timing (by hour), {len(orders):,} created orders: "
          f"median {statistics.median(times):.2f} s (runs {[round(t, 2) for t in times]}; "
          "target 2 s)")
    times_w, _ = timed(lambda: payment_timing(orders, by="weekday"), 1)
    print(f"payment_timing (by weekday): {times_w[0]:.2f} s")

    start = time.perf_counter()
    prepared = prepare_orders(orders)
    print(f"prepare_orders (untimed for the target): {time.perf_counter() - start:.2f} s")
    times, cycles = timed(lambda: repurchase_cycles(prepared), args.repeat)
    print(f"repurchase_cycles on prepared orders ({len(prepared.orders):,} orders): median "
          f"{statistics.median(times):.2f} s (runs {[round(t, 2) for t in times]}; target 3 s)")
    start = time.perf_counter()
    repurchase_cycles(orders)
    print(f"repurchase_cycles on the raw DataFrame (validation included): "
          f"{time.perf_counter() - start:.2f} s")

    rng = np.random.default_rng(0)
    ids = orders["customer_id"].drop_duplicates().to_numpy()
    sub = orders[orders["customer_id"].isin(rng.choice(ids, size=min(args.sub, len(ids)),
                                                       replace=False))]
    ours = payment_timing(sub, as_of=timing.as_of).table.set_index("hour")
    ref = naive_timing(sub, timing.as_of)
    assert (ours.loc[ref.index, "created"] == ref["created"]).all()
    for a, b in (("paid_share", "paid_share"), ("paid_within_2h", "paid_within_2h"),
                 ("median_minutes_to_pay", "median")):
        assert np.allclose(ours.loc[ref.index, a], ref[b], equal_nan=True), a
    ours_c = repurchase_cycles(sub, min_repeats=1).table.set_index("product")
    ref_c = naive_cycles(sub)
    assert (ours_c.loc[ref_c.index, "repeat_purchases"] == ref_c["size"]).all()
    assert np.allclose(ours_c.loc[ref_c.index, "cycle_days_per_unit"], ref_c["median"])
    print(f"checked against pandas groupby on {args.sub:,} customers: equal")
    truth = rs.products.set_index("product")["true_cycle_days_per_unit"].dropna()
    est = cycles.table.set_index("product")["cycle_days_per_unit"]
    print("cycles per unit, estimate vs truth: "
          + ", ".join(f"{p} {est[p]:.1f}/{t:.0f}" for p, t in truth.items()))
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
