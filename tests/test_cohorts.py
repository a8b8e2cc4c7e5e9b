"""Tests of crm_analytics.cohorts and crm_analytics.plots.cohorts.

The cohort definitions are checked on hand-computed fixtures and against a brute-force
per-customer loop that uses pandas ``Period`` objects (an independent calendar).
"""

from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_analytics._core.errors import CrmDataError
from crm_analytics.cohorts import (
    DaysToSecondOrder,
    RepurchaseRate,
    cohort_repurchase,
    cohort_revenue,
    days_to_second_order,
    repeat_orders_per_customer,
    repurchase_rate,
)
from crm_analytics.orders.datasets import load_cdnow
from crm_analytics.orders.validate import validate_orders

COLUMNS = ["cohort", "period", "cohort_size", "customers", "rate", "complete"]
TS = pd.Timestamp



def make_orders(rows):
    """Orders from (customer_id, date, amount) tuples."""
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "order_id": [str(i) for i in range(len(rows))],
            "order_date": pd.to_datetime([r[1] for r in rows], format="mixed"),
            "amount": [float(r[2]) for r in rows],
        }
    )


def random_orders(n_customers=60, seed=0, start="2023-11-20", span_days=200):
    rng = np.random.default_rng(seed)
    n_orders = rng.integers(1, 6, n_customers)
    cust = np.repeat(np.arange(n_customers), n_orders)
    seconds = rng.integers(0, span_days * 86400, len(cust))
    # some same-day duplicates of first orders
    dup = rng.random(len(cust)) < 0.15
    seconds[dup] = seconds[np.searchsorted(cust, cust[dup])]
    return pd.DataFrame(
        {
            "customer_id": [f"k{c:03d}" for c in cust],
            "order_id": [f"o{i}" for i in range(len(cust))],
            "order_date": pd.Timestamp(start) + pd.to_timedelta(seconds, unit="s"),
            "amount": np.round(rng.gamma(2.0, 40.0, len(cust)), 2),
        }
    )


# --------------------------------------------------------------------------- brute force
def brute_cohorts(orders, period, how, as_of):
    """Per-customer loop with pandas Periods (weeks "W" = Monday..Sunday)."""
    as_of = pd.Timestamp(as_of)
    o = orders[orders["order_date"].dt.normalize() <= as_of]
    last = pd.Period(as_of, period)
    sizes, hits, revenue = Counter(), defaultdict(set), defaultdict(float)
    for cid, g in o.groupby("customer_id"):
        days = g["order_date"].dt.normalize()
        first = days.min()
        cohort = pd.Period(first, period)
        sizes[cohort] += 1
        repeat_ks = {(pd.Period(d, period) - cohort).n for d in days if d > first}
        for d, amount in zip(days, g["amount"], strict=True):
            revenue[(cohort, (pd.Period(d, period) - cohort).n)] += amount
        for k in range((last - cohort).n + 1):
            hit = k in repeat_ks if how == "on" else any(x <= k for x in repeat_ks)
            if hit:
                hits[(cohort, k)].add(cid)
    rows = []
    for cohort in sorted(sizes):
        for k in range((last - cohort).n + 1):
            end = (cohort + k).end_time.normalize()
            n = len(hits[(cohort, k)])
            rows.append(
                (cohort.start_time, k, sizes[cohort], n, n / sizes[cohort], end <= as_of,
                 revenue[(cohort, k)])
            )
    return pd.DataFrame(rows, columns=[*COLUMNS, "revenue"])


def check_against_brute(orders, period, how, as_of):
    got = cohort_repurchase(orders, period=period, how=how, as_of=as_of)
    want = brute_cohorts(orders, period, how, as_of)
    assert list(got.columns) == COLUMNS
    assert len(got) == len(want)
    np.testing.assert_array_equal(got["cohort"].to_numpy(), want["cohort"].to_numpy())
    for col in ["period", "cohort_size", "customers", "complete"]:
        np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy(), err_msg=col)
    np.testing.assert_allclose(got["rate"], want["rate"], rtol=1e-12)
    rev = cohort_revenue(orders, period=period, as_of=as_of)
    np.testing.assert_allclose(rev["revenue"], want["revenue"], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("period", ["M", "W", "Q"])
@pytest.mark.parametrize("how", ["on", "cumulative"])
@pytest.mark.parametrize("as_of", ["2024-06-07", "2024-03-31"])
def test_cohorts_match_brute_force(period, how, as_of):
    check_against_brute(random_orders(seed=1), period, how, as_of)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(
        st.tuples(st.sampled_from("abcdef"), st.integers(0, 120), st.integers(0, 86399),
                  st.floats(0, 500, allow_nan=False)),
        min_size=1, max_size=25,
    ),
    period=st.sampled_from(["M", "W", "Q"]),
    how=st.sampled_from(["on", "cumulative"]),
    extra_days=st.integers(0, 40),
)
def test_cohorts_property_brute_force(data, period, how, extra_days):
    start = pd.Timestamp("2023-12-25")
    rows = [(c, start + pd.Timedelta(days=d, seconds=s), a) for c, d, s, a in data]
    orders = make_orders(rows)
    as_of = orders["order_date"].max().normalize() + pd.Timedelta(days=extra_days)
    check_against_brute(orders, period, how, as_of)


