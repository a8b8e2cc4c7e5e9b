"""The ``crm-analytics`` command line (also ``python -m crm_analytics``).

Commands
--------
``report [ORDERS]``
    The main job: customers.csv, segments.csv, cohort tables, PNG plots and a
    self-contained ``report.html``. Without ORDERS it runs on the bundled sample.
``segments ORDERS --out segments.csv``
    KMeans segments of the customers, exported for the messaging tool.
``validate ORDERS``
    Print the validation report; exit code 1 when the data is invalid.

Bad input prints one clear paragraph and exits with code 2 (1 for ``validate``); pass
``--debug`` for the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path

from crm_analytics._core.errors import CrmDataError

__all__ = ["main"]

EXIT_OK, EXIT_INVALID, EXIT_BAD_INPUT = 0, 1, 2


def _add_input_args(p: argparse.ArgumentParser, *, optional: bool) -> None:
    if optional:
        p.add_argument("orders", nargs="*", help="order file (CSV/Parquet/Excel), or several "
                       "Parquet files / a quoted glob (read out of core with DuckDB); omit "
                       "to use the bundled sample shop")
    else:
        p.add_argument("orders", help="order file (CSV/Parquet/Excel)")
    p.add_argument("--source", default="auto", choices=["auto", "taobao", "shopify", "generic"],
                   help="platform of the export (default: detect from the headers)")
    p.add_argument("--encoding", default=None, help="file encoding (default: utf-8-sig, "
                   "then gb18030)")
    p.add_argument("--as-of", default=None, help="analysis date YYYY-MM-DD "
                   "(default: last order date)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-analytics",
        description="Repurchase, churn, LTV, segments and sleeping members from an order table.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="run the whole analysis and write an HTML report")
    _add_input_args(rep, optional=True)
    rep.add_argument("--out", default="crm_report", help="output folder (default: crm_report)")
    rep.add_argument("--sleep-after", type=int, default=90, help="days without an order "
                     "after which a member is sleeping (default 90)")
    rep.add_argument("--quiet", action="store_true", help="no progress output")
    rep.add_argument("--memory-limit", default=None, help="DuckDB memory limit for several "
                     "Parquet files, e.g. 2GB (it spills to disk beyond it)")
    seg = sub.add_parser("segments", help="KMeans segments to a CSV for messaging tools")
    _add_input_args(seg, optional=False)
    seg.add_argument("--out", default="segments.csv", help="CSV path (default segments.csv)")
    seg.add_argument("--k", type=int, default=None, help="number of segments "
                     "(default: chosen by silhouette)")
    seg.add_argument("--excel-safe-ids", action="store_true",
                     help="write ids so Excel shows long numbers exactly")
    val = sub.add_parser("validate", help="check an order file and print what was found")
    _add_input_args(val, optional=False)
    return parser


def _parquet_source(paths: list[str]) -> list[str] | None:
    """Paths for the DuckDB engine: several Parquet files or a glob; else None."""
    is_glob = any(ch in paths[0] for ch in "*?[") if len(paths) == 1 else False
    if len(paths) == 1 and not is_glob:
        return None
    for p in paths:
        if not p.lower().endswith((".parquet", ".pq")):
            raise CrmDataError(
                f"Several order files (or a glob) are read out of core, which needs Parquet "
                f"files with canonical columns; {p!r} is not one. Convert it, or pass one file."
            )
        if not any(ch in p for ch in "*?[") and not Path(p).exists():
            raise FileNotFoundError(f"No such file: {p}")
    return paths


def _load(args: argparse.Namespace):
    from crm_analytics.orders.datasets import load_sample
    from crm_analytics.orders.readers import read_orders

    paths = args.orders if isinstance(args.orders, list) else [args.orders]
    paths = [p for p in paths if p is not None]
    if not paths:
        return load_sample("orders")
    engine_paths = _parquet_source(paths)
    if engine_paths is None and not Path(paths[0]).exists():
        raise FileNotFoundError(f"No such file: {paths[0]}. Check the path.")
    if engine_paths is not None:
        limit = getattr(args, "memory_limit", None)
        if limit is None:
            return engine_paths
        import duckdb

        con = duckdb.connect()
        try:
            con.execute(f"SET memory_limit = '{limit}'")
        except duckdb.Error as exc:
            raise CrmDataError(f"--memory-limit {limit!r} is not a size DuckDB understands "
                               "(use e.g. 2GB or 500MB).") from exc
        spill = Path(args.out) / ".duckdb_spill"
        spill.mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = '{spill.as_posix()}'")
        con.execute("SET preserve_insertion_order = false")
        return con.read_parquet(engine_paths)
    return read_orders(Path(paths[0]), source=args.source, encoding=args.encoding)


def _cmd_validate(args: argparse.Namespace) -> int:
    from crm_analytics.orders.validate import validate_orders, validation_report

    orders = _load(args)
    report = validation_report(orders)  # the reader's report (platform exclusions included)
    if args.as_of:
        validate_orders(orders, as_of=args.as_of)  # raises when orders are after as_of
    n_customers = orders["customer_id"].nunique()
    first, last = orders["order_date"].min().date(), orders["order_date"].max().date()
    print(f"OK: {args.orders}")
    print(f"{len(orders)} orders from {n_customers} customers, {first} to {last}.")
    if report is not None:
        print(report.summary())
    return EXIT_OK


def _cmd_segments(args: argparse.Namespace) -> int:
    from crm_analytics.segments import kmeans_segments
    from crm_analytics.segments.export import export_segments
    from crm_analytics.summary import customer_summary

    orders = _load(args)
    summary = customer_summary(orders, as_of=args.as_of)
    result = kmeans_segments(summary, n_clusters=args.k)
    path = export_segments(result, args.out, extra=[summary],
                           excel_safe_ids=args.excel_safe_ids)
    print(f"{len(summary)} customers in {result.k} segments written to {path}")
    print(result.profiles.to_string(index=False))
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    # The plotting and modelling stack (about a second of imports) loads on a second
    # thread while the orders are read: Arrow's readers release the GIL.
    preload = threading.Thread(target=importlib.import_module, args=("crm_analytics.report",),
                               daemon=True)
    preload.start()
    try:
        orders = _load(args)
    finally:
        preload.join()
    from crm_analytics.report import run_report

    result = run_report(
        orders, out_dir=args.out, as_of=args.as_of, sleep_after=args.sleep_after,
        progress=not args.quiet,
        source_name=" ".join(args.orders) if args.orders else "bundled sample shop",
    )
    if not args.quiet:
        for line in result.headline_lines():
            print(line)
    print(f"Report written to {result.html_path}")
    return EXIT_OK


def _explain(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return textwrap.fill(f"crm-analytics: {text}", width=100)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``crm-analytics`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    commands = {"report": _cmd_report, "segments": _cmd_segments, "validate": _cmd_validate}
    try:
        return commands[args.command](args)
    except (CrmDataError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        if args.debug:
            raise
        print(_explain(exc), file=sys.stderr)
        if args.command == "validate" and type(exc) is CrmDataError:
            print("The data is NOT valid: fix it as described above.", file=sys.stderr)
            return EXIT_INVALID
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - last resort: never a raw traceback
        if args.debug:
            raise
        print(_explain(f"unexpected error ({type(exc).__name__}): {exc}. "
                       "Re-run with --debug and report the traceback."), file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
