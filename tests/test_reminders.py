"""Payment reminders (催付) and replenishment (追销): every estimate against the
simulator's truth and against a brute-force computation; pandas and DuckDB agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_analytics._core.errors import CrmDataError
from crm_analytics.campaigns.holdout import assign_holdout
from crm_analytics.campaigns.stats import adjust_p_values
from crm_analytics.reminders import (
    payment_timing,
    reminder_test,
    replenishment_list,
    report_tables,
    repurchase_cycles,
    unpaid_orders,
)
from crm_analytics.simulate import simulate_shop
from crm_analytics.simulate_reminders import EFFECTS, simulate_reminders

T = pd.to_datetime


@pytest.fixture(scope="module")
def rshop():
    return simulate_reminders(simulate_shop(20_000, seed=11, params={"campaigns": []}),
                              seed=5)


@pytest.fixture(scope="module")
def before_test(rshop):
    o = rshop.orders
    return o[o["created_at"] < rshop.truth["test_start"] - pd.Timedelta(days=3)]


def _brute_timing(orders: pd.DataFrame, windows: dict[str, float], as_of, by="hour"):
    """Order by order, with plain Python datetimes."""
    longest = pd.Timedelta(minutes=max(windows.values()))
    rows = {}
    for c, p in zip(orders["created_at"], orders["paid_at"], strict=True):
        if pd.isna(c) or c > as_of - longest or (pd.notna(p) and p < c):
            continue
        key = c.hour if by == "hour" else c.weekday()
        r = rows.setdefault(key, {"created": 0, "delays": []})
        r["created"] += 1
        if pd.notna(p) and p <= as_of:
            r["delays"].append((p - c).total_seconds() / 60)
    out = {}
    for key, r in rows.items():
        d = np.array(r["delays"])
        out[key] = {"created": r["created"], "paid_share": len(d) / r["created"],
                    **{f"paid_within_{k}": (d <= m).sum() / r["created"]
                       for k, m in windows.items()},
                    "median_minutes_to_pay": np.median(d) if len(d) else np.nan}
    return out


# ------------------------------------------------------------------ payment timing
def test_payment_timing_matches_the_simulators_truth(rshop, before_test):
    res = payment_timing(before_test)
    truth = rshop.true_payment_timing()
    t = res.table
    for col in ["paid_share", "paid_within_15min", "paid_within_1h", "paid_within_2h",
                "paid_within_24h"]:
        se = np.sqrt(truth[col] * (1 - truth[col]) / t["created"])
        assert (np.abs(t[col] - truth[col]) < 4.5 * se).all(), col
    # day hours have many orders: their medians are close to the true median
    day = t["created"] > 3000
    assert np.allclose(t.loc[day, "median_minutes_to_pay"],
                       truth.loc[day, "median_minutes_to_pay"], rtol=0.15)
    # late shares: of paid orders, weighted by each hour's created orders
    w = t["created"] * truth["paid_share"]
    for col, within in (("late_share_after_2h", "paid_within_2h"),
                        ("late_share_after_24h", "paid_within_24h")):
        expected = (w * (1 - truth[within] / truth["paid_share"])).sum() / w.sum()
        assert res.overall[col] == pytest.approx(expected, abs=0.01)


def test_payment_timing_equals_brute_force(before_test):
    sample = before_test.sample(3000, random_state=1)
    windows = {"15min": 15.0, "1h": 60.0, "2h": 120.0, "24h": 1440.0}
    for by in ("hour", "weekday"):
        res = payment_timing(sample, by=by)
        brute = _brute_timing(sample, windows, res.as_of, by)
        for key, row in brute.items():
            got = res.table.set_index(by).loc[key]
            for col, value in row.items():
                assert got[col] == pytest.approx(value, nan_ok=True), (by, key, col)
        assert res.table["created"].sum() == res.n_orders == res.overall["created"]


def test_payment_timing_on_duckdb_and_parquet_agrees_with_pandas(before_test, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    cols = ["order_id", "created_at", "paid_at", "status"]
    frame = before_test[cols].reset_index(drop=True)
    frame.loc[:4, "paid_at"] = frame.loc[:4, "created_at"] - pd.Timedelta(minutes=5)
    frame.loc[5:7, "paid_at"] = pd.NaT  # paid status, no time
    path = tmp_path / "o.parquet"
    frame.to_parquet(path)
    con = duckdb.connect()
    for by in ("hour", "weekday"):
        want = payment_timing(frame, by=by, windows=("10min", "2h", "3d"))
        for source in (con.from_df(frame), str(path)):
            got = payment_timing(source, by=by, windows=("10min", "2h", "3d"))
            pd.testing.assert_frame_equal(got.table, want.table, check_dtype=False)
            pd.testing.assert_series_equal(got.overall.astype(float),
                                           want.overall.astype(float))
            assert got.n_paid_before_created == want.n_paid_before_created == 5
            assert got.n_paid_without_time == want.n_paid_without_time == 3
            assert got.n_too_recent == want.n_too_recent
            assert got.as_of == want.as_of


def test_payment_timing_reports_bad_times_and_never_uses_them():
    orders = pd.DataFrame({
        "created_at": T(["2025-01-01 10:00", "2025-01-01 10:00", "2025-01-01 11:00",
                         "2025-01-01 12:00", None]),
        "paid_at": T(["2025-01-01 10:05", "2025-01-01 09:00", None, None, None]),
        "status": ["paid", "paid", "paid", "unpaid", "unpaid"],
    })
    res = payment_timing(orders, windows=("1h",), as_of="2025-01-05")
    assert (res.n_paid_before_created, res.n_paid_without_time, res.n_without_created) \
        == (1, 1, 1)
    assert res.n_orders == 2
    assert res.overall["paid_share"] == 0.5
    assert any("earlier than their creation" in n for n in res.notes)
    assert any("paid status but no payment time" in n for n in res.notes)
    assert "late_share_after_24h" in res.overall.index


def test_payment_timing_bad_input_messages():
    ok = pd.DataFrame({"created_at": T(["2025-01-01"]), "paid_at": T(["2025-01-01"])})
    with pytest.raises(CrmDataError, match="include_unpaid=True"):
        payment_timing(ok.drop(columns="paid_at"))
    with pytest.raises(CrmDataError, match="'by' parameter must be one of"):
        payment_timing(ok, by="day")
    with pytest.raises(CrmDataError, match="duration like"):
        payment_timing(ok, windows=("soon",))
    with pytest.raises(CrmDataError, match="non-empty list"):
        payment_timing(ok, windows="2h")
    with pytest.raises(CrmDataError, match="no order left"):
        payment_timing(ok)  # created less than 24 h before the last time
    with pytest.raises(CrmDataError, match="not dates"):
        payment_timing(ok.assign(created_at=["yesterday"]))


def test_payment_timing_does_not_modify_its_input(before_test):
    frame = before_test.head(500).copy()
    copy = frame.copy()
    payment_timing(frame)
    pd.testing.assert_frame_equal(frame, copy)


# -------------------------------------------------------------------- unpaid list
def test_unpaid_orders_equals_brute_force(rshop, tmp_path):
    o = rshop.orders
    as_of = pd.Timestamp("2025-06-30 15:00")
    got = unpaid_orders(o, as_of=as_of, older_than="2h", within="72h",
                        path=tmp_path / "unpaid.csv")
    rows = []
    paid = o[o["status"] == "paid"]
    for r in o.itertuples():
        wait = (as_of - r.created_at).total_seconds() / 60
        if not 120 <= wait <= 4320 or (pd.notna(r.paid_at) and r.paid_at <= as_of):
            continue
        before = paid[(paid["customer_id"] == r.customer_id)
                      & (paid["order_date"] < r.created_at)]
        rows.append((r.order_id, wait, len(before) > 0, len(before), before["amount"].sum()))
    want = pd.DataFrame(rows, columns=["order_id", "minutes_waiting", "bought_before",
                                       "order_count", "spend"])
    got_ = got.set_index("order_id").loc[want["order_id"]]
    assert len(got) == len(want) > 10
    assert np.allclose(got_["minutes_waiting"], want["minutes_waiting"])
    assert (got_["order_count"].to_numpy() == want["order_count"].to_numpy()).all()
    assert (got_["bought_before"].to_numpy() == want["bought_before"].to_numpy()).all()
    assert np.allclose(got_["spend"], want["spend"])
    raw = (tmp_path / "unpaid.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(tmp_path / "unpaid.csv", dtype={"order_id": str}, encoding="utf-8-sig")
    assert back["order_id"].tolist() == got["order_id"].tolist()
    assert list(got.columns) == ["order_id", "customer_id", "amount", "created_at",
                                 "minutes_waiting", "bought_before", "order_count", "spend"]


def test_unpaid_orders_skips_closed_and_checks_durations():
    orders = pd.DataFrame({
        "customer_id": ["a", "b"], "order_id": ["1", "2"],
        "order_date": T(["2025-01-03 08:00", "2025-01-03 08:00"]), "amount": [5.0, 6.0],
        "status": ["unpaid", "交易关闭"], "created_at": T(["2025-01-03 08:00"] * 2),
        "paid_at": T([None, None])})
    got = unpaid_orders(orders, as_of="2025-01-03 12:00")
    assert got["order_id"].tolist() == ["1"] and not got["bought_before"].any()
    with pytest.raises(CrmDataError, match="must be shorter than 'within'"):
        unpaid_orders(orders, as_of="2025-01-03", older_than="3d", within="2h")


# ---------------------------------------------------------------- assign_holdout arms
def test_assign_holdout_arms_shares_reproducible_and_two_group_identical():
    ids = pd.DataFrame({"customer_id": [f"o{i}" for i in range(20_000)]})
    arms = {"2h": 0.4, "24h": 0.4, "none": 0.2}
    a = assign_holdout(ids, seed="t1", arms=arms)
    assert a.equals(assign_holdout(ids.iloc[::-1], seed="t1", arms=arms).iloc[::-1])
    share = a["group"].value_counts(normalize=True)
    for arm, s in arms.items():
        assert share[arm] == pytest.approx(s, abs=0.015)
    two = assign_holdout(ids, holdout=0.15, seed=3)
    same = assign_holdout(ids, seed=3, arms={"control": 0.15, "treatment": 0.85})
    assert two.equals(same)
    strat = ids.assign(tier=np.where(np.arange(20_000) < 3000, "gold", "silver"))
    s2 = assign_holdout(strat, holdout=0.15, seed=3, strata="tier")
    assert s2.equals(assign_holdout(strat, seed=3, strata="tier",
                                    arms={"control": 0.15, "treatment": 0.85}))
    s3 = assign_holdout(strat, seed=3, strata="tier", arms=arms)
    counts = s3.groupby(["tier", "group"]).size()
    assert abs(counts["gold", "2h"] - 1200) <= 1 and abs(counts["silver", "none"] - 3400) <= 1


def test_assign_holdout_arms_errors():
    ids = pd.DataFrame({"customer_id": ["a", "b"]})
    with pytest.raises(CrmDataError, match="add up to 1"):
        assign_holdout(ids, seed=1, arms={"a": 0.5, "b": 0.6})
    with pytest.raises(CrmDataError, match="at least two arm"):
        assign_holdout(ids, seed=1, arms={"a": 1.0})
    with pytest.raises(CrmDataError, match="not both"):
        assign_holdout(ids, seed=1, holdout=0.2, arms={"a": 0.5, "b": 0.5})


# ------------------------------------------------------------------- reminder test
def test_reminder_test_covers_the_true_effects(rshop):
    res = reminder_test(rshop.orders, rshop.assignments)
    truth = rshop.true_reminder_effects().set_index("arm")
    arms = res.arms.set_index("arm")
    for arm in EFFECTS:
        t = truth.loc[arm]
        # sampling error of the arm's rate around the all-orders truth: the interval
        # covers it (3.5 standard errors of slack for a fixed seed is not needed: 95%)
        assert arms.loc[arm, "ci_low"] <= t["true_payment_rate"] <= arms.loc[arm, "ci_high"]
    for arm in ("2h", "24h"):
        pair = res.pairs[(res.pairs["arm"] == arm) & (res.pairs["versus"] == "none")]
        if pair.empty:
            pair = res.pairs[(res.pairs["arm"] == "none") & (res.pairs["versus"] == arm)]
            lo, hi = -pair["ci_high"].iloc[0], -pair["ci_low"].iloc[0]
        else:
            lo, hi = pair["ci_low"].iloc[0], pair["ci_high"].iloc[0]
        assert lo <= truth.loc[arm, "true_lift"] <= hi
        assert lo > 0  # the simulated reminders work, and the test sees it
        assert (arms.loc[arm, "revenue_ci_low"] <= truth.loc[arm, "true_revenue_per_1000_reminders"]
                <= arms.loc[arm, "revenue_ci_high"])
    assert res.pairs["p_value_holm"].tolist() == pytest.approx(
        adjust_p_values(res.pairs["p_value"], "holm").tolist())
    assert res.best_arm() in ("2h", "24h")


def test_reminder_test_equals_brute_force(rshop):
    res = reminder_test(rshop.orders, rshop.assignments, window="24h")
    o = rshop.orders.set_index("order_id")
    last = max(o["created_at"].max(), o["paid_at"].max())
    a = rshop.assignments.set_index("order_id")
    a = a[o.loc[a.index, "created_at"] <= last - pd.Timedelta(hours=24)]
    d = (o.loc[a.index, "paid_at"] - o.loc[a.index, "created_at"]).dt.total_seconds() / 60
    paid = d <= 1440
    rate = paid.groupby(a["group"]).mean()
    rev = (o.loc[a.index, "amount"] * paid).groupby(a["group"]).sum()
    got = res.arms.set_index("arm")
    assert got["payment_rate"].to_dict() == pytest.approx(rate.to_dict())
    assert got["revenue"].to_dict() == pytest.approx(rev.to_dict())
    sent_2h = ((d.isna() | (d > 120)) & (a["group"] == "2h")).sum()
    assert got.loc["2h", "reminders"] == sent_2h


def test_reminder_test_errors(rshop):
    o = rshop.orders
    a = rshop.assignments
    with pytest.raises(CrmDataError, match="repeats"):
        reminder_test(o, pd.concat([a, a.head(2)]))
    with pytest.raises(CrmDataError, match="No arm is called"):
        reminder_test(o, a.assign(group=a["group"].replace({"none": "zero"})))
    with pytest.raises(CrmDataError, match="at least two"):
        reminder_test(o, a.assign(group="2h"))
    with pytest.raises(CrmDataError, match="not among the arms"):
        reminder_test(o, a, control="never")


# ---------------------------------------------------------------- repurchase cycles
def _brute_cycles(orders: pd.DataFrame, by: str) -> dict:
    kept = orders[(orders["status"] != "unpaid") & (orders["quantity"] > 0)]
    occ = (kept.assign(day=kept["order_date"].dt.normalize())
           .groupby(["customer_id", by, "day"], as_index=False)["quantity"].sum())
    out = {}
    for (_cust, item), g in occ.groupby(["customer_id", by]):
        g = g.sort_values("day")
        days = g["day"].diff().dt.days.to_numpy()[1:]
        per = days / g["quantity"].to_numpy()[:-1]
        if len(per):
            r = out.setdefault(item, {"buyers": 0, "gaps": []})
            r["buyers"] += 1
            r["gaps"].extend(per)
    return out


def test_repurchase_cycles_match_truth_and_brute_force(rshop):
    res = repurchase_cycles(rshop.orders)
    table = res.table.set_index("product")
    truth = rshop.products.set_index("product")["true_cycle_days_per_unit"].dropna()
    for product, cycle in truth.items():
        assert table.loc[product, "cycle_days_per_unit"] == pytest.approx(cycle, rel=0.06)
        assert table.loc[product, "cycle_q25"] < cycle < table.loc[product, "cycle_q75"]
    sub = rshop.orders[rshop.orders["customer_id"].isin(
        rshop.orders["customer_id"].drop_duplicates().sample(1500, random_state=2))]
    got = repurchase_cycles(sub, min_repeats=1).table.set_index("product")
    for item, r in _brute_cycles(sub, "product").items():
        q = np.quantile(r["gaps"], [0.25, 0.5, 0.75])
        row = got.loc[item]
        assert (row["repeat_buyers"], row["repeat_purchases"]) == (r["buyers"], len(r["gaps"]))
        assert [row["cycle_q25"], row["cycle_days_per_unit"], row["cycle_q75"]] == \
            pytest.approx(list(q))


def test_repurchase_cycles_min_repeats_bad_quantities_and_category():
    orders = pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "b", "c"], "order_id": list("123456"),
        "order_date": T(["2025-01-01", "2025-01-11", "2025-01-11", "2025-01-01",
                         "2025-01-21", "2025-01-01"]),
        "amount": [1.0] * 6, "product": ["tea", "tea", "tea", "tea", "tea", "cup"],
        "category": ["food"] * 5 + ["home"], "quantity": [1, 1, 1, 2, 0, -1]})
    res = repurchase_cycles(orders, min_repeats=2)
    assert res.n_bad_quantity == 2 and any("0 or below" in n for n in res.notes)
    row = res.table.iloc[0]
    assert (row["product"], row["repeat_buyers"], row["repeat_purchases"]) == ("tea", 1, 1)
    assert np.isnan(row["cycle_days_per_unit"]) and "fewer than 2" in row["note"]
    ok = repurchase_cycles(orders, min_repeats=1, by="category").table
    assert ok.loc[0, "category"] == "food" and ok.loc[0, "cycle_days_per_unit"] == 10.0
    with pytest.raises(CrmDataError, match="need the column"):
        repurchase_cycles(orders.drop(columns="quantity"))
    with pytest.raises(CrmDataError, match="'by' parameter"):
        repurchase_cycles(orders, by="sku")
    with pytest.raises(CrmDataError, match="min_repeats"):
        repurchase_cycles(orders, min_repeats=0)


def test_repurchase_cycles_on_duckdb_and_parquet_agree(rshop, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    frame = rshop.orders.copy()
    frame.loc[frame.index[:7], "quantity"] = 0
    want = repurchase_cycles(frame, as_of="2025-09-30")
    path = tmp_path / "o.parquet"
    frame.to_parquet(path)
    for source in (duckdb.connect().from_df(frame), str(path)):
        got = repurchase_cycles(source, as_of="2025-09-30")
        pd.testing.assert_frame_equal(got.table, want.table)
        assert got.n_bad_quantity == want.n_bad_quantity
        assert got.as_of == want.as_of


# --------------------------------------------------------------- replenishment list
def test_replenishment_list_equals_brute_force_and_truth(rshop):
    as_of = pd.Timestamp("2025-10-15")
    o = rshop.orders
    cycles = repurchase_cycles(o, as_of=as_of)
    got = replenishment_list(o, as_of=as_of, lead_days=7, cycles=cycles)
    c = cycles.cycles()
    kept = o[(o["status"] == "paid") & (o["order_date"] < as_of + pd.Timedelta(days=1))]
    occ = (kept.assign(day=kept["order_date"].dt.normalize())
           .groupby(["customer_id", "product", "day"], as_index=False)["quantity"].sum())
    last = occ.sort_values("day").groupby(["customer_id", "product"]).tail(1)
    last = last[last["product"].isin(c.index)]
    runout = last["day"] + pd.to_timedelta(
        np.floor(last["product"].map(c) * last["quantity"]), unit="D")
    left = (runout - as_of).dt.days
    want = last[(left >= 0) & (left <= 7)]
    assert len(got) == len(want) > 20
    assert set(zip(got["customer_id"], got["product"], strict=True)) == set(
        zip(want["customer_id"], want["product"], strict=True))
    # against the truth: listed consumables run out (true cycle) near the estimate
    p = rshop.purchases
    listed = got[got["product"].isin(p["product"].unique())].merge(
        p, left_on=["customer_id", "product", "last_purchase"],
        right_on=["customer_id", "product", p["order_date"].dt.normalize()])
    gap = (listed["runout_date"] - listed["true_runout_date"].dt.normalize()).dt.days
    assert len(listed) > 10 and gap.abs().median() <= 2
    # a customer who re-bought is judged on the new purchase
    assert not ((got["last_purchase"] < got["last_order"])
                & got.duplicated(["customer_id", "product"])).any()


def test_replenishment_list_rebought_customer_is_not_listed():
    orders = pd.DataFrame({
        "customer_id": ["a", "a", "b"], "order_id": ["1", "2", "3"],
        "order_date": T(["2025-01-01", "2025-02-20", "2025-01-01"]),
        "amount": [3.0, 1.0, 3.0], "product": ["tea"] * 3, "quantity": [3, 1, 3]})
    cycles = pd.DataFrame({"product": ["tea"], "cycle_days_per_unit": [20.0]})
    got = replenishment_list(orders, as_of="2025-02-25", cycles=cycles)
    assert got["customer_id"].tolist() == ["b"]  # a re-bought on 02-20
    assert got["runout_date"].iloc[0] == pd.Timestamp("2025-03-02")
    with pytest.raises(CrmDataError, match="must be positive"):
        replenishment_list(orders, cycles=cycles.assign(cycle_days_per_unit=-1.0))


def test_report_tables(rshop):
    rep = report_tables(rshop.orders)
    names = set(rep.tables())
    assert {"payment_timing_by_hour", "payment_timing_by_weekday", "repurchase_cycles",
            "replenishment_list"} <= names
    assert rep.payment_by_weekday.table.shape[0] == 7
    plain = rshop.orders.drop(columns=["created_at", "paid_at", "product", "quantity"])
    assert report_tables(plain[plain["status"] == "paid"]).tables() == {}


def test_titles_with_quantities_are_used_as_given():
    orders = pd.DataFrame({
        "customer_id": ["a", "a", "b", "b"], "order_id": list("1234"),
        "order_date": T(["2025-01-01", "2025-01-31", "2025-01-01", "2025-01-11"]),
        "amount": [1.0] * 4, "product": ["奶粉 3罐装", "奶粉 3罐装", "奶粉 1罐", "奶粉 1罐"],
        "quantity": [1, 1, 1, 1]})
    table = repurchase_cycles(orders, min_repeats=1).table.set_index("product")
    assert table["cycle_days_per_unit"].to_dict() == {"奶粉 3罐装": 30.0, "奶粉 1罐": 10.0}


def test_plots_draw_the_results(rshop, before_test):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from crm_analytics.plots.reminders import plot_payment_timing, plot_repurchase_cycles

    ax = plot_payment_timing(payment_timing(before_test))
    assert len(ax.get_lines()) == 5 and ax.get_xlabel() == "hour the order was created"
    ax = plot_payment_timing(payment_timing(before_test, by="weekday").table)
    assert [t.get_text() for t in ax.get_xticklabels()][0] == "Mon"
    ax = plot_repurchase_cycles(repurchase_cycles(rshop.orders), top=5)
    assert len(ax.get_yticks()) == 5
    with pytest.raises(CrmDataError, match="needs the output of payment_timing"):
        plot_payment_timing(pd.DataFrame({"x": [1]}))
    with pytest.raises(CrmDataError, match="needs the output of repurchase_cycles"):
        plot_repurchase_cycles(pd.DataFrame({"x": [1]}))
    plt.close("all")


def test_report_tables_on_duckdb(rshop):
    duckdb = pytest.importorskip("duckdb")
    frame = rshop.orders.head(20_000)
    rep = report_tables(duckdb.connect().from_df(frame))
    want = report_tables(frame)
    pd.testing.assert_frame_equal(rep.payment.table, want.payment.table, check_dtype=False)
    pd.testing.assert_frame_equal(rep.cycles.table, want.cycles.table)
    assert rep.replenishment is None  # the list needs the orders in pandas


def test_paid_then_closed_orders_count_as_paid():
    orders = pd.DataFrame({
        "created_at": T(["2025-01-01 10:00", "2025-01-01 10:00", "2025-01-01 10:00"]),
        "paid_at": T(["2025-01-01 10:30", "2025-01-01 12:30", None]),
        "status": ["refunded", "cancelled", "cancelled"]})
    res = payment_timing(orders, windows=("1h",), as_of="2025-01-03")
    assert res.overall["paid"] == 2 and res.n_paid_without_time == 0


def test_simulate_reminders_command_line_is_byte_stable(tmp_path):
    from crm_analytics.simulate_reminders import main

    args = ["--n-customers", "300", "--seed", "4"]
    assert main(["--out", str(tmp_path / "a"), *args]) == 0
    assert main(["--out", str(tmp_path / "b"), *args]) == 0
    for name in ("orders", "created_orders", "reminder_test", "products"):
        a = (tmp_path / "a" / f"{name}.csv").read_bytes()
        assert a == (tmp_path / "b" / f"{name}.csv").read_bytes()
    header = (tmp_path / "a" / "created_orders.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.endswith("product,quantity,status,created_at,paid_at")
