"""Real export shapes through read_orders: Tmall money, unpaid orders, line items and
returns, Shopify currency, and broken files (issues 12, 13 and 15 item 1).

Every fixture is written here, row by row, and every expected number is computed again
in plain Python from those rows (never by the code under test).
"""

import gzip
from datetime import datetime, timedelta

import pandas as pd
import pytest

from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.vocab import (
    EXCLUDED_STATUSES,
    REASON_CANCELLED,
    REASON_NO_CUSTOMER,
    REASON_REFUNDED,
    REASON_REVERSED,
    REASON_UNPAID,
)
from crm_analytics.orders.lines import combine_line_items, reversal_rows
from crm_analytics.orders.readers import read_orders
from crm_analytics.orders.validate import validate_orders


def _csv(path, header, rows, encoding="utf-8"):
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


# ------------------------------------------------------------------------- Tmall money

# (order, buyer, 总金额, what the buyer kept, refunded, status, paid time)
TMALL = [
    ("T0001", "张三", 760.0, 568.0, 192.0, "交易成功", "2024-03-01 10:00:00"),
    ("T0002", "李四", 120.0, 120.0, 0.0, "交易成功", "2024-03-02 11:00:00"),
    ("T0003", "王五", 300.0, 100.0, 200.0, "交易成功", "2024-03-03 12:00:00"),
    ("T0004", "赵六", 200.0, 0.0, 200.0, "交易关闭", "2024-03-04 13:00:00"),
    ("T0005", "张三", 150.0, 120.0, 30.0, "交易成功", "2024-04-05 09:30:00"),
    ("T0006", "钱七", 88.0, 0.0, 0.0, "等待买家付款", ""),
    ("T0007", "孙八", 99.0, 0.0, 99.0, "卖家已发货，等待买家确认", "2024-05-07 08:00:00"),
]
TMALL_HEADER = ["订单编号", "买家会员名", "总金额", "买家实际支付金额", "退款金额", "订单状态",
                "订单创建时间", "订单付款时间"]


def _tmall(path, *, net, buyer=True, status=True):
    rows = []
    for oid, who, total, kept, refund, st, paid_at in TMALL:
        paid = kept if net else (total if paid_at else 0.0)
        created = (paid_at or "2024-05-08 10:00:00").replace(":00:00", ":00:01")
        rows.append([oid, who, f"{total:.2f}", f"{paid:.2f}", f"{refund:.2f}", st, created,
                     paid_at])
    header = list(TMALL_HEADER)
    for keep, name in ((buyer, "买家会员名"), (status, "订单状态")):
        if not keep:
            i = header.index(name)
            header, rows = header[:i] + header[i + 1:], [r[:i] + r[i + 1:] for r in rows]
    return _csv(path, header, rows, "gb18030")


def _tmall_expected():
    """What each order's buyer kept, and why the others are left out, from TMALL."""
    kept, reasons = {}, {}
    for oid, _, _, money, _, st, paid_at in TMALL:
        if not paid_at:
            reasons[oid] = REASON_UNPAID
        elif st == "交易关闭":
            reasons[oid] = REASON_CANCELLED
        elif money <= 0:
            reasons[oid] = REASON_REFUNDED
        else:
            kept[oid] = money
    return kept, reasons


@pytest.mark.parametrize("net", [True, False])
def test_tmall_paid_amount_read_once(tmp_path, net):
    path = _tmall(tmp_path / "tmall.csv", net=net)
    orders, report = read_orders(path, return_report=True)
    kept, reasons = _tmall_expected()
    assert orders.set_index("order_id")["amount"].to_dict() == pytest.approx(kept)
    assert orders.set_index("order_id").loc["T0001", "amount"] == 568.0  # 760 - 192, once
    assert orders.set_index("order_id").loc["T0003", "amount"] == 100.0  # kept 100: a customer
    assert report.excluded.set_index("order_id")["reason"].to_dict() == reasons
    reading = "already net of refunds" if net else "paid before refunds"
    assert reading in report.summary()
    assert report.currency == "CNY"  # Taobao/Tmall orders are paid in yuan


def test_tmall_net_report_notes_the_rule(tmp_path):
    report = read_orders(_tmall(tmp_path / "t.csv", net=True), return_report=True)[1]
    assert "总金额 = 买家实际支付金额 + 退款金额 on every paid row" in report.summary()


