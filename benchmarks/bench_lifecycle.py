"""Benchmark: kpi_board and lifecycle (24 monthly periods) at 1M customers.

Simulates a shop with :func:`crm_analytics.simulate.simulate_shop` in the shape of
``bench_summary.py`` (BG/NBD, no campaigns, ``alpha=6``: about 6.5 orders per customer
over 2024-01-01..2025-12-31, i.e. 24 months), validates the orders once, then times

- ``kpi_board(prepared, period="M")`` and ``period="Y"``;
- ``lifecycle(prepared, freq="M")`` (24 monthly periods);
- ``lifecycle_kpis`` and, with ``--duckdb``, both on a DuckDB relation.

"cold" runs start from a fresh ``PreparedOrders`` (customer-id encoding and day numbers
included); "warm" runs reuse one (what a report or notebook does). Targets (issue 16):
kpi_board <= 2 s, lifecycle <= 4 s. Not part of the test suite.

    python benchmarks/bench_lifecycle.py              # 1M customers
    python benchmarks/bench_lifecycle.py --n 100000 --repeat 3
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

from crm_analytics.membership import kpi_board, lifecycle, lifecycle_kpis
from crm_analytics.orders.encode import PreparedOrders
from crm_analytics.orders.validate import validate_orders
from crm_analytics.simulate import simulate_shop

TARGETS = {"kpi_board(M)": 2.0, "kpi_board(Y)": 2.0, "lifecycle(M)": 4.0}


def _time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="customers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duckdb", action="store_true", help="also time a DuckDB relation")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    shop = simulate_shop(args.n, seed=args.seed, params={"alpha": 6.0, "campaigns": []})
    t_sim = time.perf_counter() - t0
    t0 = time.perf_counter()
    orders = validate_orders(shop.orders)
    t_val = time.perf_counter() - t0
    print(f"python {platform.python_version()}, numpy {np.__version__}; "
          f"{args.n:,} customers, {len(orders):,} orders "
          f"(simulated in {t_sim:.1f} s, validated in {t_val:.1f} s)")

    warm = PreparedOrders(orders)
    calls = {
        "kpi_board(M)": lambda p: kpi_board(p, period="M"),
        "kpi_board(Y)": lambda p: kpi_board(p, period="Y"),
        "lifecycle(M)": lambda p: lifecycle(p, freq="M"),
        "lifecycle_kpis(M)": lambda p: lifecycle_kpis(p, freq="M"),
    }
    stages = lifecycle(warm)
    print(f"lifecycle rows: {len(stages):,} over {stages['period'].nunique()} periods")
    print(f"{'call':<20}{'cold s':>9}{'warm s':>9}{'target s':>10}")
    for name, call in calls.items():
        cold = _time(lambda call=call: call(PreparedOrders(orders)), args.repeat)
        hot = _time(lambda call=call: call(warm), args.repeat)
        target = TARGETS.get(name)
        mark = "" if target is None else f"{target:>10.1f}" + (
            "  ok" if cold <= target else "  SLOW")
        print(f"{name:<20}{cold:>9.2f}{hot:>9.2f}{mark}")
    if args.duckdb:
        import duckdb

        rel = duckdb.from_df(orders[["customer_id", "order_id", "order_date", "amount"]])
        for name, call in (("kpi_board(M) duckdb", calls["kpi_board(M)"]),
                           ("lifecycle(M) duckdb", calls["lifecycle(M)"])):
            print(f"{name:<20}{_time(lambda call=call: call(rel), args.repeat):>9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
