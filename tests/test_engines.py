"""The SQL engines (DuckDB, Spark) give the same tables as the pandas functions."""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest

from crm_analytics import engines
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import engine_source, is_engine_source
from crm_analytics.campaigns.outcomes import prepare_campaign as campaign_prepare
from crm_analytics.cohorts import cohort_repurchase, cohort_revenue
from crm_analytics.orders.datasets import load_cdnow, load_sample
from crm_analytics.orders.validate import validate_orders
from crm_analytics.sleeping import sleeping_flow
from crm_analytics.summary import customer_summary

CANONICAL = ["customer_id", "order_id", "order_date", "amount", "margin"]


def _plain(orders: pd.DataFrame, columns=CANONICAL) -> pd.DataFrame:
    out = orders[[c for c in columns if c in orders.columns]].copy()
    out.attrs = {}  # the validation report in attrs cannot be written to Parquet
    return out


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return load_sample()


@pytest.fixture(scope="module")
def sample_parquet(sample, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("engines") / "orders.parquet"
    _plain(sample).to_parquet(path)
    return str(path)


@pytest.fixture(scope="module")
def cdnow_parquet(tmp_path_factory) -> tuple[pd.DataFrame, str]:
    orders = load_cdnow()
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.parquet"
    _plain(orders).to_parquet(path)
    return orders, str(path)


def _equal(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(expected, got, check_exact=False, rtol=1e-10)
    assert expected.attrs.keys() <= got.attrs.keys()
    for key, value in expected.attrs.items():
        assert got.attrs[key] == value, key


# --------------------------------------------------------------------------- DuckDB
@pytest.mark.parametrize("time_unit", ["D", "W"])
@pytest.mark.parametrize("as_of", [None, "2025-06-30"])
def test_summary_duckdb_parquet_equals_pandas(sample, sample_parquet, time_unit, as_of):
    expected = customer_summary(sample, as_of=as_of, time_unit=time_unit)
    _equal(expected, customer_summary(sample_parquet, as_of=as_of, time_unit=time_unit))


def test_summary_duckdb_relation_and_table(sample, sample_parquet):
    expected = customer_summary(sample)
    con = duckdb.connect()
    rel = con.read_parquet(sample_parquet)
    _equal(expected, customer_summary(rel))
    con.execute(f"CREATE TABLE shop_orders AS SELECT * FROM read_parquet('{sample_parquet}')")
    _equal(expected, customer_summary(engine_source("shop_orders", connection=con)))
    # a list of files (the same orders split in two) and a glob give the same table
    half = _plain(sample)
    folder = sample_parquet.rsplit("/", 1)[0]
    half.iloc[::2].to_parquet(f"{folder}/part-0.parquet")
    half.iloc[1::2].to_parquet(f"{folder}/part-1.parquet")
    _equal(expected, customer_summary([f"{folder}/part-0.parquet",
                                               f"{folder}/part-1.parquet"]))
    _equal(expected, customer_summary(f"{folder}/part-*.parquet"))


def test_summary_duckdb_cdnow_weeks(cdnow_parquet):
    orders, path = cdnow_parquet
    expected = customer_summary(orders, as_of="1997-09-30", time_unit="W")
    got = customer_summary(path, as_of="1997-09-30", time_unit="W")
    _equal(expected, got)
    assert got["frequency"].gt(0).sum() == 946  # Fader, Hardie & Lee (2005) calibration


def test_summary_native_relation_has_the_same_numbers(sample_parquet):
    rel = customer_summary(sample_parquet, output="native")
    assert isinstance(rel, duckdb.DuckDBPyRelation)
    got = rel.df()
    expected = customer_summary(sample_parquet)
    assert list(got.columns) == list(expected.columns)
    np.testing.assert_allclose(got["monetary_value"], expected["monetary_value"])
    assert (pd.to_datetime(got["first_order"]).to_numpy() == expected["first_order"]).all()


def test_summary_with_memory_limit_and_spilling_options(sample, sample_parquet, tmp_path):
    got = customer_summary(engine_source(sample_parquet, memory_limit="200MB", threads=1,
                                         temp_directory=tmp_path / "spill"))
    _equal(customer_summary(sample), got)


@pytest.mark.parametrize("chunks", [2, 5])
def test_summary_in_customer_chunks_equals_pandas(sample, sample_parquet, cdnow_parquet, chunks):
    """Customers split into hash buckets (the out-of-core plan) give the same table."""
    from crm_analytics.backends.duckdb import DuckDBRunner
    from crm_analytics.summary.sql import summary_on_engine

    _equal(customer_summary(sample, time_unit="W"),
           summary_on_engine(DuckDBRunner(sample_parquet), time_unit="W", chunks=chunks))
    orders, path = cdnow_parquet
    _equal(customer_summary(orders, as_of="1997-09-30"),
           summary_on_engine(DuckDBRunner(path), as_of="1997-09-30", chunks=chunks))
    rel = summary_on_engine(DuckDBRunner(sample_parquet), output="native", chunks=chunks)
    assert rel.df()["customer_id"].is_monotonic_increasing


def test_chunks_follow_the_memory_limit(sample_parquet):
    from crm_analytics.backends import sql
    from crm_analytics.backends.duckdb import DuckDBRunner, parse_size
    from crm_analytics.summary.sql import summary_on_engine

    small = DuckDBRunner(sample_parquet, memory_limit="100MB")
    assert small.memory_limit_bytes() == parse_size("95.3 MiB")
    assert sql.chunk_count(small, 1000) == 1
    assert sql.chunk_count(small, 64_000_000) == -(-64_000_000 * sql.ROW_BYTES
                                               // parse_size("95.3 MiB"))
    with pytest.raises(CrmDataError, match="'chunks' parameter must be an int >= 1"):
        summary_on_engine(small, chunks=0)


def test_pandas_input_is_not_modified(sample):
    orders = _plain(sample)
    before = orders.copy()
    customer_summary(duckdb.from_df(orders))
    cohort_repurchase(duckdb.from_df(orders))
    pd.testing.assert_frame_equal(orders, before)


def test_status_column_excludes_cancelled_orders(sample, tmp_path):
    orders = _plain(sample).iloc[:3000].copy()
    orders["status"] = np.where(np.arange(len(orders)) % 7 == 0, "交易关闭", "交易成功")
    orders.loc[orders.index[1], "status"] = " Refunded "
    path = tmp_path / "with_status.parquet"
    orders.to_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        validated = validate_orders(orders)
    _equal(customer_summary(validated), customer_summary(str(path)))
    _equal(sleeping_flow(validated), sleeping_flow(str(path)))


@pytest.mark.parametrize("period", ["W", "M", "Q"])
@pytest.mark.parametrize("how", ["on", "cumulative"])
def test_cohort_repurchase_duckdb_equals_pandas(sample, sample_parquet, period, how):
    expected = cohort_repurchase(sample, period=period, how=how)
    _equal(expected, cohort_repurchase(sample_parquet, period=period, how=how))


def test_cohort_tables_with_as_of_and_cdnow(sample, sample_parquet, cdnow_parquet):
    expected = cohort_repurchase(sample, period="M", how="cumulative", as_of="2025-03-15")
    got = cohort_repurchase(sample_parquet, period="M", how="cumulative",
                                    as_of="2025-03-15")
    _equal(expected, got)
    assert not got["complete"].all()  # March 2025 is cut at the 15th
    _equal(cohort_revenue(sample, period="Q"), cohort_revenue(sample_parquet, period="Q"))
    orders, path = cdnow_parquet
    _equal(cohort_repurchase(orders, period="W"), cohort_repurchase(path, period="W"))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"start": "2024-06-01", "end": "2025-03-01", "sleep_after": 30, "remind_before": 5},
     {"start": "2023-12-01", "sleep_after": 180, "remind_before": 0}],
)
def test_sleeping_flow_duckdb_equals_pandas(sample, sample_parquet, kwargs):
    _equal(sleeping_flow(sample, **kwargs), sleeping_flow(sample_parquet, **kwargs))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"as_of": "2025-03-15", "sleep_after": 60, "remind_before": 7, "give_up_after": 120,
          "min_orders": 3}],
)
def test_member_status_duckdb_equals_pandas(sample, sample_parquet, kwargs):
    """Status and quality in SQL come from the same rules as the NumPy path."""
    from crm_analytics.sleeping import member_status

    _equal(member_status(sample, **kwargs), member_status(sample_parquet, **kwargs))


