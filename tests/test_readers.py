"""Tests for crm_analytics.orders.readers: files, encodings and platform exports.

Every fixture file is written into tmp_path here, so the exact bytes (GBK, BOM, ="..."
wrapped ids, trailing-space headers) are visible in the test that uses them.
"""

import pandas as pd
import pytest

from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.vocab import (
    REASON_CANCELLED,
    REASON_NO_CUSTOMER,
    REASON_REFUNDED,
    REASON_UNPAID,
)
from crm_analytics.orders.encode import prepare_orders
from crm_analytics.orders.readers import SOURCES, detect_source, read_orders
from crm_analytics.orders.validate import validate_orders, validation_report

# --------------------------------------------------------------------------- fixtures

# Taobao classic ExportOrderList: trailing spaces in headers, ="..." order numbers (16 and
# 19 digits), a quoted amount with a thousands separator, closed / unpaid orders, a partial
# refund on a successful order, dates such as 2016/5/23 22:02.
TAOBAO_CLASSIC = (
    "订单编号 ,买家会员名 ,买家支付宝账号,买家应付货款,买家应付邮费,总金额,买家实际支付金额 ,"
    "订单状态 ,买家留言,收货人姓名,收货地址 ,联系手机,订单创建时间 ,订单付款时间 ,宝贝标题 ,"
    "宝贝种类,宝贝总数量,订单关闭原因,退款金额\n"
    '="1930679858170647",tb小明,ming@example.com,118.00,10.00,128.00,128.00,交易成功,,'
    "王小明,浙江省 杭州市 西湖区 文三路1号,13800000000,2016/5/23 21:50,2016/5/23 22:02,"
    "碧螺春 250g,1,2,订单未关闭,0.00\n"
    '="2901234567890123451",tb小红,hong@example.com,59.90,0.00,59.90,59.90,'
    "买家已付款，等待卖家发货,请尽快发货,李小红,北京 北京市 朝阳区 建国路2号,13900000000,"
    "2016/6/1 9:05,2016/6/1 9:06,龙井 100g,1,1,订单未关闭,0.00\n"
    '="2901234567890123452",tb小明,ming@example.com,88.00,0.00,88.00,0.00,交易关闭,,'
    "王小明,浙江省 杭州市 西湖区 文三路1号,13800000000,2016/6/2 10:00,,普洱 357g,1,1,"
    "买家不想买了,0.00\n"
    '="2901234567890123453",阿强,qiang@example.com,45.00,0.00,45.00,0.00,等待买家付款,,'
    "张强,广东省 深圳市 南山区,13700000000,2016/6/3 11:00,,白茶 200g,1,1,订单未关闭,0.00\n"
    '="2901234567890123454",tb小红,hong@example.com,200.00,0.00,200.00,200.00,交易成功,,'
    "李小红,北京 北京市 朝阳区 建国路2号,13900000000,2016/6/5 20:00,2016/6/5 20:01,"
    "红茶礼盒,2,4,订单未关闭,50.00\n"
    '="2901234567890123455",老王,wang@example.com,99.00,0.00,99.00,99.00,交易关闭,,'
    "王老,江苏省 南京市 玄武区,13600000000,2016/6/6 8:00,2016/6/6 8:02,茶具,1,1,"
    "退款,99.00\n"
    '="2901234567890123456",小刚,gang@example.com,1299.00,0.00,1299.00,"1,299.00",'
    "卖家已发货，等待买家确认,,刘刚,四川省 成都市 武侯区,13500000000,2016/5/3 8:00,"
    "2016/5/3 8:01,紫砂壶,1,1,订单未关闭,0.00\n"
)

