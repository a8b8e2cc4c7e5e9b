"""Sleeping members: exact agreement with a brute-force day-by-day computation."""

from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_analytics import CrmDataError
from crm_analytics.sleeping import (
    STATUSES,
    default_aov_threshold,
    member_status,
    reactivation,
    reminder_list,
    sleeping_flow,
    status_overview,
    suggest_sleep_after,
)

matplotlib.use("Agg")

DAY0 = pd.Timestamp("2024-01-01")


def make_orders(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    """Orders from (customer, day offset from DAY0, amount); times inside the day vary."""
    return pd.DataFrame(
        {
            "customer_id": [c for c, _, _ in rows],
            "order_id": [str(i) for i in range(len(rows))],
            "order_date": [DAY0 + pd.Timedelta(days=d, hours=(7 * i) % 24)
                           for i, (_, d, _) in enumerate(rows)],
            "amount": [float(a) for _, _, a in rows],
        }
    )


def random_orders(seed: int, n_customers: int = 25, horizon: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_customers):
        first = int(rng.integers(0, horizon))
        n = int(rng.integers(1, 6))
        days = first + np.cumsum(np.r_[0, rng.integers(1, 30, size=n - 1)])
        rows += [(f"c{c}", int(d), float(rng.integers(1, 100))) for d in days if d < horizon]
        if rng.random() < 0.3:  # a second order on the same day
            rows.append((f"c{c}", first, 5.0))
    return make_orders(rows)


def order_day_lists(orders: pd.DataFrame) -> dict[str, list[pd.Timestamp]]:
    day = orders["order_date"].dt.normalize()
    return {c: sorted(set(d)) for c, d in day.groupby(orders["customer_id"])}


def brute_state(orders, t: pd.Timestamp, s: int, r: int, days=None) -> dict[str, str]:
    """Status of every member at the end of day t, one customer at a time."""
    out = {}
    for cust, cust_days in (days or order_day_lists(orders)).items():
        past = [d for d in cust_days if d <= t]
        if not past:
            continue
        d = (t - max(past)).days
        out[cust] = "sleeping" if d >= s else "pre_sleep" if d >= s - r else "active"
    return out


def brute_flow(orders: pd.DataFrame, start, end, s: int, r: int) -> pd.DataFrame:
    days = order_day_lists(orders)
    rows = []
    for t in pd.date_range(start, end):
        today = brute_state(orders, t, s, r, days)
        yesterday = brute_state(orders, t - pd.Timedelta(days=1), s, r, days)
        rows.append({
            "date": t,
            "members": len(today),
            "active": sum(v == "active" for v in today.values()),
            "pre_sleep": sum(v == "pre_sleep" for v in today.values()),
            "sleeping": sum(v == "sleeping" for v in today.values()),
            "newly_sleeping": sum(
                (t - max(d for d in days[c] if d <= t)).days == s for c in today
            ),
            "woken": sum(yesterday.get(c) == "sleeping" and t in days[c] for c in today),
        })
    return pd.DataFrame(rows)


@pytest.fixture
def small_orders() -> pd.DataFrame:
    """Three customers: a twice on day 0 and once later, b twice on one day, c twice."""
    return make_orders([("a", 0, 10), ("a", 0, 5), ("a", 45, 30), ("b", 19, 8), ("b", 19, 2),
                        ("c", 33, 50), ("c", 100, 70)])


# --------------------------------------------------------------------------- flow
@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), s=st.integers(1, 25), r=st.integers(0, 24),
       start=st.integers(-5, 60), length=st.integers(1, 50))
def test_flow_equals_brute_force(seed, s, r, start, length):
    r = min(r, s - 1)
    orders = random_orders(seed)
    first, last = DAY0 + pd.Timedelta(days=start), DAY0 + pd.Timedelta(days=start + length)
    got = sleeping_flow(orders, start=first, end=last, sleep_after=s, remind_before=r)
    want = brute_flow(orders, first, last, s, r)
    pd.testing.assert_frame_equal(got, want[got.columns], check_dtype=False)


