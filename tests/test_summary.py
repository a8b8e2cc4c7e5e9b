"""Tests of crm_analytics.summary (customer_summary, calibration_holdout_split) and of
crm_analytics.orders (validate_orders, prepare_orders).

customer_summary is compared with lifetimes' summary_data_from_transaction_data (imported
inside the tests, with the global state it changes put back) on CDNOW and the sample
shop, with the published CDNOW figures, on a hand-computed fixture and against a
brute-force per-customer loop (hypothesis).
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.vocab import EXCLUDED_STATUSES, REASON_AFTER_AS_OF, REASON_NO_CUSTOMER
from crm_analytics.orders.datasets import load_cdnow, load_sample
from crm_analytics.orders.encode import prepare_orders
from crm_analytics.orders.validate import (
    ValidationReport,
    validate_orders,
    validation_report,
)
from crm_analytics.summary import (
    calibration_holdout_split,
    customer_summary,
    summary_as_of,
    summary_time_unit,
)

SAMPLE_ORDERS = Path(__file__).resolve().parents[1] / "data" / "sample" / "orders.csv"
RFM = ["frequency", "recency", "T", "monetary_value"]



@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow("sample")


def raw_orders(**overrides) -> pd.DataFrame:
    """A small valid raw order table; keyword arguments replace columns."""
    data = {
        "customer_id": ["u1", "u2", "u1", "u3"],
        "order_id": ["o1", "o2", "o3", "o4"],
        "order_date": ["2024-03-01 10:00", "2024-03-02 11:30", "2024-03-05 09:15",
                       "2024-03-06 20:00"],
        "amount": [10.0, 20.5, 30.0, 5.0],
    }
    data.update(overrides)
    return pd.DataFrame(data)


# --------------------------------------------------------------------------- lifetimes
def _pandas_option():
    """(present, value) of the pandas option lifetimes sets on import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated in pandas 3
        try:
            return True, pd.get_option("mode.chained_assignment")
        except (KeyError, pd.errors.OptionError):
            return False, None


def lifetimes_summary(orders, *, freq_multiplier=1, as_of=None):
    """lifetimes' summary, imported here; the warning filters and the pandas option it
    changes on import are put back afterwards."""
    saved_filters = list(warnings.filters)
    had_option, saved_option = _pandas_option()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from lifetimes.utils import summary_data_from_transaction_data

            return summary_data_from_transaction_data(
                orders, "customer_id", "order_date", monetary_value_col="amount",
                observation_period_end=as_of, freq="D", freq_multiplier=freq_multiplier,
            )
    finally:
        warnings.filters[:] = saved_filters
        if had_option and _pandas_option()[1] != saved_option:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pd.set_option("mode.chained_assignment", saved_option)


def lifetimes_calibration_holdout(orders, calibration_end, holdout_end):
    saved_filters = list(warnings.filters)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from lifetimes.utils import calibration_and_holdout_data

            return calibration_and_holdout_data(
                orders, "customer_id", "order_date", calibration_period_end=calibration_end,
                observation_period_end=holdout_end, freq="D", freq_multiplier=7,
                monetary_value_col="amount",
            )
    finally:
        warnings.filters[:] = saved_filters


def assert_equals_lifetimes(orders, *, time_unit, as_of=None):
    multiplier = {"D": 1, "W": 7}[time_unit]
    ours = customer_summary(orders, as_of=as_of, time_unit=time_unit)
    ref = lifetimes_summary(orders, freq_multiplier=multiplier, as_of=as_of)
    assert sorted(ref.index.astype(str)) == ours["customer_id"].tolist()
    ref = ref.loc[ours["customer_id"].to_numpy()]
    np.testing.assert_array_equal(ours["frequency"], ref["frequency"].astype(np.int64))
    for col in ["recency", "T", "monetary_value"]:
        np.testing.assert_allclose(ours[col], ref[col], rtol=1e-12, atol=1e-9, err_msg=col)
    return ours


@pytest.mark.parametrize("time_unit", ["D", "W"])
@pytest.mark.parametrize("as_of", [None, "1997-09-30"])
def test_equals_lifetimes_on_cdnow(cdnow, time_unit, as_of):
    ours = assert_equals_lifetimes(cdnow, time_unit=time_unit, as_of=as_of)
    assert len(ours) == 2357


def test_equals_lifetimes_on_cdnow_master():
    master = load_cdnow("master")
    ours = assert_equals_lifetimes(master, time_unit="W")
    assert len(ours) == 23570


@pytest.mark.skipif(not SAMPLE_ORDERS.exists(), reason="data/sample/orders.csv not generated yet")
@pytest.mark.parametrize("time_unit", ["D", "W"])
def test_equals_lifetimes_on_sample(time_unit):
    orders = load_sample()
    ours = assert_equals_lifetimes(orders, time_unit=time_unit)
    assert len(ours) == orders["customer_id"].nunique()
    # orders have clock times: lifetimes and we both count calendar days
    assert orders["order_date"].dt.normalize().ne(orders["order_date"]).any()


