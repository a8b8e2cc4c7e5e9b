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
    kw = dict(basis="margin", horizon_months=12, discounted=True, currency="pounds")
    rows = plot_ltv_distribution(ltv, log_scale=True, **kw)
    bins = plot_ltv_histogram(ltv_log_bins(ltv), **kw)
    assert [p.get_height() for p in rows.patches] == [p.get_height() for p in bins.patches]
    assert [p.get_x() for p in rows.patches] == [p.get_x() for p in bins.patches]
    assert rows.get_title() == bins.get_title() and "5 <= 0 not shown" in bins.get_title()
    assert rows.get_legend_handles_labels()[1] == bins.get_legend_handles_labels()[1]
    assert rows.get_xlabel() == bins.get_xlabel() == "ltv (pounds)"
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
    assert "of which pre-sleep" in page and "given_up" in page  # the two-way table's columns
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


# --------------------------------------------------------------------------- issue 12/13
def small_shop(n_customers: int, *, start: str = "2024-01-05") -> pd.DataFrame:
    """``n_customers`` customers; every other one orders twice."""
    rows = []
    for i in range(n_customers):
        rows.append((f"c{i}", f"o{i}a", start, 10.0 + i))
        if i % 2 == 0:
            rows.append((f"c{i}", f"o{i}b", "2024-03-05", 12.0))
    return pd.DataFrame(rows, columns=["customer_id", "order_id", "order_date", "amount"])


