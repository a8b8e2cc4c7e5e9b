"""Tests for crm_analytics.segments.export: CSV round trips, Excel-safe ids, per-segment files."""

import csv

import numpy as np
import pandas as pd
import pytest

from crm_analytics._core.errors import CrmDataError
from crm_analytics.segments import kmeans_segments, rfm_segments
from crm_analytics.segments.export import export_segments, read_segments

LONG_IDS = ["1930679858170647", "0012", "9007199254740993", "1234567890123456789", "a\"b"]


@pytest.fixture(scope="module")
def summary():
    """60 customers in 3 clear groups, with long numeric ids and leading zeros."""
    rng = np.random.default_rng(4)
    n = 60
    group = np.repeat([0, 1, 2], 20)
    ids = [str(10**15 + int(i) * 7919) for i in rng.choice(10**9, n - len(LONG_IDS), False)]
    return pd.DataFrame({
        "customer_id": ids + LONG_IDS,
        "days_since_last_order": np.array([5, 100, 400])[group] + rng.integers(0, 10, n),
        "n_orders": np.array([10, 3, 1])[group] + rng.integers(0, 2, n),
        "total_amount": np.array([1500.0, 200.0, 20.0])[group] * rng.uniform(0.9, 1.1, n),
    })


@pytest.fixture(scope="module")
def result(summary):
    return kmeans_segments(summary, n_clusters=3)


def test_round_trip_default(tmp_path, summary, result):
    path = export_segments(result, tmp_path / "out" / "segments.csv")
    assert path == tmp_path / "out" / "segments.csv"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM, so Excel detects the encoding
    back = pd.read_csv(path, dtype={"customer_id": str}, encoding="utf-8-sig")
    assert len(back) == len(summary)
    assert back["customer_id"].is_unique
    assert sorted(back["customer_id"]) == sorted(summary["customer_id"])  # ids exact
    assert "1930679858170647" in set(back["customer_id"]) and "0012" in set(back["customer_id"])
    merged = back.set_index("customer_id").loc[result.assignments["customer_id"]]
    np.testing.assert_array_equal(merged["segment"], result.assignments["segment"])
    assert merged["segment_name"].tolist() == result.assignments["segment_name"].tolist()
    assert back["segment_name_zh"].str.contains("价值").all()  # Chinese intact
    assert list(back.columns[:5]) == ["customer_id", "segment", "segment_name",
                                      "segment_name_en", "segment_name_zh"]
    np.testing.assert_allclose(merged["total_amount"], result.assignments["total_amount"])
    pd.testing.assert_frame_equal(read_segments(path), back)


def test_excel_safe_ids(tmp_path, summary, result):
    path = export_segments(result, tmp_path / "excel.csv", excel_safe_ids=True)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    cells = {row["customer_id"] for row in rows}
    assert '="1930679858170647"' in cells  # what Excel parses as text
    assert '="a""b"' in cells  # quotes inside an id are doubled in the formula string
    assert all(c.startswith('="') and c.endswith('"') for c in cells)
    back = read_segments(path)
    assert sorted(back["customer_id"]) == sorted(summary["customer_id"])


def test_split_by_segment(tmp_path, summary, result):
    paths = export_segments(result, tmp_path / "seg.csv", split_by_segment=True)
    assert [p.name for p in paths] == ["seg.csv", "seg_1.csv", "seg_2.csv", "seg_3.csv"]
    parts = [read_segments(p) for p in paths[1:]]
    for k, part in enumerate(parts, start=1):
        assert (part["segment"] == k).all()
    ids = pd.concat([p["customer_id"] for p in parts])
    assert ids.is_unique and sorted(ids) == sorted(summary["customer_id"])


def test_rfm_frame_with_extra_tables(tmp_path, summary):
    rfm = rfm_segments(summary)
    scores = pd.DataFrame({"customer_id": summary["customer_id"].iloc[:-3],
                           "p_alive": 0.5, "total_amount": -1.0})
    ltv = pd.DataFrame({"customer_id": summary["customer_id"], "predicted_ltv": 10.0})
    paths = export_segments(rfm, tmp_path / "rfm.csv", extra=[scores, ltv],
                            split_by_segment=True)
    back = read_segments(paths[0])
    assert len(back) == len(summary)
    assert back["p_alive"].isna().sum() == 3  # absent from a table: empty cell, not dropped
    assert (back["predicted_ltv"] == 10.0).all()
    # the segment table's own total_amount wins over the later table's column
    got = back.set_index("customer_id")["total_amount"]
    np.testing.assert_allclose(got.loc[summary["customer_id"]], summary["total_amount"])
    names = {p.name for p in paths[1:]}
    table = rfm.assignments
    assert names == {f"rfm_{code}.csv" for code in table["segment"].unique()}
    assert (back["segment_name"] == table.set_index("customer_id")
            .loc[back["customer_id"], "segment_name"].to_numpy()).all()


