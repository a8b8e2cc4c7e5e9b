"""Tests of campaign lift: holdout assignment, Welch/delta/CUPED statistics against scipy,
a bootstrap and simulations with a known effect, and the sample campaigns' true effects."""

import hashlib
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crm_analytics._core.errors import CrmDataError
from crm_analytics.campaigns import (
    IncompleteWindowWarning,
    LiftResult,
    SampleRatioMismatchWarning,
    assign_holdout,
    campaign_lift,
    campaign_settings,
    check_randomization,
    lift_by_metric,
    lift_by_segment,
)
from crm_analytics.campaigns.holdout import holdout_tradeoff, plan_holdout
from crm_analytics.campaigns.stats import adjust_p_values, lift_statistics, srm_test
from crm_analytics.plots.campaigns import (
    plot_cumulative_outcome,
    plot_lift,
    plot_lift_by_segment,
)

START = pd.Timestamp("2024-06-01")


def simulate_campaign(seed, n=3000, holdout=0.2, base=0.3, effect=0.1, mean_amount=100.0,
                      window_days=30, tiers=False):
    """Orders and audience of a campaign with a known effect.

    Member i orders Poisson(lambda_i) times in the 30 days before and
    Poisson(lambda_i + effect * treated) times in the window (lambda_i ~ Gamma), each
    order worth a lognormal amount with mean ``mean_amount`` and a 30% margin. True
    lifts per member: ``effect`` orders, ``effect * mean_amount`` revenue.
    """
    rng = np.random.default_rng(seed)
    ids = np.array([f"m{i:05d}" for i in range(n)], dtype=object)
    treated = rng.random(n) >= holdout
    lam = rng.gamma(0.8, base / 0.8, n)
    pre = rng.poisson(lam)
    post = rng.poisson(lam + effect * treated)
    cust = np.concatenate([np.repeat(ids, pre), np.repeat(ids, post)])
    offs = np.concatenate([-window_days + rng.random(pre.sum()) * window_days,
                           rng.random(post.sum()) * window_days])
    amount = rng.lognormal(np.log(mean_amount) - 0.18, 0.6, len(cust))
    orders = pd.DataFrame({
        "customer_id": cust, "order_id": [f"o{i}" for i in range(len(cust))],
        "order_date": START + pd.to_timedelta(offs, unit="D"),
        "amount": amount, "margin": amount * 0.3,
    })
    audience = pd.DataFrame({"customer_id": ids,
                             "group": np.where(treated, "treatment", "control")})
    if tiers:
        audience["tier"] = np.where(lam > base, "high", "low")
    return orders, audience


@pytest.fixture(scope="module")
def campaign():
    return simulate_campaign(11, n=4000, holdout=0.2)


@pytest.fixture
def hand():
    """Five members, hand-checkable: a, b treated with orders; c control; d, e no orders."""
    orders = pd.DataFrame({
        "customer_id": ["a", "a", "b", "c", "b", "a", "x"],
        "order_id": list("1234567"),
        "order_date": pd.to_datetime([
            "2024-06-01 00:00",  # a: first instant of the window
            "2024-06-10 23:59",  # a
            "2024-06-30 23:59",  # b: last minute of a 30-day window
            "2024-06-05 00:00",  # c
            "2024-05-31 12:00",  # b: pre-period
            "2024-07-01 00:00",  # a: after the window
            "2024-06-03 00:00",  # x: not in the audience
        ]),
        "amount": [10.0, 20.0, 40.0, 15.0, 7.0, 99.0, 500.0],
        "margin": [3.0, 6.0, 12.0, 4.5, 2.1, 30.0, 150.0],
    })
    audience = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"],
                             "group": ["treatment", "treatment", "control", "control",
                                       "treatment"]})
    return orders, audience


def welch_ci(x, y, level):
    return stats.ttest_ind(x, y, equal_var=False).confidence_interval(level)


# --------------------------------------------------------------------------- holdout
def test_assign_holdout_is_the_documented_hash_and_order_free():
    ids = pd.DataFrame({"customer_id": [f"c{i}" for i in range(3000)]})
    out = assign_holdout(ids, holdout=0.1, seed=42)
    u = np.array([int.from_bytes(hashlib.sha256(f"42:{c}".encode()).digest()[:8], "big")
                  / 2**64 for c in ids["customer_id"]])
    assert (out["group"].eq("control").to_numpy() == (u < 0.1)).all()
    shuffled = assign_holdout(ids.sample(frac=1, random_state=0), holdout=0.1, seed=42)
    assert shuffled.sort_index()["group"].equals(out["group"])
    again = assign_holdout(ids, holdout=0.1, seed=42)
    assert again.equals(out)
    other_seed = assign_holdout(ids, holdout=0.1, seed=43)
    both = (out["group"].eq("control") & other_seed["group"].eq("control")).mean()
    assert both < 0.03  # independent seeds: about 0.1 * 0.1 held out twice


def test_assign_holdout_stable_when_customers_are_added():
    ids = pd.DataFrame({"customer_id": [f"c{i}" for i in range(5000)]})
    small = assign_holdout(ids.iloc[:4000], seed="spring", holdout=0.1)
    large = assign_holdout(ids, seed="spring", holdout=0.1)
    assert large.iloc[:4000]["group"].equals(small["group"])


def test_assign_holdout_sizes_within_sampling_error():
    ids = pd.DataFrame({"customer_id": np.arange(20_000)})  # int ids are hashed as text
    out = assign_holdout(ids, holdout=0.1, seed=1)
    n_control = int(out["group"].eq("control").sum())
    assert stats.binomtest(n_control, 20_000, 0.1).pvalue > 0.001
    as_text = assign_holdout(ids.astype(str), holdout=0.1, seed=1)
    assert as_text["group"].equals(out["group"])


