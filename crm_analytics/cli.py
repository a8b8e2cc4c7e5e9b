"""The ``crm-analytics`` command line (also ``python -m crm_analytics``).

Commands
--------
``report [ORDERS ...]``
    The main job: customers.csv, segments.csv, cohort tables, the KPI board, PNG plots
    and a self-contained ``report.html``. Without ORDERS it runs on the bundled sample.
    A file with creation and payment times (Taobao 订单创建时间 / 订单付款时间, Shopify
    ``Created at`` / ``Paid at``, or columns mapped to ``created_at`` / ``paid_at``) is
    read once with its never-paid orders: the customer analyses use the paid ones, the
    Payment section every created order.
``segments ORDERS ... --out segments.csv``
    KMeans segments of the customers, exported for the messaging tool.
``target ORDERS --campaigns CAMPAIGNS --cost-per-contact C [--budget B] --out send_list.csv``
    Whom to send the next campaign to: an uplift model learned from past campaigns with
    holdouts, and a budgeted send list that keeps its own holdout (``group`` column).
``validate ORDERS ...``
    Print what was read: orders kept, every exclusion with its reason, the currency, how
    the dates were read, warnings. Exit code 1 when the data is invalid.

ORDERS is one order file (CSV/Parquet/Excel, or a platform export), or several Parquet
files / a quoted glob, read out of core with DuckDB.

Options are spelled as the Python parameters they feed, with dashes: ``--as-of`` is
``as_of``, ``--n-clusters`` is ``n_clusters`` (``--k`` is the same option), ``--out-dir``
is ``run_report``'s ``out_dir``. A file whose headers are not the canonical names is mapped
with ``--columns``, e.g. for a line-item table::

    crm-analytics report items.csv --columns customer_id=CustomerID,order_id=InvoiceNo,\
order_date=InvoiceDate,quantity=Quantity,unit_price=UnitPrice --dayfirst --currency GBP

The reading options ``--columns``, ``--dayfirst`` / ``--no-dayfirst``, ``--date-format``,
``--decimal`` and ``--currency`` are the ``read_orders`` parameters of the same names.

Bad input (a missing or unreadable file or folder, a malformed option) prints one clear
paragraph and exits with code 2; invalid data exits with 2 too (1 for ``validate``). Pass
``--debug`` for the traceback.

Building the parser imports nothing but the standard library (and the package's own
light vocabulary), so ``--help`` answers at once; each command imports the analyses it runs.
"""

from __future__ import annotations

import argparse
import codecs
import datetime as dt
import glob
import importlib
import re
import sys
import textwrap
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from crm_analytics._core.errors import CrmDataError, UnreadableInputError
from crm_analytics._core.money import check_currency
from crm_analytics._core.vocab import REASON_AFTER_AS_OF

__all__ = ["main", "parse_columns"]

EXIT_OK, EXIT_INVALID, EXIT_BAD_INPUT = 0, 1, 2

#: Days without an order after which a member is sleeping (``run_report``'s default).
SLEEP_AFTER_DAYS = 90

#: The ``read_orders`` parameters the command line passes on (dest -> option text).
READER_OPTIONS = {"columns": "--columns", "dayfirst": "--dayfirst",
                  "date_format": "--date-format", "decimal": "--decimal",
                  "currency": "--currency"}

_COLUMNS_FORM = ("--columns customer_id=CustomerID,order_id=InvoiceNo,order_date=InvoiceDate "
                 "(canonical name = the file's header, items separated by commas; quote a "
                 "header that holds a comma or '=': --columns 'amount=\"Total, EUR\"')")


class UnusableInput(UnreadableInputError):
    """An input or output the command cannot use at all (exit 2, also for ``validate``).

    A path that is a folder or does not exist, a file that cannot be decoded, an option
    value no reader accepts: the data itself was never looked at.
    """


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


