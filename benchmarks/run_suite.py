"""One command for the whole benchmark suite: every step, its reference, time, memory.

For each shop size (simulated with :func:`crm_analytics.simulate.simulate_shop`, no
campaigns) the suite checks each step's result equal to a reference implementation
measured in the same run, then prints the median time over ``--repeat`` runs, the peak
memory of one run and the speed-up against the reference:

======================  ==================================================  ==========
step                    crm-analytics                                       reference
======================  ==================================================  ==========
summary                 ``customer_summary(PreparedOrders(orders))``        lifetimes
                        (validated once, ids encoded in each run)
summary, validating     ``customer_summary(orders)`` on a DataFrame: it     lifetimes
                        validates the orders again in each call
summary (duckdb)        ``customer_summary`` on a Parquet file              lifetimes
summary, <shape> ids    ``customer_summary(PreparedOrders(orders))`` with   lifetimes
                        digit, c123, nickname, e-mail ids (encoded each run)
churn fit               ``fit_churn_model`` (analytic gradient,            lifetimes BetaGeoFitter
                        compressed rows, standard errors)
spend fit               ``fit_spend_model`` (Gamma-Gamma)                   lifetimes GammaGammaFitter
scores + LTV 12m        ``churn_scores`` + ``predict_ltv`` (fitted models)  lifetimes
cohorts                 ``cohort_repurchase`` (monthly, "on")               naive pandas
cohorts (duckdb)        ``cohort_repurchase`` on Parquet                    naive pandas
sleeping flow           ``sleeping_flow`` (2 years, daily)                  naive pandas
sleeping flow (duckdb)  ``sleeping_flow`` on Parquet                        naive pandas
kmeans k=6              ``kmeans_segments(n_clusters=6)``                   (none)
report                  ``crm-analytics report orders.parquet`` (CLI)       (none)
======================  ==================================================  ==========

Memory: tracemalloc peak of one run for Python/numpy steps; for DuckDB steps and the
CLI report the peak RSS of a separate process (DuckDB allocates outside Python's heap).
Slow references (lifetimes, naive pandas) run once when one run takes over 5 s.

    python benchmarks/run_suite.py --sizes 100000 1000000            # ~15 min
    python benchmarks/run_suite.py --sizes 100000 --repeat 5 --no-report
    python benchmarks/run_suite.py --sizes 100000 --out-of-core /data/ooc --out-of-core-report

The table is printed and written to ``benchmarks/RESULTS-suite.md``. Not a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_churn_ltv import LIFETIMES_MONTH, plain_lifetimes  # noqa: E402
from bench_churn_ltv import bench_intervals as churn_intervals  # noqa: E402
from bench_churn_ltv import bench_pnbd as pnbd_fits  # noqa: E402
from bench_churn_ltv import check_equal as check_churn_ltv  # noqa: E402
from bench_churn_ltv import ours as churn_ltv_ours  # noqa: E402
from bench_summary import check_equal as check_summary  # noqa: E402
from bench_summary import lifetimes_summary, peak_mib, time_id_shapes  # noqa: E402
from bench_summary import timed as timed_runs  # noqa: E402

from crm_analytics.cohorts import cohort_repurchase  # noqa: E402
from crm_analytics.orders.encode import PreparedOrders  # noqa: E402
from crm_analytics.orders.validate import validate_orders  # noqa: E402
from crm_analytics.segments import kmeans_segments  # noqa: E402
from crm_analytics.simulate import simulate_shop  # noqa: E402
from crm_analytics.sleeping import sleeping_flow  # noqa: E402
from crm_analytics.summary import customer_summary  # noqa: E402

SLOW = 5.0
#: The issue's shop shape: about 6.5 orders per customer over two years (1M customers ->
#: 6.5M orders); simulate_shop's default purchase rate gives 2.9.
SHAPE = {"r": 0.31, "alpha": 12.0}


# --------------------------------------------------------------------------- references
def naive_cohorts(orders: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Monthly "on" cohort counts the way an analyst writes them with groupby."""
    o = orders.loc[orders["order_date"] < as_of + pd.Timedelta(days=1),
                   ["customer_id", "order_date"]].copy()
    o["day"] = o["order_date"].dt.normalize()
    first = o.groupby("customer_id")["day"].min().rename("first_day")
    o = o.join(first, on="customer_id")
    o["cohort"] = o["first_day"].dt.to_period("M")
    o["k"] = (o["day"].dt.to_period("M") - o["cohort"]).apply(lambda x: x.n)
    size = first.dt.to_period("M").value_counts().rename("cohort_size")
    rep = o[o["day"] > o["first_day"]].drop_duplicates(["customer_id", "k"])
    counts = rep.groupby(["cohort", "k"]).size().rename("customers").reset_index()
    counts = counts.join(size, on="cohort")
    counts["rate"] = counts["customers"] / counts["cohort_size"]
    return counts