# Newer line-level export: one row per 子订单, summed per 主订单编号.
TAOBAO_LINES = (
    "子订单编号,主订单编号,买家会员名,商品标题,购买数量,买家应付货款,买家实付金额,订单状态,"
    "退款状态,退款金额,订单创建时间,订单付款时间,收货地址\n"
    # order A: two paid lines, one partially refunded -> 50 + 30 - 10 = 70
    '="3000000000000000011",="3000000000000000001",买家甲,茶杯,2,50.00,50.00,交易成功,'
    "没有申请退款,0.00,2023-11-11 00:01:05,2023-11-11 00:02:00,上海 上海市 浦东新区\n"
    '="3000000000000000012",="3000000000000000001",买家甲,茶盘,1,30.00,30.00,交易成功,'
    "退款成功,10.00,2023-11-11 00:01:05,2023-11-11 00:02:00,上海 上海市 浦东新区\n"
    # order B: one line closed after a refund, one kept -> 60
    '="3000000000000000021",="3000000000000000002",买家乙,茶叶A,1,40.00,40.00,交易关闭,'
    "退款成功,40.00,2023-11-12 10:00:00,2023-11-12 10:01:00,湖南省 长沙市\n"
    '="3000000000000000022",="3000000000000000002",买家乙,茶叶B,1,60.00,60.00,交易成功,'
    "没有申请退款,0.00,2023-11-12 10:00:00,2023-11-12 10:01:00,湖南省 长沙市\n"
    # order C: every line closed -> excluded (closed)
    '="3000000000000000031",="3000000000000000003",买家丙,茶叶C,1,25.00,25.00,交易关闭,'
    "退款成功,25.00,2023-11-13 09:00:00,2023-11-13 09:01:00,湖北省 武汉市\n"
    # order D: unpaid -> excluded
    '="3000000000000000041",="3000000000000000004",买家丁,茶叶D,1,15.00,0.00,等待买家付款,'
    "没有申请退款,0.00,2023-11-14 09:00:00,,福建省 厦门市\n"
    # order E: refund request rejected (退款关闭) -> nothing netted, 80
    '="3000000000000000051",="3000000000000000005",买家甲,茶叶E,1,80.00,80.00,交易成功,'
    "退款关闭,80.00,2023-11-15 09:00:00,2023-11-15 09:05:00,上海 上海市 浦东新区\n"
    # order F: refunded in full but status not closed -> excluded (fully refunded)
    '="3000000000000000061",="3000000000000000006",买家戊,茶叶F,1,35.00,35.00,'
    "卖家已发货，等待买家确认,退款成功,35.00,2023-11-16 09:00:00,2023-11-16 09:05:00,"
    "云南省 昆明市\n"
)

SHOPIFY_HEADER = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,"
    "Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,"
    "Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Billing Name,"
    "Billing Province,Billing Country,Cancelled at,Refunded Amount,Id\n"
)
SHOPIFY_ROWS = (
    # #1001: two line items, order fields only on the first row
    "#1001,alice@example.com,paid,2024-03-05 14:25:00 +0800,fulfilled,2024-03-06 10:00:00 +0800,"
    "yes,CNY,140.00,10.00,0.00,150.00,,0.00,Standard,2024-03-05 14:22:10 +0800,2,Green Tea,50.00,"
    "GT-1,Alice,ZJ,CN,,0.00,5612345678901234\n"
    "#1001,,,,,,,,,,,,,,,,1,Teapot,40.00,TP-1,,,,,,\n"
    # #1002: partially refunded, customer email in mixed case
    "#1002,Bob@Example.com,partially_refunded,2024-03-06 09:00:00 +0800,fulfilled,,no,CNY,"
    "80.00,0.00,0.00,80.00,,0.00,Standard,2024-03-06 08:59:00 +0800,1,Oolong,80.00,OL-1,Bob,"
    "SH,CN,,30.00,5612345678901235\n"
    # #1003: fully refunded
    "#1003,alice@example.com,refunded,2024-03-07 10:00:00 +0800,,,yes,CNY,40.00,0.00,0.00,"
    "40.00,,0.00,Standard,2024-03-07 09:58:00 +0800,1,Black Tea,40.00,BT-1,Alice,ZJ,CN,,40.00,"
    "5612345678901236\n"
    # #1004: cancelled
    "#1004,carol@example.com,voided,,,,no,CNY,60.00,0.00,0.00,60.00,,0.00,Standard,"
    "2024-03-08 11:00:00 +0800,1,White Tea,60.00,WT-1,Carol,BJ,CN,2024-03-08 12:00:00 +0800,"
    "0.00,5612345678901237\n"
    # #1005: POS walk-in sale without a customer
    "#1005,,paid,2024-03-09 15:00:00 +0800,fulfilled,,no,CNY,20.00,0.00,0.00,20.00,,0.00,,"
    "2024-03-09 15:00:00 +0800,1,Cup,20.00,CU-1,,,,,0.00,5612345678901238\n"
    # #1006: pending payment
    "#1006,dave@example.com,pending,,,,no,CNY,35.00,0.00,0.00,35.00,,0.00,Standard,"
    "2024-03-10 10:00:00 +0800,1,Pu-erh,35.00,PE-1,Dave,GD,CN,,0.00,5612345678901239\n"
    # #1007: three line items, another UTC offset: keep the local wall-clock time
    "#1007,erin@example.com,paid,2024-03-11 09:00:00 -0500,,,no,CNY,90.00,5.00,0.00,95.00,"
    "SPRING,0.00,Standard,2024-03-11 08:55:00 -0500,1,Matcha,30.00,MA-1,Erin,NY,US,,0.00,"
    "5612345678901240\n"
    "#1007,,,,,,,,,,,,,,,,2,Whisk,20.00,WH-1,,,,,,\n"
    "#1007,,,,,,,,,,,,,,,,1,Bowl,20.00,BO-1,,,,,,\n"
)


