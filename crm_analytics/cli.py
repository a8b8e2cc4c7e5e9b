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

Options are spelled as the Python parameters they feed, with dashes: ``--as-of`` is
``as_of``, ``--n-clusters`` is ``n_clusters``, ``--out-dir`` is ``run_report``'s
``out_dir``. The spellings of version 0.1 (``--k``, ``report --out``) still work for one
release and print a note on stderr.

Bad input prints one clear paragraph and exits with code 2 (1 for ``validate``); pass
``--debug`` for the traceback.

Building the parser imports nothing but the standard library, so ``--help`` answers at
once; each command imports the analyses it runs.
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


class _OldSpelling(argparse.Action):
    """An option's spelling of version 0.1: stored like the new one, with a note on stderr."""

    def __init__(self, option_strings, dest, *, new: str, **kwargs) -> None:
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"crm-analytics: {option_string} is deprecated and will be removed in the next "
              f"release; use {self.new}.", file=sys.stderr)
        setattr(namespace, self.dest, values)
        old = dict(getattr(namespace, "_old_spellings", None) or {})
        old[self.dest] = (option_string, self.new, values)
        namespace._old_spellings = old


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


def _add_n_clusters(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--n-clusters", type=int, default=None, help=f"number of {what} "
                   "(default: chosen by silhouette)")
    p.add_argument("--k", dest="n_clusters", type=int, action=_OldSpelling,
                   new="--n-clusters")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-analytics",
        description="Repurchase, churn, LTV, segments and sleeping members from an order table.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="run the whole analysis and write an HTML report")
    _add_input_args(rep, optional=True)
    rep.add_argument("--out-dir", default="crm_report",
                     help="output folder (default: crm_report)")
    rep.add_argument("--out", dest="out_dir", action=_OldSpelling, new="--out-dir")
    rep.add_argument("--sleep-after", type=int, default=90, help="days without an order "
                     "after which a member is sleeping (default 90)")
    rep.add_argument("--horizon-months", type=int, default=12,
                     help="LTV horizon in months (default 12)")
    rep.add_argument("--monthly-discount-rate", type=float, default=0.01,
                     help="discount rate per month for the LTV (default 0.01)")
    rep.add_argument("--margin-rate", type=float, default=None, help="gross margin / revenue, for "
                     "orders without a margin column (default: the orders' margins, if any)")
    _add_n_clusters(rep, "KMeans segments")
    rep.add_argument("--memory-limit", default=None, help="DuckDB memory limit for several "
                     "Parquet files, e.g. 2GB (it spills to disk beyond it)")
    rep.add_argument("--quiet", action="store_true", help="no progress output")
    seg = sub.add_parser("segments", help="KMeans segments to a CSV for messaging tools")
    _add_input_args(seg, optional=False)
    seg.add_argument("--out", default="segments.csv", help="CSV path (default segments.csv)")
    _add_n_clusters(seg, "segments")
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


def _engine_orders(paths: list[str], args: argparse.Namespace):
    """Several Parquet files as one engine source, with ``--memory-limit`` if given."""
    import duckdb

    from crm_analytics.backends import engine_source

    limit = getattr(args, "memory_limit", None)
    spill = None
    if limit is not None:
        spill = Path(args.out_dir) / ".duckdb_spill"
        spill.mkdir(parents=True, exist_ok=True)
    try:
        return engine_source(paths, memory_limit=limit, temp_directory=spill)
    except (duckdb.Error, CrmDataError) as exc:
        if "refused the engine settings" not in str(exc) and not isinstance(exc, duckdb.Error):
            raise
        # the only setting given here that DuckDB can refuse
        raise CrmDataError(f"--memory-limit {limit!r} is not a size DuckDB understands "
                           "(use e.g. 2GB or 500MB).") from exc


def _load(args: argparse.Namespace):
    """The orders of the command: the bundled sample, engine paths or one file read."""
    from crm_analytics.orders.datasets import load_sample
    from crm_analytics.orders.readers import read_orders

    paths = args.orders if isinstance(args.orders, list) else [args.orders]
    paths = [p for p in paths if p is not None]
    if not paths:
        return load_sample("orders")
    engine_paths = _parquet_source(paths)
    if engine_paths is not None:
        return _engine_orders(engine_paths, args)
    if not Path(paths[0]).exists():
        raise FileNotFoundError(f"No such file: {paths[0]}. Check the path.")
    return read_orders(Path(paths[0]), source=args.source, encoding=args.encoding)


def _cmd_validate(args: argparse.Namespace) -> int:
    from crm_analytics.orders.readers import read_orders
    from crm_analytics.orders.validate import validate_orders

    path = Path(args.orders)
    if not path.exists():
        raise FileNotFoundError(f"No such file: {path}. Check the path.")
    # the reader's report lists what it excluded (platform statuses included)
    orders, report = read_orders(path, source=args.source, encoding=args.encoding,
                                 return_report=True)
    if args.as_of:
        validate_orders(orders, as_of=args.as_of)  # raises when orders are after as_of
    n_customers = orders["customer_id"].nunique()
    first, last = orders["order_date"].min().date(), orders["order_date"].max().date()
    print(f"OK: {args.orders}")
    print(f"{len(orders)} orders from {n_customers} customers, {first} to {last}.")
    print(report.summary())
    return EXIT_OK


def _cmd_segments(args: argparse.Namespace) -> int:
    from crm_analytics.segments import kmeans_segments
    from crm_analytics.segments.export import export_segments
    from crm_analytics.summary import customer_summary

    orders = _load(args)
    summary = customer_summary(orders, as_of=args.as_of)
    result = kmeans_segments(summary, n_clusters=args.n_clusters)
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
        orders, out_dir=args.out_dir, as_of=args.as_of, sleep_after=args.sleep_after,
        horizon_months=args.horizon_months, monthly_discount_rate=args.monthly_discount_rate,
        margin_rate=args.margin_rate, n_clusters=args.n_clusters, progress=not args.quiet,
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
    """Entry point of the ``crm-analytics`` console script; returns the exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 1 when ``validate`` finds the data invalid, 2 on bad input.

    Examples
    --------
    >>> main(["validate", "no_such_file.csv"])
    2
    """
    parser = _parser()
    args = parser.parse_args(argv)
    given = list(argv) if argv is not None else sys.argv[1:]
    for old, new, _ in (getattr(args, "_old_spellings", None) or {}).values():
        if any(a == new or a.startswith(new + "=") for a in given):
            parser.error(f"{old} and {new} are the same option (old and new spelling); "
                         f"give {new} only.")
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
