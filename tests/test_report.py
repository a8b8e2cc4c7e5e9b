"""Speed paths of the report pipeline (prepared orders, side-by-side joins) give exactly
what the plain path gives."""

import numpy as np
import pandas as pd
import pytest

from crm_analytics._core.errors import CrmDataError
from crm_analytics.churn import churn_scores, fit_churn_model
from crm_analytics.orders.datasets import load_sample
from crm_analytics.orders.encode import PreparedOrders, customer_codes, prepare_orders
from crm_analytics.report.pandas_path import join_customer_tables as _join
from crm_analytics.segments import kmeans_segments
from crm_analytics.sleeping import member_status
from crm_analytics.summary import customer_summary, summary_as_of


@pytest.fixture(scope="module")
def tables():
    orders = prepare_orders(load_sample("orders"))
    summary = customer_summary(orders, time_unit="W")
    scores = churn_scores(summary, churn_model=fit_churn_model(summary, model="mbgnbd",
                                                               standard_errors=False))
    segments = kmeans_segments(summary, n_clusters=3, random_state=0, sample_size=500)
    status = member_status(orders)[["customer_id", "status", "quality", "sleep_date"]]
    return summary, scores, segments.assignments[["customer_id", "segment"]], status


def merged(left, right):
    return left.merge(right, on="customer_id", how="left", validate="one_to_one")


def test_join_side_by_side_equals_merge(tables):
    summary, *others = tables
    fast, slow = summary, summary
    for table in others:
        fast, slow = _join(fast, table), merged(slow, table)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)


def test_join_falls_back_to_merge_when_order_differs(tables):
    summary, scores, *_ = tables
    shuffled = scores.sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(_join(summary, shuffled), merged(summary, scores),
                                  check_exact=True)
    missing = scores.iloc[10:]  # customers absent from the right table get NaN
    pd.testing.assert_frame_equal(_join(summary, missing), merged(summary, missing),
                                  check_exact=True)


def test_prepared_codes_are_encoded_once_per_object():
    prepared = prepare_orders(load_sample("orders"))
    orders = prepared.orders
    codes, uniques = customer_codes(prepared)
    assert customer_codes(prepared)[0] is codes  # no new encoding
    assert not codes.flags.writeable
    other = orders.assign(customer_id="x" + orders["customer_id"])
    o_codes, o_uniques = customer_codes(other)  # a plain frame: encoded afresh
    ref_codes, ref_uniques = pd.factorize(orders["customer_id"], sort=True)
    np.testing.assert_array_equal(codes, ref_codes)
    assert uniques.equals(ref_uniques)
    np.testing.assert_array_equal(np.sort(o_uniques.to_numpy()),
                                  ("x" + ref_uniques).to_numpy())
    assert o_uniques[o_codes].equals(pd.Index(other["customer_id"]))
    assert prepare_orders(prepared) is prepared


