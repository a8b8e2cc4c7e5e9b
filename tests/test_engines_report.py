"""The out-of-core report: per-customer tables stay in the engine, same files as pandas."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import runner_for, sql
from crm_analytics.backends.order_stats import medians, quantile
from crm_analytics.ltv import engine_fit as models
from crm_analytics.ltv import sql as ltv_sql
from crm_analytics.orders.datasets import load_sample
from crm_analytics.report import run_report
from crm_analytics.report.engine import run_engine_report
from crm_analytics.summary import customer_summary
from crm_analytics.summary.sql import customer_summary_sql

CANONICAL = ["customer_id", "order_id", "order_date", "amount", "margin"]
#: Files only a report on in-memory orders with channel / category columns has.
BY_DIMENSION = {f"repurchase_by_first_{d}.{ext}" for d in ("channel", "category")
                for ext in ("csv", "png")}


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return load_sample()


@pytest.fixture(scope="module")
def parquet(sample, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("engine_report") / "orders.parquet"
    plain = sample[CANONICAL].copy()
    plain.attrs = {}
    plain.to_parquet(path)
    return str(path)


@pytest.fixture(scope="module")
def reports(sample, parquet, tmp_path_factory):
    base = tmp_path_factory.mktemp("reports")
    want = run_report(sample, out_dir=base / "pandas", progress=False)
    got = run_report(parquet, out_dir=base / "engine", progress=False)
    return want, got


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"customer_id": str}, encoding="utf-8-sig")


def _same_table(want: pd.DataFrame, got: pd.DataFrame, *, rtol: float, atol: float) -> None:
    assert list(got.columns) == list(want.columns)
    assert got["customer_id"].tolist() == want["customer_id"].tolist()
    for col in want.columns:
        a, b = want[col], got[col]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            np.testing.assert_allclose(b.to_numpy(float), a.to_numpy(float), rtol=rtol,
                                       atol=atol, err_msg=col)
        else:
            assert b.fillna("<NA>").astype(str).tolist() == \
                a.fillna("<NA>").astype(str).tolist(), col


def test_customers_csv_equals_the_pandas_report(reports):
    want, got = reports
    # 4 decimals in the file; the Gamma-Gamma optimiser stops within its tolerance (1e-6)
    _same_table(_read(want.out_dir / "customers.csv"), _read(got.out_dir / "customers.csv"),
                rtol=1e-6, atol=1.5e-4)


def test_segments_and_small_tables_equal_the_pandas_report(reports):
    want, got = reports
    seg_want, seg_got = _read(want.out_dir / "segments.csv"), _read(got.out_dir / "segments.csv")
    # every customer is in the KMeans sample here: the same segments, assigned in SQL
    assert (seg_got["segment"] == seg_want["segment"]).all()
    _same_table(seg_want, seg_got, rtol=1e-6, atol=1.5e-4)
    for name in ("segment_profiles.csv", "cohort_repurchase.csv", "cohort_revenue.csv"):
        pd.testing.assert_frame_equal(_read(got.out_dir / name), _read(want.out_dir / name),
                                      check_exact=False, rtol=1e-9)
    assert got.headline == want.headline
    assert {p.name for p in got.files} == {p.name for p in want.files} - BY_DIMENSION


def test_files_have_a_bom_and_chinese_text(reports):
    _, got = reports
    for name in ("customers.csv", "segments.csv"):
        raw = (got.out_dir / name).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        assert not raw[3:].startswith(b"\xef\xbb\xbf")
    assert "价值" in (got.out_dir / "customers.csv").read_text(encoding="utf-8-sig")
    assert not list(got.out_dir.glob("*.part"))


def test_the_engine_path_keeps_customers_in_the_engine(reports):
    """No per-customer pandas table: the result holds the engine's relation."""
    _, got = reports
    assert isinstance(got.customers, duckdb.DuckDBPyRelation)
    assert got.customers.shape[0] == 5000
    assert "ltv_distribution.png" in {p.name for p in got.files}