def test_assign_holdout_stratified_balance_and_bounded_reshuffle():
    rng = np.random.default_rng(5)
    tiers = rng.choice(["普通会员", "银卡", "金卡", "黑金"], 3000, p=[0.6, 0.25, 0.1, 0.05])
    customers = pd.DataFrame({"customer_id": [f"c{i}" for i in range(3000)], "tier": tiers,
                              "channel": rng.choice(["天猫", "抖音"], 3000)})
    out = assign_holdout(customers, holdout=0.1, seed=9, strata=["tier", "channel"])
    sizes = out.groupby(["tier", "channel"])["group"].agg(
        n="size", control=lambda g: int((g == "control").sum()))
    assert (sizes["control"] >= np.floor(0.1 * sizes["n"])).all()
    assert (sizes["control"] <= np.ceil(0.1 * sizes["n"])).all()
    # adding 40 customers moves at most 40 existing ones (at most one per addition)
    more = pd.concat([customers, customers.iloc[:40].assign(
        customer_id=[f"new{i}" for i in range(40)])], ignore_index=True)
    out_more = assign_holdout(more, holdout=0.1, seed=9, strata=["tier", "channel"])
    moved = (out_more["group"].iloc[:3000].to_numpy() != out["group"].to_numpy()).sum()
    assert moved <= 40
    # re-running reproduces it, whatever the row order
    again = assign_holdout(customers.iloc[::-1], holdout=0.1, seed=9,
                           strata=["tier", "channel"]).sort_index()
    assert again["group"].equals(out["group"])


def test_assign_holdout_does_not_mutate_and_keeps_rows():
    customers = pd.DataFrame({"customer_id": ["b", "a", "c"], "x": [1, 2, 3]},
                             index=[10, 20, 30])
    before = customers.copy()
    out = assign_holdout(customers, seed=0, holdout=0.5)
    pd.testing.assert_frame_equal(customers, before)
    assert list(out.index) == [10, 20, 30] and list(out.columns) == ["customer_id", "x",
                                                                     "group"]
    series_out = assign_holdout(customers["customer_id"], seed=0, holdout=0.5)
    assert series_out["group"].equals(out["group"])


@pytest.mark.parametrize("kwargs, frame, match", [
    ({"holdout": 1.5}, None, "'holdout' parameter must be strictly between 0 and 1"),
    ({}, pd.DataFrame({"customer_id": ["a", "a", "b"]}), "2 rows sharing 1 ids"),
    ({}, pd.DataFrame({"customer_id": ["a", None]}), "is empty in 1 rows"),
    ({}, pd.DataFrame({"customer_id": ["a"], "group": ["x"]}), "already has a 'group'"),
    ({"strata": "tier"}, None, r"missing column\(s\) \['tier'\]"),
    ({}, pd.DataFrame({"id": ["a"]}), r"missing column\(s\) \['customer_id'\]"),
    ({}, pd.DataFrame({"customer_id": []}), "is empty"),
])
def test_assign_holdout_errors(kwargs, frame, match):
    frame = pd.DataFrame({"customer_id": ["a", "b"]}) if frame is None else frame
    with pytest.raises(CrmDataError, match=match):
        assign_holdout(frame, seed=1, **kwargs)


def test_assign_holdout_rejects_non_frames():
    with pytest.raises(CrmDataError, match="must be a pandas DataFrame"):
        assign_holdout(["a", "b"], seed=1)


# ------------------------------------------------------------------------ statistics
@pytest.mark.parametrize("level", [0.95, 0.9, 0.99])
def test_lift_statistics_equal_scipy_welch(level):
    rng = np.random.default_rng(3)
    x = rng.exponential(30, 400)
    y = rng.exponential(25, 90)
    s = lift_statistics(x, y, confidence_level=level)
    ref = stats.ttest_ind(x, y, equal_var=False)
    assert s.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert s.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert s.df == pytest.approx(ref.df, rel=1e-10)
    assert s.absolute_ci == pytest.approx(tuple(ref.confidence_interval(level)), rel=1e-10)
    assert s.confidence_interval(0.8) == pytest.approx(tuple(ref.confidence_interval(0.8)))
    se_formula = np.sqrt(x.var(ddof=1) / 400 + y.var(ddof=1) / 90)
    assert s.std_error == pytest.approx(se_formula)
    mt, mc, vt, vc = x.mean(), y.mean(), x.var(ddof=1), y.var(ddof=1)
    rel_se = np.sqrt(vc * mt**2 / (mc**4 * 90) + vt / (mc**2 * 400))  # REFERENCE.md
    assert s.relative_std_error == pytest.approx(rel_se)
    assert s.relative_ci == pytest.approx(
        (mt / mc - 1 - stats.norm.ppf(0.5 + level / 2) * rel_se,
         mt / mc - 1 + stats.norm.ppf(0.5 + level / 2) * rel_se))


def test_cuped_equals_welch_on_adjusted_values():
    rng = np.random.default_rng(4)
    pre = rng.gamma(1.0, 50.0, 3000)
    treated = rng.random(3000) < 0.8
    post = 0.7 * pre + rng.normal(0, 20, 3000) + 5.0 * treated
    theta = np.polyfit(pre, post, 1)[0]  # pooled OLS slope = cov / var
    adjusted = post - theta * (pre - pre.mean())
    s = lift_statistics(post[treated], post[~treated], covariate_treatment=pre[treated],
                        covariate_control=pre[~treated])
    ref = stats.ttest_ind(adjusted[treated], adjusted[~treated], equal_var=False)
    assert s.theta == pytest.approx(theta, rel=1e-9)
    assert s.p_value == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-300)
    assert s.absolute_ci == pytest.approx(tuple(ref.confidence_interval()), rel=1e-9)
    raw = lift_statistics(post[treated], post[~treated])
    r2 = np.corrcoef(pre, post)[0, 1] ** 2
    assert s.variance_reduction == pytest.approx(r2, abs=0.03)
    assert s.std_error < raw.std_error