def test_tmall_net_without_total_column_told_by_refund_above_paid(tmp_path):
    path = tmp_path / "t.csv"
    _csv(path, ["订单编号", "买家会员名", "买家实际支付金额", "退款金额", "订单付款时间"],
         [["1", "a", "568.00", "192.00", "2024-03-01 10:00"],
          ["2", "b", "20.00", "80.00", "2024-03-02 10:00"]])
    orders, report = read_orders(path, return_report=True)
    assert orders.set_index("order_id")["amount"].to_dict() == {"1": 568.0, "2": 20.0}
    assert "退款金额 is larger than 买家实际支付金额 on 1 paid rows" in report.summary()


def test_tmall_unpaid_without_status_column(tmp_path):
    rows, expected_unpaid, expected_paid = [], set(), {}
    for i in range(20):
        paid = i % 5 != 4
        created = datetime(2024, 6, 1, 9) + timedelta(days=i, minutes=7 * i)
        paid_at = created + timedelta(minutes=3 + i)
        rows.append([f"U{i:04d}", f"买家{i % 7}", f"{30 + i}.00" if paid else "0.00",
                     created.strftime("%Y-%m-%d %H:%M:%S"),
                     paid_at.strftime("%Y-%m-%d %H:%M:%S") if paid else ""])
        if paid:
            expected_paid[f"U{i:04d}"] = (30.0 + i, created, paid_at)
        else:
            expected_unpaid.add(f"U{i:04d}")
    path = _csv(tmp_path / "t.csv", ["订单编号", "买家会员名", "买家实际支付金额", "订单创建时间",
                                     "订单付款时间"], rows, "gb18030")
    orders, report = read_orders(path, return_report=True)
    assert set(orders["order_id"]) == set(expected_paid)
    assert report.exclusion_counts().set_index("reason")["orders"].to_dict() == {
        REASON_UNPAID: 4}
    assert set(report.excluded["order_id"]) == expected_unpaid
    assert f"excluded 4 orders: {REASON_UNPAID}" in report.summary()
    # created and paid times are kept, as datetimes
    by_id = orders.set_index("order_id")
    for oid, (amount, created, paid_at) in expected_paid.items():
        assert by_id.loc[oid, "amount"] == amount
        assert by_id.loc[oid, "created_at"] == pd.Timestamp(created)
        assert by_id.loc[oid, "paid_at"] == pd.Timestamp(paid_at)
        assert by_id.loc[oid, "order_date"] == pd.Timestamp(paid_at)

    every = read_orders(path, include_unpaid=True)
    assert len(every) == 20
    unpaid = every[every["status"] == "unpaid"]
    assert set(unpaid["order_id"]) == expected_unpaid
    assert unpaid["paid_at"].isna().all() and unpaid["created_at"].notna().all()
    assert "unpaid" in EXCLUDED_STATUSES  # customer analyses leave them out


def test_tmall_include_unpaid_returns_refunded_and_closed_with_their_status(tmp_path):
    path = _tmall(tmp_path / "t.csv", net=True)
    every, report = read_orders(path, include_unpaid=True, return_report=True)
    status = every.set_index("order_id")["status"].to_dict()
    assert status["T0006"] == "unpaid" and status["T0004"] == "cancelled"
    assert status["T0007"] == "refunded" and status["T0001"] == "交易成功"
    assert every.set_index("order_id").loc["T0006", "amount"] == 88.0  # the order's value
    assert len(every) == len(TMALL)
    assert "include_unpaid" in report.summary()
    # validate_orders on the table leaves the same orders out as the default read
    assert set(validate_orders(every)["order_id"]) == set(read_orders(path)["order_id"])


def test_tmall_without_buyer_column(tmp_path):
    path = _tmall(tmp_path / "t.csv", net=True, buyer=False)
    with pytest.raises(CrmDataError, match=r"Customer analytics needs the buyer.*订单报表.*"
                       r"买家会员名 or 买家ID.*--columns customer_id=订单编号") as err:
        read_orders(path)
    assert "source='generic'" not in str(err.value) and "--source generic" not in str(err.value)
    # one column in two roles, when asked for: each order its own customer
    orders = read_orders(path, columns={"customer_id": "订单编号"}, include_unpaid=True)
    assert (orders["customer_id"] == orders["order_id"]).all() and len(orders) == len(TMALL)
    assert orders.set_index("order_id").loc["T0001", "amount"] == 568.0


