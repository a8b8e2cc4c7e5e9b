"""Tests of the seeded shop simulator and the bundled sample data it generates."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

from crm_analytics._core.errors import CrmDataError
from crm_analytics.orders.validate import validate_orders
from crm_analytics.simulate import (
    CAMPAIGN_COLUMNS,
    CATEGORIES,
    CUSTOMER_COLUMNS,
    DEFAULT_PARAMS,
    MEMBER_TIERS,
    ORDER_COLUMNS,
    SAMPLE_N_CUSTOMERS,
    SAMPLE_SEED,
    SimulatedShop,
    default_campaigns,
    main,
    simulate_shop,
)

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
N = 20_000


@pytest.fixture(scope="module")
def shop() -> SimulatedShop:
    return simulate_shop(N, seed=7)


@pytest.fixture(scope="module")
def natural() -> SimulatedShop:
    """The same shop without campaigns: only the BG/NBD orders."""
    return simulate_shop(N, seed=7, params={"campaigns": []})


def _z(observed: float, expected: float, variance: float) -> float:
    return abs(observed - expected) / np.sqrt(variance)


# ----------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_tables() -> None:
    a, b = simulate_shop(800, seed=3), simulate_shop(800, seed=3)
    for name in ("orders", "customers", "campaigns"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert a.truth == b.truth


def test_different_seeds_differ() -> None:
    a, b = simulate_shop(800, seed=3), simulate_shop(800, seed=4)
    assert not a.customers["customer_id"].equals(b.customers["customer_id"])
    assert len(a.orders) != len(b.orders) or not np.array_equal(
        a.orders["amount"].to_numpy(), b.orders["amount"].to_numpy()
    )


def test_inputs_are_not_mutated() -> None:
    campaigns = default_campaigns()
    params = {"r": 0.2, "campaigns": campaigns}
    before_params, before_defaults = copy.deepcopy(params), copy.deepcopy(DEFAULT_PARAMS)
    simulate_shop(300, seed=1, params=params)
    assert params == before_params
    assert DEFAULT_PARAMS == before_defaults


def test_campaigns_do_not_change_the_natural_orders(shop, natural) -> None:
    key = ["customer_id", "order_date", "amount", "margin", "category", "channel"]
    with_c = shop.orders[key].merge(natural.orders[key], how="left", indicator=True)
    extra = with_c[with_c["_merge"] == "left_only"]
    # every natural order is still there, and the rest are the campaign orders
    assert len(shop.orders) - len(extra) == len(natural.orders)
    assert len(extra) == int(shop.campaigns["true_extra_order"].sum())
    pd.testing.assert_frame_equal(
        shop.customers.drop(columns="member_tier"), natural.customers.drop(columns="member_tier")
    )
    assert shop.customers["member_tier"].equals(natural.customers["member_tier"])


# ---------------------------------------------------------------------------------- schema


def test_schema_and_dtypes(shop) -> None:
    o, c, k = shop.orders, shop.customers, shop.campaigns
    assert tuple(o.columns) == ORDER_COLUMNS
    assert tuple(c.columns) == CUSTOMER_COLUMNS
    assert tuple(k.columns) == CAMPAIGN_COLUMNS
    for frame, col in [(o, "customer_id"), (o, "order_id"), (o, "category"), (c, "customer_id"),
                       (c, "member_tier"), (k, "customer_id"), (k, "campaign_id"), (k, "group")]:
        assert pd.api.types.is_string_dtype(frame[col]), col
    for frame, col in [(o, "order_date"), (c, "first_order_date"), (c, "true_dropout_date"),
                       (k, "start")]:
        assert pd.api.types.is_datetime64_any_dtype(frame[col]), col
    for frame, col in [(o, "amount"), (o, "margin"), (c, "true_lambda"),
                       (k, "true_uplift_prob"), (k, "cost_per_contact")]:
        assert pd.api.types.is_float_dtype(frame[col]), col
    assert pd.api.types.is_integer_dtype(k["window_days"])
    assert pd.api.types.is_bool_dtype(k["true_extra_order"])
    assert set(o["category"]) == set(CATEGORIES)
    assert set(c["member_tier"]) == set(MEMBER_TIERS)
    assert set(k["group"]) == {"treatment", "control"}
    assert set(k["campaign_type"]) == {"wake_up_sms", "coupon"}
    assert set(k["channel"]) == {"sms", "coupon"}
    assert (o["amount"] > 0).all() and (o["margin"] >= 0).all()
    assert np.array_equal(o["amount"], o["amount"].round(2))
    assert (o["order_date"].dt.second != 0).any()  # time of day, not just a date


def test_ids_are_long_digit_strings(shop) -> None:
    cid, oid = shop.orders["customer_id"], shop.orders["order_id"]
    assert cid.str.fullmatch(r"\d{16}").all()
    assert oid.str.fullmatch(r"\d{19}").all()
    assert oid.is_unique
    assert shop.customers["customer_id"].is_unique
    # above 2**53: reading these ids as floats would change them
    as_int = shop.customers["customer_id"].astype("int64")
    assert (as_int > 2**53).all()
    assert (as_int.astype(float).astype("int64") != as_int).any()


def test_orders_are_canonical_and_sorted(shop) -> None:
    o = shop.orders
    assert o["order_date"].is_monotonic_increasing
    pd.testing.assert_frame_equal(validate_orders(o), o, check_like=False)


def test_every_customer_has_an_order_and_first_order_is_arrival(shop) -> None:
    o, c = shop.orders, shop.customers
    assert set(o["customer_id"]) == set(c["customer_id"])
    first = o.groupby("customer_id")["order_date"].min().dt.normalize()
    first = first.reindex(c["customer_id"]).to_numpy()
    assert np.array_equal(first, c["first_order_date"].to_numpy())
    assert c["first_order_date"].between(shop.start, shop.end).all()
    assert o["order_date"].between(shop.start, shop.end + pd.Timedelta(days=1)).all()
    assert c["customer_id"].is_monotonic_increasing


def test_settings_are_repeated(shop) -> None:
    assert shop.n_customers == N and shop.seed == 7
    assert shop.start == pd.Timestamp("2024-01-01") and shop.end == pd.Timestamp("2025-12-31")
    assert shop.params["r"] == shop.truth["r"] == DEFAULT_PARAMS["r"]


# ------------------------------------------------------------------------ realistic shop


def test_arrival_peaks_on_618_and_double_11(shop) -> None:
    arrivals = shop.customers["first_order_date"].value_counts()
    typical = arrivals.median()
    for day in ("2024-06-18", "2025-06-18"):
        assert arrivals[pd.Timestamp(day)] > 3 * typical
    for day in ("2024-11-11", "2025-11-11"):
        assert arrivals[pd.Timestamp(day)] > 6 * typical
    # and the Spring Festival dip
    assert arrivals[pd.Timestamp("2025-01-29")] < typical


def test_realistic_repeat_share_and_order_value(shop) -> None:
    n_orders = shop.orders.groupby("customer_id").size()
    assert 0.25 <= (n_orders > 1).mean() <= 0.45
    assert 100 <= shop.orders["amount"].mean() <= 300


def test_categories_have_their_margin_rates_and_price_levels(shop) -> None:
    o = shop.orders
    totals = o.groupby("category")[["margin", "amount"]].sum()
    rate = totals["margin"] / totals["amount"]
    expected = pd.Series(shop.truth["category_margin"])
    np.testing.assert_allclose(rate[expected.index], expected, rtol=0.01)
    aov = o.groupby("category")["amount"].mean()
    assert aov["美妆"] > aov["食品"] * 1.2


def test_member_tier_follows_value(shop, natural) -> None:
    spend = natural.orders.groupby("customer_id")["amount"].sum()
    c = shop.customers.assign(spend=shop.customers["customer_id"].map(spend))
    thresholds = [0.0, *shop.truth["tier_thresholds"].values(), np.inf]
    tier = pd.cut(c["spend"], thresholds, right=False, labels=list(MEMBER_TIERS))
    assert (tier.astype(str) == c["member_tier"]).all()
    shares = c["member_tier"].value_counts(normalize=True)
    assert shares["普通会员"] > shares["银卡"] > shares["金卡"] > shares["黑金"] > 0


def test_channels_and_provinces(shop) -> None:
    o = shop.orders
    assert set(o["channel"]) == {"天猫", "淘宝", "小程序", "抖音"}
    assert o["province"].value_counts().index[0] == "广东"
    douyin = o.assign(year=o["order_date"].dt.year, dy=o["channel"] == "抖音")
    share = douyin.groupby("year")["dy"].mean()
    assert share[2025] > share[2024]
    # an order's province is its customer's
    prov = shop.customers.set_index("customer_id")["province"]
    assert (o["customer_id"].map(prov) == o["province"]).all()


# ------------------------------------------------------------- the data carries the truth


def test_population_parameters_are_those_drawn(shop) -> None:
    c, t = shop.customers, shop.truth
    lam_mean, lam_var = t["r"] / t["alpha"], t["r"] / t["alpha"] ** 2
    assert _z(c["true_lambda"].mean(), lam_mean, lam_var / N) < 4
    p_mean = t["a"] / (t["a"] + t["b"])
    p_var = t["a"] * t["b"] / ((t["a"] + t["b"]) ** 2 * (t["a"] + t["b"] + 1))
    assert _z(c["true_p"].mean(), p_mean, p_var / N) < 4
    # 1 / spend_mean = nu / p with nu ~ Gamma(q, rate=gamma)
    inv = 1 / c["true_spend_mean"]
    assert _z(inv.mean(), t["q"] / t["gamma"] / t["p"], t["q"] / (t["gamma"] * t["p"]) ** 2 / N) < 4


def test_no_repeat_share_and_repeat_count_match_bgnbd(natural) -> None:
    """P(X(T) = 0) and E[X(T)] from Fader, Hardie & Lee (2005), eq. 9, per customer."""
    o, c, t = natural.orders, natural.customers, natural.truth
    end = natural.end + pd.Timedelta(days=1)
    T = (end - c["first_order_date"]).dt.days.to_numpy() - 0.5  # arrival mid-day on average
    x = c["customer_id"].map(o.groupby("customer_id").size()).to_numpy() - 1
    r, alpha, a, b = t["r"], t["alpha"], t["a"], t["b"]
    p0 = (alpha / (alpha + T)) ** r
    assert _z((x == 0).mean(), p0.mean(), (p0 * (1 - p0)).sum() / N**2) < 4
    ex = (a + b - 1) / (a - 1) * (
        1 - (alpha / (alpha + T)) ** r * special.hyp2f1(r, b, a + b - 1, T / (alpha + T))
    )
    assert x.mean() == pytest.approx(ex.mean(), rel=0.04)


def test_purchases_and_dropouts_match_each_customers_truth(natural) -> None:
    """Compensators: repeat purchases vs lambda x time alive; dropouts vs sum of p."""
    o, c = natural.orders, natural.customers
    x = c["customer_id"].map(o.groupby("customer_id").size()).to_numpy() - 1
    last = c["customer_id"].map(o.groupby("customer_id")["order_date"].max().dt.normalize())
    dropped = c["true_dropout_date"].notna().to_numpy()
    # a dropped-out customer's last order is on the dropout day; nobody drops out unrepeated
    assert (last[dropped].to_numpy() == c.loc[dropped, "true_dropout_date"].to_numpy()).all()
    assert (x[dropped] >= 1).all()
    stop = c["true_dropout_date"].fillna(natural.end + pd.Timedelta(days=1))
    alive_days = (stop - c["first_order_date"]).dt.days.to_numpy() + np.where(dropped, 0.0, -0.5)
    expected = (c["true_lambda"].to_numpy() * alive_days).sum()
    assert _z(x.sum(), expected, expected) < 4
    hazard = (c["true_p"].to_numpy() * x).sum()
    assert _z(dropped.sum(), hazard, hazard) < 4


def test_order_values_match_true_spend_means(natural) -> None:
    o, c = natural.orders, natural.customers
    spend = o["customer_id"].map(c.set_index("customer_id")["true_spend_mean"])
    assert o["amount"].sum() / spend.sum() == pytest.approx(1.0, abs=0.02)
    # per-order value ~ Gamma(p, rate = nu): its shape shows in the within-customer CV
    ratio = o["amount"] / spend
    assert ratio.var() == pytest.approx(1 / natural.truth["p"], rel=0.1)


# ------------------------------------------------------------------------------ campaigns


def test_default_campaigns_and_audiences(shop) -> None:
    k, o = shop.campaigns, shop.orders
    ids = list(dict.fromkeys(k["campaign_id"]))
    assert ids == [c["campaign_id"] for c in default_campaigns()]
    for cid, g in k.groupby("campaign_id", sort=False):
        start = g["start"].iloc[0]
        before = o[o["order_date"] < start]
        last = before.groupby("customer_id")["order_date"].max().dt.normalize()
        since = (start - last).dt.days
        # audience = members sleeping >= 90 days (SMS) or active within 90 days (coupon)
        if g["campaign_type"].iloc[0] == "wake_up_sms":
            expected = set(since[since >= 90].index)
        else:
            expected = set(since[since < 90].index)
        assert set(g["customer_id"]) == expected, cid
        assert (g["days_since_last_order"].to_numpy()
                == since.reindex(g["customer_id"]).to_numpy()).all()
    # some sleepers are woken up three times in a row (the "give up" rule needs them)
    contacts = k[(k["campaign_type"] == "wake_up_sms") & (k["group"] == "treatment")]
    assert (contacts.groupby("customer_id").size() == 3).sum() > 100


def test_holdout_is_random_at_the_planned_share(shop) -> None:
    for _, g in shop.campaigns.groupby("campaign_id"):
        n, share = len(g), g["planned_holdout"].iloc[0]
        control = (g["group"] == "control").sum()
        assert _z(control, n * share, n * share * (1 - share)) < 4
        # random: the planned share in every tier too
        by_tier = g.groupby("member_tier")["group"].agg(["size", lambda s: (s == "control").sum()])
        for size, ctrl in by_tier.to_numpy():
            assert _z(ctrl, size * share, size * share * (1 - share)) < 4


def test_true_effects_are_consistent(shop) -> None:
    k = shop.campaigns
    spend = k["customer_id"].map(shop.customers.set_index("customer_id")["true_spend_mean"])
    np.testing.assert_allclose(k["true_incremental_revenue"], k["true_uplift_prob"] * spend)
    for spec in default_campaigns():
        g = k[k["campaign_id"] == spec["campaign_id"]]
        expected = g["member_tier"].map(spec["uplift_by_tier"])
        np.testing.assert_allclose(g["true_uplift_prob"], expected)
    assert not k.loc[k["group"] == "control", "true_extra_order"].any()
    assert k["true_baseline_prob"].between(0, 1).all()
    truth = shop.campaign_truth()
    assert len(truth) == 4
    assert (truth["true_conversion_lift"] < truth["true_uplift_prob"]).all()
    assert (truth["n_treatment"] + truth["n_control"] == truth["n_audience"]).all()


def test_treated_members_respond_at_their_true_uplift(shop) -> None:
    treated = shop.campaigns[shop.campaigns["group"] == "treatment"]
    for _, g in treated.groupby("campaign_id"):
        u = g["true_uplift_prob"]
        assert _z(g["true_extra_order"].sum(), u.sum(), (u * (1 - u)).sum()) < 4


def test_campaign_orders_fall_in_the_window_and_show_as_lift(shop, natural) -> None:
    k, o = shop.campaigns, shop.orders
    extra = o.merge(natural.orders[["customer_id", "order_date", "amount"]], how="left",
                    indicator=True)
    extra = extra[extra["_merge"] == "left_only"]
    for cid, g in k.groupby("campaign_id", sort=False):
        start, w = g["start"].iloc[0], int(g["window_days"].iloc[0])
        in_window = o[(o["order_date"] >= start) & (o["order_date"] < start + pd.Timedelta(days=w))]
        y = g["customer_id"].map(in_window.groupby("customer_id").size()).fillna(0)
        t = (g["group"] == "treatment").to_numpy()
        diff = y[t].mean() - y[~t].mean()
        var = y[t].var() / t.sum() + y[~t].var() / (~t).sum()
        assert _z(diff, g["true_uplift_prob"].mean(), var) < 4, cid
        # without the campaigns, members order in the window at their true baseline
        nat = natural.orders
        nat = nat[(nat["order_date"] >= start) & (nat["order_date"] < start + pd.Timedelta(days=w))]
        ordered = g["customer_id"].isin(set(nat["customer_id"])).sum()
        base = g["true_baseline_prob"]
        assert _z(ordered, base.sum(), (base * (1 - base)).sum() + 1) < 4, cid
    window_end = k.groupby("campaign_id")["start"].first() + pd.Timedelta(days=30)
    assert extra["order_date"].between(k["start"].min(), window_end.max()).all()
    assert set(extra["customer_id"]) <= set(k.loc[k["true_extra_order"], "customer_id"])


def test_wake_up_sms_revives_dropped_out_customers(shop) -> None:
    k = shop.campaigns
    sms = k[(k["campaign_type"] == "wake_up_sms") & k["true_extra_order"]]
    dead = sms["customer_id"].map(shop.customers.set_index("customer_id")["true_dropout_date"])
    assert (dead < sms["start"]).any()
    assert (sms.loc[dead < sms["start"], "true_baseline_prob"] == 0).all()


def test_no_campaigns_and_campaigns_outside_the_period() -> None:
    none = simulate_shop(200, seed=1, params={"campaigns": []})
    assert tuple(none.campaigns.columns) == CAMPAIGN_COLUMNS and none.campaigns.empty
    assert none.campaign_truth().empty
    short = simulate_shop(500, seed=1, end="2025-05-31")
    assert list(short.truth["campaigns"]) == ["SMS-20250301"]
    assert set(short.campaigns["campaign_id"]) == {"SMS-20250301"}


@pytest.mark.parametrize("n", [1, 3])
def test_tiny_shops_are_valid(n) -> None:
    shop = simulate_shop(n, seed=5)
    assert len(shop.customers) == n
    assert set(shop.orders["customer_id"]) == set(shop.customers["customer_id"])
    pd.testing.assert_frame_equal(validate_orders(shop.orders), shop.orders)
    assert tuple(shop.campaigns.columns) == CAMPAIGN_COLUMNS
    assert "4 campaigns" in repr(shop)


def test_mbgnbd_variant_drops_out_after_the_first_purchase() -> None:
    shop = simulate_shop(3000, seed=2, params={"dropout_after_first": True, "campaigns": []})
    c = shop.customers
    n_orders = c["customer_id"].map(shop.orders.groupby("customer_id").size())
    one_timers_dead = c["true_dropout_date"].notna() & (n_orders == 1)
    assert one_timers_dead.any()
    assert (c.loc[one_timers_dead, "true_dropout_date"]
            == c.loc[one_timers_dead, "first_order_date"]).all()
    assert "MBG/NBD" in shop.truth["model"]


# ------------------------------------------------------------------------ sample and CLI


def _digest(folder: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256((folder / f"{name}.csv").read_bytes()).hexdigest()
        for name in ("orders", "customers", "campaigns")
    }


def test_sample_files_regenerate_byte_for_byte(tmp_path, capsys) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert "orders.csv" in capsys.readouterr().out
    assert _digest(tmp_path) == _digest(SAMPLE_DIR)


def test_every_sample_file_regenerates_byte_for_byte(tmp_path) -> None:
    from crm_analytics.simulate_reminders import main as reminders_main

    assert reminders_main(["--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in SAMPLE_DIR.glob("*.csv"))
    assert names == sorted(p.name for p in tmp_path.glob("*.csv"))
    for name in names:
        assert (tmp_path / name).read_bytes() == (SAMPLE_DIR / name).read_bytes(), name


def test_sample_is_small_utf8_and_reads_back_exactly() -> None:
    sizes = [(SAMPLE_DIR / f"{n}.csv").stat().st_size for n in ("orders", "customers", "campaigns")]
    assert sum(sizes) < 5_000_000
    raw = (SAMPLE_DIR / "orders.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw
    assert "美妆".encode() in raw
    shop = simulate_shop(SAMPLE_N_CUSTOMERS, seed=SAMPLE_SEED)
    for name, dates in [("orders", ["order_date"]),
                        ("customers", ["first_order_date", "true_dropout_date"]),
                        ("campaigns", ["start"])]:
        back = pd.read_csv(SAMPLE_DIR / f"{name}.csv", encoding="utf-8", parse_dates=dates,
                           dtype={"customer_id": str, "order_id": str, "campaign_id": str})
        back[dates] = back[dates].astype("datetime64[ns]")
        pd.testing.assert_frame_equal(back, getattr(shop, name))


def test_cli_options_and_errors(tmp_path, capsys) -> None:
    assert main(["--out", str(tmp_path), "--n-customers", "60", "--seed", "5",
                 "--end", "2025-06-30"]) == 0
    back = pd.read_csv(tmp_path / "customers.csv", dtype={"customer_id": str})
    assert len(back) == 60
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--n-customers", "0"])
    assert "n_customers" in capsys.readouterr().err


# --------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_customers": 0}, "'n_customers' parameter .* range \\[1, inf\\)"),
        ({"n_customers": True}, "'n_customers' parameter"),
        ({"n_customers": 10.5}, "'n_customers' parameter"),
        ({"seed": -1}, "'seed' parameter .* non-negative int"),
        ({"seed": "a"}, "'seed' parameter"),
        ({"start": "2025-01-01", "end": "2024-01-01"}, "'end' parameter .* after 'start'"),
        ({"start": "not a date"}, "'start' parameter must be a date"),
        ({"params": [1]}, "'params' parameter .* dict or None"),
        ({"params": {"lambda": 1}}, "unknown key\\(s\\) \\['lambda'\\]"),
        ({"params": {"r": -1}}, "params\\['r'\\] must be a positive number"),
        ({"params": {"alpha": "7"}}, "params\\['alpha'\\] must be a positive number"),
        ({"params": {"q": 0.5}}, "params\\['q'\\] must be above 1"),
        ({"params": {"category_margin": {"美妆": 0.5}}}, "category_margin.* each of"),
        ({"params": {"tier_thresholds": {"银卡": 5, "金卡": 1, "黑金": 9}}},
         "tier_thresholds.* increasing"),
        ({"params": {"margin_noise": 2}}, "margin_noise.* \\[0, 1\\)"),
        ({"params": {"margin_noise": "x"}}, "margin_noise.* \\[0, 1\\)"),
        ({"params": {"category_margin": 0.3}}, "category_margin.* each of"),
        ({"params": {"dropout_after_first": "yes"}}, "dropout_after_first.* True or False"),
        ({"params": {"campaigns": "SMS"}}, "params\\['campaigns'\\] must be a list"),
    ],
)
def test_bad_arguments_raise(kwargs, match) -> None:
    kwargs = {"n_customers": 50, **kwargs}
    with pytest.raises(CrmDataError, match=match):
        simulate_shop(**kwargs)


def _campaign(**changes):
    spec = default_campaigns()[0]
    spec.update(changes)
    return spec


@pytest.mark.parametrize(
    ("campaigns", "match"),
    [
        (["x"], "campaigns'\\]\\[0\\] must be a dict"),
        ([{"campaign_id": "a"}], "missing keys .*start"),
        ([{**_campaign(), "colour": "red"}], "unknown keys \\['colour'\\]"),
        ([_campaign(campaign_type="email")], "campaign_type 'email'"),
        ([_campaign(uplift_by_tier={"普通会员": 0.1})], "uplift_by_tier must give"),
        ([_campaign(uplift_by_tier=dict.fromkeys(MEMBER_TIERS, 1.5))], "uplift_by_tier"),
        ([_campaign(planned_holdout=0)], "planned_holdout must be in \\(0, 1\\)"),
        ([_campaign(window_days=0)], "window_days must be an int of at least 1"),
        ([_campaign(audience_days=30.5)], "audience_days must be an int"),
        ([_campaign(cost_per_contact=-1)], "cost_per_contact must be a number >= 0"),
        ([_campaign(start="soon")], "'campaigns\\[0\\].start' parameter must be a date"),
        ([_campaign(start="2027-01-01")], "outside the simulated period"),
        ([_campaign(start="2024-01-01")], "outside the simulated period"),
        ([_campaign(), _campaign()], "Campaign ids must be unique"),
    ],
)
def test_bad_campaigns_raise(campaigns, match) -> None:
    with pytest.raises(CrmDataError, match=match):
        simulate_shop(50, params={"campaigns": campaigns})