def test_campaign_outcomes_duckdb_equals_pandas(sample, sample_parquet):
    campaigns = load_sample("campaigns")
    for _, audience in campaigns.groupby("campaign_id"):
        audience = audience.reset_index(drop=True)
        start = audience["start"].iloc[0]
        window = int(audience["window_days"].iloc[0])
        expected = campaign_prepare(sample, audience, start=start, window_days=window,
                                    pre_days=90).members
        got = engines.campaign_outcomes(sample_parquet, audience, start=start,
                                        window_days=window, pre_days=90)
        pd.testing.assert_frame_equal(expected, got, check_exact=False, rtol=1e-10)
        assert got["revenue"].gt(0).any() and got["pre_orders"].gt(0).any()


# --------------------------------------------------------------------------- errors
def test_missing_column_is_named(sample):
    rel = duckdb.from_df(_plain(sample).rename(columns={"amount": "paid"}))
    with pytest.raises(CrmDataError, match=r"missing column\(s\) \['amount'\]"):
        customer_summary(rel)


def test_missing_values_are_counted(sample):
    orders = _plain(sample).iloc[:100].copy()
    orders.loc[orders.index[:3], "order_id"] = None
    with pytest.raises(CrmDataError, match=r"Column 'order_id' is empty in 3 of 100 rows"):
        customer_summary(duckdb.from_df(orders))