# --------------------------------------------------------------------------- CDNOW facts
def test_cdnow_published_figures(cdnow):
    split = calibration_holdout_split(cdnow, calibration_end="1997-09-30", time_unit="W")
    assert len(split) == 2357
    assert (split["frequency"] > 0).sum() == 946
    assert split["frequency_holdout"].sum() == 1882
    assert split["duration_holdout"].iloc[0] == pytest.approx(39.0)
    one = split.set_index("customer_id").loc["1"]
    assert one["frequency"] == 2
    assert round(one["recency"], 2) == 30.43
    assert round(one["T"], 2) == 38.86
    # the Gamma-Gamma sample: mean observed average spend of repeat customers is $35.08
    repeaters = split[split["frequency"] > 0]
    assert round(repeaters["monetary_value"].mean(), 2) == 35.08
    assert summary_time_unit(split) == "W"
    assert summary_as_of(split) == pd.Timestamp("1997-09-30")


def test_calibration_holdout_equals_lifetimes(cdnow):
    ours = calibration_holdout_split(cdnow, calibration_end="1997-09-30", time_unit="W")
    ref = lifetimes_calibration_holdout(cdnow, "1997-09-30", "1998-06-30")
    ref = ref.loc[ours["customer_id"].to_numpy()]
    np.testing.assert_array_equal(ours["frequency"], ref["frequency_cal"])
    np.testing.assert_allclose(ours["recency"], ref["recency_cal"], rtol=1e-12)
    np.testing.assert_allclose(ours["T"], ref["T_cal"], rtol=1e-12)
    np.testing.assert_allclose(ours["monetary_value"], ref["monetary_value_cal"], rtol=1e-12)
    np.testing.assert_array_equal(ours["frequency_holdout"], ref["frequency_holdout"])
    np.testing.assert_allclose(ours["duration_holdout"], ref["duration_holdout"], rtol=1e-12)


# --------------------------------------------------------------------------- definitions
def test_tiny_hand_computed(tiny_orders):
    s = customer_summary(tiny_orders, as_of="2024-04-10")
    assert s.columns.tolist() == [
        "customer_id", "first_order", "last_order", "n_orders", "frequency", "recency", "T",
        "monetary_value", "total_amount", "avg_order_value", "total_margin",
        "days_since_last_order",
    ]
    want = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "first_order": pd.to_datetime(["2024-01-01", "2024-01-20", "2024-02-03"]),
            "last_order": pd.to_datetime(["2024-02-15", "2024-01-20", "2024-04-10"]),
            "n_orders": [3, 2, 2],
            "frequency": [1, 0, 1],  # b's two orders are on one day: one occasion
            "recency": [45.0, 0.0, 67.0],
            "T": [100.0, 81.0, 67.0],
            "monetary_value": [30.0, 0.0, 70.0],
            "total_amount": [45.0, 10.0, 120.0],
            "avg_order_value": [15.0, 5.0, 60.0],
            "total_margin": [13.5, 3.0, 36.0],
            "days_since_last_order": [55, 81, 0],
        }
    )
    pd.testing.assert_frame_equal(s, want, check_dtype=False)
    assert s["n_orders"].dtype == np.int64 and s["frequency"].dtype == np.int64
    assert not s.attrs  # settings are read from the columns, never stored in attrs
    assert summary_time_unit(s) == "D" and summary_as_of(s) == pd.Timestamp("2024-04-10")


def test_monetary_value_sums_same_day_orders():
    orders = raw_orders(
        customer_id=["x", "x", "x", "x"],
        order_date=["2024-01-01", "2024-01-05 08:00", "2024-01-05 20:00", "2024-01-09"],
        amount=[100.0, 10.0, 20.0, 60.0],
    )
    s = customer_summary(orders)
    # repeat occasions: 5 Jan (10 + 20) and 9 Jan (60): mean 45; the first day is left out
    assert s["frequency"].tolist() == [2] and s["monetary_value"].tolist() == [45.0]
    assert s["n_orders"].tolist() == [4]


def test_default_as_of_is_last_order_day(tiny_orders):
    s = customer_summary(tiny_orders)
    assert summary_as_of(s) == pd.Timestamp("2024-04-10")
    pd.testing.assert_frame_equal(s, customer_summary(tiny_orders, as_of="2024-04-10"))


