"""LTV: Gamma-Gamma on CDNOW, parity with lifetimes' CLV, time units, the shop formula."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes

from crm_analytics import CrmDataError, customer_summary
from crm_analytics.churn import fit_churn_model
from crm_analytics.fitting import lifetimes_bridge as _lifetimes
from crm_analytics.ltv import (
    DAYS_PER_MONTH,
    SpendModel,
    estimate_lifetime_years,
    fit_spend_model,
    formula_ltv,
    predict_ltv,
)

matplotlib.use("Agg")

CAL_END = "1997-09-30"


@pytest.fixture(scope="module")
def churn(weekly):
    return fit_churn_model(weekly)


@pytest.fixture(scope="module")
def spend(weekly):
    return fit_spend_model(weekly)


@pytest.fixture(scope="module")
def with_margin(cdnow):
    """CDNOW with a made-up margin: 30% of the amount for odd ids, 50% for even."""
    rate = np.where(cdnow["customer_id"].astype(int) % 2 == 0, 0.5, 0.3)
    orders = cdnow.assign(margin=cdnow["amount"] * rate)
    return customer_summary(orders, as_of=CAL_END, time_unit="W")


def lifetimes_reference(summary, **clv_kw):
    lt = _lifetimes.import_lifetimes()
    f, r, T, m = (summary[c] for c in ("frequency", "recency", "T", "monetary_value"))
    with _lifetimes.quiet():
        bgf = lt.BetaGeoFitter().fit(f, r, T)
        ggf = lt.GammaGammaFitter().fit(f[f > 0], m[f > 0])
        clv = ggf.customer_lifetime_value(bgf, f, r, T, m, **clv_kw)
        spend = ggf.conditional_expected_average_profit(f, m)
    return bgf, ggf, clv.to_numpy(), spend.to_numpy()


# --------------------------------------------------------------------------- spend


def test_cdnow_gamma_gamma_matches_published(spend):
    # Fader & Hardie (2013): p = 6.25, q = 3.74, gamma = 15.44 on 946 repeat customers
    assert {k: round(v, 2) for k, v in spend.params.items()} == {
        "p": 6.25, "q": 3.74, "gamma": 15.44}
    assert spend.n_customers == 946 and spend.n_excluded == 0
    assert round(spend.mean_spend, 2) == 35.08
    assert all(se > 0 for se in spend.standard_errors.values())
    assert spend.population_mean_spend == pytest.approx(
        spend.params["p"] * spend.params["gamma"] / (spend.params["q"] - 1))


def test_gamma_gamma_compressed_equals_lifetimes(spend, weekly):
    _, ggf, _, ref_spend = lifetimes_reference(weekly)
    assert spend.params["p"] == pytest.approx(ggf.params_["p"], rel=1e-6)
    assert spend.params["q"] == pytest.approx(ggf.params_["q"], rel=1e-6)
    assert spend.params["gamma"] == pytest.approx(ggf.params_["v"], rel=1e-6)
    ours = spend.expected_spend(weekly["frequency"], weekly["monetary_value"])
    np.testing.assert_allclose(ours, ref_spend, rtol=1e-6)
    # the log-likelihood is the total of lifetimes' per-customer terms
    assert spend.log_likelihood == pytest.approx(-ggf._negative_log_likelihood_ * 946,
                                                 rel=1e-9)


def test_spend_fit_without_standard_errors_gives_identical_parameters(spend, weekly):
    fast = fit_spend_model(weekly, standard_errors=False)
    assert fast.params == spend.params
    assert fast.log_likelihood == spend.log_likelihood
    assert set(fast.standard_errors) == {"p", "q", "gamma"}
    assert all(np.isnan(v) for v in fast.standard_errors.values())


def test_independence_check(spend, weekly):
    repeat = weekly[weekly["frequency"] > 0]
    assert spend.frequency_monetary_correlation == pytest.approx(
        np.corrcoef(repeat["frequency"], repeat["monetary_value"])[0, 1])
    assert spend.independence_ok and spend.fit_notes == ()
    # spend that rises with frequency breaks the assumption and is reported
    rng = np.random.default_rng(0)
    x = rng.integers(1, 15, 500)
    dependent = pd.DataFrame({"customer_id": [str(i) for i in range(500)], "frequency": x,
                              "monetary_value": 10 * x * rng.gamma(5, 0.2, 500)})
    fit = fit_spend_model(dependent)
    assert fit.frequency_monetary_correlation > 0.3 and not fit.independence_ok
    assert any("assumes independence" in n for n in fit.fit_notes)


def test_non_positive_spend_is_excluded_and_reported(weekly):
    s = weekly.copy()
    repeat_ids = s.index[s["frequency"] > 0][:3]
    s.loc[repeat_ids, "monetary_value"] = 0.0
    fit = fit_spend_model(s)
    assert fit.n_customers == 943 and fit.n_excluded == 3
    assert fit.excluded_customers == tuple(s.loc[repeat_ids, "customer_id"])
    assert any("3 repeat customers" in n for n in fit.fit_notes)


def test_spend_model_errors(weekly):
    with pytest.raises(CrmDataError, match="missing column"):
        fit_spend_model(weekly.drop(columns="monetary_value"))
    with pytest.raises(CrmDataError, match="needs customers with repeat orders"):
        fit_spend_model(weekly.assign(frequency=0))
    with pytest.raises(CrmDataError, match="'monetary_value'.*missing or non-numeric"):
        fit_spend_model(weekly.assign(monetary_value=np.nan))
    with pytest.raises(CrmDataError, match="'max_abs_correlation' parameter"):
        fit_spend_model(weekly, max_abs_correlation=2)


def test_spend_fit_failure_raises(weekly, monkeypatch):
    def broken(*args, **kw):
        raise _lifetimes.FitFailed("The model did not converge.")

    monkeypatch.setattr(_lifetimes, "fit_gamma_gamma", broken)
    with pytest.raises(CrmDataError, match="Gamma-Gamma fit on 946 repeat customers did not"):
        fit_spend_model(weekly)


def _small_shop() -> pd.DataFrame:
    """268 customers, 33 of them repeat buyers with similar spend: a flat Gamma-Gamma."""
    rng = np.random.default_rng(4)
    freq = np.zeros(268, dtype=np.int64)
    freq[:33] = rng.choice([1, 1, 1, 1, 2, 2, 3, 5], 33)
    money = np.zeros(268)
    money[:33] = np.round(rng.gamma(20, 3.0, 33), 2)
    return pd.DataFrame({"customer_id": [f"c{i:03d}" for i in range(268)],
                         "frequency": freq, "monetary_value": money})


def test_spend_fit_is_the_same_in_any_row_order_and_warns_when_flat():
    shop = _small_shop()
    fits = [fit_spend_model(shop.sample(frac=1, random_state=seed) if seed else shop)
            for seed in range(3)]
    for fit in fits[1:]:
        for k, v in fits[0].params.items():
            assert fit.params[k] == pytest.approx(v, rel=1e-6)
        assert fit.warnings == fits[0].warnings and fit.fallback == fits[0].fallback
    flat = fits[0]
    assert flat.fallback is not None and "shrunk to the shop's mean" in flat.fallback
    assert any("flat" in w for w in flat.warnings)
    assert any("Only 33 repeat customers" in w for w in flat.warnings)
    # the fallback: (x m + mean) / (x + 1), mean = the shop's spend per repeat order
    x, m = shop["frequency"].to_numpy(float), shop["monetary_value"].to_numpy(float)
    mean = (x * m).sum() / x.sum()
    assert flat.fallback_mean == pytest.approx(mean)
    np.testing.assert_allclose(flat.expected_spend(x, m), (x * m + mean) / (x + 1))
    rule = flat.spend_rule()
    assert rule.sql("f", "m").startswith("((1 - (1.0 * CAST(f AS DOUBLE) / (1.0 * ")


def test_a_well_identified_spend_fit_has_no_warnings(spend):
    assert spend.warnings == () and spend.fallback is None


def test_q_below_one_is_refused():
    model = SpendModel({"p": 2.0, "q": 0.8, "gamma": 10.0}, {}, 0.0, 10, 0, (), 1.0, 0.0,
                       0.3, 0.0, 0.0)
    with pytest.raises(CrmDataError, match="q = 0.8 <= 1"):
        model.expected_spend([1], [10.0])


# --------------------------------------------------------------------------- predict_ltv


def test_predict_ltv_equals_lifetimes_clv_weekly(weekly, churn, spend):
    ltv = predict_ltv(weekly, churn_model=churn, spend_model=spend, horizon_months=12,
                      monthly_discount_rate=0.01)
    _, _, clv, _ = lifetimes_reference(weekly, time=12, discount_rate=0.01, freq="W")
    np.testing.assert_allclose(ltv["ltv"], clv, rtol=1e-9)
    assert DAYS_PER_MONTH == pytest.approx(30.415)
    assert ltv.columns.tolist() == ["customer_id", "expected_orders",
                                    "expected_spend_per_order", "expected_revenue",
                                    "expected_margin", "ltv"]
    assert ltv["expected_margin"].isna().all()


def test_predict_ltv_equals_lifetimes_clv_daily_with_its_month(daily):
    churn, spend = fit_churn_model(daily), fit_spend_model(daily)
    ltv = predict_ltv(daily, churn_model=churn, spend_model=spend, horizon_months=6,
                      monthly_discount_rate=0.02,
                      days_per_month=30)
    _, _, clv, _ = lifetimes_reference(daily, time=6, discount_rate=0.02, freq="D")
    np.testing.assert_allclose(ltv["ltv"], clv, rtol=1e-9)


def test_time_unit_does_not_change_ltv(weekly, daily, churn, spend):
    """The 7x trap of lifetimes #215/#233 cannot happen: units come from the model."""
    by_week = predict_ltv(weekly, churn_model=churn, spend_model=spend)
    by_day = predict_ltv(daily, churn_model=fit_churn_model(daily),
                         spend_model=fit_spend_model(daily))
    np.testing.assert_allclose(by_day["ltv"], by_week["ltv"], rtol=1e-9)
    # a daily summary valued with the weekly model: same again
    mixed = predict_ltv(daily, churn_model=churn, spend_model=spend)
    np.testing.assert_allclose(mixed["ltv"], by_week["ltv"], rtol=1e-12)
    # lifetimes' default freq="D" on this weekly data is the documented error
    _, _, wrong, _ = lifetimes_reference(weekly, time=12, discount_rate=0.01)
    assert wrong.sum() / by_week["ltv"].sum() > 3


