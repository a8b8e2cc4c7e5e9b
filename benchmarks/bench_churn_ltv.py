"""Benchmark: churn + LTV on simulated customers, crm-analytics vs plain lifetimes.

Both sides start from the same customer summary (frequency, recency, T in days,
monetary_value) and compute: the BG/NBD fit, P(alive), expected orders in 90 days, the
Gamma-Gamma fit and a 12-month discounted LTV.

- crm-analytics: ``fit_churn_model`` (compressed fit) + ``churn_scores`` +
  ``fit_spend_model`` + ``predict_ltv(days_per_month=30)`` (lifetimes' month for daily
  data, so the numbers are comparable).
- lifetimes: ``BetaGeoFitter().fit`` on every customer (uncompressed),
  ``conditional_probability_alive``, ``conditional_expected_number_of_purchases_up_to_time``,
  ``GammaGammaFitter().fit`` and ``customer_lifetime_value(..., freq="D")``.

Results are checked equal first, then each side is timed ``--repeat`` times; medians and
ratios are printed. Not part of the test suite (minutes at 1M customers)::

    python benchmarks/bench_churn_ltv.py --customers 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from crm_analytics import _lifetimes, customer_summary
from crm_analytics.churn import churn_scores, fit_churn_model
from crm_analytics.ltv import fit_spend_model, predict_ltv
from crm_analytics.simulate import simulate_shop

HORIZON_DAYS = 90
MONTHS = 12
RATE = 0.01


def ours(summary, *, standard_errors: bool = True):
    times = {}
    t0 = time.perf_counter()
    churn = fit_churn_model(summary, standard_errors=standard_errors)
    t1 = time.perf_counter()
    scores = churn_scores(churn, summary, horizon=HORIZON_DAYS)
    t2 = time.perf_counter()
    spend = fit_spend_model(summary, standard_errors=standard_errors)
    t3 = time.perf_counter()
    ltv = predict_ltv(summary, churn, spend, horizon_months=MONTHS,
                      monthly_discount_rate=RATE, days_per_month=30)
    t4 = time.perf_counter()
    times.update(churn_fit=t1 - t0, scores=t2 - t1, spend_fit=t3 - t2, ltv=t4 - t3)
    out = {"params": churn.params, "spend": spend.params, "p_alive": scores["p_alive"].to_numpy(),
           "expected": scores["expected_orders"].to_numpy(), "ltv": ltv["ltv"].to_numpy()}
    return times, out


def plain_lifetimes(summary):
    lt = _lifetimes.import_lifetimes()
    f, r, T, m = (summary[c] for c in ("frequency", "recency", "T", "monetary_value"))
    repeat = f > 0
    times = {}
    with _lifetimes.quiet():
        t0 = time.perf_counter()
        bgf = lt.BetaGeoFitter().fit(f, r, T)
        t1 = time.perf_counter()
        p_alive = bgf.conditional_probability_alive(f, r, T)
        expected = bgf.conditional_expected_number_of_purchases_up_to_time(HORIZON_DAYS, f, r, T)
        t2 = time.perf_counter()
        ggf = lt.GammaGammaFitter().fit(f[repeat], m[repeat])
        t3 = time.perf_counter()
        clv = ggf.customer_lifetime_value(bgf, f, r, T, m, time=MONTHS, discount_rate=RATE,
                                          freq="D")
        t4 = time.perf_counter()
    times.update(churn_fit=t1 - t0, scores=t2 - t1, spend_fit=t3 - t2, ltv=t4 - t3)
    out = {"params": dict(bgf.params_), "spend": {"p": ggf.params_["p"], "q": ggf.params_["q"],
                                                  "gamma": ggf.params_["v"]},
           "p_alive": np.asarray(p_alive), "expected": np.asarray(expected),
           "ltv": clv.to_numpy()}
    return times, out


def check_equal(a: dict, b: dict) -> None:
    for key in ("params", "spend"):
        for k, v in a[key].items():
            rel = abs(v / b[key][k] - 1)
            print(f"  {key}.{k}: ours {v:.6g}, lifetimes {b[key][k]:.6g} (rel diff {rel:.1e})")
            assert rel < 1e-4, (key, k)
    for key in ("p_alive", "expected", "ltv"):
        rel = np.max(np.abs(a[key] - b[key]) / np.maximum(np.abs(b[key]), 1e-12))
        print(f"  {key}: max rel diff {rel:.1e}")
        assert rel < 1e-3, key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    t0 = time.perf_counter()
    shop = simulate_shop(args.customers, seed=args.seed, params={"campaigns": []})
    summary = customer_summary(shop.orders, as_of=shop.end)
    # lifetimes values revenue: leave the margins out so both LTVs are in revenue
    summary = summary.drop(columns="total_margin")
    assert summary.attrs["time_unit"] == "D"
    print(f"{args.customers:,} customers, {len(shop.orders):,} orders, summary in "
          f"{time.perf_counter() - t0:.1f} s; repeat customers: "
          f"{int((summary['frequency'] > 0).sum()):,}")
    _lifetimes.import_lifetimes()

    ours_times, ours_out = ours(summary)  # warm-up run, also used for the check
    ref_times, ref_out = plain_lifetimes(summary)
    print("check (ours vs lifetimes):")
    check_equal(ours_out, ref_out)

    fast_times, fast_out = ours(summary, standard_errors=False)
    for key in ("params", "spend"):  # the same optimiser runs, bit for bit
        assert fast_out[key] == ours_out[key], key
    for key in ("p_alive", "expected", "ltv"):
        assert np.array_equal(fast_out[key], ours_out[key]), key

    runs_ours, runs_ref, runs_fast = [ours_times], [ref_times], [fast_times]
    for _ in range(args.repeat - 1):
        runs_ours.append(ours(summary)[0])
        runs_fast.append(ours(summary, standard_errors=False)[0])
        runs_ref.append(plain_lifetimes(summary)[0])

    def median(runs, key):
        if key == "total":
            return statistics.median(sum(r.values()) for r in runs)
        return statistics.median(r[key] for r in runs)

    print(f"\nmedian of {args.repeat} runs (seconds):")
    print(f"{'step':<12}{'crm-analytics':>15}{'lifetimes':>12}{'speed-up':>10}")
    for key in ("churn_fit", "scores", "spend_fit", "ltv", "total"):
        a, b = median(runs_ours, key), median(runs_ref, key)
        print(f"{key:<12}{a:>15.2f}{b:>12.2f}{b / a:>9.1f}x")
    print("without standard errors (standard_errors=False: no Hessian, same parameters):")
    for key in ("churn_fit", "spend_fit", "total"):
        a, b = median(runs_fast, key), median(runs_ref, key)
        print(f"{key:<12}{a:>15.2f}{b:>12.2f}{b / a:>9.1f}x")


if __name__ == "__main__":
    main()