def test_as_of_excludes_later_orders(tiny_orders):
    s = customer_summary(tiny_orders, as_of="2024-02-10")
    assert s["customer_id"].tolist() == ["a", "b", "c"]
    assert s["frequency"].tolist() == [0, 0, 0]
    assert s["n_orders"].tolist() == [2, 2, 1]
    assert s["T"].tolist() == [40.0, 21.0, 7.0]
    cut = tiny_orders[tiny_orders["order_date"] < "2024-02-11"]
    pd.testing.assert_frame_equal(s, customer_summary(cut, as_of="2024-02-10"))
    # customers whose first order is after as_of are not in the summary
    early = customer_summary(tiny_orders, as_of="2024-01-31")
    assert early["customer_id"].tolist() == ["a", "b"]
    # an as_of later than the data lengthens T only
    late = customer_summary(tiny_orders, as_of="2024-04-20")
    assert (late["T"] - customer_summary(tiny_orders)["T"]).tolist() == [10.0] * 3


def test_as_of_includes_the_whole_day(tiny_orders):
    s = customer_summary(tiny_orders, as_of=pd.Timestamp("2024-02-15 00:00"))
    assert s.set_index("customer_id").loc["a", "frequency"] == 1  # order at 00:00 that day
    s = customer_summary(tiny_orders, as_of="2024-01-01")
    assert s["n_orders"].tolist() == [2]  # 09:00 and 18:00 on 1 Jan


def test_weeks_are_days_over_seven(cdnow):
    d = customer_summary(cdnow, time_unit="D")
    w = customer_summary(cdnow, time_unit="W")
    np.testing.assert_allclose(w["recency"], d["recency"] / 7, rtol=1e-15)
    np.testing.assert_allclose(w["T"], d["T"] / 7, rtol=1e-15)
    other = [c for c in d.columns if c not in ("recency", "T")]
    pd.testing.assert_frame_equal(w[other], d[other])
    assert summary_time_unit(w) == "W" and summary_time_unit(d) == "D"


def test_sorted_by_customer_id_and_plain_index(cdnow):
    s = customer_summary(cdnow)
    assert s["customer_id"].is_monotonic_increasing
    assert isinstance(s.index, pd.RangeIndex)
    assert s["customer_id"].map(type).eq(str).all()


def test_without_margin_has_no_total_margin(tiny_orders):
    s = customer_summary(tiny_orders.drop(columns="margin"))
    assert "total_margin" not in s.columns


@pytest.mark.parametrize(
    "call",
    [
        lambda o: customer_summary(o, as_of="2024-03-01", time_unit="W"),
        lambda o: calibration_holdout_split(o, calibration_end="2024-02-01"),
        lambda o: validate_orders(o),
        lambda o: prepare_orders(o),
    ],
)
@pytest.mark.parametrize("validated", [False, True])
def test_input_not_mutated(call, validated, tiny_orders):
    orders = validate_orders(tiny_orders) if validated else tiny_orders.copy()
    before = orders.copy(deep=True)
    attrs_before = dict(orders.attrs)
    call(orders)
    pd.testing.assert_frame_equal(orders, before)
    assert orders.attrs.keys() == attrs_before.keys()


def test_raw_strings_give_the_same_summary_as_validated(tiny_orders):
    raw = tiny_orders.assign(
        order_date=tiny_orders["order_date"].dt.strftime("%Y/%m/%d %H:%M"),
        amount=["¥" + f"{a:,.2f}" for a in tiny_orders["amount"]],
    )
    pd.testing.assert_frame_equal(customer_summary(raw), customer_summary(tiny_orders))


# --------------------------------------------------------------------------- brute force
def brute_summary(orders, as_of):
    rows = []
    for cid, g in orders.groupby("customer_id"):
        g = g[g["order_date"].dt.normalize() <= as_of]
        if g.empty:
            continue
        by_day = g.groupby(g["order_date"].dt.normalize())["amount"].sum().sort_index()
        days = list(by_day.index)
        freq = len(days) - 1
        rows.append(
            {
                "customer_id": cid,
                "n_orders": len(g),
                "frequency": freq,
                "recency": float((days[-1] - days[0]).days),
                "T": float((as_of - days[0]).days),
                "monetary_value": float(by_day.iloc[1:].mean()) if freq else 0.0,
                "total_amount": float(g["amount"].sum()),
                "days_since_last_order": (as_of - days[-1]).days,
            }
        )
    return pd.DataFrame(rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "10", "9", "陈"]), st.integers(0, 60),
                  st.integers(0, 86399), st.floats(0, 1000, allow_nan=False)),
        min_size=1, max_size=30,
    ),
    as_of_shift=st.integers(-30, 10),
)
def test_property_equals_brute_force(data, as_of_shift):
    start = pd.Timestamp("2024-02-20")
    orders = pd.DataFrame(
        {
            "customer_id": [d[0] for d in data],
            "order_id": [str(i) for i in range(len(data))],
            "order_date": [start + pd.Timedelta(days=d[1], seconds=d[2]) for d in data],
            "amount": [d[3] for d in data],
        }
    )
    first = orders["order_date"].min().normalize()
    as_of = max(orders["order_date"].max().normalize() + pd.Timedelta(days=as_of_shift), first)
    want = brute_summary(orders, as_of)
    got = customer_summary(orders, as_of=as_of)
    assert got["customer_id"].tolist() == sorted(want["customer_id"])
    want = want.set_index("customer_id").loc[got["customer_id"]]
    for col in ["n_orders", "frequency", "days_since_last_order"]:
        np.testing.assert_array_equal(got[col], want[col], err_msg=col)
    for col in ["recency", "T", "monetary_value", "total_amount"]:
        np.testing.assert_allclose(got[col], want[col], rtol=1e-9, atol=1e-9, err_msg=col)