def test_relative_ci_matches_bootstrap():
    rng = np.random.default_rng(8)
    t = rng.poisson(0.4, 3000) * rng.lognormal(4, 0.6, 3000)
    c = rng.poisson(0.3, 800) * rng.lognormal(4, 0.6, 800)
    s = lift_statistics(t, c)
    # vectorised bootstrap of mean_T / mean_C - 1
    boots = 4000
    mt = t[rng.integers(0, len(t), (boots, len(t)))].mean(axis=1)
    mc = c[rng.integers(0, len(c), (boots, len(c)))].mean(axis=1)
    ratio = mt / mc - 1
    assert s.relative_lift == pytest.approx(t.mean() / c.mean() - 1)
    assert s.relative_std_error == pytest.approx(ratio.std(ddof=1), rel=0.07)
    lo, hi = np.quantile(ratio, [0.025, 0.975])
    width = hi - lo
    assert abs(s.relative_ci.low - lo) < 0.1 * width
    assert abs(s.relative_ci.high - hi) < 0.1 * width


def test_relative_lift_nan_when_control_mean_is_zero():
    s = lift_statistics([1.0, 0.0, 2.0], [0.0, 0.0, 0.0])
    assert np.isnan(s.relative_lift) and np.isnan(s.relative_ci.low)
    assert s.absolute_lift == 1.0


def test_intervals_cover_the_true_effect_about_95_percent():
    """1,000 simulated campaigns (revenue: zero-inflated, skewed) with a known effect."""
    rng = np.random.default_rng(2024)
    reps, n_t, n_c = 1000, 1800, 200
    truth_rate, effect, mean_amount = 0.3, 0.06, 80.0
    true_lift = effect * mean_amount
    true_relative = effect / truth_rate
    hits = {"raw": 0, "cuped": 0, "relative": 0}
    estimates = []
    for _ in range(reps):
        lam = rng.gamma(0.8, truth_rate / 0.8, n_t + n_c)
        pre = rng.poisson(lam) * mean_amount
        orders = rng.poisson(lam + effect * (np.arange(n_t + n_c) < n_t))
        revenue = orders * rng.gamma(4.0, mean_amount / 4.0, n_t + n_c)
        t, c = revenue[:n_t], revenue[n_t:]
        raw = lift_statistics(t, c)
        cuped = lift_statistics(t, c, covariate_treatment=pre[:n_t],
                                covariate_control=pre[n_t:])
        hits["raw"] += raw.absolute_ci.low <= true_lift <= raw.absolute_ci.high
        hits["cuped"] += cuped.absolute_ci.low <= true_lift <= cuped.absolute_ci.high
        hits["relative"] += raw.relative_ci.low <= true_relative <= raw.relative_ci.high
        estimates.append((raw.absolute_lift, cuped.absolute_lift))
    tol = 3 * np.sqrt(0.95 * 0.05 / reps)  # binomial: 3 standard errors = 0.021
    for name, count in hits.items():
        assert abs(count / reps - 0.95) < tol, name
    est = np.array(estimates)
    se_mean = est.std(axis=0, ddof=1) / np.sqrt(reps)
    assert (np.abs(est.mean(axis=0) - true_lift) < 3 * se_mean).all()
    assert est[:, 1].std() < est[:, 0].std()  # CUPED tightens


def test_campaign_lift_end_to_end_coverage_and_unbiased():
    """200 simulated order tables through campaign_lift: revenue and orders lifts."""
    reps = 200
    hits_rev = hits_orders = 0
    est = []
    for seed in range(reps):
        orders, audience = simulate_campaign(seed, n=1500, holdout=0.3)
        table = lift_by_metric(orders, audience, start=START, planned_holdout=0.3,
                               metrics=["orders", "revenue"]).set_index("metric")
        rev, o = table.loc["revenue"], table.loc["orders"]
        hits_rev += rev["absolute_ci_low"] <= 10.0 <= rev["absolute_ci_high"]
        hits_orders += o["absolute_ci_low"] <= 0.1 <= o["absolute_ci_high"]
        est.append(rev["absolute_lift"])
    tol = 3 * np.sqrt(0.95 * 0.05 / reps)
    assert abs(hits_rev / reps - 0.95) < tol
    assert abs(hits_orders / reps - 0.95) < tol
    assert abs(np.mean(est) - 10.0) < 3 * np.std(est) / np.sqrt(reps)


def test_srm_test_is_chi_square():
    ref = stats.chisquare([880, 120], f_exp=[900, 100]).pvalue
    assert srm_test(880, 120, 0.1) == pytest.approx(ref)


def test_adjust_p_values_holm_and_bh():
    p = np.array([0.01, 0.04, 0.03, 0.2, np.nan, 0.005])
    holm = adjust_p_values(p, "holm")
    # brute force: Holm adjusted p_(i) = max_{j<=i} min(1, (m - j + 1) p_(j))
    q = p[~np.isnan(p)]
    order = np.argsort(q)
    m = len(q)
    expected = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * q[idx]))
        expected[idx] = running
    assert np.allclose(holm[~np.isnan(p)], expected) and np.isnan(holm[4])
    bh = adjust_p_values(p, "bh")
    assert np.allclose(bh[~np.isnan(p)], stats.false_discovery_control(q))
    assert np.allclose(adjust_p_values(p, "none"), p, equal_nan=True)
    with pytest.raises(CrmDataError, match="'adjust' method must be one of"):
        adjust_p_values(p, "bonferonni")