def _write(path, text, encoding):
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def taobao_gbk(tmp_path):
    return _write(tmp_path / "ExportOrderList201606.csv", TAOBAO_CLASSIC, "gbk")


@pytest.fixture
def shopify_csv(tmp_path):
    return _write(tmp_path / "orders_export_1.csv", SHOPIFY_HEADER + SHOPIFY_ROWS, "utf-8")


@pytest.fixture
def canonical():
    return pd.DataFrame(
        {
            "customer_id": ["007", "u2", "007", "u3"],
            "order_id": ["1930679858170647123", "2901234567890123451", "12", "9007199254740993"],
            "order_date": pd.to_datetime(
                ["2024-01-05 10:30", "2024-01-06", "2024-02-01 08:00", "2024-02-03"],
                format="ISO8601",
            ),
            "amount": [99.5, 20.0, 0.1, 1234.56],
            "margin": [30.0, 5.0, 0.05, 400.0],
            "region": ["浙江", "北京", "浙江", "上海"],
        }
    )


# ------------------------------------------------------------------------ Taobao classic


def test_taobao_gbk_classic_export(taobao_gbk):
    orders, report = read_orders(taobao_gbk, return_report=True)  # source="auto" detects it
    pd.testing.assert_frame_equal(orders, read_orders(taobao_gbk))
    by_id = orders.set_index("order_id")
    assert list(orders.columns[:4]) == ["customer_id", "order_id", "order_date", "amount"]
    assert sorted(by_id.index) == [
        "1930679858170647", "2901234567890123451", "2901234567890123454", "2901234567890123456"
    ]
    assert by_id.loc["1930679858170647", "amount"] == 128.0
    assert by_id.loc["2901234567890123454", "amount"] == 150.0  # 200 paid - 50 refunded
    assert by_id.loc["2901234567890123456", "amount"] == 1299.0
    # paid time, not creation time; the year-first slash format parsed month/day right
    assert by_id.loc["1930679858170647", "order_date"] == pd.Timestamp("2016-05-23 22:02")
    assert by_id.loc["2901234567890123456", "order_date"] == pd.Timestamp("2016-05-03 08:01")
    assert by_id.loc["1930679858170647", "customer_id"] == "tb小明"
    assert by_id.loc["1930679858170647", "province"] == "浙江省"
    assert by_id.loc["2901234567890123451", "province"] == "北京"
    assert by_id.loc["2901234567890123451", "status"] == "买家已付款，等待卖家发货"
    assert by_id.loc["1930679858170647", "product"] == "碧螺春 250g"
    assert by_id.loc["2901234567890123454", "quantity"] == 4
    assert set(orders["channel"]) == {"taobao"}
    assert orders["order_id"].map(type).eq(str).all()
    assert not orders.attrs  # the report is returned, not stored on the table

    assert report.n_rows_in == 7 and report.n_rows_out == 4
    counts = report.excluded["reason"].value_counts()
    assert counts[REASON_CANCELLED] == 1  # paid, then closed after a full refund
    assert counts[REASON_UNPAID] == 2  # closed before payment, and waiting for payment
    assert sorted(report.excluded["order_id"]) == [
        "2901234567890123452", "2901234567890123453", "2901234567890123455"
    ]
    assert "退款" in set(report.excluded["close_reason"])
    # every customer comes out, either in the orders or as dropped
    assert set(orders["customer_id"]) | set(report.dropped_customers) == {
        "tb小明", "tb小红", "阿强", "老王", "小刚"
    }
    assert report.dropped_customers == sorted(["阿强", "老王"])
    text = report.summary()
    assert f"excluded 2 orders: {REASON_UNPAID}" in text and "gb18030" in text
    assert "read as paid before refunds" in text  # 总金额 200 = paid 200, refund 50 on top