def test_tmall_unpaid_excluded_without_status_even_in_net_file(tmp_path):
    path = _tmall(tmp_path / "t.csv", net=True, status=False)
    orders, report = read_orders(path, return_report=True)
    reasons = report.excluded.set_index("order_id")["reason"].to_dict()
    # without a status column the closed order is a full refund: the buyer kept nothing
    assert reasons == {"T0004": REASON_REFUNDED, "T0006": REASON_UNPAID,
                       "T0007": REASON_REFUNDED}
    assert orders.set_index("order_id").loc["T0003", "amount"] == 100.0


# ------------------------------------------------------------------- UK line-item table

# (InvoiceNo, StockCode, Quantity, InvoiceDate D/M/YYYY H:MM, UnitPrice, CustomerID)
UK_LINES = [
    ("536365", "85123A", 6, "1/12/2010 8:26", 2.55, "17850.0"),
    ("536365", "71053", 6, "1/12/2010 8:26", 3.39, "17850.0"),
    ("536365", "84406B", 8, "1/12/2010 8:26", 2.75, "17850.0"),
    ("536366", "22633", 6, "1/12/2010 8:28", 1.85, "17850.0"),
    ("536367", "84879", 32, "1/12/2010 8:34", 1.69, "13047.0"),
    ("536368", "22960", 6, "1/12/2010 8:34", 4.25, "13047.0"),
    ("536370", "22728", 24, "1/12/2010 8:45", 3.75, "12583.0"),
    ("536370", "POST", 3, "1/12/2010 8:45", 18.00, "12583.0"),
    ("536414", "22139", 5, "1/12/2010 11:52", 2.00, ""),
    ("536414", "22140", 2, "1/12/2010 11:52", 1.00, ""),
    ("C536383", "35004C", -1, "1/12/2010 9:49", 4.65, "17850.0"),
    ("536600", "22633", 12, "13/12/2010 10:00", 1.85, "17850.0"),
    ("537000", "22086", 10, "15/12/2010 12:00", 2.55, "14688.0"),
    ("537001", "22086", -2, "16/12/2010 9:00", 2.55, "14688.0"),
    ("C537100", "84879", -40, "20/12/2010 14:00", 1.69, "13047.0"),
    ("541431", "23166", 74215, "18/1/2011 10:01", 1.04, "12346.0"),
    ("C541433", "23166", -74215, "18/1/2011 10:17", 1.04, "12346.0"),
    ("C541500", "22086", -1, "19/1/2011 10:00", 9.99, "99999.0"),
]
UK_COLUMNS = {"customer_id": "CustomerID", "order_id": "InvoiceNo",
              "order_date": "InvoiceDate", "quantity": "Quantity", "unit_price": "UnitPrice"}


def _uk(path):
    header = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
              "CustomerID", "Country"]
    rows = [[inv, code, f"ITEM {code}", q, when, f"{price:.2f}", cust, "United Kingdom"]
            for inv, code, q, when, price, cust in UK_LINES]
    return _csv(path, header, rows)


def _uk_expected():
    """Orders and their net amounts by the rule, in plain Python from UK_LINES."""
    orders, reversed_by, dates, owner, position = {}, {}, {}, {}, {}
    for row, (inv, _, q, when, price, cust) in enumerate(UK_LINES):
        cust = cust[:-2] if cust.endswith(".0") else cust
        day, month, rest = when.split("/")
        year, clock = rest.split()
        hour, minute = clock.split(":")
        stamp = datetime(int(year), int(month), int(day), int(hour), int(minute))
        if inv.startswith("C") or q < 0:
            if cust:
                reversed_by[cust] = reversed_by.get(cust, 0.0) + abs(q * price)
            continue
        orders[inv] = orders.get(inv, 0.0) + q * price
        dates[inv] = min(dates.get(inv, stamp), stamp)
        owner[inv] = cust
        position.setdefault(inv, row)
    kept = {inv: m for inv, m in orders.items() if owner[inv]}
    for cust, money in reversed_by.items():
        # latest first; at the same time, the invoice later in the file first
        for inv in sorted((i for i in kept if owner[i] == cust),
                          key=lambda i: (dates[i], position[i]), reverse=True):
            take = min(money, kept[inv])
            kept[inv] -= take
            money -= take
    gone = {inv for inv, m in kept.items() if m <= 0.005}
    return ({inv: m for inv, m in kept.items() if inv not in gone}, gone,
            {inv for inv in orders if not owner[inv]}, dates, owner)


