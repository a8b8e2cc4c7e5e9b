"""Backtest of churn models against simple rules, and the model choice built on it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from crm_analytics._core.errors import CrmDataError
from crm_analytics.churn import MODELS
from crm_analytics.churn.backtest import (
    BACKTEST_COLUMNS,
    CALIBRATION_COLUMNS,
    RULES,
    auc_score,
    backtest_churn,
    holdout_counts,
    rule_predictions,
)
from crm_analytics.churn.fit import ModelChoice, choose_churn_model, fit_churn_model
from crm_analytics.orders.datasets import load_sample
from crm_analytics.sleeping import member_status
from crm_analytics.summary import calibration_holdout_split, customer_summary

CAL_END = "2025-10-01"
CANONICAL = ["customer_id", "order_id", "order_date", "amount", "margin"]


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return load_sample()


@pytest.fixture(scope="module")
def parquet(sample, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("backtest") / "orders.parquet"
    sample[CANONICAL].to_parquet(path)
    return str(path)


@pytest.fixture(scope="module")
def bt(sample):
    return backtest_churn(sample, calibration_end=CAL_END)


def test_table_has_one_row_per_model_and_rule(bt):
    assert list(bt.table.columns) == list(BACKTEST_COLUMNS)
    available = [m for m in ("bgnbd", "mbgnbd", "pnbd") if m in MODELS]
    assert bt.table["name"].tolist() == available + list(RULES)
    assert bt.table["kind"].tolist() == ["model"] * len(available) + ["rule"] * len(RULES)
    if "pnbd" not in MODELS:
        assert any("pnbd" in note for note in bt.notes)
    assert bt.table["auc"].between(0.5, 1).all()
    assert (bt.table["actual_orders"] == bt.table["actual_orders"].iloc[0]).all()
    assert list(bt.calibration.columns) == list(CALIBRATION_COLUMNS)
    assert (bt.calibration.groupby("name")["n_customers"].sum() == bt.n_customers).all()


def test_actual_orders_equal_the_holdout_split(sample, bt):
    split = calibration_holdout_split(sample, calibration_end=CAL_END)
    assert bt.n_customers == len(split)
    assert bt.table["actual_orders"].iloc[0] == split["frequency_holdout"].sum()
    assert bt.n_ordered == int((split["frequency_holdout"] > 0).sum())


def test_auc_equals_scikit_learn():
    rng = np.random.default_rng(1)
    y = rng.random(500) < 0.3
    score = np.round(rng.random(500), 1)  # with ties
    assert auc_score(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert np.isnan(auc_score(np.ones(3), [1, 2, 3]))


def test_rules_error_and_mae_by_hand(sample, bt):
    summary = customer_summary(sample, as_of=CAL_END, time_unit="W")
    split = calibration_holdout_split(sample, calibration_end=CAL_END)
    actual = split["frequency_holdout"].to_numpy(float)
    own = rule_predictions(summary, "own_order_rate", horizon=91)
    expected = np.where(summary["T"] > 0, summary["frequency"] / (summary["T"] * 7), 0) * 91
    np.testing.assert_allclose(own["predicted_orders"], expected)
    row = bt.table.set_index("name").loc["own_order_rate"]
    assert row["mae"] == pytest.approx(np.mean(np.abs(expected - actual)))
    assert row["error_pct"] == pytest.approx(100 * (expected.sum() / actual.sum() - 1))
    # the recency rule keeps the shop total: n x shop rate x horizon
    rec = rule_predictions(summary, "days_since_last_order", horizon=91)
    rate = summary["frequency"].sum() / (summary["T"].sum() * 7)
    assert rec["predicted_orders"].sum() == pytest.approx(len(summary) * rate * 91)
    assert rec["score"].rank().corr(-summary["days_since_last_order"].rank()) == 1


def test_sleeping_rule_is_the_member_status_rule(sample):
    summary = customer_summary(sample, as_of=CAL_END)
    status = member_status(sample, as_of=CAL_END, sleep_after=90)
    asleep = status.set_index("customer_id")["status"].isin(["sleeping", "given_up"])
    rule = rule_predictions(summary, "sleeping_rule", horizon=91, sleep_after=90)
    got = rule.set_index("customer_id")["score"] == 0
    assert (got == asleep.reindex(got.index)).all()
    assert (rule.loc[rule["score"] == 0, "predicted_orders"] == 0).all()


def test_pandas_and_duckdb_rank_the_same_way(bt, parquet):
    engine = backtest_churn(parquet, calibration_end=CAL_END)
    assert engine.ranking() == bt.ranking()
    pd.testing.assert_frame_equal(engine.table, bt.table, check_exact=False, rtol=1e-6)
    assert engine.holdout_end == bt.holdout_end


def test_holdout_counts_on_duckdb_equal_pandas(sample, parquet):
    want = holdout_counts(sample, calibration_end=CAL_END, holdout_end="2025-12-31")
    got = holdout_counts(parquet, calibration_end=CAL_END, holdout_end="2025-12-31")
    got = got.sort_values("customer_id", ignore_index=True)
    pd.testing.assert_frame_equal(got, want.sort_values("customer_id", ignore_index=True))


def test_rolling_folds(sample, bt):
    two = backtest_churn(sample, calibration_end=CAL_END, models=("mbgnbd",), folds=2)
    assert two.folds["fold"].tolist() == [0] * 4 + [1] * 4
    last = two.folds[two.folds["fold"] == 1]
    assert (last["calibration_end"] == pd.Timestamp(CAL_END) - pd.Timedelta(days=91)).all()
    row = two.table.set_index("name").loc["mbgnbd"]
    assert row["actual_orders"] == two.folds.query("name == 'mbgnbd'")["actual_orders"].sum()
    with pytest.raises(CrmDataError, match="folds"):
        backtest_churn(sample, calibration_end=CAL_END, folds=0)


def test_bad_dates(sample):
    with pytest.raises(CrmDataError, match="after calibration_end"):
        backtest_churn(sample, calibration_end="2025-12-31", holdout_end="2025-12-01")


def test_choice_names_the_model_and_the_rule(sample):
    choice = choose_churn_model(sample)
    assert isinstance(choice, ModelChoice)
    assert choice.name in MODELS and choice.model.model == choice.name
    assert choice.best_rule in RULES
    assert MODELS[choice.name] in choice.reason and "AUC" in choice.reason
    assert choice.backtest.holdout_days == 90
    auto = fit_churn_model(sample, model="auto")
    assert auto.model == choice.name and auto.params == choice.model.params
    assert auto.choice_reason == choice.reason and "AUC" in auto.choice_reason
    assert choice.model.as_of == pd.Timestamp("2025-12-31")


def test_auto_on_a_summary_says_it_is_not_backtested(sample):
    """A summary has no held-out period: "auto" takes the best likelihood and says so."""
    summary = customer_summary(sample, time_unit="W")
    auto = fit_churn_model(summary, model="auto")
    fits = {m: fit_churn_model(summary, model=m) for m in ("bgnbd", "mbgnbd", "pnbd")}
    best = max(fits, key=lambda m: fits[m].log_likelihood)
    assert auto.model == best and auto.params == fits[best].params
    assert any("not by a backtest" in w and "fit_churn_model(orders, model='auto')" in w
               for w in auto.warnings)


def test_a_rule_that_wins_is_said(sample, monkeypatch):
    import crm_analytics.churn.fit as fit_module

    real = fit_module.backtest_churn

    def rigged(*args, **kwargs):
        out = real(*args, **kwargs)
        table = out.table.copy()
        table.loc[table["kind"] == "rule", "auc"] = 0.99
        table.loc[table["kind"] == "model", "error_pct"] = 45.0
        return type(out)(**{**out.__dict__, "table": table})

    monkeypatch.setattr(fit_module, "backtest_churn", rigged)
    choice = choose_churn_model(sample, models=("mbgnbd",))
    assert not choice.beats_rules
    assert any("No model beat" in w for w in choice.warnings)
    assert any("+45%" in w for w in choice.warnings)
    if hasattr(choice.model, "warnings"):
        assert set(choice.warnings) <= set(choice.model.warnings)


def test_calibration_plot(bt):
    from crm_analytics.plots.backtest import plot_backtest_calibration

    ax = plot_backtest_calibration(bt)
    assert len(ax.get_lines()) >= len(bt.table) + 1
    with pytest.raises(CrmDataError):
        plot_backtest_calibration(bt.table)


@pytest.mark.parametrize("rule", ["days_since_last_order", "own_order_rate", "sleeping_rule"])
def test_rule_rank_is_the_same_in_numpy_and_sql(sample, rule):
    import duckdb

    from crm_analytics.churn.backtest import rule_rank, rule_score_sql

    summary = customer_summary(sample, time_unit="W")
    con = duckdb.connect()
    con.register("s", summary)
    score = rule_score_sql(rule, alias="s", unit_days=7.0, sleep_after=60)
    got = con.execute(f"SELECT customer_id, ROW_NUMBER() OVER (ORDER BY {score} DESC, "
                      "s.customer_id) AS r FROM s ORDER BY customer_id").df()
    want = rule_rank(summary, rule, sleep_after=60)
    assert got["r"].tolist() == want.tolist()


def test_report_ranks_customers_by_a_winning_rule(sample, tmp_path, monkeypatch):
    import crm_analytics.churn.fit as fit_module
    from crm_analytics.report import run_report

    real = fit_module.backtest_churn

    def rigged(*args, **kwargs):
        out = real(*args, **kwargs)
        table = out.table.copy()
        table.loc[table["name"] == "own_order_rate", "auc"] = 0.99
        return type(out)(**{**out.__dict__, "table": table})

    monkeypatch.setattr(fit_module, "backtest_churn", rigged)
    res = run_report(sample, out_dir=tmp_path / "pandas", progress=False, n_clusters=3)
    pandas_csv = pd.read_csv(tmp_path / "pandas" / "customers.csv", dtype={"customer_id": str})
    assert sorted(pandas_csv["rule_rank"]) == list(range(1, len(pandas_csv) + 1))
    top = pandas_csv.sort_values("rule_rank").iloc[0]
    rate = pandas_csv["frequency"] / pandas_csv["T"].where(pandas_csv["T"] > 0)
    assert top["frequency"] / top["T"] == pytest.approx(rate.max())
    assert "rule_rank" in res.html_path.read_text(encoding="utf-8")
    path = tmp_path / "orders.parquet"
    sample[["customer_id", "order_id", "order_date", "amount", "margin"]].to_parquet(path)
    run_report(str(path), out_dir=tmp_path / "engine", progress=False, n_clusters=3)
    engine_csv = pd.read_csv(tmp_path / "engine" / "customers.csv", dtype={"customer_id": str})
    assert engine_csv["rule_rank"].tolist() == pandas_csv["rule_rank"].tolist()