# --------------------------------------------------------------------------- hand-computed
def test_tiny_monthly_on(tiny_orders):
    # a: 1 Jan (twice), 15 Feb; b: 20 Jan (twice, same day: no repeat); c: 3 Feb, 10 Apr.
    # as_of defaults to the last order day, 10 Apr: April is not over.
    got = cohort_repurchase(tiny_orders)
    want = pd.DataFrame(
        {
            "cohort": pd.to_datetime(["2024-01-01"] * 4 + ["2024-02-01"] * 3),
            "period": [0, 1, 2, 3, 0, 1, 2],
            "cohort_size": [2, 2, 2, 2, 1, 1, 1],
            "customers": [0, 1, 0, 0, 0, 0, 1],
            "rate": [0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 1.0],
            "complete": [True, True, True, False, True, True, False],
        }
    )
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert got.attrs == {}  # settings are the parameters, never DataFrame.attrs
    assert cohort_revenue(tiny_orders).attrs == {}


def test_tiny_monthly_cumulative(tiny_orders):
    got = cohort_repurchase(tiny_orders, how="cumulative", as_of="2024-04-30")
    assert got["customers"].tolist() == [0, 1, 1, 1, 0, 0, 1]
    assert got["rate"].tolist() == [0.0, 0.5, 0.5, 0.5, 0.0, 0.0, 1.0]
    assert got["complete"].all()  # as_of is the last day of April


def test_dtypes(tiny_orders):
    got = cohort_repurchase(tiny_orders)
    assert pd.api.types.is_datetime64_any_dtype(got["cohort"])
    assert got["period"].dtype == np.int64
    assert got["cohort_size"].dtype == np.int64
    assert got["customers"].dtype == np.int64
    assert got["rate"].dtype == np.float64
    assert got["complete"].dtype == bool
    assert isinstance(got.index, pd.RangeIndex)


def test_weekly_and_same_period_repeat():
    # Mon 1 Jan 2024 starts a week. x: first Wed 3 Jan, repeat Sun 7 Jan (same week: k=0),
    # then Mon 8 Jan (k=1). y: first Sun 7 Jan, repeat Mon 8 Jan (k=1, only one day later).
    orders = make_orders([
        ("x", "2024-01-03 10:00", 5), ("x", "2024-01-07 23:59", 5), ("x", "2024-01-08", 5),
        ("y", "2024-01-07 08:00", 5), ("y", "2024-01-08 09:00", 5),
    ])
    got = cohort_repurchase(orders, period="W", as_of="2024-01-21")
    assert got["cohort"].tolist() == [TS("2024-01-01")] * 3
    assert got["period"].tolist() == [0, 1, 2]
    assert got["cohort_size"].tolist() == [2, 2, 2]
    assert got["customers"].tolist() == [1, 2, 0]
    assert got["complete"].tolist() == [True, True, True]
    cum = cohort_repurchase(orders, period="W", how="cumulative", as_of="2024-01-13")
    assert cum["customers"].tolist() == [1, 2]
    assert cum["complete"].tolist() == [True, False]  # the week of 8 Jan ends on the 14th
    assert cohort_repurchase(orders, period="W", as_of="2024-01-14")["complete"].all()


def test_quarterly_labels_and_completeness():
    orders = make_orders([("p", "2024-02-10", 1), ("p", "2024-05-01", 1), ("q", "2024-04-02", 1)])
    got = cohort_repurchase(orders, period="Q", as_of="2024-06-29")
    assert got["cohort"].tolist() == [TS("2024-01-01"), TS("2024-01-01"), TS("2024-04-01")]
    assert got["period"].tolist() == [0, 1, 0]
    assert got["customers"].tolist() == [0, 1, 0]
    assert got["complete"].tolist() == [True, False, False]
    done = cohort_repurchase(orders, period="Q", as_of="2024-06-30")
    assert done["complete"].all()