# --------------------------------------------------------------------------- summary errors
def test_summary_errors(tiny_orders):
    with pytest.raises(CrmDataError, match=r"'time_unit' parameter must be one of \['D', 'W'\]"
                       r".*Got 'M'"):
        customer_summary(tiny_orders, time_unit="M")
    with pytest.raises(CrmDataError, match=r"No order is on or before as_of=2023-12-31 \(first "
                       r"order 2024-01-01\)"):
        customer_summary(tiny_orders, as_of="2023-12-31")
    with pytest.raises(CrmDataError, match=r"'as_of' parameter must be a date"):
        customer_summary(tiny_orders, as_of="yesterday-ish")
    with pytest.raises(CrmDataError, match=r"'as_of' parameter must be a date\. Got NaT"):
        customer_summary(tiny_orders, as_of=pd.NaT)
    with pytest.raises(CrmDataError, match=r"orders must be a pandas DataFrame; got dict"):
        customer_summary({"customer_id": ["a"]})


def test_calibration_holdout_errors(tiny_orders):
    with pytest.raises(CrmDataError, match=r"holdout_end \(2024-02-01\) must be after "
                       r"calibration_end \(2024-02-01\)"):
        calibration_holdout_split(tiny_orders, calibration_end="2024-02-01",
                                  holdout_end="2024-02-01")
    with pytest.raises(CrmDataError, match=r"'calibration_end' parameter must be a date"):
        calibration_holdout_split(tiny_orders, calibration_end="end of Q1")
    with pytest.raises(CrmDataError, match=r"'time_unit' parameter"):
        calibration_holdout_split(tiny_orders, calibration_end="2024-02-01", time_unit="Y")


def test_calibration_holdout_counts_new_customers(tiny_orders):
    split = calibration_holdout_split(tiny_orders, calibration_end="2024-01-31",
                                      holdout_end="2024-04-30")
    assert split["customer_id"].tolist() == ["a", "b"]
    assert "c" not in set(split["customer_id"])  # c first bought in February
    assert split["frequency_holdout"].tolist() == [1, 0]
    assert split["monetary_value_holdout"].tolist() == [30.0, 0.0]
    assert split["duration_holdout"].tolist() == [90.0, 90.0]


# --------------------------------------------------------------------------- validate_orders
def test_validate_normalises():
    raw = pd.DataFrame(
        {
            "买家会员名": [" 张三 ", "李四", "张三"],
            "订单编号": ['="1930679858170647"', "1930679858170648", "1930679858170649"],
            "订单创建时间": ["2016/5/23 22:02", "2016/5/22 08:00", "2016-05-24"],
            "买家实际支付金额": ["¥1,299.00", "29.9元", "RMB 5"],
            "备注": ["x", "y", "z"],
        }
    )
    out, report = validate_orders(
        raw, columns={"customer_id": "买家会员名", "order_id": "订单编号",
                      "order_date": "订单创建时间", "amount": "买家实际支付金额"},
        return_report=True)
    assert out.columns.tolist() == ["customer_id", "order_id", "order_date", "amount", "备注"]
    assert out["customer_id"].tolist() == ["李四", "张三", "张三"]  # stripped, sorted by date
    assert out["amount"].tolist() == [29.9, 1299.0, 5.0]
    assert out["order_date"].tolist()[0] == pd.Timestamp("2016-05-22 08:00")
    assert out["order_id"].tolist()[1] == '="1930679858170647"'
    assert isinstance(report, ValidationReport)
    assert report.n_rows_in == 3 and report.n_rows_out == 3 and len(report.excluded) == 0
    assert any("renamed columns" in n for n in report.notes)


def test_validate_numeric_ids_and_dates():
    raw = pd.DataFrame(
        {
            "customer_id": [101.0, 102.0],  # floats holding whole numbers are fine
            "order_id": [1, 2],
            "order_date": [19970101, 19970102],  # CDNOW-style yyyymmdd integers
            "amount": [1, 2],
        }
    )
    out = validate_orders(raw)
    assert out["customer_id"].tolist() == ["101", "102"]
    assert out["order_id"].tolist() == ["1", "2"]
    assert out["order_date"].tolist() == [pd.Timestamp("1997-01-01"), pd.Timestamp("1997-01-02")]
    assert out["amount"].dtype == np.float64