def test_sampled_segments_assign_every_customer_in_sql(sample, parquet, tmp_path):
    """KMeans on a 1,000-customer sample; SQL assigns the rest as the model's predict."""
    from crm_analytics.segments import kmeans_segments

    res = run_report(parquet, out_dir=tmp_path, sample_size=1000, progress=False, n_clusters=4)
    assert any("KMeans fitted on 1,000 of the 5,000" in n for n in res.notes)
    seg = _read(tmp_path / "segments.csv")
    assert len(seg) == 5000 and seg["segment"].between(1, 4).all()
    # refit the same model on the same sample and predict every customer in numpy
    summary = customer_summary(sample)
    cols = ["days_since_last_order", "n_orders", "total_amount"]
    prof = pd.read_csv(tmp_path / "segment_profiles.csv", encoding="utf-8-sig")
    assert prof["size"].sum() == 5000
    merged = seg.merge(summary[["customer_id", *cols]], on="customer_id", suffixes=("", "_p"))
    for c in cols:
        np.testing.assert_allclose(merged[c], merged[c + "_p"])
    # the sample is the one the engine drew: fit on it again, predict all in numpy

    runner = runner_for(parquet)
    _, a = sql.resolve_day(runner, None, "as_of")
    runner.materialise("t", customer_summary_sql(runner, as_of_day=a, unit_days=7.0,
                                                     margin=True, order=False))
    key = sql.DIALECTS["duckdb"]["shuffle"].format(x="customer_id", seed=0)
    ids = runner.fetch(f"SELECT customer_id FROM t ORDER BY {key} LIMIT 1000")["customer_id"]
    part = summary[summary["customer_id"].isin(set(ids))].reset_index(drop=True)
    fitted = kmeans_segments(part[["customer_id", *cols]], n_clusters=4)
    logged, mean, scale = (fitted.transform.log_features, fitted.transform.mean,
                           fitted.transform.scale)
    z = summary[cols].to_numpy(float)
    for j, c in enumerate(cols):
        if c in logged:
            z[:, j] = np.log1p(z[:, j])
    z = (z - mean) / scale
    centers = fitted.centers[cols].to_numpy(float).copy()
    for j, c in enumerate(cols):
        if c in logged:
            centers[:, j] = np.log1p(centers[:, j])
    centers = (centers - mean) / scale
    nearest = ((z[:, None, :] - centers[None]) ** 2).sum(axis=2).argmin(axis=1) + 1
    assert (seg.set_index("customer_id").loc[summary["customer_id"], "segment"].to_numpy()
            == nearest).all()


@pytest.mark.parametrize("max_distinct", [200_000, 40, 1])
def test_order_statistics_are_exact(sample, parquet, monkeypatch, max_distinct):
    """Exact medians / quantiles, also when the values are bucketed in several passes."""
    from crm_analytics.backends import order_stats

    monkeypatch.setattr(order_stats, "MAX_DISTINCT", max_distinct)

    runner = runner_for(parquet)
    summary = customer_summary(sample)
    _, a = sql.resolve_day(runner, None, "as_of")
    runner.materialise("s", customer_summary_sql(runner, as_of_day=a, unit_days=1.0,
                                                     margin=True, order=False))
    for col in ("avg_order_value", "n_orders", "total_amount"):
        got = medians(runner, "s", col)["median"].iloc[0]
        assert got == np.median(summary[col].to_numpy(float)), col
    even = medians(runner, "s", "total_amount", where="n_orders > 1")["median"].iloc[0]
    assert even == np.median(summary.loc[summary["n_orders"] > 1, "total_amount"])
    by_orders = medians(runner, "s", "total_amount", by="n_orders")["median"]
    np.testing.assert_allclose(by_orders, summary.groupby("n_orders")["total_amount"].median(),
                               rtol=1e-15)
    q = quantile(runner, "s", "total_amount", 0.005, where="total_amount > 0")
    assert q == pytest.approx(np.quantile(summary["total_amount"], 0.005), rel=1e-12)


