"""Churn as "no order in the horizon", Pareto/NBD, warnings and intervals (issue 14).

The probability formulas are checked three ways: against lifetimes' own Pareto/NBD
functions, against each other (the order-count probabilities sum to one, their mean is
the expected number of orders, n = 0 is P(no order)), and against Monte Carlo draws from
each model's own generative story.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_analytics import customer_summary, load_cdnow
from crm_analytics._core.errors import CrmDataError
from crm_analytics.churn import (
    MODELS,
    ChurnModel,
    churn_scores,
    fit_summary,
    fit_warnings,
    p_alive_at,
    p_order_count,
)
from crm_analytics.fitting import lifetimes_bridge as _lifetimes
from crm_analytics.ltv import fit_spend_model, predict_ltv
from crm_analytics.ltv.predict import shop_total
from crm_analytics.simulate import simulate_shop


@pytest.fixture(scope="module")
def weekly():
    return customer_summary(load_cdnow("sample"), as_of="1997-09-30", time_unit="W")


@pytest.fixture(scope="module")
def models(weekly):
    return {m: fit_summary(weekly, model=m) for m in MODELS}


@pytest.fixture(scope="module")
def lifetimes():
    return _lifetimes.import_lifetimes()


def _rfm(summary):
    return tuple(summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))


# --------------------------------------------------------------------------- Pareto/NBD fit


def test_pnbd_reproduces_fader_hardie_lee_on_cdnow(models):
    # Fader, Hardie & Lee (2005), "A note on implementing the Pareto/NBD model in MATLAB":
    # r = 0.5533, alpha = 10.5776, s = 0.6061, beta = 11.6650, LL = -9594.98. The
    # likelihood is flat along (s, beta): our optimum has LL -9594.9762 and beta
    # 11.6687; the published point has LL -9594.9762 too (equal to 2e-6).
    fit = models["pnbd"]
    published = {"r": 0.5533, "alpha": 10.5776, "s": 0.6061, "beta": 11.6650}
    tolerance = {"r": 2e-4, "alpha": 5e-4, "s": 3e-4, "beta": 5e-3}
    for k, v in published.items():
        assert abs(fit.params[k] - v) < tolerance[k], (k, fit.params[k])
    assert round(fit.log_likelihood, 2) == -9594.98
    assert fit.n_customers == 2357 and fit.warnings == ()
    assert all(np.isfinite(v) and v > 0 for v in fit.standard_errors.values())


def test_pnbd_fit_equals_lifetimes_fitter(weekly, models):
    ours = models["pnbd"]
    ref = fit_summary(weekly, model="pnbd", backend="lifetimes")
    for k, v in ours.params.items():
        assert abs(v / ref.params[k] - 1) < 1e-6, k
    assert ref.log_likelihood == pytest.approx(ours.log_likelihood, abs=1e-6)


def test_pnbd_likelihood_equals_lifetimes(weekly, lifetimes):
    from crm_analytics.churn import compress_rfm
    from crm_analytics.fitting.likelihoods import ParetoNBDLikelihood, time_scale

    fx, frec, fT, w, _ = compress_rfm(*_rfm(weekly))
    scale = time_scale(fT)
    lik = ParetoNBDLikelihood(fx, frec * scale, fT * scale, w)
    for params in ([0.55, 0.27, 0.6, 0.3], [1.0, 1.0, 1.0, 1.0], [0.5, 0.3, 0.6, 0.2]):
        params = np.array(params)
        ref = lifetimes.ParetoNBDFitter._negative_log_likelihood(
            params, fx.astype(int), frec * scale, fT * scale, w, 0.01)
        assert lik.objective(params, 0.01) == ref  # bitwise: Nelder-Mead takes the same path
    assert lik.objective(np.array([0.5, -1.0, 1.0, 1.0])) == np.inf


def test_pnbd_predictions_equal_lifetimes(weekly, models, lifetimes):
    fit = models["pnbd"]
    f, r, T = _rfm(weekly)
    ref = lifetimes.ParetoNBDFitter()
    ref.params_ = pd.Series(fit.params)
    np.testing.assert_allclose(fit.p_alive(f, r, T), ref.conditional_probability_alive(f, r, T),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        fit.expected_orders(13, f, r, T),
        ref.conditional_expected_number_of_purchases_up_to_time(13, f, r, T), rtol=1e-11)
    ages = np.array([1.0, 39.0])
    np.testing.assert_allclose(fit.expected_orders_new_customer(ages),
                               ref.expected_number_of_purchases_up_to_time(ages), rtol=1e-12)
    rows = np.arange(0, len(f), 97)
    for n in (0, 1, 3):
        with _lifetimes.quiet():
            want = [ref.conditional_probability_of_n_purchases_up_to_time(
                n, 13, f[i], r[i], T[i]) for i in rows]
        np.testing.assert_allclose(fit.p_order_count(n, 13, f[rows], r[rows], T[rows]), want,
                                   atol=1e-12)
    grid = fit.p_alive_matrix(max_frequency=5, T=39.0, n_recency=4)
    assert grid.shape == (6, 4) and np.nanmax(grid.to_numpy()) <= 1


def test_log_covariance_of_both_backends(weekly, models):
    ours = models["bgnbd"]
    ref = fit_summary(weekly, model="bgnbd", backend="lifetimes")
    np.testing.assert_allclose(ours.log_covariance, ref.log_covariance, rtol=2e-3, atol=1e-8)
    se = np.sqrt(np.diag(ours.log_covariance)) * np.array(list(ours.params.values()))
    np.testing.assert_allclose(se, list(ours.standard_errors.values()), rtol=1e-12)


# --------------------------------------------------------------------------- P(no order)


@pytest.mark.parametrize("model", list(MODELS))
def test_order_count_probabilities_are_consistent(weekly, models, model):
    fit = models[model]
    f, r, T = _rfm(weekly)
    probs = np.array([fit.p_order_count(n, 13.0, f, r, T) for n in range(250)])
    assert (probs >= -1e-15).all()
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-10)
    np.testing.assert_allclose(np.arange(250) @ probs, fit.expected_orders(13.0, f, r, T),
                               rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(probs[0], fit.p_no_order(13.0, f, r, T))
    # no time, no order; P(alive) ahead of time at 0 is today's
    np.testing.assert_allclose(fit.p_no_order(0.0, f, r, T), 1.0)
    np.testing.assert_allclose(fit.p_alive_at(0.0, f, r, T), fit.p_alive(f, r, T))
    assert (fit.p_alive_at(26.0, f, r, T) <= fit.p_alive(f, r, T) + 1e-12).all()


def test_bgnbd_p_no_order_formula(models, weekly):
    fit = models["bgnbd"]
    f, r, T = _rfm(weekly)
    p = fit.params
    alive = fit.p_alive(f, r, T)
    want = 1 - alive + alive * ((p["alpha"] + T) / (p["alpha"] + T + 13)) ** (p["r"] + f)
    np.testing.assert_allclose(fit.p_no_order(13, f, r, T), want, rtol=1e-13)


def test_pnbd_order_count_matches_direct_integration(models):
    from scipy.integrate import quad
    from scipy.stats import nbinom

    fit = models["pnbd"]
    r, alpha, s, beta = (fit.params[k] for k in ("r", "alpha", "s", "beta"))
    cases = [(0, 0.0, 0.5, 52.0, 1), (7, 30.0, 38.0, 13.0, 2), (2, 5.0, 38.0, 100.0, 0)]
    for x, tx, T, t, n in cases:
        a, b = alpha + T, beta + T

        def dens(u, n=n, x=x, a=a, b=b):
            return nbinom.pmf(n, r + x, a / (a + u)) * s / (b + u) * (b / (b + u)) ** s

        if_alive = nbinom.pmf(n, r + x, a / (a + t)) * (b / (b + t)) ** s + quad(
            dens, 0, t, epsabs=1e-14, epsrel=1e-12)[0]
        alive = fit.p_alive(x, tx, T)
        want = alive * if_alive + (1 - alive) * (n == 0)
        assert float(fit.p_order_count(n, t, x, tx, T)) == pytest.approx(want, abs=1e-10)


def _simulate_histories(model: str, params: dict, n: int, T: float, t: float, seed: int):
    """Histories at T and "no order in (T, T + t]" drawn from the model's own story."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    if model == "pnbd":
        mu = rng.gamma(params["s"], 1 / params["beta"], n)
        tau = rng.exponential(1 / mu)
        active = np.minimum(tau, T)
        x = rng.poisson(lam * active)
        tx = np.where(x > 0, active * rng.beta(np.maximum(x, 1), 1), 0.0)
        ahead = np.clip(np.minimum(tau, T + t) - T, 0, None)
        quiet = rng.poisson(lam * ahead) == 0
        return x, tx, quiet
    p = rng.beta(params["a"], params["b"], n)
    # repeat purchases she will make before dropping out (after the first one for MBG/NBD)
    first = 0 if model == "mbgnbd" else 1
    limit = rng.geometric(p) - 1 + first
    k = rng.poisson(lam * T)
    x = np.minimum(k, limit)
    tx = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(k - x + 1, 1)), 0.0)
    alive = k < limit
    quiet = ~alive | (rng.poisson(lam * t) == 0)
    return x, tx, quiet


