"""Running a corpus case through the CLI, the Python API and the DuckDB path.

Expected numbers that need arithmetic are computed here from the written files with the
standard library only (csv, datetime), never with the package under test.
"""

from __future__ import annotations

import csv
import html
import re
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from .make_bad_inputs import NEVER, Case

__all__ = ["cli_text", "exclusion_counts", "fill", "run_cli", "tmall_expected", "uk_expected"]

# Cells that a spreadsheet would run as a formula (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def fill(case: Case, corpus: Path, out: Path) -> list[str]:
    """The case's command line with its placeholders filled in."""
    path = corpus / case.file if case.file else corpus
    return [a.format(path=path, dir=corpus, out=out) for a in case.args]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str, float]:
    """``crm_analytics.cli.main(argv)`` -> (exit code, stdout, stderr, seconds)."""
    from crm_analytics.cli import main

    capsys.readouterr()
    start = time.perf_counter()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: --version, --help, usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    elapsed = time.perf_counter() - start
    captured = capsys.readouterr()
    return code, captured.out, captured.err, elapsed


def run_cli_limited(argv: list[str], seconds: float) -> tuple[int, str, str, float]:
    """``main(argv)`` in a child process killed after a generous multiple of ``seconds``.

    For inputs that used to take minutes: the test must fail, not hang. Returns the exit
    code (-9 when killed), stdout, stderr and the seconds ``main`` itself took.
    """
    import subprocess
    import sys

    script = ("import sys, time\nfrom crm_analytics.cli import main\n"
              "t = time.perf_counter()\ncode = main(sys.argv[1:])\n"
              "print(f'@@elapsed {time.perf_counter() - t:.3f}', file=sys.stderr)\n"
              "sys.exit(code)\n")
    limit = 10 + 3 * seconds
    try:
        done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True,
                              text=True, timeout=limit)
    except subprocess.TimeoutExpired as exc:
        return -9, str(exc.stdout or ""), f"killed after {limit:.0f} s", float("inf")
    match = re.search(r"@@elapsed ([\d.]+)", done.stderr)
    err = re.sub(r"@@elapsed [\d.]+\n?", "", done.stderr)
    return done.returncode, done.stdout, err, float(match.group(1)) if match else float("inf")


def page_text(out: Path) -> str:
    """The text of ``out/report.html`` without tags ('' when there is none)."""
    page = out / "report.html"
    if not page.is_file():
        return ""
    raw = page.read_text(encoding="utf-8", errors="replace")
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S | re.I)
    raw = re.sub(r"data:image/[^\"']+", " ", raw)
    return html.unescape(re.sub(r"<[^>]+>", " ", raw))


def cli_text(out: str, err: str, page: str = "") -> str:
    """Everything the user sees, whitespace collapsed (error paragraphs are wrapped)."""
    return " ".join(f"{out}\n{err}\n{page}".split())


def check_cli(case: Case, code: int, out: str, err: str, page: str = "") -> str:
    """Assert the case's exit code, phrases and absent phrases; return the text seen."""
    text = cli_text(out, err, page)
    shown = f"\n--- stdout ---\n{out[-3000:]}\n--- stderr ---\n{err[-3000:]}"
    for bad in NEVER:
        assert not re.search(bad, text, re.I), f"{bad!r} shown to the user{shown}"
    assert code == case.exit_code, f"exit {code}, expected {case.exit_code}{shown}"
    for phrase in case.phrases:
        assert re.search(phrase, text, re.I), f"{phrase!r} missing from the output{shown}"
    for phrase in case.absent:
        assert not re.search(phrase, text, re.I), f"{phrase!r} must not be shown{shown}"
    return text


def exclusion_counts(report) -> dict[str, int]:
    """Orders left out by reason, from a ValidationReport."""
    if hasattr(report, "exclusion_counts"):
        table = report.exclusion_counts()
        return {str(r): int(n) for r, n in zip(table["reason"], table["orders"], strict=True)}
    counts = report.excluded["reason"].value_counts()
    return {str(r): int(n) for r, n in counts.items()}