def test_spend_model_sample_when_there_are_many_pairs(sample, parquet):
    from crm_analytics.ltv import fit_spend_model

    runner = runner_for(parquet)
    _, a = sql.resolve_day(runner, None, "as_of")
    runner.materialise("t", customer_summary_sql(runner, as_of_day=a, unit_days=7.0,
                                                     margin=True, order=False))
    full, note = models.spend_model_from_summary(runner, "t")
    assert note is None
    want = fit_spend_model(customer_summary(sample, time_unit="W"), standard_errors=False)
    assert full.n_customers == want.n_customers
    assert full.mean_spend == pytest.approx(want.mean_spend, rel=1e-12)
    assert full.frequency_monetary_correlation == pytest.approx(
        want.frequency_monetary_correlation, rel=1e-9)
    for k, v in want.params.items():
        assert full.params[k] == pytest.approx(v, rel=1e-5), k
    part, note = models.spend_model_from_summary(runner, "t", max_pairs=500, seed=3)
    assert "used 500 of the" in note and "seed 3" in note
    assert part.n_customers == full.n_customers  # statistics over all repeat customers
    again, _ = models.spend_model_from_summary(runner, "t", max_pairs=500, seed=3)
    assert again.params == part.params  # a fixed sample


def test_churn_model_from_patterns_equals_fit_churn_model(sample, parquet):
    from crm_analytics.churn import fit_churn_model

    runner = runner_for(parquet)
    _, a = sql.resolve_day(runner, None, "as_of")
    runner.materialise("t", customer_summary_sql(runner, as_of_day=a, unit_days=7.0,
                                                     margin=True, order=False))
    patterns = ltv_sql.fetch_patterns(runner, "t", as_of_day=a)
    got = models.churn_model_from_patterns(patterns, model="mbgnbd", time_unit="W")
    want = fit_churn_model(customer_summary(sample, time_unit="W"), model="mbgnbd",
                           standard_errors=False)
    assert got.n_customers == want.n_customers and got.n_patterns == want.n_patterns
    for k, v in want.params.items():
        assert got.params[k] == pytest.approx(v, rel=1e-7), k
    with pytest.raises(CrmDataError, match="has a repeat purchase"):
        models.churn_model_from_patterns(patterns.assign(frequency=0, recency=0.0))
    with pytest.raises(CrmDataError, match="T == 0"):
        models.churn_model_from_patterns(patterns.assign(T=0.0))
    with pytest.raises(CrmDataError, match="'model' parameter must be one of"):
        models.churn_model_from_patterns(patterns, model="pareto")
    with pytest.raises(CrmDataError, match="has no customers"):
        models.churn_model_from_patterns(patterns.iloc[:0])


def test_one_order_each_writes_a_report_without_models(tmp_path):
    orders = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"], "order_id": ["1", "2", "3", "4"],
        "order_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01",
                                      "2024-04-01"]),
        "amount": [10.0, 20.0, 30.0, 40.0]})
    rel = duckdb.from_df(orders)
    res = run_report(rel, out_dir=tmp_path, progress=False, n_clusters=2)
    assert any("Churn model not fitted" in n for n in res.notes)
    want = run_report(orders, out_dir=tmp_path / "pandas", progress=False, n_clusters=2)
    _same_table(_read(want.out_dir / "customers.csv"), _read(tmp_path / "customers.csv"),
                rtol=1e-9, atol=0)


def test_bad_parameters(parquet, tmp_path):
    with pytest.raises(CrmDataError, match="'sample_size' parameter must be an int >= 100"):
        run_report(parquet, out_dir=tmp_path, sample_size=10, progress=False)
    with pytest.raises(CrmDataError, match="No order is on or before"):
        run_report(parquet, out_dir=tmp_path, as_of="2000-01-01", progress=False)
    with pytest.raises(CrmDataError, match="sleep_after"):
        run_report(parquet, out_dir=tmp_path, sleep_after=0, progress=False)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CrmDataError, match="Cannot create the output folder"):
        run_report(parquet, out_dir=blocker / "sub", progress=False)