def test_predict_ltv_parts(weekly, churn, spend):
    ltv = predict_ltv(weekly, churn_model=churn, spend_model=spend, horizon_months=3,
                      monthly_discount_rate=0.0)
    f, r, T = weekly["frequency"], weekly["recency"], weekly["T"]
    horizon = 3 * DAYS_PER_MONTH / 7
    np.testing.assert_allclose(ltv["expected_orders"],
                               churn.expected_orders(horizon, f, r, T), rtol=1e-12)
    np.testing.assert_allclose(
        ltv["expected_spend_per_order"],
        spend.expected_spend(f, weekly["monetary_value"]), rtol=1e-12)
    np.testing.assert_allclose(ltv["expected_revenue"],
                               ltv["expected_orders"] * ltv["expected_spend_per_order"])
    # without discounting, LTV is the expected revenue
    np.testing.assert_allclose(ltv["ltv"], ltv["expected_revenue"], rtol=1e-12)
    discounted = predict_ltv(weekly, churn_model=churn, spend_model=spend, horizon_months=3)
    assert (discounted["ltv"] < ltv["ltv"]).all()
    assert (discounted["ltv"] > ltv["ltv"] / 1.01**3).all()


def test_predict_ltv_in_margin(with_margin):
    churn, spend = fit_churn_model(with_margin), fit_spend_model(with_margin)
    ltv = predict_ltv(with_margin, churn_model=churn, spend_model=spend)
    revenue_based = predict_ltv(with_margin.drop(columns="total_margin"), churn_model=churn,
                                spend_model=spend)
    rate = np.where(with_margin["customer_id"].astype(int) % 2 == 0, 0.5, 0.3)
    # customers who paid nothing (CDNOW has a few zero amounts) get the shop's margin rate
    free = with_margin["total_amount"].to_numpy() == 0
    assert free.sum() > 0
    rate[free] = with_margin["total_margin"].sum() / with_margin["total_amount"].sum()
    assert ltv["expected_margin"].notna().all()  # ltv is on margin
    assert revenue_based["expected_margin"].isna().all()  # on revenue
    np.testing.assert_allclose(ltv["ltv"], revenue_based["ltv"] * rate, rtol=1e-9)
    np.testing.assert_allclose(ltv["expected_margin"], ltv["expected_revenue"] * rate,
                               rtol=1e-9)
    flat = predict_ltv(with_margin.drop(columns="total_margin"), churn_model=churn,
                       spend_model=spend,
                       margin_rate=0.4)
    assert flat["expected_margin"].notna().all()
    np.testing.assert_allclose(flat["ltv"], revenue_based["ltv"] * 0.4)
    with pytest.raises(CrmDataError, match="'total_margin' column.*margin_rate=0.4 was also"):
        predict_ltv(with_margin, churn_model=churn, spend_model=spend, margin_rate=0.4)