def test_flow_threshold_day_and_first_order_inside_window():
    # a: orders exactly sleep_after=5 days apart -> never asleep; b: gap 6 -> asleep one
    # day, woken; c: first order inside the window.
    orders = make_orders([("a", 0, 1), ("a", 5, 1), ("b", 0, 1), ("b", 6, 1), ("c", 3, 1)])
    flow = sleeping_flow(orders, start="2024-01-01", end="2024-01-10", sleep_after=5,
                         remind_before=2).set_index("date")
    assert flow["members"].tolist() == [2, 2, 2, 3, 3, 3, 3, 3, 3, 3]
    assert flow.loc["2024-01-06", "newly_sleeping"] == 1  # b only (a ordered that day)
    assert flow.loc["2024-01-06", "sleeping"] == 1
    assert flow.loc["2024-01-07", "woken"] == 1
    assert flow["woken"].sum() == 1
    assert flow.loc["2024-01-09", "newly_sleeping"] == 1  # c: day 3 + 5
    flow_all = sleeping_flow(orders, sleep_after=5, remind_before=2)
    assert flow_all["date"].iloc[0] == pd.Timestamp("2024-01-01")
    assert flow_all["date"].iloc[-1] == pd.Timestamp("2024-01-07")


def test_flow_stock_identity_on_cdnow():
    from crm_analytics import load_cdnow

    flow = sleeping_flow(load_cdnow("sample"), sleep_after=90)
    change = flow["sleeping"].diff().iloc[1:]
    assert (change == (flow["newly_sleeping"] - flow["woken"]).iloc[1:]).all()
    assert (flow[["active", "pre_sleep", "sleeping"]].sum(axis=1) == flow["members"]).all()
    assert flow["members"].iloc[-1] == 2357
    assert flow["sleeping"].iloc[-1] > 1500  # CDNOW's 1997 cohort mostly stopped buying


def test_flow_orders_after_end_do_not_matter():
    orders = random_orders(3)
    end = DAY0 + pd.Timedelta(days=40)
    full = sleeping_flow(orders, start=DAY0, end=end, sleep_after=10, remind_before=3)
    cut = sleeping_flow(orders[orders["order_date"] < end + pd.Timedelta(days=1)],
                        start=DAY0, end=end, sleep_after=10, remind_before=3)
    pd.testing.assert_frame_equal(full, cut)


# --------------------------------------------------------------------------- status
@pytest.mark.parametrize("seed", range(8))
def test_status_agrees_with_flow_and_brute_force(seed):
    orders = random_orders(seed)
    as_of = DAY0 + pd.Timedelta(days=30 + 5 * seed)
    status = member_status(orders, as_of=as_of, sleep_after=12, remind_before=4)
    flow = sleeping_flow(orders, start=as_of, end=as_of, sleep_after=12, remind_before=4)
    counts = status["status"].value_counts()
    row = flow.iloc[0]
    assert len(status) == row["members"]
    assert counts["sleeping"] + counts["given_up"] == row["sleeping"]
    assert counts["pre_sleep"] == row["pre_sleep"]
    assert counts["active"] == row["active"]
    assert status.set_index("customer_id")["status"].astype(str).to_dict() == brute_state(
        orders, as_of, 12, 4
    )
    first = orders.groupby("customer_id")["order_date"].min()
    members = first[first < as_of + pd.Timedelta(1, "D")].index
    assert sorted(status["customer_id"]) == sorted(members)  # later customers: not members


def test_status_columns_quality_and_give_up_after():
    orders = make_orders([
        ("hi_aov", 0, 100), ("repeat", 0, 5), ("repeat", 2, 5), ("low", 1, 5),
        ("mid", 5, 20), ("recent", 40, 1), ("old", 0, 50),
    ])
    status = member_status(orders, as_of="2024-02-10", sleep_after=30, remind_before=5,
                           give_up_after=10).set_index("customer_id")
    assert list(status.reset_index().columns[:8]) == [
        "customer_id", "last_order", "days_since_last_order", "status", "n_orders",
        "avg_order_value", "total_amount", "quality",
    ]
    # as_of is day 40: days since last order: hi_aov 40, repeat 38, low 39, mid 35,
    # recent 0, old 40; given up from day 30 + 10 = 40.
    assert status["status"].astype(str).to_dict() == {
        "hi_aov": "given_up", "low": "sleeping", "mid": "sleeping", "old": "given_up",
        "recent": "active", "repeat": "sleeping",
    }
    assert status["give_up_reason"].astype("string").fillna("-").to_dict() == {
        "hi_aov": "asleep_too_long", "low": "-", "mid": "-", "old": "asleep_too_long",
        "recent": "-", "repeat": "-",
    }
    median_aov = np.median([100, 5, 5, 20, 1, 50])
    assert default_aov_threshold(status) == median_aov == 12.5  # the threshold used
    assert status.attrs == {}  # the settings are the parameters, never DataFrame.attrs
    assert status["quality"].astype("string").fillna("none").to_dict() == {
        "hi_aov": "high", "low": "low", "mid": "high", "old": "high", "recent": "none",
        "repeat": "high",
    }
    assert status.loc["mid", "sleep_date"] == pd.Timestamp("2024-02-05")
    strict = member_status(orders, as_of="2024-02-10", sleep_after=30, aov_threshold=60,
                           min_orders=3).set_index("customer_id")
    assert strict["quality"].astype(str).to_dict()["repeat"] == "low"
    assert strict["quality"].astype(str).to_dict()["hi_aov"] == "high"
    assert list(strict["status"].cat.categories) == list(STATUSES)


