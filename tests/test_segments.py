"""Tests for crm_analytics.segments (KMeans and RFM segments) and their plots."""

import dataclasses
import re
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, silhouette_score

from crm_analytics import customer_summary, load_cdnow
from crm_analytics._core.errors import CrmDataError
from crm_analytics.segments import (
    CLASSIC_SEGMENTS,
    CN8_SEGMENTS,
    RfmSegmentation,
    SegmentationResult,
    kmeans_segments,
    rfm_segments,
    segment_profiles,
)
from crm_analytics.segments.kmeans import _silhouettes


def simulate_groups(sizes=(100, 200, 300), seed=1):
    """Three well-separated customer groups (best first) as a summary-like table."""
    rng = np.random.default_rng(seed)
    centres = [(10, 12, 2000.0), (120, 3, 150.0), (450, 1, 20.0)]  # days, orders, spend
    parts = []
    for g, (n, (days, orders, spend)) in enumerate(zip(sizes, centres, strict=True)):
        parts.append(pd.DataFrame({
            "days_since_last_order": np.clip(rng.normal(days, days * 0.1 + 2, n), 0, None)
            .round(),
            "n_orders": np.maximum(1, np.round(orders * np.exp(rng.normal(0, 0.1, n)))),
            "total_amount": spend * np.exp(rng.normal(0, 0.15, n)),
            "group": g,
        }))
    df = pd.concat(parts, ignore_index=True)
    df["n_orders"] = df["n_orders"].astype(np.int64)
    ids = rng.choice(10**18, size=len(df), replace=False) + 10**18  # 19-digit ids
    df.insert(0, "customer_id", ids.astype(str))
    return df


@pytest.fixture(scope="module")
def groups():
    return simulate_groups()


@pytest.fixture(scope="module")
def cdnow_summary():
    return customer_summary(load_cdnow("sample"))


# --------------------------------------------------------------------------- KMeans


def test_recovers_well_separated_groups(groups):
    res = kmeans_segments(groups.drop(columns="group"), k_range=range(2, 7))
    assert isinstance(res, SegmentationResult)
    assert res.k == 3
    truth = groups.set_index("customer_id")["group"].reindex(res.assignments["customer_id"])
    assert adjusted_rand_score(truth, res.assignments["segment"]) > 0.99
    # ordering rule: segment 1 is the best group (recent, frequent, high spend)
    top = res.assignments.loc[res.assignments["segment"] == 1, "customer_id"]
    assert set(top) == set(groups.loc[groups["group"] == 0, "customer_id"])
    assert res.k_scores["k"].tolist() == [2, 3, 4, 5, 6]
    assert res.k_scores.loc[res.k_scores["silhouette"].idxmax(), "k"] == 3


def test_names_are_derived_bilingual_and_unique(groups):
    res = kmeans_segments(groups.drop(columns="group"), n_clusters=3)
    prof = res.profiles.set_index("segment")
    assert prof.loc[1, "segment_name"] == "top-value frequent active / 顶级价值高频活跃"
    assert prof.loc[3, "segment_name"] == "low-value one-time lost / 低价值单次流失"
    assert prof["segment_name"].is_unique
    a = res.assignments
    assert (a["segment_name"] == a["segment_name_en"] + " / " + a["segment_name_zh"]).all()


def test_names_follow_the_profile_not_the_label(groups):
    # Flip the population: the same best group is now the majority, so relative to
    # everyone it is no longer "top-value" -> the name changes with the profile.
    best_heavy = simulate_groups(sizes=(500, 50, 50), seed=2).drop(columns="group")
    res = kmeans_segments(best_heavy, n_clusters=3)
    assert not res.profiles["segment_name_en"].iloc[0].startswith("top-value")


def test_duplicate_words_get_a_suffix(groups):
    # two groups identical in RFM, split only by p_alive (joined via extra=)
    base = simulate_groups(sizes=(200, 200, 1), seed=3).iloc[:400].drop(columns="group")
    half = np.r_[np.zeros(100), np.ones(100), np.zeros(100), np.ones(100)]
    base["total_amount"] = np.where(base.index < 200, 2000.0, 20.0)
    scores = pd.DataFrame({"customer_id": base["customer_id"], "p_alive": 0.05 + 0.9 * half})
    res = kmeans_segments(
        base, n_clusters=4, features=("recency", "frequency", "monetary", "p_alive"),
        extra=scores,
    )
    names = res.profiles["segment_name"]
    assert names.is_unique
    assert names.str.contains(r" \(2\) / ").sum() == 2
    assert "p_alive" in res.assignments.columns


def test_stable_across_runs_and_row_permutations(cdnow_summary):
    a = kmeans_segments(cdnow_summary, n_clusters=5)
    b = kmeans_segments(cdnow_summary, n_clusters=5)
    shuffled = cdnow_summary.sample(frac=1.0, random_state=7)
    shuffled.index = np.arange(len(shuffled))[::-1]
    c = kmeans_segments(shuffled, n_clusters=5)
    for other in (b, c):
        pd.testing.assert_frame_equal(a.assignments, other.assignments)
        pd.testing.assert_frame_equal(a.profiles, other.profiles)
    auto_a = kmeans_segments(cdnow_summary, k_range=range(2, 6))
    auto_c = kmeans_segments(shuffled, k_range=range(2, 6))
    pd.testing.assert_frame_equal(auto_a.k_scores, auto_c.k_scores)
    pd.testing.assert_frame_equal(auto_a.assignments, auto_c.assignments)