def test_validate_timezones_keep_wall_clock():
    tz = pd.DataFrame({"customer_id": ["a"], "order_id": ["1"], "amount": [1.0],
                       "order_date": [pd.Timestamp("2024-06-18 20:15", tz="Asia/Shanghai")]})
    assert validate_orders(tz)["order_date"].tolist() == [pd.Timestamp("2024-06-18 20:15")]
    # Shopify "Created at" strings with different UTC offsets (e.g. across DST)
    mixed = raw_orders(order_date=["2024-03-01 10:00:00 -0500", "2024-03-20 10:00:00 -0400",
                                   "2024-03-21 23:30:00 +0800", "2024-03-22"])
    out = validate_orders(mixed)
    assert out["order_date"].tolist() == pd.to_datetime(
        ["2024-03-01 10:00", "2024-03-20 10:00", "2024-03-21 23:30", "2024-03-22"],
        format="mixed",
    ).tolist()


def test_validate_margin_and_extras_kept():
    out = validate_orders(raw_orders(margin=["1.5", "2", "¥3", "-1"], channel=list("abcd")))
    assert out.columns.tolist() == ["customer_id", "order_id", "order_date", "amount", "margin",
                                    "channel"]
    assert out["margin"].tolist() == [1.5, 2.0, 3.0, -1.0]  # a loss-making order is allowed


def test_status_exclusion_report():
    raw = raw_orders(
        customer_id=["u1", "u2", "u1", "u3"],
        status=["交易成功", "交易关闭", " Refunded ", "paid"],
    )
    out, report = validate_orders(raw, return_report=True)
    assert out["order_id"].tolist() == ["o1", "o4"]
    assert (report.n_rows_in, report.n_rows_out) == (4, 2)
    assert report.excluded["order_id"].tolist() == ["o2", "o3"]
    assert report.excluded["reason"].tolist() == ["cancelled or closed", "fully refunded"]
    assert report.dropped_customers == ["u2"]  # u1 still has an order
    text = report.summary()
    assert "4 rows in, 2 orders kept." in text
    assert "excluded 1 order: cancelled or closed" in text
    assert "excluded 1 order: fully refunded" in text
    assert "1 customer with no remaining order dropped" in text and "u2" in text
    # keeping every status, or another status column
    assert len(validate_orders(raw, exclude_statuses=set())) == 4
    assert len(validate_orders(raw.rename(columns={"status": "订单状态"}))) == 4
    assert len(validate_orders(raw.rename(columns={"status": "订单状态"}),
                               status_col="订单状态")) == 2
    assert {"交易关闭", "退款成功", "cancelled"} <= EXCLUDED_STATUSES


def test_no_exclusions_report_is_empty(tiny_orders):
    orders, report = validate_orders(tiny_orders, return_report=True)
    assert report.dropped_customers == [] and len(report.excluded) == 0
    assert report.summary() == "7 rows in, 7 orders kept."
    assert not orders.attrs  # the report is returned, never stored on the table


def test_validation_report_is_deprecated_and_pure(tiny_orders):
    raw = raw_orders(status=["paid", "refunded", "paid", "paid"])
    before = raw.copy()
    with pytest.warns(DeprecationWarning, match="validation_report.*is deprecated"):
        report = validation_report(raw)
    assert (report.n_rows_in, report.n_rows_out) == (4, 3)
    pd.testing.assert_frame_equal(raw, before)
    assert not raw.attrs


def test_prepare_orders():
    raw = raw_orders()
    prepared = prepare_orders(raw)
    assert prepared.orders is not raw
    pd.testing.assert_frame_equal(prepared.orders, validate_orders(raw))
    assert prepare_orders(prepared) is prepared  # already prepared: passed through
    assert prepared.report.n_rows_out == len(prepared.orders)
    # a frame whose dates were turned back into text is validated again
    v = validate_orders(raw)
    text_dates = v.assign(order_date=v["order_date"].dt.strftime("%Y-%m-%d"))
    assert pd.api.types.is_datetime64_any_dtype(prepare_orders(text_dates).orders["order_date"])


def _check(raw, match, **kwargs):
    with pytest.raises(CrmDataError, match=match):
        validate_orders(raw, **kwargs)


def test_error_not_a_dataframe():
    _check([("a", "1")], r"orders must be a pandas DataFrame; got list")


def test_error_columns_mapping_unknown_key():
    _check(raw_orders(), r"\['buyer'\] are not canonical names. Use keys from \['customer_id'",
           columns={"buyer": "customer_id"})


