"""End-to-end tests of the command line: the report on the sample, bad files, exit codes,
option spellings (as in Python, old ones with a note) and a --help that loads no pandas."""

import base64
import io
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import pandas as pd
import pytest

from crm_analytics._core.errors import CrmDataError
from crm_analytics.cli import main
from crm_analytics.orders.datasets import sample_data_dir


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert main(["report", "--out-dir", str(out), "--quiet"]) == 0
    return out


def test_report_on_sample_writes_every_file(report_dir: Path) -> None:
    for name in ("customers.csv", "segments.csv", "cohort_repurchase.csv", "cohort_revenue.csv",
                 "report.html", "cohort_heatmap.png", "churn_risk.png", "sleeping_flow.png"):
        assert (report_dir / name).stat().st_size > 0, name


def test_report_customers_csv_has_every_customer_once(report_dir: Path) -> None:
    orders = pd.read_csv(sample_data_dir() / "orders.csv", dtype={"customer_id": str})
    customers = pd.read_csv(report_dir / "customers.csv", dtype={"customer_id": str},
                            encoding="utf-8-sig")
    assert customers["customer_id"].is_unique
    assert set(customers["customer_id"]) == set(orders["customer_id"])
    for col in ("p_alive", "ltv", "segment_name", "status", "churn_risk"):
        assert customers[col].notna().all(), col
    assert (report_dir / "customers.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_report_html_is_self_contained_and_images_decode(report_dir: Path) -> None:
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) >= 6
    for data in images:
        pixels = mpimg.imread(io.BytesIO(base64.b64decode(data)), format="png")
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert "http://" not in page and "https://" not in page
    assert "Repurchase rate" in page and "沉睡会员" in page


def test_validate_ok_prints_counts(capsys) -> None:
    assert main(["validate", str(sample_data_dir() / "orders.csv")]) == 0
    out = capsys.readouterr().out
    assert "5000 customers" in out.replace(",", "")


def test_validate_bad_file_exits_1_without_traceback(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,order_id,order_date,amount\n1,a,2024-01-01,10\n"
                   "2,b,not a date,5\n", encoding="utf-8")
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "order_date" in err and "not a date" in err
    assert "Traceback" not in err