def test_run_engine_report_is_a_deprecated_alias(parquet, tmp_path, reports):
    _, want = reports
    with pytest.warns(DeprecationWarning, match="run_engine_report is deprecated"):
        got = run_engine_report(parquet, out_dir=tmp_path, progress=False)
    assert got.headline == want.headline
    assert [p.name for p in got.files] == [p.name for p in want.files]


def test_both_paths_write_the_same_files_in_the_same_order(reports):
    want, got = reports
    assert [p.name for p in got.files] == [p.name for p in want.files
                                           if p.name not in BY_DIMENSION]
    # the charts are drawn by one builder from the same tables: the same pixels
    for name in ("cohort_heatmap.png", "repurchase_curves.png", "member_status.png",
                 "sleeping_flow.png", "churn_risk.png", "segment_sizes.png",
                 "ltv_distribution.png"):
        assert (got.out_dir / name).read_bytes() == (want.out_dir / name).read_bytes(), name


def test_engine_ltv_bins_equal_the_pandas_bins(reports):
    """The LTV chart's bins, counted in SQL, are those of the per-customer values."""
    from crm_analytics.plots.ltv import ltv_log_bins
    from crm_analytics.report.engine_path import ltv_bins_on_engine

    want, got = reports
    runner = runner_for(got.customers)
    expected = ltv_log_bins(want.customers)
    table = ltv_bins_on_engine(runner, "(SELECT ltv FROM {src}) t")
    pd.testing.assert_frame_equal(table, expected, check_exact=False, rtol=1e-9)


# --------------------------------------------------------------------------- Spark
@pytest.fixture(scope="module")
def spark_orders(sample, spark_frame):
    frame = spark_frame(sample[CANONICAL].copy())
    yield frame
    frame.unpersist()


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")
def test_spark_report_writes_the_files_of_the_pandas_report(reports, spark_orders, tmp_path):
    want, _ = reports
    got = run_report(spark_orders, out_dir=tmp_path, progress=False)
    assert [p.name for p in got.files] == [p.name for p in want.files
                                           if p.name not in BY_DIMENSION]
    assert got.headline == want.headline
    # the same model chosen by the same backtest, run on Spark
    assert _churn_section(got.html_path.read_text(encoding="utf-8"))[0] == \
        _churn_section(want.html_path.read_text(encoding="utf-8"))[0]
    for name in ("customers.csv", "segments.csv"):
        assert (got.out_dir / name).read_bytes().startswith(b"\xef\xbb\xbf")
        # Spark writes some numbers in another form (1.0E-5): compare the values
        _same_table(_read(want.out_dir / name), _read(got.out_dir / name),
                    rtol=1e-6, atol=1.5e-4)
    for name in ("segment_profiles.csv", "cohort_repurchase.csv", "cohort_revenue.csv"):
        pd.testing.assert_frame_equal(_read(got.out_dir / name), _read(want.out_dir / name),
                                      check_exact=False, rtol=1e-9)
    for name in ("cohort_heatmap.png", "member_status.png", "churn_risk.png",
                 "ltv_distribution.png"):
        assert (got.out_dir / name).read_bytes() == (want.out_dir / name).read_bytes(), name


def _churn_section(page: str) -> tuple[str, list[str]]:
    import re

    start = page.index("<h2>Churn risk</h2>")
    section = page[start:page.index("</section>", start)]
    tables = re.findall(r"<table.*?</table>", section, flags=re.S)
    return re.sub(r"<img[^>]*>", "", section.split("<div")[0]), tables


def test_churn_story_equals_the_pandas_report(reports):
    """Both paths choose the same model by the same backtest and count the same
    customers by churn risk and sleeping status."""
    want, got = (_churn_section(r.html_path.read_text(encoding="utf-8")) for r in reports)
    assert "Model chosen by a backtest" in want[0]
    assert got[0] == want[0]
    assert len(want[1]) == 3 and got[1][:2] == want[1][:2]  # risk counts, risk x status
    assert all((r.out_dir / "churn_backtest.png").exists() for r in reports)