@pytest.mark.parametrize("call, match", [
    (lambda: lift_statistics([1.0], [1.0, 2.0]), "treatment group has 1 member"),
    (lambda: lift_statistics([1.0, np.nan], [1.0, 2.0]), "NaN or infinite"),
    (lambda: lift_statistics([1.0, 2.0], [1.0, 2.0], covariate_treatment=[1, 2]),
     "both covariate_treatment and covariate_control"),
    (lambda: lift_statistics([1.0, 2.0], [1.0, 2.0], covariate_treatment=[1],
                             covariate_control=[1, 2]), "one value per member"),
    (lambda: lift_statistics([1.0, 2.0], [1.0, 3.0]).confidence_interval(kind="ratio"),
     "'kind' parameter must be"),
    (lambda: lift_statistics([1.0, 2.0], [1.0, 3.0], confidence_level=95),
     "'confidence_level' parameter must be strictly between"),
])
def test_lift_statistics_errors(call, match):
    with pytest.raises(CrmDataError, match=match):
        call()


# ---------------------------------------------------------------------- planning
def test_plan_holdout_power_by_simulation():
    plan = plan_holdout(4000, baseline_mean=0.2, holdout=0.2)
    rng = np.random.default_rng(12)
    reps, n_c = 600, plan.n_control
    n_t = plan.n_treatment
    t = rng.random((reps, n_t)) < 0.2 + plan.mde
    c = rng.random((reps, n_c)) < 0.2
    p = stats.ttest_ind(t, c, axis=1, equal_var=False).pvalue
    power = (p < 0.05).mean()
    assert abs(power - 0.8) < 3 * np.sqrt(0.8 * 0.2 / reps)


def test_plan_holdout_inverse_and_variance_reduction():
    plan = plan_holdout(50_000, baseline_mean=40.0, baseline_sd=90.0, holdout=0.05,
                        metric="revenue")
    back = plan_holdout(50_000, baseline_mean=40.0, baseline_sd=90.0, mde=plan.mde,
                        metric="revenue")
    assert back.holdout == pytest.approx(0.05)
    cuped = plan_holdout(50_000, baseline_mean=40.0, baseline_sd=90.0, holdout=0.05,
                         variance_reduction=0.36, metric="revenue")
    assert cuped.mde == pytest.approx(plan.mde * 0.8)
    infeasible = plan_holdout(1000, baseline_mean=0.05, mde=0.001)
    assert not infeasible.feasible and infeasible.holdout == 0.5
    assert "too small" in infeasible.summary()
    assert "percentage points" in plan_holdout(1000, baseline_mean=0.05, holdout=0.1).summary()
    table = holdout_tradeoff(50_000, baseline_mean=40.0, baseline_sd=90.0,
                             holdouts=[0.05, 0.5], metric="revenue")
    assert table["mde"].iloc[0] == pytest.approx(plan.mde)
    assert table["mde"].is_monotonic_decreasing


@pytest.mark.parametrize("kwargs, match", [
    ({"holdout": 0.1, "metric": "revenue"}, "baseline_sd is needed"),
    ({"holdout": 0.1, "mde": 0.01}, "exactly one of 'mde'"),
    ({}, "exactly one of 'mde'"),
    ({"holdout": 0.1, "baseline_mean": 1.5}, "baseline_mean is a rate"),
    ({"holdout": 0.1, "variance_reduction": 1.0}, "'variance_reduction' parameter"),
    ({"holdout": 0.1, "power": 80}, "'power' parameter"),
    ({"mde": -1.0}, "'mde' parameter must be"),
])
def test_plan_holdout_errors(kwargs, match):
    kwargs = {"baseline_mean": 0.1, **kwargs}
    with pytest.raises(CrmDataError, match=match):
        plan_holdout(1000, **kwargs)
    with pytest.raises(CrmDataError, match="'audience_size' parameter"):
        plan_holdout(2.5, baseline_mean=0.1, holdout=0.1)


# -------------------------------------------------------------------- campaign_lift
def test_campaign_lift_outcomes_by_hand(hand):
    orders, audience = hand
    res = campaign_lift(orders, audience, start="2024-06-01", covariate=None,
                        planned_holdout=0.4, cost_per_contact=1.0)
    m = res.members.set_index("customer_id")
    assert m.loc[["a", "b", "c", "d", "e"], "revenue"].tolist() == [30.0, 40.0, 15.0, 0, 0]
    assert m.loc[["a", "b", "c", "d", "e"], "orders"].tolist() == [2, 1, 1, 0, 0]
    assert m.loc[["a", "b", "c", "d", "e"], "conversion"].tolist() == [1, 1, 1, 0, 0]
    assert m.loc[["a", "b"], "margin"].tolist() == [9.0, 12.0]
    assert m.loc[["a", "b", "c"], "pre_revenue"].tolist() == [0.0, 7.0, 0.0]
    assert (res.n_treatment, res.n_control) == (3, 2)
    assert res.mean_treatment == pytest.approx(70 / 3)
    assert res.mean_control == pytest.approx(7.5)
    t, c = np.array([30.0, 40.0, 0.0]), np.array([15.0, 0.0])
    ref = stats.ttest_ind(t, c, equal_var=False)
    assert res.p_value == pytest.approx(ref.pvalue)
    assert res.absolute_ci == pytest.approx(tuple(ref.confidence_interval()))
    assert res.confidence_interval(0.9) == pytest.approx(tuple(welch_ci(t, c, 0.9)))
    rel90 = res.confidence_interval(0.9, kind="relative")
    assert res.relative_ci.low < rel90.low < res.relative_lift < rel90.high < res.relative_ci.high
    z = stats.norm.ppf(0.95)
    assert rel90.high - rel90.low == pytest.approx(
        2 * z * res.statistics.relative_std_error)
    assert res.incremental_revenue == pytest.approx((70 / 3 - 7.5) * 3)
    assert res.incremental_orders == pytest.approx((1 - 0.5) * 3)
    inc_margin = (21 / 3 - 4.5 / 2) * 3
    assert res.incremental_margin == pytest.approx(inc_margin)
    assert res.campaign_cost == 3.0
    assert res.roi == pytest.approx((inc_margin - 3.0) / 3.0)
    assert res.relative_lift == pytest.approx((70 / 3) / 7.5 - 1)
    assert res.unadjusted_absolute_lift == res.absolute_lift
    # cumulative: treated revenue per member reaches the mean by the last day
    last = res.cumulative[res.cumulative["day"] == 30].set_index("group")["value"]
    assert last["treatment"] == pytest.approx(70 / 3) and last["control"] == 7.5