def test_zero_cells_are_rows_and_no_cells_after_as_of():
    orders = make_orders([("a", "2024-01-05", 1), ("b", "2024-03-05", 1)])
    got = cohort_repurchase(orders, as_of="2024-05-15")
    # January cohort: Jan..May = 5 cells, all zero; March cohort: Mar..May = 3 cells.
    assert got.groupby("cohort").size().tolist() == [5, 3]
    assert (got["customers"] == 0).all() and (got["rate"] == 0).all()
    # cohorts without new customers (February) are absent
    assert TS("2024-02-01") not in set(got["cohort"])
    assert got["complete"].tolist() == [True, True, True, True, False, True, True, False]


def test_orders_after_as_of_are_ignored(tiny_orders):
    cut = tiny_orders[tiny_orders["order_date"] < "2024-02-16"]
    for how in ("on", "cumulative"):
        a = cohort_repurchase(tiny_orders, how=how, as_of="2024-02-15")
        b = cohort_repurchase(cut, how=how, as_of="2024-02-15")
        pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(
        cohort_revenue(tiny_orders, as_of="2024-02-15"), cohort_revenue(cut, as_of="2024-02-15")
    )


def test_cumulative_is_monotone_and_bounded():
    got = cohort_repurchase(random_orders(200, seed=3), how="cumulative", period="W")
    for _, g in got.groupby("cohort"):
        assert (np.diff(g["customers"]) >= 0).all()
    assert (got["customers"] <= got["cohort_size"]).all()


def test_last_cumulative_equals_overall_repeat_customers():
    orders = random_orders(150, seed=4)
    cum = cohort_repurchase(orders, how="cumulative")
    last = cum.groupby("cohort").tail(1)
    assert last["customers"].sum() == repurchase_rate(orders).n_repeat_customers
    assert cum.groupby("cohort")["cohort_size"].first().sum() == orders["customer_id"].nunique()


def test_cdnow_cohorts():
    cdnow = load_cdnow("sample")
    got = cohort_repurchase(cdnow, how="cumulative")
    sizes = got.groupby("cohort")["cohort_size"].first()
    assert sizes.index.tolist() == [TS("1997-01-01"), TS("1997-02-01"), TS("1997-03-01")]
    assert sizes.sum() == 2357
    # every CDNOW month has ended by the last order day (1998-06-30)
    assert got["complete"].all()
    last = got.groupby("cohort").tail(1)
    summary_repeaters = (
        cdnow.assign(day=cdnow["order_date"].dt.normalize())
        .groupby("customer_id")["day"].nunique().gt(1).sum()
    )
    assert last["customers"].sum() == summary_repeaters


# --------------------------------------------------------------------------- revenue
def test_tiny_revenue(tiny_orders):
    got = cohort_revenue(tiny_orders)
    assert got["period"].tolist() == [0, 1, 2, 3, 0, 1, 2]
    assert got["revenue"].tolist() == [25.0, 30.0, 0.0, 0.0, 50.0, 0.0, 70.0]
    assert got["revenue_per_customer"].tolist() == [12.5, 15.0, 0.0, 0.0, 50.0, 0.0, 70.0]
    assert got["cumulative_revenue_per_customer"].tolist() == [
        12.5, 27.5, 27.5, 27.5, 50.0, 50.0, 120.0,
    ]
    assert got["complete"].tolist() == [True, True, True, False, True, True, False]
    assert got["revenue"].sum() == pytest.approx(tiny_orders["amount"].sum())