# --------------------------------------------------------------------------- issue 12/13
def _small_shop(n: int) -> pd.DataFrame:
    rows = []
    for i in range(n):
        rows.append((f"c{i}", f"o{i}a", "2024-01-05", 10.0 + i))
        if i % 2 == 0:
            rows.append((f"c{i}", f"o{i}b", "2024-03-05", 12.0))
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "order_date", "amount"])
    return frame.assign(order_date=pd.to_datetime(frame["order_date"]))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_small_shops_get_a_page_on_the_engine_path(n, tmp_path):
    res = run_report(duckdb.from_df(_small_shop(n)), out_dir=tmp_path, progress=False)
    page = res.html_path.read_text(encoding="utf-8")
    assert res.headline["Customers"] == str(n) and "Data used" in page
    customers = _read(tmp_path / "customers.csv")
    assert len(customers) == n
    if n < 3:
        assert "Not computed. No segments:" in page
        assert customers["segment"].isna().all()


def test_engine_data_section_equals_the_pandas_one(tmp_path):
    orders = _small_shop(40)
    late = pd.DataFrame({"customer_id": ["c1"], "order_id": ["late"],
                         "order_date": pd.to_datetime(["2024-06-01"]), "amount": [5.0]})
    orders = pd.concat([orders, late], ignore_index=True)
    want = run_report(orders, out_dir=tmp_path / "p", as_of="2024-03-31", currency="GBP",
                      progress=False)
    got = run_report(duckdb.from_df(orders), out_dir=tmp_path / "e", as_of="2024-03-31",
                     currency="GBP", progress=False)
    for res in (want, got):
        assert res.data.n_after_as_of == 1 and res.data.orders_used == len(orders) - 1
        assert res.data.currency == "GBP" and res.data.as_of_reason == "given"
    assert got.data.lines() == want.data.lines()
    assert got.headline == want.headline


def test_engine_csv_cells_are_neutralised(tmp_path):
    orders = _small_shop(40)
    orders.loc[orders["customer_id"] == "c0", "customer_id"] = "=HYPERLINK(1)"
    run_report(duckdb.from_df(orders), out_dir=tmp_path, progress=False)
    for name in ("customers.csv", "segments.csv"):
        ids = _read(tmp_path / name)["customer_id"]
        assert "'=HYPERLINK(1)" in ids.tolist() and "=HYPERLINK(1)" not in ids.tolist()


# --------------------------------------------------------------------------- issue 15/16
def test_engine_board_and_lifecycle_equal_the_pandas_report(reports):
    want, got = reports
    for name in ("kpi_board.csv", "lifecycle_stages.csv"):
        pd.testing.assert_frame_equal(_read(got.out_dir / name), _read(want.out_dir / name),
                                      check_exact=False, rtol=1e-9)
    page = (got.out_dir / "report.html").read_text(encoding="utf-8")
    assert "KPI board (quarterly)" in page and "Customer lifecycle" in page
    assert "needs the orders in memory" in page  # no repurchase by first channel
    assert "Payment (" not in page and "Replenishment (" not in page


def test_engine_report_has_payment_and_cycles(tmp_path):
    from crm_analytics.reminders import payment_timing, repurchase_cycles
    from crm_analytics.simulate import simulate_shop
    from crm_analytics.simulate_reminders import simulate_reminders

    orders = simulate_reminders(simulate_shop(400, seed=7, params={"campaigns": []}),
                                seed=8).orders
    path = tmp_path / "orders.parquet"
    orders.to_parquet(path)
    res = run_report(str(path), out_dir=tmp_path / "r", progress=False)
    page = res.html_path.read_text(encoding="utf-8")
    pay = payment_timing(orders)
    assert f"{pay.overall['paid_share']:.1%} of {pay.n_orders:,} created orders" in page
    assert "Replenishment (追销)" in page and "needs the orders in memory" in page
    got = _read(tmp_path / "r" / "repurchase_cycles.csv")
    want = repurchase_cycles(orders, by="product").table
    assert got["product"].tolist() == want["product"].tolist()
    np.testing.assert_allclose(got["cycle_days_per_unit"], want["cycle_days_per_unit"])
    assert not (tmp_path / "r" / "replenishment_list.csv").exists()