@pytest.mark.parametrize("model", list(MODELS))
def test_p_no_order_matches_monte_carlo(models, model):
    fit = models[model]
    T, t = 30.0, 13.0
    x, tx, quiet = _simulate_histories(model, fit.params, 200_000, T, t, seed=3)
    pred = fit.p_no_order(t, x, tx, np.full(len(x), T))
    bins = np.minimum((pred * 10).astype(int), 9)
    for b in np.unique(bins):
        rows = bins == b
        if rows.sum() < 2000:
            continue
        se = np.sqrt(pred[rows].mean() * (1 - pred[rows].mean()) / rows.sum())
        assert abs(pred[rows].mean() - quiet[rows].mean()) < max(4 * se, 2e-3), (b, rows.sum())
    assert abs(pred.mean() - quiet.mean()) < 0.004


def test_p_no_order_is_calibrated_on_a_simulated_shop():
    # a BG/NBD shop with known truth: fit up to a cut inside the history, predict "no order
    # in the next 90 days", compare with what the simulated customers did after the cut
    shop = simulate_shop(60_000, seed=11, start="2023-01-01", end="2024-12-31",
                         params={"campaigns": [], "r": 0.5, "alpha": 40.0, "a": 0.6, "b": 3.0})
    cut, horizon = pd.Timestamp("2024-06-30"), 90
    orders = shop.orders
    summary = customer_summary(orders[orders["order_date"] <= cut], as_of=cut)
    fit = fit_summary(summary, model="bgnbd")
    scores = churn_scores(summary, churn_model=fit, horizon=horizon)
    after = orders[(orders["order_date"] > cut)
                   & (orders["order_date"] <= cut + pd.Timedelta(days=horizon))]
    quiet = ~scores["customer_id"].isin(set(after["customer_id"]))
    decile = pd.qcut(scores["p_no_order"].rank(method="first"), 10, labels=False)
    table = pd.DataFrame({"pred": scores["p_no_order"], "actual": quiet, "decile": decile})
    by = table.groupby("decile")[["pred", "actual"]].mean()
    assert (by["pred"] - by["actual"]).abs().max() < 0.02, by