@pytest.mark.parametrize(("s", "r", "g"), [(9, 2, None), (9, 0, 0), (30, 29, 5), (1, 0, None)])
def test_status_rule_numpy_and_sql_agree(s, r, g):
    """One status rule: the NumPy codes and the generated SQL CASE give the same status."""
    duckdb = pytest.importorskip("duckdb")
    from crm_analytics.sleeping.rules import quality_codes, quality_sql, status_codes, status_sql

    days = np.arange(0, 60)
    aov = np.where(days % 3 == 0, 12.5, 7.0)
    n = days % 4
    frame = pd.DataFrame({"d": days, "aov": aov, "n": n})
    con = duckdb.connect()
    con.register("t", frame)
    sql = con.execute(
        f"SELECT {status_sql('d', sleep_after=s, remind_before=r, give_up_after=g)} AS st, "
        f"{quality_sql('d', 'aov', 'n', sleep_after=s, aov_threshold=12.5, min_orders=2)} "
        "AS q FROM t ORDER BY d").df()
    codes = status_codes(days, sleep_after=s, remind_before=r, give_up_after=g)
    assert sql["st"].tolist() == [STATUSES[c] for c in codes]
    quality = quality_codes(days >= s, aov, n, aov_threshold=12.5, min_orders=2)
    assert sql["q"].fillna("-").tolist() == [("high", "low")[c] if c >= 0 else "-"
                                             for c in quality]
    assert (codes >= 2).sum() == (days >= s).sum()  # asleep: sleeping or given_up


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"sleep_after": 12, "remind_before": 4, "give_up_after": 10, "min_orders": 3},
     {"as_of": "2024-01-25", "aov_threshold": 10.0, "give_up_after": 0}],
)
def test_member_status_on_engine_equals_pandas(kwargs, tmp_path):
    pytest.importorskip("duckdb")
    orders = random_orders(3)
    path = tmp_path / "orders.parquet"
    orders.to_parquet(path)
    want = member_status(orders, **kwargs)
    got = member_status(str(path), **kwargs)
    pd.testing.assert_frame_equal(want, got)
    contacts = campaigns_table([("k1", c, "2024-02-01", "treatment") for c in
                                want["customer_id"]] * 2)
    pd.testing.assert_frame_equal(
        member_status(orders, campaigns=contacts, give_up_contacts=2, **kwargs),
        member_status(str(path), campaigns=contacts, give_up_contacts=2, **kwargs))


def test_reminder_list_on_engine_and_refusals(tmp_path):
    pytest.importorskip("duckdb")
    orders = random_orders(4)
    path = tmp_path / "orders.parquet"
    orders.to_parquet(path)
    last = orders.groupby("customer_id")["order_date"].max().dt.normalize()
    on = last.min() + pd.Timedelta(days=8)  # day 12 - 4 of the earliest last order
    want = reminder_list(orders, as_of=on, sleep_after=12, remind_before=4)
    assert len(want) > 0
    pd.testing.assert_frame_equal(want, reminder_list(str(path), as_of=on, sleep_after=12,
                                                      remind_before=4))
    for fn in (suggest_sleep_after, reactivation):
        with pytest.raises(CrmDataError, match=f"{fn.__name__} is not available for "
                                               "Parquet/DuckDB/Spark sources; load the orders"):
            fn(str(path))