def test_stable_across_thread_counts(cdnow_summary, monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    import crm_analytics.segments.kmeans as mod

    monkeypatch.setattr(mod, "_SINGLE_THREAD_ROWS", 0)  # every fit on all OpenMP threads
    part = cdnow_summary.iloc[:800]
    runs = []
    for n_threads in (None, 1, 2):
        with threadpool_limits(limits=n_threads):
            runs.append(kmeans_segments(part, n_clusters=4))
    assert any(i["internal_api"] == "openmp" for i in threadpool_info())
    for other in runs[1:]:
        pd.testing.assert_frame_equal(runs[0].assignments, other.assignments)
        pd.testing.assert_frame_equal(runs[0].centers, other.centers, rtol=1e-9)


def test_business_feature_mapping_and_shapes(cdnow_summary):
    res = kmeans_segments(cdnow_summary, n_clusters=4)
    assert res.feature_columns == {"recency": "days_since_last_order",
                                   "frequency": "n_orders", "monetary": "total_amount"}
    a = res.assignments
    assert list(a.columns[:5]) == ["customer_id", "segment", "segment_name",
                                   "segment_name_en", "segment_name_zh"]
    assert len(a) == len(cdnow_summary) and a["customer_id"].is_unique
    assert set(a["customer_id"]) == set(cdnow_summary["customer_id"])
    assert sorted(a["segment"].unique()) == [1, 2, 3, 4]
    np.testing.assert_array_equal(  # recency is days since last order, not BG/NBD recency
        a.set_index("customer_id")["days_since_last_order"],
        cdnow_summary.set_index("customer_id").loc[a["customer_id"], "days_since_last_order"],
    )
    assert set(res.log_features) == {"n_orders", "total_amount"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.k = 2


def test_value_score_order_and_centres(cdnow_summary):
    res = kmeans_segments(cdnow_summary, n_clusters=5)
    # independent: transform centres the documented way and score them
    x = cdnow_summary[["days_since_last_order", "n_orders", "total_amount"]].astype(float)
    for c in res.log_features:
        x[c] = np.log1p(x[c])
    z = (x - x.mean()) / x.std(ddof=0)
    centres = z.groupby(
        res.assignments.set_index("customer_id")["segment"]
        .reindex(cdnow_summary["customer_id"]).to_numpy()
    ).mean()
    score = (-centres["days_since_last_order"] + centres["n_orders"]
             + centres["total_amount"]) / 3
    assert score.is_monotonic_decreasing
    assert res.centers["segment"].tolist() == [1, 2, 3, 4, 5]


def test_silhouette_matches_sklearn(groups):
    data = groups.drop(columns="group")
    res = kmeans_segments(data, n_clusters=3)
    x = data.sort_values("customer_id")[["days_since_last_order", "n_orders",
                                         "total_amount"]].astype(float)
    for c in res.log_features:
        x[c] = np.log1p(x[c])
    z = ((x - x.mean()) / x.std(ddof=0)).to_numpy()
    expected = silhouette_score(z, res.assignments["segment"])
    assert res.silhouette == pytest.approx(expected, rel=1e-9)
    assert res.silhouette_score == res.silhouette
    assert res.k_scores["silhouette"].tolist() == [pytest.approx(expected, rel=1e-9)]


def test_silhouettes_helper_against_sklearn():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 3))
    labelings = [rng.integers(0, k, 300) for k in (2, 3, 5)]
    labelings.append(np.r_[0, np.ones(299, dtype=int)])  # a singleton cluster scores 0
    mine = _silhouettes(z, labelings, chunk=64)
    ref = [silhouette_score(z, lab) for lab in labelings]
    np.testing.assert_allclose(mine, ref, rtol=1e-10, atol=1e-12)


def test_fit_on_sample_for_large_inputs(groups):
    data = groups.drop(columns="group")
    full = kmeans_segments(data, n_clusters=3)
    sampled = kmeans_segments(data, n_clusters=3, max_fit_rows=150, sample_size=200)
    assert sampled.n_fit_rows == 150 and full.n_fit_rows == len(data)
    assert len(sampled.assignments) == len(data)
    assert adjusted_rand_score(full.assignments["segment"], sampled.assignments["segment"]) > 0.99


def test_does_not_mutate_inputs(groups):
    data = groups.drop(columns="group").iloc[::-1]
    scores = pd.DataFrame({"customer_id": data["customer_id"], "p_alive": 0.5})
    before, before_s = data.copy(), scores.copy()
    kmeans_segments(data, n_clusters=3, features=("recency", "monetary", "p_alive"),
                    extra=[scores])
    rfm_segments(data)
    pd.testing.assert_frame_equal(data, before)
    pd.testing.assert_frame_equal(scores, before_s)