def page_text(path) -> str:
    """The page without its embedded images."""
    import re

    return re.sub(r'<img src="data:[^"]*"', "<img", path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def gbp_report(tmp_path_factory):
    from crm_analytics.report import run_report

    out = tmp_path_factory.mktemp("gbp") / "report"
    return run_report(load_sample("orders"), out_dir=out, currency="GBP", progress=False)


def test_currency_from_the_argument_labels_headline_page_and_chart(gbp_report):
    value = next(v for k, v in gbp_report.headline.items() if k.startswith("Predicted"))
    assert value.startswith("£")
    text = page_text(gbp_report.html_path)
    assert "GBP (pounds)" in text and "yuan" not in text and "元" not in text
    assert "£" in text  # the segment table's money


def test_unknown_currency_has_no_currency_word(tmp_path):
    from crm_analytics.report import run_report
    from crm_analytics.report.builder import draw_charts
    from crm_analytics.report.pandas_path import pandas_tables

    res = run_report(small_shop(40), out_dir=tmp_path, progress=False)
    value = next(v for k, v in res.headline.items() if k.startswith("Predicted"))
    assert value[0].isdigit() or value.startswith("n/a")
    text = page_text(res.html_path)
    assert "yuan" not in text and "元" not in text
    assert "Currency: unknown" in "\n".join(res.headline_lines())
    tables = pandas_tables(prepare_orders(load_sample("orders")), n_segments=3)
    import matplotlib.pyplot as plt

    charts = draw_charts(tables)
    assert charts["ltv_distribution.png"].get_xlabel() == "ltv (money)"
    assert draw_charts(tables, currency="CNY")["ltv_distribution.png"].get_xlabel() == \
        "ltv (yuan)"
    plt.close("all")


def test_report_and_plot_sources_never_say_yuan_by_themselves():
    from pathlib import Path

    import crm_analytics

    root = Path(crm_analytics.__file__).parent
    for folder in ("report", "plots"):
        for path in (root / folder).glob("*.py"):
            code = path.read_text(encoding="utf-8")
            assert "yuan" not in code and "元" not in code, path
            if folder == "report":
                assert "¥" not in code, path


def _with_fields(report, **extra):
    """``report`` with extra fields (a stand-in while ValidationReport lacks them)."""
    import dataclasses
    import types

    names = {f.name for f in dataclasses.fields(report)}
    if set(extra) <= names:
        return dataclasses.replace(report, **extra)
    return types.SimpleNamespace(**{n: getattr(report, n) for n in names}, **extra)


def test_currency_from_the_validation_report_of_prepared_orders(tmp_path):
    from crm_analytics.orders.validate import validate_orders
    from crm_analytics.report import run_report

    validated, report = validate_orders(small_shop(40), return_report=True)
    prepared = PreparedOrders(validated, _with_fields(report, currency="USD"))
    res = run_report(prepared, out_dir=tmp_path / "a", progress=False)
    assert res.data.currency == "USD"
    assert "Currency: USD (US dollars)" in res.headline_lines()
    res = run_report(prepared, out_dir=tmp_path / "b", currency="EUR", progress=False)
    assert res.data.currency == "EUR"  # the argument wins


def test_data_section_comes_first_and_lists_every_exclusion(tmp_path):
    from crm_analytics._core.vocab import REASON_AFTER_AS_OF
    from crm_analytics.report import run_report

    raw = small_shop(40).assign(status="paid")
    raw.loc[0, "status"] = "cancelled"
    late = pd.DataFrame({"customer_id": ["c1", "c3"], "order_id": ["late1", "late2"],
                         "order_date": ["2024-05-01", "2024-06-01"], "amount": [5.0, 6.0],
                         "status": ["paid", "paid"]})
    raw = pd.concat([raw, late], ignore_index=True)
    res = run_report(raw, out_dir=tmp_path, as_of="2024-03-31", progress=False)
    data = res.data
    assert data.rows_read == len(raw)
    reasons = dict(zip(data.exclusions["reason"], data.exclusions["orders"], strict=True))
    assert reasons[REASON_AFTER_AS_OF] == 2 and data.n_after_as_of == 2
    assert sum(reasons.values()) == 3  # the cancelled order and the two late ones
    assert data.orders_used == len(raw) - 3 == int(res.headline["Orders"])
    assert data.as_of_reason == "given" and data.last_day == pd.Timestamp("2024-03-05")
    lines = res.headline_lines()
    assert lines[0] == f"Rows read: {len(raw)}"
    assert f"Left out: 2 orders {REASON_AFTER_AS_OF}" in lines
    assert "As of: 2024-03-31 (given); 2 orders dated after it are left out of every " \
           "analysis" in lines
    text = page_text(res.html_path)
    assert text.index("Data used") < text.index('class="cards"')
    assert REASON_AFTER_AS_OF in text and "orders used by the analyses" in text


def test_data_section_reads_exclusion_counts_and_warnings_of_a_report():
    from crm_analytics.report.data_section import data_section

    class Report:  # the interface of the engine's and the readers' reports
        n_rows_in = 120
        notes = ["renamed columns"]
        warnings = ["3 orders have a margin larger than their amount"]
        date_readings = {"order_date": "day-first"}

        def exclusion_counts(self):
            return pd.DataFrame({"reason": ["never paid", "fully refunded"],
                                 "orders": [4, 16]})

    section = data_section(Report(), orders_kept=100, n_after_as_of=0,
                           first_day=pd.Timestamp("2024-01-01"),
                           last_day=pd.Timestamp("2024-02-01"),
                           as_of=pd.Timestamp("2024-02-01"), as_of_given=False,
                           currency=None)
    assert section.exclusions["reason"].tolist() == ["fully refunded", "never paid"]
    assert section.as_of_reason == "the last order date"
    assert "Warning: 3 orders have a margin larger than their amount" in section.lines()
    assert "Dates in column 'order_date' read as day-first." in section.notes
    assert section.table()["orders"].tolist() == ["120", "100", "16", "4", "100"]
    late = data_section(None, orders_kept=10, n_after_as_of=0, first_day=None,
                        last_day=pd.Timestamp("2024-01-01"), as_of=pd.Timestamp("2024-06-01"),
                        as_of_given=True, currency="GBP", sleep_after=90)
    assert "every member counts as sleeping" in late.warnings[0]
    assert late.rows_read is None and late.lines()[0] == "Orders used: 10"


def test_small_cohorts_are_hatched_and_sizes_shown(tmp_path):
    import matplotlib.pyplot as plt

    from crm_analytics.cohorts import cohort_repurchase
    from crm_analytics.plots.cohorts import plot_cohort_heatmap

    orders = pd.concat([small_shop(30), small_shop(2, start="2024-02-03").assign(
        customer_id=lambda d: "x" + d["customer_id"], order_id=lambda d: "x" + d["order_id"])],
        ignore_index=True)
    orders["order_date"] = pd.to_datetime(orders["order_date"])
    table = cohort_repurchase(orders, period="M", how="cumulative", as_of="2024-06-30")
    ax = plot_cohort_heatmap(table, period="M", how="cumulative", min_cohort_size=20,
                             show_sizes=True)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["2024-01  n=30", "2024-02  n=2"]
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == 1 and hatched[0].get_y() == 1  # the second row
    mesh = ax.collections[0].get_array()
    assert np.ma.getmaskarray(mesh).reshape(2, -1)[1].all()  # no colour for the small row
    assert any("too small" in t.get_text() for t in ax.texts)
    with pytest.raises(CrmDataError, match="min_cohort_size"):
        plot_cohort_heatmap(table, min_cohort_size=0)
    plt.close("all")


def test_repurchase_curves_stay_readable_with_many_cohorts():
    import matplotlib.pyplot as plt

    from crm_analytics.cohorts import cohort_repurchase
    from crm_analytics.plots.cohorts import plot_repurchase_curves

    table = cohort_repurchase(load_sample("orders"), period="M", how="cumulative")
    assert table["cohort"].nunique() >= 24
    ax = plot_repurchase_curves(table, period="M", how="cumulative")
    labels = ax.get_legend_handles_labels()[1]
    assert len(labels) == 4 + 2  # four cohorts, "other cohorts (n)", the average
    assert any(label.startswith("other cohorts") for label in labels)
    assert "all cohorts (weighted)" in labels
    ax = plot_repurchase_curves(table, period="M", how="cumulative", min_cohort_size=150)
    title = ax.get_legend().get_title().get_text()
    assert "under 150 customers not drawn" in title
    few = table[table["cohort"] < "2024-04-01"]
    assert len(plot_repurchase_curves(few).get_legend_handles_labels()[1]) == 3
    plt.close("all")


def test_active_means_the_same_on_tile_chart_table_and_text(gbp_report, story_tables,
                                                           tmp_path):
    import matplotlib.pyplot as plt

    from crm_analytics.report.builder import build_report, draw_charts

    counts = story_tables.status_counts
    active = int(counts["active"] + counts["pre_sleep"])
    headline = story_tables.headline()
    assert headline["Active members (ordered within 90 days)"] == f"{active:,}"
    chart = draw_charts(story_tables)["member_status.png"]
    first = chart.get_xticklabels()[0].get_text()
    assert first.startswith("active")
    heights = {}
    for bar in chart.patches:  # the active bar and its hatched pre-sleep part
        heights.setdefault(bar.get_x(), []).append(bar.get_y() + bar.get_height())
    assert max(max(h) for h in heights.values()) >= active
    assert active in [max(h) for h in heights.values()]
    plt.close("all")
    res = build_report(story_tables, tmp_path, subtitle="t")
    text = page_text(res.html_path)
    assert f"({active:,}, the same count as the headline)" in text
    table = story_tables.risk_by_status
    assert int((table["active"] + table["pre_sleep"]).iloc[-1]) == active


def test_segment_table_has_readable_headers_and_percentages(gbp_report):
    from crm_analytics.report.page import readable_segment_table

    text = page_text(gbp_report.html_path)
    for header in ("Share of customers", "Share of revenue", "Days since last order (median)"):
        assert f"<th>{header}</th>" in text
    assert "revenue_share" not in text.split("Customer segments")[1].split("</table>")[0]
    prof = pd.read_csv(gbp_report.out_dir / "segment_profiles.csv", encoding="utf-8-sig")
    shown = readable_segment_table(prof, "GBP")
    assert shown["Share of customers"].str.endswith("%").all()
    assert shown["Revenue"].str.startswith("£").all()


@pytest.mark.parametrize("n", [1, 2, 3])
def test_small_shops_get_a_page_saying_why_sections_are_missing(n, tmp_path):
    from crm_analytics.report import run_report

    res = run_report(small_shop(n), out_dir=tmp_path, progress=False)
    text = page_text(res.html_path)
    assert res.headline["Customers"] == str(n)
    assert "Data used" in text and "Sleeping members" in text
    customers = pd.read_csv(tmp_path / "customers.csv", encoding="utf-8-sig")
    assert len(customers) == n and "segment" in customers.columns
    if n < 3:
        assert "Not computed. No segments:" in text
        assert customers["segment"].isna().all()
        assert not (tmp_path / "segment_profiles.csv").exists()
        assert "n/a" in next(v for k, v in res.headline.items() if k.startswith("Predicted"))


def test_k_goes_through(tmp_path):
    from crm_analytics.report import run_report

    res = run_report(small_shop(40), out_dir=tmp_path, n_clusters=3, progress=False)
    assert res.customers["segment"].nunique() == 3
    assert "3 KMeans segments." in page_text(res.html_path)


# --------------------------------------------------------------------------- one report a folder
def test_a_second_report_removes_the_first_ones_files_and_keeps_the_users(tmp_path):
    import json

    from crm_analytics.report import run_report
    from crm_analytics.report.folder import MANIFEST

    out = tmp_path / "out"
    first = run_report(small_shop(40), out_dir=out, n_clusters=3, progress=False)
    assert (out / "ltv_distribution.png").exists() and (out / "segment_profiles.csv").exists()
    (out / "my_notes.txt").write_text("mine")
    second = run_report(small_shop(2), out_dir=out, progress=False)
    names = sorted(p.name for p in out.iterdir())
    assert "ltv_distribution.png" not in names and "segment_profiles.csv" not in names
    assert "my_notes.txt" in names  # not written by the package: never touched
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert sorted(manifest["files"]) == sorted(p.name for p in second.files)
    assert set(names) == {*manifest["files"], "my_notes.txt", MANIFEST}
    assert all(p.parent == out and p.exists() for p in second.files)
    assert second.html_path == out / "report.html" and first.out_dir == out
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder or lock


def test_a_failed_report_leaves_the_folder_as_it_was(tmp_path, monkeypatch):
    from crm_analytics.report import builder, run_report

    out = tmp_path / "out"
    run_report(small_shop(3), out_dir=out, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(builder, "write_report_page", broken)
    with pytest.raises(OSError, match="disk full"):
        run_report(small_shop(40), out_dir=out, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    with pytest.raises(OSError):
        run_report(small_shop(3), out_dir=tmp_path / "new", progress=False)
    assert not (tmp_path / "new").exists()


def test_two_reports_in_one_folder_do_not_mix(tmp_path, monkeypatch):
    import threading
    import time

    from crm_analytics.report import folder

    out = tmp_path / "out"
    inside = threading.Event()

    def first():
        with folder.report_folder(out) as tmp:
            inside.set()
            (tmp / "a.csv").write_text("first")
            time.sleep(0.5)
            (tmp / "b.csv").write_text("first")

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait(5)
    with pytest.raises(CrmDataError, match="Another report is writing into"):
        with folder.report_folder(out, wait=0.1):
            pass
    with folder.report_folder(out, wait=10) as tmp:  # waits for the first, then replaces it
        (tmp / "a.csv").write_text("second")
    thread.join()
    assert sorted(p.name for p in out.iterdir()) == [folder.MANIFEST, "a.csv"]
    assert (out / "a.csv").read_text() == "second"


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    import subprocess
    import sys

    from crm_analytics.report import folder

    out = tmp_path / "out"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    folder.lock_path(out).write_text(dead)
    with folder.report_folder(out, wait=0) as tmp:
        (tmp / "x.csv").write_text("x")
    assert (out / "x.csv").exists() and not folder.lock_path(out).exists()


def test_a_file_as_output_folder_is_a_clear_error(tmp_path):
    from crm_analytics.report import run_report

    target = tmp_path / "afile.txt"
    target.write_text("x")
    with pytest.raises(CrmDataError, match="it is a file, not a folder"):
        run_report(small_shop(3), out_dir=target, progress=False)
    with pytest.raises(CrmDataError, match="Cannot"):
        run_report(small_shop(3), out_dir=target / "sub", progress=False)


def test_every_csv_goes_through_the_excel_writer(tmp_path, monkeypatch):
    from crm_analytics._core import frames
    from crm_analytics.report import builder, run_report
    from crm_analytics.segments import export

    written = []
    real = frames.write_excel_csv

    def spy(frame, path, **kwargs):
        written.append(path.name)
        return real(frame, path, **kwargs)

    monkeypatch.setattr(builder, "write_excel_csv", spy)
    monkeypatch.setattr(export, "write_excel_csv", spy)
    raw = small_shop(40)
    raw.loc[0:1, "customer_id"] = '=HYPERLINK("http://x")'
    res = run_report(raw, out_dir=tmp_path, progress=False)
    csvs = sorted(p.name for p in res.files if p.suffix == ".csv")
    assert sorted(written) == csvs
    cells = (tmp_path / "customers.csv").read_text(encoding="utf-8-sig")
    assert "\n=HYPERLINK" not in cells  # neutralised by the one writer


# --------------------------------------------------------------------------- issue 15/16
def _reminder_orders(n: int = 400, seed: int = 5) -> pd.DataFrame:
    from crm_analytics.simulate import simulate_shop
    from crm_analytics.simulate_reminders import simulate_reminders

    return simulate_reminders(simulate_shop(n, seed=seed, params={"campaigns": []}),
                              seed=seed + 1).orders


@pytest.mark.parametrize("n", [1, 2, 3])
def test_small_shops_have_a_board_and_no_payment_section(n, tmp_path):
    from crm_analytics.report import run_report

    res = run_report(small_shop(n), out_dir=tmp_path, progress=False)
    text = page_text(res.html_path)
    assert "KPI board (quarterly)" in text and "Customer lifecycle" in text
    assert "Payment (" not in text and "Replenishment (" not in text
    board = pd.read_csv(tmp_path / "kpi_board.csv", encoding="utf-8-sig")
    assert board["customers"].max() <= n
    assert not (tmp_path / "repurchase_by_first_channel.csv").exists()


def test_created_orders_feed_the_payment_section(tmp_path):
    from crm_analytics.reminders import payment_timing
    from crm_analytics.report import run_report

    every = _reminder_orders()
    want = payment_timing(every)
    res = run_report(prepare_orders(every), out_dir=tmp_path / "a", created_orders=every,
                     progress=False)
    text = page_text(res.html_path)
    assert f"{want.overall['paid_share']:.1%} of {want.n_orders:,} created orders" in text
    assert "were not available" not in text and "Replenishment (追销)" in text
    # without them: the paid orders only, and the page says so
    paid = prepare_orders(every)
    res = run_report(paid, out_dir=tmp_path / "b", progress=False)
    text = page_text(res.html_path)
    only = payment_timing(paid.orders)
    assert f"{only.n_orders:,} created orders" in text
    assert "Orders never paid were not available" in text


def test_payment_that_cannot_be_computed_says_why(tmp_path):
    from crm_analytics.report import run_report

    every = _reminder_orders()
    never = every.assign(created_at=pd.NaT)  # no creation time: nothing to count
    res = run_report(prepare_orders(every), out_dir=tmp_path, created_orders=never,
                     progress=False)
    text = page_text(res.html_path)
    start = text.index("Payment (催付)")
    assert "Not computed. payment_timing has no order left" in text[start:start + 300]
    assert not (tmp_path / "payment_timing_by_hour.csv").exists()
    assert (tmp_path / "repurchase_cycles.csv").exists()
    with pytest.raises(CrmDataError, match="'created_orders' parameter"):
        run_report(prepare_orders(every), out_dir=tmp_path / "x", created_orders="x.csv",
                   progress=False)


def test_readable_board_shows_changes_and_running_quarters():
    from crm_analytics.membership import kpi_board
    from crm_analytics.report.shop_sections import readable_board

    board = kpi_board(load_sample(), as_of="2025-11-15", period="Q")
    shown = readable_board(board, "CNY")
    assert len(shown) == 8 and shown["Period"].iloc[-1] == "2025 Q4 (to 15 Nov)"
    assert shown["Period"].iloc[0] == "2024 Q1"
    assert shown["Repurchase rate (2+ orders)"].iloc[1].endswith("pts)")
    assert shown["Customers"].iloc[1].endswith("%)")
    assert "(" not in shown["Customers"].iloc[0]  # no previous quarter