def check_cohorts(ours: pd.DataFrame, ref: pd.DataFrame) -> None:
    got = ours[ours["customers"] > 0].copy()
    got["cohort"] = got["cohort"].dt.to_period("M")
    merged = got.merge(ref, left_on=["cohort", "period"], right_on=["cohort", "k"],
                       how="outer", suffixes=("", "_ref"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    np.testing.assert_array_equal(merged["customers"], merged["customers_ref"])
    np.testing.assert_array_equal(merged["cohort_size"], merged["cohort_size_ref"])


def naive_sleeping(orders: pd.DataFrame, start, end, sleep_after: int = 90,
                   remind_before: int = 10) -> pd.DataFrame:
    """Each customer's order days with the next one (groupby shift), then day by day."""
    occ = pd.DataFrame({"customer_id": orders["customer_id"],
                        "day": orders["order_date"].dt.normalize()}).drop_duplicates()
    occ = occ.sort_values(["customer_id", "day"])
    occ["next"] = occ.groupby("customer_id")["day"].shift(-1)
    first = occ.groupby("customer_id")["day"].min().to_numpy()
    day = occ["day"].to_numpy()
    nxt = occ["next"].fillna(pd.Timestamp("2262-01-01")).to_numpy()
    s, r = pd.Timedelta(days=sleep_after), pd.Timedelta(days=sleep_after - remind_before)
    gap_long = (nxt - day) > s
    rows = []
    for t in pd.date_range(start, end):  # one pass over all order days per day
        t = t.to_datetime64()
        members = int((first <= t).sum())
        sleeping = int(((day + s <= t) & (nxt > t)).sum())
        pre = int(((day + r <= t) & (day + s > t) & (nxt > t)).sum())
        rows.append({"date": t, "members": members,
                     "active": members - pre - sleeping, "pre_sleep": pre,
                     "sleeping": sleeping,
                     "newly_sleeping": int((gap_long & (day + s == t)).sum()),
                     "woken": int((gap_long & (nxt == t)).sum())})
    return pd.DataFrame(rows)


def check_flow(ours: pd.DataFrame, ref: pd.DataFrame) -> None:
    cols = ["members", "active", "pre_sleep", "sleeping", "newly_sleeping", "woken"]
    np.testing.assert_array_equal(ours[cols].to_numpy(), ref[cols].to_numpy())


# --------------------------------------------------------------------------- timing
def timed(fn, repeat: int) -> tuple[float, object, int]:
    """Median seconds over up to ``repeat`` runs (one when a run takes over SLOW s)."""
    times, result = timed_runs(fn, repeat, slow=SLOW)
    return statistics.median(times), result, len(times)


def child_run(code: str) -> tuple[float, float]:
    """Run Python ``code`` in a fresh process: (seconds printed by it, peak RSS MiB)."""
    if Path("/usr/bin/time").exists():
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-c", code],
                              capture_output=True, text=True, check=True)
        rss = float(proc.stderr.strip().splitlines()[-1]) / 1024
    else:  # the largest child so far: an upper bound
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True)
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return float(proc.stdout.strip().splitlines()[-1]), rss


