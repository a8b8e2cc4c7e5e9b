"""Churn model: published CDNOW figures, lifetimes parity, simulator recovery, scores."""

import subprocess
import sys
import textwrap

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from scipy.special import betaln, gammaln

from crm_analytics import CrmDataError, customer_summary
from crm_analytics.churn import (
    ChurnModel,
    HoldoutReport,
    churn_holdout_report,
    churn_scores,
    compress_rfm,
    fit_churn_model,
)
from crm_analytics.fitting import lifetimes_bridge as _lifetimes

matplotlib.use("Agg")

CAL_END, HOLD_END = "1997-09-30", "1998-06-30"


@pytest.fixture(scope="module")
def bgnbd(weekly):
    return fit_churn_model(weekly)


@pytest.fixture(scope="module")
def mbgnbd(weekly):
    return fit_churn_model(weekly, model="mbgnbd")


@pytest.fixture(scope="module")
def report(cdnow):
    return churn_holdout_report(cdnow, calibration_end=CAL_END, holdout_end=HOLD_END,
                                time_unit="W")


def lifetimes_fitter(model: str, summary: pd.DataFrame):
    """lifetimes' own uncompressed fit, the reference."""
    lt = _lifetimes.import_lifetimes()
    cls = lt.BetaGeoFitter if model == "bgnbd" else lt.ModifiedBetaGeoFitter
    with _lifetimes.quiet():
        return cls().fit(summary["frequency"], summary["recency"], summary["T"])


# --------------------------------------------------------------------------- CDNOW