def test_engine_status_sql_and_counts(tmp_path):
    """What the engine report uses: the status columns and counts over a summary table."""
    pytest.importorskip("duckdb")
    from crm_analytics.backends import runner_for
    from crm_analytics.sleeping.sql import (
        default_aov_threshold_on_engine,
        member_status_sql,
        status_counts_on_engine,
    )
    from crm_analytics.summary.sql import customer_summary_sql

    orders = random_orders(5)
    path = tmp_path / "orders.parquet"
    orders.to_parquet(path)
    runner = runner_for(str(path))
    as_of_day = int((orders["order_date"].max().normalize() - pd.Timestamp(0)).days)
    summary = "(" + customer_summary_sql(runner, as_of_day=as_of_day, unit_days=1.0,
                                         margin=False) + ")"
    status = member_status(orders, sleep_after=12, remind_before=4, give_up_after=6)
    threshold = default_aov_threshold_on_engine(runner, summary + " m")
    assert threshold == default_aov_threshold(status)
    counts = status_counts_on_engine(runner, summary, sleep_after=12, remind_before=4,
                                     give_up_after=6)
    assert counts.index.tolist() == list(STATUSES)
    assert counts.to_dict() == status["status"].value_counts().reindex(
        list(STATUSES), fill_value=0).to_dict()
    cols = member_status_sql(sleep_after=12, remind_before=4, give_up_after=6,
                             aov_threshold=threshold)
    got = runner.fetch(f"SELECT s.customer_id, {cols['quality']} AS quality, "
                       f"{cols['sleep_day']} AS sleep_day FROM {summary} s ORDER BY 1")
    assert got["quality"].fillna("-").tolist() == status["quality"].astype(
        "string").fillna("-").tolist()
    sleep_date = pd.to_datetime(got["sleep_day"], unit="D")
    assert sleep_date.tolist() == status["sleep_date"].tolist()


def test_pre_sleep_boundaries():
    orders = make_orders([("a", 0, 1), ("b", 1, 1), ("c", 2, 1), ("d", 3, 1)])
    # as_of day 10, sleep_after 9, remind_before 2: d = 10, 9, 8, 7
    status = member_status(orders, as_of="2024-01-11", sleep_after=9, remind_before=2)
    assert status["status"].astype(str).tolist() == ["sleeping", "sleeping", "pre_sleep",
                                                     "pre_sleep"]
    status = member_status(orders, as_of="2024-01-11", sleep_after=9, remind_before=1)
    assert status["status"].astype(str).tolist()[2:] == ["pre_sleep", "active"]


def campaigns_table(rows):
    return pd.DataFrame(rows, columns=["campaign_id", "customer_id", "start", "group"])


def test_give_up_by_contacts():
    orders = make_orders([("a", 0, 10), ("b", 0, 10), ("c", 50, 10), ("d", 0, 10)])
    # sleep_after 10: a and b and d fell asleep on day 10 (2024-01-11); c is active
    contacts = campaigns_table([
        ("k1", "a", "2024-01-11", "treatment"),  # on the day of falling asleep: not counted
        ("k2", "a", "2024-01-12", "treatment"),
        ("k3", "a", "2024-01-20", "treatment"),
        ("k1", "b", "2024-01-12", "treatment"),
        ("k2", "b", "2024-01-13", "control"),  # holdout: not contacted
        ("k3", "b", "2024-01-20", "treatment"),
        ("k4", "b", "2024-02-21", "treatment"),  # after as_of
        ("k1", "c", "2024-01-12", "treatment"),  # before c's order: c is awake
        ("k2", "c", "2024-01-13", "treatment"),
        ("k3", "c", "2024-01-20", "treatment"),
        ("k5", "d", "2024-01-15", "treatment"),
        ("k6", "d", "2024-01-16", "treatment"),
        ("k7", "d", "2024-01-17", "treatment"),
        ("k1", "zz", "2024-01-12", "treatment"),  # not a customer
    ])
    before = contacts.copy()
    status = member_status(orders, as_of="2024-02-20", sleep_after=10, remind_before=3,
                           campaigns=contacts, give_up_contacts=3).set_index("customer_id")
    pd.testing.assert_frame_equal(contacts, before)
    assert status["n_wake_up_contacts"].to_dict() == {"a": 2, "b": 2, "c": 0, "d": 3}
    assert status["status"].astype(str).to_dict() == {
        "a": "sleeping", "b": "sleeping", "c": "active", "d": "given_up",
    }
    assert "zz" not in status.index  # contacts of non-members are ignored
    two = member_status(orders, as_of="2024-02-20", sleep_after=10, remind_before=3,
                        campaigns=contacts, give_up_contacts=2)
    assert (two["status"] == "given_up").sum() == 3
    both = member_status(orders, as_of="2024-02-20", sleep_after=10, remind_before=3,
                         campaigns=contacts, give_up_contacts=3, give_up_after=35)
    # a, b, d asleep 40 days on as_of (day 50): all too long; d also ignored 3 contacts
    assert both["give_up_reason"].astype("string").fillna("-").tolist() == [
        "asleep_too_long", "asleep_too_long", "-", "both"]
    assert status.loc["d", "give_up_reason"] == "ignored_contacts"
    # a table without a group column: every row is a contact; other column names
    plain = contacts.drop(columns="group").rename(columns={"start": "sent", "customer_id": "m"})
    plain_status = member_status(orders, as_of="2024-02-20", sleep_after=10, remind_before=3,
                                 campaigns=plain, contact_date="sent", contact_customer_id="m")
    assert plain_status["n_wake_up_contacts"].tolist() == [2, 3, 0, 3]