def test_error_columns_mapping_names_absent_column():
    raw = raw_orders().rename(columns={"customer_id": "buyer_nick"})
    _check(raw, r"columns=\{'customer_id': 'buyer'\} names a column that is not in the table. "
           r"The closest existing column is 'buyer_nick'", columns={"customer_id": "buyer"})


def test_error_columns_mapping_clash():
    raw = raw_orders(buyer=["x", "y", "z", "w"])
    _check(raw, r"Renaming would create duplicate column\(s\) \['customer_id'\]",
           columns={"customer_id": "buyer"})


def test_error_missing_column_names_closest_alias():
    raw = raw_orders().rename(columns={"customer_id": "买家会员名"})
    _check(raw, r"missing required column\(s\) \['customer_id'\].*For 'customer_id': The "
           r"closest existing column is '买家会员名'.*columns=\{'<canonical name>'")


def test_error_missing_column_names_closest_spelling():
    raw = raw_orders().rename(columns={"order_date": "Order_Dat", "amount": "Paid "})
    _check(raw, r"missing required column\(s\) \['order_date', 'amount'\].*For 'order_date': "
           r"The closest existing column is 'Order_Dat'.*For 'amount': The closest existing "
           r"column is 'Paid '")


def test_error_missing_column_without_hint():
    raw = raw_orders().drop(columns="amount").assign(zzz=1)
    with pytest.raises(CrmDataError, match=r"missing required column\(s\) \['amount'\]") as err:
        validate_orders(raw)
    assert "closest" not in str(err.value)


def test_error_empty():
    _check(raw_orders().iloc[:0], r"The order table is empty \(0 rows\)")


def test_error_all_rows_excluded():
    raw = raw_orders(status=["交易关闭", "refunded", "Cancelled", "交易关闭"])
    _check(raw, r"Every order has an excluded status in column 'status' \(e\.g\. \['cancelled', "
           r"'refunded', '交易关闭'\]\).*exclude_statuses=set\(\)")


@pytest.mark.parametrize(
    ("column", "values", "match"),
    [
        ("order_id", ["o1", "o2", "  ", "o4"],
         r"Column 'order_id' is empty in 1 of 4 rows \(row 2: '  '\).*Every order needs its "
         r"order_id"),
    ],
)
def test_error_null_ids(column, values, match):
    _check(raw_orders(**{column: values}), match)


@pytest.mark.parametrize("values", [["u1", None, "", "nan"], ["u1", "N/A", "#N/A", "-"]])
def test_rows_without_a_customer_are_excluded_and_reported(values):
    out, report = validate_orders(raw_orders(customer_id=values), return_report=True)
    assert out["customer_id"].tolist() == ["u1"]
    assert report.exclusion_counts().set_index("reason")["orders"].to_dict() == {
        REASON_NO_CUSTOMER: 3}
    assert report.dropped_customers == []  # a missing id is not a customer


def test_float_customer_ids_keep_their_integer_text():
    out, report = validate_orders(raw_orders(customer_id=[1.0, np.nan, 2.0, 3.0]),
                                  return_report=True)
    assert sorted(out["customer_id"]) == ["1", "2", "3"]
    assert report.exclusion_counts()["orders"].sum() == 1


def test_error_float_ids_lost_precision():
    raw = raw_orders(order_id=[1930679858170647123.0, 2.0, 3.5, 4.0])
    _check(raw, r"Column 'order_id' holds ids that were read as floating-point numbers, so they "
           r"may have lost digits \(2 rows, e.g\. row 0: 1\.93067985817064\de\+18; row 2: 3\.5\)"
           r".*dtype=\{'order_id': str\}")


def test_error_boolean_ids():
    _check(raw_orders(customer_id=[True, False, True, True]),
           r"Column 'customer_id' holds booleans, not ids")


def test_error_unparseable_dates_with_count_and_examples():
    dates = ["2024-03-01", "soon", "32/13/2024", "2024-03-04", "n/a", "?", "x", "y"]
    raw = pd.DataFrame({"customer_id": list("abcdefgh"), "order_id": list("12345678"),
                        "order_date": dates, "amount": [1.0] * 8})
    _check(raw, r"Column 'order_date' has 6 values that are not dates \(row 1: 'soon'; row 2: "
           r"'32/13/2024'; row 4: 'n/a'; row 5: '\?'; row 6: 'x'; \.\.\. and 1 more\)\. Use "
           r"ISO dates")


def test_error_missing_and_numeric_non_dates():
    _check(raw_orders(order_date=["2024-01-01", None, "2024-01-02", "2024-01-03"]),
           r"Column 'order_date' has 1 values that are not dates \(row 1: nan\)")
    _check(raw_orders(order_date=[20240101, 20240132, 20240102, 45000]),
           r"Column 'order_date' has 2 values that are not dates \(row 1: 20240132; row 3: 45000\)")
    _check(raw_orders(order_date=[20240101.0, 20240102.5, 20240103.0, 20240104.0]),
           r"Column 'order_date' has 1 values that are not dates \(row 1: 20240102\.5\)")