# --------------------------------------------------------------------------- public functions


def test_churn_scores_of_every_model(weekly, models):
    for model, fit in models.items():
        scores = churn_scores(weekly, churn_model=fit, horizon=91)
        f, r, T = _rfm(weekly)
        np.testing.assert_allclose(scores["p_no_order"], fit.p_no_order(13.0, f, r, T),
                                   rtol=1e-12, err_msg=model)
        np.testing.assert_array_equal(scores["p_churn"], scores["p_no_order"])
        risk = np.where(scores["p_no_order"] > 0.5, "high",
                        np.where(scores["p_no_order"] > 0.2, "medium", "low"))
        assert (scores["churn_risk"].astype(str).to_numpy() == risk).all(), model


def test_p_order_count_and_p_alive_at_tables(weekly, models):
    fit = models["mbgnbd"]
    table = p_order_count(weekly, churn_model=fit, n=[0, 1, 2], horizon=91)
    assert table.columns.tolist() == ["customer_id", "n_orders", "probability"]
    assert len(table) == 3 * len(weekly)
    assert table["customer_id"].iloc[:3].tolist() == [weekly["customer_id"].iloc[0]] * 3
    scores = churn_scores(weekly, churn_model=fit, horizon=91)
    np.testing.assert_allclose(table.loc[table["n_orders"] == 0, "probability"],
                               scores["p_no_order"], rtol=1e-12)
    # the argument order (model first) works too; daily and weekly agree
    daily = customer_summary(load_cdnow("sample"), as_of="1997-09-30")
    same = p_order_count(fit, daily, n=1, horizon=91)
    np.testing.assert_allclose(same["probability"],
                               table.loc[table["n_orders"] == 1, "probability"], rtol=1e-9)
    alive = p_alive_at(weekly, churn_model=fit, days_ahead=[0, 70])
    assert alive.columns.tolist() == ["customer_id", "days_ahead", "p_alive"]
    np.testing.assert_allclose(alive["p_alive"].iloc[::2], scores["p_alive"], rtol=1e-12)
    f, r, T = _rfm(weekly)
    np.testing.assert_allclose(alive["p_alive"].iloc[1::2], fit.p_alive(f, r, T + 10),
                               rtol=1e-12)
    with pytest.raises(CrmDataError, match="'n' parameter must be a whole number"):
        p_order_count(weekly, churn_model=fit, n=1.5)
    with pytest.raises(CrmDataError, match="'churn_model' argument must be a ChurnModel"):
        p_alive_at(weekly, churn_model="model")


