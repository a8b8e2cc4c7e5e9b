"""Benchmark: churn + LTV on simulated customers, crm-analytics vs lifetimes.

Two comparisons, each checked equal before it is timed, medians of ``--repeat`` runs:

1. **Fits, analytic vs lifetimes' fitter** (the same compressed rows, the same
   optimiser call): ``fit_churn_model(backend="analytic")`` (our likelihoods with
   analytic gradients on sufficient statistics, Hessian from central differences of the
   gradient) against ``fit_churn_model(backend="lifetimes")`` (lifetimes'
   ``BetaGeoFitter`` / ``ModifiedBetaGeoFitter`` with autograd), for BG/NBD and MBG/NBD,
   with and without standard errors; the same for ``fit_spend_model`` (Gamma-Gamma).
   Parameters must agree to 1e-5 and standard errors to 1e-3 (relative).
2. **End to end, against plain lifetimes** (uncompressed, one row per customer): the
   churn fit, P(alive) + expected orders in 90 days, the Gamma-Gamma fit and a 12-month
   discounted LTV. crm-analytics: ``fit_churn_model`` + ``churn_scores`` +
   ``fit_spend_model`` + ``predict_ltv``; lifetimes: ``fit``,
   ``conditional_probability_alive``,
   ``conditional_expected_number_of_purchases_up_to_time``, ``GammaGammaFitter().fit``
   and ``customer_lifetime_value`` (with lifetimes' month for the time unit, so the
   numbers are comparable).

3. **Pareto/NBD fit, ours vs lifetimes' ``ParetoNBDFitter``** in the same run, on the same
   compressed rows with weights and the same start ``(1, 1, 1, 1)`` and tolerance:
   ``fit_churn_model(model="pnbd")`` (Nelder-Mead on our likelihood, hypergeometric terms
   once per distinct ``(x, t_x)`` / ``(x, T)``) against ``backend="lifetimes"``;
   parameters must agree to 1e-6 (relative). ``--pnbd-lifetimes-customers`` fits
   lifetimes on a smaller shop when it is too slow at the full size.
4. **Intervals from parameter uncertainty** (200 parameter draws): ``churn_scores(...,
   interval=0.9)``, ``predict_ltv(..., interval=0.9)`` and ``shop_total`` (no reference).

Data: ``simulate_shop(n, seed=7, params={"campaigns": [], "r": 0.3, "alpha": 12.0})``
(about 6.3 orders per customer) and ``customer_summary(orders, time_unit=...)``. Not part
of the test suite (minutes at 1M customers)::

    python benchmarks/bench_churn_ltv.py --customers 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from crm_analytics.churn import churn_scores, fit_churn_model
from crm_analytics.fitting import lifetimes_bridge as _lifetimes
from crm_analytics.ltv import DAYS_PER_MONTH, fit_spend_model, predict_ltv
from crm_analytics.ltv.predict import shop_total
from crm_analytics.simulate import simulate_shop
from crm_analytics.summary import customer_summary

HORIZON_DAYS = 90
MONTHS = 12
RATE = 0.01
#: lifetimes' month per ``freq`` (``customer_lifetime_value``), in days
LIFETIMES_MONTH = {"D": ("D", 30.0), "W": ("W", DAYS_PER_MONTH)}
UNIT_DAYS = {"D": 1.0, "W": 7.0}


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def median(values) -> float:
    return statistics.median(values)


# --------------------------------------------------------------------------- 1. fits


def fit_cases(models):
    cases = []
    for model in models:
        for se in (True, False):
            cases.append((f"{model} fit" + ("" if se else " (no s.e.)"),
                          lambda s, b, m=model, se=se: fit_churn_model(
                              s, model=m, standard_errors=se, backend=b)))
    for se in (True, False):
        cases.append(("gamma-gamma fit" + ("" if se else " (no s.e.)"),
                      lambda s, b, se=se: fit_spend_model(s, standard_errors=se, backend=b)))
    return cases


def check_fit(name: str, ours, ref) -> None:
    worst_p = max(abs(v / ref.params[k] - 1) for k, v in ours.params.items())
    assert worst_p < 1e-5, (name, ours.params, ref.params)
    line = f"  {name:<28} params max rel diff {worst_p:.1e}"
    if not np.isnan(list(ref.standard_errors.values())[0]):
        worst_se = max(abs(v / ref.standard_errors[k] - 1)
                       for k, v in ours.standard_errors.items())
        assert worst_se < 1e-3, (name, ours.standard_errors, ref.standard_errors)
        line += f", standard errors {worst_se:.1e}"
    print(line)


def bench_fits(summary, models, repeat: int) -> None:
    print("\n1. fits on compressed rows: analytic gradient vs lifetimes' fitter (same optimiser)")
    cases = fit_cases(models)
    times = {name: {"analytic": [], "lifetimes": []} for name, _ in cases}
    for name, fit in cases:  # check first (also the warm-up)
        ours, ref = fit(summary, "analytic"), fit(summary, "lifetimes")
        check_fit(name, ours, ref)
    for _ in range(repeat):
        for name, fit in cases:
            for backend in ("analytic", "lifetimes"):
                times[name][backend].append(timed(fit, summary, backend)[0])
    print(f"\n  median of {repeat} runs (seconds), whole fit_*_model call:")
    print(f"  {'step':<28}{'analytic':>10}{'lifetimes':>11}{'speed-up':>10}")
    for name, _ in cases:
        a, b = median(times[name]["analytic"]), median(times[name]["lifetimes"])
        print(f"  {name:<28}{a:>10.2f}{b:>11.2f}{b / a:>9.1f}x")


# --------------------------------------------------------------------------- 2. end to end


def ours(summary, model: str, month_days: float):
    churn_time, churn = timed(fit_churn_model, summary, model=model)
    scores_time, scores = timed(churn_scores, churn, summary, horizon=HORIZON_DAYS)
    spend_time, spend = timed(fit_spend_model, summary)
    ltv_time, ltv = timed(predict_ltv, summary, churn, spend, horizon_months=MONTHS,
                          monthly_discount_rate=RATE, days_per_month=month_days)
    times = {"churn_fit": churn_time, "scores": scores_time, "spend_fit": spend_time,
             "ltv": ltv_time}
    out = {"params": churn.params, "spend": spend.params, "p_alive": scores["p_alive"].to_numpy(),
           "expected": scores["expected_orders"].to_numpy(), "ltv": ltv["ltv"].to_numpy()}
    return times, out


def plain_lifetimes(summary, model: str, unit: str):
    lt = _lifetimes.import_lifetimes()
    cls = lt.BetaGeoFitter if model == "bgnbd" else lt.ModifiedBetaGeoFitter
    f, r, T, m = (summary[c] for c in ("frequency", "recency", "T", "monetary_value"))
    repeat = f > 0
    horizon = HORIZON_DAYS / UNIT_DAYS[unit]
    with _lifetimes.quiet():
        t0 = time.perf_counter()
        bgf = cls().fit(f, r, T)
        t1 = time.perf_counter()
        p_alive = bgf.conditional_probability_alive(f, r, T)
        expected = bgf.conditional_expected_number_of_purchases_up_to_time(horizon, f, r, T)
        t2 = time.perf_counter()
        ggf = lt.GammaGammaFitter().fit(f[repeat], m[repeat])
        t3 = time.perf_counter()
        clv = ggf.customer_lifetime_value(bgf, f, r, T, m, time=MONTHS, discount_rate=RATE,
                                          freq=LIFETIMES_MONTH[unit][0])
        t4 = time.perf_counter()
    times = {"churn_fit": t1 - t0, "scores": t2 - t1, "spend_fit": t3 - t2, "ltv": t4 - t3}
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


def bench_end_to_end(summary, model: str, unit: str, repeat: int) -> None:
    print(f"\n2. end to end ({model}), crm-analytics vs plain lifetimes (uncompressed)")
    month_days = LIFETIMES_MONTH[unit][1]
    runs_ours, runs_ref = [], []
    times, out = ours(summary, model, month_days)  # warm-up, also used for the check
    ref_times, ref_out = plain_lifetimes(summary, model, unit)
    check_equal(out, ref_out)
    runs_ours.append(times)
    runs_ref.append(ref_times)
    for _ in range(repeat - 1):
        runs_ours.append(ours(summary, model, month_days)[0])
        runs_ref.append(plain_lifetimes(summary, model, unit)[0])

    def med(runs, keys):
        return median(sum(r[k] for k in keys) for r in runs)

    print(f"\n  median of {repeat} runs (seconds):")
    print(f"  {'step':<24}{'crm-analytics':>15}{'lifetimes':>12}{'speed-up':>10}")
    rows = [("churn_fit", ["churn_fit"]), ("scores", ["scores"]), ("spend_fit", ["spend_fit"]),
            ("ltv", ["ltv"]), ("scores + ltv", ["scores", "ltv"]),
            ("total", ["churn_fit", "scores", "spend_fit", "ltv"])]
    for label, keys in rows:
        a, b = med(runs_ours, keys), med(runs_ref, keys)
        print(f"  {label:<24}{a:>15.2f}{b:>12.2f}{b / a:>9.1f}x")


# --------------------------------------------------------------------------- 3. Pareto/NBD


def bench_pnbd(summary, lifetimes_summary=None) -> dict:
    """Pareto/NBD: our fit vs lifetimes' ParetoNBDFitter (same rows, start and tolerance).

    ``lifetimes_summary``: a smaller shop for both fits when lifetimes is too slow at
    the full size (our fit is then timed at both sizes).
    """
    print("\n3. Pareto/NBD fit on compressed rows: ours vs lifetimes' ParetoNBDFitter")
    out = {}
    ours_t, ours_fit = timed(fit_churn_model, summary, model="pnbd")
    print(f"  ours at {ours_fit.n_customers:,} customers ({ours_fit.n_patterns:,} patterns): "
          f"{ours_t:.2f} s (with standard errors); params "
          + ", ".join(f"{k}={v:.6g}" for k, v in ours_fit.params.items()))
    out["pnbd_fit"] = ours_t
    small = summary if lifetimes_summary is None else lifetimes_summary
    if lifetimes_summary is not None:
        small_t, ours_fit = timed(fit_churn_model, small, model="pnbd")
        print(f"  ours at {ours_fit.n_customers:,} customers: {small_t:.2f} s")
    ref_t, ref = timed(fit_churn_model, small, model="pnbd", backend="lifetimes")
    worst = max(abs(v / ref.params[k] - 1) for k, v in ours_fit.params.items())
    print(f"  lifetimes at {ref.n_customers:,} customers: {ref_t:.2f} s (ParetoNBDFitter fit; "
          f"the same standard-error step added); params max rel diff {worst:.1e}")
    assert worst < 1e-6, (ours_fit.params, ref.params)
    out["pnbd_lifetimes"] = ref_t
    return out


# --------------------------------------------------------------------------- 4. intervals


def bench_intervals(summary, n_draws: int = 200, repeat: int = 1) -> dict:
    """Per-customer and shop-total bounds from ``n_draws`` parameter draws."""
    print(f"\n4. intervals from parameter uncertainty ({n_draws} draws, BG/NBD)")
    churn = fit_churn_model(summary)
    spend = fit_spend_model(summary)
    cases = {
        "churn_scores": lambda: churn_scores(summary, churn_model=churn, horizon=HORIZON_DAYS),
        "churn_scores, interval": lambda: churn_scores(
            summary, churn_model=churn, horizon=HORIZON_DAYS, interval=0.9, n_draws=n_draws,
            random_state=0),
        "predict_ltv": lambda: predict_ltv(summary, churn_model=churn, spend_model=spend),
        "predict_ltv, interval": lambda: predict_ltv(
            summary, churn_model=churn, spend_model=spend, interval=0.9, n_draws=n_draws,
            random_state=0),
        "shop_total (churn)": lambda: shop_total(
            summary, churn_model=churn, horizon=HORIZON_DAYS, n_draws=n_draws, random_state=0),
        "shop_total (churn + LTV)": lambda: shop_total(
            summary, churn_model=churn, spend_model=spend, horizon=HORIZON_DAYS,
            n_draws=n_draws, random_state=0),
    }
    out = {}
    for name, fn in cases.items():
        times = [timed(fn)[0] for _ in range(repeat)]
        out[name] = median(times)
        print(f"  {name:<28}{out[name]:>8.2f} s")
    totals = shop_total(summary, churn_model=churn, spend_model=spend, horizon=HORIZON_DAYS,
                        n_draws=n_draws, random_state=0)
    print(totals.round(1).to_string(index=False))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--time-unit", choices=["D", "W"], default="W")
    parser.add_argument("--models", nargs="+", choices=["bgnbd", "mbgnbd", "pnbd"],
                        default=["bgnbd", "mbgnbd"], help="models of part 1")
    parser.add_argument("--end-to-end", nargs="*", choices=["bgnbd", "mbgnbd"],
                        default=["bgnbd"], help="models of part 2 (none: skip it)")
    parser.add_argument("--parts", nargs="+", type=int, default=[1, 2, 3, 4],
                        help="which parts to run")
    parser.add_argument("--pnbd-lifetimes-customers", type=int, default=None,
                        help="shop size of the lifetimes Pareto/NBD comparison (default: "
                             "--customers)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    shop = simulate_shop(args.customers, seed=args.seed,
                         params={"campaigns": [], "r": 0.3, "alpha": 12.0})
    summary = customer_summary(shop.orders, time_unit=args.time_unit)
    # lifetimes values revenue: leave the margins out so both LTVs are in revenue
    summary = summary.drop(columns="total_margin")
    print(f"{args.customers:,} customers, {len(shop.orders):,} orders, summary in "
          f"{time.perf_counter() - t0:.1f} s (time unit {args.time_unit}); repeat customers: "
          f"{int((summary['frequency'] > 0).sum()):,}")
    _lifetimes.import_lifetimes()
    if 1 in args.parts:
        bench_fits(summary, args.models, args.repeat)
    if 2 in args.parts:
        for model in args.end_to_end:
            bench_end_to_end(summary, model, args.time_unit, args.repeat)
    if 3 in args.parts:
        small = None
        n_small = args.pnbd_lifetimes_customers
        if n_small is not None and n_small < args.customers:
            shop = simulate_shop(n_small, seed=args.seed,
                                 params={"campaigns": [], "r": 0.3, "alpha": 12.0})
            small = customer_summary(shop.orders, time_unit=args.time_unit)
        bench_pnbd(summary, small)
    if 4 in args.parts:
        bench_intervals(summary, repeat=args.repeat)


if __name__ == "__main__":
    main()