def test_columns_selection(tmp_path, result):
    path = export_segments(result, tmp_path / "few.csv", columns=["total_amount"],
                           float_format="%.2f")
    back = read_segments(path)
    assert list(back.columns) == ["customer_id", "segment", "segment_name",
                                  "segment_name_en", "segment_name_zh", "total_amount"]


def test_does_not_mutate(tmp_path, summary):
    rfm = rfm_segments(summary)
    before, before_s = rfm.assignments.copy(), summary.copy()
    export_segments(rfm, tmp_path / "x.csv", extra=summary, excel_safe_ids=True)
    export_segments(rfm.assignments, tmp_path / "y.csv")
    pd.testing.assert_frame_equal(rfm.assignments, before)
    pd.testing.assert_frame_equal(summary, before_s)


def test_errors(tmp_path, result):
    a = result.assignments
    with pytest.raises(CrmDataError, match=r"has 2 rows sharing 1 customer_id values"):
        export_segments(pd.concat([a, a.iloc[:1]]), tmp_path / "d.csv")
    with pytest.raises(CrmDataError, match=r"segment table is empty"):
        export_segments(a.iloc[:0], tmp_path / "e.csv")
    with pytest.raises(CrmDataError, match=r"'customer_id' is empty in 1 of 60 rows"):
        export_segments(a.assign(customer_id=a["customer_id"].where(a.index > 0)),
                        tmp_path / "n.csv")
    with pytest.raises(CrmDataError, match=r"missing column\(s\) \['segment'\]"):
        export_segments(a.drop(columns="segment"), tmp_path / "m.csv")
    with pytest.raises(CrmDataError, match=r"needs a SegmentationResult .* Got list"):
        export_segments([1, 2], tmp_path / "l.csv")
    with pytest.raises(CrmDataError, match=r"names \['ltv'\], not in the segment table"):
        export_segments(result, tmp_path / "c.csv", columns=["ltv"])
    dup_extra = pd.DataFrame({"customer_id": ["x", "x"], "p": [1, 2]})
    with pytest.raises(CrmDataError, match=r"extra\[0\] has 2 rows sharing 1 customer_id"):
        export_segments(result, tmp_path / "x.csv", extra=dup_extra)
    assert not list(tmp_path.iterdir())  # nothing written on error


# --------------------------------------------------------------------------- formula injection

HOSTILE_IDS = ['=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3",
               "\tleading tab", "\rleading return", "'=already quoted", "''@twice"]


@pytest.fixture(scope="module")
def hostile():
    """Customers whose ids a spreadsheet would run as formulas, with negative numbers."""
    ids = HOSTILE_IDS + [f"ok{i}" for i in range(12)] + ["it's fine", "a=b"]
    n = len(ids)
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "customer_id": ids,
        "days_since_last_order": rng.integers(1, 400, n),
        "n_orders": rng.integers(1, 9, n),
        "total_amount": rng.uniform(10, 900, n).round(2),
        "net_change": -rng.uniform(1, 50, n).round(2),  # negative numbers stay numbers
        "note": ["=1+1"] + ["-"] + ["plain"] * (n - 2),
    })


def _cells(path):
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def _is_inert(cell):
    return not cell or cell[0] not in "=+-@\t\r"


