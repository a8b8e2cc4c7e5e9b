"""Engine sources (Parquet, DuckDB) apply the rules of read_orders / validate_orders: they
refuse what the pandas path refuses, with its message, and keep and leave out the same
orders (guest rows, line items, reversals, date typos, orders after the as-of day)."""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pandas as pd
import pytest

from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.vocab import (
    REASON_AFTER_AS_OF,
    REASON_DATE_OUTLIER,
    REASON_NO_CUSTOMER,
    REASON_REVERSED,
)
from crm_analytics.backends import engine_source, is_engine_source, runner_for
from crm_analytics.backends import sql as backend_sql
from crm_analytics.backends.duckdb import DuckDBRunner
from crm_analytics.orders.lines import combine_line_items
from crm_analytics.orders.sql import (
    check_engine_orders,
    engine_validation_report,
    null_id_condition,
)
from crm_analytics.orders.validate import validate_orders
from crm_analytics.summary import customer_summary


def _orders(n: int = 8) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [f"c{i % 3}" for i in range(n)],
        "order_id": [f"o{i}" for i in range(n)],
        "order_date": pd.date_range("2024-01-01", periods=n, freq="3D"),
        "amount": np.arange(1.0, n + 1.0),
    })


def _parts(message: str) -> tuple[str, str]:
    """(what failed, how to fix it): the message without its examples."""
    match = re.fullmatch(r"(.*?) \((.*)\)\. (.*)", message, flags=re.S)
    assert match, message
    return match.group(1), match.group(3)


def _pandas_error(frame: pd.DataFrame) -> str:
    with pytest.raises(CrmDataError) as info:
        validate_orders(frame)
    return str(info.value)


def _engine_error(source: object) -> str:
    with pytest.raises(CrmDataError) as info:
        check_engine_orders(runner_for(source))
    return str(info.value)


def _assert_same_error(frame: pd.DataFrame, source: object) -> str:
    engine, pandas = _engine_error(source), _pandas_error(frame)
    assert _parts(engine) == _parts(pandas)
    return engine


@pytest.fixture()
def parquet(tmp_path) -> str:
    path = tmp_path / "orders.parquet"
    _orders().to_parquet(path)
    return str(path)