# --------------------------------------------------------------------------- overall rates
def test_repurchase_rate_tiny(tiny_orders):
    r = repurchase_rate(tiny_orders)
    assert isinstance(r, RepurchaseRate)
    assert (r.n_customers, r.n_repeat_customers, r.n_too_recent) == (3, 2, 0)
    assert float(r) == pytest.approx(2 / 3)
    assert r.within_days is None and r.as_of == TS("2024-04-10")
    # a repeats after 45 days, c after 67; as_of 10 Apr minus 50 days = 21 Feb.
    r50 = repurchase_rate(tiny_orders, within_days=50)
    assert (r50.n_customers, r50.n_repeat_customers, r50.n_too_recent) == (3, 1, 0)
    # 70 days before 10 Apr is 31 Jan: c (first order 3 Feb) is too recent to count
    r70 = repurchase_rate(tiny_orders, within_days=70)
    assert (r70.n_customers, r70.n_repeat_customers, r70.n_too_recent) == (2, 1, 1)
    assert r70.rate == 0.5 and r70.within_days == 70
    # the boundary: exactly within_days after the first day counts
    r45 = repurchase_rate(tiny_orders, within_days=45)
    r44 = repurchase_rate(tiny_orders, within_days=44)
    assert r45.n_repeat_customers == 1 and r44.n_repeat_customers == 0


def test_repurchase_rate_as_of(tiny_orders):
    r = repurchase_rate(tiny_orders, as_of="2024-03-01")
    assert (r.n_customers, r.n_repeat_customers) == (3, 1)


def test_repurchase_rate_no_eligible_customer(tiny_orders):
    r = repurchase_rate(tiny_orders, within_days=365)
    assert r.n_customers == 0 and np.isnan(r.rate) and r.n_too_recent == 3


def test_repurchase_rate_brute_force():
    orders = random_orders(120, seed=7)
    as_of = TS("2024-05-01")
    o = orders[orders["order_date"].dt.normalize() <= as_of]
    for within in (None, 14, 60):
        n = rep = 0
        for _, g in o.groupby("customer_id"):
            days = sorted(set(g["order_date"].dt.normalize()))
            if within is not None and (as_of - days[0]).days < within:
                continue
            n += 1
            if len(days) > 1 and (within is None or (days[1] - days[0]).days <= within):
                rep += 1
        r = repurchase_rate(orders, within_days=within, as_of=as_of)
        assert (r.n_customers, r.n_repeat_customers) == (n, rep)


def test_repeat_orders_per_customer(tiny_orders):
    assert repeat_orders_per_customer(tiny_orders) == 1.0
    orders = make_orders([
        ("a", "2024-01-01", 1), ("a", "2024-01-01", 1),  # same-day: no repeat
        ("a", "2024-01-03", 1), ("a", "2024-01-03", 1),  # two repeat orders on one day
        ("a", "2024-01-09", 1), ("b", "2024-01-02", 1), ("c", "2024-01-05", 1),
        ("c", "2024-02-01", 1),
    ])
    assert repeat_orders_per_customer(orders) == 2.0  # (3 + 1) / 2
    assert repeat_orders_per_customer(orders, as_of="2024-01-05") == 2.0  # a: 2 orders on 3 Jan
    assert np.isnan(repeat_orders_per_customer(orders, as_of="2024-01-02"))


# --------------------------------------------------------------------------- second order
def test_days_to_second_order_tiny(tiny_orders):
    res = days_to_second_order(tiny_orders)
    assert isinstance(res, DaysToSecondOrder)
    c = res.customers
    assert c["customer_id"].tolist() == ["a", "b", "c"]
    assert c["days_to_second_order"].tolist()[0] == 45.0
    assert np.isnan(c["days_to_second_order"].tolist()[1])
    assert c["days_to_second_order"].tolist()[2] == 67.0
    assert c["censored"].tolist() == [False, True, False]
    assert c["days_observed"].tolist() == [100, 81, 67]
    assert c["second_order"].tolist()[0] == TS("2024-02-15")
    assert pd.isna(c["second_order"].tolist()[1])
    d = res.distribution
    assert (d["customers"], d["with_second_order"], d["censored"]) == (3, 2, 1)
    assert d["mean"] == 56.0 and d["min"] == 45.0 and d["max"] == 67.0
    assert d["50%"] == 56.0
    assert d["std"] == pytest.approx(np.std([45, 67], ddof=1))


def test_cumulative_share_kaplan_meier(tiny_orders):
    # events at 45 (a) and 67 (c); b censored at 81: S(45) = 2/3, S(67) = 2/3 * 1/2.
    km = days_to_second_order(tiny_orders).cumulative_share()
    assert km["days"].tolist() == list(range(1, 101))
    share = km.set_index("days")["share"]
    assert share[44] == 0.0
    assert share[45] == pytest.approx(1 / 3)
    assert share[66] == pytest.approx(1 / 3)
    assert share[67] == pytest.approx(2 / 3)
    assert share[100] == pytest.approx(2 / 3)
    at_risk = km.set_index("days")["at_risk"]
    assert (at_risk[45], at_risk[46], at_risk[67], at_risk[68], at_risk[82]) == (3, 2, 2, 1, 0)
    assert len(days_to_second_order(tiny_orders).cumulative_share(max_days=30)) == 30