def test_predict_ltv_does_not_mutate(weekly, churn, spend):
    before = weekly.copy()
    predict_ltv(weekly, churn_model=churn, spend_model=spend)
    pd.testing.assert_frame_equal(weekly, before)


def test_predict_ltv_errors(weekly, churn, spend):
    with pytest.raises(CrmDataError, match="must be a ChurnModel"):
        predict_ltv(weekly, churn_model=spend, spend_model=spend)
    with pytest.raises(CrmDataError, match="must be a SpendModel"):
        predict_ltv(weekly, churn_model=churn, spend_model=churn)
    with pytest.raises(CrmDataError, match="'horizon_months' parameter"):
        predict_ltv(weekly, churn_model=churn, spend_model=spend, horizon_months=2.5)
    with pytest.raises(CrmDataError, match="'horizon_months' parameter"):
        predict_ltv(weekly, churn_model=churn, spend_model=spend, horizon_months=0)
    with pytest.raises(CrmDataError, match="'monthly_discount_rate' parameter"):
        predict_ltv(weekly, churn_model=churn, spend_model=spend, monthly_discount_rate=-0.1)
    with pytest.raises(CrmDataError, match="'margin_rate' parameter"):
        predict_ltv(weekly, churn_model=churn, spend_model=spend, margin_rate=30)
    with pytest.raises(CrmDataError, match=r"missing column\(s\) \['monetary_value'\]"):
        predict_ltv(weekly.drop(columns="monetary_value"), churn_model=churn, spend_model=spend)