def test_taobao_utf8_bom_same_result(tmp_path, taobao_gbk):
    bom = _write(tmp_path / "ExportOrderList_bom.csv", TAOBAO_CLASSIC, "utf-8-sig")
    from_bom, report = read_orders(bom, source="taobao", return_report=True)
    pd.testing.assert_frame_equal(from_bom, read_orders(taobao_gbk))
    assert "utf-8-sig" in report.summary()


def test_taobao_without_payment_time_uses_creation_time(tmp_path):
    text = "订单编号,买家会员名,买家实际支付金额,订单状态,订单创建时间\n1,a,10,交易成功,2016/5/23 22:02\n"
    orders = read_orders(_write(tmp_path / "t.csv", text, "gbk"))
    assert orders["order_date"].iloc[0] == pd.Timestamp("2016-05-23 22:02")


def test_taobao_columns_override_aliases(tmp_path, taobao_gbk):
    orders = read_orders(
        taobao_gbk, source="taobao",
        columns={"customer_id": "买家支付宝账号 ", "order_date": "订单创建时间"},
    )
    by_id = orders.set_index("order_id")
    assert by_id.loc["1930679858170647", "customer_id"] == "ming@example.com"
    assert by_id.loc["1930679858170647", "order_date"] == pd.Timestamp("2016-05-23 21:50")


def test_taobao_xlsx_export_with_text_ids(tmp_path, taobao_gbk):
    table = pd.read_csv(taobao_gbk, encoding="gb18030", dtype=str)
    table.iloc[:, 0] = table.iloc[:, 0].str.strip('="')
    path = tmp_path / "ExportOrderList.xlsx"
    table.to_excel(path, index=False)
    from_xlsx = read_orders(path)
    pd.testing.assert_frame_equal(from_xlsx, read_orders(taobao_gbk))


def test_taobao_missing_column_error(tmp_path):
    text = "订单编号,订单状态,买家实际支付金额,订单付款时间\n1,交易成功,10,2016/5/23 22:02\n"
    path = _write(tmp_path / "t.csv", text, "gbk")
    with pytest.raises(CrmDataError, match=r"no buyer column .*Customer analytics needs the "
                       r"buyer.*订单报表.*买家会员名 or 买家ID.*--columns customer_id=订单编号") as err:
        read_orders(path)
    assert "source='generic'" not in str(err.value)


def test_taobao_missing_date_column_error(tmp_path):
    text = "订单编号,买家会员名,买家实际支付金额,订单状态\n1,a,10,交易成功\n"
    with pytest.raises(CrmDataError, match=r"no column for order_date .*订单付款时间"):
        read_orders(_write(tmp_path / "t.csv", text, "gbk"))


def test_taobao_empty_paid_amount_error(tmp_path):
    text = "订单编号,买家会员名,买家实际支付金额,订单状态,订单付款时间\n7,a,,交易成功,2016/5/23 22:02\n"
    with pytest.raises(CrmDataError, match=r"'买家实际支付金额' .* empty for 1 paid orders"):
        read_orders(_write(tmp_path / "t.csv", text, "gbk"))


def test_taobao_bad_amount_names_the_platform_column(tmp_path):
    text = "订单编号,买家会员名,买家实际支付金额,订单状态,订单付款时间\n7,a,abc,交易成功,2016/5/23\n"
    with pytest.raises(CrmDataError, match=r"'买家实际支付金额' has 1 values that are not numbers"):
        read_orders(_write(tmp_path / "t.csv", text, "gbk"))


def test_taobao_all_orders_excluded_error(tmp_path):
    text = (
        "订单编号,买家会员名,买家实际支付金额,订单状态,订单创建时间\n"
        "1,a,0,交易关闭,2016/5/23\n2,b,0,等待买家付款,2016/5/24\n"
    )
    with pytest.raises(CrmDataError, match=r"Every order .* excluded \(2 never paid\).*"
                       r"include_unpaid=True"):
        read_orders(_write(tmp_path / "t.csv", text, "gbk"))