def test_prepared_steps_compute_once_and_equal_plain_runs(monkeypatch):
    from crm_analytics import summary as summary_module
    from crm_analytics.cohorts import cohort_repurchase, cohort_revenue
    from crm_analytics.sleeping import sleeping_flow

    raw = load_sample("orders")
    plain = {
        "D": customer_summary(raw), "W": customer_summary(raw, time_unit="W"),
        "flow": sleeping_flow(raw), "status": member_status(raw),
        "cohorts": cohort_repurchase(raw), "revenue": cohort_revenue(raw),
    }
    calls = []
    real = summary_module._summarise
    monkeypatch.setattr(summary_module, "_summarise",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    prepared = prepare_orders(raw)
    shared = {
        "W": customer_summary(prepared, time_unit="W"), "D": customer_summary(prepared),
        "flow": sleeping_flow(prepared), "status": member_status(prepared),
        "cohorts": cohort_repurchase(prepared), "revenue": cohort_revenue(prepared),
    }
    shared["D"].loc[0, "frequency"] = -1  # results are the caller's to change
    again = customer_summary(prepared)
    assert len(calls) == 1  # one summary for both units and member_status
    assert again.loc[0, "frequency"] == plain["D"].loc[0, "frequency"]
    shared["D"].loc[0, "frequency"] = plain["D"].loc[0, "frequency"]
    for name, table in plain.items():
        pd.testing.assert_frame_equal(shared[name], table, check_exact=True)
    # a plain frame is never taken from another object's work
    later = raw.iloc[:-1]
    pd.testing.assert_frame_equal(customer_summary(later), customer_summary(later.copy()))
    assert isinstance(prepared, PreparedOrders)


def test_report_leaves_warning_filters_and_results_as_a_plain_run(tmp_path):
    import warnings

    from crm_analytics.report import run_report

    orders = load_sample("orders")
    before = list(warnings.filters)
    res = run_report(orders, out_dir=tmp_path, n_clusters=3, progress=False)
    assert list(warnings.filters) == before
    # the threaded steps give what each public function gives alone
    summary = customer_summary(orders, time_unit="W")
    seg = kmeans_segments(summary, n_clusters=3)
    pd.testing.assert_frame_equal(res.customers[summary.columns], summary, check_exact=True)
    np.testing.assert_array_equal(res.customers["segment"], seg.assignments["segment"])
    status = member_status(orders)
    pd.testing.assert_series_equal(res.customers["status"], status["status"])
    written = pd.read_csv(tmp_path / "customers.csv", dtype={"customer_id": str},
                          encoding="utf-8-sig")
    assert written["first_order"].tolist() == summary["first_order"].dt.strftime(
        "%Y-%m-%d").tolist()


def test_overview_bars_from_a_table_or_from_counts(tables):
    """The engine report draws the same bars from SQL counts as from per-customer rows."""
    import matplotlib.pyplot as plt

    from crm_analytics.plots.overview import plot_churn_risk, plot_member_status

    _, scores, _, status = tables
    for plot, table, col in ((plot_churn_risk, scores, "churn_risk"),
                             (plot_member_status, status, "status")):
        counts = table[col].astype(str).value_counts()  # in count order, as SQL may give
        from_rows, from_counts = plot(table), plot(counts)
        heights = [[b.get_height() for b in ax.patches] for ax in (from_rows, from_counts)]
        labels = [[t.get_text() for t in ax.get_xticklabels()] for ax in (from_rows, from_counts)]
        assert heights[0] == heights[1] and labels[0] == labels[1]
        assert sum(heights[0]) == len(table)
        plt.close("all")


def test_ltv_chart_from_bins_equals_the_chart_from_rows(tables):
    """Both report paths draw the LTV chart from bins; it is the chart of the rows."""
    import matplotlib.pyplot as plt

    from crm_analytics.ltv import fit_spend_model, predict_ltv
    from crm_analytics.plots.ltv import ltv_log_bins, plot_ltv_distribution, plot_ltv_histogram

    summary = tables[0]
    churn_model = fit_churn_model(summary, model="mbgnbd", standard_errors=False)
    ltv = predict_ltv(summary, churn_model=churn_model,
                      spend_model=fit_spend_model(summary, standard_errors=False))
    ltv.loc[:4, "ltv"] = 0.0  # some values not shown
    kw = dict(basis="margin", horizon_months=12, discounted=True, currency="yuan")
    rows = plot_ltv_distribution(ltv, log_scale=True, **kw)
    bins = plot_ltv_histogram(ltv_log_bins(ltv), **kw)
    assert [p.get_height() for p in rows.patches] == [p.get_height() for p in bins.patches]
    assert [p.get_x() for p in rows.patches] == [p.get_x() for p in bins.patches]
    assert rows.get_title() == bins.get_title() and "5 <= 0 not shown" in bins.get_title()
    assert rows.get_legend_handles_labels()[1] == bins.get_legend_handles_labels()[1]
    assert rows.get_xlabel() == bins.get_xlabel() == "ltv (yuan)"
    plt.close("all")


def test_engine_options_need_an_engine_source(tmp_path):
    from crm_analytics.report import run_report

    with pytest.raises(CrmDataError, match="apply to Parquet paths, DuckDB relations and Spark"):
        run_report(load_sample("orders"), out_dir=tmp_path, memory_limit="1GB", progress=False)


# --------------------------------------------------------------------------- churn story
@pytest.fixture(scope="module")
def story_tables():
    from crm_analytics.report.pandas_path import pandas_tables

    return pandas_tables(prepare_orders(load_sample("orders")), n_segments=3)


def test_churn_model_is_chosen_by_backtest_and_said(story_tables):
    from crm_analytics.churn import MODELS

    t = story_tables
    assert t.backtest is not None and t.churn_model_name in MODELS.values()
    assert t.churn_choice.startswith("Model chosen by a backtest: " + t.churn_model_name)
    assert "best simple rule" in t.churn_choice
    ranked = t.backtest.ranking("model")
    assert MODELS[ranked[0]] == t.churn_model_name or "AUC" in t.churn_choice
    assert t.churn_rule_text == ""  # on the sample a model beats every rule


def test_risk_by_status_counts_every_customer_once(story_tables):
    t = story_tables
    table = t.risk_by_status.set_index("churn_risk")
    assert table.loc["total", "total"] == t.n_customers
    assert table.loc[["low", "medium", "high"], "total"].tolist() == \
        t.risk_counts.reindex(["low", "medium", "high"]).tolist()
    status_totals = table.loc["total"].drop("total")
    assert status_totals.to_dict() == t.status_counts.to_dict()


def test_no_sleeping_customer_with_a_high_p_no_order_is_low_risk(story_tables):
    customers = story_tables.customers.table
    if "p_no_order" not in customers.columns:
        pytest.skip("churn_scores has no p_no_order yet")
    asleep = customers["status"].isin(["sleeping", "given_up"])
    risky = asleep & (customers["p_no_order"] > 0.8)
    assert risky.any()
    assert (customers.loc[risky, "churn_risk"].astype(str) != "low").all()


def test_page_shows_the_choice_the_table_and_the_warnings(story_tables, tmp_path):
    from crm_analytics.report.builder import build_report
    from crm_analytics.report.churn_story import risk_vs_sleeping_sentence

    res = build_report(story_tables, tmp_path, subtitle="t")
    page = res.html_path.read_text(encoding="utf-8")
    assert "Model chosen by a backtest" in page
    assert risk_vs_sleeping_sentence(90).replace("'", "&#x27;") in page
    assert "pre_sleep" in page and "given_up" in page  # the two-way table's columns
    assert "own_order_rate" in page  # the backtest table
    assert (tmp_path / "churn_backtest.png").exists()
    for warning in story_tables.churn_warnings:
        assert warning.split(":")[0].replace("'", "&#x27;") in page


def test_a_rule_that_beats_every_model_is_said(monkeypatch):
    from dataclasses import replace

    from crm_analytics.report import churn_story

    real = churn_story.choose_churn_model

    def rigged(*args, **kwargs):
        return replace(real(*args, **kwargs), beats_rules=False,
                       best_rule="days_since_last_order")

    monkeypatch.setattr(churn_story, "choose_churn_model", rigged)
    story = churn_story.choose_report_model(load_sample("orders"),
                                            as_of=pd.Timestamp("2025-12-31"),
                                            sleep_after=90, refit=False)
    assert story.best_rule == "days_since_last_order"
    assert "No model beat the simple rule 'days since last order'" in story.rule_text()
    assert "days_since_last_order, smallest first" in story.rule_text()


def test_without_a_backtest_the_report_uses_mbgnbd_and_says_why():
    from crm_analytics.report.churn_story import BACKTEST_MAX_CUSTOMERS, choose_report_model

    story = choose_report_model(None, as_of=pd.Timestamp("2025-12-31"), sleep_after=90,
                                refit=False, n_customers=BACKTEST_MAX_CUSTOMERS + 1)
    assert story.name == "mbgnbd" and story.choice is None
    assert "without a backtest" in story.text


def test_old_n_segments_spelling_warns(tmp_path):
    from crm_analytics._core.errors import CrmDataError
    from crm_analytics.report import run_report

    with pytest.raises(CrmDataError, match="n_clusters only"):
        run_report(load_sample("orders"), out_dir=tmp_path, n_clusters=2, n_segments=2)
    with pytest.warns(DeprecationWarning, match="n_clusters"):
        res = run_report(load_sample("orders").iloc[:3000], out_dir=tmp_path, n_segments=2,
                         progress=False)
    assert res.html_path.exists()


def test_large_shops_are_backtested_on_a_customer_sample(monkeypatch):
    """Above the sample size the backtest runs on a seeded customer sample; the chosen
    family is then fitted on every customer and keeps the backtest's warnings."""
    from crm_analytics.report import churn_story

    monkeypatch.setattr(churn_story, "BACKTEST_SAMPLE_CUSTOMERS", 1500)
    prepared = prepare_orders(load_sample("orders"))
    sample = churn_story.customer_sample(prepared, 1500)
    assert len(sample.customer_ids) == 1500
    assert set(sample.customer_ids) <= set(prepared.customer_ids)
    summary = customer_summary(prepared)
    story = churn_story.choose_report_model(prepared, as_of=summary_as_of(summary),
                                            sleep_after=90, refit=True,
                                            n_customers=len(summary))
    assert not story.refitted and "sample of 1,500" in story.text
    from crm_analytics.report.pandas_path import pandas_tables

    tables = pandas_tables(prepared, n_segments=3)  # fits the family on all customers
    assert tables.n_customers == 5000