def test_error_non_numeric_amounts():
    _check(raw_orders(amount=["10", "ten", "¥5", "1.2.3"]),
           r"Column 'amount' has 2 values that are not numbers \(row 1: 'ten'; row 3: '1\.2\.3'\)"
           r"\. Use plain numbers")


def test_error_non_numeric_margin():
    _check(raw_orders(margin=["1", "2", "abc", "4"]),
           r"Column 'margin' has 1 values that are not numbers \(row 2: 'abc'\)")


def test_error_missing_amount():
    _check(raw_orders(amount=[1.0, np.nan, 3.0, 4.0]),
           r"Column 'amount' is missing in 1 rows \(row 1: nan\)\. Fill in the paid amount")


def test_error_negative_amounts():
    _check(raw_orders(amount=[1.0, -2.0, 3.0, -0.5]),
           r"Column 'amount' is negative in 2 rows \(row 1: -2\.0; row 3: -0\.5\)\. Amounts are "
           r"money paid; record refunds in a status column")


def test_error_duplicate_order_ids():
    _check(raw_orders(order_id=["o1", "o2", "o1", "o2"]),
           r"Column 'order_id' has 4 rows sharing 2 order ids \(row 0: 'o1'; row 1: 'o2'; "
           r"row 2: 'o1'; row 3: 'o2'\)\. One row per order is expected")


def test_orders_after_as_of_are_left_out_and_counted():
    out, report = validate_orders(raw_orders(), as_of="2024-03-02", return_report=True)
    assert len(out) == 2
    assert report.exclusion_counts().set_index("reason")["orders"].to_dict() == {
        REASON_AFTER_AS_OF: 2}
    assert len(validate_orders(raw_orders(), as_of="2024-03-06")) == 4  # the whole day counts


def test_error_bad_as_of():
    _check(raw_orders(), r"The 'as_of' parameter must be a date such as '2024-06-30'\. Got "
           r"'tomorrow'", as_of="tomorrow")


def test_validated_orders_and_their_report_save_to_parquet(tmp_path) -> None:
    raw = pd.DataFrame({"customer_id": ["a", "b", "b"], "order_id": ["1", "2", "3"],
                        "order_date": ["2024-01-01", "2024-01-02", "2024-01-03"],
                        "amount": [1.0, 2.0, 3.0], "status": ["paid", "refunded", "paid"]})
    orders, report = validate_orders(raw, return_report=True)
    orders.to_parquet(tmp_path / "orders.parquet")
    report.excluded.to_parquet(tmp_path / "excluded.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "orders.parquet"), orders)
    assert report.n_rows_in == 3 and report.n_rows_out == 2
    excluded = pd.read_parquet(tmp_path / "excluded.parquet")
    assert excluded["order_id"].tolist() == ["2"]
    assert "refunded" in excluded["reason"].iloc[0]


def test_result_tables_save_to_parquet(tmp_path, tiny_orders) -> None:
    """A saved and reloaded summary still tells its unit and as-of day (from its columns)."""
    summary = customer_summary(tiny_orders, as_of="2024-04-30", time_unit="W")
    summary.to_parquet(tmp_path / "summary.parquet")
    back = pd.read_parquet(tmp_path / "summary.parquet")
    assert summary_as_of(back) == pd.Timestamp("2024-04-30") and summary_time_unit(back) == "W"
    split = calibration_holdout_split(tiny_orders, calibration_end="2024-02-01")
    split.to_parquet(tmp_path / "split.parquet")


# --------------------------------------------------------------------------- id encoding
@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**18 - 1), min_size=1, max_size=40))
def test_digit_ids_encode_like_pandas(values):
    from crm_analytics.orders.encode import factorize_digit_ids

    ids = pd.Series([str(v) for v in values], dtype="str")
    codes, uniques = factorize_digit_ids(ids)
    ref_codes, ref_uniques = pd.factorize(ids, sort=True)
    np.testing.assert_array_equal(codes, ref_codes)
    assert uniques.equals(ref_uniques) and uniques.dtype == ref_uniques.dtype


_TEXT_IDS = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6),
    st.sampled_from(["c1", "c10", "c2", "张三", "张三丰", "a@qq.com", "A@qq.com", "7", "07",
                     " x", "x ", "é", "é"]),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(_TEXT_IDS, min_size=1, max_size=40))
def test_text_ids_encode_like_pandas(values):
    from crm_analytics.orders.encode import factorize_text_ids

    ids = pd.Series(values, dtype="str")
    codes, uniques = factorize_text_ids(ids)
    ref_codes, ref_uniques = pd.factorize(ids, sort=True)
    np.testing.assert_array_equal(codes, ref_codes)
    assert uniques.equals(ref_uniques) and uniques.dtype == ref_uniques.dtype