def test_valid_orders_pass_and_give_their_profile(parquet):
    counts = check_engine_orders(runner_for(parquet))
    days = _orders()["order_date"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    assert counts["n_rows"] == 8 and counts["no_customer"] == counts["amount"] == 0
    assert (counts["first_day"], counts["last_day"]) == (days.min(), days.max())


def test_the_same_file_twice_is_refused_like_duplicate_order_ids(parquet):
    message = _assert_same_error(pd.concat([_orders(), _orders()]), [parquet, parquet])
    assert message.startswith("Column 'order_id' has 16 rows sharing 8 order ids ('o0' (2 rows)")
    assert "... and 3 more order ids" in message
    # a glob over two copies of the file, too
    folder = parquet.rsplit("/", 1)[0]
    _orders().to_parquet(f"{folder}/copy.parquet")
    _assert_same_error(pd.concat([_orders(), _orders()]), f"{folder}/*.parquet")


def test_line_items_are_combined_not_refused(tmp_path):
    lines = _orders(9).assign(order_id=[f"o{i // 3}" for i in range(9)],
                              customer_id=[f"c{i // 3}" for i in range(9)])
    path = tmp_path / "lines.parquet"
    lines.to_parquet(path)
    got = customer_summary(str(path))
    expected = customer_summary(validate_orders(combine_line_items(lines)))
    pd.testing.assert_frame_equal(expected, got, check_exact=False, rtol=1e-10)
    assert got["total_amount"].tolist() == [6.0, 15.0, 24.0]


def test_an_order_id_of_two_customers_is_refused(tmp_path):
    lines = _orders(6).assign(order_id=["o1", "o1", "o2", "o3", "o4", "o5"])
    with pytest.raises(CrmDataError, match=r"1 order ids have rows of several customers "
                                           r"\('o1' \('c0', 'c1'\)\)"):
        check_engine_orders(runner_for(duckdb.from_df(lines)))
    with pytest.raises(CrmDataError, match="belong to several customers"):
        combine_line_items(lines)


def test_number_ids_are_checked_too(tmp_path):
    orders = _orders().assign(order_id=[1, 2, 3, 3, 5, 6, 7, 8],
                              customer_id=[11, 12, 11, 12, 11, 12, 11, 12])
    path = tmp_path / "numbers.parquet"
    orders.to_parquet(path)
    assert runner_for(str(path)).column_types["order_id"] == "bigint"
    with pytest.raises(CrmDataError, match=r"1 order ids have rows of several customers "
                                           r"\(3 \('11', '12'\)\)"):
        check_engine_orders(runner_for(str(path)))
    floats = orders.assign(order_id=orders["order_id"] * 1.0, customer_id=np.nan)
    _assert_same_error(floats, duckdb.from_df(floats))


def test_order_ids_compared_as_trimmed_text_like_pandas():
    orders = _orders().assign(order_id=["o1", " o1 "] + [f"o{i}" for i in range(2, 8)],
                              customer_id="c0")
    runner = runner_for(duckdb.from_df(orders))
    check_engine_orders(runner)
    assert backend_sql.order_shape(runner)["combine"]  # one order of two line items
    assert customer_summary(runner)["n_orders"].tolist() == [7]


@pytest.mark.parametrize("column, value, head", [
    ("order_id", "", "Column 'order_id' is empty in 2 of 8 rows"),
    ("order_date", pd.NaT, "Column 'order_date' has 2 values that are not dates"),
    ("amount", np.nan, "Column 'amount' is missing in 2 rows"),
    ("amount", np.inf, "Column 'amount' is infinite in 2 rows"),
])
def test_missing_and_bad_values_give_the_pandas_message(column, value, head):
    orders = _orders()
    orders[column] = orders[column].astype(object) if value is None else orders[column]
    orders.loc[[2, 5], column] = value
    message = _assert_same_error(orders, duckdb.from_df(orders))
    assert message.startswith(head)


def test_text_that_is_not_a_date_is_refused_like_pandas():
    orders = _orders().assign(order_date=lambda o: o["order_date"].dt.strftime("%Y-%m-%d"))
    orders.loc[4, "order_date"] = "yesterday"
    message = _assert_same_error(orders, duckdb.from_df(orders))
    assert message.startswith("Column 'order_date' has 1 values that are not dates ('yesterday')")


def test_checks_run_in_the_pandas_order():
    orders = _orders()
    orders.loc[1, "amount"] = np.inf
    orders.loc[3, "order_date"] = pd.NaT  # a missing date comes first
    message = _assert_same_error(orders, duckdb.from_df(orders))
    assert message.startswith("Column 'order_date' has 1 values that are not dates")


def test_rows_with_an_excluded_status_are_not_checked():
    orders = _orders().assign(status="paid")
    cancelled = orders.iloc[:2].assign(status=" Cancelled ", amount=-3.0)
    both = pd.concat([orders, cancelled], ignore_index=True)
    assert len(validate_orders(both)) == 8
    assert check_engine_orders(runner_for(duckdb.from_df(both)))["n_rows"] == 8


def test_every_order_excluded():
    orders = _orders().assign(status="交易关闭")
    engine, pandas = _engine_error(duckdb.from_df(orders)), _pandas_error(orders)
    first = "Every order has an excluded status in column 'status' (e.g. ['交易关闭'])."
    assert engine.startswith(first) and pandas.startswith(first)
    assert "drop or rename the status column" in engine


def test_missing_order_id_column_and_empty_source():
    with pytest.raises(CrmDataError, match=r"missing column\(s\) \['order_id'\]"):
        check_engine_orders(runner_for(duckdb.from_df(_orders().drop(columns="order_id"))))
    with pytest.raises(CrmDataError, match=r"has no \(kept\) rows"):
        check_engine_orders(runner_for(duckdb.from_df(_orders().iloc[:0])))


def test_checks_run_once_per_runner(parquet):
    runner = engine_source(parquet)
    queries: list[str] = []
    fetch = runner.fetch
    runner.fetch = lambda q: queries.append(q) or fetch(q)
    first = check_engine_orders(runner)
    n_queries = len(queries)
    assert check_engine_orders(runner) is first and len(queries) == n_queries
    assert backend_sql.last_day(runner) == first["last_day"] and len(queries) == n_queries
    assert check_engine_orders(runner_for(parquet)) == first  # a new runner asks again


def test_engine_source_is_a_runner_passed_through(parquet, tmp_path):
    source = engine_source(parquet, memory_limit="200MB", threads=1,
                           temp_directory=tmp_path / "spill")
    assert isinstance(source, DuckDBRunner) and is_engine_source(source)
    assert runner_for(source) is source and engine_source(source) is source
    assert runner_for(source, memory_limit=None) is source
    with pytest.raises(CrmDataError, match="pass them to engine_source"):
        runner_for(source, memory_limit="1GB")
    with pytest.raises(CrmDataError, match="engine_source takes a Parquet path"):
        engine_source(_orders())
    with pytest.raises(CrmDataError, match="engine_source takes a Parquet path"):
        engine_source(42)


def test_null_id_condition_uses_the_shared_markers():
    sql = null_id_condition("customer_id")
    for marker in ("''", "'nan'", "'none'", "'<na>'", "'n/a'", "'#n/a'", "'null'", "'-'", "'?'"):
        assert marker in sql
    assert "LOWER(TRIM(" in sql


def test_bad_engine_settings_are_a_clear_error(parquet):
    with pytest.raises(CrmDataError, match=r"DuckDB refused the engine settings.*memory_limit='2GB'"):
        engine_source(parquet, memory_limit="lots")
    # refused at once for every kind of source, also where the limit would not be used
    relation = duckdb.from_df(_orders())
    with pytest.raises(CrmDataError, match=r"--memory-limit 2GB"):
        engine_source(relation, memory_limit="lots")
    with pytest.raises(CrmDataError, match="DuckDB refused the engine settings"):
        runner_for(relation, memory_limit="12 parsecs")
    assert engine_source(parquet, memory_limit="80%").memory_limit_bytes() > 0


def test_a_hash_collision_is_not_taken_for_repeated_order_ids(parquet, monkeypatch):
    """Distinct 64-bit hashes prove distinct ids; fewer hashes are checked exactly."""
    dialects = {k: dict(v) for k, v in backend_sql.DIALECTS.items()}
    for snippets in dialects.values():
        snippets["hash64"] = "0 * LENGTH(CAST({x} AS STRING))"  # every id collides
    monkeypatch.setattr("crm_analytics.orders.sql.DIALECTS", dialects)
    assert check_engine_orders(runner_for(parquet))["n_rows"] == 8


# ------------------------------------------------- real-export shapes: same as pandas
def _uk_lines(seed: int = 3) -> pd.DataFrame:
    """A UK retailer's line items: several rows per invoice, C-invoices, a negative
    quantity, guest rows (customer id missing: the column is read as floats), one
    customer whose only order was reversed the same day, and many ordinary invoices."""
    rng = np.random.default_rng(seed)
    rows = [  # customer, invoice, date, quantity, unit price
        (12347.0, "536365", "2010-12-01 08:26", 6, 2.55),
        (12347.0, "536365", "2010-12-01 08:26", 8, 3.39),
        (12347.0, "536366", "2010-12-05 09:00", 2, 10.0),
        (12347.0, "C536367", "2010-12-06 10:00", -1, 10.0),  # 10 off 536366
        (12346.0, "541431", "2011-01-18 10:01", 74215, 1.04),
        (12346.0, "C541433", "2011-01-18 10:17", -74215, 1.04),  # all of it reversed
        (12348.0, "536370", "2010-12-02 10:00", 24, 3.75),
        (12348.0, "536370", "2010-12-02 10:00", 12, 0.85),
        (12348.0, "536371", "2011-01-10 11:00", 10, 2.0),
        (12348.0, "536373", "2011-01-11 11:00", -5, 2.0),  # a return without a C-invoice
        (np.nan, "536380", "2010-12-03 12:00", 3, 1.0),  # guests
        (np.nan, "536380", "2010-12-03 12:00", 2, 2.0),
        (np.nan, "C536381", "2010-12-04 12:00", -1, 1.0),
    ]
    for i in range(150):  # ordinary invoices of 40 customers
        customer = 13000.0 + rng.integers(40)
        day = pd.Timestamp("2010-12-01") + pd.Timedelta(days=int(rng.integers(0, 360)))
        for _ in range(int(rng.integers(1, 4))):
            rows.append((customer, str(537000 + i), f"{day.date()} 09:{i % 60:02d}",
                         int(rng.integers(1, 20)), float(rng.choice([0.85, 1.25, 2.55, 4.95]))))
    for i in range(6):  # returns of ordinary invoices
        rows.append((13000.0 + i, f"C{538000 + i}", "2011-11-30 15:00", -3, 2.55))
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "order_date", "quantity",
                                        "unit_price"])
    return frame.assign(order_date=pd.to_datetime(frame["order_date"]))


