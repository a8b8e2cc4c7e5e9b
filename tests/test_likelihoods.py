"""Analytic likelihoods and the analytic fit against lifetimes' own functions and fitters."""

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from scipy.special import gammaln

from crm_analytics import CrmDataError
from crm_analytics.churn import compress_rfm, fit_churn_model
from crm_analytics.fitting import lifetimes_bridge as _lifetimes
from crm_analytics.fitting.likelihoods import BetaGeoLikelihood, GammaGammaLikelihood, time_scale
from crm_analytics.ltv import fit_spend_model
from crm_analytics.simulate import simulate_shop
from crm_analytics.summary import customer_summary

FITTERS = {"bgnbd": "BetaGeoFitter", "mbgnbd": "ModifiedBetaGeoFitter"}


def rfm(summary):
    """Compressed (frequency, recency, T, weights) of a summary."""
    f, r, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    x, tx, TT, w, _ = compress_rfm(f, r, T)
    return x.astype(int), tx, TT, w


def spend_rows(summary):
    """Repeat customers' (frequency, monetary_value), one row each, weight 1."""
    repeat = summary[summary["frequency"] > 0]
    x = repeat["frequency"].to_numpy(float)
    return x, repeat["monetary_value"].to_numpy(float), np.ones_like(x)


@pytest.fixture(scope="module")
def shop_weekly():
    """A small simulated shop (BG/NBD purchases, Gamma-Gamma spend), summary in weeks."""
    shop = simulate_shop(4000, seed=11, params={"campaigns": []})
    return customer_summary(shop.orders, as_of=shop.end, time_unit="W")


@pytest.fixture(scope="module", params=["cdnow", "shop"])
def data(request, weekly, shop_weekly):
    return {"cdnow": weekly, "shop": shop_weekly}[request.param]


def lifetimes_nll(model):
    lt = _lifetimes.import_lifetimes()
    cls = lt.GammaGammaFitter if model == "gg" else getattr(lt, FITTERS[model])
    return cls._negative_log_likelihood


def autograd_value_grad_hessian(fn, theta, args):
    from autograd import hessian, value_and_grad

    with _lifetimes.quiet():
        value, grad = value_and_grad(fn)(theta, *args)
        return value, grad, hessian(fn)(theta, *args)


# --------------------------------------------------------------------------- functions


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd"])
def test_beta_geo_value_gradient_hessian_equal_lifetimes(model, data):
    x, tx, T, w = rfm(data)
    scale = time_scale(T)
    args = (x, tx * scale, T * scale, w)
    lik = BetaGeoLikelihood(*args, model=model)
    rng = np.random.default_rng(1)
    for i in range(6):
        theta = rng.normal(0.0, 1.0, 4)
        penalizer = 0.0 if i % 2 else 0.3
        ref_value, ref_grad, ref_hess = autograd_value_grad_hessian(
            lifetimes_nll(model), theta, (*args, penalizer))
        value, grad = lik.value_and_grad(theta, penalizer)
        assert value == pytest.approx(ref_value, rel=1e-12)
        assert lik.value(theta, penalizer) == pytest.approx(ref_value, rel=1e-12)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(lik.hessian(theta, penalizer), ref_hess, rtol=1e-5,
                                   atol=1e-8)


