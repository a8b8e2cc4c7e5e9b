"""Benchmark: crm_analytics.customer_summary vs lifetimes' summary_data_from_transaction_data.

Simulates a shop (default 1,000,000 customers, about 6 million orders), checks that both
give the same per-customer numbers, then prints the median time of each, their ratio
and the peak memory traced during one call of each.

    /work/venv/bin/python benchmarks/bench_summary.py            # 1M customers
    /work/venv/bin/python benchmarks/bench_summary.py --n 100000 --repeat 7
    /work/venv/bin/python benchmarks/bench_summary.py --cohorts  # also time cohort tables
    /work/venv/bin/python benchmarks/bench_summary.py --n 300000 --id-shapes

``--id-shapes`` also times the summary with the customer ids rewritten one-to-one in the
shapes shops have: 16 digits (Taobao/JD numbers, the simulator's), ``c123``, Taobao
nicknames (often Chinese, 买家会员名) and e-mails (Shopify). Each run starts from the
validated orders in a fresh ``PreparedOrders``, so the id encoding is timed; lifetimes
runs on the same ids in the same run.

Orders come from :func:`crm_analytics.simulate.simulate_shop` (BG/NBD purchases and
dropout, no campaigns, ``alpha=6`` for about six orders per customer), or from the small
Pareto/NBD generator below with ``--generator simple`` (also used when the simulator is
not available).
Both sides start from validated orders; validation is timed separately since lifetimes
does no validation. lifetimes is called as in the BG/NBD paper: one purchase occasion per
calendar day, ``freq="D"``. It is slow, so it runs once when one run takes over 5 s.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd

from crm_analytics.orders.encode import PreparedOrders
from crm_analytics.orders.validate import validate_orders
from crm_analytics.summary import customer_summary

COMPARED = ("frequency", "recency", "T", "monetary_value")

#: Customer id shapes of :func:`with_id_shape`.
ID_SHAPES = ("digits", "c123", "nickname", "email")
_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡")
_GIVEN = list("小明红强伟芳娜敏静丽军磊洋勇艳杰娟涛超秀霞平刚桂英华玉兰萍梅鹏飞宇浩然子轩梓涵欣怡诗雨晨阳")
_WORDS = ("tb", "jd", "love", "cat", "sun", "moon", "tea", "happy", "star", "baby")
_DOMAINS = ("qq.com", "163.com", "gmail.com", "126.com", "outlook.com", "example.com")


def with_id_shape(orders: pd.DataFrame, shape: str, seed: int = 0) -> pd.DataFrame:
    """``orders`` with each customer id replaced one-to-one by an id of ``shape``.

    ``"digits"``: unchanged (the simulator's 16-digit numbers); ``"c123"``: "c" and a
    number; ``"nickname"``: Taobao-style member names, Chinese characters with a word or
    a number (``"tb王小明17"``, ``"李伟_20931"``); ``"email"``: ``"tea.20931@qq.com"``.
    """
    if shape == "digits":
        return orders
    codes, uniques = pd.factorize(orders["customer_id"])
    n = len(uniques)
    rng = np.random.default_rng(seed)
    if shape == "c123":
        new = [f"c{i}" for i in rng.permutation(n)]
    elif shape == "nickname":
        s, g1, g2 = (rng.choice(names, n) for names in (_SURNAMES, _GIVEN, _GIVEN))
        w = rng.choice(_WORDS, n)
        new = [f"{w[i]}{s[i]}{g1[i]}{g2[i]}{i}" if i % 3 == 0 else f"{s[i]}{g1[i]}{g2[i]}_{i}"
               for i in range(n)]
    elif shape == "email":
        w, d = rng.choice(_WORDS, n), rng.choice(_DOMAINS, n)
        new = [f"{w[i]}.{i}@{d[i]}" for i in range(n)]
    else:
        raise ValueError(f"shape must be one of {ID_SHAPES}; got {shape!r}")
    ids = np.asarray(new, dtype=object)[codes]
    return orders.assign(customer_id=pd.array(ids, dtype=orders["customer_id"].dtype))


def time_id_shapes(orders: pd.DataFrame, repeat: int, shapes=ID_SHAPES) -> list[dict]:
    """Per id shape: median seconds of ``customer_summary`` (ids encoded in each run) and
    of lifetimes' summary on the same orders, both checked equal."""
    rows = []
    for shape in shapes:
        shaped = with_id_shape(orders, shape)
        ours_times, ours = timed(lambda o=shaped: customer_summary(PreparedOrders(o)), repeat,
                                 slow=float("inf"))
        ref_times, ref = timed(lambda o=shaped: lifetimes_summary(o), 1)
        check_equal(ours, ref)
        rows.append({"shape": shape, "example": str(shaped["customer_id"].iloc[0]),
                     "seconds": statistics.median(ours_times),
                     "lifetimes_seconds": statistics.median(ref_times)})
        del shaped, ours, ref
    digits = next((r["seconds"] for r in rows if r["shape"] == "digits"), None)
    for r in rows:
        r["vs_digits"] = r["seconds"] / digits if digits else None
        r["speed_up"] = r["lifetimes_seconds"] / r["seconds"]
    return rows


def simple_orders(n_customers: int, seed: int) -> pd.DataFrame:
    """A vectorised Pareto/NBD shop: Poisson purchases during an exponential lifetime."""
    rng = np.random.default_rng(seed)
    horizon = 730.0
    first = rng.uniform(0, horizon, n_customers)
    lam = rng.gamma(0.5, 1 / 25.0, n_customers)  # purchases per day while alive
    lifetime = rng.exponential(1 / rng.gamma(0.6, 1 / 300.0, n_customers))  # days
    window = np.minimum(lifetime, horizon - first)
    n_repeat = rng.poisson(lam * window)
    cust = np.repeat(np.arange(n_customers), n_repeat)
    times = first[cust] + rng.uniform(0, 1, len(cust)) * window[cust]
    cust = np.concatenate([np.arange(n_customers), cust])
    times = np.concatenate([first, times])
    ids = rng.choice(9 * 10**15, size=n_customers, replace=False) + 10**15
    return pd.DataFrame(
        {
            "customer_id": ids.astype(str)[cust],
            "order_id": (np.arange(len(cust)) + 3 * 10**18).astype(str),
            "order_date": np.datetime64("2024-01-01", "s")
            + (times * 86400).astype("timedelta64[s]"),
            "amount": np.round(rng.gamma(3.5, 40.0, len(cust)), 2),
        }
    )


def make_orders(n_customers: int, seed: int, generator: str) -> tuple[pd.DataFrame, str]:
    if generator == "shop":
        try:
            from crm_analytics.simulate import simulate_shop
        except ImportError:
            generator = "simple"
        else:
            shop = simulate_shop(
                n_customers, seed=seed, params={"alpha": 6.0, "campaigns": []}
            )
            return shop.orders, "simulate_shop(alpha=6, no campaigns)"
    return simple_orders(n_customers, seed), "simple Pareto/NBD generator"


def lifetimes_summary(orders: pd.DataFrame) -> pd.DataFrame:
    """lifetimes' summary; its global side effects on import are undone."""
    saved = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes.utils import summary_data_from_transaction_data

        result = summary_data_from_transaction_data(
            orders, "customer_id", "order_date", monetary_value_col="amount", freq="D"
        )
    warnings.filters[:] = saved
    return result


def timed(fn, repeat: int, slow: float = 5.0) -> tuple[list[float], object]:
    """Run ``fn`` up to ``repeat`` times (once when the first run exceeds ``slow`` s)."""
    times, result = [], None
    for i in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        if i == 0 and times[0] > slow:
            break
    return times, result


def peak_mib(fn) -> float:
    """Peak memory traced by tracemalloc during one call (numpy buffers included)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def check_equal(ours: pd.DataFrame, ref: pd.DataFrame) -> float:
    """Raise unless both summaries agree; return the largest relative difference."""
    assert len(ours) == len(ref), (len(ours), len(ref))
    ref = ref.loc[ours["customer_id"].to_numpy()]
    np.testing.assert_array_equal(ours["frequency"], ref["frequency"].astype(np.int64))
    worst = 0.0
    for col in COMPARED[1:]:
        a, b = ours[col].to_numpy(float), ref[col].to_numpy(float)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9, err_msg=col)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-300)
        worst = max(worst, float(np.nanmax(np.where(b == 0, np.abs(a), rel))))
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="customers to simulate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5, help="runs of customer_summary")
    parser.add_argument("--generator", choices=["shop", "simple"], default="shop")
    parser.add_argument("--cohorts", action="store_true",
                        help="also time the cohort tables (no reference implementation)")
    parser.add_argument("--id-shapes", action="store_true",
                        help="also time the summary on digit, c123, nickname and e-mail ids")
    args = parser.parse_args(argv)

    print(f"python {platform.python_version()}, pandas {pd.__version__}, numpy "
          f"{np.__version__}, {platform.machine()}")
    start = time.perf_counter()
    raw, source = make_orders(args.n, args.seed, args.generator)
    print(f"simulated {args.n:,} customers, {len(raw):,} orders with {source} in "
          f"{time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    orders = validate_orders(raw)
    print(f"validate_orders: {time.perf_counter() - start:.2f} s (not in the comparison)")
    del raw

    ref_times, ref = timed(lambda: lifetimes_summary(orders), args.repeat)
    our_times, ours = timed(lambda: customer_summary(orders), args.repeat, slow=float("inf"))
    worst = check_equal(ours, ref)
    print(f"equal: frequency identical; recency, T, monetary_value max relative difference "
          f"{worst:.1e} ({len(ours):,} customers)")
    del ref

    ours_med = statistics.median(our_times)
    ref_med = statistics.median(ref_times)
    print(f"customer_summary : median {ours_med:7.2f} s of {len(our_times)} runs "
          f"({', '.join(f'{t:.2f}' for t in our_times)})")
    print(f"lifetimes summary: median {ref_med:7.2f} s of {len(ref_times)} run(s)")
    print(f"ratio lifetimes / customer_summary: {ref_med / ours_med:.1f}x")

    ours_mem = peak_mib(lambda: customer_summary(orders))
    ref_mem = peak_mib(lambda: lifetimes_summary(orders))
    print(f"peak traced memory: customer_summary {ours_mem:,.0f} MiB, lifetimes "
          f"{ref_mem:,.0f} MiB (input orders: "
          f"{orders.memory_usage(deep=True).sum() / 2**20:,.0f} MiB)")

    if args.id_shapes:
        print("customer id shapes (ids encoded in each run; lifetimes on the same ids):")
        for r in time_id_shapes(orders, args.repeat):
            print(f"  {r['shape']:9s} e.g. {r['example']!r:24s} customer_summary "
                  f"{r['seconds']:6.2f} s ({r['vs_digits']:.2f}x digit ids), lifetimes "
                  f"{r['lifetimes_seconds']:6.2f} s: {r['speed_up']:.1f}x faster")

    if args.cohorts:
        from crm_analytics.cohorts import (
            cohort_repurchase,
            cohort_revenue,
            days_to_second_order,
            repurchase_rate,
        )

        calls = {
            "cohort_repurchase(how='on')": lambda: cohort_repurchase(orders),
            "cohort_repurchase(how='cumulative')":
                lambda: cohort_repurchase(orders, how="cumulative"),
            "cohort_repurchase(period='W')": lambda: cohort_repurchase(orders, period="W"),
            "cohort_revenue()": lambda: cohort_revenue(orders),
            "repurchase_rate(within_days=90)": lambda: repurchase_rate(orders, within_days=90),
            "days_to_second_order()": lambda: days_to_second_order(orders),
        }
        for name, fn in calls.items():
            times, _ = timed(fn, max(3, args.repeat // 2), slow=float("inf"))
            print(f"{name:38s}: median {statistics.median(times):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