def _pandas_path(rows: pd.DataFrame, as_of=None):
    """read_orders' steps on a table: combine line items, then validate."""
    orders, lines_report = combine_line_items(rows, return_report=True)
    kept, report = validate_orders(orders, as_of=as_of, return_report=True)
    counts = dict(lines_report.exclusion_counts().itertuples(index=False))
    for reason, n in report.exclusion_counts().itertuples(index=False):
        counts[reason] = counts.get(reason, 0) + n
    return kept, counts, set(lines_report.dropped_customers) | set(report.dropped_customers)


def _same_summary(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(expected.reset_index(drop=True), got.reset_index(drop=True),
                                  check_exact=False, rtol=1e-10)


@pytest.fixture()
def uk(tmp_path) -> tuple[pd.DataFrame, str]:
    rows = _uk_lines()
    path = tmp_path / "uk.parquet"
    rows.to_parquet(path)
    return rows, str(path)


def test_uk_line_items_give_the_pandas_summary_and_exclusions(uk):
    rows, path = uk
    kept, counts, dropped = _pandas_path(rows)
    got = customer_summary(path)
    _same_summary(customer_summary(kept), got)
    by_id = got.set_index("customer_id")
    assert "12346" not in by_id.index  # the 77,183.60 order reversed the same day
    assert by_id.loc["12347", "total_amount"] == pytest.approx(42.42 + 10.0)
    assert by_id.loc["12348", "total_amount"] == pytest.approx(100.2 + 10.0)
    report = engine_validation_report(path)
    assert report.excluded_counts == counts
    assert report.excluded_counts[REASON_NO_CUSTOMER] == 1
    assert report.excluded_counts[REASON_REVERSED] >= 1
    assert report.n_rows_in == len(rows) and report.n_rows_out == len(kept)
    assert set(report.dropped_customers) == dropped and "12346" in dropped
    assert set(report.excluded["reason"]) == set(counts)
    assert report.currency is None


def test_uk_line_items_with_as_of_before_the_last_order(uk):
    rows, path = uk
    kept, counts, dropped = _pandas_path(rows, as_of="2011-06-30")
    _same_summary(customer_summary(kept, as_of="2011-06-30"),
                  customer_summary(path, as_of="2011-06-30"))
    report = engine_validation_report(engine_source(path), as_of="2011-06-30")
    assert report.excluded_counts == counts and counts[REASON_AFTER_AS_OF] > 0
    assert set(report.dropped_customers) == dropped


def test_the_same_line_item_file_twice_is_refused(uk):
    _, path = uk
    with pytest.raises(CrmDataError, match="order ids"):
        check_engine_orders(runner_for([path, path]))


def test_null_marker_customer_ids_are_left_out_and_counted(tmp_path):
    orders = _orders(16).assign(customer_id=[f"c{i % 5}" for i in range(16)])
    markers = ["N/A", "NULL", "null", "#N/A", "-", "?", "", " n/a "]
    orders.loc[range(0, 16, 2), "customer_id"] = markers
    path = tmp_path / "markers.parquet"
    orders.to_parquet(path)
    kept, report = validate_orders(orders, return_report=True)
    _same_summary(customer_summary(kept), customer_summary(str(path)))
    got = engine_validation_report(str(path))
    assert got.excluded_counts == {REASON_NO_CUSTOMER: 8}
    assert dict(report.exclusion_counts().itertuples(index=False)) == got.excluded_counts
    assert got.n_rows_out == len(kept) == 8


def test_a_typo_date_is_left_out_and_never_the_as_of_day(tmp_path):
    rng = np.random.default_rng(5)
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 360, 619), unit="D")
    orders = pd.DataFrame({"customer_id": [f"m{i % 200}" for i in range(620)],
                           "order_id": [f"T{i}" for i in range(620)],
                           "order_date": list(days) + [pd.Timestamp("2099-01-01")],
                           "amount": rng.gamma(2.0, 40.0, 620).round(2)})
    path = tmp_path / "typo.parquet"
    orders.to_parquet(path)
    kept, report = validate_orders(orders, return_report=True)
    got = customer_summary(str(path))
    _same_summary(customer_summary(kept), got)
    assert (got["last_order"].max() == days.max()
            and got["days_since_last_order"].min() == 0)
    engine = engine_validation_report(str(path))
    assert engine.excluded_counts == {REASON_DATE_OUTLIER: 1}
    assert dict(report.exclusion_counts().itertuples(index=False)) == engine.excluded_counts
    assert any("2099-01-01" in w for w in engine.warnings)
    # an as-of day before the typo: the typo order is after it, as on the pandas path
    _, later = validate_orders(orders, as_of="2024-12-31", return_report=True)
    engine = engine_validation_report(str(path), as_of="2024-12-31")
    assert engine.excluded_counts == dict(later.exclusion_counts().itertuples(index=False))


def test_margin_above_amount_is_a_warning():
    orders = _orders().assign(margin=[0.5, 99.0] + [0.1] * 6)
    report = engine_validation_report(duckdb.from_df(orders))
    assert report.warnings == ["1 order has a margin larger than their amount (kept; check "
                               "the margin column)"]
    assert report.excluded_counts == {} and report.n_rows_out == 8


def test_a_clean_source_keeps_the_simple_orders_query(parquet):
    """No line items, reversals, guests or typos: the kept orders are the rows as read."""
    runner = runner_for(parquet)
    check_engine_orders(runner)
    cte = backend_sql.orders_cte(runner, as_of_day=19000)
    assert "crm_" not in cte and "OVER" not in cte and "LOWER" not in cte
    assert cte.startswith("o AS (SELECT CAST(customer_id AS STRING) AS customer_id, ")
