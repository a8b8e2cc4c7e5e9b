"""Issue 12: real export shapes give right numbers or a clear refusal.

Files in the shape of a Tmall order report (net and gross paid amounts, never-paid rows
without a status column, no buyer column), a UK retailer's line-item table (D/M/YYYY
dates, float customer ids with blanks, C-invoices and negative quantities, an order of
77,183.60 reversed the same day) and a US Shopify export, written by
``tests/corpus/make_bad_inputs.py``. Each goes through the command line, ``read_orders``
and, for the line items, Parquet on DuckDB. Expected numbers are computed from the files
in plain Python (``corpus.harness``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from corpus.harness import (
    check_cli,
    check_excluded,
    exclusion_counts,
    fill,
    page_text,
    read_rows,
    run_cli,
    tmall_expected,
    uk_expected,
)
from corpus.make_bad_inputs import CASES, UK_COLUMNS, write_corpus

from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.vocab import (
    REASON_NO_CUSTOMER,
    REASON_REFUNDED,
    REASON_REVERSED,
    REASON_UNPAID,
)

REAL = [c for c in CASES if c.id.startswith("real:")]
API = [c for c in REAL if c.api is not None]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("real_exports")
    write_corpus(folder, ["tmall_net.csv", "tmall_gross.csv", "tmall_unpaid_no_status.csv",
                          "tmall_no_buyer.csv", "uk_retail_lines.csv", "shopify_usd.csv"])
    return folder


def _ids(cases):
    return [c.id.removeprefix("real:") for c in cases]


# ------------------------------------------------------------------------ command line


@pytest.mark.parametrize("case", REAL, ids=_ids(REAL))
def test_cli(case, corpus, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    code, stdout, stderr, _ = run_cli(fill(case, corpus, out), capsys)
    check_cli(case, code, stdout, stderr, page_text(out))
    extra = CLI_CHECKS.get(case.id.removeprefix("real:"))
    if extra is not None:
        extra(corpus, out, stdout)


def _uk_report(corpus, out, stdout) -> None:
    """customers.csv: integer ids, no reversed 'top customer', the netted spend."""
    want = uk_expected(corpus / "uk_retail_lines.csv")
    rows = read_rows(out / "customers.csv") if (out / "customers.csv").exists() else []
    assert rows, "customers.csv not written"
    ids = {r["customer_id"].lstrip("'") for r in rows}
    assert ids == set(want["totals"]), ids
    total_col = next(c for c in ("total_amount", "monetary_total", "revenue") if c in rows[0])
    got = {r["customer_id"]: round(float(r[total_col]), 2) for r in rows}
    assert got == want["totals"]


def _shopify_report(corpus, out, stdout) -> None:
    """The page names the currency and shows every exclusion with its count."""
    page = page_text(out)
    assert page, "report.html not written"
    assert "USD" in page or "US dollars" in page or "$" in page
    for reason in (REASON_REFUNDED, REASON_UNPAID, REASON_NO_CUSTOMER):
        assert reason in page, f"{reason!r} not in the report's data section"


CLI_CHECKS = {"uk-lines-report": _uk_report, "shopify-usd-report": _shopify_report}


# -------------------------------------------------------------------------- Python API


@pytest.mark.parametrize("case", API, ids=_ids(API))
def test_api(case, corpus) -> None:
    from crm_analytics.orders.readers import read_orders

    path = corpus / case.file
    if case.exit_code != 0:
        with pytest.raises(CrmDataError, match=f"(?i){case.api_error}"):
            read_orders(path, **case.api)
        return
    orders, report = read_orders(path, return_report=True, **case.api)
    check_excluded(case, report)
    if case.n_orders is not None:
        assert len(orders) == case.n_orders
    extra = API_CHECKS.get(case.id.removeprefix("real:"))
    if extra is not None:
        extra(path, orders, report)


def _tmall(path, orders, report) -> None:
    """760 total, 568 paid, 192 refunded -> 568 in a net file; kept money is kept."""
    want = tmall_expected(path)
    got = dict(zip(orders["order_id"], orders["amount"].round(2), strict=True))
    assert got == want
    assert got["T0001"] == 568.0
    assert "T0003" in got  # the buyer kept 100 of 300: not "fully refunded"


def _tmall_reading_reported(path, orders, report) -> None:
    _tmall(path, orders, report)
    text = " ".join(report.notes)
    assert "退款金额" in text or "refund" in text.lower(), report.notes


def _unpaid_reachable(path, orders, report) -> None:
    from crm_analytics.orders.readers import read_orders

    rows = read_rows(path, encoding="gb18030")
    never_paid = {r["订单编号"] for r in rows if not r["订单付款时间"]}
    assert never_paid.isdisjoint(orders["order_id"])
    everything = read_orders(path, include_unpaid=True)
    unpaid = everything[everything["status"] == "unpaid"]
    assert set(unpaid["order_id"]) == never_paid
    assert {"created_at", "paid_at"} <= set(everything.columns)
    assert unpaid["paid_at"].isna().all() and unpaid["created_at"].notna().all()


def _each_order_its_customer(path, orders, report) -> None:
    assert (orders["customer_id"].astype(str) == orders["order_id"].astype(str)).all()
    assert len(orders) == len(tmall_expected_no_buyer(path))


def tmall_expected_no_buyer(path) -> set[str]:
    rows = read_rows(path, encoding="gb18030")
    return {r["订单编号"] for r in rows if r["订单付款时间"] and r["订单状态"] != "交易关闭"
            and float(r["买家实际支付金额"]) > 0.005}


def _uk(path, orders, report) -> None:
    want = uk_expected(path)
    got = dict(zip(orders["order_id"].astype(str), orders["amount"].round(2), strict=True))
    assert got == want["orders"]
    totals = orders.groupby("customer_id")["amount"].sum().round(2).to_dict()
    assert totals == want["totals"]
    assert all(not str(c).endswith(".0") for c in orders["customer_id"])
    assert "12346" in report.dropped_customers
    assert orders["order_date"].min().date() == want["first_day"]  # 1/12/2010 is 1 December


def _shopify(path, orders, report) -> None:
    assert report.currency == "USD"
    partly = orders.loc[orders["order_id"] == "#1026", "amount"]
    assert list(partly.round(2)) == [45.0]  # 45 + 5 shipping - 5 refunded


API_CHECKS = {
    "tmall-net": _tmall_reading_reported,
    "tmall-gross": _tmall_reading_reported,
    "tmall-unpaid-no-status": _unpaid_reachable,
    "tmall-no-buyer-mapped": _each_order_its_customer,
    "uk-lines": _uk,
    "shopify-usd": _shopify,
}


def test_tmall_net_and_gross_agree(corpus) -> None:
    """The same orders exported net or gross give the same amounts."""
    from crm_analytics.orders.readers import read_orders

    net = read_orders(corpus / "tmall_net.csv")
    gross = read_orders(corpus / "tmall_gross.csv")
    assert dict(zip(net["order_id"], net["amount"], strict=True)) == dict(
        zip(gross["order_id"], gross["amount"], strict=True))


def test_line_items_on_a_dataframe_name_combine_line_items(corpus) -> None:
    from crm_analytics.orders.validate import validate_orders

    raw = pd.read_csv(corpus / "uk_retail_lines.csv", dtype=str)
    lines = raw.rename(columns={v: k for k, v in UK_COLUMNS.items()})
    lines["amount"] = lines["quantity"].astype(float) * lines["unit_price"].astype(float)
    with pytest.raises(CrmDataError, match="combine_line_items"):
        validate_orders(lines[lines["amount"] > 0])


def test_combine_line_items_public(corpus) -> None:
    from crm_analytics.orders.lines import combine_line_items  # noqa: F401


def test_missing_column_suggestions_respect_types(corpus) -> None:
    """The closest column for amount is not Country, for order_id not CustomerID."""
    from crm_analytics.orders.readers import read_orders

    with pytest.raises(CrmDataError) as info:
        read_orders(corpus / "uk_retail_lines.csv")
    text = str(info.value)
    assert "--columns" in text
    for wrong in ("'Country'", "Country?"):
        assert f"amount{wrong}" not in text.replace(" ", "")
    assert "order_id:'CustomerID'" not in text.replace(" ", "")


# ------------------------------------------------------------------- Parquet on DuckDB


def test_uk_lines_on_duckdb(corpus, tmp_path) -> None:
    """Line items with reversals and guests as Parquet: the same exclusions and spend."""
    pytest.importorskip("duckdb")
    from crm_analytics.orders.sql import engine_validation_report
    from crm_analytics.summary import customer_summary

    rows = read_rows(corpus / "uk_retail_lines.csv")
    ids = [r["CustomerID"].removesuffix(".0") or None for r in rows]
    frame = pd.DataFrame({
        "customer_id": ids,
        "order_id": [r["InvoiceNo"] for r in rows],
        "order_date": pd.to_datetime([r["InvoiceDate"] for r in rows], format="%d/%m/%Y %H:%M"),
        "quantity": [int(r["Quantity"]) for r in rows],
        "unit_price": [float(r["UnitPrice"]) for r in rows],
    })
    frame["amount"] = frame["quantity"] * frame["unit_price"]
    path = tmp_path / "uk_lines.parquet"
    frame.to_parquet(path, index=False)
    want = uk_expected(corpus / "uk_retail_lines.csv")

    counts = exclusion_counts(engine_validation_report(str(path)))
    assert counts.get(REASON_NO_CUSTOMER) == 1 and counts.get(REASON_REVERSED) == 1, counts
    summary = customer_summary(str(path))
    got = dict(zip(summary["customer_id"].astype(str), summary["total_amount"].round(2),
                   strict=True))
    assert got == want["totals"]
    assert dict(zip(summary["customer_id"].astype(str), summary["n_orders"],
                    strict=True)) == want["counts"]


# ------------------------------------------------------------------- papercuts (§8)


def test_cjk_font_installed_after_the_cache_is_found(monkeypatch) -> None:
    """A CJK font installed after matplotlib cached its font list is picked up, once."""
    from types import SimpleNamespace

    from matplotlib import font_manager

    from crm_analytics.plots import _fonts

    class FakeManager:
        def __init__(self) -> None:
            self.ttflist = [SimpleNamespace(name="DejaVu Sans", fname="/fonts/DejaVuSans.ttf")]
            self.added: list[str] = []

        def addfont(self, path: str) -> None:
            self.added.append(path)
            name = "WenQuanYi Micro Hei" if "wqy" in path else "Other"
            self.ttflist.append(SimpleNamespace(name=name, fname=path))

    fake = FakeManager()
    lookups: list[int] = []

    def on_disk() -> list[str]:
        lookups.append(1)
        return ["/fonts/DejaVuSans.ttf", "/usr/share/fonts/wqy-microhei.ttc"]

    monkeypatch.setattr(font_manager, "fontManager", fake)
    monkeypatch.setattr(_fonts, "_system_font_files", on_disk)
    monkeypatch.setattr(_fonts, "_save_font_list", lambda manager: None)
    _fonts.installed_cjk_fonts.cache_clear()
    try:
        assert _fonts.cjk_font() == "WenQuanYi Micro Hei"
        assert _fonts.font_family()[0] == "WenQuanYi Micro Hei"
        assert fake.added == ["/usr/share/fonts/wqy-microhei.ttc"]  # only the new file
        _fonts.installed_cjk_fonts()
        assert len(lookups) == 1  # the disk is searched once per process
    finally:
        _fonts.installed_cjk_fonts.cache_clear()


def test_no_cjk_font_on_disk_keeps_the_default(monkeypatch) -> None:
    from types import SimpleNamespace

    from matplotlib import font_manager

    from crm_analytics.plots import _fonts

    fake = SimpleNamespace(ttflist=[SimpleNamespace(name="DejaVu Sans", fname="/f/d.ttf")],
                           addfont=lambda path: None)
    monkeypatch.setattr(font_manager, "fontManager", fake)
    monkeypatch.setattr(_fonts, "_system_font_files", lambda: ["/f/d.ttf"])
    _fonts.installed_cjk_fonts.cache_clear()
    try:
        assert _fonts.cjk_font() is None
        assert _fonts.font_family() == ["DejaVu Sans"]
    finally:
        _fonts.installed_cjk_fonts.cache_clear()