# --------------------------------------------------------------------- Taobao line level


def test_taobao_line_level_export(tmp_path):
    path = _write(tmp_path / "ExportOrderDetail.csv", TAOBAO_LINES, "gb18030")
    assert detect_source(path) == "taobao"
    orders, report = read_orders(path, return_report=True)
    by_id = orders.set_index("order_id")
    assert sorted(by_id.index) == [
        "3000000000000000001", "3000000000000000002", "3000000000000000005"
    ]
    assert by_id["amount"].to_dict() == {
        "3000000000000000001": 70.0, "3000000000000000002": 60.0, "3000000000000000005": 80.0
    }
    assert by_id.loc["3000000000000000001", "quantity"] == 3
    assert by_id.loc["3000000000000000001", "product"] == "茶杯 | 茶盘"
    assert by_id.loc["3000000000000000002", "product"] == "茶叶B"
    assert by_id.loc["3000000000000000002", "status"] == "交易成功"
    assert by_id.loc["3000000000000000001", "order_date"] == pd.Timestamp("2023-11-11 00:02")
    assert by_id.loc["3000000000000000001", "province"] == "上海"
    assert report.n_rows_in == 8 and report.n_rows_out == 3
    reasons = report.excluded.set_index("order_id")["reason"].to_dict()
    assert reasons == {
        "3000000000000000003": REASON_CANCELLED,
        "3000000000000000004": REASON_UNPAID,
        "3000000000000000006": REASON_REFUNDED,
    }
    assert report.dropped_customers == sorted(["买家丙", "买家丁", "买家戊"])
    assert "combined 8 line items into 6 orders" in report.summary()


def test_taobao_line_level_brute_force_amounts(tmp_path):
    """Per-order amounts equal a plain loop over the lines."""
    path = _write(tmp_path / "lines.csv", TAOBAO_LINES, "utf-8-sig")
    lines = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    expected: dict[str, float] = {}
    for _, row in lines.iterrows():
        if row["订单状态"] in ("交易关闭", "等待买家付款"):
            continue
        refund = float(row["退款金额"]) if row["退款状态"] == "退款成功" else 0.0
        key = row["主订单编号"].strip('="')
        expected[key] = expected.get(key, 0.0) + float(row["买家实付金额"]) - refund
    expected = {k: v for k, v in expected.items() if v > 0}
    got = read_orders(path).set_index("order_id")["amount"].to_dict()
    assert got == pytest.approx(expected)


# ----------------------------------------------------------------------------- Shopify


def test_shopify_export_one_row_per_order(shopify_csv):
    orders, report = read_orders(shopify_csv, return_report=True)
    by_id = orders.set_index("order_id")
    assert sorted(by_id.index) == ["#1001", "#1002", "#1007"]
    assert by_id["customer_id"].to_dict() == {
        "#1001": "alice@example.com", "#1002": "bob@example.com", "#1007": "erin@example.com"
    }
    assert by_id["amount"].to_dict() == {"#1001": 150.0, "#1002": 50.0, "#1007": 95.0}
    # the shop's local wall-clock time of payment, whatever the UTC offset
    assert by_id.loc["#1001", "order_date"] == pd.Timestamp("2024-03-05 14:25:00")
    assert by_id.loc["#1007", "order_date"] == pd.Timestamp("2024-03-11 09:00:00")
    assert by_id.loc["#1001", "product"] == "Green Tea | Teapot"
    assert by_id.loc["#1007", "quantity"] == 4
    assert by_id.loc["#1002", "status"] == "partially_refunded"
    assert by_id.loc["#1001", "province"] == "ZJ"
    assert set(orders["channel"]) == {"shopify"}

    assert report.n_rows_in == 10 and report.n_rows_out == 3
    reasons = report.excluded.set_index("order_id")["reason"].to_dict()
    assert reasons == {
        "#1003": REASON_REFUNDED,
        "#1004": REASON_UNPAID,  # voided before any payment (no Paid at)
        "#1005": REASON_NO_CUSTOMER,
        "#1006": REASON_UNPAID,
    }
    assert report.currency == "CNY"
    assert report.dropped_customers == ["carol@example.com", "dave@example.com"]