@pytest.mark.parametrize("float_format", [None, "%.2f"])  # Arrow writer and pandas writer
def test_hostile_ids_are_written_inert_and_read_back_exact(tmp_path, hostile, float_format):
    res = kmeans_segments(hostile, n_clusters=2)
    path = export_segments(res, tmp_path / "s.csv", extra=[hostile], float_format=float_format)
    rows = _cells(path)
    header, body = rows[0], rows[1:]
    text_cols = [header.index(c) for c in ("customer_id", "note", "segment_name")]
    assert all(_is_inert(row[j]) for row in body for j in text_cols)
    ids = {row[0] for row in body}
    assert "'=HYPERLINK(\"http://x\")" in ids and "'+cmd|' /C calc'!A0" in ids
    assert "'@SUM(1)" in ids and "'-2+3" in ids and "'\tleading tab" in ids
    assert "''=already quoted" in ids and "'''@twice" in ids  # one more quote, exact back
    assert "it's fine" in ids and "a=b" in ids and "ok0" in ids  # harmless text untouched
    neg = header.index("net_change")
    assert all(row[neg].startswith("-") for row in body)  # numbers are not text
    back = read_segments(path)
    assert sorted(back["customer_id"]) == sorted(hostile["customer_id"])
    merged = back.set_index("customer_id").loc[hostile["customer_id"]]
    assert merged["note"].tolist() == hostile["note"].tolist()
    np.testing.assert_allclose(merged["net_change"], hostile["net_change"])
    assert merged["net_change"].dtype == float


def test_formula_opt_out_writes_raw_values(tmp_path, hostile):
    res = kmeans_segments(hostile, n_clusters=2)
    path = export_segments(res, tmp_path / "raw.csv", neutralise_formulas=False)
    ids = {row[0] for row in _cells(path)[1:]}
    assert set(HOSTILE_IDS) <= ids  # exactly as given, for programs
    back = read_segments(path, neutralise_formulas=False)
    assert sorted(back["customer_id"]) == sorted(hostile["customer_id"])


def test_excel_safe_ids_stay_wrapped_and_other_cells_inert(tmp_path, hostile):
    res = kmeans_segments(hostile, n_clusters=2)
    path = export_segments(res, tmp_path / "x.csv", extra=[hostile[["customer_id", "note"]]],
                           excel_safe_ids=True)
    rows = _cells(path)
    note = rows[0].index("note")
    assert all(row[0].startswith('="') for row in rows[1:])  # an inert text formula
    assert '="=HYPERLINK(""http://x"")"' in {row[0] for row in rows[1:]}
    assert all(_is_inert(row[note]) for row in rows[1:])
    back = read_segments(path)
    assert sorted(back["customer_id"]) == sorted(hostile["customer_id"])
    assert set(back["note"]) == set(hostile["note"])


def test_split_files_and_headers_are_inert(tmp_path, hostile):
    table = pd.DataFrame({"customer_id": HOSTILE_IDS, "segment": [1, 2] * 4,
                          "=SUM(A1)": range(8)})
    paths = export_segments(table, tmp_path / "t.csv", split_by_segment=True)
    for p in paths:
        rows = _cells(p)
        assert rows[0][2] == "'=SUM(A1)"
        assert all(_is_inert(row[0]) for row in rows[1:])
    back = read_segments(paths[0])
    assert list(back.columns) == ["customer_id", "segment", "=SUM(A1)"]
    assert back["customer_id"].tolist() == HOSTILE_IDS


def test_write_excel_csv_rule_and_its_sql_form_agree(tmp_path):
    import duckdb

    from crm_analytics._core.frames import (
        neutralise_formulas_sql,
        neutralise_text,
        unneutralise_text,
        write_excel_csv,
    )

    values = pd.Series(HOSTILE_IDS + ["x", "", "'", "'x", "3", "-", "Ω=1"])
    mine = neutralise_text(values)
    assert unneutralise_text(mine).tolist() == values.tolist()
    con = duckdb.connect()
    con.register("v", pd.DataFrame({"x": values}))
    sql = con.execute(f"SELECT {neutralise_formulas_sql('x')} FROM v").fetchall()
    assert [r[0] for r in sql] == mine.tolist()
    # categorical and object columns, frame not modified
    frame = pd.DataFrame({"c": pd.Categorical(["=a", "b", "=a"]),
                          "o": pd.Series(["@x", 5, None], dtype=object), "n": [-1, 2, -3]})
    before = frame.copy()
    for fmt in (None, "%.1f"):
        write_excel_csv(frame, tmp_path / "f.csv", float_format=fmt)
        rows = _cells(tmp_path / "f.csv")
        assert [r[0] for r in rows[1:]] == ["'=a", "b", "'=a"]
        assert [r[1] for r in rows[1:]] == ["'@x", "5", ""]
        assert [r[2] for r in rows[1:]] == ["-1", "2", "-3"]
    pd.testing.assert_frame_equal(frame, before)