def test_predict_ltv_old_positional_models_warn(weekly, churn, spend):
    new = predict_ltv(weekly, churn_model=churn, spend_model=spend, horizon_months=3)
    with pytest.warns(DeprecationWarning, match="pass them by keyword"):
        old = predict_ltv(weekly, churn, spend, horizon_months=3)
    pd.testing.assert_frame_equal(old, new)
    with pytest.warns(DeprecationWarning):
        half = predict_ltv(weekly, churn, spend_model=spend, horizon_months=3)
    pd.testing.assert_frame_equal(half, new)
    with pytest.raises(TypeError, match="twice"):
        predict_ltv(weekly, churn, spend, churn_model=churn)


def test_score_customers_on_pandas_joins_scores_and_ltv(cdnow, weekly, churn, spend):
    from crm_analytics.churn import churn_scores
    from crm_analytics.ltv import score_customers

    got = score_customers(cdnow, as_of=CAL_END, churn_model=churn, spend_model=spend,
                          horizon=60, horizon_months=6)
    scores = churn_scores(weekly, churn_model=churn, horizon=60)
    ltv = predict_ltv(weekly, churn_model=churn, spend_model=spend, horizon_months=6)
    pd.testing.assert_frame_equal(got[scores.columns], scores, rtol=1e-12)
    assert got.columns.tolist() == [*scores.columns, "ltv_expected_orders",
                                    "expected_spend_per_order", "expected_revenue",
                                    "expected_margin", "ltv"]
    np.testing.assert_allclose(got["ltv_expected_orders"], ltv["expected_orders"], rtol=1e-12)
    np.testing.assert_allclose(got["ltv"], ltv["ltv"], rtol=1e-12)
    only_churn = score_customers(cdnow, as_of=CAL_END, churn_model=churn, horizon=60)
    pd.testing.assert_frame_equal(only_churn, got[scores.columns])
    with pytest.raises(CrmDataError, match="'churn_model' argument must be a ChurnModel"):
        score_customers(cdnow, churn_model="bgnbd")
    with pytest.raises(CrmDataError, match="'spend_model' argument must be a SpendModel"):
        score_customers(cdnow, churn_model=churn, spend_model=churn)
    with pytest.raises(CrmDataError, match="only for engine sources"):
        score_customers(cdnow, churn_model=churn, output="native")