def test_engine_pattern_scores_carry_p_no_order(weekly, models):
    from crm_analytics.ltv.sql import pattern_scores

    fit = models["bgnbd"]
    patterns = pd.DataFrame({"frequency": [0, 2], "rec_days": [0, 213], "t_days": [60, 272],
                             "recency": [0.0, 213 / 7], "T": [60 / 7, 272 / 7], "n": [1, 1]})
    out = pattern_scores(fit, patterns, unit_days=7.0, horizon=91)
    np.testing.assert_allclose(out["p_no_order"],
                               fit.p_no_order(13.0, [0, 2], [0, 213 / 7], [60 / 7, 272 / 7]))
    np.testing.assert_array_equal(out["p_churn"], out["p_no_order"])


# --------------------------------------------------------------------------- warnings


def test_no_dropout_shop_gets_warnings():
    shop = simulate_shop(4000, seed=5, params={"campaigns": [], "a": 0.3, "b": 1e7})
    fit = fit_summary(customer_summary(shop.orders), model="bgnbd")
    assert fit.warnings, fit.params
    assert any("dropout parameters are not identified" in w for w in fit.warnings)
    assert not fit.dropout_identified
    with pytest.raises(CrmDataError, match="covariance is not positive definite"):
        churn_scores(customer_summary(shop.orders), churn_model=fit, interval=0.9)