def test_cdnow_bgnbd_matches_published_parameters_and_log_likelihood(bgnbd):
    # Fader, Hardie & Lee (2005): r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4
    assert {k: round(v, 3) for k, v in bgnbd.params.items()} == {
        "r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert round(bgnbd.log_likelihood, 1) == -9582.4
    assert bgnbd.n_customers == 2357
    assert bgnbd.time_unit == "W"
    assert bgnbd.as_of == pd.Timestamp(CAL_END)
    assert bgnbd.fit_notes == () and not bgnbd.retried
    assert bgnbd.penalizer == 0.0
    assert set(bgnbd.standard_errors) == {"r", "alpha", "a", "b"}
    assert all(0 < se < 1 for se in bgnbd.standard_errors.values())


def test_log_likelihood_equals_brute_force_paper_formula(bgnbd, weekly):
    """Eq. (6) of the paper, evaluated without logs per customer, summed."""
    r, alpha, a, b = (bgnbd.params[k] for k in ("r", "alpha", "a", "b"))
    x = weekly["frequency"].to_numpy(float)
    tx = weekly["recency"].to_numpy(float)
    T = weekly["T"].to_numpy(float)
    common = np.exp(gammaln(r + x) - gammaln(r)) * alpha**r
    term1 = np.exp(betaln(a, b + x) - betaln(a, b)) * common / (alpha + T) ** (r + x)
    term2 = np.where(
        x > 0,
        np.exp(betaln(a + 1, b + np.maximum(x, 1) - 1) - betaln(a, b)) * common
        / (alpha + tx) ** (r + x),
        0.0,
    )
    assert bgnbd.log_likelihood == pytest.approx(np.log(term1 + term2).sum(), rel=1e-10)


def test_compressed_fit_equals_uncompressed_lifetimes_fit(bgnbd, weekly):
    assert bgnbd.n_patterns < weekly.shape[0] / 2  # 1016 distinct rows for 2357 customers
    ref = lifetimes_fitter("bgnbd", weekly)
    for k, v in bgnbd.params.items():
        assert v == pytest.approx(ref.params_[k], rel=1e-6)
        assert bgnbd.standard_errors[k] == pytest.approx(ref.standard_errors_[k], rel=1e-4)
    # lifetimes' objective is a mean on a rescaled time axis; ours is the paper's total
    assert -ref._negative_log_likelihood_ * len(weekly) != pytest.approx(
        bgnbd.log_likelihood, abs=1.0)


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd"])
def test_fit_without_standard_errors_gives_identical_parameters(model, bgnbd, mbgnbd, weekly):
    full = {"bgnbd": bgnbd, "mbgnbd": mbgnbd}[model]
    fast = fit_churn_model(weekly, model=model, standard_errors=False)
    assert fast.params == full.params  # the same optimiser run, bit for bit
    assert fast.log_likelihood == full.log_likelihood
    assert set(fast.standard_errors) == set(full.standard_errors)
    assert all(np.isnan(v) for v in fast.standard_errors.values())
    assert fast.params_table()["estimate"].tolist() == full.params_table()["estimate"].tolist()
    assert fast.params_table()["standard_error"].isna().all()


def test_fit_without_standard_errors_still_retries(weekly, monkeypatch):
    real = _lifetimes._fit_without_hessian
    calls = {"n": 0}

    def failing_once(fitter):
        calls["n"] += 1
        if calls["n"] == 1:  # the first attempt fails

            def fail(*args, **kwargs):
                lt = _lifetimes.import_lifetimes()
                raise lt.utils.ConvergenceError("The model did not converge.")

            return fail
        return real(fitter)

    monkeypatch.setattr(_lifetimes, "_fit_without_hessian", failing_once)
    fit = fit_churn_model(weekly, standard_errors=False, backend="lifetimes")
    assert calls["n"] == 2
    assert fit.retried
    assert "converged with penalizer=0, tol=1e-06" in fit.fit_notes


def test_analytic_precision_loss_is_retried(weekly, monkeypatch):
    """A BFGS failure of the analytic backend goes through the same retry schedule."""
    real = _lifetimes._minimize
    calls = {"n": 0}

    def failing_once(likelihood, n_params, penalizer, tol):
        calls["n"] += 1
        if calls["n"] == 1:  # what minimize reports when the line search stalls
            real(likelihood, n_params, penalizer, 1e-30)
        return real(likelihood, n_params, penalizer, tol)

    monkeypatch.setattr(_lifetimes, "_minimize", failing_once)
    fit = fit_churn_model(weekly, standard_errors=False)
    assert calls["n"] == 2
    assert fit.retried
    assert "precision loss" in fit.fit_notes[0]
    assert "converged with penalizer=0, tol=1e-06" in fit.fit_notes


def test_compress_rfm_round_trips():
    f = np.array([0, 1, 1, 0, 1])
    r = np.array([0.0, 2.0, 2.0, 0.0, 3.0])
    T = np.array([5.0, 6.0, 6.0, 5.0, 6.0])
    pf, pr, pT, w, inv = compress_rfm(f, r, T)
    assert len(pf) == 3 and w.sum() == 5
    np.testing.assert_array_equal(pf[inv], f)
    np.testing.assert_array_equal(pr[inv], r)
    np.testing.assert_array_equal(pT[inv], T)
    assert sorted(w.tolist()) == [1, 2, 2]


def test_mbgnbd_matches_lifetimes_and_scores_one_time_buyers(mbgnbd, weekly):
    ref = lifetimes_fitter("mbgnbd", weekly)
    for k, v in mbgnbd.params.items():
        assert v == pytest.approx(ref.params_[k], rel=1e-5)
    one_timers = weekly["frequency"] == 0
    p = mbgnbd.p_alive(weekly["frequency"], weekly["recency"], weekly["T"])
    assert (p[one_timers] < 1).all()
    assert np.isfinite(mbgnbd.log_likelihood) and mbgnbd.model == "mbgnbd"


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd"])
def test_predictions_equal_lifetimes_methods(model, bgnbd, mbgnbd, weekly):
    ours = bgnbd if model == "bgnbd" else mbgnbd
    ref = lifetimes_fitter(model, weekly)
    ref.params_ = pd.Series(ours.params)[["r", "alpha", "a", "b"]]  # identical parameters
    f, r, T = weekly["frequency"], weekly["recency"], weekly["T"]
    with _lifetimes.quiet():
        np.testing.assert_allclose(ours.p_alive(f, r, T),
                                   ref.conditional_probability_alive(f, r, T), rtol=1e-12)
        for t in (1.0, 13.0, 39.0, 104.0):
            np.testing.assert_allclose(
                ours.expected_orders(t, f, r, T),
                ref.conditional_expected_number_of_purchases_up_to_time(t, f, r, T),
                rtol=1e-9)
        t = np.array([0.5, 10.0, 52.0, 78.0])
        np.testing.assert_allclose(ours.expected_orders_new_customer(t),
                                   ref.expected_number_of_purchases_up_to_time(t), rtol=1e-9)


def test_bgnbd_p_alive_is_one_without_repeat_orders(bgnbd, weekly):
    p = bgnbd.p_alive(weekly["frequency"], weekly["recency"], weekly["T"])
    assert (p[weekly["frequency"] == 0] == 1).all()
    assert (p[weekly["frequency"] > 0] < 1).all()


def test_daily_and_weekly_units_give_the_same_model(bgnbd, daily):
    by_day = fit_churn_model(daily)
    assert by_day.time_unit == "D"
    assert by_day.params["alpha"] == pytest.approx(7 * bgnbd.params["alpha"], rel=1e-6)
    for k in ("r", "a", "b"):
        assert by_day.params[k] == pytest.approx(bgnbd.params[k], rel=1e-6)
    # the likelihood of (x, t_x, T) changes by sum(x) * log(7) with the time unit
    shift = daily["frequency"].sum() * np.log(7)
    assert by_day.log_likelihood == pytest.approx(bgnbd.log_likelihood - shift, rel=1e-9)


def test_params_table(bgnbd):
    table = bgnbd.params_table()
    assert table["parameter"].tolist() == ["r", "alpha", "a", "b"]
    row = table.iloc[0]
    assert row["lower"] == pytest.approx(row["estimate"] - 1.959964 * row["standard_error"])


def test_p_alive_matrix(bgnbd):
    grid = bgnbd.p_alive_matrix(max_frequency=5, T=39, n_recency=40)
    assert grid.shape == (6, 40)
    assert grid.iloc[0, 0] == 1.0 and grid.iloc[0, 1:].isna().all()
    # more recent last purchase -> more likely alive; at recency = T it rises with frequency
    assert (np.diff(grid.iloc[1:].to_numpy(), axis=1) > 0).all()
    assert grid.iloc[5, -1] > grid.iloc[1, -1]


# --------------------------------------------------------------------------- fitting


def test_fit_does_not_mutate_summary(weekly):
    before = weekly.copy()
    fit_churn_model(weekly)
    pd.testing.assert_frame_equal(weekly, before)


def test_import_and_fit_leave_global_state_unchanged():
    code = textwrap.dedent(
        """
        import warnings
        import pandas as pd
        from pandas._config.config import _registered_options

        def options():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return {k: repr(pd.get_option(k)) for k in _registered_options}

        # the scientific stack's own import-time filters (scipy adds some) are not ours
        import scipy.optimize, scipy.special, scipy.stats, sklearn.cluster  # noqa: F401
        filters, opts = list(warnings.filters), options()
        import crm_analytics
        from crm_analytics.churn import fit_churn_model
        from crm_analytics.ltv import fit_spend_model, predict_ltv
        assert "lifetimes" not in __import__("sys").modules, "imported lifetimes eagerly"
        s = crm_analytics.customer_summary(crm_analytics.load_cdnow(), as_of="1997-09-30",
                                           time_unit="W")
        m = fit_churn_model(s)
        predict_ltv(s, churn_model=m, spend_model=fit_spend_model(s))
        assert "lifetimes" not in __import__("sys").modules, "the analytic fit needs no lifetimes"
        m = fit_churn_model(s, backend="lifetimes")
        predict_ltv(s, churn_model=m, spend_model=fit_spend_model(s, backend="lifetimes"))
        assert "lifetimes" in __import__("sys").modules
        assert list(warnings.filters) == filters, "warning filters changed"
        assert options() == opts, "pandas options changed"
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_convergence_failures_are_retried_and_reported(weekly, monkeypatch):
    real = _lifetimes.fit_beta_geo
    calls = []

    def flaky(*args, penalizer, tol, **kw):
        calls.append((penalizer, tol))
        if len(calls) <= 3:  # every tolerance fails: the penalizer must be raised
            raise _lifetimes.FitFailed("The model did not converge.",
                                       "message: Desired error not necessarily achieved")
        return real(*args, penalizer=penalizer, tol=tol, **kw)

    monkeypatch.setattr(_lifetimes, "fit_beta_geo", flaky)
    fit = fit_churn_model(weekly)
    assert [t for _, t in calls[:3]] == pytest.approx([1e-7, 1e-6, 1e-5])
    assert [p for p, _ in calls[:3]] == [0.0, 0.0, 0.0]
    assert calls[3] == (1e-4, 1e-6)
    assert fit.retried and fit.penalizer == 1e-4 and fit.requested_penalizer == 0.0
    assert any("Desired error not necessarily achieved" in n for n in fit.fit_notes)
    assert any("raised from 0 to 0.0001" in n for n in fit.fit_notes)
    assert all(np.isfinite(v) for v in fit.params.values())


def test_looser_tolerance_retry_keeps_penalizer(weekly, monkeypatch):
    real = _lifetimes.fit_beta_geo
    calls = []

    def flaky(*args, penalizer, tol, **kw):
        calls.append((penalizer, tol))
        if len(calls) == 1:
            raise _lifetimes.FitFailed("The model did not converge.")
        return real(*args, penalizer=penalizer, tol=tol, **kw)

    monkeypatch.setattr(_lifetimes, "fit_beta_geo", flaky)
    fit = fit_churn_model(weekly)
    assert fit.penalizer == 0.0 and len(fit.fit_notes) == 2
    assert round(fit.params["r"], 3) == 0.243


def test_fit_that_never_converges_raises(weekly, monkeypatch):
    def broken(*args, **kw):
        raise _lifetimes.FitFailed("The model did not converge.")

    monkeypatch.setattr(_lifetimes, "fit_beta_geo", broken)
    match = "(?s)did not converge.*penalizer=0.01, tol=1e-06 failed.*pass a penalizer"
    with pytest.raises(CrmDataError, match=match):
        fit_churn_model(weekly)


def test_real_lifetimes_failure_becomes_fitfailed():
    # a single customer with T == 0 and no repeat: the likelihood has no optimum
    with pytest.raises(_lifetimes.FitFailed):
        _lifetimes.fit_beta_geo(np.array([0.0, 0.0]), np.array([0.0, 0.0]),
                                np.array([1.0, 1.0]), np.array([1, 1]), tol=1e-12)


def test_penalizer_shrinks(weekly, bgnbd):
    fit = fit_churn_model(weekly, penalizer=0.1)
    assert fit.penalizer == 0.1
    assert fit.params["a"] < bgnbd.params["a"]
    assert fit.log_likelihood < bgnbd.log_likelihood


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda s: s.drop(columns="recency"), "missing column"),
        (lambda s: s.iloc[:0], "no customers"),
        (lambda s: s.assign(T=s["T"].where(s.index != 3)), "'T'.*missing or non-numeric"),
        (lambda s: s.assign(frequency=s["frequency"] - 5), "whole numbers >= 0"),
        (lambda s: s.assign(frequency=s["frequency"] + 0.5), "whole numbers >= 0"),
        (lambda s: s.assign(recency=s["T"] + 1), "must not exceed T"),
        (lambda s: s.assign(recency=-1.0), "must be >= 0"),
        (lambda s: s.assign(recency=np.where(s["frequency"] == 0, 1.0, s["recency"])),
         "must be 0 for customers with frequency 0"),
        (lambda s: s.assign(T=0.0, recency=0.0, frequency=0), "T == 0"),
        (lambda s: s.assign(recency=0.0, frequency=0), "has a repeat purchase"),
    ],
)
def test_bad_summary_raises(weekly, change, match):
    bad = change(weekly.copy())
    with pytest.raises(CrmDataError, match=match):
        fit_churn_model(bad)


def test_bad_arguments_raise(weekly):
    with pytest.raises(CrmDataError, match="'model' parameter must be one of"):
        fit_churn_model(weekly, model="pareto")
    with pytest.raises(CrmDataError, match="'penalizer' parameter"):
        fit_churn_model(weekly, penalizer=-1)
    with pytest.raises(CrmDataError, match="summary must be a pandas DataFrame"):
        fit_churn_model([1, 2])
    plain = weekly.drop(columns=["first_order", "last_order", "days_since_last_order"])
    with pytest.raises(CrmDataError, match="Pass time_unit="):
        fit_churn_model(plain)
    with pytest.raises(CrmDataError, match="'time_unit' parameter"):
        fit_churn_model(weekly, time_unit="M")
    assert fit_churn_model(plain, time_unit="W").params["r"] == pytest.approx(0.2426, abs=1e-4)


# --------------------------------------------------------------------------- simulator


@pytest.fixture(scope="module")
def shop():
    from crm_analytics.simulate import simulate_shop

    return simulate_shop(30_000, seed=1, params={"campaigns": []})


def test_simulator_truth_recovered_in_continuous_time(shop):
    """The fitter recovers the simulator's truth within 4 standard errors.

    Fitted on the simulator's own continuous-time process (every order an event, times to
    the second), i.e. exactly the BG/NBD data-generating model.
    """
    orders = shop.orders
    start, end = shop.start, shop.end + pd.Timedelta(days=1)
    t = (orders["order_date"] - start).dt.total_seconds().to_numpy() / 86400
    g = pd.DataFrame({"c": orders["customer_id"], "t": t}).groupby("c")["t"].agg(
        ["min", "max", "size"])
    summary = pd.DataFrame({"customer_id": g.index, "frequency": g["size"] - 1,
                            "recency": g["max"] - g["min"],
                            "T": (end - start).days - g["min"]})
    fit = fit_churn_model(summary, time_unit="D")
    for k in ("r", "alpha", "a", "b"):
        z = (fit.params[k] - shop.truth[k]) / fit.standard_errors[k]
        assert abs(z) < 4, (k, fit.params[k], shop.truth[k], z)


def test_simulator_truth_recovered_from_daily_summary(shop):
    """From customer_summary (orders of one day = one purchase occasion).

    Merging same-day orders drops a few percent of purchases of the fastest buyers, which
    lowers the fitted purchase rate (alpha up, by about 2-3 standard errors at 30k
    customers), so r and alpha get a relative tolerance; the dropout parameters a, b
    and the Gamma-Gamma spend parameters (unaffected) get 4 standard errors.
    """
    from crm_analytics.ltv import fit_spend_model

    summary = customer_summary(shop.orders)
    fit = fit_churn_model(summary)
    for k in ("r", "alpha"):
        assert fit.params[k] == pytest.approx(shop.truth[k], rel=0.15), k
    for k in ("a", "b"):
        assert abs(fit.params[k] - shop.truth[k]) < 4 * fit.standard_errors[k], k
    spend = fit_spend_model(summary)
    for k in ("p", "q", "gamma"):
        assert abs(spend.params[k] - shop.truth[k]) < 4 * spend.standard_errors[k], k


# --------------------------------------------------------------------------- scores


def test_churn_scores_columns_and_units(bgnbd, weekly, daily):
    scores = churn_scores(weekly, churn_model=bgnbd, horizon=91)
    assert scores.columns.tolist() == [
        "customer_id", "p_alive", "p_no_order", "p_churn", "expected_orders", "churn_risk",
        "expected_next_order", "next_order_basis", "expected_gap_days"]
    assert len(scores) == len(weekly)
    assert scores["customer_id"].tolist() == weekly["customer_id"].tolist()
    f, r, T = weekly["frequency"], weekly["recency"], weekly["T"]
    np.testing.assert_allclose(scores["expected_orders"], bgnbd.expected_orders(13, f, r, T))
    # churn is "no order in the horizon" (since issue 14), no longer 1 - P(alive)
    np.testing.assert_array_equal(scores["p_churn"], scores["p_no_order"])
    np.testing.assert_allclose(scores["p_no_order"], bgnbd.p_no_order(13, f, r, T))
    assert (scores["p_no_order"] >= 1 - scores["p_alive"] - 1e-12).all()
    # a daily summary scored with the weekly model gives the same numbers
    by_day = churn_scores(daily, churn_model=bgnbd, horizon=91)
    np.testing.assert_allclose(by_day["expected_orders"], scores["expected_orders"],
                               rtol=1e-12)
    assert by_day["expected_next_order"].equals(scores["expected_next_order"])


def test_churn_risk_thresholds(bgnbd, weekly):
    scores = churn_scores(weekly, churn_model=bgnbd, high_risk_below=0.3,
                          medium_risk_below=0.6)
    p = 1 - scores["p_no_order"]  # the chance of an order in the horizon
    expected = np.where(p < 0.3, "high", np.where(p < 0.6, "medium", "low"))
    assert (scores["churn_risk"].astype(str).to_numpy() == expected).all()
    assert scores["churn_risk"].cat.ordered
    assert list(scores["churn_risk"].cat.categories) == ["low", "medium", "high"]


def test_expected_next_order_rule(bgnbd):
    summary = pd.DataFrame({
        "customer_id": ["gaps", "single", "lost"],
        "frequency": [3, 0, 2],
        "recency": [90.0, 0.0, 20.0],
        "T": [100.0, 40.0, 300.0],
        "last_order": pd.to_datetime(["2024-03-31", "2024-03-01", "2023-06-25"]),
        "days_since_last_order": [10, 40, 290],  # as of 2024-04-10
    })
    scores = churn_scores(summary, churn_model=bgnbd, next_order_min_p_alive=0.1,
                          time_unit="D").set_index("customer_id")
    # own gaps: 90 days / 3 repeat purchases = 30 days after the last order
    assert scores.loc["gaps", "expected_next_order"] == pd.Timestamp("2024-04-30")
    assert scores.loc["gaps", "next_order_basis"] == "own_gaps"
    # one purchase: as_of + (alpha + T) / r, alpha in weeks -> days
    r, alpha = bgnbd.params["r"], bgnbd.params["alpha"]
    gap = (alpha + 40 / 7) / r * 7
    assert scores.loc["single", "expected_gap_days"] == pytest.approx(gap)
    assert scores.loc["single", "expected_next_order"] == (
        pd.Timestamp("2024-04-10") + pd.Timedelta(days=np.floor(gap + 0.5)))
    assert scores.loc["single", "next_order_basis"] == "model_rate"
    assert scores.loc["lost", "p_alive"] < 0.1
    assert pd.isna(scores.loc["lost", "expected_next_order"])
    assert scores.loc["lost", "next_order_basis"] == "unlikely_alive"


def test_next_order_rule_numpy_and_sql_forms_agree():
    import duckdb

    from crm_analytics.churn.rules import (
        NEXT_ORDER_BASES,
        next_order_dates,
        next_order_sql,
        risk_band_codes,
    )

    basis = np.array([0, 1, 2, 0])
    add = np.array([30.0, 12.0, np.nan, 0.0])
    last_day = np.array([19800, 19810, 19700, 19815])  # days since 1970-01-01
    as_of_day = 19820
    want = next_order_dates(basis, add, last_day.astype("datetime64[D]"),
                            np.full(4, as_of_day).astype("datetime64[D]"))
    frame = pd.DataFrame({"b": np.asarray(NEXT_ORDER_BASES)[basis],
                          "d": pd.array([30, 12, None, 0], dtype="Int64"), "last_day": last_day})
    con = duckdb.connect()
    con.register("p", frame)
    expr = next_order_sql("p.b", "p.d", last_day="p.last_day", as_of_day=as_of_day,
                          day_date="(DATE '1970-01-01' + CAST({x} AS INTEGER))")
    got = con.execute(f"SELECT {expr} AS x FROM p").df()["x"]
    np.testing.assert_array_equal(pd.to_datetime(got).to_numpy("datetime64[D]"),
                                  want.astype("datetime64[D]"))
    assert risk_band_codes(np.array([0.49, 0.5, 0.79, 0.8])).tolist() == [2, 1, 1, 0]


def test_as_of_inferred_without_its_columns(bgnbd, weekly):
    """Without days_since_last_order, as_of is last_order + T - recency per customer."""
    bare = weekly[["customer_id", "frequency", "recency", "T", "last_order"]]
    a = churn_scores(bare, churn_model=bgnbd, time_unit="W")
    b = churn_scores(weekly, churn_model=bgnbd)
    pd.testing.assert_frame_equal(a, b)


def test_old_positional_spelling_warns(bgnbd, weekly):
    new = churn_scores(weekly, churn_model=bgnbd, horizon=30)
    with pytest.warns(DeprecationWarning, match=r"churn_scores\(summary, churn_model=model\)"):
        old = churn_scores(bgnbd, weekly, horizon=30)
    pd.testing.assert_frame_equal(old, new)
    with pytest.warns(DeprecationWarning):
        swapped = churn_scores(weekly, bgnbd, horizon=30)
    pd.testing.assert_frame_equal(swapped, new)
    with pytest.raises(TypeError, match="twice"):
        churn_scores(bgnbd, weekly, churn_model=bgnbd)


def test_churn_scores_does_not_mutate(bgnbd, weekly):
    before = weekly.copy()
    churn_scores(weekly, churn_model=bgnbd)
    pd.testing.assert_frame_equal(weekly, before)


def test_churn_scores_errors(bgnbd, weekly):
    with pytest.raises(CrmDataError, match="'churn_model' argument must be a ChurnModel"):
        churn_scores(weekly, churn_model="model")
    with pytest.raises(CrmDataError, match="'churn_model' argument must be a ChurnModel"):
        churn_scores(weekly)
    with pytest.raises(CrmDataError, match="'horizon' parameter"):
        churn_scores(weekly, churn_model=bgnbd, horizon=0)
    with pytest.raises(CrmDataError, match="'high_risk_below' parameter must be in"):
        churn_scores(weekly, churn_model=bgnbd, high_risk_below=1.5)
    with pytest.raises(CrmDataError, match="must not exceed medium_risk_below"):
        churn_scores(weekly, churn_model=bgnbd, high_risk_below=0.9, medium_risk_below=0.5)
    with pytest.raises(CrmDataError, match=r"missing column\(s\) \['last_order'\]"):
        churn_scores(weekly.drop(columns="last_order"), churn_model=bgnbd)


# --------------------------------------------------------------------------- holdout


def test_holdout_report_cdnow(report, cdnow, bgnbd):
    assert isinstance(report, HoldoutReport) and isinstance(report.model, ChurnModel)
    assert report.total_actual == 1882  # REFERENCE.md
    assert report.model.params == pytest.approx(bgnbd.params, rel=1e-6)
    cust = report.customers
    assert len(cust) == 2357
    # predictions are the conditional expectations over the 39-week holdout
    expected = bgnbd.expected_orders(39, cust["frequency"], cust["recency"], cust["T"])
    np.testing.assert_allclose(cust["predicted"], expected, rtol=1e-5)
    assert report.total_predicted == pytest.approx(cust["predicted"].sum())
    assert report.mae == pytest.approx(np.abs(cust["predicted"] - cust["actual"]).mean())
    assert report.correlation == pytest.approx(
        np.corrcoef(cust["predicted"], cust["actual"])[0, 1])
    assert 0.5 < report.correlation < 0.8
    assert "actual 1882" in report.summary()
    assert report.calibration_end == pd.Timestamp(CAL_END)
    assert report.holdout_end == pd.Timestamp(HOLD_END)
    assert report.n_new_in_holdout == 0  # every CDNOW customer first bought in Q1 1997


def test_holdout_by_frequency(report):
    table = report.by_frequency
    assert table["frequency"].tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert table["n_customers"].sum() == 2357
    assert table["n_customers"].iloc[0] == 1411  # one-time buyers in calibration
    assert table["actual_total"].sum() == report.total_actual
    assert table["predicted_total"].sum() == pytest.approx(report.total_predicted)
    c = report.customers
    seven_up = c[c["frequency"] >= 7]
    assert table["actual_mean"].iloc[-1] == pytest.approx(seven_up["actual"].mean())


def test_holdout_tracking_against_brute_force(report, cdnow, bgnbd):
    track = report.tracking
    assert len(track) == 78 and track["week"].tolist() == list(range(1, 79))
    assert track["date"].iloc[38] == pd.Timestamp(CAL_END)
    assert track["date"].iloc[-1] == pd.Timestamp(HOLD_END)
    assert (track["period"].iloc[:39] == "calibration").all()
    assert (track["period"].iloc[39:] == "holdout").all()
    # actual: repeat purchase occasions (a customer's days after the first), by pandas
    days = cdnow.assign(day=cdnow["order_date"].dt.normalize())[["customer_id", "day"]]
    occ = days.drop_duplicates().sort_values(["customer_id", "day"])
    repeats = occ[occ.duplicated("customer_id")]
    for week in (10, 39, 78):
        end = track["date"].iloc[week - 1]
        assert track["actual_cumulative"].iloc[week - 1] == (repeats["day"] <= end).sum()
    holdout_rows = track["period"] == "holdout"
    assert track.loc[holdout_rows, "actual"].sum() == report.total_actual
    # predicted: sum over customers of E[X(age)] (lifetimes' unconditional formula)
    lt = lifetimes_fitter("bgnbd", customer_summary(cdnow, as_of=CAL_END, time_unit="W"))
    lt.params_ = pd.Series(report.model.params)[["r", "alpha", "a", "b"]]
    first = occ.groupby("customer_id")["day"].min()
    for week in (5, 39, 60):
        end = track["date"].iloc[week - 1]
        age = (end - first).dt.days.to_numpy() / 7
        with _lifetimes.quiet():
            brute = lt.expected_number_of_purchases_up_to_time(age[age > 0]).sum()
        assert track["predicted_cumulative"].iloc[week - 1] == pytest.approx(brute, rel=1e-9)
    np.testing.assert_allclose(track["predicted"].cumsum(), track["predicted_cumulative"])


def test_holdout_report_counts_customers_new_in_holdout(shop):
    orders = shop.orders
    cal_end = shop.start + (shop.end - shop.start) / 2
    hold_end = cal_end + pd.Timedelta(days=60)
    rep = churn_holdout_report(orders, calibration_end=cal_end.date(), holdout_end=hold_end.date())
    first = orders.groupby("customer_id")["order_date"].min().dt.normalize()
    new = ((first > cal_end.normalize()) & (first <= hold_end.normalize())).sum()
    assert new > 0 and rep.n_new_in_holdout == new
    assert rep.calibration_end == cal_end.normalize()
    assert rep.holdout_end == hold_end.normalize()


def test_holdout_report_errors(cdnow):
    with pytest.raises(CrmDataError, match="must be after calibration_end"):
        churn_holdout_report(cdnow, calibration_end=HOLD_END, holdout_end=CAL_END)
    with pytest.raises(CrmDataError, match="'max_frequency' parameter"):
        churn_holdout_report(cdnow, calibration_end=CAL_END, max_frequency=0)


def test_holdout_report_does_not_mutate(cdnow):
    before = cdnow.copy()
    churn_holdout_report(cdnow, calibration_end=CAL_END, holdout_end=HOLD_END,
                         model="mbgnbd", max_frequency=3)
    pd.testing.assert_frame_equal(cdnow, before)


# --------------------------------------------------------------------------- plots


def test_plots(report, mbgnbd):
    import matplotlib.pyplot as plt

    from crm_analytics.plots.churn import (
        plot_cumulative_tracking,
        plot_frequency_recency_alive,
        plot_holdout_by_frequency,
    )

    ax = plot_frequency_recency_alive(report, max_frequency=10)
    assert isinstance(ax, Axes) and "weeks" in ax.get_xlabel()
    assert "39 weeks" in ax.get_title()
    fig, given = plt.subplots()
    assert plot_frequency_recency_alive(mbgnbd, ax=given) is given
    assert "MBG/NBD" in given.get_title()
    ax = plot_holdout_by_frequency(report)
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "7+"
    assert len(ax.get_lines()) == 2 and "per customer" in ax.get_ylabel()
    ax = plot_cumulative_tracking(report)
    assert "count" in ax.get_ylabel()
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(),
                               report.tracking["actual_cumulative"])
    with pytest.raises(CrmDataError, match="needs a HoldoutReport"):
        plot_holdout_by_frequency(mbgnbd)
    with pytest.raises(CrmDataError, match="needs a ChurnModel"):
        plot_frequency_recency_alive("model")
    plt.close("all")