def test_uk_line_items_combined_and_reversals_netted(tmp_path):
    path = _uk(tmp_path / "Online Retail.csv")
    orders, report = read_orders(path, columns=UK_COLUMNS, return_report=True)
    kept, reversed_orders, guests, dates, owner = _uk_expected()
    by_id = orders.set_index("order_id")
    assert by_id["amount"].to_dict() == pytest.approx(kept)
    assert by_id["order_date"].to_dict() == {inv: pd.Timestamp(dates[inv]) for inv in kept}
    assert by_id["customer_id"].to_dict() == {inv: owner[inv] for inv in kept}
    reasons = report.excluded.set_index("order_id")["reason"].to_dict()
    assert reasons == {**{inv: REASON_REVERSED for inv in reversed_orders},
                       **{inv: REASON_NO_CUSTOMER for inv in guests}}
    # the 77,183.60 order reversed the same day: not a customer, never the top one
    assert "541431" in reversed_orders and "536368" in reversed_orders  # 40 x 1.69 spills over
    assert "12346" not in set(orders["customer_id"]) and "12346" in report.dropped_customers
    assert not orders["customer_id"].str.endswith(".0").any()
    assert by_id.loc["536365", "quantity"] == 20
    text = report.summary()
    assert "reversal rows" in text and "no order left to net against" in text
    assert "Quantity" not in orders.columns and "unit_price" not in orders.columns


def test_uk_line_items_parquet_with_float_ids(tmp_path):
    table = pd.read_csv(_uk(tmp_path / "uk.csv"))  # CustomerID becomes float with NaN
    assert table["CustomerID"].dtype == float
    table.to_parquet(tmp_path / "uk.parquet")
    got = read_orders(tmp_path / "uk.parquet", columns=UK_COLUMNS, dayfirst=True)
    expected = read_orders(tmp_path / "uk.csv", columns=UK_COLUMNS)
    assert sorted(got["customer_id"]) == sorted(expected["customer_id"])
    assert got.set_index("order_id")["amount"].to_dict() == pytest.approx(
        expected.set_index("order_id")["amount"].to_dict())


def test_uk_unmapped_file_points_to_columns(tmp_path):
    with pytest.raises(CrmDataError, match=r"--columns"):
        read_orders(_uk(tmp_path / "uk.csv"))


def test_combine_line_items_rules():
    lines = pd.DataFrame({
        "order_id": ["A", "A", "B", "C", "R1", "D"],
        "customer_id": [1.0, 1.0, 1.0, 2.0, 1.0, None],
        "order_date": pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-05", "2024-01-03",
                                      "2024-01-06", "2024-01-04"]),
        "amount": [10.0, 5.0, 8.0, 4.0, -10.0, 3.0],
        "margin": [2.0, 1.0, 4.0, 1.0, 0.0, 1.0],
        "channel": ["web", "web", "app", "web", "web", "web"],
    })
    before = lines.copy()
    orders, report = combine_line_items(lines, return_report=True)
    pd.testing.assert_frame_equal(lines, before)  # the input is not changed
    by_id = orders.set_index("order_id")
    # customer 1 spent 15 (A) + 8 (B); 10 reversed: B (latest) goes, A keeps 13
    assert by_id["amount"].to_dict() == {"A": 13.0, "C": 4.0}
    assert by_id.loc["A", "order_date"] == pd.Timestamp("2024-01-01")  # the earliest line
    assert by_id.loc["A", "margin"] == pytest.approx(3.0 * 13 / 15)
    assert by_id.loc["A", "customer_id"] == "1"  # float ids keep their integer text
    assert report.excluded.set_index("order_id")["reason"].to_dict() == {
        "B": REASON_REVERSED, "D": REASON_NO_CUSTOMER}
    assert validate_orders(orders)["order_id"].tolist() == ["A", "C"]