def test_status_overview():
    orders = make_orders([("a", 0, 100), ("b", 0, 1), ("c", 60, 10)])
    status = member_status(orders, sleep_after=30)
    table = status_overview(status)
    assert table[["status", "quality", "n_members"]].values.tolist() == [
        ["active", "-", 1], ["sleeping", "high", 1], ["sleeping", "low", 1],
    ]
    assert table["share_of_amount"].sum() == pytest.approx(1.0)
    assert table["total_amount"].tolist() == [10.0, 100.0, 1.0]


# --------------------------------------------------------------------------- reminders
@pytest.mark.parametrize("seed", range(4))
def test_reminder_list_is_who_enters_pre_sleep(seed):
    orders = random_orders(seed)
    for offset in (20, 35, 50):
        on = DAY0 + pd.Timedelta(days=offset)
        due = reminder_list(orders, as_of=on, sleep_after=15, remind_before=5)
        day = orders["order_date"].dt.normalize()
        last = day[day <= on].groupby(orders["customer_id"]).max()
        want = sorted(last.index[(on - last).dt.days == 10])
        assert sorted(due["customer_id"]) == want
        assert (due["sleep_date"] == due["last_order"] + pd.Timedelta(days=15)).all()
        assert due["total_amount"].is_monotonic_decreasing


def test_reminder_list_columns_and_export(tmp_path):
    orders = make_orders([("张三", 0, 88.5), ("李四", 0, 10), ("王五", 1, 5)])
    due = reminder_list(orders, as_of="2024-03-21", sleep_after=90, remind_before=10)
    assert list(due.columns) == ["customer_id", "last_order", "days_since_last_order",
                                 "n_orders", "total_amount", "avg_order_value", "sleep_date",
                                 "segment", "segment_name"]
    assert due["customer_id"].tolist() == ["张三", "李四"]
    path = tmp_path / "remind.csv"
    export = pytest.importorskip("crm_analytics.segments.export")
    export.export_segments(due, path)
    back = pd.read_csv(path, encoding="utf-8-sig", dtype={"customer_id": str})
    assert back["customer_id"].tolist() == ["张三", "李四"]
    assert back["segment_name"].iloc[0] == "pre-sleep reminder / 沉睡前提醒"
    assert back["sleep_date"].iloc[0] == "2024-03-31"


# --------------------------------------------------------------------------- threshold
def test_suggest_sleep_after_gap_quantile():
    orders = make_orders([
        ("a", 0, 1), ("a", 0, 1), ("a", 10, 1), ("a", 40, 1),  # gaps 10, 30
        ("b", 5, 1), ("b", 25, 1),  # gap 20
        ("c", 3, 1),  # no gap
        ("d", 1, 1), ("d", 401, 1),  # gap 400
    ])
    res = suggest_sleep_after(orders, quantile=0.75)
    assert (res.n_customers, res.n_gaps) == (3, 4)
    assert res.sleep_after == 30
    assert res.gap_distribution["n_gaps"].tolist() == [0, 1, 2, 0, 0, 0, 0, 1]
    assert res.gap_distribution["cumulative_share"].iloc[-1] == pytest.approx(1.0)
    q = res.gap_quantiles.set_index("quantile")["gap_days"]
    assert q[0.5] == 20 and q[0.99] == 400
    assert "sleep_after=30" in res.summary()
    assert res.p_alive_days is None and res.p_alive_curve is None
    assert suggest_sleep_after(orders, quantile=0.75, as_of="2024-02-15").n_gaps == 3