def test_campaign_lift_does_not_mutate_inputs(hand):
    orders, audience = hand
    o, a = orders.copy(), audience.copy()
    campaign_lift(orders, audience, start="2024-06-01", planned_holdout=0.4)
    pd.testing.assert_frame_equal(orders, o)
    pd.testing.assert_frame_equal(audience, a)


def test_campaign_lift_integer_ids_match_text_orders(hand):
    orders, audience = hand
    orders = orders.assign(customer_id=orders["customer_id"].map(
        {"a": "1", "b": "2", "c": "3", "x": "99"}))
    audience = audience.assign(customer_id=[1, 2, 3, 4, 5])
    res = campaign_lift(orders, audience, start="2024-06-01", planned_holdout=0.4,
                        covariate=None)
    assert res.mean_treatment == pytest.approx(70 / 3)


def test_cuped_headline_and_unadjusted_both_reported(campaign):
    orders, audience = campaign
    res = campaign_lift(orders, audience, start=START, planned_holdout=0.2)
    raw = campaign_lift(orders, audience, start=START, planned_holdout=0.2, covariate=None)
    assert res.unadjusted_absolute_lift == pytest.approx(raw.absolute_lift)
    assert res.unadjusted_absolute_ci == pytest.approx(raw.absolute_ci)
    assert res.unadjusted_p_value == pytest.approx(raw.p_value)
    assert 0 < res.variance_reduction < 1 and res.theta > 0
    assert res.std_error < raw.std_error
    # the headline equals Welch on the CUPED-adjusted values computed here
    m = res.members
    x, y = m["pre_revenue"].to_numpy(), m["revenue"].to_numpy()
    adj = y - np.cov(y, x)[0, 1] / x.var(ddof=1) * (x - x.mean())
    t = m["group"].eq("treatment").to_numpy()
    ref = stats.ttest_ind(adj[t], adj[~t], equal_var=False)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-8)
    assert res.absolute_ci == pytest.approx(tuple(ref.confidence_interval()))
    table = res.cuped_table()
    assert table["ci_width"].iloc[1] < table["ci_width"].iloc[0]
    assert "CUPED adjustment" in res.summary()


def test_pre_days_and_audience_column_covariate(campaign):
    orders, audience = campaign
    longer = campaign_lift(orders, audience, start=START, planned_holdout=0.2, pre_days=365)
    assert longer.pre_days == 365 and "365 days before" in longer.summary()
    history = orders[orders["order_date"] < START].groupby("customer_id")["amount"].sum()
    aud = audience.assign(spend=audience["customer_id"].map(history).fillna(0.0))
    by_col = campaign_lift(orders, aud, start=START, planned_holdout=0.2, covariate="spend")
    assert by_col.absolute_lift == pytest.approx(longer.absolute_lift)
    assert by_col.confidence_interval() == pytest.approx(longer.absolute_ci)


def test_margin_sources_and_roi_notes(hand):
    orders, audience = hand
    kw = dict(start="2024-06-01", planned_holdout=0.4, covariate=None)
    no_margin = orders.drop(columns="margin")
    res = campaign_lift(no_margin, audience, cost_per_contact=1.0, **kw)
    assert np.isnan(res.incremental_margin) and np.isnan(res.roi)
    assert any("no margin column" in n for n in res.notes)
    rate = campaign_lift(no_margin, audience, cost_per_contact=1.0, margin_rate=0.5, **kw)
    assert rate.incremental_margin == pytest.approx(0.5 * rate.incremental_revenue)
    both = campaign_lift(orders, audience, cost_per_contact=1.0, margin_rate=0.5, **kw)
    assert any("margin_rate is ignored" in n for n in both.notes)
    free = campaign_lift(orders, audience, **kw)
    assert np.isnan(free.roi) and any("without a campaign cost" in n for n in free.notes)
    with pytest.raises(CrmDataError, match="metric='margin' needs margins"):
        campaign_lift(no_margin, audience, metric="margin", **kw)
    partial = orders.assign(margin=orders["margin"].where(orders["customer_id"] != "a"))
    res = campaign_lift(partial, audience, **kw)
    assert np.isnan(res.incremental_margin) and any("have no margin" in n for n in res.notes)


def test_srm_warning_and_planned_holdout_sources(campaign):
    orders, audience = campaign  # 20% holdout
    with pytest.warns(SampleRatioMismatchWarning, match="Sample ratio mismatch"):
        res = campaign_lift(orders, audience, start=START)  # default plan 0.1
    assert res.sample_ratio_mismatch and "WARNING" in res.summary()
    assert any("assumed 0.1" in n for n in res.notes)
    n_t, n_c = res.n_treatment, res.n_control
    assert res.srm_p_value == pytest.approx(
        stats.chisquare([n_t, n_c], f_exp=[(n_t + n_c) * 0.9, (n_t + n_c) * 0.1]).pvalue)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok = campaign_lift(orders, audience.assign(planned_holdout=0.2), start=START)
    assert ok.planned_holdout == 0.2 and not ok.sample_ratio_mismatch


def test_incomplete_window_warns(hand):
    orders, audience = hand
    with pytest.warns(IncompleteWindowWarning, match="outcomes cover only 5 days"):
        res = campaign_lift(orders, audience, start="2024-06-01", as_of="2024-06-05",
                            planned_holdout=0.4)
    assert res.cumulative["day"].max() == 5
    assert res.members.set_index("customer_id").loc["b", "revenue"] == 0  # after as_of