def test_combine_line_items_refusals():
    lines = pd.DataFrame({"order_id": ["1", "1", "2"], "customer_id": ["a", "b", "a"],
                          "order_date": ["2024-01-01"] * 3, "amount": [1, 2, 3]})
    with pytest.raises(CrmDataError, match=r"1 order ids belong to several customers"):
        combine_line_items(lines)
    ok = lines.assign(customer_id="a")
    with pytest.raises(CrmDataError, match=r"appears at least twice.*given twice"):
        combine_line_items(pd.concat([ok, ok]))
    with pytest.raises(CrmDataError, match=r"missing .*amount \(or quantity and unit_price\)"
                       r".*--columns"):
        combine_line_items(ok.drop(columns="amount"))
    with pytest.raises(CrmDataError, match=r"order_id"):
        validate_orders(ok)  # a DataFrame with repeated order ids is still refused


def test_doubled_file_refused_by_read_orders(tmp_path):
    rows = [[f"c{i}", f"o{i}", f"2024-01-{i + 1:02d}", f"{10 + i}.00"] for i in range(5)]
    path = _csv(tmp_path / "twice.csv", ["customer_id", "order_id", "order_date", "amount"],
                rows + rows)
    with pytest.raises(CrmDataError, match=r"twice"):
        read_orders(path)


def test_reversal_rows():
    ids = pd.Series(["536365", "C536379", "C12X", "537001"])
    assert reversal_rows(ids, quantity=pd.Series([1, -1, 1, -2])).tolist() == [
        False, True, False, True]


# ---------------------------------------------------------------------------- Shopify


def _shopify(path, currencies=("USD",)):
    header = ["Name", "Email", "Financial Status", "Paid at", "Currency", "Total",
              "Created at", "Lineitem quantity", "Lineitem name", "Refunded Amount",
              "Cancelled at"]
    rows, expected = [], {}
    for i in range(12):
        name, email, status = f"#{1001 + i}", f"buyer{i % 5}@example.com", "paid"
        if i == 3:
            status = "refunded"
        if i == 5:
            status = "pending"
        if i == 8:
            email = ""
        when = datetime(2024, 2, 1, 10) + timedelta(days=9 * i)
        stamp = when.strftime("%Y-%m-%d %H:%M:%S -0500")
        total = 20.0 + i
        currency = currencies[i % len(currencies)]
        rows.append([name, email, status, "" if status == "pending" else stamp, currency,
                     f"{total:.2f}", stamp, 1, "Tea", "0.00", ""])
        rows.append([name, "", "", "", "", "", "", 2, "Cup", "", ""])
        if status == "paid" and email:
            expected[name] = total
    return _csv(path, header, rows), expected


def test_shopify_usd_export(tmp_path):
    path, expected = _shopify(tmp_path / "orders_export.csv")
    orders, report = read_orders(path, return_report=True)
    assert orders.set_index("order_id")["amount"].to_dict() == expected
    assert report.currency == "USD"
    assert "yuan" not in report.summary()
    assert report.excluded.set_index("order_id")["reason"].to_dict() == {
        "#1004": REASON_REFUNDED, "#1006": REASON_UNPAID, "#1009": REASON_NO_CUSTOMER}
    assert orders["created_at"].notna().all() and orders["paid_at"].notna().all()
    assert (orders.set_index("order_id").loc["#1001", "quantity"]) == 3
    every = read_orders(path, include_unpaid=True)
    assert every.set_index("order_id").loc["#1006", "status"] == "unpaid"
    assert pd.isna(every.set_index("order_id").loc["#1006", "paid_at"])


def test_shopify_several_currencies_refused(tmp_path):
    path, _ = _shopify(tmp_path / "mixed.csv", currencies=("USD", "CAD"))
    with pytest.raises(CrmDataError, match=r"several currencies \((USD|CAD): 6 orders"):
        read_orders(path)
    path, _ = _shopify(tmp_path / "usd.csv")
    with pytest.raises(CrmDataError, match=r"currency='EUR' \(command line: --currency EUR\)"):
        read_orders(path, currency="EUR")


def test_shopify_without_buyer_columns(tmp_path):
    path, _ = _shopify(tmp_path / "s.csv")
    table = pd.read_csv(path, dtype=str).drop(columns="Email")
    table.to_csv(path, index=False)
    with pytest.raises(CrmDataError, match=r"needs the buyer.*'Email'.*--columns customer_id=Name"):
        read_orders(path, source="shopify")