def test_spend_and_margin_rules_give_numpy_and_sql_from_one_definition(spend):
    import duckdb

    from crm_analytics.ltv import margin_rule

    rule = spend.spend_rule()
    x, m = np.array([0, 1, 4, 9]), np.array([0.0, 12.5, 30.0, 7.25])
    frame = pd.DataFrame({"frequency": x, "monetary_value": m,
                          "total_margin": [0.0, 5.0, 40.0, 1.0],
                          "total_amount": [0.0, 25.0, 120.0, 72.5]})
    con = duckdb.connect()
    con.register("s", frame)
    sql = con.execute(f"SELECT {rule.sql('s.frequency', 's.monetary_value')} AS v "
                      "FROM s").df()["v"].to_numpy()
    np.testing.assert_allclose(sql, rule.evaluate(x, m), rtol=1e-15)
    np.testing.assert_allclose(rule.evaluate(x, m), spend.expected_spend(x, m), rtol=0)
    column = margin_rule(has_margin=True, margin_rate=None)
    rates = column.rates(4, frame["total_margin"], frame["total_amount"])
    shop = 46.0 / 217.5
    assert rates[0] == pytest.approx(shop)  # nothing paid: the shop's rate
    sql = con.execute(f"SELECT {column.sql('s', shop)} AS v FROM s").df()["v"].to_numpy()
    np.testing.assert_allclose(sql, rates, rtol=1e-15)
    flat = margin_rule(has_margin=False, margin_rate=0.25)
    assert flat.sql() == "0.25" and (flat.rates(2) == 0.25).all()
    unknown = margin_rule(has_margin=False, margin_rate=None)
    assert unknown.basis == "revenue" and unknown.sql() is None
    with pytest.raises(CrmDataError, match="margin_rate=0.3 was also given"):
        margin_rule(has_margin=True, margin_rate=0.3)


# --------------------------------------------------------------------------- formula


def test_formula_ltv_by_hand():
    s = pd.DataFrame({"customer_id": ["a", "b", "c"], "n_orders": [4, 1, 6],
                      "T": [730.5, 30.0, 365.25], "total_amount": [400.0, 50.0, 600.0],
                      "total_margin": [100.0, 10.0, 120.0]})
    out = formula_ltv(s, lifetime_years=2.5, time_unit="D")
    # a: 2 orders/year x 25 margin/order x 2.5 years; b: floor of 1 year observed
    np.testing.assert_allclose(out["orders_per_year"], [2.0, 1.0, 6.0])
    np.testing.assert_allclose(out["margin_per_order"], [25.0, 10.0, 20.0])
    np.testing.assert_allclose(out["ltv"], [125.0, 25.0, 300.0])
    assert (out["lifetime_years"] == 2.5).all()
    weekly = s.assign(T=s["T"] / 7)
    pd.testing.assert_frame_equal(formula_ltv(weekly, lifetime_years=2.5, time_unit="W"), out,
                                  check_like=True)
    no_floor = formula_ltv(s, lifetime_years=2.5, min_years_observed=30 / 365.25,
                           time_unit="D")
    assert no_floor.loc[1, "orders_per_year"] == pytest.approx(365.25 / 30)


def test_formula_ltv_estimated_lifetime(cdnow):
    # as_of a year after the start, so some customers existed "a year ago"
    rate = np.where(cdnow["customer_id"].astype(int) % 2 == 0, 0.5, 0.3)
    s = customer_summary(cdnow.assign(margin=cdnow["amount"] * rate), as_of="1998-01-31")
    years, retention, n = estimate_lifetime_years(s)
    assert estimate_lifetime_years(s, as_of="1998-01-31") == (years, retention, n)
    with pytest.raises(CrmDataError, match="disagrees with the summary"):
        estimate_lifetime_years(s, as_of="1998-02-01")
    cut = pd.Timestamp("1998-01-31") - pd.Timedelta(days=365)
    old = s[s["first_order"] <= cut]
    assert n == len(old) and n > 0
    assert retention == pytest.approx((old["last_order"] > cut).mean())
    assert years == pytest.approx(1 / (1 - retention))
    out = formula_ltv(s, lifetime_years="estimate")
    assert (out["lifetime_years"] == years).all()