def test_suggest_sleep_after_on_cdnow_matches_numpy():
    from crm_analytics import load_cdnow

    orders = load_cdnow("sample")
    res = suggest_sleep_after(orders, quantile=0.9)
    day = orders["order_date"].dt.normalize()
    occ = pd.DataFrame({"c": orders["customer_id"], "d": day}).drop_duplicates()
    occ = occ.sort_values(["c", "d"])
    gaps = occ.groupby("c")["d"].diff().dropna().dt.days
    assert res.n_gaps == len(gaps)
    assert res.sleep_after == int(np.quantile(gaps, 0.9, method="inverted_cdf"))


def p_alive_reference(params, x, t_x, big_t):
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    return 1 / (1 + a / (b + x - 1) * ((alpha + big_t) / (alpha + t_x)) ** (r + x))


def test_suggest_sleep_after_with_churn_params():
    from crm_analytics import load_cdnow

    params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # FHL 2005, weeks
    model = SimpleNamespace(params=params, time_unit="W")
    res = suggest_sleep_after(load_cdnow("sample"), churn_model=model, p_alive_level=0.5)
    x, t_x = res.typical_customer["frequency"], res.typical_customer["recency"]
    assert x >= 1
    k = res.p_alive_days
    assert k is not None and k > 0
    assert p_alive_reference(params, x, t_x, t_x + k / 7) < 0.5
    assert p_alive_reference(params, x, t_x, t_x + (k - 1) / 7) >= 0.5
    curve = res.p_alive_curve
    np.testing.assert_allclose(
        curve["p_alive"], p_alive_reference(params, x, t_x, t_x + curve.iloc[:, 0] / 7)
    )
    assert "P(alive)" in res.summary()


def test_suggest_sleep_after_uses_model_p_alive_when_present():
    from crm_analytics import load_cdnow

    calls = []

    class Model:
        params = {"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0}
        time_unit = "D"

        def p_alive(self, frequency, recency, T):
            calls.append(len(T))
            return np.exp(-(np.asarray(T) - np.asarray(recency)) / 100)

    res = suggest_sleep_after(load_cdnow("sample"), churn_model=Model(), p_alive_level=0.5)
    assert calls and res.p_alive_days == 70  # exp(-k/100) < 0.5 from k = 70


# --------------------------------------------------------------------------- reactivation
def brute_reactivation(orders, s, as_of, windows):
    day = orders["order_date"].dt.normalize()
    rows = []
    for _, group in orders.assign(day=day).groupby("customer_id"):
        group = group[group["day"] <= as_of]
        days = sorted(set(group["day"]))
        for i, d in enumerate(days):
            nxt = days[i + 1] if i + 1 < len(days) else None
            fell = d + pd.Timedelta(days=s)
            if fell > as_of or (nxt is not None and nxt <= fell):
                continue
            for w in windows:
                end = fell + pd.Timedelta(days=w)
                back = group[(group["day"] > fell) & (group["day"] <= end)]
                rows.append({"cohort": fell.to_period("M").to_timestamp(), "window_days": w,
                             "woke": len(back) > 0, "revenue": back["amount"].sum()})
    return pd.DataFrame(rows).groupby(["cohort", "window_days"]).agg(
        n_asleep=("woke", "size"), n_reactivated=("woke", "sum"), revenue=("revenue", "sum"))


@pytest.mark.parametrize("seed", range(4))
def test_reactivation_equals_brute_force(seed):
    orders = random_orders(seed, n_customers=40, horizon=200)
    as_of = DAY0 + pd.Timedelta(days=190)
    res = reactivation(orders, sleep_after=20, as_of=as_of, windows=(10, 30))
    want = brute_reactivation(orders, 20, as_of, (10, 30))
    got = res.table.set_index(["cohort", "window_days"])
    assert got["n_asleep"].tolist() == want["n_asleep"].tolist()
    done = got["complete"]
    assert done.any() and not done.all()
    assert got.loc[done, "n_reactivated"].tolist() == want.loc[done, "n_reactivated"].tolist()
    np.testing.assert_allclose(got.loc[done, "revenue"], want.loc[done, "revenue"])
    assert got.loc[~done, "reactivation_rate"].isna().all()
    # complete iff the month's last day + window is on or before as_of
    month_end = got.index.get_level_values(0) + pd.offsets.MonthEnd(0)
    window = pd.to_timedelta(got.index.get_level_values(1), unit="D")
    assert (done == (month_end + window <= as_of)).all()


def test_reactivation_curve_and_views():
    orders = make_orders([
        ("a", 0, 10), ("a", 15, 30),  # asleep day 10, back day 15 (lag 5)
        ("b", 0, 10), ("b", 25, 7),  # asleep day 10, back day 25 (lag 15)
        ("c", 0, 10),  # asleep day 10, never back
        ("d", 50, 1),  # asleep day 60
    ])
    res = reactivation(orders, sleep_after=10, as_of="2024-03-05", windows=(10, 20))
    curve = res.curve.set_index("days_since_asleep")
    # observed lengths at as_of (day 64): a, b, c 54 days; d's episode from day 60: 4 days;
    # a and b each fall asleep again (days 25 and 35)
    assert curve.loc[1, "n_observed"] == 6
    assert curve.loc[5, "n_observed"] == 5
    assert curve.loc[5, "n_reactivated"] == 1
    assert curve.loc[15, "n_reactivated"] == 2
    assert curve.loc[20, "share_reactivated"] == pytest.approx(2 / 5)
    overall = res.overall().set_index("window_days")
    assert overall.loc[10, "n_reactivated"] == 1 and overall.loc[20, "n_reactivated"] == 2
    assert overall.loc[20, "revenue"] == 37.0
    assert res.rates().shape == (3, 2)  # cohorts January, February, March
    assert res.rates().isna().sum().tolist() == [2, 2]  # Feb and Mar windows not over


# --------------------------------------------------------------------------- errors, purity
def test_inputs_not_mutated(small_orders):
    before = small_orders.copy()
    sleeping_flow(small_orders, sleep_after=20)
    member_status(small_orders, sleep_after=20)
    reminder_list(small_orders, sleep_after=20)
    suggest_sleep_after(small_orders)
    reactivation(small_orders, sleep_after=20)
    pd.testing.assert_frame_equal(small_orders, before)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sleep_after": 0}, "'sleep_after' parameter must be a whole number of days >= 1"),
        ({"sleep_after": 30.5}, "'sleep_after' parameter must be a whole number"),
        ({"sleep_after": True}, "'sleep_after' parameter must be a whole number"),
        ({"remind_before": -1}, "'remind_before' parameter must be a whole number"),
        ({"sleep_after": 10, "remind_before": 10}, "must be smaller than sleep_after=10"),
    ],
)
def test_bad_day_parameters(small_orders, kwargs, match):
    for fn in (sleeping_flow, member_status, reminder_list):
        with pytest.raises(CrmDataError, match=match):
            fn(small_orders, **kwargs)


