"""Benchmark: crm_analytics.sleeping_flow vs a naive day-by-day pandas computation.

Simulates a shop (default 1,000,000 customers, two years 2024-2025), then

1. on a random subsample of customers (default 20,000), computes the daily flow both
   with :func:`crm_analytics.sleeping.sleeping_flow` and with a naive reference that
   loops over the days and recomputes every member's last order with a pandas groupby;
   checks that every column is equal, and prints both times and their ratio;
2. on all customers, prints the median time of ``sleeping_flow`` over the two years
   and checks its last day against :func:`member_status` (an independent code path
   through :func:`customer_summary`) on three days.

    /work/venv/bin/python benchmarks/bench_sleeping.py
    /work/venv/bin/python benchmarks/bench_sleeping.py --n 100000 --sub 5000

Orders come from :func:`crm_analytics.simulate.simulate_shop` (``alpha=6`` for about
six orders per customer, no campaigns) or, with ``--generator simple`` or when the
simulator is missing, a small Pareto/NBD generator. Validation is done once, untimed.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import pandas as pd
from bench_summary import (
    make_orders,  # the same simulated shop as the summary benchmark
    timed,
)

from crm_analytics.orders.validate import validate_orders
from crm_analytics.sleeping import member_status, sleeping_flow

START, END = "2024-01-01", "2025-12-31"
COLUMNS = ["members", "active", "pre_sleep", "sleeping", "newly_sleeping", "woken"]


def naive_flow(orders: pd.DataFrame, start, end, sleep_after: int,
               remind_before: int) -> pd.DataFrame:
    """Day by day: every member's last order day up to t, by groupby, then count."""
    days = pd.DataFrame({"customer_id": orders["customer_id"],
                         "day": orders["order_date"].dt.normalize()}).drop_duplicates()
    rows, prev_last = [], None
    for t in pd.date_range(start, end):
        last = days[days["day"] <= t].groupby("customer_id")["day"].max()
        d = (t - last).dt.days
        ordered_today = d.index[d == 0]
        if prev_last is None:
            prev_last = days[days["day"] <= t - pd.Timedelta(days=1)].groupby(
                "customer_id")["day"].max()
        prev_d = (t - pd.Timedelta(days=1) - prev_last.reindex(ordered_today)).dt.days
        rows.append({
            "date": t,
            "members": len(last),
            "active": int((d < sleep_after - remind_before).sum()),
            "pre_sleep": int(((d >= sleep_after - remind_before) & (d < sleep_after)).sum()),
            "sleeping": int((d >= sleep_after).sum()),
            "newly_sleeping": int((d == sleep_after).sum()),
            "woken": int((prev_d >= sleep_after).sum()),
        })
        prev_last = last
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="customers to simulate")
    parser.add_argument("--sub", type=int, default=20_000,
                        help="customers in the subsample compared with the naive reference")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sleep-after", type=int, default=90)
    parser.add_argument("--remind-before", type=int, default=10)
    parser.add_argument("--generator", choices=["shop", "simple"], default="shop")
    args = parser.parse_args(argv)
    s, r = args.sleep_after, args.remind_before
    print(f"python {platform.python_version()}, pandas {pd.__version__}, numpy "
          f"{np.__version__}, {platform.machine()}")

    t0 = time.perf_counter()
    raw, source = make_orders(args.n, args.seed, args.generator)
    t1 = time.perf_counter()
    orders = validate_orders(raw)
    t2 = time.perf_counter()
    del raw
    print(f"orders: {len(orders):,} from {orders['customer_id'].nunique():,} customers "
          f"({source}); simulated in {t1 - t0:.1f} s, validated in {t2 - t1:.1f} s")

    # 1. subsample: equality with the naive reference, and the speed-up
    rng = np.random.default_rng(args.seed)
    ids = orders["customer_id"].unique()
    keep = rng.choice(ids, size=min(args.sub, len(ids)), replace=False)
    sub = validate_orders(orders[orders["customer_id"].isin(keep)])
    fast_t, fast = timed(lambda: sleeping_flow(sub, start=START, end=END, sleep_after=s,
                                               remind_before=r), args.repeat)
    naive_t, naive = timed(lambda: naive_flow(sub, START, END, s, r), 1)
    pd.testing.assert_frame_equal(fast[["date", *COLUMNS]], naive[["date", *COLUMNS]],
                                  check_dtype=False)
    print(f"\nsubsample of {len(keep):,} customers ({len(sub):,} orders), "
          f"{len(fast)} days: results equal")
    print(f"  sleeping_flow  median {statistics.median(fast_t):8.3f} s "
          f"({len(fast_t)} runs)")
    print(f"  naive per-day  {naive_t[0]:8.3f} s (1 run)")
    print(f"  speed-up       {naive_t[0] / statistics.median(fast_t):8.0f} x")

    # 2. all customers
    times, flow = timed(lambda: sleeping_flow(orders, start=START, end=END, sleep_after=s,
                                              remind_before=r), args.repeat)
    for day in ("2024-09-30", "2025-06-30", END):
        status = member_status(orders, as_of=day, sleep_after=s, remind_before=r)
        row = flow.set_index("date").loc[day]
        counts = status["status"].value_counts()
        assert len(status) == row["members"], day
        assert counts["sleeping"] + counts["given_up"] == row["sleeping"], day
        assert counts["pre_sleep"] == row["pre_sleep"], day
    last = flow.iloc[-1]
    print(f"\nall {args.n:,} customers, {len(flow)} days ({START} .. {END}); agrees with "
          "member_status on 3 days")
    print(f"  sleeping_flow  median {statistics.median(times):8.3f} s "
          f"(min {min(times):.3f}, {len(times)} runs)")
    print(f"  on {END}: {last['members']:,} members, {last['sleeping']:,} sleeping, "
          f"{last['pre_sleep']:,} pre-sleep; mean newly sleeping per day "
          f"{flow['newly_sleeping'].mean():,.0f}, woken {flow['woken'].mean():,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