def test_gamma_gamma_value_gradient_hessian_equal_lifetimes(data):
    x, m, w = spend_rows(data)
    lik = GammaGammaLikelihood(x, m, w)
    rng = np.random.default_rng(2)
    for i in range(6):
        theta = rng.normal(1.0, 1.0, 3)
        penalizer = 0.0 if i % 2 else 0.1
        ref_value, ref_grad, ref_hess = autograd_value_grad_hessian(
            lifetimes_nll("gg"), theta, (x, m, w, penalizer))
        value, grad = lik.value_and_grad(theta, penalizer)
        assert value == pytest.approx(ref_value, rel=1e-12)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(lik.hessian(theta, penalizer), ref_hess, rtol=1e-5,
                                   atol=1e-8)


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "gg"])
def test_gradient_equals_finite_differences(model, weekly):
    """Independent of autograd: forward differences of the value."""
    if model == "gg":
        lik, theta = GammaGammaLikelihood(*spend_rows(weekly)), np.log([6.0, 3.7, 15.0])
    else:
        x, tx, T, w = rfm(weekly)
        s = time_scale(T)
        lik = BetaGeoLikelihood(x, tx * s, T * s, w, model=model)
        theta = np.log([0.25, 0.1, 0.8, 2.4])
    for penalizer in (0.0, 0.05):
        numeric = approx_fprime(theta, lik.value, 1e-7, penalizer)
        np.testing.assert_allclose(lik.grad(theta, penalizer), numeric, rtol=1e-5, atol=1e-6)


def test_compressed_rows_equal_one_row_per_customer(weekly):
    """Sufficient statistics change nothing: weights == repeating the rows."""
    x, tx, T, w = rfm(weekly)
    s = time_scale(T)
    compressed = BetaGeoLikelihood(x, tx * s, T * s, w)
    full = BetaGeoLikelihood(np.repeat(x, w), np.repeat(tx, w) * s, np.repeat(T, w) * s,
                             np.ones(w.sum()))
    theta = np.log([0.3, 0.1, 0.7, 2.0])
    assert compressed.value(theta) == pytest.approx(full.value(theta), rel=1e-13)
    np.testing.assert_allclose(compressed.grad(theta), full.grad(theta), rtol=1e-11)


def direct_nll(model, theta, x, tx, T, w):
    """The paper's per-customer log-likelihood with np.logaddexp, no sufficient statistics."""
    r, alpha, a, b = np.exp(theta)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a3 = -(r + x) * np.log(alpha + T)
    if model == "bgnbd":
        a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
        a4 = np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + tx)
        ll = a1 + a2 + np.where(x > 0, np.logaddexp(a3, a4), a3)
    else:
        a2 = gammaln(a + b) + gammaln(b + x + 1) - gammaln(b) - gammaln(a + b + x + 1)
        a4 = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
        ll = a1 + a2 + a3 + np.logaddexp(a4, 0.0)
    return -(w * ll).sum() / w.sum()


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd"])
def test_extreme_parameters_stay_finite(model):
    """The log-sum-exp is stable where either term dominates by hundreds of logs.

    lifetimes' BG/NBD gives inf at the first point: for customers without repeat
    purchases it shifts by max(A3, A4) although A4 does not count, and exp underflows.
    """
    x = np.array([0, 1, 50, 200])
    tx = np.array([0.0, 1e-6, 0.5, 0.999])
    T = np.array([1.0, 1.0, 1.0, 1.0])
    w = np.array([5, 3, 2, 1])
    lik = BetaGeoLikelihood(x, tx, T, w, model=model)
    fn = lifetimes_nll(model)
    for theta in (np.array([5.0, -12.0, 3.0, -3.0]), np.array([-6.0, 8.0, -8.0, 6.0])):
        value, grad = lik.value_and_grad(theta)
        assert np.isfinite(value) and np.all(np.isfinite(grad))
        assert value == pytest.approx(direct_nll(model, theta, x, tx, T, w), rel=1e-12)
        numeric = approx_fprime(theta, lik.value, 1e-7)
        np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-5)
        with _lifetimes.quiet():
            ref = fn(theta, x, tx, T, w, 0.0)
        if np.isfinite(ref):
            assert value == pytest.approx(ref, rel=1e-12)


def test_unknown_model_is_rejected():
    with pytest.raises(ValueError, match="model must be one of"):
        BetaGeoLikelihood([1], [0.5], [1.0], [1], model="pareto")


# --------------------------------------------------------------------------- fits