def test_warning_rules():
    def model(**kw):
        base = dict(model="bgnbd", params={"r": 0.2, "alpha": 4.0, "a": 0.8, "b": 2.4},
                    standard_errors={"r": 0.01, "alpha": 0.3, "a": 0.2, "b": 0.5},
                    log_likelihood=-1.0, n_customers=500, n_patterns=100, time_unit="W",
                    as_of=None, penalizer=0.0, requested_penalizer=0.0, T_max=39.0,
                    n_repeat_customers=300)
        return ChurnModel(**{**base, **kw})

    assert fit_warnings(model()) == ()
    (few,) = fit_warnings(model(n_repeat_customers=33))
    assert few.startswith("Only 33 customers have a repeat purchase")
    (retry,) = fit_warnings(model(fit_notes=("attempt failed",), penalizer=0.01))
    assert "did not converge at the first attempt" in retry and "penalizer" in retry
    (bound,) = fit_warnings(model(params={"r": 0.2, "alpha": 4.0, "a": 1e-5, "b": 2.4}))
    assert "a = 1e-05 is at the edge of its range" in bound
    (rate,) = fit_warnings(model(standard_errors={"r": 0.5, "alpha": 0.3, "a": 0.2, "b": 0.5}))
    assert rate.startswith("The purchase-rate parameters are not identified: r = 0.2 has")
    fitted = model()
    more = fitted.with_warnings("The holdout error is 45%, above 30%.")
    assert more.warnings == ("The holdout error is 45%, above 30%.",)
    assert fitted.warnings == () and more.params == fitted.params
    assert more.with_warnings("The holdout error is 45%, above 30%.").warnings == more.warnings


# --------------------------------------------------------------------------- intervals


def test_churn_scores_intervals(weekly, models):
    for model, fit in models.items():
        scores = churn_scores(weekly, churn_model=fit, horizon=91, interval=0.9,
                              random_state=4)
        assert scores.columns[-4:].tolist() == ["p_no_order_lower", "p_no_order_upper",
                                                "expected_orders_lower",
                                                "expected_orders_upper"]
        for name in ("p_no_order", "expected_orders"):
            lo, hi, mid = (scores[f"{name}_lower"], scores[f"{name}_upper"], scores[name])
            assert (lo <= hi).all()
            assert ((lo <= mid + 1e-12) & (mid <= hi + 1e-12)).mean() > 0.98, (model, name)
        again = churn_scores(weekly, churn_model=fit, horizon=91, interval=0.9, random_state=4)
        pd.testing.assert_frame_equal(scores, again)
    plain = churn_scores(weekly, churn_model=models["bgnbd"], horizon=91)
    narrow = churn_scores(weekly, churn_model=models["bgnbd"], horizon=91, interval=0.5,
                          random_state=4)
    pd.testing.assert_frame_equal(plain, narrow[plain.columns])
    wide = churn_scores(weekly, churn_model=models["bgnbd"], horizon=91, interval=0.99,
                        random_state=4)
    assert (wide["p_no_order_upper"] - wide["p_no_order_lower"]).mean() > (
        narrow["p_no_order_upper"] - narrow["p_no_order_lower"]).mean()


def test_interval_errors(weekly, models):
    with pytest.raises(CrmDataError, match="'interval' parameter must be a probability"):
        churn_scores(weekly, churn_model=models["bgnbd"], interval=90)
    with pytest.raises(CrmDataError, match="'n_draws' parameter must be a whole number"):
        churn_scores(weekly, churn_model=models["bgnbd"], interval=0.9, n_draws=2)
    no_se = fit_summary(weekly, model="bgnbd", standard_errors=False)
    with pytest.raises(CrmDataError, match="fit it with standard_errors=True"):
        churn_scores(weekly, churn_model=no_se, interval=0.9)


