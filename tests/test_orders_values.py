"""Reading dates, money and ids one way per column; exclusions and the validation report."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.vocab import (
    NULL_ID_MARKERS,
    REASON_AFTER_AS_OF,
    REASON_DATE_OUTLIER,
    REASON_NO_CUSTOMER,
)
from crm_analytics.orders import validate
from crm_analytics.orders.rules import date_outlier_cutoff
from crm_analytics.orders.validate import ValidationReport, validate_orders
from crm_analytics.orders.values import ids_as_text, null_ids, parse_dates, parse_money


def orders(n: int = 4, **cols) -> pd.DataFrame:
    base = {
        "customer_id": [f"u{i % 3}" for i in range(n)],
        "order_id": [f"o{i}" for i in range(n)],
        "order_date": [f"2024-03-{i + 1:02d}" for i in range(n)],
        "amount": [10.0 + i for i in range(n)],
    }
    base.update(cols)
    return pd.DataFrame(base)


# ------------------------------------------------------------------------------ dates
def test_day_first_column_against_the_true_dates():
    rng = np.random.default_rng(3)
    true = pd.Timestamp("2010-12-01") + pd.to_timedelta(
        rng.integers(0, 365 * 24 * 60, 500), unit="min")
    # D/M/YYYY H:MM written by hand, not by pandas: no leading zeros
    texts = [f"{t.day}/{t.month}/{t.year} {t.hour}:{t.minute:02d}" for t in true]
    raw = orders(500, order_date=texts, order_id=[str(i) for i in range(500)])
    out, report = validate_orders(raw, return_report=True)
    got = out.set_index("order_id")["order_date"]
    expected = pd.Series(true.to_numpy(), index=[str(i) for i in range(500)])
    assert (got.loc[expected.index].to_numpy() == expected.to_numpy()).all()
    assert report.date_readings == {"order_date": "day-first"}
    assert "read day-first" in report.summary()


def test_month_first_and_iso_and_explicit():
    d, r = parse_dates(pd.Series(["1/13/2024 8:26 PM", "2/3/24"]))
    assert d.tolist() == [pd.Timestamp("2024-01-13 20:26"), pd.Timestamp("2024-02-03")]
    assert r == "month-first"
    d, r = parse_dates(pd.Series(["2024-01-05 10:00:00 +0800", "2024-01-06T11:22:33Z",
                                  "2024/1/7", "2024年1月8日"]))
    assert r == "ISO" and d.dt.day.tolist() == [5, 6, 7, 8]
    assert d.iloc[0] == pd.Timestamp("2024-01-05 10:00")  # wall-clock time kept
    raw = orders(3, order_date=["1/2/2024", "3/4/2024", "5/6/2024"])
    out, rep = validate_orders(raw, dayfirst=True, return_report=True)
    assert out["order_date"].dt.month.tolist() == [2, 4, 6] and rep.date_readings == {
        "order_date": "day-first"}
    out, rep = validate_orders(raw, date_format="%m/%d/%Y", return_report=True)
    assert out["order_date"].dt.month.tolist() == [1, 3, 5]
    assert rep.date_readings == {"order_date": "%m/%d/%Y"}


def test_ambiguous_dates_refused_with_both_fixes():
    raw = orders(3, order_date=["1/2/2024 8:26", "3/4/2024 9:00", "5/6/2024 10:00"])
    with pytest.raises(CrmDataError) as err:
        validate_orders(raw)
    text = str(err.value)
    assert "'order_date'" in text and "'1/2/2024 8:26'" in text
    assert "dayfirst=True" in text and "date_format='%d/%m/%Y %H:%M'" in text
    assert "--dayfirst" in text and "--date-format" in text
    # the same day in both readings is no ambiguity; two rows are too few to refuse
    assert len(validate_orders(orders(3, order_date=["5/5/2024", "6/6/2024", "7/7/2024"]))) == 3
    out, rep = validate_orders(orders(2, order_date=["1/2/2024", "3/4/2024"]),
                               return_report=True)
    assert "guessed" in rep.date_readings["order_date"] and "--dayfirst" in rep.warnings[0]


def test_conflicting_date_orders_refused_showing_both():
    raw = orders(3, order_date=["13/1/2024", "1/14/2024", "2/2/2024"])
    with pytest.raises(CrmDataError, match=r"mixes two date orders.*day/month/year: row 0: "
                       r"'13/1/2024'.*month/day/year: row 1: '1/14/2024'"):
        validate_orders(raw)


def test_time_only_and_out_of_range_dates_refused():
    with pytest.raises(CrmDataError, match=r"1 times without a date \(row 1: '12:30'\)"):
        validate_orders(orders(3, order_date=["2024-01-01", "12:30", "2024-01-02"]))
    for bad in ("1500-01-01", "9999-12-31 10:00", "1/1/1500"):
        with pytest.raises(CrmDataError, match=r"outside the years 1678-2261"):
            validate_orders(orders(2, order_date=["2024-01-01", bad]))
    with pytest.raises(CrmDataError, match=r"outside the years"):
        validate_orders(orders(2, order_date=[20240101, 15000101]))
    typed = orders(2, order_date=pd.Series(["2024-01-01", "1500-01-01"]).astype(
        "datetime64[s]"))
    with pytest.raises(CrmDataError, match=r"outside the years"):
        validate_orders(typed)


# ------------------------------------------------------------------------------ money
def test_decimal_commas_detected_per_column():
    out = validate_orders(orders(3, amount=["12,50", "1.234,50", "3"]))
    assert out["amount"].tolist() == [12.5, 1234.5, 3.0]
    out = validate_orders(orders(3, amount=["12.50", "1,234.50", "3"]))
    assert out["amount"].tolist() == [12.5, 1234.5, 3.0]
    with pytest.raises(CrmDataError, match=r"decimal=','.*--decimal ,"):
        validate_orders(orders(2, amount=["1,234", "2,500"]))
    assert validate_orders(orders(2, amount=["1,234", "2,500"]), decimal=",")[
        "amount"].tolist() == [1.234, 2.5]
    assert validate_orders(orders(2, amount=["1,234", "2,500"]), decimal=".")[
        "amount"].tolist() == [1234.0, 2500.0]
    with pytest.raises(CrmDataError, match=r"mixes decimal commas"):
        validate_orders(orders(2, amount=["12,50", "1.5"]))


def test_currency_from_cells_mixed_and_stated():
    out, rep = validate_orders(orders(3, amount=["£12.50", "£1,234.50", "3"]),
                               return_report=True)
    assert out["amount"].tolist() == [12.5, 1234.5, 3.0] and rep.currency == "GBP"
    assert "currency: GBP" in rep.summary()
    with pytest.raises(CrmDataError, match=r"mixes currencies: CNY \(row 0: '¥12'\); EUR "
                       r"\(row 2: '€3'\); USD \(row 1: '\$5'\)"):
        validate_orders(orders(3, amount=["¥12", "$5", "€3"]))
    with pytest.raises(CrmDataError, match=r"currency='USD' was given, but the amounts show GBP"):
        validate_orders(orders(2, amount=["£1", "£2"]), currency="usd")
    assert validate_orders(orders(2), currency="usd", return_report=True)[1].currency == "USD"
    assert parse_money(pd.Series(["12.50 RMB", "元8"]))[1] == "CNY"


# -------------------------------------------------------------------------------- ids
@pytest.mark.parametrize("marker", ["N/A", "NULL", "null", "#N/A", "-", "?", "", " n/a ", None])
def test_null_marker_customers_excluded_and_reported(marker):
    raw = orders(4, customer_id=["u1", marker, "u2", "u1"])
    out, rep = validate_orders(raw, return_report=True)
    assert out["order_id"].tolist() == ["o0", "o2", "o3"]
    assert rep.excluded["reason"].tolist() == [REASON_NO_CUSTOMER]
    assert rep.dropped_customers == []
    assert f"excluded 1 order: {REASON_NO_CUSTOMER}" in rep.summary()


def test_only_null_customers_is_an_error_and_order_ids_stay_required():
    with pytest.raises(CrmDataError, match=r"'customer_id' is empty in 2 of 2 rows"):
        validate_orders(orders(2, customer_id=["N/A", None]))
    with pytest.raises(CrmDataError, match=r"'order_id' is empty in 1 of 3 rows"):
        validate_orders(orders(3, order_id=["a", "NULL", "c"]))


def test_null_id_markers_come_from_the_vocabulary():
    assert set(validate.NULL_ID_MARKERS) == set(NULL_ID_MARKERS)
    assert null_ids(pd.Series(["N/A", "x", None, " Null "])).tolist() == [True, False, True,
                                                                         True]


def test_float_ids_keep_their_integer_text():
    out = validate_orders(orders(3, customer_id=[12346.0, np.nan, 17850.0],
                                 order_id=["536365.0", "536366.0", "536367.0"]))
    assert out["customer_id"].tolist() == ["12346", "17850"]
    assert out["order_id"].tolist() == ["536365", "536367"]
    text = pd.Series(["12346.0", "17850.0"], dtype="str")
    assert ids_as_text(text, "customer_id").tolist() == ["12346", "17850"]
    mixed = orders(2, order_id=["1.0", "A-7"])
    assert validate_orders(mixed)["order_id"].tolist() == ["1.0", "A-7"]


# ------------------------------------------------------------------- as_of and outliers
def test_as_of_leaves_later_orders_out():
    out, rep = validate_orders(orders(4), as_of="2024-03-02", return_report=True)
    assert out["order_id"].tolist() == ["o0", "o1"]
    counts = rep.exclusion_counts()
    assert counts.to_dict("records") == [{"reason": REASON_AFTER_AS_OF, "orders": 2}]
    with pytest.raises(CrmDataError, match=r"All 4 orders are dated after as_of.*--as-of"):
        validate_orders(orders(4), as_of="2020-01-01")


def shop_with_typo() -> pd.DataFrame:
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(619) % 360, unit="D")
    dates = [*days.strftime("%Y-%m-%d"), "2099-01-01"]
    return orders(620, order_date=dates, order_id=[str(i) for i in range(620)])


def test_date_outlier_rule():
    days = np.array([19723 + d for d in range(0, 360, 6)] + [47482])
    counts = np.array([10] * 59 + [29, 1])
    assert date_outlier_cutoff(days, counts) == days[-2]
    assert date_outlier_cutoff(days[:-1], counts[:-1]) is None
    assert date_outlier_cutoff(days[::-1], counts[::-1]) == days[-2]  # any order
    # too many orders after the gap: a real second period, not a typo
    assert date_outlier_cutoff(np.array([0, 1, 500]), np.array([50, 49, 2])) is None
    assert date_outlier_cutoff(np.array([0, 1, 500]), np.array([50, 49, 1])) == 1
    assert date_outlier_cutoff(np.array([0, 181]), np.array([5, 5])) is None
    assert date_outlier_cutoff(np.array([5]), np.array([3])) is None


def test_date_outlier_excluded_with_a_warning():
    out, rep = validate_orders(shop_with_typo(), return_report=True)
    assert len(out) == 619 and out["order_date"].max() < pd.Timestamp("2025-01-01")
    assert rep.excluded["reason"].tolist() == [REASON_DATE_OUTLIER]
    assert any("2099-01-01" in w and "likely typo" in w for w in rep.warnings)
    assert "2099-01-01" in rep.summary()


# ----------------------------------------------------------------------------- report
def test_margin_above_amount_kept_and_warned():
    out, rep = validate_orders(orders(3, margin=[1.0, 50.0, 2.0]), return_report=True)
    assert len(out) == 3
    assert rep.warnings == ["1 order has a margin larger than their amount (kept; check the "
                            "margin column)"]


def test_report_repr_is_short_and_counts_orders():
    n = 5000
    raw = orders(n, order_id=[str(i) for i in range(n)],
                 order_date=["2024-03-01"] * n, status=["refunded"] * (n - 1) + ["paid"])
    _, rep = validate_orders(raw, return_report=True)
    assert len(repr(rep)) < 200 and "4999 excluded" in repr(rep)
    assert "excluded 4999 orders: fully refunded" in rep.summary()
    engine = ValidationReport(10, 8, pd.DataFrame({"reason": ["never paid"]}),
                              excluded_counts={"never paid": 2})
    assert engine.exclusion_counts().to_dict("records") == [{"reason": "never paid",
                                                             "orders": 2}]


# --------------------------------------------------------------- columns and the scale
def test_missing_column_suggestions_respect_types_and_each_other():
    raw = pd.DataFrame({
        "InvoiceNo": ["536365", "536366"], "StockCode": ["85123A", "71053"],
        "Quantity": [6, 2], "InvoiceDate": ["1/12/2010 8:26", "13/12/2010 8:28"],
        "UnitPrice": [2.55, 3.39], "CustomerID": [17850.0, 13047.0],
        "Country": ["United Kingdom", "France"],
    })
    with pytest.raises(CrmDataError) as err:
        validate_orders(raw)
    text = str(err.value)
    assert "For 'customer_id': The closest existing column is 'CustomerID'" in text
    assert "For 'order_id': The closest existing column is 'InvoiceNo'" in text
    assert "For 'order_date': The closest existing column is 'InvoiceDate'" in text
    assert "Country" not in text.split("Columns present")[1].split("]", 1)[1]
    assert "--columns customer_id=CustomerID,order_id=InvoiceNo,order_date=InvoiceDate" in text
    assert "--columns quantity=Quantity,unit_price=UnitPrice" in text
    total = raw.assign(Total=raw["Quantity"] * raw["UnitPrice"])
    with pytest.raises(CrmDataError, match=r"For 'amount': The closest existing column is "
                       r"'Total'.*--columns .*amount=Total"):
        validate_orders(total)


def test_many_extra_columns_are_linear():
    k = 20_000
    head = orders(5, order_date=["2024-01-03", "2024-01-01", "2024-01-05", "2024-01-02",
                                 "2024-01-04"])
    wide = pd.concat([head, pd.DataFrame(np.zeros((5, k)), columns=[f"x{i}" for i in range(k)]
                                         ).astype(str)], axis=1)
    start = time.process_time()
    out = validate_orders(wide)
    assert time.process_time() - start < 6  # was minutes; about 1 s on a quiet machine
    assert out.shape == (5, k + 4) and out["order_id"].tolist() == ["o1", "o3", "o0", "o4",
                                                                    "o2"]
    assert out["x7"].tolist() == ["0.0"] * 5