def test_formula_ltv_errors(weekly, with_margin):
    with pytest.raises(CrmDataError, match="pass margin_rate"):
        formula_ltv(weekly, lifetime_years=3)
    with pytest.raises(CrmDataError, match="'total_margin' column"):
        formula_ltv(with_margin, lifetime_years=3, margin_rate=0.3)
    with pytest.raises(CrmDataError, match="a number of years or 'estimate'"):
        formula_ltv(weekly, lifetime_years="forever", margin_rate=0.3)
    with pytest.raises(CrmDataError, match="'lifetime_years' parameter"):
        formula_ltv(weekly, lifetime_years=-1, margin_rate=0.3)
    with pytest.raises(CrmDataError, match="no customer's first order is a year"):
        formula_ltv(weekly, lifetime_years="estimate", margin_rate=0.3)
    with pytest.raises(CrmDataError, match=r"missing column\(s\) \['n_orders'\]"):
        formula_ltv(weekly.drop(columns="n_orders"), lifetime_years=3, margin_rate=0.3)
    bad = weekly.assign(n_orders=0)
    with pytest.raises(CrmDataError, match="'n_orders' must be >= 1"):
        formula_ltv(bad, lifetime_years=3, margin_rate=0.3)


def test_estimate_lifetime_all_retained():
    s = pd.DataFrame({"first_order": pd.to_datetime(["2022-01-01"]),
                      "last_order": pd.to_datetime(["2023-12-01"])})
    with pytest.raises(CrmDataError, match="retention 100%"):
        estimate_lifetime_years(s, as_of="2023-12-31")
    with pytest.raises(CrmDataError, match="Pass as_of=<date>"):
        estimate_lifetime_years(s)


def test_formula_ltv_does_not_mutate(with_margin):
    before = with_margin.copy()
    formula_ltv(with_margin, lifetime_years=3)
    pd.testing.assert_frame_equal(with_margin, before)


# --------------------------------------------------------------------------- plots


def test_plots(weekly, churn, spend):
    import matplotlib.pyplot as plt

    from crm_analytics.plots.ltv import plot_ltv_by_group, plot_ltv_distribution

    ltv = predict_ltv(weekly, churn_model=churn, spend_model=spend)
    ax = plot_ltv_distribution(ltv, currency="USD", horizon_months=12)
    assert isinstance(ax, Axes) and ax.get_xlabel() == "ltv (USD)"
    assert "revenue, 12 months, discounted" in ax.get_title()
    ax = plot_ltv_distribution(ltv.rename(columns={"expected_orders": "expected_orders_6m"}))
    assert "(revenue, 6 months, discounted)" in ax.get_title()
    ax = plot_ltv_distribution(ltv[["customer_id", "ltv"]], basis="margin")
    assert "(margin)" in ax.get_title()
    _, given = plt.subplots()
    assert plot_ltv_distribution(ltv, ax=given, log_scale=True) is given
    assert given.get_xscale() == "log"
    merged = ltv.merge(weekly[["customer_id", "first_order"]])
    ax = plot_ltv_by_group(merged, by="first_order")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1997-01", "1997-02", "1997-03"]
    heights = [p.get_height() for p in ax.patches]
    month = merged["first_order"].dt.to_period("M").astype(str)
    np.testing.assert_allclose(heights, merged.groupby(month)["ltv"].mean().to_numpy())
    tiers = pd.Series(pd.Categorical(np.where(ltv["ltv"] > 50, "金卡", "普通会员"),
                                     categories=["普通会员", "金卡"]),
                      index=ltv["customer_id"], name="会员等级")
    ax = plot_ltv_by_group(ltv, by=tiers, statistic="sum")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["普通会员", "金卡"]
    assert sum(p.get_height() for p in ax.patches) == pytest.approx(ltv["ltv"].sum())
    with pytest.raises(CrmDataError, match="'statistic' parameter"):
        plot_ltv_by_group(ltv, by=tiers, statistic="max")
    with pytest.raises(CrmDataError, match="missing column"):
        plot_ltv_distribution(ltv, column="value")
    with pytest.raises(CrmDataError, match="no numeric values"):
        plot_ltv_distribution(ltv.assign(ltv=np.nan))
    with pytest.raises(CrmDataError, match="needs positive"):
        plot_ltv_distribution(ltv.assign(ltv=0.0), log_scale=True)
    plt.close("all")


def test_formula_ltv_lifetime_none_points_to_estimate(weekly) -> None:
    from crm_analytics._core.errors import CrmDataError

    with pytest.raises(CrmDataError, match="'estimate'"):
        formula_ltv(weekly, lifetime_years=None, margin_rate=0.3)