def test_shopify_paid_at_falls_back_to_created_at(tmp_path):
    rows = SHOPIFY_ROWS.replace("2024-03-05 14:25:00 +0800", "")
    orders = read_orders(_write(tmp_path / "s.csv", SHOPIFY_HEADER + rows, "utf-8"))
    first = orders.set_index("order_id").loc["#1001", "order_date"]
    assert first == pd.Timestamp("2024-03-05 14:22:10")


def test_shopify_customer_id_column_preferred(tmp_path):
    header = SHOPIFY_HEADER.replace(",Id\n", ",Id,Customer ID\n")
    rows = "".join(
        line + (",7700000000000000001" if line.startswith(("#1001,alice", "#1002")) else ",")
        + "\n"
        for line in SHOPIFY_ROWS.splitlines()
    )
    orders = read_orders(_write(tmp_path / "s.csv", header + rows, "utf-8"), source="shopify")
    by_id = orders.set_index("order_id")
    assert by_id.loc["#1001", "customer_id"] == "7700000000000000001"
    assert by_id.loc["#1002", "customer_id"] == "7700000000000000001"
    assert by_id.loc["#1007", "customer_id"] == "erin@example.com"  # no Customer ID: Email


def test_shopify_fully_refunded_by_amount(tmp_path):
    rows = SHOPIFY_ROWS.replace("80.00,,0.00,Standard", "80.00,,0.00,Standard").replace(
        "SH,CN,,30.00", "SH,CN,,80.00"
    )
    orders, report = read_orders(_write(tmp_path / "s.csv", SHOPIFY_HEADER + rows, "utf-8"),
                                 return_report=True)
    assert "#1002" not in set(orders["order_id"])
    assert REASON_REFUNDED in set(report.excluded["reason"])


def test_shopify_missing_total_error(tmp_path):
    header = SHOPIFY_HEADER.replace(",Total,", ",Grand,")
    path = _write(tmp_path / "s.csv", header + SHOPIFY_ROWS, "utf-8")
    with pytest.raises(CrmDataError, match=r"Shopify export has no column for amount .*Total"):
        read_orders(path, source="shopify")


# ------------------------------------------------------------------- generic round trips


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx", ".csv.gz", ".tsv"])
def test_canonical_round_trip(tmp_path, canonical, suffix):
    before = canonical.copy()
    path = tmp_path / f"orders{suffix}"
    if suffix == ".parquet":
        canonical.to_parquet(path)
    elif suffix == ".xlsx":
        canonical.to_excel(path, index=False)
    else:
        canonical.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    got = read_orders(path)
    expected = validate_orders(canonical)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert got["order_id"].tolist() == expected["order_id"].tolist()
    assert "1930679858170647123" in set(got["order_id"]) and "007" in set(got["customer_id"])
    pd.testing.assert_frame_equal(canonical, before)


def test_generic_gbk_csv_with_columns(tmp_path):
    text = "会员 ,单号,日期,实付\n张三,1930679858170647123,2024/1/5,12.5\n李四,2,2024/1/6,3\n"
    path = _write(tmp_path / "mine.csv", text, "gbk")
    columns = {"customer_id": "会员 ", "order_id": "单号", "order_date": "日期", "amount": "实付"}
    kept = dict(columns)
    orders = read_orders(path, columns=columns, source="generic")
    assert orders["customer_id"].tolist() == ["张三", "李四"]
    assert orders["order_id"].tolist() == ["1930679858170647123", "2"]
    assert columns == kept  # the caller's mapping is not changed


def test_generic_null_marker_customers_are_excluded(tmp_path):
    text = "customer_id,order_id,order_date,amount\nNA,7,2024-01-05,1\nu1,8,2024-01-06,2\n"
    orders, report = read_orders(_write(tmp_path / "o.csv", text, "utf-8"), return_report=True)
    assert orders["customer_id"].tolist() == ["u1"]
    assert report.excluded["order_id"].tolist() == ["7"]


def test_generic_utf16_tab_separated(tmp_path, canonical):
    path = tmp_path / "orders.txt"
    canonical.to_csv(path, sep="\t", index=False, encoding="utf-16")
    got = read_orders(path)
    assert got["order_id"].tolist() == validate_orders(canonical)["order_id"].tolist()