def child_rss_mib(args: list[str]) -> tuple[float, float]:
    """Wall time and peak RSS of a command (GNU time if present, else rusage)."""
    t0 = time.perf_counter()
    if Path("/usr/bin/time").exists():
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", *args], capture_output=True,
                              text=True, check=True)
        rss = float(proc.stderr.strip().splitlines()[-1]) / 1024
    else:
        subprocess.run(args, capture_output=True, check=True)
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return time.perf_counter() - t0, rss


# --------------------------------------------------------------------------- churn models
def churn_model_rows(summary: pd.DataFrame, add, repeat: int) -> None:
    """Rows of the Pareto/NBD fit and the parameter-uncertainty intervals (issue 14).

    Pareto/NBD: ``fit_churn_model(model="pnbd")`` against lifetimes' ``ParetoNBDFitter``
    on the same compressed rows (parameters checked equal to 1e-6 inside
    :func:`bench_churn_ltv.bench_pnbd`). Intervals: 200 parameter draws, BG/NBD.
    """
    fits = pnbd_fits(summary)
    add("churn fit (Pareto/NBD)", fits["pnbd_fit"], fits["pnbd_lifetimes"], 0,
        "lifetimes ParetoNBDFitter", "same rows, start and tolerance; with standard errors")
    times = churn_intervals(summary, repeat=repeat)
    add("churn_scores, 90% interval", times["churn_scores, interval"], None, 0, "",
        "200 parameter draws on distinct histories")
    add("predict_ltv, 90% interval", times["predict_ltv, interval"], None, 0, "",
        "200 parameter draws, 12 months")
    add("shop_total (churn + LTV)", times["shop_total (churn + LTV)"], None, 0, "",
        "200 parameter draws")