def check_excluded(case: Case, report) -> None:
    counts = exclusion_counts(report)
    for reason, n in case.excluded.items():
        assert counts.get(reason) == n, f"excluded {counts}, expected {reason!r}: {n}"


def unsafe_cells(path: Path) -> list[str]:
    """Cells of a CSV written for people that a spreadsheet would run as a formula."""
    bad = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.reader(f):
            for cell in row:
                if cell.startswith(FORMULA_START):
                    try:
                        float(cell)  # a negative number is data, not a formula
                    except ValueError:
                        bad.append(cell)
    return bad


def read_rows(path: Path, encoding: str = "utf-8-sig") -> list[dict[str, str]]:
    with path.open(encoding=encoding, newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------- expected, in plain Python


def uk_expected(path: Path) -> dict:
    """The UK line-item table by the issue's rules, from the file with csv/datetime only.

    Orders: rows of an invoice summed (quantity x unit price); reversal rows (invoice
    ``C...`` or a negative quantity) net against the same customer's orders, latest
    first; an order netted to zero is reversed; a guest invoice has no customer.
    """
    orders: dict[str, list] = {}
    reversed_money: dict[str, float] = defaultdict(float)
    for row in read_rows(path):
        cid = row["CustomerID"].strip()
        cid = cid[:-2] if cid.endswith(".0") else cid
        q, price = int(row["Quantity"]), float(row["UnitPrice"])
        when = datetime.strptime(row["InvoiceDate"], "%d/%m/%Y %H:%M")
        inv = row["InvoiceNo"]
        if inv.startswith("C") or q < 0:
            reversed_money[cid] += -q * price
            continue
        order = orders.setdefault(inv, [cid, when, 0.0])
        order[1] = min(order[1], when)
        order[2] += q * price
    guests = {inv for inv, o in orders.items() if not o[0]}
    kept = {inv: o for inv, o in orders.items() if o[0]}
    for cid, money in reversed_money.items():
        mine = sorted((i for i in kept if kept[i][0] == cid), key=lambda i: kept[i][1],
                      reverse=True)
        for inv in mine:
            take = min(money, kept[inv][2])
            kept[inv][2] -= take
            money -= take
            if money <= 0.005:
                break
    reversed_orders = {inv for inv, o in kept.items() if o[2] <= 0.005}
    final = {inv: o for inv, o in kept.items() if inv not in reversed_orders}
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for cid, _, amount in final.values():
        totals[cid] += amount
        counts[cid] += 1
    all_ids = {o[0] for o in kept.values()}
    return {"orders": {inv: round(o[2], 2) for inv, o in final.items()},
            "totals": {k: round(v, 2) for k, v in totals.items()}, "counts": dict(counts),
            "guests": guests, "reversed": reversed_orders,
            "dropped": sorted(all_ids - set(totals)),
            "first_day": min(o[1] for o in final.values()).date()}


def tmall_expected(path: Path) -> dict[str, float]:
    """Kept orders of a classic Tmall report and what the buyer kept, from the file.

    The file is net when 总金额 = 买家实际支付金额 + 退款金额 on every paid row with a refund;
    then the paid amount is what was kept, else the refund is subtracted once. Orders
    without a payment time, closed orders and orders whose buyer kept nothing are out.
    """
    rows = read_rows(path, encoding="gb18030")
    paid_rows = [r for r in rows if r["订单付款时间"] and float(r["退款金额"] or 0) > 0]
    net = all(abs(float(r["总金额"]) - float(r["买家实际支付金额"]) - float(r["退款金额"]))
              < 0.005 for r in paid_rows)
    kept = {}
    for r in rows:
        paid, refund = float(r["买家实际支付金额"]), float(r["退款金额"] or 0)
        amount = paid if net else paid - refund
        if not r["订单付款时间"] or r.get("订单状态") == "交易关闭" or amount <= 0.005:
            continue
        kept[r["订单编号"]] = round(amount, 2)
    return kept