def test_detect_source_variants(taobao_gbk, shopify_csv, canonical):
    assert detect_source(taobao_gbk) == "taobao"
    assert detect_source(shopify_csv) == "shopify"
    assert detect_source(canonical) == "generic"
    assert detect_source(["\ufeff订单编号", "订单状态 "]) == "taobao"
    assert set(SOURCES) == {"auto", "generic", "taobao", "shopify"}


# --------------------------------------------------------------------- ids through floats


def test_excel_numeric_long_ids_rejected(tmp_path, canonical):
    table = canonical.assign(order_id=[1930679858170640, 2, 3, 4])
    path = tmp_path / "orders.xlsx"
    table.to_excel(path, index=False)
    with pytest.raises(CrmDataError, match=r"'order_id' holds 1 ids stored as numbers with 16"):
        read_orders(path)


def test_excel_short_numeric_ids_become_text(tmp_path, canonical):
    path = tmp_path / "orders.xlsx"
    canonical.assign(order_id=[101, 102, 103, 104], customer_id=[7, 8, 7, 9]).to_excel(
        path, index=False
    )
    got = read_orders(path)
    assert sorted(got["order_id"]) == ["101", "102", "103", "104"]
    assert set(got["customer_id"]) == {"7", "8", "9"}


def test_parquet_float_ids_rejected(tmp_path, canonical):
    path = tmp_path / "orders.parquet"
    canonical.assign(order_id=[1.930679858170647e15, 2.0, 3.0, 4.0]).to_parquet(path)
    with pytest.raises(CrmDataError, match=r"'order_id' holds 1 ids stored as numbers"):
        read_orders(path)


def test_csv_scientific_notation_ids_rejected(tmp_path):
    text = "订单编号,买家会员名,买家实际支付金额,订单状态,订单付款时间\n1.93068E+15,a,10,交易成功,2016/5/23\n"
    with pytest.raises(CrmDataError, match=r"'订单编号' has 1 ids in scientific notation"):
        read_orders(_write(tmp_path / "t.csv", text, "gbk"))


# ------------------------------------------------------------------------------ errors


def test_unknown_source(taobao_gbk):
    with pytest.raises(CrmDataError, match=r"'source' .* one of \['auto', 'generic', 'taobao'"):
        read_orders(taobao_gbk, source="tmall")


def test_missing_file(tmp_path):
    with pytest.raises(CrmDataError, match=r"No file at .*nope.csv.*Check the path"):
        read_orders(tmp_path / "nope.csv")


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(CrmDataError, match=r"is a directory"):
        read_orders(tmp_path)


def test_not_a_path(canonical):
    with pytest.raises(CrmDataError, match=r"use validate_orders\(df\)"):
        read_orders(canonical)
    with pytest.raises(CrmDataError, match=r"must be a file path .*got int"):
        read_orders(3)
    with pytest.raises(CrmDataError, match=r"detect_source expects a file path"):
        detect_source(3)


def test_unsupported_extension(tmp_path):
    path = _write(tmp_path / "orders.json", "[]", "utf-8")
    with pytest.raises(CrmDataError, match=r"Unsupported file type '.json'.*save the table as CSV"):
        read_orders(path)