def test_explicit_log_transform(groups):
    data = groups.drop(columns="group")
    res = kmeans_segments(data, n_clusters=3, log_transform=["monetary"])
    assert res.log_features == ("total_amount",)
    res = kmeans_segments(data, n_clusters=3, log_transform=())
    assert res.log_features == ()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_clusters": 0}, r"'n_clusters' parameter must be an int in the range \[1, inf\)"),
        ({"n_clusters": "3"}, r"'n_clusters' parameter must be an int"),
        ({"k_range": []}, r"'k_range' parameter is empty"),
        ({"k_range": [1, 2]}, r"'k_range' parameter must be an int in the range \[2"),
        ({"k_range": 5}, r"'k_range' parameter must be an iterable"),
        ({"n_init": 0}, r"'n_init' parameter must be an int in the range \[1"),
        ({"features": "recency"}, r"'features' parameter must be a non-empty sequence"),
        ({"features": ()}, r"'features' parameter must be a non-empty sequence"),
        ({"features": ("recency", "days_since_last_order")}, r"repeats column"),
        ({"features": ("recency", "ltv")}, r"Feature 'ltv' is not a column of summary"),
        ({"log_transform": ["p_alive"]}, r"log_transform names \['p_alive'\]"),
        ({"log_transform": "yes"}, r"'log_transform' parameter must be 'auto'"),
        ({"extra": "scores.csv"}, r"'extra' parameter must be a DataFrame"),
    ],
)
def test_parameter_errors(groups, kwargs, match):
    with pytest.raises(CrmDataError, match=match):
        kmeans_segments(groups.drop(columns="group"), **kwargs)


def test_data_errors(groups):
    data = groups.drop(columns="group")
    bad = data.copy()
    bad.loc[[3, 5, 8], "total_amount"] = np.nan
    with pytest.raises(CrmDataError, match=r"'total_amount' is missing \(NaN\) or infinite "
                                            r"for 3 of 600 customers"):
        kmeans_segments(bad, n_clusters=3)
    dup = pd.concat([data, data.iloc[:2]])
    with pytest.raises(CrmDataError, match=r"summary has 4 rows sharing 2 customer_id"):
        kmeans_segments(dup, n_clusters=3)
    with pytest.raises(CrmDataError, match=r"Feature 'recency' \('recency' means column "
                                            r"'days_since_last_order'\) is not a column"):
        kmeans_segments(data.drop(columns="days_since_last_order"), n_clusters=3)
    text = data.assign(n_orders=data["n_orders"].astype(str).where(data.index > 0, "many"))
    with pytest.raises(CrmDataError, match=r"Feature column 'n_orders' is not numeric"):
        kmeans_segments(text, n_clusters=3)
    neg = data.assign(total_amount=data["total_amount"] - 100)
    with pytest.raises(CrmDataError, match=r"'total_amount' has \d+ negative values"):
        kmeans_segments(neg, n_clusters=3, log_transform=["monetary"])
    with pytest.raises(CrmDataError, match=r"summary is empty"):
        kmeans_segments(data.iloc[:0], n_clusters=3)
    with pytest.raises(CrmDataError, match=r"summary must be a pandas DataFrame"):
        kmeans_segments(data.to_dict(), n_clusters=3)
    same = data.iloc[:10].assign(days_since_last_order=5, n_orders=2, total_amount=9.0)
    with pytest.raises(CrmDataError, match=r"Only 1 distinct customer profile among 10"):
        kmeans_segments(same, n_clusters=2)


def test_extra_errors(groups):
    data = groups.drop(columns="group")
    partial = pd.DataFrame({"customer_id": data["customer_id"].iloc[:-7], "p_alive": 0.5})
    with pytest.raises(CrmDataError, match=r"'p_alive' is missing \(NaN\) or infinite for 7 "
                                            r"of 600 customers"):
        kmeans_segments(data, n_clusters=3, features=("recency", "p_alive"), extra=partial)
    twice = pd.concat([partial, partial.iloc[:1]])
    with pytest.raises(CrmDataError, match=r"extra\[0\] has 2 rows sharing 1 customer_id"):
        kmeans_segments(data, n_clusters=3, features=("recency", "p_alive"), extra=twice)
    with pytest.raises(CrmDataError, match=r"extra\[1\] is missing column\(s\) \['customer_id'\]"):
        kmeans_segments(data, n_clusters=3, extra=[partial, partial.drop(columns="customer_id")])


def test_few_distinct_profiles_skip_large_k():
    s = pd.DataFrame({"customer_id": list("abcdefgh"),
                      "days_since_last_order": [1, 1, 50, 50, 300, 300, 2, 51],
                      "n_orders": [5, 5, 2, 2, 1, 1, 5, 2],
                      "total_amount": [500.0, 500, 60, 60, 10, 10, 480, 65]})
    res = kmeans_segments(s, k_range=range(2, 9))
    assert res.k_scores["k"].max() <= 5  # 5 distinct profiles
    assert res.notes and "skipped k" in res.notes[0]