def test_nobody_buying_gives_zero_lift_without_interval(hand):
    orders, audience = hand
    res = campaign_lift(orders[orders["customer_id"] == "x"], audience, start="2024-06-01",
                        planned_holdout=0.4, as_of="2024-07-31")
    assert res.absolute_lift == 0 and res.incremental_revenue == 0
    assert np.isnan(res.p_value) and np.isnan(res.absolute_ci.low)
    assert any("no interval or p-value" in n for n in res.notes)
    assert "n/a to n/a" in res.summary()


def test_relative_lift_undefined_when_control_never_buys(hand):
    orders, audience = hand
    res = campaign_lift(orders[orders["customer_id"] != "c"], audience, start="2024-06-01",
                        planned_holdout=0.4, covariate=None)
    assert np.isnan(res.relative_lift)
    assert any("relative lift is undefined" in n for n in res.notes)
    assert np.isfinite(res.absolute_lift)


@pytest.mark.parametrize("change, kwargs, match", [
    (None, {"metric": "gmv"}, "'metric' parameter must be one of"),
    (None, {"window_days": 0}, "'window_days' parameter must be an int >= 1"),
    (None, {"pre_days": 1.5}, "'pre_days' parameter must be an int"),
    (None, {"margin_rate": 30}, "'margin_rate' parameter must be in"),
    (None, {"cost_per_contact": -1}, "'cost_per_contact' parameter must be"),
    (None, {"start": "2025-01-01"}, "after the last order date"),
    (None, {"start": "not a date"}, "'start' parameter must be a date"),
    (None, {"covariate": "spend"}, "'covariate' parameter must be 'pre_period'"),
    (lambda a: a.assign(spend=[1, None, 2, 3, 4]), {"covariate": "spend"},
     "Covariate column 'spend' has 1 missing"),
    (lambda a: pd.concat([a, a.iloc[:2]]), {}, "4 rows sharing 2 ids"),
    (lambda a: pd.concat([a.assign(campaign_id="A"), a.assign(campaign_id="B")]), {},
     "holds 2 campaigns"),
    (lambda a: a.assign(group=["treatment", "test", "control", "control", None]), {},
     "2 rows that are neither 'treatment' nor 'control'"),
    (lambda a: a.assign(group="treatment"), {}, "'control' group has 0 member"),
    (lambda a: a.drop(columns="group"), {}, r"missing column\(s\) \['group'\]"),
    (lambda a: a.iloc[:0], {}, "is empty"),
    (lambda a: a.assign(planned_holdout=[0.1, 0.1, 0.2, 0.1, 0.1]), {"planned_holdout": None},
     "'planned_holdout' of the audience has 2 different values"),
    (lambda a: a.assign(customer_id=["a", "b", "", "d", "e"]), {}, "is empty in 1 rows"),
])
def test_campaign_lift_errors(hand, change, kwargs, match):
    orders, audience = hand
    audience = audience if change is None else change(audience)
    kwargs = {"start": "2024-06-01", "planned_holdout": 0.4, **kwargs}
    with pytest.raises(CrmDataError, match=match):
        campaign_lift(orders, audience, **kwargs)


def test_campaign_lift_rejects_bad_orders(hand):
    _, audience = hand
    with pytest.raises(CrmDataError, match="missing required column"):
        campaign_lift(pd.DataFrame({"customer_id": ["a"]}), audience, start="2024-06-01")
    with pytest.raises(CrmDataError, match="audience must be a pandas DataFrame"):
        campaign_lift(hand[0], ["a", "b"], start="2024-06-01")


def test_result_is_frozen_and_summary_in_words(campaign):
    orders, audience = campaign
    res = campaign_lift(orders, audience, start=START, planned_holdout=0.2,
                        cost_per_contact=0.5)
    assert isinstance(res, LiftResult)
    with pytest.raises(AttributeError):
        res.absolute_lift = 0
    text = res.summary(name="The SMS")
    lo, hi = res.absolute_ci
    assert text.startswith(f"The SMS raised 30-day revenue per member by {res.absolute_lift:,.2f}")
    assert res.summary(name="The SMS", currency="¥").startswith(
        f"The SMS raised 30-day revenue per member by ¥{res.absolute_lift:,.2f}")
    assert f"{lo:,.2f} to {hi:,.2f}" in text and "ROI" in text and "¥" not in text
    frame = res.to_frame()
    assert frame.loc[0, "absolute_ci_low"] == lo and frame.loc[0, "roi"] == res.roi
    conv = campaign_lift(orders, audience, start=START, planned_holdout=0.2,
                         metric="conversion")
    assert "percentage points" in conv.summary()


def test_campaign_settings():
    aud = pd.DataFrame({"customer_id": ["a", "b"], "start": pd.to_datetime(["2025-03-01"] * 2),
                        "window_days": [30, 30], "cost_per_contact": [0.05, 0.05],
                        "planned_holdout": [0.1, 0.1]})
    s = campaign_settings(aud, window_days=14, cost_per_contact=None)
    assert s == {"start": pd.Timestamp("2025-03-01"), "window_days": 14,
                 "cost_per_contact": 0.05, "planned_holdout": 0.1}
    assert isinstance(s["window_days"], int)


# ---------------------------------------------------------------------- sample data
def test_sample_campaigns_recover_their_true_effects():
    """The simulator's true audience-average effects lie inside our 95% intervals."""
    from crm_analytics import load_sample

    orders, campaigns = load_sample("orders"), load_sample("campaigns")
    assert campaigns["campaign_id"].nunique() == 4
    for campaign_id, audience in campaigns.groupby("campaign_id"):
        settings = campaign_settings(audience)
        table = lift_by_metric(orders, audience, **settings).set_index("metric")
        truth = {
            "orders": audience["true_uplift_prob"].mean(),
            "revenue": audience["true_incremental_revenue"].mean(),
            "conversion": (audience["true_uplift_prob"]
                           * (1 - audience["true_baseline_prob"])).mean(),
        }
        for metric, value in truth.items():
            low, high = table.loc[metric, ["absolute_ci_low", "absolute_ci_high"]]
            assert low <= value <= high, (campaign_id, metric, value, low, high)
        assert table.loc["revenue", "srm_p_value"] > 0.001