def test_rows_without_a_customer_are_left_out_like_pandas(sample):
    orders = _plain(sample).iloc[:100].copy()
    orders.loc[orders.index[:3], "customer_id"] = None
    _equal(customer_summary(validate_orders(orders)), customer_summary(duckdb.from_df(orders)))


def test_empty_source_and_missing_file(sample, tmp_path):
    empty = duckdb.from_df(_plain(sample).iloc[:0])
    with pytest.raises(CrmDataError, match="has no \\(kept\\) rows"):
        sleeping_flow(empty)
    with pytest.raises(CrmDataError, match="Parquet file\\(s\\) not found"):
        customer_summary(str(tmp_path / "nope.parquet"))


def test_as_of_before_first_order(sample_parquet):
    with pytest.raises(CrmDataError, match="No order is on or before as_of=2020-01-01"):
        customer_summary(sample_parquet, as_of="2020-01-01")
    with pytest.raises(CrmDataError, match="No order is on or before as_of=2020-01-01"):
        cohort_repurchase(sample_parquet, as_of="2020-01-01")


def test_bad_parameters(sample_parquet):
    with pytest.raises(CrmDataError, match="'output' parameter must be"):
        customer_summary(sample_parquet, output="arrow")
    with pytest.raises(CrmDataError, match="'time_unit' parameter must be"):
        customer_summary(sample_parquet, time_unit="M")
    with pytest.raises(CrmDataError, match="'period' parameter must be"):
        cohort_repurchase(sample_parquet, period="Y")
    with pytest.raises(CrmDataError, match="'end' parameter"):
        sleeping_flow(sample_parquet, start="2025-01-02", end="2025-01-01")
    with pytest.raises(CrmDataError, match="engine_source takes a Parquet path"):
        engine_source(42)
    with pytest.raises(CrmDataError, match="must be a pandas DataFrame"):
        customer_summary(42)
    with pytest.raises(CrmDataError, match="'window_days' parameter must be"):
        engines.campaign_outcomes(sample_parquet, pd.DataFrame(), start="2025-01-01",
                                  window_days=0)


def test_is_engine_source(sample):
    assert is_engine_source(duckdb.from_df(_plain(sample).iloc[:5]))
    assert is_engine_source(["a.parquet", "b.parquet"])
    assert not is_engine_source(sample)