def test_ltv_intervals_and_shop_total(weekly, models):
    fit, spend = models["bgnbd"], fit_spend_model(weekly)
    ltv = predict_ltv(weekly, churn_model=fit, spend_model=spend, interval=0.9, random_state=2)
    plain = predict_ltv(weekly, churn_model=fit, spend_model=spend)
    pd.testing.assert_frame_equal(plain, ltv[plain.columns])
    assert ((ltv["ltv_lower"] <= ltv["ltv"] + 1e-9) & (ltv["ltv"] <= ltv["ltv_upper"] + 1e-9)
            ).mean() > 0.98
    totals = shop_total(weekly, churn_model=fit, spend_model=spend, horizon=91,
                        random_state=2).set_index("total")
    assert totals.index.tolist() == ["customers_without_order", "expected_orders",
                                     "ltv_expected_orders", "expected_revenue", "ltv"]
    scores = churn_scores(weekly, churn_model=fit, horizon=91)
    assert totals.loc["customers_without_order", "estimate"] == pytest.approx(
        scores["p_no_order"].sum())
    assert totals.loc["expected_orders", "estimate"] == pytest.approx(
        scores["expected_orders"].sum())
    assert totals.loc["ltv", "estimate"] == pytest.approx(plain["ltv"].sum())
    assert (totals["lower"] < totals["estimate"]).all()
    assert (totals["estimate"] < totals["upper"]).all()
    # a shop total's bounds are narrower than the sum of the customers' bounds
    assert totals.loc["ltv", "upper"] - totals.loc["ltv", "lower"] < (
        ltv["ltv_upper"] - ltv["ltv_lower"]).sum() + 1e-9


def test_ltv_interval_equals_exact_draws(weekly, models):
    # the draws' expected orders are interpolated across ages: check against the exact
    # discounted-orders rule evaluated for each of the same draws
    from crm_analytics.ltv.rules import discounted_orders

    for model in ("bgnbd", "pnbd"):
        fit = models[model]
        spend = fit_spend_model(weekly)
        got = predict_ltv(weekly, churn_model=fit, spend_model=spend, interval=0.8,
                          n_draws=50, random_state=9)
        f, r, T = _rfm(weekly)
        draws = fit.sample_params(50, 9)
        disc = np.array([discounted_orders(one, f, T, one.p_alive(f, r, T))[1] for one in (
            fit.with_params(d) for d in draws)])
        lower, upper = np.quantile(disc, [0.1, 0.9], axis=0)
        factor = got["expected_spend_per_order"]  # no margin: LTV is on revenue
        np.testing.assert_allclose(got["ltv_lower"], lower * factor, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(got["ltv_upper"], upper * factor, rtol=1e-9, atol=1e-9)


def test_bgnbd_with_a_plus_b_below_one_scores_one_time_buyers():
    """2F1 is negative when a + b < 1 and x = 0; expected orders must stay right (checked
    against a simulation of the model's own story), never NaN."""
    import dataclasses

    from crm_analytics import customer_summary, fit_churn_model, load_cdnow

    model = fit_churn_model(customer_summary(load_cdnow("sample"), time_unit="W"))
    r, alpha, a, b = 0.239, 4.37, 0.0897, 0.797
    odd = dataclasses.replace(model, params={"r": r, "alpha": alpha, "a": a, "b": b})
    x, T, t = 0.0, 30.0, 13.0
    got = float(odd.expected_orders_if_alive(t, np.array([x]), np.array([T]))[0])
    rng = np.random.default_rng(0)
    n = 200_000
    lam = rng.gamma(r + x, 1 / (alpha + T), n)
    p = rng.beta(a, b + x, n)
    count, clock, alive = np.zeros(n), np.zeros(n), np.ones(n, dtype=bool)
    for _ in range(100):
        clock = clock + rng.exponential(1 / lam)
        inside = alive & (clock <= t)
        count += inside
        alive = inside & (rng.random(n) >= p)
        if not alive.any():
            break
    assert np.isfinite(got) and abs(got - count.mean()) < 4 * count.std() / np.sqrt(n)


def test_a_degenerate_fit_is_refused_not_scored():
    import dataclasses

    import pytest

    from crm_analytics import (
        CrmDataError,
        churn_scores,
        customer_summary,
        fit_churn_model,
        load_cdnow,
    )

    summary = customer_summary(load_cdnow("sample"), time_unit="W")
    model = fit_churn_model(summary, model="mbgnbd")
    broken = dataclasses.replace(model, params={"r": 1.1e6, "alpha": 3.1e8, "a": 1.3e-47,
                                                "b": 3.3e-48})
    with pytest.raises(CrmDataError, match="fit is degenerate.*Fit another model family"):
        churn_scores(summary, churn_model=broken)