# --------------------------------------------------------------------------- profiles


def test_segment_profiles_against_groupby(cdnow_summary):
    res = kmeans_segments(cdnow_summary, n_clusters=4)
    prof = res.profiles
    a = res.assignments
    g = a.groupby("segment")
    np.testing.assert_array_equal(prof["size"], g.size().to_numpy())
    assert prof["share"].sum() == pytest.approx(1.0)
    assert prof["revenue_share"].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(prof["total_amount_median"], g["total_amount"].median())
    np.testing.assert_allclose(prof["days_since_last_order_mean"],
                               g["days_since_last_order"].mean())
    np.testing.assert_allclose(
        prof["revenue"], cdnow_summary.groupby(
            a.set_index("customer_id")["segment"].reindex(cdnow_summary["customer_id"])
            .to_numpy())["total_amount"].sum())


def test_segment_profiles_errors():
    with pytest.raises(CrmDataError, match=r"assignments is missing column\(s\) \['segment'\]"):
        segment_profiles(pd.DataFrame({"customer_id": ["a"]}))
    with pytest.raises(CrmDataError, match=r"'segment' is empty for 1 customers"):
        segment_profiles(pd.DataFrame({"segment": [1, None], "total_amount": [1.0, 2.0]}))


# --------------------------------------------------------------------------- RFM


def classic_by_pattern(r: int, f: int) -> str:
    """The REFERENCE.md map, written as the published regex patterns."""
    rules = [
        (r"[1-2][1-2]", "hibernating"), (r"[1-2][3-4]", "at_risk"),
        (r"[1-2]5", "cant_lose_them"), (r"3[1-2]", "about_to_sleep"),
        (r"33", "need_attention"), (r"[3-4][4-5]", "loyal_customers"),
        (r"41", "promising"), (r"51", "new_customers"),
        (r"[4-5][2-3]", "potential_loyalists"), (r"5[4-5]", "champions"),
    ]
    hits = [name for pat, name in rules if re.fullmatch(pat, f"{r}{f}")]
    assert len(hits) == 1
    return hits[0]


def test_classic_map_covers_grid_like_reference():
    from crm_analytics.segments.rfm import _classic_codes

    r, f = np.meshgrid(np.arange(1, 6), np.arange(1, 6))
    codes = _classic_codes(r.ravel(), f.ravel())
    expected = [classic_by_pattern(a, b) for a, b in zip(r.ravel(), f.ravel(), strict=True)]
    assert list(codes) == expected


def test_rfm_scores_match_qcut_on_distinct_values():
    rng = np.random.default_rng(5)
    n = 100  # n divisible by 5: the definition equals the usual quintile split exactly
    s = pd.DataFrame({"customer_id": [f"c{i:03d}" for i in range(n)],
                      "days_since_last_order": rng.permutation(n) * 3,
                      "n_orders": rng.permutation(n) + 1,
                      "total_amount": rng.permutation(n) * 1.5})
    out = rfm_segments(s).assignments
    ref_f = pd.qcut(s["n_orders"].rank(method="first"), 5, labels=False) + 1
    ref_r = 5 - pd.qcut(s["days_since_last_order"].rank(method="first"), 5, labels=False)
    np.testing.assert_array_equal(out["F"], ref_f)
    np.testing.assert_array_equal(out["R"], ref_r)
    expected = [classic_by_pattern(a, b) for a, b in zip(out["R"], out["F"], strict=True)]
    assert out["segment"].tolist() == expected