# --------------------------------------------------------------------------- Spark
@pytest.fixture(scope="module")
def spark_orders(sample, spark_frame):
    frame = spark_frame(_plain(sample))
    yield frame
    frame.unpersist()


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")
def test_spark_equals_pandas(sample, spark_orders):
    _equal(customer_summary(sample, time_unit="W"),
           customer_summary(spark_orders, time_unit="W"))
    _equal(cohort_repurchase(sample, period="M", how="cumulative"),
           cohort_repurchase(spark_orders, period="M", how="cumulative"))
    _equal(sleeping_flow(sample, sleep_after=60, remind_before=7),
           sleeping_flow(spark_orders, sleep_after=60, remind_before=7))
    audience = load_sample("campaigns").query("campaign_id == 'SMS-20250301'")
    audience = audience.reset_index(drop=True)
    pd.testing.assert_frame_equal(
        campaign_prepare(sample, audience, start="2025-03-01", window_days=30,
                         pre_days=90).members,
        engines.campaign_outcomes(spark_orders, audience, start="2025-03-01", window_days=30,
                                  pre_days=90),
        check_exact=False, rtol=1e-10,
    )


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")
def test_spark_line_items_and_reversals_equal_duckdb(spark_frame, tmp_path):
    """The shared SQL combines line items and nets reversals on Spark too."""
    lines = pd.DataFrame({
        "customer_id": [1.0, 1.0, 1.0, 2.0, 2.0, np.nan, 3.0, 3.0],
        "order_id": ["A1", "A1", "C9", "B1", "B2", "G1", "D1", "D2"],
        "order_date": pd.to_datetime(["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-05",
                                      "2024-02-05", "2024-01-07", "2024-03-01", "2024-03-02"]),
        "quantity": [2, 1, -1, 4, 1, 1, 3, -3],
        "unit_price": [5.0, 2.0, 5.0, 1.5, 8.0, 9.0, 2.0, 2.0],
    })
    path = tmp_path / "lines.parquet"
    lines.to_parquet(path)
    expected = customer_summary(str(path))
    assert expected["total_amount"].tolist() == [7.0, 14.0]  # customer 3: all reversed
    _equal(expected, customer_summary(spark_frame(lines)))


def test_spark_member_status_equals_pandas(sample, spark_orders):
    from crm_analytics.sleeping import member_status

    kwargs = {"sleep_after": 60, "remind_before": 7, "give_up_after": 120}
    _equal(member_status(sample, **kwargs), member_status(spark_orders, **kwargs))


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")
def test_spark_native_output_stays_in_spark(spark_orders):
    from pyspark.sql import DataFrame

    out = customer_summary(spark_orders, output="native")
    assert isinstance(out, DataFrame)
    assert out.count() == 5000
    assert "monetary_value" in out.columns and "first_order" in out.columns


def test_public_functions_hand_parquet_paths_to_the_engine(tmp_path) -> None:
    """customer_summary / cohort_repurchase / sleeping_flow accept a Parquet path as orders."""
    import crm_analytics as ca

    orders = ca.load_sample()
    path = tmp_path / "orders.parquet"
    plain = orders.copy()
    plain.attrs = {}
    plain.to_parquet(path)
    pd.testing.assert_frame_equal(ca.customer_summary(str(path)), ca.customer_summary(orders),
                                  check_dtype=False, rtol=1e-10)
    pd.testing.assert_frame_equal(ca.cohort_repurchase(str(path)), ca.cohort_repurchase(orders),
                                  check_dtype=False)
    window = {"start": "2025-06-01", "end": "2025-12-31"}
    pd.testing.assert_frame_equal(ca.sleeping_flow(str(path), **window),
                                  ca.sleeping_flow(orders, **window), check_dtype=False)


# --------------------------------------------------------------------------- campaign lift
def _lift_fields_equal(expected, got) -> None:
    import dataclasses

    for f in dataclasses.fields(expected):
        a, b = getattr(expected, f.name), getattr(got, f.name)
        if f.name in ("members",):
            pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-10)
        elif f.name in ("cumulative", "notes", "statistics", "unadjusted_statistics"):
            continue
        elif isinstance(a, float | np.floating) or hasattr(a, "low"):
            np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                                       rtol=1e-9, err_msg=f.name)
        else:
            assert a == b, f.name


