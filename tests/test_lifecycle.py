"""Tests of crm_analytics.membership and crm_analytics.summary.dimensions.

The stages and the KPI board are checked against independent brute-force computations
(plain Python loops over a small simulated shop), the message funnel against the
simulator's truth, and the DuckDB path against the pandas path.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from crm_analytics._core.errors import CrmDataError
from crm_analytics.cohorts import cohort_repurchase, repurchase_rate
from crm_analytics.membership import (
    STAGES,
    kpi_board,
    lifecycle,
    lifecycle_counts,
    lifecycle_flow,
    lifecycle_kpis,
    merge_customers,
    message_funnel,
    report_tables,
    tier_kpis,
    tier_migration,
)
from crm_analytics.orders.validate import validate_orders
from crm_analytics.simulate import MEMBER_TIERS, simulate_shop
from crm_analytics.summary.dimensions import customer_dimension, province_from_address

AS_OF = "2025-12-31"


@pytest.fixture(scope="module")
def shop():
    return simulate_shop(400, seed=5)


@pytest.fixture(scope="module")
def orders(shop):
    return validate_orders(shop.orders)


# ------------------------------------------------------------------ brute force helpers
def _month_start(d: dt.date) -> dt.date:
    return d.replace(day=1)


def _next_month(d: dt.date) -> dt.date:
    return (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    out, m = [], _month_start(first)
    while m <= last:
        out.append(m)
        m = _next_month(m)
    return out


def _brute_stages(orders: pd.DataFrame, as_of: dt.date, sleep_after: int,
                  lost_after: int) -> dict:
    days = defaultdict(set)
    for cid, ts in zip(orders["customer_id"], orders["order_date"], strict=False):
        if ts.date() <= as_of:
            days[cid].add(ts.date())
    first_all = min(min(d) for d in days.values())
    out = {}
    for month in _months(first_all, as_of):
        end = min(_next_month(month) - dt.timedelta(days=1), as_of)
        for cid, ds in days.items():
            ds = sorted(ds)
            if ds[0] > end:
                continue
            if month <= ds[0] <= end:
                out[cid, month] = "new"
                continue
            inside = [d for d in ds if month <= d <= end]
            before = [d for d in ds if d < month]
            if inside and (inside[0] - before[-1]).days > sleep_after:
                out[cid, month] = "won_back"
                continue
            so_far = [d for d in ds if d <= end]
            since = (end - so_far[-1]).days
            if since > lost_after:
                out[cid, month] = "lost"
            elif since > sleep_after:
                out[cid, month] = "sleeping"
            elif len(so_far) >= 2:
                out[cid, month] = "repeat_active"
            else:
                out[cid, month] = "one_time_active"
    return out


# ------------------------------------------------------------------------- lifecycle
def test_lifecycle_matches_brute_force(orders) -> None:
    as_of = dt.date(2025, 9, 20)  # mid-month: the last period is judged at as_of
    got = lifecycle(orders, as_of=as_of, sleep_after=60, lost_after=200)
    expected = _brute_stages(orders, as_of, 60, 200)
    assert len(got) == len(expected)
    seen = {(c, p.date()): s for c, p, s in
            zip(got["customer_id"], got["period"], got["stage"].astype(str), strict=False)}
    assert seen == expected
    assert not got.duplicated(["customer_id", "period"]).any()
    assert set(got["stage"].cat.categories) == set(STAGES)


def test_lifecycle_periods_and_input_untouched(orders) -> None:
    before = orders.copy()
    full = lifecycle(orders)
    last2 = lifecycle(orders, periods=2)
    assert last2["period"].nunique() == 2
    tail = full[full["period"].isin(last2["period"].unique())].reset_index(drop=True)
    pd.testing.assert_frame_equal(last2, tail)
    pd.testing.assert_frame_equal(orders, before)


def test_lifecycle_flow_and_counts_add_up(orders) -> None:
    stages = lifecycle(orders)
    flow = lifecycle_flow(stages)
    counts = lifecycle_counts(stages)
    per_period = stages.groupby("period").size()
    into = flow.groupby("period")["customers"].sum()
    pd.testing.assert_series_equal(into, per_period, check_names=False)
    assert (counts.groupby("period")["customers"].sum() == per_period).all()
    assert set(flow.loc[flow["from_stage"] == "none", "to_stage"]) == {"new"}


def test_lifecycle_kpis_brute_force(orders) -> None:
    kpis = lifecycle_kpis(orders, as_of=AS_OF)
    first = orders.groupby("customer_id")["order_date"].min().dt.to_period("M")
    month = orders["order_date"].dt.to_period("M")
    returning = month > orders["customer_id"].map(first)
    for _, row in kpis.iterrows():
        m = pd.Period(row["period"], "M")
        sel = month == m
        assert row["customers"] == orders.loc[sel, "customer_id"].nunique()
        assert row["new_customers"] == int((first == m).sum())
        assert row["returning_customers"] == orders.loc[sel & returning, "customer_id"].nunique()
        assert row["revenue"] == pytest.approx(orders.loc[sel, "amount"].sum())
    stages = lifecycle(orders, as_of=AS_OF)
    won = stages[stages["stage"] == "won_back"].groupby("period").size()
    assert kpis.set_index("period")["won_back"].reindex(won.index).tolist() == won.tolist()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"freq": "D"}, "'freq' parameter"),
        ({"sleep_after": 0}, "'sleep_after' parameter"),
        ({"sleep_after": 90, "lost_after": 90}, "must be larger than sleep_after"),
        ({"periods": 0}, "'periods' parameter"),
    ],
)
def test_lifecycle_bad_parameters(orders, kwargs, match) -> None:
    with pytest.raises(CrmDataError, match=match):
        lifecycle(orders, **kwargs)


def test_lifecycle_flow_needs_a_lifecycle_table() -> None:
    with pytest.raises(CrmDataError, match="needs a lifecycle"):
        lifecycle_flow(pd.DataFrame({"customer_id": ["a"]}))


# ------------------------------------------------------------------------- KPI board
def _brute_board(orders: pd.DataFrame, members: pd.DataFrame | None, freq: str) -> dict:
    key = {"M": lambda d: (d.year, d.month), "Q": lambda d: (d.year, (d.month - 1) // 3),
           "Y": lambda d: (d.year,)}[freq]
    per = defaultdict(lambda: defaultdict(list))
    for cid, ts, amount in zip(orders["customer_id"], orders["order_date"], orders["amount"], strict=False):
        per[key(ts)][cid].append((ts.date(), amount))
    join = {}
    if members is not None:
        for cid, j in zip(members["customer_id"], members["join_date"], strict=False):
            join[cid] = min(join.get(cid, j.date()), j.date())
    out = {}
    for k, custs in per.items():
        n_orders = sum(len(v) for v in custs.values())
        revenue = sum(a for v in custs.values() for _, a in v)
        repeat = {c: v for c, v in custs.items() if len(v) >= 2}
        row = {
            "customers": len(custs), "orders": n_orders, "revenue": revenue,
            "aov": revenue / n_orders,
            "repurchase_rate": len(repeat) / len(custs),
            "orders_per_repeat_customer": (sum(len(v) for v in repeat.values()) / len(repeat)
                                           if repeat else np.nan),
            "repeat_revenue_share": sum(a for v in repeat.values() for _, a in v) / revenue,
        }
        if members is not None:
            row["member_revenue"] = sum(a for c, v in custs.items() for d, a in v
                                        if c in join and join[c] <= d)
        out[k] = row
    return out


@pytest.mark.parametrize("freq", ["M", "Q", "Y"])
def test_kpi_board_matches_brute_force(shop, orders, freq) -> None:
    board = kpi_board(orders, period=freq, members=shop.members)
    expected = _brute_board(orders, shop.members, freq)
    assert len(board) == len(expected)
    for _, row in board.iterrows():
        d = row["period"]
        k = {"M": (d.year, d.month), "Q": (d.year, (d.month - 1) // 3), "Y": (d.year,)}[freq]
        for col, value in expected[k].items():
            assert row[col] == pytest.approx(value, nan_ok=True), (k, col)
    # changes against the previous period
    rel = board["revenue"] / board["revenue"].shift() - 1
    assert np.allclose(board["revenue_change"], rel, equal_nan=True)
    diff = board["repurchase_rate"] - board["repurchase_rate"].shift()
    assert np.allclose(board["repurchase_rate_change"], diff, equal_nan=True)
    # members joined by the period's end
    joins = shop.members.groupby("customer_id")["join_date"].min()
    ends = board["period"] + pd.to_timedelta(board["days"] - 1, unit="D")
    assert board["members"].tolist() == [int((joins <= e).sum()) for e in ends]


def test_kpi_board_columns_and_incomplete_period(orders) -> None:
    board = kpi_board(orders, as_of="2025-11-15", period="Q")
    for col in ("period", "customers", "orders", "revenue", "aov", "repurchase_rate",
                "orders_per_repeat_customer", "repeat_revenue_share"):
        assert col in board
        if col != "period":
            assert f"{col}_change" in board
    assert not board["complete"].iloc[-1] and board["complete"].iloc[:-1].all()
    assert board["days"].iloc[-1] == 46


def test_kpi_board_by_dimension_adds_up(orders) -> None:
    board = kpi_board(orders, period="Y", by="first_channel", min_size=1)
    total = kpi_board(orders, period="Y")
    sums = board.groupby("period")[["customers", "orders", "revenue"]].sum()
    assert np.allclose(sums.to_numpy(), total.set_index("period")[
        ["customers", "orders", "revenue"]].to_numpy())
    with pytest.raises(CrmDataError, match="'period' parameter of kpi_board"):
        kpi_board(orders, period="W")


def test_engine_paths_match_pandas(orders, tmp_path) -> None:
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "orders.parquet"
    orders.to_parquet(path)
    for source in (duckdb.from_df(orders), str(path)):
        for freq in ("M", "Y"):
            pd.testing.assert_frame_equal(kpi_board(source, period=freq),
                                          kpi_board(orders, period=freq))
        pd.testing.assert_frame_equal(lifecycle(source, sleep_after=60),
                                      lifecycle(orders, sleep_after=60))
    with pytest.raises(CrmDataError, match="not available for Parquet/DuckDB/Spark"):
        kpi_board(str(path), members=pd.DataFrame({"customer_id": ["1"]}))


# ------------------------------------------------------------------------ dimensions
def test_dimension_unknown_and_other_levels() -> None:
    orders = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e"], "order_id": list("12345"),
        "order_date": pd.to_datetime(["2024-01-01"] * 5), "amount": [1.0] * 5,
        "channel": ["天猫", "天猫", "抖音", None, "  "],
    })
    dim = customer_dimension(orders, "first_channel", min_size=2)
    assert dim.levels["first_channel"].tolist() == ["天猫", "天猫", "other", "unknown",
                                                    "unknown"]
    assert dim.n_unknown == 2 and dim.grouped == ("抖音",)
    assert dim.level_order == ("天猫", "other", "unknown")
    rates = repurchase_rate(orders, by="first_channel", min_size=2)
    assert rates["n_customers"].sum() == 5  # no customer dropped


def test_dimension_from_customers_table_and_address() -> None:
    orders = pd.DataFrame({
        "customer_id": ["a", "b", "c"], "order_id": list("123"),
        "order_date": pd.to_datetime(["2024-01-01"] * 3), "amount": [1.0] * 3})
    customers = pd.DataFrame({"customer_id": ["a", "b", "c"],
                              "address": ["浙江省杭州市", "深圳市南山区", "某某路1号"]})
    dim = customer_dimension(orders, "province", customers=customers, min_size=1)
    assert dim.levels["province"].tolist() == ["浙江", "广东", "unknown"]
    assert any("1 addresses name no province" in n for n in dim.notes)
    with pytest.raises(CrmDataError, match="names no customer attribute"):
        customer_dimension(orders, "first_coupon")
    with pytest.raises(CrmDataError, match="'min_size' parameter"):
        customer_dimension(orders, "province", customers=customers, min_size=0)


def test_province_from_address_prefers_the_earliest_name() -> None:
    got = province_from_address(pd.Series(["内蒙古自治区呼和浩特市", "陕西省西安市",
                                           "山西省太原市", "黑龙江省哈尔滨市"]))
    assert got.tolist() == ["内蒙古", "陕西", "山西", "黑龙江"]


def test_cohort_repurchase_by_adds_up(shop, orders) -> None:
    table = cohort_repurchase(orders, by="member_tier", customers=shop.customers, min_size=1)
    total = cohort_repurchase(orders)
    assert list(table.columns[:2]) == ["member_tier", "cohort"]
    sums = table.groupby(["cohort", "period"])[["cohort_size", "customers"]].sum()
    merged = total.set_index(["cohort", "period"])[["cohort_size", "customers"]]
    pd.testing.assert_frame_equal(sums.reindex(merged.index).astype(np.int64), merged)


def test_lifecycle_by_column(orders) -> None:
    stages = lifecycle(orders, by="first_category", min_size=1)
    first_cat = orders.drop_duplicates("customer_id").set_index("customer_id")["category"]
    assert (stages["first_category"].astype(str).to_numpy()
            == stages["customer_id"].map(first_cat).to_numpy()).all()


# ---------------------------------------------------------------------------- tiers
def test_simulated_members_end_in_the_customer_tier(shop) -> None:
    last = shop.members.groupby("customer_id").tail(1).set_index("customer_id")
    tiers = shop.customers.set_index("customer_id").loc[last.index, "member_tier"]
    assert (last["member_tier"] == tiers).all()
    assert (shop.members["tier_since"] >= shop.members["join_date"]).all()


def test_tier_migration_brute_force(shop) -> None:
    table = tier_migration(shop.members, period="Y", as_of=AS_OF, tiers=MEMBER_TIERS)
    m = shop.members
    for year in (2024, 2025):
        start, end = pd.Timestamp(f"{year}-01-01"), pd.Timestamp(f"{year}-12-31")
        expected = defaultdict(int)
        for _cid, g in m.groupby("customer_id"):
            before = g[g["tier_since"] < start]
            after = g[g["tier_since"] <= end]
            if after.empty:
                continue
            a = before["member_tier"].iloc[-1] if len(before) else "none"
            expected[a, after["member_tier"].iloc[-1]] += 1
        got = table[table["period"] == start]
        assert dict(zip(zip(got["tier_start"], got["tier_end"], strict=False), got["members"], strict=False)) == expected


def test_tier_kpis_add_up(shop, orders) -> None:
    table = tier_kpis(orders, shop.members, tiers=MEMBER_TIERS)
    assert table["tier"].tolist()[-1] == "non_member"
    assert table["revenue"].sum() == pytest.approx(orders["amount"].sum())
    assert table["revenue_share"].sum() == pytest.approx(1.0)
    assert table["customers"].sum() == orders["customer_id"].nunique()


# --------------------------------------------------------------------------- messages
def test_message_funnel_against_simulator_truth() -> None:
    shop = simulate_shop(6000, seed=11)
    funnel = message_funnel(shop.messages, shop.orders, window_days=30)
    table = funnel.table.set_index("campaign_id")
    truth = shop.campaign_truth().set_index("campaign_id")
    for cid, t in shop.truth["messages"].items():
        row = table.loc[cid]
        for step in ("sent", "delivered", "opened", "clicked"):
            assert row[step] == t[step]
        assert row["held_out"] == t["held_out"]
        # every campaign-caused order falls in the 30-day window
        assert row["ordered"] >= t["extra_orders"]
        se = (row["lift_ci_high"] - row["lift_ci_low"]) / (2 * 1.96)
        assert abs(row["lift"] - truth.loc[cid, "true_conversion_lift"]) < 4 * se
    rates = shop.truth["message_rates"]["sms"]
    sms = table[table["channel"] == "sms"]
    assert abs(sms["delivered"].sum() / sms["sent"].sum() - rates["delivered"]) < 0.02
    assert funnel.n_unknown_customers == 0


def test_message_funnel_reports_unknown_customers_and_bad_input(orders) -> None:
    log = pd.DataFrame({"customer_id": [orders["customer_id"].iloc[0], "ghost1", "ghost2"],
                        "sent_at": ["2025-01-01 10:00"] * 3, "channel": "email",
                        "campaign_id": "C"})
    funnel = message_funnel(log, orders)
    assert funnel.n_unknown_customers == 2
    assert "2 customers of the message log" in funnel.notes[0]
    assert funnel.table["sent"].iloc[0] == 3 and np.isnan(funnel.table["opened"].iloc[0])
    with pytest.raises(CrmDataError, match=r"no \['campaign_id'\] column"):
        message_funnel(log.drop(columns="campaign_id"), orders)
    with pytest.raises(CrmDataError, match="not dates"):
        message_funnel(log.assign(sent_at="soon"), orders)
    with pytest.raises(CrmDataError, match="must be True/False"):
        message_funnel(log.assign(opened="maybe"), orders)
    with pytest.raises(CrmDataError, match="'window_days' parameter"):
        message_funnel(log, orders, window_days=0)


# ----------------------------------------------------------------------------- stores
def test_merge_customers_unifies_and_reports_conflicts() -> None:
    a = pd.DataFrame({"customer_id": ["a1", "a2", "a3", "a3"], "order_id": ["1", "2", "3", "4"],
                      "order_date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03",
                                                    "2024-01-04"]),
                      "amount": [1.0, 2.0, 3.0, 4.0], "phone": ["p1", "p2", "p2", "p9"]})
    b = pd.DataFrame({"customer_id": ["b1", "b2"], "order_id": ["1", "2"],
                      "order_date": pd.to_datetime(["2024-02-01", "2024-02-02"]),
                      "amount": [5.0, 6.0], "phone": ["p1", None]})
    merged = merge_customers({"a": a, "b": b}, key="phone")
    kinds = set(merged.conflicts["kind"])
    assert kinds == {"key_with_several_ids", "id_with_several_keys"}
    combined = merged.combine({"a": a, "b": b})
    assert combined.loc[combined["store"] == "b", "customer_id"].tolist() == ["p1", "b:b2"]
    assert combined["order_id"].is_unique
    assert (combined["customer_id"] == "p1").sum() == 2  # a1 and b1 are one customer
    board = kpi_board(combined, period="Y")
    assert board["customers"].iloc[0] == 3  # p1 (a1 + b1), p2 (a2 + a3), b:b2
    with pytest.raises(CrmDataError, match="needs customer_id and 'phone'"):
        merge_customers({"a": a.drop(columns="phone")}, key="phone")


# ----------------------------------------------------------------------------- report
def test_report_tables(shop, orders) -> None:
    tables = report_tables(orders, period="Q", members=shop.members)
    assert "member_gmv_share" in tables.board
    assert set(tables.repurchase) == {"first_channel", "first_category"}
    assert tables.stage_counts["customers"].sum() == len(lifecycle(orders))


# --------------------------------------------------------------- sample and plots
def test_sample_members_and_messages_regenerate_byte_for_byte(tmp_path) -> None:
    from pathlib import Path

    from crm_analytics.membership.sample import load_lifecycle_sample
    from crm_analytics.simulate import SAMPLE_N_CUSTOMERS, SAMPLE_SEED

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    simulate_shop(SAMPLE_N_CUSTOMERS, seed=SAMPLE_SEED).to_csv(tmp_path)
    for name in ("members", "messages"):
        assert (tmp_path / f"{name}.csv").read_bytes() == (sample / f"{name}.csv").read_bytes()
    messages = load_lifecycle_sample("messages")
    control = messages["group"] == "control"
    assert not messages.loc[control, ["delivered", "opened", "clicked"]].any().any()
    with pytest.raises(CrmDataError, match="'name' parameter"):
        load_lifecycle_sample("orders")


def test_plots_draw_on_the_given_axes(orders) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from crm_analytics.plots.lifecycle import (
        plot_kpi_board,
        plot_lifecycle,
        plot_lifecycle_flow,
        plot_repurchase_by,
    )

    tables = report_tables(orders, period="Q")
    fig, axes = plt.subplots(2, 2)
    assert plot_lifecycle(tables.stage_counts, ax=axes[0, 0]) is axes[0, 0]
    assert plot_lifecycle_flow(lifecycle_flow(lifecycle(orders)), ax=axes[0, 1]) is axes[0, 1]
    assert plot_kpi_board(tables.board, column="repurchase_rate", ax=axes[1, 0]) is axes[1, 0]
    assert plot_repurchase_by(tables.repurchase["first_channel"], ax=axes[1, 1]) is axes[1, 1]
    assert axes[1, 0].get_ylabel() == "repurchase rate (%)"
    plt.close(fig)