def test_undecodable_file(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(b"customer_id,order_id\n\xff\xfe\xfd\xff,1\n")
    with pytest.raises(CrmDataError, match=r"Could not decode orders.csv as utf-8-sig or gb18030"):
        read_orders(path)


def test_wrong_explicit_encoding(taobao_gbk):
    with pytest.raises(CrmDataError, match=r"Could not decode .* as utf-8 .*encoding=None"):
        read_orders(taobao_gbk, encoding="utf-8")
    with pytest.raises(CrmDataError, match=r"Unknown encoding 'klingon'"):
        read_orders(taobao_gbk, encoding="klingon")


def test_empty_and_header_only_files(tmp_path):
    with pytest.raises(CrmDataError, match=r"is empty \(no header row\)"):
        read_orders(_write(tmp_path / "empty.csv", "", "utf-8"))
    header = _write(tmp_path / "header.csv", "customer_id,order_id,order_date,amount\n", "utf-8")
    with pytest.raises(CrmDataError, match=r"has a header row but no orders"):
        read_orders(header)


def test_malformed_csv(tmp_path):
    path = _write(tmp_path / "bad.csv", "a,b\n1,2\n1,2,3,4\n", "utf-8")
    with pytest.raises(CrmDataError, match=r"not a well-formed CSV file"):
        read_orders(path)


def test_corrupt_excel_and_parquet(tmp_path):
    xlsx = _write(tmp_path / "orders.xlsx", "not a workbook", "utf-8")
    with pytest.raises(CrmDataError, match=r"Could not read orders.xlsx as an Excel workbook"):
        read_orders(xlsx)
    parquet = _write(tmp_path / "orders.parquet", "not parquet", "utf-8")
    with pytest.raises(CrmDataError, match=r"Could not read orders.parquet as a Parquet file"):
        read_orders(parquet)


def test_bad_columns_parameter(taobao_gbk):
    with pytest.raises(CrmDataError, match=r"\['buyer'\] are not canonical names"):
        read_orders(taobao_gbk, columns={"buyer": "买家会员名"})
    with pytest.raises(CrmDataError, match=r"must be a dict"):
        read_orders(taobao_gbk, columns=["买家会员名"])
    with pytest.raises(CrmDataError, match=r"names a column that is not in the file"):
        read_orders(taobao_gbk, columns={"customer_id": "买家昵称"})


def test_generic_errors_come_from_validate_orders(tmp_path):
    path = _write(tmp_path / "o.csv", "buyer,order_id,order_date,amount\na,1,2024-01-01,1\n",
                  "utf-8")
    with pytest.raises(CrmDataError, match=r"missing required column\(s\) \['customer_id'\]"):
        read_orders(path)


def test_excel_engine_missing(tmp_path, monkeypatch, canonical):
    path = tmp_path / "orders.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")

    def no_engine(*args, **kwargs):
        raise ImportError("Missing optional dependency 'xlrd'")

    monkeypatch.setattr(pd, "read_excel", no_engine)
    with pytest.raises(CrmDataError, match=r"needs an extra package .*xlrd.*save the sheet"):
        read_orders(path)


def test_detect_source_reads_only_headers_of_any_format(tmp_path, canonical, taobao_gbk):
    parquet, xlsx = tmp_path / "o.parquet", tmp_path / "taobao.xlsx"
    canonical.to_parquet(parquet)
    pd.read_csv(taobao_gbk, encoding="gb18030", dtype=str).to_excel(xlsx, index=False)
    assert detect_source(parquet) == "generic"
    assert detect_source(xlsx) == "taobao"


def test_shopify_columns_override(shopify_csv):
    orders = read_orders(shopify_csv, source="shopify", columns={"amount": "Subtotal"})
    amounts = orders.set_index("order_id")["amount"].to_dict()
    assert amounts == {"#1001": 140.0, "#1002": 50.0, "#1007": 90.0}  # Subtotal - refunds


def test_taobao_sub_orders_grouped_by_order_number(tmp_path):
    text = (
        "子订单编号,订单编号,买家会员名,买家实付金额,订单状态,订单付款时间\n"
        '="11",="1000000000000000001",a,10.5,交易成功,2024/1/2 10:00\n'
        '="12",="1000000000000000001",a,4.5,交易成功,2024/1/2 10:00\n'
    )
    orders = read_orders(_write(tmp_path / "t.csv", text, "gbk"))
    assert orders[["order_id", "amount"]].values.tolist() == [["1000000000000000001", 15.0]]


def test_prepared_orders_keep_the_readers_report(taobao_gbk):
    orders, report = read_orders(taobao_gbk, return_report=True)
    prepared = prepare_orders(orders, report=report)
    assert prepared.report.n_rows_in == 7 and prepared.report.n_rows_out == 4
    assert len(prepared.report.excluded) == 3  # the reader's exclusions stay listed
    assert prepared.report.notes[: len(report.notes)] == report.notes
    assert prepare_orders(prepared) is prepared
    with pytest.raises(CrmDataError, match="already prepared with their report"):
        prepare_orders(prepared, report=report)


def test_validation_report_is_deprecated_and_validates_again(taobao_gbk):
    orders = read_orders(taobao_gbk)
    with pytest.warns(DeprecationWarning, match="return_report=True"):
        report = validation_report(orders)
    assert report.n_rows_in == report.n_rows_out == 4 and len(report.excluded) == 0
    assert not orders.attrs