@pytest.mark.parametrize("metric", ["revenue", "conversion", "margin"])
def test_campaign_lift_on_engine_equals_pandas(sample, sample_parquet, metric):
    from crm_analytics.campaigns import campaign_lift

    campaigns = load_sample("campaigns")
    for _, audience in campaigns.groupby("campaign_id"):
        audience = audience.reset_index(drop=True)
        kw = dict(start=audience["start"].iloc[0], metric=metric, pre_days=90,
                  window_days=int(audience["window_days"].iloc[0]), cost_per_contact=0.1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = campaign_lift(sample, audience, **kw)
            got = campaign_lift(sample_parquet, audience, **kw)
            rel = campaign_lift(duckdb.from_df(_plain(sample)), audience, **kw)
        _lift_fields_equal(expected, got)
        _lift_fields_equal(expected, rel)
        assert len(got.cumulative) == 0 and len(expected.cumulative) > 0
        assert any("no cumulative daily curve" in n for n in got.notes)


def test_lift_by_segment_and_metric_on_engine(sample, sample_parquet):
    from crm_analytics.campaigns import lift_by_metric, lift_by_segment

    audience = load_sample("campaigns").query("campaign_id == 'SMS-20250301'")
    audience = audience.reset_index(drop=True)
    kw = dict(start="2025-03-01", window_days=30, pre_days=90)
    by = [c for c in ("member_tier", "segment", "tier") if c in audience.columns][:1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if by:
            pd.testing.assert_frame_equal(
                lift_by_segment(sample, audience, by=by, min_group_size=5, **kw),
                lift_by_segment(sample_parquet, audience, by=by, min_group_size=5, **kw),
                check_exact=False, rtol=1e-9)
        pd.testing.assert_frame_equal(lift_by_metric(sample, audience, **kw),
                                      lift_by_metric(sample_parquet, audience, **kw),
                                      check_exact=False, rtol=1e-9)


def test_campaign_lift_empty_pre_period_is_float(sample):
    from crm_analytics.campaigns import campaign_lift

    audience = load_sample("campaigns").query("campaign_id == 'SMS-20250301'")
    audience = audience.reset_index(drop=True)
    first = sample["order_date"].min().normalize()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = campaign_lift(sample, audience, start=first, window_days=30, pre_days=30)
    assert res.members["pre_orders"].sum() == 0
    for col in ("revenue", "margin", "pre_revenue", "pre_margin"):
        assert res.members[col].dtype == np.float64, col


# --------------------------------------------------------------------------- scoring
@pytest.fixture(scope="module")
def fitted(sample):
    from crm_analytics.churn import fit_churn_model
    from crm_analytics.ltv import fit_spend_model

    summary = customer_summary(sample)
    return summary, fit_churn_model(summary), fit_spend_model(summary)


def _check_scores(got: pd.DataFrame, summary, model, spend, *, horizon=60, months=6) -> None:
    from crm_analytics.churn import churn_scores
    from crm_analytics.ltv import predict_ltv

    scores = churn_scores(summary, churn_model=model, horizon=horizon)
    assert list(got["customer_id"]) == list(summary["customer_id"])
    for col in ("p_alive", "p_no_order", "p_churn", "expected_orders", "expected_gap_days"):
        np.testing.assert_allclose(got[col], scores[col], rtol=1e-10, err_msg=col)
    for col in ("churn_risk", "next_order_basis"):
        assert got[col].astype(str).tolist() == scores[col].astype(str).tolist(), col
    nxt = pd.to_datetime(got["expected_next_order"]).to_numpy(dtype="datetime64[D]")
    np.testing.assert_array_equal(nxt, scores["expected_next_order"].to_numpy("datetime64[D]"))
    if spend is None:
        return
    ltv = predict_ltv(summary, churn_model=model, spend_model=spend, horizon_months=months)
    np.testing.assert_allclose(got["ltv_expected_orders"], ltv["expected_orders"], rtol=1e-10)
    for col in ("expected_spend_per_order", "expected_revenue", "expected_margin", "ltv"):
        np.testing.assert_allclose(got[col].astype(float), ltv[col], rtol=1e-10, err_msg=col)


def test_score_customers_equals_churn_scores_and_predict_ltv(sample_parquet, fitted):
    summary, model, spend = fitted
    rel = engines.score_customers(sample_parquet, model, spend, horizon=60, horizon_months=6)
    assert isinstance(rel, duckdb.DuckDBPyRelation)
    got = rel.df()
    _check_scores(got, summary, model, spend)
    # some customers of each next-order basis, so every branch was compared
    assert set(got["next_order_basis"]) == {"own_gaps", "model_rate", "unlikely_alive"}
    assert got["expected_next_order"].isna().sum() == (
        got["next_order_basis"] == "unlikely_alive").sum()
    from crm_analytics.ltv import score_customers

    native = score_customers(sample_parquet, churn_model=model, spend_model=spend, horizon=60,
                             horizon_months=6, output="native")
    assert isinstance(native, duckdb.DuckDBPyRelation)
    _check_scores(native.df(), summary, model, spend)
    plain = score_customers(sample_parquet, churn_model=model, horizon=60)
    assert list(plain.columns) == ["customer_id", "p_alive", "p_no_order", "p_churn",
                                   "expected_orders",
                                   "churn_risk", "expected_next_order", "next_order_basis",
                                   "expected_gap_days"]
    _check_scores(plain, summary, model, None)


def test_score_customers_on_a_bare_relation_and_weekly_model(sample):
    from crm_analytics.churn import fit_churn_model
    from crm_analytics.ltv import fit_spend_model

    weekly = customer_summary(sample, time_unit="W")
    model = fit_churn_model(weekly, model="mbgnbd")
    spend = fit_spend_model(weekly)
    daily = customer_summary(sample)
    rel = duckdb.from_df(_plain(sample))  # its connection is not reachable from Python
    got = engines.score_customers(rel, model, spend, horizon=60, horizon_months=6,
                                  output="pandas")
    _check_scores(got, daily, model, spend)


def test_score_customers_risk_thresholds(sample_parquet, fitted):
    summary, model, _ = fitted
    got = engines.score_customers(sample_parquet, model, high_risk_below=0.7,
                                  medium_risk_below=0.9, next_order_min_p_alive=0.5,
                                  output="pandas")
    from crm_analytics.churn import churn_scores

    want = churn_scores(summary, churn_model=model, high_risk_below=0.7,
                        medium_risk_below=0.9, next_order_min_p_alive=0.5)
    assert got["churn_risk"].tolist() == want["churn_risk"].astype(str).tolist()
    assert got["next_order_basis"].tolist() == want["next_order_basis"].astype(str).tolist()


def test_score_customers_errors(sample, sample_parquet, fitted):
    _, model, _ = fitted
    with pytest.raises(CrmDataError, match="'churn_model' argument must be a ChurnModel"):
        engines.score_customers(sample_parquet, "bgnbd")
    with pytest.raises(CrmDataError, match="'spend_model' argument must be a SpendModel"):
        engines.score_customers(sample_parquet, model, model)
    with pytest.raises(CrmDataError, match="must not exceed medium_risk_below"):
        engines.score_customers(sample_parquet, model, high_risk_below=0.9,
                                medium_risk_below=0.5)
    with pytest.raises(CrmDataError, match="'high_risk_below' parameter must be in"):
        engines.score_customers(sample_parquet, model, high_risk_below=1.5)
    with pytest.raises(CrmDataError, match="'output' parameter must be"):
        engines.score_customers(sample_parquet, model, output="polars")
    with pytest.raises(CrmDataError, match="margin_rate=0.3 was also given"):
        engines.score_customers(sample_parquet, model, fitted[2], margin_rate=0.3)


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")
def test_spark_scores_equal_pandas(spark_orders, fitted):
    summary, model, spend = fitted
    got = engines.score_customers(spark_orders, model, spend, horizon=60, horizon_months=6,
                                  output="pandas")
    _check_scores(got, summary, model, spend)


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")
def test_spark_report_writes_the_pandas_files(sample, spark_orders, tmp_path):
    from crm_analytics.report import run_report

    want = run_report(sample, out_dir=tmp_path / "pandas", progress=False)
    got = run_report(spark_orders, out_dir=tmp_path / "spark", progress=False)
    for name in ("customers.csv", "segments.csv"):
        raw = (got.out_dir / name).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        a = pd.read_csv(want.out_dir / name, dtype={"customer_id": str}, encoding="utf-8-sig")
        b = pd.read_csv(got.out_dir / name, dtype={"customer_id": str}, encoding="utf-8-sig")
        # 4 decimals in customers.csv; the Gamma-Gamma optimiser's tolerance is 1e-6
        pd.testing.assert_frame_equal(b, a, check_exact=False, rtol=1e-5, atol=1.5e-4)
    assert got.headline == want.headline


def test_sleeping_flow_in_customer_chunks_equals_pandas(sample, sample_parquet, monkeypatch):
    from crm_analytics.sleeping import sql

    monkeypatch.setattr(sql, "chunk_count", lambda runner, n_rows: 3)
    _equal(sleeping_flow(sample, sleep_after=60, remind_before=7),
           sleeping_flow(sample_parquet, sleep_after=60, remind_before=7))


def test_old_engine_entry_points_warn_and_equal_the_new_ones(sample, sample_parquet):
    with pytest.warns(DeprecationWarning, match="crm_analytics.customer_summary"):
        old = engines.customer_summary(sample_parquet)
    _equal(customer_summary(sample_parquet), old)
    with pytest.warns(DeprecationWarning, match="crm_analytics.sleeping_flow"):
        old = engines.sleeping_flow(sample_parquet)
    _equal(sleeping_flow(sample_parquet), old)
