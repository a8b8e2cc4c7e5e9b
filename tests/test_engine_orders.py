"""Engine sources (Parquet, DuckDB) refuse what validate_orders refuses, with its message."""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pandas as pd
import pytest

from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import engine_source, is_engine_source, runner_for
from crm_analytics.backends import sql as backend_sql
from crm_analytics.backends.duckdb import DuckDBRunner
from crm_analytics.orders.sql import check_engine_orders, null_id_condition
from crm_analytics.orders.validate import validate_orders


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
    assert counts["n_rows"] == 8 and counts["customer_id"] == counts["amount"] == 0
    assert (counts["first_day"], counts["last_day"]) == (days.min(), days.max())


def test_the_same_file_twice_is_refused_like_duplicate_order_ids(parquet):
    message = _assert_same_error(pd.concat([_orders(), _orders()]), [parquet, parquet])
    assert message.startswith("Column 'order_id' has 16 rows sharing 8 order ids ('o0' (2 rows)")
    assert "... and 3 more order ids" in message
    # a glob over two copies of the file, too
    folder = parquet.rsplit("/", 1)[0]
    _orders().to_parquet(f"{folder}/copy.parquet")
    _assert_same_error(pd.concat([_orders(), _orders()]), f"{folder}/*.parquet")


def test_line_items_are_refused_with_the_pandas_message(tmp_path):
    lines = _orders(9).assign(order_id=[f"o{i // 3}" for i in range(9)])
    path = tmp_path / "lines.parquet"
    lines.to_parquet(path)
    message = _assert_same_error(lines, str(path))
    assert message.startswith("Column 'order_id' has 9 rows sharing 3 order ids")
    assert "sum line items per order first" in message


def test_number_ids_are_checked_too(tmp_path):
    orders = _orders().assign(order_id=[1, 2, 3, 3, 5, 6, 7, 8],
                              customer_id=[11, 12, 11, 12, 11, 12, 11, 12])
    path = tmp_path / "numbers.parquet"
    orders.to_parquet(path)
    assert runner_for(str(path)).column_types["order_id"] == "bigint"
    message = _assert_same_error(orders, str(path))
    assert message.startswith("Column 'order_id' has 2 rows sharing 1 order ids (3 (2 rows))")
    floats = orders.assign(order_id=orders["order_id"] * 1.0, customer_id=np.nan)
    _assert_same_error(floats, duckdb.from_df(floats))


def test_order_ids_compared_as_trimmed_text_like_pandas():
    orders = _orders().assign(order_id=["o1", " o1 "] + [f"o{i}" for i in range(2, 8)])
    _assert_same_error(orders, duckdb.from_df(orders))


@pytest.mark.parametrize("column, value, head", [
    ("customer_id", None, "Column 'customer_id' is empty in 2 of 8 rows"),
    ("customer_id", " nan ", "Column 'customer_id' is empty in 2 of 8 rows"),
    ("order_id", "", "Column 'order_id' is empty in 2 of 8 rows"),
    ("order_date", pd.NaT, "Column 'order_date' has 2 values that are not dates"),
    ("amount", np.nan, "Column 'amount' is missing in 2 rows"),
    ("amount", np.inf, "Column 'amount' is infinite in 2 rows"),
    ("amount", -5.0, "Column 'amount' is negative in 2 rows"),
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
    orders.loc[1, "amount"] = -1.0
    orders.loc[3, "order_id"] = "o4"  # a duplicate too: the negative amount comes first
    message = _assert_same_error(orders, duckdb.from_df(orders))
    assert message.startswith("Column 'amount' is negative in 1 rows (-1.0)")


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


def test_null_id_condition_uses_the_pandas_markers():
    sql = null_id_condition("customer_id")
    for marker in ("''", "'nan'", "'None'", "'NaN'", "'<NA>'"):
        assert marker in sql


def test_bad_engine_settings_are_a_clear_error(parquet):
    with pytest.raises(CrmDataError, match=r"DuckDB refused the engine settings.*memory_limit='2GB'"):
        engine_source(parquet, memory_limit="lots")


def test_a_hash_collision_is_not_taken_for_repeated_order_ids(parquet, monkeypatch):
    """Distinct 64-bit hashes prove distinct ids; fewer hashes are checked exactly."""
    dialects = {k: dict(v) for k, v in backend_sql.DIALECTS.items()}
    for snippets in dialects.values():
        snippets["hash64"] = "0 * LENGTH(CAST({x} AS STRING))"  # every id collides
    monkeypatch.setattr("crm_analytics.orders.sql.DIALECTS", dialects)
    assert check_engine_orders(runner_for(parquet))["n_rows"] == 8