def test_cumulative_share_without_censoring_is_ecdf():
    orders = make_orders([
        ("a", "2024-01-01", 1), ("a", "2024-01-04", 1), ("b", "2024-01-01", 1),
        ("b", "2024-01-11", 1), ("c", "2024-01-02", 1), ("c", "2024-01-05", 1),
        ("d", "2024-01-01", 1), ("d", "2024-01-31", 1),
    ])
    res = days_to_second_order(orders, as_of="2024-01-31")
    km = res.cumulative_share(max_days=30).set_index("days")["share"]
    gaps = res.customers["days_to_second_order"].to_numpy()
    for d in (1, 3, 9, 10, 29, 30):
        assert km[d] == pytest.approx((gaps <= d).mean())


def test_days_to_second_order_matches_summary():
    from crm_analytics.summary import customer_summary

    cdnow = load_cdnow("sample")
    res = days_to_second_order(cdnow, as_of="1997-09-30")
    summ = customer_summary(cdnow, as_of="1997-09-30")
    assert res.customers["customer_id"].tolist() == summ["customer_id"].tolist()
    assert (~res.customers["censored"]).sum() == (summ["frequency"] > 0).sum() == 946
    assert res.distribution["censored"] == (summ["frequency"] == 0).sum()
    one = summ["frequency"] == 1  # with one repeat day, the gap is the recency
    np.testing.assert_array_equal(
        res.customers.loc[one, "days_to_second_order"], summ.loc[one, "recency"]
    )


# --------------------------------------------------------------------------- contract
ALL_CALLS = [
    lambda o: cohort_repurchase(o),
    lambda o: cohort_repurchase(o, period="W", how="cumulative"),
    lambda o: cohort_revenue(o, period="Q"),
    lambda o: repurchase_rate(o, within_days=30),
    lambda o: repeat_orders_per_customer(o),
    lambda o: days_to_second_order(o),
]


@pytest.mark.parametrize("call", ALL_CALLS)
@pytest.mark.parametrize("validated", [False, True])
def test_input_not_mutated(call, validated, tiny_orders):
    orders = validate_orders(tiny_orders) if validated else tiny_orders.copy()
    before = orders.copy(deep=True)
    attrs = dict(orders.attrs)
    call(orders)
    pd.testing.assert_frame_equal(orders, before)
    assert orders.attrs.keys() == attrs.keys()


def test_pipe_and_raw_input_equal_validated(tiny_orders):
    a = tiny_orders.pipe(cohort_repurchase, how="cumulative")
    b = cohort_repurchase(validate_orders(tiny_orders), how="cumulative")
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"period": "D"}, r"'period' parameter must be one of \['W', 'M', 'Q'\].*Got 'D'"),
        ({"period": "month"}, r"'period' parameter.*Got 'month'"),
        ({"period": None}, r"'period' parameter.*Got None"),
        ({"how": "after"}, r"'how' parameter must be 'on'.*'cumulative'.*Got 'after'"),
        ({"as_of": "not a date"}, r"'as_of' parameter must be a date"),
        ({"as_of": "2023-01-01"}, r"No order is on or before as_of=2023-01-01"),
    ],
)
def test_cohort_repurchase_errors(kwargs, match, tiny_orders):
    with pytest.raises(CrmDataError, match=match):
        cohort_repurchase(tiny_orders, **kwargs)


def test_cohort_revenue_errors(tiny_orders):
    with pytest.raises(CrmDataError, match=r"'period' parameter.*Got 'Y'"):
        cohort_revenue(tiny_orders, period="Y")
    with pytest.raises(CrmDataError, match=r"No order is on or before as_of=2020-01-01"):
        cohort_revenue(tiny_orders, as_of="2020-01-01")


@pytest.mark.parametrize("bad", [0, -5, 1.5, "30", True])
def test_within_days_errors(bad, tiny_orders):
    with pytest.raises(CrmDataError, match=r"'within_days' parameter must be a whole number"):
        repurchase_rate(tiny_orders, within_days=bad)


def test_max_days_error(tiny_orders):
    with pytest.raises(CrmDataError, match=r"'max_days' parameter must be a whole number"):
        days_to_second_order(tiny_orders).cumulative_share(max_days=0)