def test_text_ids_sharing_a_hash_fall_back_to_pandas(monkeypatch):
    from crm_analytics.orders import encode

    ids = pd.Series(["b", "a", "b", "c"], dtype="str").iloc[1:]
    assert encode.factorize_text_ids(ids, hashes=np.zeros(3, dtype=np.int64)) is None
    same = pd.Series(["b", "b"], dtype="str")
    codes, uniques = encode.factorize_text_ids(same, hashes=np.zeros(2, dtype=np.int64))
    assert codes.tolist() == [0, 0] and list(uniques) == ["b"]
    assert encode.factorize_text_ids(pd.Series(["a", None], dtype="str")) is None
    assert encode.factorize_text_ids(pd.Series(["a", "b"], dtype=object)) is None
    # above the size threshold factorize_ids hashes; a collision still gives pandas' codes
    big = pd.Series([f"c{i % 997}" for i in range(encode.HASHED_MIN_ROWS)], dtype="str")
    expected = pd.factorize(big, sort=True)
    for hashes in (None, lambda arr: np.zeros(len(arr), dtype=np.int64)):
        if hashes is not None:
            monkeypatch.setattr(encode, "hash_texts", hashes)
        codes, uniques = encode.factorize_ids(big)
        np.testing.assert_array_equal(codes, expected[0])
        assert uniques.equals(expected[1])


@pytest.mark.parametrize("values", [["007", "7"], ["+7", "7"], [" 7", "7"], ["-7", "7"],
                                    ["1234567890123456789"], ["7a", "7"], ["٧", "7"]])
def test_non_canonical_digit_ids_take_the_text_path(values):
    from crm_analytics.orders.encode import factorize_digit_ids

    assert factorize_digit_ids(pd.Series(values, dtype="str")) is None


def test_digit_path_on_a_slice_of_text_ids():
    """The canonical check counts bytes of the slice only, not of the whole buffer."""
    from crm_analytics.orders.encode import factorize_digit_ids

    ids = pd.Series(["0007", "x", "42", "7", "42"], dtype="str").iloc[2:]
    codes, uniques = factorize_digit_ids(ids)
    ref_codes, ref_uniques = pd.factorize(ids, sort=True)
    np.testing.assert_array_equal(codes, ref_codes)
    assert uniques.equals(ref_uniques)
    assert factorize_digit_ids(pd.Series(["0007", "x", "42"], dtype="str").iloc[[0, 2]]) is None


@pytest.mark.parametrize("as_of", [None, "2024-06-30"])
def test_shared_codes_and_digit_path_give_identical_results(as_of, monkeypatch):
    from crm_analytics.cohorts import cohort_repurchase, cohort_revenue, repurchase_rate
    from crm_analytics.sleeping import member_status, sleeping_flow

    orders = validate_orders(load_sample("orders"))

    def run():
        return (
            customer_summary(orders, as_of=as_of, time_unit="W"),
            cohort_repurchase(orders, as_of=as_of, how="cumulative"),
            cohort_revenue(orders, as_of=as_of),
            pd.DataFrame([vars(repurchase_rate(orders, as_of=as_of))]),
            member_status(orders, as_of=as_of),
            sleeping_flow(orders, end=as_of),
        )

    from crm_analytics.orders import encode

    fast = run()
    raw = orders
    orders = prepare_orders(raw)
    shared = run()
    orders = raw
    monkeypatch.setattr(encode, "factorize_digit_ids", lambda ids: None)
    plain = run()  # pandas' text factorize only
    for a, b, c in zip(fast, shared, plain, strict=True):
        pd.testing.assert_frame_equal(a, c, check_exact=True)
        pd.testing.assert_frame_equal(b, c, check_exact=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(min_value=0, max_value=2**63 - 1).map(str),
                          st.sampled_from(["007", "7", "+7", "0", "00", "x7", "9" * 20])),
                min_size=1, max_size=30))
def test_duplicate_order_ids_found_like_pandas(values):
    from crm_analytics.orders.validate import _has_duplicates

    ids = pd.Series(values, dtype="str")
    assert _has_duplicates(ids) == ids.duplicated().any()


def test_validate_rejects_infinite_amounts() -> None:
    raw = pd.DataFrame({"customer_id": ["a", "b"], "order_id": ["1", "2"],
                        "order_date": ["2024-01-01", "2024-01-02"], "amount": [np.inf, 2.0]})
    with pytest.raises(CrmDataError, match=r"'amount' is infinite in 1 rows"):
        validate_orders(raw)


def test_missing_columns_message_without_close_names_reads_cleanly() -> None:
    with pytest.raises(CrmDataError, match=r"Columns present: \['a', 'b'\]\. Map your columns"):
        validate_orders(pd.DataFrame({"a": [1], "b": [2]}))