def test_rfm_ties_share_a_score(cdnow_summary):
    out = rfm_segments(cdnow_summary).assignments
    assert out.groupby("n_orders")["F"].nunique().max() == 1
    assert out.groupby("days_since_last_order")["R"].nunique().max() == 1
    assert (out.loc[out["n_orders"] == 1, "F"] == 1).all()
    # F = 1 + floor(5 * share strictly fewer orders): brute force
    n = len(out)
    fewer = np.array([(out["n_orders"] < v).sum() for v in out["n_orders"]])
    np.testing.assert_array_equal(out["F"], 1 + 5 * fewer // n)
    assert set(out["segment"]) <= set(CLASSIC_SEGMENTS)
    names = out["segment"].map({k: f"{v[0]} / {v[1]}" for k, v in CLASSIC_SEGMENTS.items()})
    assert (out["segment_name"] == names).all()


@pytest.mark.parametrize("threshold", ["mean", "median"])
def test_cn8_against_brute_force(cdnow_summary, threshold):
    res = rfm_segments(cdnow_summary, scheme="cn8", threshold=threshold)
    out = res.assignments
    stat = np.mean if threshold == "mean" else np.median
    s = cdnow_summary.set_index("customer_id").loc[out["customer_id"]]
    tr, tf, tm = (stat(s[c]) for c in ("days_since_last_order", "n_orders", "total_amount"))
    names = {(v[0], v[1], v[2]): v[4] for v in CN8_SEGMENTS.values()}
    expected = [names[(r < tr, f > tf, m > tm)] for r, f, m in
                zip(s["days_since_last_order"], s["n_orders"], s["total_amount"], strict=True)]
    assert out["segment_name_zh"].tolist() == expected
    assert res.thresholds["n_orders"] == pytest.approx(tf)
    assert (res.scheme, res.threshold, res.monetary) == ("cn8", threshold, "total_amount")
    assert res.segment_order == tuple(CN8_SEGMENTS)
    assert out.loc[out["segment"] == "important_value", "segment_name"].iloc[0] == (
        "important value / 重要价值客户")
    assert {"R_high", "F_high", "M_high"} <= set(out.columns)


def test_rfm_permutation_invariant(cdnow_summary):
    a = rfm_segments(cdnow_summary, scheme="cn8")
    b = rfm_segments(cdnow_summary.sample(frac=1.0, random_state=1), scheme="cn8")
    pd.testing.assert_frame_equal(a.assignments, b.assignments)
    assert a.thresholds == pytest.approx(b.thresholds)


def test_rfm_errors(cdnow_summary):
    with pytest.raises(CrmDataError, match=r"'scheme' parameter must be 'classic' or 'cn8'"):
        rfm_segments(cdnow_summary, scheme="rfm10")
    with pytest.raises(CrmDataError, match=r"'threshold' parameter must be 'mean' or 'median'"):
        rfm_segments(cdnow_summary, scheme="cn8", threshold="mode")
    with pytest.raises(CrmDataError, match=r"Feature 'frequency' \('frequency' means column "
                                            r"'n_orders'\)"):
        rfm_segments(cdnow_summary.drop(columns="n_orders"))
    with pytest.raises(CrmDataError, match=r"'total_amount' is missing \(NaN\)"):
        rfm_segments(cdnow_summary.assign(total_amount=np.nan))


def test_rfm_profiles_in_scheme_order(cdnow_summary):
    prof = segment_profiles(rfm_segments(cdnow_summary))
    order = [c for c in CLASSIC_SEGMENTS if c in set(prof["segment"])]
    assert prof["segment"].tolist() == order



def test_rfm_result_holds_settings_and_profiles(cdnow_summary):
    res = rfm_segments(cdnow_summary, monetary="avg_order_value")
    assert isinstance(res, RfmSegmentation)
    assert (res.scheme, res.threshold, res.thresholds) == ("classic", "mean", {})
    assert res.monetary == "avg_order_value" and res.segment_order == tuple(CLASSIC_SEGMENTS)
    assert "avg_order_value" in res.assignments.columns
    pd.testing.assert_frame_equal(res.profiles, segment_profiles(res.assignments))
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.scheme = "cn8"


def test_rfm_result_used_as_a_table_still_works_with_a_warning(cdnow_summary):
    res = rfm_segments(cdnow_summary)
    table = res.assignments
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the result's own fields never warn
        assert res.assignments is table and res.profiles is not None
    dep = r"rfm_segments\(\) now returns an RfmSegmentation.*\.assignments"
    with pytest.warns(DeprecationWarning, match=dep):
        pd.testing.assert_series_equal(res["segment"], table["segment"])
    with pytest.warns(DeprecationWarning, match=dep):
        assert len(res) == len(table)
    with pytest.warns(DeprecationWarning, match=dep):
        assert list(res) == list(table.columns)
    with pytest.warns(DeprecationWarning, match=dep):
        assert "segment" in res
    with pytest.warns(DeprecationWarning, match=dep):
        assert res.columns.tolist() == table.columns.tolist()
    with pytest.warns(DeprecationWarning, match=dep):
        merged = res.merge(cdnow_summary[["customer_id", "T"]], on="customer_id")
    assert len(merged) == len(table)
    with pytest.warns(DeprecationWarning, match=dep):
        assert res.loc[0, "customer_id"] == table.loc[0, "customer_id"]
    with pytest.raises(AttributeError):
        res._repr_html_  # noqa: B018  (display hooks are not delegated)


def test_profiles_from_aggregates_is_the_profile_table(cdnow_summary):
    from crm_analytics.segments import profiles_from_aggregates

    res = kmeans_segments(cdnow_summary, n_clusters=3)
    a, cols = res.assignments, list(res.feature_columns.values())
    g = a.groupby("segment")
    names = res.profiles[["segment_name", "segment_name_en", "segment_name_zh"]]
    table = profiles_from_aggregates(
        [1, 2, 3], g.size().to_numpy(), n_customers=len(a), names=names,
        means={c: g[c].mean().to_numpy() for c in cols},
        medians={c: g[c].median().to_numpy() for c in cols},
        revenue=g["total_amount"].sum().to_numpy())
    pd.testing.assert_frame_equal(table, res.profiles)


def test_transform_and_sql_assignment_match_predict(cdnow_summary):
    import duckdb

    from crm_analytics.segments import transform_features
    from crm_analytics.segments.sql import (
        nearest_segment_sql,
        segment_distance_sql,
        segment_name_sql,
    )

    res = kmeans_segments(cdnow_summary, n_clusters=4, max_fit_rows=500)
    cols = list(res.feature_columns.values())
    z, t = transform_features(cdnow_summary[cols].to_numpy(dtype=float), cols)
    assert t.log_features == res.log_features
    np.testing.assert_array_equal(t.mean, res.transform.mean)
    np.testing.assert_allclose(res.transform.inverse(res.transform.apply(
        cdnow_summary[cols].to_numpy(dtype=float))), cdnow_summary[cols], atol=1e-9)
    dists = segment_distance_sql(res, dialect="duckdb")
    con = duckdb.connect()
    con.register("summary", cdnow_summary[["customer_id", *cols]])
    d_cols = ", ".join(f"{d} AS d{i}" for i, d in enumerate(dists))
    got = con.execute(
        f"WITH d AS (SELECT s.*, {d_cols} FROM summary s), "
        f"g AS (SELECT customer_id, "
        f"{nearest_segment_sql([f'd{i}' for i in range(4)])} AS segment FROM d) "
        f"SELECT customer_id, segment, {segment_name_sql(res, 'segment_name_zh')} AS zh "
        "FROM g ORDER BY customer_id").df()
    a = res.assignments
    assert got["customer_id"].tolist() == a["customer_id"].tolist()
    np.testing.assert_array_equal(got["segment"], a["segment"])
    assert got["zh"].tolist() == a["segment_name_zh"].tolist()


# --------------------------------------------------------------------------- plots


@pytest.fixture
def no_cjk_font(monkeypatch):
    import crm_analytics.plots.segments as mod

    monkeypatch.setattr(mod, "cjk_font", lambda: None)
    return mod


@pytest.mark.parametrize("kind", ["kmeans", "rfm"])
def test_plots_draw_labelled_axes(cdnow_summary, kind):
    from crm_analytics.plots.segments import (
        plot_segment_profiles,
        plot_segment_scatter,
        plot_segment_sizes,
    )

    obj = (kmeans_segments(cdnow_summary, n_clusters=4) if kind == "kmeans"
           else rfm_segments(cdnow_summary))
    fig, axes = plt.subplots(1, 3, figsize=(18, 5))
    try:
        assert plot_segment_profiles(obj, ax=axes[0]) is axes[0]
        assert plot_segment_sizes(obj, ax=axes[1]) is axes[1]
        assert plot_segment_scatter(obj, ax=axes[2], max_points=500) is axes[2]
        assert "mean of all customers" in axes[0].get_ylabel()
        assert "(%)" in axes[1].get_xlabel()
        assert "days since last order" in axes[2].get_xlabel()
        assert "(days)" in axes[2].get_xlabel()
        assert axes[2].get_yscale() == "log"
        n_seg = len(segment_profiles(obj.assignments if kind == "kmeans" else obj))
        assert len(axes[1].get_yticklabels()) == n_seg
        assert len(axes[0].get_legend().get_texts()) == n_seg
        fig.canvas.draw()
    finally:
        plt.close(fig)


def test_plots_without_cjk_font_are_english_and_silent(cdnow_summary, no_cjk_font):
    res = kmeans_segments(cdnow_summary, n_clusters=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in (no_cjk_font.plot_segment_profiles, no_cjk_font.plot_segment_sizes,
                   no_cjk_font.plot_segment_scatter):
            ax = fn(res)
            ax.figure.canvas.draw()
            texts = [t.get_text() for t in ax.get_yticklabels() + ax.get_xticklabels()]
            texts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
            assert not any(re.search(r"[\u4e00-\u9fff]", t) for t in texts), texts
            plt.close(ax.figure)
    with pytest.warns(UserWarning, match=r"lang='zh' needs a CJK font"):
        ax = no_cjk_font.plot_segment_sizes(res, lang="zh")
    plt.close(ax.figure)


def test_plot_errors(cdnow_summary):
    from crm_analytics.plots.segments import plot_segment_profiles, plot_segment_scatter

    res = kmeans_segments(cdnow_summary, n_clusters=3)
    with pytest.raises(CrmDataError, match=r"'lang' parameter must be"):
        plot_segment_profiles(res, lang="fr")
    with pytest.raises(CrmDataError, match=r"needs one row per customer"):
        plot_segment_scatter(res.profiles)
    with pytest.raises(CrmDataError, match=r"No segment means for columns \['p_alive'\]"):
        plot_segment_profiles(res, columns=["p_alive"])
    with pytest.raises(CrmDataError, match=r"Segment plots need a SegmentationResult"):
        plot_segment_profiles([1, 2])
    plt.close("all")


def test_integer_ids_and_segment_of(groups):
    data = groups.drop(columns="group").iloc[:300].copy()
    data["customer_id"] = np.arange(300, 0, -1)  # ints, reversed
    scores = pd.DataFrame({"customer_id": [str(i) for i in range(1, 301)], "p_alive": 0.3})
    res = kmeans_segments(data, n_clusters=2, features=("monetary", "p_alive"), extra=scores)
    assert res.assignments["customer_id"].tolist()[:3] == ["1", "10", "100"]  # text order
    seg = res.segment_of([5, "7", "nobody"])
    assert seg.index.tolist() == ["5", "7", "nobody"]
    assert seg.iloc[:2].notna().all() and np.isnan(seg.iloc[2])


# --------------------------------------------------------------------------- number of segments


def tiny_shop(n, *, same=False):
    """``n`` customers with distinct profiles (or all the same profile)."""
    i = np.arange(n)
    return pd.DataFrame({
        "customer_id": [f"c{j}" for j in i],
        "days_since_last_order": np.full(n, 10) if same else 5 + 30 * i,
        "n_orders": np.ones(n, dtype=np.int64) if same else i + 1,
        "total_amount": np.full(n, 50.0) if same else 20.0 * (i + 1) ** 2,
    })


def test_default_k_is_within_4_to_8(cdnow_summary, groups):
    for data in (cdnow_summary, groups.drop(columns="group")):
        res = kmeans_segments(data)
        assert 4 <= res.k <= 8
        assert res.k_range == (4, 5, 6, 7, 8)
        assert res.k_scores["k"].tolist() == [4, 5, 6, 7, 8]
        assert res.k == res.k_scores.loc[res.k_scores["silhouette"].idxmax(), "k"]
        assert res.k_note is None and res.assignments["segment"].nunique() == res.k
    a, b = kmeans_segments(cdnow_summary), kmeans_segments(cdnow_summary)  # random_state=0
    assert a.k == b.k and a.assignments["segment"].equals(b.assignments["segment"])


def test_explicit_n_clusters_wins(cdnow_summary):
    res = kmeans_segments(cdnow_summary, n_clusters=2)
    assert res.k == 2 and res.k_note is None and res.k_scores["k"].tolist() == [2]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_tiny_shops_get_a_clear_error_or_one_group(n):
    with pytest.raises(CrmDataError, match=rf"needs at least 4 customers; this shop has {n}\. "
                       r"Pass n_clusters=1 .*--k 1"):
        kmeans_segments(tiny_shop(n))
    one = kmeans_segments(tiny_shop(n), n_clusters=1)
    assert one.k == 1 and (one.assignments["segment"] == 1).all()
    assert one.profiles["segment_name"].tolist() == ["all customers / 全部客户"]
    assert one.profiles["size"].tolist() == [n] and np.isnan(one.silhouette)
    if n <= 2:
        with pytest.raises(CrmDataError, match=rf"into 2 segments needs at least 3 customers; "
                           rf"this shop has {n}\. Use n_clusters=1"):
            kmeans_segments(tiny_shop(n), n_clusters=2)
    else:
        assert kmeans_segments(tiny_shop(n), n_clusters=2).k == 2


def test_too_few_customers_or_profiles_for_the_range_say_so():
    four = kmeans_segments(tiny_shop(4))
    assert four.k == 3 and four.k_scores["k"].tolist() == [3]
    assert four.k_note == ("The data cannot support 4-8 segments (only 4 customers): using 3 "
                           "segments, the most they support.")
    assert four.k_note in four.notes
    six = kmeans_segments(tiny_shop(6))
    assert six.k_scores["k"].tolist() == [4, 5] and six.k_note is None
    assert six.notes == ["skipped k=[6, 7, 8]: too few customers (6)"]
    same = kmeans_segments(tiny_shop(50, same=True))
    assert same.k == 1 and "every customer has the same profile" in same.k_note
    profiles = pd.concat([tiny_shop(3)] * 10, ignore_index=True)  # 3 profiles, 30 customers
    profiles["customer_id"] = [f"x{i}" for i in range(30)]
    three = kmeans_segments(profiles)
    assert three.k == 3 and "only 3 distinct customer profiles among 30" in three.k_note
    with pytest.raises(CrmDataError, match=r"Only 3 distinct customer profiles among 30 "
                       r"customers, too few for 4 segments.*--k 3"):
        kmeans_segments(profiles, n_clusters=4)


# --------------------------------------------------------------------------- names vs numbers


def long_ago_shop():
    """A shop whose best, frequent group last ordered a median 139 days ago (others later)."""
    rng = np.random.default_rng(3)
    parts = []
    for n, days, orders, spend in ((60, 139, 12, 3000.0), (120, 420, 3, 250.0),
                                   (200, 650, 1, 30.0)):
        parts.append(pd.DataFrame({
            "days_since_last_order": np.round(days + rng.normal(0, 8, n)).astype(np.int64),
            "n_orders": np.maximum(1, np.round(orders * np.exp(rng.normal(0, .1, n)))),
            "total_amount": spend * np.exp(rng.normal(0, .15, n)),
        }))
    df = pd.concat(parts, ignore_index=True)
    df.insert(0, "customer_id", [f"m{i:04d}" for i in range(len(df))])
    return df


def test_asleep_segments_are_never_called_active():
    data = long_ago_shop()
    res = kmeans_segments(data, n_clusters=3)
    top = res.profiles.iloc[0]
    assert top["days_since_last_order_median"] == pytest.approx(139, abs=3)
    assert top["segment_name_en"] == "top-value frequent lapsing"
    assert top["segment_name_zh"] == "顶级价值高频沉默"
    assert res.sleep_after == 90
    for _, row in res.profiles.iterrows():
        if row["days_since_last_order_median"] >= res.sleep_after:
            assert "active" not in row["segment_name_en"] and "活跃" not in row["segment_name_zh"]
    # the same group with a longer sleep threshold is awake, and first in recency: active
    late = kmeans_segments(data, n_clusters=3, sleep_after=200)
    assert late.profiles["segment_name_en"].iloc[0] == "top-value frequent active"
    assert late.assignments["segment"].equals(res.assignments["segment"])  # only names move


def test_awake_segments_are_never_called_lost():
    young = long_ago_shop().assign(
        days_since_last_order=lambda d: (d["days_since_last_order"] // 12).astype(np.int64))
    res = kmeans_segments(young, n_clusters=3)
    assert (res.profiles["days_since_last_order_median"] < 90).all()
    assert not res.profiles["segment_name_en"].str.contains("lost").any()
    assert res.profiles["segment_name_en"].iloc[0].endswith("active")
    old = kmeans_segments(young, n_clusters=3, sleep_after=20)  # the last group is asleep
    assert old.profiles["segment_name_en"].iloc[-1].endswith("lost")


def test_asleep_is_the_sleeping_rule():
    from crm_analytics.segments.profiles import asleep
    from crm_analytics.sleeping.rules import status_codes

    days = np.array([0, 79, 80, 89, 89.5, 90, 91, 400])
    codes = status_codes(days, sleep_after=90, remind_before=10)
    np.testing.assert_array_equal(asleep(days, 90), codes >= 2)


def test_sleep_after_is_checked(groups):
    with pytest.raises(CrmDataError, match=r"'sleep_after' parameter must be a whole number"):
        kmeans_segments(groups.drop(columns="group"), n_clusters=3, sleep_after=0)


# --------------------------------------------------------------------------- readable table


def test_readable_profiles_headers_and_percentages(cdnow_summary):
    from crm_analytics.segments import readable_profiles

    res = kmeans_segments(cdnow_summary, n_clusters=4)
    table = readable_profiles(res, currency="USD")
    assert list(table.columns) == [
        "Segment", "Name", "Customers", "Share of customers",
        "Days since last order (median)", "Orders (median)", "Total spend (median)",
        "Revenue", "Share of revenue"]
    assert table["Customers"].tolist() == [f"{v:,}" for v in res.profiles["size"]]
    assert table["Name"].tolist() == res.profiles["segment_name"].tolist()
    shares = table["Share of customers"].str.rstrip("%").astype(float)
    assert shares.sum() == pytest.approx(100, abs=0.3)
    assert table["Share of customers"].iloc[0] == f"{res.profiles['share'].iloc[0]:.1%}"
    revenue = table["Share of revenue"].str.rstrip("%").astype(float)
    assert revenue.sum() == pytest.approx(100, abs=0.3)
    assert table["Revenue"].str.startswith("$").all()
    assert table["Revenue"].iloc[0] == f"${res.profiles['revenue'].iloc[0]:,.0f}"
    text = table.to_string(index=False)  # what the CLI prints
    assert "Share of revenue" in text and "yuan" not in text
    # no currency: no sign; Chinese headers; profiles table, RFM result and assignments
    plain = readable_profiles(res.profiles)
    assert plain["Revenue"].iloc[0] == f"{res.profiles['revenue'].iloc[0]:,.0f}"
    zh = readable_profiles(res, language="zh")
    assert list(zh.columns[:4]) == ["分群", "名称", "客户数", "客户占比"]
    assert zh["名称"].tolist() == res.profiles["segment_name_zh"].tolist()
    rfm = readable_profiles(rfm_segments(cdnow_summary))
    assert rfm["Segment"].tolist()[0] == "champions"
    by_rows = readable_profiles(res.assignments)["Customers"].str.replace(",", "")
    assert by_rows.astype(int).sum() == len(cdnow_summary)
    # every KMeans feature is shown; fractional medians keep a decimal
    extra = cdnow_summary.assign(p_alive=np.linspace(0, 1, len(cdnow_summary)))
    feat = kmeans_segments(extra, n_clusters=4,
                           features=("recency", "frequency", "monetary", "p_alive"))
    shown = readable_profiles(feat)
    assert "p_alive (median)" in shown.columns
    assert shown["p_alive (median)"].str.match(r"^0\.\d\d$").all()


def test_readable_profiles_errors(cdnow_summary):
    from crm_analytics.segments import readable_profiles

    res = kmeans_segments(cdnow_summary, n_clusters=4)
    with pytest.raises(CrmDataError, match=r"'language' parameter must be one of"):
        readable_profiles(res, language="fr")
    with pytest.raises(CrmDataError, match=r"readable_profiles needs a segmentation result"):
        readable_profiles([1, 2])
    with pytest.raises(CrmDataError, match=r"3-letter currency code"):
        readable_profiles(res, currency="dollars")