def both_fits(fit, *args, **kwargs):
    return fit(*args, backend="analytic", **kwargs), fit(*args, backend="lifetimes", **kwargs)


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd"])
@pytest.mark.parametrize("penalizer", [0.0, 0.05])
def test_beta_geo_fit_equals_lifetimes_fitter(model, penalizer, data):
    ours, ref = both_fits(_lifetimes.fit_beta_geo, *rfm(data), model=model,
                          penalizer=penalizer)
    assert list(ours.params) == list(ref.params) == ["r", "alpha", "a", "b"]
    for k, v in ours.params.items():
        assert v == pytest.approx(ref.params[k], rel=1e-5), k
        assert ours.standard_errors[k] == pytest.approx(ref.standard_errors[k], rel=1e-3), k
    assert ours.mean_negative_log_likelihood == pytest.approx(
        ref.mean_negative_log_likelihood, rel=1e-10)
    assert ours.log_likelihood == pytest.approx(ref.log_likelihood, rel=1e-10)


def test_gamma_gamma_fit_equals_lifetimes_fitter(data):
    for penalizer in (0.0, 0.01):
        ours, ref = both_fits(_lifetimes.fit_gamma_gamma, *spend_rows(data),
                              penalizer=penalizer)
        assert list(ours.params) == list(ref.params) == ["p", "q", "gamma"]
        for k, v in ours.params.items():
            assert v == pytest.approx(ref.params[k], rel=1e-5), k
            assert ours.standard_errors[k] == pytest.approx(ref.standard_errors[k], rel=1e-3)
        assert ours.log_likelihood == pytest.approx(ref.log_likelihood, rel=1e-10)


def test_cdnow_published_values_with_both_backends(weekly):
    # Fader, Hardie & Lee (2005): r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4
    for backend in ("analytic", "lifetimes"):
        fit = fit_churn_model(weekly, backend=backend)
        assert {k: round(v, 3) for k, v in fit.params.items()} == {
            "r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
        assert round(fit.log_likelihood, 1) == -9582.4
        spend = fit_spend_model(weekly, backend=backend)
        assert {k: round(v, 2) for k, v in spend.params.items()} == {
            "p": 6.25, "q": 3.74, "gamma": 15.44}


def test_lifetimes_fitter_reference_itself(weekly):
    """The lifetimes backend is lifetimes' BetaGeoFitter on the compressed rows."""
    lt = _lifetimes.import_lifetimes()
    x, tx, T, w = rfm(weekly)
    with _lifetimes.quiet():
        ref = lt.BetaGeoFitter().fit(x, tx, T, weights=w)
    ours = _lifetimes.fit_beta_geo(x, tx, T, w)
    for k, v in ours.params.items():
        assert v == pytest.approx(ref.params_[k], rel=1e-5)
        assert ours.standard_errors[k] == pytest.approx(ref.standard_errors_[k], rel=1e-3)


def test_fit_without_standard_errors_is_the_same_optimum(weekly):
    full = _lifetimes.fit_beta_geo(*rfm(weekly), model="mbgnbd")
    fast = _lifetimes.fit_beta_geo(*rfm(weekly), model="mbgnbd", standard_errors=False)
    assert fast.params == full.params
    assert all(np.isnan(v) for v in fast.standard_errors.values())


@pytest.mark.parametrize("backend", ["analytic", "lifetimes"])
def test_no_optimum_raises_fitfailed(backend):
    # customers without repeat purchases: the likelihood grows as r -> 0 with no optimum
    with pytest.raises(_lifetimes.FitFailed, match="did not converge|non-positive|Hessian"):
        _lifetimes.fit_beta_geo(np.array([0.0, 0.0]), np.array([0.0, 0.0]),
                                np.array([1.0, 1.0]), np.array([1, 1]), tol=1e-12,
                                backend=backend)


def test_unknown_backend_raises(weekly):
    with pytest.raises(CrmDataError, match="'backend' parameter must be one of"):
        fit_churn_model(weekly, backend="autograd")
    with pytest.raises(CrmDataError, match="'backend' parameter must be one of"):
        fit_spend_model(weekly, backend="autograd")
    with pytest.raises(ValueError, match="backend must be one of"):
        _lifetimes.fit_gamma_gamma(*spend_rows(weekly), backend="autograd")