def test_report_bad_file_exits_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("buyer,order_id,order_date,amount\n1,a,2024-01-01,10\n", encoding="utf-8")
    assert main(["report", str(bad), "--out-dir", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "customer_id" in err and "buyer" in err and "Traceback" not in err


def test_missing_file_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["segments", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv" in capsys.readouterr().err


def test_segments_command_writes_csv(tmp_path: Path) -> None:
    out = tmp_path / "seg.csv"
    assert main(["segments", str(sample_data_dir() / "orders.csv"), "--out", str(out),
                 "--n-clusters", "4"]) == 0
    seg = pd.read_csv(out, dtype={"customer_id": str}, encoding="utf-8-sig")
    assert seg["customer_id"].is_unique and seg["segment"].nunique() == 4


def test_console_entry_point_runs_as_module(tmp_path: Path) -> None:
    bad = tmp_path / "empty.csv"
    bad.write_text("customer_id,order_id,order_date,amount\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "crm_analytics", "validate", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "empty" in proc.stderr and "Traceback" not in proc.stderr


def test_validate_with_as_of_keeps_the_reader_report(tmp_path: Path, capsys) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,order_id,order_date,amount,status\n1,a,2024-01-01,10,paid\n"
                    "2,b,2024-01-02,5,refunded\n", encoding="utf-8")
    assert main(["validate", str(path), "--as-of", "2024-01-31"]) == 0
    out = capsys.readouterr().out
    assert "excluded 1" in out and "refunded" in out


def test_report_on_several_parquet_files_runs_in_the_engine(tmp_path: Path,
                                                            report_dir: Path) -> None:
    """`crm-analytics report a.parquet b.parquet` reads out of core (DuckDB), same numbers."""
    from crm_analytics import load_sample

    orders = load_sample()
    half = len(orders) // 2
    orders.iloc[:half].to_parquet(tmp_path / "p1.parquet")
    orders.iloc[half:].to_parquet(tmp_path / "p2.parquet")
    out = tmp_path / "engine"
    assert main(["report", str(tmp_path / "p1.parquet"), str(tmp_path / "p2.parquet"),
                 "--out-dir", str(out), "--memory-limit", "1GB", "--quiet"]) == 0
    got = pd.read_csv(out / "customers.csv", dtype={"customer_id": str}, encoding="utf-8-sig")
    want = pd.read_csv(report_dir / "customers.csv", dtype={"customer_id": str},
                       encoding="utf-8-sig")
    # the CSV rounds to 4 decimals: sums in another order may land on the other side
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-6, atol=1.5e-4)
    assert "p1.parquet" in (out / "report.html").read_text(encoding="utf-8")


def test_report_bad_memory_limit_is_bad_input(tmp_path: Path, capsys) -> None:
    orders = pd.DataFrame({"customer_id": ["a", "b"], "order_id": ["1", "2"],
                           "order_date": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                           "amount": [10.0, 20.0]})
    orders.iloc[:1].to_parquet(tmp_path / "p1.parquet")
    orders.iloc[1:].to_parquet(tmp_path / "p2.parquet")
    assert main(["report", str(tmp_path / "p1.parquet"), str(tmp_path / "p2.parquet"),
                 "--memory-limit", "lots", "--out-dir", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--memory-limit 'lots'" in err and "2GB" in err and "Traceback" not in err


def test_report_several_files_must_be_parquet(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"),
                 "--out-dir", str(tmp_path / "o"), "--quiet"]) == 2
    assert "Parquet" in capsys.readouterr().err


def test_validate_missing_file_is_bad_input(tmp_path: Path, capsys) -> None:
    assert main(["validate", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv" in capsys.readouterr().err


def test_report_without_repeat_customers_still_writes_the_rest(tmp_path: Path) -> None:
    """A new shop (nobody has ordered twice): churn/LTV are skipped with a note, exit 0."""
    path = tmp_path / "new_shop.csv"
    pd.DataFrame({"customer_id": [f"张{i}" for i in range(30)],
                  "order_id": [str(i) for i in range(30)],
                  "order_date": pd.date_range("2025-01-01", periods=30, freq="D"),
                  "amount": [100.0 + i for i in range(30)]}).to_csv(path, index=False)
    out = tmp_path / "r"
    assert main(["report", str(path), "--out-dir", str(out), "--quiet"]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Churn model not fitted" in page and "n/a (" in page
    customers = pd.read_csv(out / "customers.csv", encoding="utf-8-sig")
    assert len(customers) == 30 and customers["p_alive"].isna().all()


@pytest.mark.parametrize("argv", [["--help"], ["report", "--help"], ["segments", "--help"]])
def test_help_loads_no_scientific_stack(argv: list[str]) -> None:
    """`crm-analytics --help` answers at once: building the parser imports no pandas."""
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['crm-analytics', *{argv!r}]\n"
        "try:\n"
        "    runpy.run_module('crm_analytics', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('pandas', 'numpy', 'matplotlib', 'duckdb', 'sklearn', 'scipy', 'pyarrow')\n"
        "print('LOADED', [m for m in heavy if m in sys.modules])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage: crm-analytics" in proc.stdout
    assert "LOADED []" in proc.stdout



def test_options_are_spelled_as_in_python(capsys) -> None:
    """Each option is its Python parameter with dashes (as_of -> --as-of, ...)."""
    from crm_analytics.cli import _parser

    with pytest.raises(SystemExit):
        _parser().parse_args(["report", "--help"])
    text = capsys.readouterr().out
    for option in ("--as-of", "--out-dir", "--sleep-after", "--horizon-months",
                   "--monthly-discount-rate", "--margin-rate", "--n-clusters",
                   "--memory-limit", "--columns", "--dayfirst", "--date-format", "--decimal",
                   "--currency"):
        assert option in text, option
    assert "--out " not in text  # the old spelling is not advertised


def test_k_is_the_same_option_as_n_clusters_without_a_note(capsys) -> None:
    from crm_analytics.cli import _parser

    for command in (["segments", "x.csv"], ["report"]):
        assert _parser().parse_args([*command, "--k", "3"]).n_clusters == 3
        assert _parser().parse_args([*command, "--n-clusters", "5"]).n_clusters == 5
    assert "deprecated" not in capsys.readouterr().err


def test_old_report_out_still_works_with_a_note(tmp_path: Path, capsys) -> None:
    # two CSV files fail fast (exit 2): enough to see the option parsed and the note
    assert main(["report", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"),
                 "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--out is deprecated" in err and "use --out-dir" in err


def test_old_and_new_spelling_together_is_an_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--out", str(tmp_path / "a"), "--out-dir", str(tmp_path / "b")])
    assert exit_info.value.code == 2
    assert "give --out-dir only" in capsys.readouterr().err


# -- reading options: --columns, --dayfirst, --date-format, --decimal, --currency -------------

UK_RETAIL = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26,2.55,17850.0,United Kingdom\n"
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26,3.39,17850.0,United Kingdom\n"
    "536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28,1.85,17850.0,United Kingdom\n"
    "536367,84879,ASSORTED COLOUR BIRD,32,2010-12-01 08:34,1.69,13047.0,United Kingdom\n"
    "536368,22960,JAM MAKING SET,6,2010-12-01 08:34,4.25,13047.0,United Kingdom\n"
    "536369,21756,BATH BUILDING BLOCK,3,2010-12-01 08:35,5.95,13047.0,United Kingdom\n"
    "536370,22728,ALARM CLOCK BAKELIKE,24,2010-12-01 08:45,3.75,12583.0,France\n"
)
UK_COLUMNS = ("customer_id=CustomerID,order_id=InvoiceNo,order_date=InvoiceDate,"
              "quantity=Quantity,unit_price=UnitPrice")


@pytest.fixture
def uk_retail(tmp_path: Path) -> Path:
    """A line-item table shaped like a UK online retailer's export (one row per item)."""
    path = tmp_path / "online_retail.csv"
    path.write_text(UK_RETAIL, encoding="utf-8")
    return path


@pytest.fixture
def reader_calls(monkeypatch) -> list[dict]:
    """The keyword arguments each read_orders call got (the call then stops the command)."""
    import crm_analytics.orders.readers as readers

    calls: list[dict] = []

    def spy(path, **kwargs):
        calls.append(kwargs)
        raise CrmDataError("stopped by the test")

    monkeypatch.setattr(readers, "read_orders", spy)
    return calls


def test_parse_columns_reads_spaces_chinese_and_quotes() -> None:
    from crm_analytics.cli import parse_columns

    assert parse_columns(UK_COLUMNS) == {
        "customer_id": "CustomerID", "order_id": "InvoiceNo", "order_date": "InvoiceDate",
        "quantity": "Quantity", "unit_price": "UnitPrice"}
    assert parse_columns("customer_id=买家 会员名, order_date = Created at ,") == {
        "customer_id": "买家 会员名", "order_date": "Created at"}
    assert parse_columns("""amount="Total, incl. VAT",margin='a=b'""") == {
        "amount": "Total, incl. VAT", "margin": "a=b"}


@pytest.mark.parametrize(("text", "shown"), [
    ("customer_id", "'customer_id'"), ("customer_id=CustomerID,order_id", "'order_id'"),
    ("=CustomerID", "'=CustomerID'"), ("customer_id=", "'customer_id='"),
    ('amount="Total', "not closed"), ("amount=A,amount=B", "mapped twice"),
])
def test_malformed_columns_item_exits_2_naming_it(text: str, shown: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", "orders.csv", "--columns", text])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--columns" in err and shown in err
    if "mapped twice" not in shown:
        assert "--columns customer_id=CustomerID,order_id=InvoiceNo" in err


@pytest.mark.parametrize("command", [["validate"], ["segments"], ["report", "--quiet"]])
def test_reading_options_reach_read_orders(command: list[str], uk_retail: Path,
                                           reader_calls: list[dict], tmp_path: Path) -> None:
    extra = ["--out-dir", str(tmp_path / "r")] if command[0] == "report" else []
    code = main([command[0], str(uk_retail), *command[1:], *extra,
                 "--columns", UK_COLUMNS, "--dayfirst", "--date-format", "%Y-%m-%d %H:%M",
                 "--decimal", ",", "--currency", "gbp"])
    assert code == (1 if command[0] == "validate" else 2)
    # the report reads with the never-paid orders, then (refused here) as usual
    assert [c.get("include_unpaid", False) for c in reader_calls] == (
        [True, False] if command[0] == "report" else [False])
    for kwargs in reader_calls:
        assert kwargs["columns"]["order_id"] == "InvoiceNo"
        assert kwargs["columns"]["unit_price"] == "UnitPrice"
        assert kwargs["dayfirst"] is True and kwargs["date_format"] == "%Y-%m-%d %H:%M"
        assert kwargs["decimal"] == "," and kwargs["currency"] == "GBP"
    assert kwargs["return_report"] is True


def test_no_dayfirst_and_unset_options(uk_retail: Path, reader_calls: list[dict]) -> None:
    main(["validate", str(uk_retail), "--no-dayfirst"])
    main(["validate", str(uk_retail)])
    assert reader_calls[0]["dayfirst"] is False
    assert not {"dayfirst", "columns", "decimal", "currency"} & set(reader_calls[1])


def test_bad_currency_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", "orders.csv", "--currency", "pounds"])
    assert exit_info.value.code == 2
    assert "--currency GBP" in capsys.readouterr().err


def test_validate_line_items_with_columns(uk_retail: Path, capsys) -> None:
    """The UK retail table: 7 item rows, 6 invoices, 3 customers; ids keep their digits."""
    assert main(["validate", str(uk_retail), "--columns", UK_COLUMNS, "--currency", "GBP"]) == 0
    out = capsys.readouterr().out
    assert "6 orders from 3 customers" in out and "2010-12-01 to 2010-12-01" in out
    assert "GBP" in out


def test_report_line_items_with_columns(uk_retail: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "r"
    assert main(["report", str(uk_retail), "--columns", UK_COLUMNS, "--currency", "GBP",
                 "--out-dir", str(out), "--quiet"]) == 0
    customers = pd.read_csv(out / "customers.csv", dtype={"customer_id": str},
                            encoding="utf-8-sig")
    assert set(customers["customer_id"]) == {"17850", "13047", "12583"}
    assert "yuan" not in (out / "report.html").read_text(encoding="utf-8")


def test_segments_line_items_with_columns(uk_retail: Path, tmp_path: Path) -> None:
    out = tmp_path / "seg.csv"
    assert main(["segments", str(uk_retail), "--columns", UK_COLUMNS, "--out", str(out),
                 "--k", "2"]) == 0
    seg = pd.read_csv(out, dtype={"customer_id": str}, encoding="utf-8-sig")
    assert set(seg["customer_id"]) == {"17850", "13047", "12583"}


DAY_FIRST = ("customer_id,order_id,order_date,amount\n"
             "a,1,1/12/2010 8:26,10\n"
             "a,2,13/12/2010 9:00,20\n"
             "b,3,5/1/2011 10:00,30\n")


def test_validate_day_first_file_with_dayfirst(tmp_path: Path, capsys) -> None:
    path = tmp_path / "dayfirst.csv"
    path.write_text(DAY_FIRST, encoding="utf-8")
    assert main(["validate", str(path), "--dayfirst"]) == 0
    assert "2010-12-01 to 2011-01-05" in capsys.readouterr().out
    assert main(["validate", str(path), "--date-format", "%d/%m/%Y %H:%M"]) == 0
    assert "2010-12-01 to 2011-01-05" in capsys.readouterr().out


# -- --as-of ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["03/04/2024", "2024-3-4", "20240304", "2024-02-30", "soon"])
def test_as_of_must_be_iso(value: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", "orders.csv", "--as-of", value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert repr(value) in err and "YYYY-MM-DD" in err and "--as-of 2024-03-04" in err


@pytest.fixture
def small_orders(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    rows = ["customer_id,order_id,order_date,amount"]
    rows += [f"c{i % 7},{i},2024-01-{1 + i % 28:02d},{10 + i}" for i in range(40)]
    rows += ["c1,90,2024-03-01,15", "c2,91,2024-03-02,25"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_validate_as_of_before_orders_leaves_them_out(small_orders: Path, capsys) -> None:
    assert main(["validate", str(small_orders), "--as-of", "2024-02-15"]) == 0
    captured = capsys.readouterr()
    assert "2 orders are dated after the as-of day 2024-02-15 and left out" in captured.err
    assert "40 orders" in captured.out


def test_report_as_of_before_orders_says_so(small_orders: Path, tmp_path: Path,
                                            capsys) -> None:
    assert main(["report", str(small_orders), "--as-of", "2024-02-15", "--quiet",
                 "--out-dir", str(tmp_path / "r")]) == 0
    assert "2 orders are dated after the as-of day" in capsys.readouterr().err


def test_as_of_long_after_the_last_order_warns(small_orders: Path, capsys) -> None:
    assert main(["validate", str(small_orders), "--as-of", "2024-09-01"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "183 days after the last order (2024-03-02)" in err
    assert "sleeping" in err
    assert main(["validate", str(small_orders), "--as-of", "2024-09-01",
                 "--sleep-after", "200"]) == 0
    assert "warning" not in capsys.readouterr().err


# -- version, quiet ---------------------------------------------------------------------------

def test_version(capsys) -> None:
    import crm_analytics

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"crm-analytics {crm_analytics.__version__}"
    proc = subprocess.run([sys.executable, "-m", "crm_analytics", "--version"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("crm-analytics ")


def test_quiet_report_keeps_the_headline(small_orders: Path, tmp_path: Path, capsys) -> None:
    assert main(["report", str(small_orders), "--quiet", "--out-dir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "Customers: 7" in out and "Report written to" in out


# -- unusable inputs and outputs: exit 2 with a clear message ---------------------------------

def test_validate_directory_is_bad_input(tmp_path: Path, capsys) -> None:
    assert main(["validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and "NOT valid" not in err and "unexpected" not in err


@pytest.mark.parametrize("encoding", ["no-such-codec", "utf-16"])
def test_validate_bad_encoding_is_bad_input(encoding: str, small_orders: Path, capsys) -> None:
    assert main(["validate", str(small_orders), "--encoding", encoding]) == 2
    err = capsys.readouterr().err
    assert "encoding" in err and "unexpected" not in err and "Traceback" not in err


@pytest.fixture
def parquet_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "orders"
    folder.mkdir()
    orders = pd.DataFrame({"customer_id": ["a", "b", "a", "c"], "order_id": ["1", "2", "3", "4"],
                           "order_date": pd.to_datetime(["2024-01-01", "2024-01-05",
                                                         "2024-02-01", "2024-02-03"]),
                           "amount": [10.0, 20.0, 30.0, 40.0]})
    orders.iloc[:2].to_parquet(folder / "p1.parquet")
    orders.iloc[2:].to_parquet(folder / "p2.parquet")
    return folder


def test_validate_glob_without_match_is_bad_input(parquet_dir: Path, capsys) -> None:
    assert main(["validate", str(parquet_dir / "nothing*.parquet")]) == 2
    err = capsys.readouterr().err
    assert "No file matches" in err and "unexpected" not in err


@pytest.mark.parametrize("how", ["glob", "files"])
def test_validate_parquet_files_through_the_engine(how: str, parquet_dir: Path,
                                                   capsys) -> None:
    paths = ([str(parquet_dir / "*.parquet")] if how == "glob"
             else [str(parquet_dir / "p1.parquet"), str(parquet_dir / "p2.parquet")])
    assert main(["validate", *paths]) == 0
    captured = capsys.readouterr()
    assert "OK:" in captured.out and "4 orders kept" in captured.out
    assert "2024-01-01 to 2024-02-03" in captured.out
    assert "unexpected" not in captured.err


def test_engine_sources_refuse_reader_options(parquet_dir: Path, capsys) -> None:
    assert main(["validate", str(parquet_dir / "*.parquet"), "--dayfirst"]) == 2
    assert "--dayfirst apply to one file" in capsys.readouterr().err


def test_segments_out_under_a_file_is_bad_input(small_orders: Path, tmp_path: Path,
                                               capsys) -> None:
    afile = tmp_path / "afile.txt"
    afile.write_text("x", encoding="utf-8")
    assert main(["segments", str(small_orders), "--out", str(afile / "seg.csv")]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "unexpected" not in err


def test_report_out_dir_that_is_a_file_is_bad_input(small_orders: Path, tmp_path: Path,
                                                    capsys) -> None:
    afile = tmp_path / "afile.txt"
    afile.write_text("x", encoding="utf-8")
    assert main(["report", str(small_orders), "--out-dir", str(afile), "--quiet"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_invalid_memory_limit_refused_for_one_file(small_orders: Path, tmp_path: Path,
                                                   capsys) -> None:
    out = tmp_path / "r"
    assert main(["report", str(small_orders), "--memory-limit", "lots", "--quiet",
                 "--out-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--memory-limit 'lots'" in err and "2GB" in err
    assert not (out / "report.html").exists()


def test_any_os_error_is_a_clear_exit_2(monkeypatch, small_orders: Path, capsys) -> None:
    import crm_analytics.orders.readers as readers

    def refuse(path, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(readers, "read_orders", refuse)
    assert main(["validate", str(small_orders)]) == 2
    err = capsys.readouterr().err
    assert "Permission denied" in err and str(small_orders) in err and "unexpected" not in err


# -- messages --------------------------------------------------------------------------------

def test_messages_keep_command_line_fixes_intact() -> None:
    from crm_analytics.cli import _explain

    fix = "--columns customer_id=Customer ID,order_id=Invoice-No,order_date=Invoice-Date"
    text = _explain(CrmDataError("The file has no column 'customer_id'. " * 3
                                 + f"Command line: {fix}"))
    assert fix in text.replace("\n", " ")
    assert all(len(line) <= 100 or "--columns" in line for line in text.splitlines())
    assert not any(re.search(r"--[a-z-]+$", line) for line in text.splitlines())
    long = _explain(CrmDataError("x" * 83 + " pass --dayfirst --date-format '%d/%m/%Y' now"))
    assert "--date-format '%d/%m/%Y'" in long.splitlines()[1]


def test_python_fix_gets_its_command_line_form() -> None:
    from crm_analytics.cli import _explain

    text = _explain(CrmDataError("No 'amount' column. Pass columns={'amount': 'Total paid'} "
                                 "to read_orders, or dayfirst=True."))
    flat = text.replace("\n", " ")
    assert '--columns amount="Total paid"' in flat and "--dayfirst" in flat


def test_reading_options_without_a_file_are_refused(capsys) -> None:
    assert main(["report", "--dayfirst", "--quiet"]) == 2
    assert "--dayfirst: reading options for an order file" in capsys.readouterr().err


def test_validate_glob_with_as_of_counts_later_orders(parquet_dir: Path, capsys) -> None:
    assert main(["validate", str(parquet_dir / "*.parquet"), "--as-of", "2024-01-31"]) == 0
    captured = capsys.readouterr()
    assert "2 orders kept up to 2024-01-31" in captured.out
    assert "2 orders are dated after the as-of day 2024-01-31 and left out" in captured.err


# -- target: the next campaign's send list ------------------------------------------------

@pytest.fixture(scope="module")
def uplift_files(tmp_path_factory):
    from crm_analytics.simulate import simulate_shop
    from crm_analytics.simulate_uplift import simulate_uplift_campaigns

    folder = tmp_path_factory.mktemp("uplift")
    up = simulate_uplift_campaigns(simulate_shop(4000, seed=21, params={"campaigns": []}),
                                   n_campaigns=3, seed=2)
    orders = up.orders[["customer_id", "order_id", "order_date", "amount", "margin"]]
    orders.to_csv(folder / "orders.csv", index=False)
    cols = ["campaign_id", "customer_id", "group", "start"]
    up.campaigns[cols].to_csv(folder / "campaigns.csv", index=False)
    up.campaigns[cols].assign(group="treatment").to_csv(folder / "no_holdout.csv", index=False)
    return folder


def test_target_writes_a_send_list_with_its_holdout(uplift_files: Path, tmp_path: Path,
                                                    capsys) -> None:
    out = tmp_path / "send_list.csv"
    code = main(["target", str(uplift_files / "orders.csv"), "--campaigns",
                 str(uplift_files / "campaigns.csv"), "--cost-per-contact", "0.5",
                 "--budget", "200", "--seed", "9", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    sent = pd.read_csv(out, dtype={"customer_id": str}, encoding="utf-8-sig")
    assert {"customer_id", "expected_incremental_margin", "group"} <= set(sent.columns)
    assert set(sent["group"]) == {"treatment", "control"}
    assert sent.loc[sent["group"] == "treatment", "contact_cost"].sum() <= 200 * 1.01
    assert "Qini coefficient" in captured.out and "held out" in captured.out


def test_target_refuses_history_without_a_holdout(uplift_files: Path, tmp_path: Path,
                                                  capsys) -> None:
    code = main(["target", str(uplift_files / "orders.csv"), "--campaigns",
                 str(uplift_files / "no_holdout.csv"), "--cost-per-contact", "0.5",
                 "--out", str(tmp_path / "s.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert "randomized history" in " ".join(err.split())
    assert "Traceback" not in err and not (tmp_path / "s.csv").exists()


# --------------------------------------------------------------------------- issue 15/16
@pytest.fixture(scope="module")
def reminder_shop(tmp_path_factory):
    """A simulated shop with created/paid times, unpaid orders, products and quantities,
    written to CSV and run through ``crm-analytics report``."""
    from crm_analytics.simulate import simulate_shop
    from crm_analytics.simulate_reminders import simulate_reminders

    shop = simulate_reminders(simulate_shop(3000, seed=11, params={"campaigns": []}), seed=12)
    base = tmp_path_factory.mktemp("reminder_shop")
    path = base / "orders.csv"
    shop.orders.to_csv(path, index=False)
    out = base / "report"
    assert main(["report", str(path), "--out-dir", str(out), "--quiet"]) == 0
    return shop, out


def _page(out: Path) -> str:
    return re.sub(r'<img src="data:[^"]*"', "<img",
                  (out / "report.html").read_text(encoding="utf-8"))


def test_report_payment_section_counts_every_created_order(reminder_shop) -> None:
    from crm_analytics.reminders import payment_timing

    shop, out = reminder_shop
    want = payment_timing(shop.orders)  # the never-paid orders included
    assert want.overall["paid_share"] < 0.95
    page = _page(out)
    assert "Payment (催付)" in page
    assert (f"{want.overall['paid_share']:.1%} of {want.n_orders:,} created orders"
            in page)
    assert f"{want.overall['late_share_after_2h']:.1%}" in page
    assert "were not available" not in page  # the CLI passed the unpaid orders
    got = pd.read_csv(out / "payment_timing_by_hour.csv", encoding="utf-8-sig")
    pd.testing.assert_frame_equal(got, want.table.reset_index(drop=True), check_dtype=False)
    overall = pd.read_csv(out / "payment_timing_overall.csv", encoding="utf-8-sig").iloc[0]
    for col in ("created", "paid", "paid_share", "median_minutes_to_pay"):
        assert overall[col] == pytest.approx(float(want.overall[col])), col
    assert (out / "payment_timing.png").stat().st_size > 0


def test_report_replenishment_section_has_the_cycles(reminder_shop) -> None:
    from crm_analytics.reminders import replenishment_list, repurchase_cycles

    shop, out = reminder_shop
    want = repurchase_cycles(shop.orders, by="product")  # unpaid orders are left out
    page = _page(out)
    assert "Replenishment (追销)" in page
    got = pd.read_csv(out / "repurchase_cycles.csv", encoding="utf-8-sig")
    pd.testing.assert_frame_equal(got.drop(columns="note"),
                                  want.table.drop(columns="note").reset_index(drop=True),
                                  check_dtype=False)
    top = want.table.dropna(subset=["cycle_days_per_unit"]).iloc[0]
    assert f"<td>{top['product']}</td>" in page
    listed = replenishment_list(shop.orders, by="product", cycles=want)
    assert len(pd.read_csv(out / "replenishment_list.csv", encoding="utf-8-sig")) == len(listed)
    assert f"{len(listed):,} purchases of" in page


def test_report_kpi_board_follows_the_data_section(reminder_shop, report_dir: Path) -> None:
    for out in (reminder_shop[1], report_dir):
        page = _page(out)
        assert page.index("Data used") < page.index("KPI board (quarterly)") \
            < page.index('class="cards"') < page.index("Customer lifecycle")
        board = pd.read_csv(out / "kpi_board.csv", encoding="utf-8-sig")
        assert {"period", "customers", "revenue", "repurchase_rate",
                "repeat_revenue_share", "revenue_change"} <= set(board.columns)
        for name in ("lifecycle.png", "repurchase_by_first_channel.png",
                     "repurchase_by_first_category.png", "lifecycle_stages.csv"):
            assert (out / name).stat().st_size > 0, name


def test_sample_report_has_no_payment_or_replenishment_section(report_dir: Path) -> None:
    page = _page(report_dir)
    assert "Payment (" not in page and "Replenishment (" not in page
    assert not list(report_dir.glob("payment_*")) and not list(report_dir.glob("repl*"))


def test_report_without_the_unpaid_read_still_has_a_payment_section(tmp_path: Path,
                                                                    monkeypatch) -> None:
    """A file that reads only without its never-paid orders is read again as usual; the
    Payment section then says the unpaid orders were not available."""
    import crm_analytics.orders.readers as readers
    from crm_analytics.simulate import simulate_shop
    from crm_analytics.simulate_reminders import simulate_reminders

    orders = simulate_reminders(simulate_shop(300, seed=1, params={"campaigns": []}),
                                seed=2).orders
    path = tmp_path / "orders.csv"
    orders.to_csv(path, index=False)
    real, calls = readers.read_orders, []

    def refuse_unpaid(path, **kwargs):
        calls.append(kwargs.get("include_unpaid"))
        if kwargs.get("include_unpaid"):
            raise CrmDataError("unreadable with unpaid orders")
        return real(path, **kwargs)

    monkeypatch.setattr(readers, "read_orders", refuse_unpaid)
    assert main(["report", str(path), "--out-dir", str(tmp_path / "r"), "--quiet"]) == 0
    assert calls == [True, False]
    page = _page(tmp_path / "r")
    assert "Payment (催付)" in page and "Orders never paid were not available" in page


def test_generic_file_reads_payment_times_and_quantities(tmp_path: Path) -> None:
    from crm_analytics.orders.readers import read_orders

    path = tmp_path / "orders.csv"
    pd.DataFrame({
        "customer_id": ["a", "b", "c"], "order_id": ["1", "2", "3"],
        "order_date": ["13/01/2025", "14/01/2025", "15/01/2025"], "amount": ["10", "20", "30"],
        "created_at": ["13/01/2025 09:00", "14/01/2025 10:00", "not a date"],
        "paid_at": ["13/01/2025 09:05", "", ""], "quantity": ["1", "2", "3"],
        "unit_price": ["1,50", "2,00", "3,25"], "status": ["paid", "paid", "unpaid"],
    }).to_csv(path, index=False)
    orders, report = read_orders(path, return_report=True, include_unpaid=True)
    assert str(orders["created_at"].dtype).startswith("datetime64")
    assert str(orders["paid_at"].dtype).startswith("datetime64")
    assert orders["created_at"].dt.strftime("%Y-%m-%d %H:%M").tolist()[:2] == [
        "2025-01-13 09:00", "2025-01-14 10:00"]
    assert orders["created_at"].isna().tolist() == [False, False, True]
    assert orders["paid_at"].notna().tolist() == [True, False, False]
    assert orders["quantity"].tolist() == [1.0, 2.0, 3.0]
    assert orders["unit_price"].tolist() == [1.5, 2.0, 3.25]
    assert report.date_readings["created_at"] == "day-first"
    assert any("'created_at' not read as dates" in w for w in report.warnings)
    plain = read_orders(path)  # without the option: the unpaid order is left out
    assert len(plain) == 2 and plain["quantity"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(("option", "month"), [({"dayfirst": True}, 2),
                                               ({"dayfirst": False}, 1),
                                               ({"date_format": "%d/%m/%Y %H:%M"}, 2)])
def test_generic_payment_times_take_the_date_options_of_order_date(tmp_path: Path, option,
                                                                   month) -> None:
    from crm_analytics.orders.readers import read_orders

    path = tmp_path / "orders.csv"
    pd.DataFrame({"customer_id": ["a"], "order_id": ["1"], "order_date": ["01/02/2025 09:00"],
                  "amount": ["10"], "created_at": ["01/02/2025 09:00"],
                  "paid_at": ["01/02/2025 09:30"], "quantity": ["2"]}).to_csv(path, index=False)
    orders = read_orders(path, **option)
    for col in ("order_date", "created_at", "paid_at"):
        assert orders[col].iloc[0].month == month, col
    assert (orders["paid_at"] - orders["created_at"]).iloc[0] == pd.Timedelta(minutes=30)