# ------------------------------------------------------------------- by metric/segment
def test_lift_by_metric_rows_equal_campaign_lift(campaign):
    orders, audience = campaign
    table = lift_by_metric(orders, audience, start=START, planned_holdout=0.2)
    assert table["metric"].tolist() == ["conversion", "orders", "revenue", "margin"]
    assert (table["confidence_level"] == 0.95).all() and not table.attrs
    one = campaign_lift(orders, audience, start=START, planned_holdout=0.2, metric="orders")
    row = table.set_index("metric").loc["orders"]
    assert row["absolute_lift"] == pytest.approx(one.absolute_lift)
    assert row["absolute_ci_high"] == pytest.approx(one.absolute_ci.high)
    no_margin = lift_by_metric(orders.drop(columns="margin"), audience, start=START,
                               planned_holdout=0.2)
    assert "margin" not in no_margin["metric"].tolist()
    with pytest.raises(CrmDataError, match="Cannot compute metric 'margin'"):
        lift_by_metric(orders.drop(columns="margin"), audience, start=START,
                       planned_holdout=0.2, metrics=["margin"])


def test_lift_by_segment_equals_per_segment_lift_and_adjusts():
    orders, audience = simulate_campaign(21, n=4000, tiers=True)
    seg = lift_by_segment(orders, audience, by="tier", start=START, planned_holdout=0.2,
                          cost_per_contact=0.2)
    assert seg["tier"].tolist() == ["high", "low"]
    assert seg["n_treatment"].sum() + seg["n_control"].sum() == len(audience)
    for tier in ("high", "low"):
        sub = audience[audience["tier"] == tier]
        one = campaign_lift(orders, sub, start=START, planned_holdout=0.2,
                            cost_per_contact=0.2)
        row = seg.set_index("tier").loc[tier]
        assert row["absolute_lift"] == pytest.approx(one.absolute_lift)
        assert row["p_value"] == pytest.approx(one.p_value)
        assert row["roi"] == pytest.approx(one.roi)
    assert np.allclose(seg["p_value_adjusted"], adjust_p_values(seg["p_value"], "holm"))
    bh = lift_by_segment(orders, audience, by="tier", start=START, planned_holdout=0.2,
                         adjust="bh")
    assert np.allclose(bh["p_value_adjusted"],
                       stats.false_discovery_control(bh["p_value"].to_numpy()))
    # the settings are columns, repeated on every row (no DataFrame.attrs)
    assert (seg["adjust"] == "holm").all() and (bh["adjust"] == "bh").all()
    assert (seg["metric"] == "revenue").all() and (seg["confidence_level"] == 0.95).all()
    assert list(seg.columns[-3:]) == ["metric", "adjust", "confidence_level"]
    assert not seg.attrs and not bh.attrs


def test_lift_by_segment_with_segments_table_keeps_everyone():
    orders, audience = simulate_campaign(22, n=1000)
    segments = pd.DataFrame({"customer_id": audience["customer_id"].iloc[:900],
                             "tier": ["金卡"] * 30 + ["银卡"] * 870})
    before = audience.copy()
    seg = lift_by_segment(orders, audience, by="tier", segments=segments, start=START,
                          planned_holdout=0.2)
    pd.testing.assert_frame_equal(audience, before)
    assert seg["n_treatment"].sum() + seg["n_control"].sum() == 1000
    assert seg["tier"].isna().sum() == 1  # the 100 members without a tier
    small = lift_by_segment(orders, audience, by="tier", segments=segments, start=START,
                            planned_holdout=0.2, min_group_size=10)
    assert small.equals(seg)  # 10 is the default
    row = small.set_index("tier").loc["金卡"]
    assert np.isnan(row["absolute_lift"]) and row["n_treatment"] + row["n_control"] == 30
    with pytest.raises(CrmDataError, match="duplicated customer_id"):
        lift_by_segment(orders, audience, by="tier", segments=pd.concat([segments] * 2),
                        start=START)
    with pytest.raises(CrmDataError, match="segment columns"):
        lift_by_segment(orders, audience, by="tier", start=START)


def test_lift_by_segment_takes_a_segmentation_result():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Result:  # any result object with per-customer assignments
        assignments: pd.DataFrame

    orders, audience = simulate_campaign(22, n=1000)
    segments = pd.DataFrame({"customer_id": audience["customer_id"],
                             "tier": np.where(np.arange(1000) % 2, "a", "b")})
    kw = dict(by="tier", start=START, planned_holdout=0.2)
    pd.testing.assert_frame_equal(
        lift_by_segment(orders, audience, segments=Result(segments), **kw),
        lift_by_segment(orders, audience, segments=segments, **kw))


# ------------------------------------------------------------------ randomization
def test_check_randomization_passes_random_and_catches_broken_assignment(campaign):
    orders, audience = campaign
    check = check_randomization(orders, audience, start=START, planned_holdout=0.2)
    assert check.ok and check.balance["balanced"].all()
    assert check.observed_holdout == pytest.approx(check.n_control / len(audience))
    assert "do not differ beyond chance" in check.summary()
    # broken: the control group is the members who bought least before the campaign
    pre = orders[orders["order_date"] < START].groupby("customer_id")["amount"].sum()
    spend = audience["customer_id"].map(pre).fillna(0)
    broken = audience.assign(group=np.where(spend.rank(method="first") <= 800, "control",
                                            "treatment"), spend=spend,
                             tier=np.where(spend > 0, "buyer", "none"))
    bad = check_randomization(orders, broken, start=START, planned_holdout=0.2,
                              covariates=["spend", "tier"])
    assert not bad.ok
    assert {"pre_revenue", "spend", "tier"} <= set(
        bad.balance.loc[~bad.balance["balanced"], "variable"])
    assert "not random" in bad.summary()
    # before the campaign has any outcome, the check still works (pre-period only)
    early = check_randomization(orders[orders["order_date"] < START], audience, start=START,
                                planned_holdout=0.2)
    assert early.ok