def test_bad_status_parameters(small_orders):
    with pytest.raises(CrmDataError, match="'give_up_after' parameter"):
        member_status(small_orders, give_up_after=-3)
    with pytest.raises(CrmDataError, match="'give_up_contacts' parameter must be a whole "
                                           "number of contacts >= 1"):
        member_status(small_orders, give_up_contacts=0)
    with pytest.raises(CrmDataError, match="'min_orders' parameter"):
        member_status(small_orders, min_orders=0)
    with pytest.raises(CrmDataError, match="'as_of' parameter must be a date"):
        member_status(small_orders, as_of="yesterday-ish")
    for bad in (float("nan"), float("inf"), "12", True):
        with pytest.raises(CrmDataError, match="'aov_threshold' parameter must be a finite"):
            member_status(small_orders, aov_threshold=bad)


def test_bad_campaign_tables(small_orders):
    with pytest.raises(CrmDataError, match="campaigns must be a pandas DataFrame"):
        member_status(small_orders, campaigns=[("a", "2024-01-01")])
    with pytest.raises(CrmDataError, match=r"campaign contact table is missing column\(s\) "
                                           r"\['start'\]"):
        member_status(small_orders, campaigns=pd.DataFrame({"customer_id": ["a"], "x": [1]}))
    bad = pd.DataFrame({"customer_id": ["a", "b"], "start": ["2024-01-05", "not a day"]})
    with pytest.raises(CrmDataError, match="'start' of the campaign contact table has 1 "
                                           "values that are not dates"):
        member_status(small_orders, campaigns=bad)
    missing = pd.DataFrame({"customer_id": ["a"], "start": pd.to_datetime([None])})
    with pytest.raises(CrmDataError, match="'start' of the campaign contact table has 1 "):
        member_status(small_orders, campaigns=missing)