# ------------------------------------------------------------------------ broken files


def test_text_file_named_gz(tmp_path):
    path = tmp_path / "orders.csv.gz"
    path.write_text("customer_id,order_id,order_date,amount\na,1,2024-01-01,3\n")
    with pytest.raises(CrmDataError, match=r"Could not decompress orders.csv.gz.*gzip.*"
                       r"rename it to 'orders.csv'"):
        read_orders(path)
    real = tmp_path / "real.csv.gz"
    real.write_bytes(gzip.compress(path.read_bytes()))
    assert read_orders(real)["order_id"].tolist() == ["1"]


def test_binary_garbage_is_not_a_table(tmp_path):
    import random

    path = tmp_path / "orders.csv"
    path.write_bytes(random.Random(7).randbytes(4096))
    with pytest.raises(CrmDataError, match=r"is not a readable table") as err:
        read_orders(path)
    assert "header row but no orders" not in str(err.value)
    png = tmp_path / "photo.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(CrmDataError, match=r"is not a readable table"):
        read_orders(png)


def test_directory_encoding_and_several_files(tmp_path):
    with pytest.raises(CrmDataError, match=r"is a directory"):
        read_orders(tmp_path)
    path = _csv(tmp_path / "o.csv", ["customer_id", "order_id", "order_date", "amount"],
                [["a", "1", "2024-01-01", "3"]])
    with pytest.raises(CrmDataError, match=r"Unknown encoding 'no-such-codec'.*--encoding"):
        read_orders(path, encoding="no-such-codec")
    with pytest.raises(CrmDataError, match=r"reads one file; got a glob.*engine_source"):
        read_orders(str(tmp_path / "*.parquet"))
    with pytest.raises(CrmDataError, match=r"reads one file; got a list.*engine_source"):
        read_orders([path, path])


def test_year_1500_date_is_a_clear_error(tmp_path):
    path = _csv(tmp_path / "o.csv", ["customer_id", "order_id", "order_date", "amount"],
                [["a", "1", "1500-01-01", "3"], ["b", "2", "2024-01-01", "4"]])
    with pytest.raises(CrmDataError, match=r"1500-01-01"):
        read_orders(path)
    taobao = _csv(tmp_path / "t.csv", ["订单编号", "买家会员名", "买家实际支付金额", "订单付款时间"],
                  [["1", "a", "3", "1500-01-01 10:00"], ["2", "b", "4", "2024-01-01 10:00"]])
    with pytest.raises(CrmDataError, match=r"'订单付款时间' has 1 dates outside .*1500-01-01"):
        read_orders(taobao)


def test_unknown_columns_key_names_the_command_line(tmp_path):
    path = _uk(tmp_path / "uk.csv")
    with pytest.raises(CrmDataError, match=r"\['price'\] are not canonical names.*unit_price"
                       r".*--columns"):
        read_orders(path, columns={"price": "UnitPrice"})


def test_generic_include_unpaid_and_one_column_in_two_roles(tmp_path):
    path = _csv(tmp_path / "o.csv", ["order_no", "created", "total", "status"],
                [["1", "2024-01-01 10:00", "5", "paid"], ["2", "2024-01-02 10:00", "7", "unpaid"]])
    columns = {"customer_id": "order_no", "order_id": "order_no", "order_date": "created",
               "amount": "total"}
    orders, report = read_orders(path, columns=columns, return_report=True)
    assert orders[["customer_id", "order_id"]].to_numpy().tolist() == [["1", "1"]]
    assert len(report.excluded) == 1
    every = read_orders(path, columns=columns, include_unpaid=True)
    assert every["status"].tolist() == ["paid", "unpaid"]


def test_glob_as_path_object(tmp_path):
    with pytest.raises(CrmDataError, match=r"got a glob"):
        read_orders(tmp_path / "parts" / "*.parquet")


def test_bad_decimal_and_currency_parameters(tmp_path):
    path, _ = _shopify(tmp_path / "s.csv")
    with pytest.raises(CrmDataError, match=r"'decimal' parameter .*--decimal"):
        read_orders(path, decimal=";")
    with pytest.raises(CrmDataError, match=r"'currency' parameter .*--currency"):
        read_orders(path, currency="dollars")