@pytest.mark.parametrize(
    "call",
    [cohort_repurchase, cohort_revenue, repurchase_rate, repeat_orders_per_customer,
     days_to_second_order],
)
def test_invalid_orders_are_reported(call, tiny_orders):
    with pytest.raises(CrmDataError, match=r"missing required column\(s\) \['order_date'\]"):
        call(tiny_orders.rename(columns={"order_date": "created_at"}))
    with pytest.raises(CrmDataError, match=r"orders must be a pandas DataFrame; got list"):
        call([1, 2, 3])
    with pytest.raises(CrmDataError, match=r"No order is on or before as_of=2000-01-01"):
        call(tiny_orders, as_of="2000-01-01")


@pytest.mark.parametrize("call", [repurchase_rate, repeat_orders_per_customer,
                                  days_to_second_order])
def test_functions_without_sql_refuse_engine_sources(call, tiny_orders, tmp_path):
    pytest.importorskip("duckdb")
    path = tmp_path / "orders.parquet"
    tiny_orders[["customer_id", "order_id", "order_date", "amount"]].to_parquet(path)
    with pytest.raises(CrmDataError, match=f"{call.__name__} is not available for "
                                           r"Parquet/DuckDB/Spark sources; run customer_summary"):
        call(str(path))


def test_cohort_grid_is_one_rule_for_customers_and_counts():
    """The pandas path passes a period per customer, the SQL path counts per cohort."""
    from crm_analytics.cohorts.rules import cohort_grid, period_index, repurchase_table

    days = np.array([19723, 19730, 19760, 19800, 19805])  # 2024-01-01 ... 2024-03-18
    as_of_day = 19823  # 2024-04-10
    per_customer = period_index(days, "M")
    cohorts, sizes = np.unique(per_customer, return_counts=True)
    a = cohort_grid(per_customer, period="M", as_of_day=as_of_day)
    b = cohort_grid(cohorts, period="M", as_of_day=as_of_day, sizes=sizes)
    for name in ("first", "width"):
        assert getattr(a, name) == getattr(b, name)
    for name in ("size", "cells", "complete"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.size.tolist() == [2, 1, 2, 0] and a.complete.sum() == 6
    table = repurchase_table(a, a.flat(cohorts, np.zeros(3, dtype=np.int64), sizes))
    assert table["rate"].tolist()[:2] == [1.0, 0.0]


# --------------------------------------------------------------------------- plots
def test_plot_cohort_heatmap_masks_incomplete(tiny_orders):
    import matplotlib.pyplot as plt

    from crm_analytics.plots.cohorts import plot_cohort_heatmap

    table = cohort_repurchase(tiny_orders)
    fig, ax = plt.subplots()
    try:
        out = plot_cohort_heatmap(table, ax=ax)
        assert out is ax
        assert ax.get_xlabel() == "Months since first order"
        assert ax.get_ylabel() == "Cohort (first-order month)"
        assert [t.get_text() for t in ax.get_yticklabels()] == ["2024-01", "2024-02"]
        mesh = ax.collections[0]
        values = np.ma.filled(mesh.get_array().astype(float), np.nan).reshape(2, 4)
        # incomplete April cells and the cell after as_of are blank, not 0
        assert np.isnan(values[0, 3]) and np.isnan(values[1, 2]) and np.isnan(values[1, 3])
        assert values[0, 1] == pytest.approx(50.0) and values[0, 2] == 0.0
        texts = [t.get_text() for t in ax.texts]
        assert "50" in texts and "100" not in texts  # the incomplete 100% is not shown
    finally:
        plt.close(fig)


def test_plot_cohort_heatmap_revenue_and_errors(tiny_orders):
    import matplotlib.pyplot as plt

    from crm_analytics.plots.cohorts import plot_cohort_heatmap

    ax = plot_cohort_heatmap(cohort_revenue(tiny_orders, period="W"),
                             value="revenue_per_customer", annotate=False)
    try:
        assert ax.get_xlabel() == "Weeks since first order"
        assert len(ax.texts) == 0
    finally:
        plt.close(ax.figure)
    with pytest.raises(CrmDataError, match=r"missing column\(s\) \['rate'\]"):
        plot_cohort_heatmap(cohort_revenue(tiny_orders))
    with pytest.raises(CrmDataError, match=r"table must be a pandas DataFrame"):
        plot_cohort_heatmap("table")


def test_plot_repurchase_curves_only_complete(tiny_orders):
    import matplotlib.pyplot as plt

    from crm_analytics.plots.cohorts import plot_repurchase_curves

    table = cohort_repurchase(tiny_orders, how="cumulative")
    fig, ax = plt.subplots()
    try:
        assert plot_repurchase_curves(table, ax=ax) is ax
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert set(lines) == {"2024-01", "2024-02"}
        np.testing.assert_array_equal(lines["2024-01"].get_xdata(), [0, 1, 2])
        np.testing.assert_allclose(lines["2024-01"].get_ydata(), [0, 50, 50])
        np.testing.assert_array_equal(lines["2024-02"].get_xdata(), [0, 1])
        assert ax.get_xlabel() == "Months since first order"
        assert ax.get_ylabel() == "Repurchase rate (% of cohort)"  # how unknown: neutral
    finally:
        plt.close(fig)
    ax = plot_repurchase_curves(table, how="cumulative")
    try:
        assert ax.get_ylabel() == "Customers repurchased so far (% of cohort)"
    finally:
        plt.close(ax.figure)
    with pytest.raises(CrmDataError, match=r"The 'how' parameter must be 'on'"):
        plot_repurchase_curves(table, how="within")
    fig, ax = plt.subplots()
    try:
        plot_repurchase_curves(table, ax=ax, cohorts=["2024-02-01"])
        assert [line.get_label() for line in ax.get_lines()] == ["2024-02"]
    finally:
        plt.close(fig)
    with pytest.raises(CrmDataError, match=r"'cohorts' parameter names cohorts not in the"):
        plot_repurchase_curves(table, cohorts=["2023-05-01"])
    with pytest.raises(CrmDataError, match=r"'cohorts' parameter must list cohort start"):
        plot_repurchase_curves(table, cohorts=["soon"])


def test_plot_heatmap_title_and_period_keywords(tiny_orders):
    import matplotlib.pyplot as plt

    from crm_analytics.plots.cohorts import plot_cohort_heatmap

    table = cohort_repurchase(tiny_orders, how="on")
    titles = {}
    for how in (None, "on", "cumulative"):
        ax = plot_cohort_heatmap(table, how=how)
        titles[how] = ax.get_title()
        plt.close(ax.figure)
    assert titles[None] == "Repurchase rate (% of cohort) (blank: month not over yet)"
    assert titles["on"].startswith("Share of cohort repurchasing in each month")
    assert titles["cumulative"].startswith("Share of cohort repurchased within k months")
    ax = plot_cohort_heatmap(table, period="Q")  # an explicit period wins over the dates
    try:
        assert ax.get_xlabel() == "Quarters since first order"
    finally:
        plt.close(ax.figure)
    with pytest.raises(CrmDataError, match=r"The 'period' parameter must be one of"):
        plot_cohort_heatmap(table, period="Y")


@pytest.mark.parametrize(
    ("cohorts", "period", "label"),
    [
        (["2024-01-01", "2024-02-01"], "M", "Months since first order"),
        (["2024-01-01", "2024-07-01"], "Q", "Quarters since first order"),
        (["2024-01-01", "2024-03-01"], "M", "Months since first order"),  # 2 months apart
        (["2024-01-01"], "M", "Months since first order"),
        (["2024-01-08", "2024-01-22"], "W", "Weeks since first order"),
        (["2024-01-10", "2024-01-20"], None, "Periods since first order"),
    ],
)
def test_plots_infer_the_period_from_cohort_dates(cohorts, period, label):
    import matplotlib.pyplot as plt

    from crm_analytics.plots.cohorts import plot_repurchase_curves

    table = pd.DataFrame({"cohort": pd.to_datetime(cohorts), "period": 0, "cohort_size": 1,
                          "customers": 0, "rate": 0.0, "complete": True})
    ax = plot_repurchase_curves(table)
    try:
        assert ax.get_xlabel() == label
    finally:
        plt.close(ax.figure)


def test_plots_do_not_change_global_state(tiny_orders):
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    from crm_analytics.plots.cohorts import plot_cohort_heatmap, plot_repurchase_curves

    before = dict(mpl.rcParams)
    table = cohort_repurchase(tiny_orders)
    for ax in (plot_cohort_heatmap(table), plot_repurchase_curves(table)):
        plt.close(ax.figure)
    assert dict(mpl.rcParams) == before