# ------------------------------------------------------------------------- plots
def test_plots_draw_on_given_axes(campaign):
    orders, audience = campaign
    kw = dict(start=START, planned_holdout=0.2)
    res = campaign_lift(orders, audience, **kw)
    rc_before = dict(plt.rcParams)
    fig, axes = plt.subplots(2, 2)
    assert plot_lift(lift_by_metric(orders, audience, **kw), ax=axes[0, 0]) is axes[0, 0]
    assert plot_lift(res, ax=axes[0, 1]).get_xlabel() == "lift per member (money)"
    assert plot_lift(res, ax=axes[0, 1], currency="¥").get_xlabel() == "lift per member (¥)"
    seg = lift_by_segment(orders, audience.assign(tier=np.arange(len(audience)) % 3),
                          by="tier", **kw)
    ax = plot_lift_by_segment(seg, ax=axes[1, 0])
    assert len(ax.get_yticklabels()) == 3
    assert ax.get_title() == "Lift by tier (95% CI per segment)"
    assert ax.get_xlabel() == "revenue lift per member (money)"
    assert "Holm" in ax.get_legend().get_texts()[0].get_text()
    assert axes[0, 0].get_title() == "Campaign lift with 95% confidence intervals"
    # settings by keyword, or generic labels for a bare table
    bare = seg.drop(columns=["metric", "adjust", "confidence_level"])
    ax = plot_lift_by_segment(bare, metric="orders", adjust="bh", confidence_level=0.9)
    assert ax.get_title() == "Lift by tier (90% CI per segment)"
    assert ax.get_xlabel() == "orders lift per member (orders)"
    assert "Benjamini-Hochberg" in ax.get_legend().get_texts()[0].get_text()
    ax = plot_lift_by_segment(bare)
    assert ax.get_title() == "Lift by tier (CI per segment)"
    ax = plot_lift(lift_by_metric(orders, audience, **kw).drop(columns="confidence_level"))
    assert ax.get_title() == "Campaign lift with confidence intervals"
    assert plot_lift(res, confidence_level=0.8).get_title().endswith("80% confidence intervals")
    ax = plot_cumulative_outcome(res, ax=axes[1, 1])
    assert "per member" in ax.get_ylabel() and len(ax.lines) == 2
    assert plot_lift([res, res]).get_xlabel().startswith("lift over control (%")
    assert dict(plt.rcParams) == rc_before
    plt.close("all")


def test_plot_errors(campaign):
    orders, audience = campaign
    table = lift_by_metric(orders, audience, start=START, planned_holdout=0.2)
    with pytest.raises(CrmDataError, match="different units"):
        plot_lift(table, relative=False)
    with pytest.raises(CrmDataError, match="takes a LiftResult"):
        plot_lift([1, 2])
    with pytest.raises(CrmDataError, match="missing column"):
        plot_lift_by_segment(table)
    with pytest.raises(CrmDataError, match="takes the LiftResult"):
        plot_cumulative_outcome(table)
    plt.close("all")


# ------------------------------------------------------------- rules shared with SQL
@pytest.mark.parametrize("margin_rate", [None, 0.25])
@pytest.mark.parametrize("case", ["complete", "some_missing", "no_column"])
def test_margin_rule_is_the_same_on_pandas_and_engine(margin_rate, case):
    """Where margin comes from (column, column or rate, rate, unknown) and its note."""
    import duckdb

    from crm_analytics.campaigns.outcomes import prepare_campaign

    orders, audience = simulate_campaign(31, n=600)
    if case == "some_missing":
        orders = orders.assign(margin=orders["margin"].where(np.arange(len(orders)) % 7 > 0))
    elif case == "no_column":
        orders = orders.drop(columns="margin")
    kw = dict(start=START, planned_holdout=0.2, margin_rate=margin_rate, metric="orders")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = prepare_campaign(orders, audience, **kw)
        engine = prepare_campaign(duckdb.from_df(orders), audience, **kw)
    assert local.has_margin == engine.has_margin == (
        margin_rate is not None or case == "complete")
    margin_notes = [n for n in local.notes if "margin" in n]
    assert margin_notes == [n for n in engine.notes if "margin" in n]
    silent = (case, margin_rate is None) in {("complete", True), ("no_column", False)}
    assert bool(margin_notes) != silent
    pd.testing.assert_frame_equal(local.members, engine.members, check_exact=False,
                                  rtol=1e-12)


def test_assign_holdout_assigns_orders_by_id_col() -> None:
    orders = pd.DataFrame({"order_id": [f"o{i}" for i in range(3000)],
                           "customer_id": ["c1"] * 3000})
    out = assign_holdout(orders, seed=3, id_col="order_id",
                         arms={"2h": 0.4, "24h": 0.4, "none": 0.2})
    shares = out["group"].value_counts(normalize=True)
    assert abs(shares["none"] - 0.2) < 0.03 and list(out.columns[:2]) == ["order_id",
                                                                          "customer_id"]
    # the same as assigning the ids under the default column name
    same = assign_holdout(orders[["order_id"]].rename(columns={"order_id": "customer_id"}),
                          seed=3, arms={"2h": 0.4, "24h": 0.4, "none": 0.2})
    assert out["group"].tolist() == same["group"].tolist()
    with pytest.raises(CrmDataError, match="appear once"):
        assign_holdout(orders, seed=3)  # customer_id repeats