# --------------------------------------------------------------------------- suite
def run_size(n: int, *, repeat: int, seed: int, report: bool, workdir: Path) -> list[dict]:
    rows: list[dict] = []

    def add(step, ours_s, ref_s, mem, ref_name, note=""):
        rows.append({"customers": n, "step": step, "seconds": ours_s, "reference": ref_name,
                     "reference_seconds": ref_s,
                     "speed_up": (ref_s / ours_s) if ref_s else None,
                     "peak_mib": mem, "note": note})
        ref_txt = f"{ref_s:8.2f} s ({ref_name})" if ref_s else ""
        print(f"  {step:<24}{ours_s:8.2f} s  {ref_txt}  peak {mem:,.0f} MiB {note}", flush=True)

    t0 = time.perf_counter()
    shop = simulate_shop(n, seed=seed, params={"campaigns": [], **SHAPE})
    # validated once, as read_orders does: the steps then skip validation (it is
    # timed on its own below)
    orders = validate_orders(shop.orders)
    as_of = pd.Timestamp(shop.end).normalize()
    print(f"\n{n:,} customers, {len(orders):,} orders, simulated in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    parquet = workdir / f"orders_{n}.parquet"
    plain = orders[["customer_id", "order_id", "order_date", "amount", "margin"]].copy()
    plain.to_parquet(parquet)
    del plain

    # summary: ours vs lifetimes (validated orders on both sides)
    # every analysis step gets a fresh PreparedOrders of the validated orders: the ids
    # are encoded inside the timing, validation is timed on its own row (as read_orders /
    # prepare_orders do it once per pipeline)
    ours_t, summary, _ = timed(
        lambda: customer_summary(PreparedOrders(orders), as_of=as_of), repeat)
    ref_t, ref, _ = timed(lambda: lifetimes_summary(orders), 1)
    check_summary(summary, ref)
    del ref
    add("summary", ours_t, ref_t,
        peak_mib(lambda: customer_summary(PreparedOrders(orders), as_of=as_of)), "lifetimes",
        "validated once, ids encoded in each run")
    again_t, again, _ = timed(lambda: customer_summary(orders, as_of=as_of), repeat)
    pd.testing.assert_frame_equal(summary, again)
    del again
    add("summary, validating", again_t, ref_t, 0, "lifetimes",
        "a plain DataFrame: validated again in each call")
    code = (f"import time; import crm_analytics as ca\n"
            f"ts=[]\nfor _ in range({repeat}):\n t=time.perf_counter(); "
            f"ca.customer_summary({str(parquet)!r}, as_of={str(as_of.date())!r}); "
            f"ts.append(time.perf_counter()-t)\nprint(sorted(ts)[len(ts)//2])")
    duck = customer_summary(str(parquet), as_of=as_of)
    pd.testing.assert_frame_equal(summary, duck, check_exact=False, rtol=1e-9)
    del duck
    duck_t, duck_rss = child_run(code)
    add("summary (duckdb)", duck_t, ref_t, duck_rss, "lifetimes", "RSS of process, from Parquet")

    # customer id shapes: the same orders with digit, c123, nickname and e-mail ids, the
    # ids encoded in each run (a fresh PreparedOrders); lifetimes on the same ids
    for r in time_id_shapes(orders, repeat):
        add(f"summary, {r['shape']} ids", r["seconds"], r["lifetimes_seconds"], 0, "lifetimes",
            f"e.g. {r['example']!r}; {r['vs_digits']:.2f}x the time of digit ids")

    # churn fit, scores + LTV: ours vs plain lifetimes (shared helpers of bench_churn_ltv),
    # the summary in weeks as in the report; lifetimes' month so the LTVs are comparable
    s = customer_summary(orders, as_of=as_of, time_unit="W").drop(columns="total_margin")
    month_days = LIFETIMES_MONTH["W"][1]
    runs = [churn_ltv_ours(s, "bgnbd", month_days) for _ in range(repeat)]
    ref_times, ref_out = plain_lifetimes(s, "bgnbd", "W")
    check_churn_ltv(runs[0][1], ref_out)
    del ref_out

    def med(key):
        return statistics.median(sum(r[0][k] for k in key) for r in runs)

    churn_mem = peak_mib(lambda: churn_ltv_ours(s, "bgnbd", month_days))
    add("churn fit (BG/NBD)", med(["churn_fit"]), ref_times["churn_fit"], churn_mem,
        "lifetimes", "with standard errors")
    add("spend fit (Gamma-Gamma)", med(["spend_fit"]), ref_times["spend_fit"], churn_mem,
        "lifetimes", "with standard errors")
    keys = ["scores", "ltv"]
    add("scores + LTV 12m", med(keys), sum(ref_times[k] for k in keys), churn_mem, "lifetimes",
        "P(alive), 90-day orders, discounted LTV; models fitted")
    churn_model_rows(s, add, repeat)

    # cohorts
    ours_t, coh, _ = timed(
        lambda: cohort_repurchase(PreparedOrders(orders), period="M", as_of=as_of), repeat)
    ref_t, ref, _ = timed(lambda: naive_cohorts(orders, as_of), 1)
    check_cohorts(coh, ref)
    add("cohorts (monthly)", ours_t, ref_t,
        peak_mib(lambda: cohort_repurchase(PreparedOrders(orders), as_of=as_of)),
        "naive pandas")
    pd.testing.assert_frame_equal(coh, cohort_repurchase(str(parquet), as_of=as_of))
    code = (f"import time; import crm_analytics as ca\n"
            f"ts=[]\nfor _ in range({repeat}):\n t=time.perf_counter(); "
            f"ca.cohort_repurchase({str(parquet)!r}, as_of={str(as_of.date())!r}); "
            f"ts.append(time.perf_counter()-t)\nprint(sorted(ts)[len(ts)//2])")
    t, rss = child_run(code)
    add("cohorts (duckdb)", t, ref_t, rss, "naive pandas", "RSS of process, from Parquet")

    # sleeping flow, two years daily
    start, end = orders["order_date"].min().normalize(), as_of
    ours_t, flow, _ = timed(
        lambda: sleeping_flow(PreparedOrders(orders), start=start, end=end), repeat)
    ref_t, ref, _ = timed(lambda: naive_sleeping(orders, start, end), 1)
    check_flow(flow, ref)
    add("sleeping flow (2y daily)", ours_t, ref_t,
        peak_mib(lambda: sleeping_flow(PreparedOrders(orders), start=start, end=end)),
        "naive pandas")
    pd.testing.assert_frame_equal(flow, sleeping_flow(str(parquet), start=start, end=end))
    code = (f"import time; import crm_analytics as ca\n"
            f"ts=[]\nfor _ in range({repeat}):\n t=time.perf_counter(); "
            f"ca.sleeping_flow({str(parquet)!r}, start={str(start.date())!r}, "
            f"end={str(end.date())!r}); ts.append(time.perf_counter()-t)\n"
            f"print(sorted(ts)[len(ts)//2])")
    t, rss = child_run(code)
    add("sleeping flow (duckdb)", t, ref_t, rss, "naive pandas", "RSS of process, from Parquet")

    # the same three steps the way the report runs them: customer ids encoded once and
    # shared (with the purchase occasions) for one order table; a fresh block per run
    shared: dict[str, list[float]] = {k: [] for k in ("ids", "summary", "cohorts", "flow")}
    for _ in range(repeat):
        t0 = time.perf_counter()
        prepared = PreparedOrders(orders)  # already validated: encode the ids once
        prepared.customer_codes()
        t1 = time.perf_counter()
        customer_summary(prepared, as_of=as_of)
        t2 = time.perf_counter()
        cohort_repurchase(prepared, period="M", as_of=as_of)
        t3 = time.perf_counter()
        sleeping_flow(prepared, start=start, end=end)
        t4 = time.perf_counter()
        for key, value in zip(shared, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            shared[key].append(value)
    note = "ids encoded once, as inside report"
    add("ids encoded once", statistics.median(shared["ids"]), None, 0, "", note)
    add("summary (shared ids)", statistics.median(shared["summary"]), None, 0, "", note)
    add("cohorts (shared ids)", statistics.median(shared["cohorts"]), None, 0, "", note)
    add("sleeping flow (shared)", statistics.median(shared["flow"]), None, 0, "",
        note + " (and occasions)")

    # kmeans
    ours_t, _, _ = timed(lambda: kmeans_segments(summary, n_clusters=6, random_state=0),
                         repeat)
    add("kmeans k=6", ours_t, None,
        peak_mib(lambda: kmeans_segments(summary, n_clusters=6, random_state=0)), "")

    # validation (lifetimes does none; shown for the pipeline's sake)
    raw = orders[["customer_id", "order_id", "order_date", "amount", "margin"]].copy()
    ours_t, _, _ = timed(lambda: validate_orders(raw), min(repeat, 3))
    add("validate_orders", ours_t, None, peak_mib(lambda: validate_orders(raw)), "")

    if report:
        cli = [sys.executable, "-m", "crm_analytics", "report", str(parquet),
               "--out-dir", str(workdir / f"report_{n}")]
        t, rss = child_rss_mib(cli)
        add("report (CLI, Parquet)", t, None, rss, "", "whole pipeline, RSS of process")
    return rows


def out_of_core(folder: Path, n_orders: int, memory_limit: str, seed: int,
                report: bool = False) -> list[dict]:
    """DuckDB summary of an order set larger than ``memory_limit``, Parquet in and out.

    Parquet parts of 2M simulated customers each (~6M orders; ids prefixed by the part
    number) are written to ``folder`` until ``n_orders`` are reached (kept for reruns).
    The summary runs in a fresh process with DuckDB's ``memory_limit`` and a spill
    directory, and is written back to Parquet without passing through pandas. With
    ``report``, ``crm-analytics report 'DIR/part-*.parquet' --memory-limit`` runs too.
    """
    folder.mkdir(parents=True, exist_ok=True)
    total, part = 0, 0
    parts = sorted(folder.glob("part-*.parquet"))
    if parts:
        import pyarrow.parquet as pq

        total = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
        part = len(parts)
    while total < n_orders:
        shop = simulate_shop(2_000_000, seed=seed + part, params={"campaigns": []})
        o = shop.orders[["customer_id", "order_id", "order_date", "amount", "margin"]].copy()
        o["customer_id"] = f"p{part:03d}-" + o["customer_id"]
        o.to_parquet(folder / f"part-{part:03d}.parquet")
        total += len(o)
        part += 1
        print(f"  wrote part {part}: {total:,} orders", flush=True)
    size_gib = sum(p.stat().st_size for p in folder.glob("part-*.parquet")) / 2**30
    out = folder / "summary.parquet"
    code = (f"import time; import crm_analytics as ca\n"
            f"t=time.perf_counter()\n"
            f"src = ca.engine_source({str(folder / 'part-*.parquet')!r}, "
            f"memory_limit={memory_limit!r}, temp_directory={str(folder / 'spill')!r}, "
            f"threads=2)\n"
            f"rel = ca.customer_summary(src, output='native')\n"
            f"rel.write_parquet({str(out)!r})\nprint(time.perf_counter()-t)")
    seconds, rss = child_run(code)
    import duckdb

    n_customers = duckdb.sql(f"SELECT COUNT(*) FROM read_parquet('{out}')").fetchall()[0][0]
    note = (f"{total:,} orders ({size_gib:.1f} GiB Parquet) -> {n_customers:,} customers, "
            f"memory_limit={memory_limit}, Parquet out")
    print(f"  out-of-core summary: {seconds:.1f} s, peak RSS {rss:,.0f} MiB; {note}")
    rows = [{"customers": n_customers, "step": "summary (duckdb, out-of-core)",
             "seconds": seconds, "reference": "", "reference_seconds": None,
             "speed_up": None, "peak_mib": rss, "note": note}]
    if report:  # the whole report, every per-customer table kept in DuckDB
        cli = [sys.executable, "-m", "crm_analytics", "report", str(folder / "part-*.parquet"),
               "--memory-limit", memory_limit, "--quiet", "--out-dir", str(folder / "report")]
        seconds, rss = child_rss_mib(cli)
        note = (f"{total:,} orders -> {n_customers:,} customers, memory_limit={memory_limit}"
                ", CLI, RSS of process")
        print(f"  out-of-core report: {seconds:.1f} s, peak RSS {rss:,.0f} MiB")
        rows.append({"customers": n_customers, "step": "report (duckdb, out-of-core)",
                     "seconds": seconds, "reference": "", "reference_seconds": None,
                     "speed_up": None, "peak_mib": rss, "note": note})
    return rows


def to_markdown(rows: list[dict], header: str) -> str:
    lines = [header, "",
             "| customers | step | median s | reference | reference s | speed-up | peak MiB |"
             " note |",
             "|---:|---|---:|---|---:|---:|---:|---|"]
    for r in rows:
        ref_s = f"{r['reference_seconds']:.2f}" if r["reference_seconds"] else ""
        speed = f"{r['speed_up']:.1f}x" if r["speed_up"] else ""
        peak = f"{r['peak_mib']:,.0f}" if r["peak_mib"] else ""
        lines.append(f"| {r['customers']:,} | {r['step']} | {r['seconds']:.2f} | "
                     f"{r['reference']} | {ref_s} | {speed} | {peak} | "
                     f"{r['note']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-report", dest="report", action="store_false",
                        help="skip the whole-pipeline CLI run")
    parser.add_argument("--out", default=str(HERE / "RESULTS-suite.md"))
    parser.add_argument("--out-of-core", metavar="DIR", default=None,
                        help="also run the DuckDB summary on --big-orders orders kept in DIR "
                             "(outside the repository) with --memory-limit")
    parser.add_argument("--big-orders", type=int, default=60_000_000)
    parser.add_argument("--out-of-core-report", action="store_true",
                        help="also run the whole report on those orders (about 10 minutes)")
    parser.add_argument("--memory-limit", default="1GB")
    args = parser.parse_args(argv)
    header = (f"Benchmark suite ({time.strftime('%Y-%m-%d')}): {platform.processor() or ''} "
              f"{os.cpu_count()} cores, Python {platform.python_version()}, "
              f"median of {args.repeat} runs (slow references once).")
    print(header)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            rows += run_size(n, repeat=args.repeat, seed=args.seed, report=args.report,
                             workdir=Path(tmp))
    if args.out_of_core:
        rows += out_of_core(Path(args.out_of_core), args.big_orders, args.memory_limit,
                            args.seed, report=args.out_of_core_report)
    table = to_markdown(rows, header)
    print("\n" + table)
    Path(args.out).write_text(table, encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
