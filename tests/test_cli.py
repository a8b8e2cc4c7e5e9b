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
    assert "excluded 1 rows" in capsys.readouterr().out
    assert main(["validate", str(path), "--as-of", "2023-12-31"]) == 1
    assert "after as_of" in capsys.readouterr().err


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
    assert "Churn model not fitted" in page and "n/a (needs repeat customers)" in page
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
                   "--memory-limit"):
        assert option in text, option
    assert "--k " not in text and "--out " not in text  # old spellings are not advertised


def test_old_k_still_works_with_a_note(tmp_path: Path, capsys) -> None:
    from crm_analytics.cli import _parser

    assert _parser().parse_args(["segments", "x.csv", "--k", "3"]).n_clusters == 3
    assert "--k is deprecated" in capsys.readouterr().err
    # through main: the note, then the usual missing-file message
    assert main(["segments", str(tmp_path / "nope.csv"), "--k", "3"]) == 2
    err = capsys.readouterr().err
    assert "--k is deprecated" in err and "use --n-clusters" in err and "nope.csv" in err


def test_old_report_out_still_works_with_a_note(tmp_path: Path, capsys) -> None:
    # two CSV files fail fast (exit 2): enough to see the option parsed and the note
    assert main(["report", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"),
                 "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--out is deprecated" in err and "use --out-dir" in err


def test_old_and_new_spelling_together_is_an_error(capsys) -> None:
    import pytest

    with pytest.raises(SystemExit) as exit_info:
        main(["segments", "x.csv", "--k", "3", "--n-clusters", "4"])
    assert exit_info.value.code == 2
    assert "give --n-clusters only" in capsys.readouterr().err