class _Version(argparse.Action):
    """``--version``: the installed distribution's version, looked up only when asked."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"crm-analytics {package_version()}")
        parser.exit()


def package_version() -> str:
    """The installed version of crm-analytics (the package's ``__version__`` as fallback).

    Examples
    --------
    >>> package_version().count(".") >= 1
    True
    """
    from importlib import metadata

    try:
        return metadata.version("crm-analytics")
    except metadata.PackageNotFoundError:
        # the package is loaded whenever this module is (no import of the facade needed)
        return str(getattr(sys.modules.get("crm_analytics"), "__version__", "unknown"))


def _split_unquoted(chars: list[tuple[str, bool]], sep: str, maxsplit: int = -1
                    ) -> list[list[tuple[str, bool]]]:
    parts: list[list[tuple[str, bool]]] = [[]]
    for ch, quoted in chars:
        if ch == sep and not quoted and (maxsplit < 0 or len(parts) <= maxsplit):
            parts.append([])
        else:
            parts[-1].append((ch, quoted))
    return parts


def _text(chars: list[tuple[str, bool]]) -> str:
    """The characters of a token, unquoted whitespace at either end removed."""
    start, end = 0, len(chars)
    while start < end and chars[start][0].isspace() and not chars[start][1]:
        start += 1
    while end > start and chars[end - 1][0].isspace() and not chars[end - 1][1]:
        end -= 1
    return "".join(ch for ch, _ in chars[start:end])


def parse_columns(text: str) -> dict[str, str]:
    """The ``--columns`` text as the ``columns=`` mapping of ``read_orders``.

    Items ``canonical=Header`` are separated by commas. Headers may hold spaces and any
    script; a header holding a comma or ``=`` is quoted with ``"`` or ``'``.

    Parameters
    ----------
    text : str
        E.g. ``"customer_id=CustomerID,order_id=InvoiceNo"``.

    Returns
    -------
    dict
        Canonical name -> header of the file.

    Raises
    ------
    argparse.ArgumentTypeError
        An item without ``=``, an empty name, a canonical name given twice or an
        unclosed quote; the message names the item and shows the right form.

    Examples
    --------
    >>> parse_columns("customer_id=买家会员名, amount='Total, EUR',order_date=Created at")
    {'customer_id': '买家会员名', 'amount': 'Total, EUR', 'order_date': 'Created at'}
    """
    chars: list[tuple[str, bool]] = []
    quote = None
    for ch in text:
        if quote is None and ch in "\"'":
            quote = ch
        elif ch == quote:
            quote = None
        else:
            chars.append((ch, quote is not None))
    if quote is not None:
        raise argparse.ArgumentTypeError(
            f"{text!r} opens a quote ({quote}) that is not closed. Write {_COLUMNS_FORM}.")
    mapping: dict[str, str] = {}
    for item in _split_unquoted(chars, ","):
        shown = _text(item)
        if not shown and not item:
            continue  # a trailing comma
        sides = _split_unquoted(item, "=", maxsplit=1)
        key, value = (_text(sides[0]), _text(sides[1])) if len(sides) == 2 else ("", "")
        if not key or not value:
            raise argparse.ArgumentTypeError(
                f"the item {shown!r} is not of the form canonical=Header. Write {_COLUMNS_FORM}.")
        if key in mapping:
            raise argparse.ArgumentTypeError(
                f"{key!r} is mapped twice ({mapping[key]!r} and {value!r}); map each canonical "
                "name once.")
        mapping[key] = value
    if not mapping:
        raise argparse.ArgumentTypeError(f"no column is mapped. Write {_COLUMNS_FORM}.")
    return mapping


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(text: str) -> str:
    """``--as-of``: a date written YYYY-MM-DD, nothing else (03/04/2024 is ambiguous)."""
    try:
        if _ISO_DAY.fullmatch(text.strip()):
            dt.date.fromisoformat(text.strip())
            return text.strip()
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a date written YYYY-MM-DD. Write the as-of day in ISO form, e.g. "
        "--as-of 2024-03-04 for 4 March 2024 (forms such as 03/04/2024 are read differently "
        "in different countries).")


def _currency(text: str) -> str:
    try:
        code = check_currency(text)
    except CrmDataError:
        code = None
    if code is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a currency code: give the 3-letter ISO code of the shop's "
            "currency, e.g. --currency GBP, --currency USD or --currency CNY.")
    return code


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days of 1 or more.")
    return value


def _add_input_args(p: argparse.ArgumentParser, *, optional: bool) -> None:
    p.add_argument("orders", nargs="*" if optional else "+",
                   help="order file (CSV/Parquet/Excel), or several Parquet files / a quoted "
                   "glob (read out of core with DuckDB)"
                   + ("; omit to use the bundled sample shop" if optional else ""))
    p.add_argument("--source", default="auto", choices=["auto", "taobao", "shopify", "generic"],
                   help="platform of the export (default: detect from the headers)")
    p.add_argument("--columns", type=parse_columns, action="append", default=None,
                   metavar="NAME=HEADER,...",
                   help="which file column holds each canonical column, e.g. "
                   "customer_id=CustomerID,order_id=InvoiceNo,order_date=InvoiceDate,"
                   "quantity=Quantity,unit_price=UnitPrice (quote headers holding a comma)")
    p.add_argument("--dayfirst", action=argparse.BooleanOptionalAction, default=None,
                   help="dates are day first (1/12/2010 = 1 December); --no-dayfirst: month "
                   "first (default: decided from the values)")
    p.add_argument("--date-format", default=None, metavar="FMT",
                   help="strptime format of the dates, e.g. '%%d/%%m/%%Y %%H:%%M' (wins over "
                   "--dayfirst)")
    p.add_argument("--decimal", default=None, choices=[".", ","],
                   help="decimal mark of the amounts (default: decided from the values)")
    p.add_argument("--currency", type=_currency, default=None, metavar="CODE",
                   help="ISO code of the shop's currency, e.g. GBP (default: from the file, "
                   "else none shown)")
    p.add_argument("--encoding", default=None, help="file encoding (default: utf-8-sig, "
                   "then gb18030)")
    p.add_argument("--as-of", type=_iso_day, default=None, metavar="YYYY-MM-DD",
                   help="analysis date YYYY-MM-DD (default: last order date); later orders "
                   "are left out and counted")
    p.add_argument("--sleep-after", type=_positive_int, default=SLEEP_AFTER_DAYS,
                   help="days without an order after which a member is sleeping (default "
                   f"{SLEEP_AFTER_DAYS}); a warning is printed when --as-of is further than "
                   "that after the last order")
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def _add_n_clusters(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--n-clusters", "--k", dest="n_clusters", type=int, default=None,
                   help=f"number of {what} (default: chosen by silhouette)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-analytics",
        description="Repurchase, churn, LTV, segments and sleeping members from an order table.",
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="run the whole analysis and write an HTML report")
    _add_input_args(rep, optional=True)
    rep.add_argument("--out-dir", default="crm_report",
                     help="output folder (default: crm_report)")
    rep.add_argument("--out", dest="out_dir", action=_OldSpelling, new="--out-dir")
    rep.add_argument("--horizon-months", type=int, default=12,
                     help="LTV horizon in months (default 12)")
    rep.add_argument("--monthly-discount-rate", type=float, default=0.01,
                     help="discount rate per month for the LTV (default 0.01)")
    rep.add_argument("--margin-rate", type=float, default=None, help="gross margin / revenue, for "
                     "orders without a margin column (default: the orders' margins, if any)")
    _add_n_clusters(rep, "KMeans segments")
    rep.add_argument("--memory-limit", default=None, help="DuckDB memory limit for several "
                     "Parquet files, e.g. 2GB (it spills to disk beyond it)")
    rep.add_argument("--quiet", action="store_true",
                     help="no progress output (the headline numbers are still printed)")
    seg = sub.add_parser("segments", help="KMeans segments to a CSV for messaging tools")
    _add_input_args(seg, optional=False)
    seg.add_argument("--out", default="segments.csv", help="CSV path (default segments.csv)")
    _add_n_clusters(seg, "segments")
    seg.add_argument("--excel-safe-ids", action="store_true",
                     help="write ids so Excel shows long numbers exactly")
    seg.add_argument("--raw-cells", action="store_true",
                     help="write text cells as they are (by default cells starting with "
                     "= + - @ get a leading ' so Excel does not run them as formulas)")
    tgt = sub.add_parser("target", help="whom to send the next campaign to: a budgeted send "
                         "list with its own holdout, learned from past holdout campaigns")
    _add_input_args(tgt, optional=False)
    tgt.add_argument("--campaigns", required=True, help="past campaigns CSV: one row per "
                     "audience member with campaign_id, customer_id, group "
                     "(treatment/control), start")
    tgt.add_argument("--cost-per-contact", type=float, required=True,
                     help="cost of one message")
    tgt.add_argument("--coupon-cost", type=float, default=0.0,
                     help="cost of a redeemed coupon (default 0)")
    tgt.add_argument("--budget", type=float, default=None,
                     help="most to spend on contacts and coupons (default: no limit)")
    tgt.add_argument("--max-contacts", type=_positive_int, default=None,
                     help="most members to contact")
    tgt.add_argument("--holdout", type=float, default=0.1,
                     help="share of the list held out to measure the campaign (default 0.1)")
    tgt.add_argument("--seed", default="0", help="seed of the holdout (use a new one per "
                     "campaign; default 0)")
    tgt.add_argument("--metric", default="margin", choices=["margin", "revenue", "conversion"],
                     help="outcome whose increment is predicted (default margin)")
    tgt.add_argument("--window-days", type=_positive_int, default=30,
                     help="days after a campaign start over which its outcome counts "
                     "(default 30)")
    tgt.add_argument("--learner", default="t", choices=["t", "x", "dr"],
                     help="uplift meta-learner (default t)")
    tgt.add_argument("--margin-rate", type=float, default=None, help="gross margin / revenue, "
                     "for orders without a margin column")
    tgt.add_argument("--out", default="send_list.csv",
                     help="CSV path of the send list (default send_list.csv)")
    val = sub.add_parser("validate", help="check an order file and print what was found")
    _add_input_args(val, optional=False)
    return parser


# -- inputs --------------------------------------------------------------------------------

def _is_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _reader_options(args: argparse.Namespace) -> dict[str, object]:
    """The ``read_orders`` keyword arguments the user gave (``columns`` merged)."""
    options: dict[str, object] = {}
    columns: dict[str, str] = {}
    for part in args.columns or []:
        for key, value in part.items():
            if key in columns and columns[key] != value:
                raise UnusableInput(f"--columns maps {key!r} twice ({columns[key]!r} and "
                                    f"{value!r}); map each canonical name once.")
            columns[key] = value
    if columns:
        options["columns"] = columns
    for name in ("dayfirst", "date_format", "decimal", "currency"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    return options


def _check_encoding(encoding: str | None) -> None:
    if encoding is None:
        return
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise UnusableInput(
            f"--encoding {encoding!r} is not a text encoding Python knows. Use e.g. "
            "--encoding utf-8-sig, gb18030, utf-16 or cp1252, or leave --encoding out to try "
            "UTF-8 and then GB18030.") from None


def _check_input_file(path: Path) -> None:
    if path.is_dir():
        raise UnusableInput(
            f"{path} is a folder, not an order file. Pass the path of the order file in it, or "
            f"a quoted glob such as '{path / '*.parquet'}' for several Parquet files.")
    if not path.exists():
        raise FileNotFoundError(f"No such file: {path}. Check the path.")


def _parquet_source(paths: list[str]) -> list[str] | None:
    """Paths for the DuckDB engine: several Parquet files or a glob; else None."""
    if len(paths) == 1 and not _is_glob(paths[0]):
        return None
    for p in paths:
        if not p.lower().endswith((".parquet", ".pq")):
            raise UnusableInput(
                f"Several order files (or a glob) are read out of core, which needs Parquet "
                f"files with canonical columns; {p!r} is not one. Convert it, or pass one file."
            )
        if _is_glob(p):
            if not glob.glob(p, recursive=True):
                raise UnusableInput(f"No file matches {p}. Check the folder and the pattern.")
        else:
            _check_input_file(Path(p))
    return paths


def _engine_error(limit: object, exc: BaseException) -> CrmDataError:
    return UnusableInput(f"--memory-limit {limit!r} is not a size DuckDB understands "
                         f"(use e.g. 2GB or 500MB): {exc}")


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
        if limit is None or ("refused the engine settings" not in str(exc)
                             and not isinstance(exc, duckdb.Error)):
            raise
        raise _engine_error(limit, exc) from exc


def _check_memory_limit(limit: str | None) -> None:
    """Refuse a ``--memory-limit`` the engine would refuse, also when no engine runs."""
    if limit is None:
        return
    import duckdb
    import pandas as pd

    from crm_analytics.backends import runner_for

    try:
        runner_for(pd.DataFrame({"customer_id": []}), memory_limit=limit)
    except (duckdb.Error, CrmDataError) as exc:
        raise _engine_error(limit, exc) from exc


@dataclass(frozen=True, eq=False)
class _Loaded:
    """The orders of a command: prepared orders, or an engine runner, with the report."""

    orders: object  # PreparedOrders or a runner from engine_source
    report: object | None  # ValidationReport
    engine: bool
    label: str
    created: object | None = None  # every created order (payment times), for the report


def _read_file(path: Path, args: argparse.Namespace, *, include_unpaid: bool = False):
    from crm_analytics.orders.readers import read_orders

    _check_input_file(path)
    try:
        return read_orders(path, source=args.source, encoding=args.encoding,
                           return_report=True, include_unpaid=include_unpaid,
                           **_reader_options(args))
    except (UnicodeError, LookupError) as exc:
        raise UnusableInput(f"Could not read {path} as text: {exc}. Pass the file's encoding "
                            "with --encoding, e.g. --encoding gb18030.") from exc
    except CrmDataError as exc:
        if isinstance(exc.__cause__, UnicodeError | LookupError | OSError):
            raise UnusableInput(str(exc)) from exc
        raise


def _read_with_unpaid(path: Path, args: argparse.Namespace):
    """The file read once with its never-paid orders: ``(orders, report, created)``.

    ``created`` is every created order when the file has creation and payment times
    (``created_at`` and ``paid_at``: Taobao 订单创建时间 / 订单付款时间, Shopify Created at /
    Paid at, or mapped with --columns), else None; ``orders`` then go through
    ``prepare_orders``, which leaves the non-purchases out with their reasons, as a plain
    read does. A file that reads only without them is read again as usual.
    """
    try:
        orders, report = _read_file(path, args, include_unpaid=True)
    except CrmDataError:
        orders, report = _read_file(path, args)
        return orders, report, None
    has_times = {"created_at", "paid_at"} <= set(orders.columns)
    return orders, report, orders if has_times else None


def _load(args: argparse.Namespace, *, created: bool = False) -> _Loaded:
    """The orders of the command: the bundled sample, engine paths or one file read.

    ``created``: also keep every created order of a file with payment times (the
    report's Payment section), read in the same pass.
    """
    from crm_analytics.orders.encode import prepare_orders

    _check_encoding(args.encoding)
    paths = args.orders if isinstance(args.orders, list) else [args.orders]
    paths = [p for p in paths if p is not None]
    engine_paths = _parquet_source(paths) if paths else None
    if engine_paths is not None:
        given = [READER_OPTIONS[k] for k in _reader_options(args)]
        given += ["--encoding"] * (args.encoding is not None)
        given += ["--source"] * (args.source != "auto")
        if given:
            raise UnusableInput(
                f"{', '.join(given)} apply to one file read in Python; several Parquet files "
                "(or a glob) are read by DuckDB and need the canonical column names "
                "customer_id, order_id, order_date, amount. Read one file with these options, "
                "or rename the columns in the Parquet files.")
        return _Loaded(_engine_orders(engine_paths, args), None, True, " ".join(paths))
    _check_memory_limit(getattr(args, "memory_limit", None))
    validate_options = {"as_of": args.as_of} if args.as_of is not None else {}
    if not paths:
        from crm_analytics.orders.datasets import load_sample

        if _reader_options(args):
            given = ", ".join(READER_OPTIONS[k] for k in _reader_options(args))
            raise UnusableInput(f"{given}: reading options for an order file; give the file "
                                "(the bundled sample needs none).")

        # the bundled sample is a Chinese shop: its amounts are in yuan
        prepared = prepare_orders(load_sample("orders"), currency="CNY", **validate_options)
        return _Loaded(prepared, prepared.report, False, "bundled sample shop")
    if created:
        orders, report, every = _read_with_unpaid(Path(paths[0]), args)
    else:
        (orders, report), every = _read_file(Path(paths[0]), args), None
    prepared = prepare_orders(orders, report=report, **validate_options)
    return _Loaded(prepared, prepared.report, False, paths[0], created=every)


# -- notes on what was read ----------------------------------------------------------------

def _excluded_count(report: object, reason: str) -> int:
    """Orders the report excluded for ``reason`` (0 when it has none)."""
    if report is None:
        return 0
    counts = getattr(report, "excluded_counts", None)
    if counts:
        return int(counts.get(reason, 0))
    excluded = getattr(report, "excluded", None)
    if excluded is None or "reason" not in getattr(excluded, "columns", ()):
        return 0
    return int((excluded["reason"] == reason).sum())


def _last_order_day(loaded: _Loaded) -> dt.date | None:
    if loaded.engine:
        from crm_analytics._core.dates import dates_from_days
        from crm_analytics.backends import runner_for
        from crm_analytics.backends.sql import last_day

        day = last_day(runner_for(loaded.orders))
        return None if day is None else dt.date.fromisoformat(
            str(dates_from_days([day])[0])[:10])
    dates = loaded.orders.orders["order_date"]
    return dates.max().date() if len(dates) else None


def _data_notes(loaded: _Loaded, args: argparse.Namespace, *, report: object = None
                ) -> list[str]:
    """What the user must know about the as-of day: later orders left out, all asleep.

    For an engine source without ``report`` the engine's validation report is asked for
    (one scan, only when ``--as-of`` is given).
    """
    if args.as_of is None:
        return []
    as_of = dt.date.fromisoformat(args.as_of)
    notes = []
    if report is None:
        report = _optional_engine_report(loaded, args) if loaded.engine else loaded.report
    later = _excluded_count(report, REASON_AFTER_AS_OF)
    if later:
        notes.append(f"{later:,} {'order is' if later == 1 else 'orders are'} dated after the "
                     f"as-of day {as_of} and left out of every number.")
    last = None if (loaded.engine and later) else _last_order_day(loaded)
    if last is not None and (as_of - last).days > args.sleep_after:
        notes.append(
            f"warning: the as-of day {as_of} is {(as_of - last).days:,} days after the last "
            f"order ({last}), more than --sleep-after {args.sleep_after}: every customer would "
            "be sleeping. Check --as-of, or leave it out to use the last order date.")
    return notes


def _report_lines(report: object) -> list[str]:
    """The validation report for people: its summary, then currency, dates and warnings."""
    text = report.summary()
    lines = text.splitlines()
    currency = getattr(report, "currency", None)
    if currency and currency not in text:
        lines.append(f"Currency: {currency}")
    elif not currency and "urrency" not in text:
        lines.append("Currency: not stated in the file (amounts are shown without one; "
                     "pass --currency CODE, e.g. --currency GBP)")
    for column, reading in (getattr(report, "date_readings", None) or {}).items():
        if column not in text or reading not in text:
            lines.append(f"Dates in {column!r} read as {reading}")
    for warning in getattr(report, "warnings", None) or []:
        if warning not in text:
            lines.append(f"Warning: {warning}")
    return lines


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        print(_explain(note), file=sys.stderr)


# -- commands ------------------------------------------------------------------------------

def _cmd_validate(args: argparse.Namespace) -> int:
    loaded = _load(args)
    print(f"OK: {loaded.label}")
    if loaded.engine:
        report = _engine_report(loaded, args)
        first, last = _engine_range(loaded)
        if args.as_of is not None and last > args.as_of:
            print(f"{report.n_rows_out:,} orders kept up to {args.as_of}; the files hold "
                  f"orders from {first} to {last}.")
        else:
            print(f"{report.n_rows_out:,} orders kept, {first} to {last}.")
    else:
        report = loaded.report
        orders = loaded.orders.orders
        n_customers = orders["customer_id"].nunique()
        if len(orders):
            first, last = orders["order_date"].min().date(), orders["order_date"].max().date()
            print(f"{len(orders)} orders from {n_customers} customers, {first} to {last}.")
    for line in _report_lines(report):
        print(line)
    _print_notes(_data_notes(loaded, args, report=report))
    return EXIT_OK


def _engine_report(loaded: _Loaded, args: argparse.Namespace):
    try:
        from crm_analytics.orders.sql import engine_validation_report
    except ImportError:
        raise UnusableInput(
            "Validating several Parquet files (or a glob) needs "
            "crm_analytics.orders.sql.engine_validation_report, which this installation "
            "lacks; validate the files one at a time.") from None
    return engine_validation_report(loaded.orders, as_of=args.as_of)


def _engine_range(loaded: _Loaded) -> tuple[str, str]:
    from crm_analytics._core.dates import dates_from_days
    from crm_analytics.backends.sql import first_day, last_day

    days = [first_day(loaded.orders), last_day(loaded.orders)]
    if None in days:
        return "-", "-"
    first, last = (str(d)[:10] for d in dates_from_days(days))
    return first, last


def _check_output_dir(folder: Path) -> None:
    """Refuse a folder that is a file or lies under a file, before any work is done."""
    for part in (folder, *folder.parents):
        if part.exists():
            if not part.is_dir():
                raise UnusableInput(
                    f"Cannot write into {folder}: {part} is a file, not a folder. Choose "
                    "another output path.")
            return


def _check_output_file(path: Path) -> None:
    if path.is_dir():
        raise UnusableInput(f"--out {path} is a folder; give a file name such as "
                            f"{path / 'segments.csv'}.")
    _check_output_dir(path.parent)


def _cmd_segments(args: argparse.Namespace) -> int:
    from crm_analytics.segments import kmeans_segments, readable_profiles
    from crm_analytics.segments.export import export_segments
    from crm_analytics.summary import customer_summary

    _check_output_file(Path(args.out))
    loaded = _load(args)
    _print_notes(_data_notes(loaded, args))
    summary = customer_summary(loaded.orders, as_of=args.as_of)
    result = kmeans_segments(summary, n_clusters=args.n_clusters, sleep_after=args.sleep_after)
    path = export_segments(result, args.out, extra=[summary],
                           excel_safe_ids=args.excel_safe_ids,
                           neutralise_formulas=not args.raw_cells)
    print(f"{len(summary)} customers in {result.k} segments written to {path}")
    if result.k_note:
        print(result.k_note)
    currency = getattr(loaded.report, "currency", None) if args.currency is None \
        else args.currency
    print(readable_profiles(result, currency=currency).to_string(index=False))
    return EXIT_OK


def _read_campaigns(path: Path):
    import pandas as pd

    _check_input_file(path)
    try:
        return pd.read_csv(path, dtype={"customer_id": str, "campaign_id": str},
                           encoding="utf-8-sig")
    except (UnicodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UnusableInput(f"Could not read the campaigns file {path}: {exc}. It must be a "
                            "UTF-8 CSV with campaign_id, customer_id, group, start.") from exc


def _cmd_target(args: argparse.Namespace) -> int:
    import warnings

    from crm_analytics.uplift import fit_uplift, send_list

    out = Path(args.out)
    _check_output_file(out)
    campaigns = _read_campaigns(Path(args.campaigns))
    loaded = _load(args)
    if loaded.engine:
        raise UnusableInput("target reads one order file (it needs the audience's histories "
                            "in memory); combine the Parquet files or give one file.")
    _print_notes(_data_notes(loaded, args))
    model = fit_uplift(loaded.orders, campaigns, metric=args.metric,
                       window_days=args.window_days, learner=args.learner,
                       sleep_after=args.sleep_after, margin_rate=args.margin_rate,
                       random_state=0)
    print(model.summary())
    as_of = args.as_of or str(loaded.orders.orders["order_date"].max().date())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = send_list(loaded.orders, model, as_of=as_of,
                           cost_per_contact=args.cost_per_contact,
                           coupon_cost=args.coupon_cost, budget=args.budget,
                           max_contacts=args.max_contacts, holdout=args.holdout,
                           seed=args.seed)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    result.to_csv(out)
    print(result.summary())
    print(f"Send list written to {out} (group=control: do not send; they measure the "
          "campaign)")
    return EXIT_OK


def _optional_engine_report(loaded: _Loaded, args: argparse.Namespace):
    """The engine's validation report when it can be made (only for the as-of notes)."""
    try:
        return _engine_report(loaded, args)
    except UnusableInput:
        return None


def _cmd_report(args: argparse.Namespace) -> int:
    _check_output_dir(Path(args.out_dir))
    # The plotting and modelling stack (about a second of imports) loads on a second
    # thread while the orders are read: Arrow's readers release the GIL.
    preload = threading.Thread(target=importlib.import_module, args=("crm_analytics.report",),
                               daemon=True)
    preload.start()
    try:
        loaded = _load(args, created=True)
    finally:
        preload.join()
    from crm_analytics.report import run_report

    _print_notes(_data_notes(loaded, args))
    extra = {"currency": args.currency} if args.currency is not None else {}
    result = run_report(
        loaded.orders, out_dir=args.out_dir, as_of=args.as_of, sleep_after=args.sleep_after,
        horizon_months=args.horizon_months, monthly_discount_rate=args.monthly_discount_rate,
        margin_rate=args.margin_rate, n_clusters=args.n_clusters, progress=not args.quiet,
        source_name=loaded.label, created_orders=loaded.created, **extra,
    )
    for line in result.headline_lines():
        print(line)
    print(f"Report written to {result.html_path}")
    return EXIT_OK


# -- errors --------------------------------------------------------------------------------

#: Python fixes in library messages and their command-line form, for messages that do not
#: give it yet.
_CLI_FORMS = (
    (re.compile(r"dayfirst=True"), "--dayfirst"),
    (re.compile(r"dayfirst=False"), "--no-dayfirst"),
    (re.compile(r"date_format=(['\"])([^'\"]*)\1"), r"--date-format '\2'"),
    (re.compile(r"decimal=(['\"])([.,])\1"), r"--decimal \2"),
    (re.compile(r"currency=(['\"])(\w{3})\1"), r"--currency \2"),
    (re.compile(r"encoding=(['\"])([\w.-]+)\1"), r"--encoding \2"),
    (re.compile(r"source=(['\"])(\w+)\1"), r"--source \2"),
)
_COLUMNS_FIX = re.compile(r"columns=\{([^{}]*)\}")
_PAIR = re.compile(r"(['\"])(.*?)\1\s*:\s*(['\"])(.*?)\3")


def cli_fix(message: str) -> str:
    """``message`` with the command-line form of each Python fix it names, when it lacks one.

    Examples
    --------
    >>> cli_fix("Pass columns={'amount': 'Total'} to read_orders.")
    "Pass columns={'amount': 'Total'} to read_orders. (Command line: --columns amount=Total)"
    >>> cli_fix("pass dayfirst=True (command line: --dayfirst)")
    'pass dayfirst=True (command line: --dayfirst)'
    """
    if "command line" in message.lower():
        return message
    forms = []
    for match in _COLUMNS_FIX.finditer(message):
        pairs = _PAIR.findall(match.group(1))
        if pairs:
            items = [f"{k}={_quoted(v)}" for _, k, _, v in pairs]
            forms.append("--columns " + ",".join(items))
    for pattern, form in _CLI_FORMS:
        for match in pattern.finditer(message):
            forms.append(match.expand(form))
    if not forms:
        return message
    return f"{message} (Command line: {'; '.join(dict.fromkeys(forms))})"


def _quoted(header: str) -> str:
    if any(ch in header for ch in ",='\" ") or not header:
        return '"' + header + '"' if '"' not in header else "'" + header + "'"
    return header


_OPTION_VALUE = re.compile(r"(--[a-z][a-z-]*) (?=[^\s-])")
_GLUE = "\x00"


def _explain(exc: BaseException | str) -> str:
    """One paragraph per line of the message, wrapped without breaking options or names."""
    text = cli_fix(str(exc).strip())
    lines = []
    for i, line in enumerate(text.splitlines() or [""]):
        line = f"crm-analytics: {line}" if i == 0 else line
        if len(line) <= 100 or line[:1].isspace() or "  " in line.strip():
            lines.append(line)  # short, or laid out by the message (a table of examples)
        else:  # an option stays on the line of its value: "--columns k=v" is copied whole
            glued = _OPTION_VALUE.sub(lambda m: m.group(1) + _GLUE, line)
            lines.append(textwrap.fill(glued, width=100, break_long_words=False,
                                       break_on_hyphens=False).replace(_GLUE, " "))
    return "\n".join(lines)


def _explain_os_error(exc: OSError) -> str:
    what = exc.strerror or str(exc) or type(exc).__name__
    name = exc.filename if exc.filename is not None else ""
    hint = {FileExistsError: "a part of the path is a file, not a folder",
            NotADirectoryError: "a part of the path is a file, not a folder",
            IsADirectoryError: "it is a folder, not a file",
            PermissionError: "check the permissions"}.get(type(exc))
    if not name:
        return _explain(f"{what}{f' ({hint})' if hint else ''}. Check the input and output "
                        "paths.")
    return _explain(f"cannot use {name}: {what}{f' ({hint})' if hint else ''}. Check the "
                    "path.")


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
    commands = {"report": _cmd_report, "segments": _cmd_segments, "validate": _cmd_validate,
                "target": _cmd_target}
    try:
        return commands[args.command](args)
    except CrmDataError as exc:
        if args.debug:
            raise
        print(_explain(exc), file=sys.stderr)
        if args.command == "validate" and not isinstance(exc, UnreadableInputError):
            print("The data is NOT valid: fix it as described above.", file=sys.stderr)
            return EXIT_INVALID
        return EXIT_BAD_INPUT
    except FileNotFoundError as exc:
        if args.debug:
            raise
        print(_explain(exc) if exc.filename is None else _explain_os_error(exc),
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        if args.debug:
            raise
        print(_explain_os_error(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - last resort: never a raw traceback
        if args.debug:
            raise
        print(_explain(f"unexpected error ({type(exc).__name__}): {exc}. "
                       "Re-run with --debug and report the traceback."), file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