def test_bad_flow_and_other_parameters(small_orders):
    with pytest.raises(CrmDataError, match=r"'end' parameter \(2024-01-01\) must not be before"):
        sleeping_flow(small_orders, start="2024-02-01", end="2024-01-01")
    with pytest.raises(CrmDataError, match="'start' parameter must be a date"):
        sleeping_flow(small_orders, start="soon")
    with pytest.raises(CrmDataError, match="'quantile' parameter must be strictly between"):
        suggest_sleep_after(small_orders, quantile=1.0)
    with pytest.raises(CrmDataError, match="No order is on or before as_of=2023-01-01"):
        suggest_sleep_after(small_orders, as_of="2023-01-01")
    with pytest.raises(CrmDataError, match="'churn_model' parameter must be a fitted model"):
        suggest_sleep_after(small_orders, churn_model=object())
    one_day = small_orders[small_orders["customer_id"] == "b"]
    with pytest.raises(CrmDataError, match="No customer has orders on two different days"):
        suggest_sleep_after(one_day)
    with pytest.raises(CrmDataError, match="'windows' parameter must be a whole number"):
        reactivation(small_orders, windows=(30, 0))
    with pytest.raises(CrmDataError, match="'windows' parameter must list at least one"):
        reactivation(small_orders, windows=())
    with pytest.raises(CrmDataError, match="No order is on or before as_of=2023-01-01"):
        reactivation(small_orders, as_of="2023-01-01")
    with pytest.raises(CrmDataError, match="status must be a pandas DataFrame"):
        status_overview("table")
    with pytest.raises(CrmDataError, match="member status table is missing column"):
        status_overview(pd.DataFrame({"status": ["active"]}))
    with pytest.raises(CrmDataError, match="order table is missing required column"):
        sleeping_flow(pd.DataFrame({"customer_id": ["a"]}))


# --------------------------------------------------------------------------- plots
def test_plots_draw_on_given_axes():
    import matplotlib.pyplot as plt

    from crm_analytics import load_cdnow
    from crm_analytics.plots.sleeping import (
        plot_order_gaps,
        plot_reactivation,
        plot_sleepers_by_quality,
        plot_sleeping_flow,
    )

    orders = load_cdnow("sample")
    fig, axes = plt.subplots(2, 2)
    try:
        ax = plot_sleeping_flow(sleeping_flow(orders), ax=axes[0, 0])
        assert ax is axes[0, 0] and ax.get_ylabel() and ax.get_xlabel()
        ax = plot_sleepers_by_quality(member_status(orders), ax=axes[0, 1])
        assert ax is axes[0, 1] and "%" in ax.get_ylabel()
        ax = plot_reactivation(reactivation(orders), ax=axes[1, 0])
        assert ax is axes[1, 0] and len(ax.get_lines()) >= 1
        ax = plot_order_gaps(suggest_sleep_after(orders), ax=axes[1, 1])
        assert ax is axes[1, 1] and ax.get_xlabel()
        with pytest.raises(CrmDataError, match="plot_sleepers_by_quality needs"):
            plot_sleepers_by_quality(pd.DataFrame({"x": [1]}))
        no_sleepers = member_status(orders, as_of="1997-01-05")
        with pytest.raises(CrmDataError, match="No member is asleep"):
            plot_sleepers_by_quality(no_sleepers)
    finally:
        plt.close(fig)


def test_reminder_list_old_on_spelling_warns(small_orders):
    with pytest.warns(DeprecationWarning, match="as_of"):
        old = reminder_list(small_orders, on="2024-03-21", sleep_after=20)
    pd.testing.assert_frame_equal(old, reminder_list(small_orders, as_of="2024-03-21",
                                                     sleep_after=20))
    with pytest.raises(CrmDataError, match="as_of only"):
        reminder_list(small_orders, on="2024-03-21", as_of="2024-03-21", sleep_after=20)


def test_suggestion_gives_no_time_to_churn_for_a_model_with_warnings():
    """A model the data cannot support (here: dropout not identified) states no
    "P(alive) falls below ... after N days" figure; its warnings are shown instead."""
    from crm_analytics import customer_summary, fit_churn_model, load_cdnow

    orders = load_cdnow("sample")
    model = fit_churn_model(customer_summary(orders, time_unit="W"))
    trusted = suggest_sleep_after(orders, churn_model=model.with_warnings())
    assert "falls below" in trusted.summary()
    doubtful = model.with_warnings("The dropout process is not identified by these data.")
    text = suggest_sleep_after(orders, churn_model=doubtful).summary()
    assert "falls below" not in text and "not identified" in text
