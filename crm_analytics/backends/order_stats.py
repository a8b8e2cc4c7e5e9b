"""Exact order statistics (medians, quantiles) of a column inside an engine, in fixed memory.

Used by the engine paths for segment medians, the members' median average order
value and the LTV chart; they give exactly what numpy gives on the same values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics.backends.sql import sql_text

__all__ = ["BUCKETS", "MAX_DISTINCT", "medians", "order_values", "quantile"]

#: Buckets per pass of :func:`order_values`, and the most distinct values fetched at once.
BUCKETS = 1 << 16
MAX_DISTINCT = 200_000


def order_values(runner, source: str, col: str, positions: dict[str, str], *,
                  by: str = "CAST(0 AS INT)", where: str = "1 = 1") -> pd.DataFrame:
    """Exact order statistics: per group ``by``, the value at each 1-based position.

    ``positions`` maps an output name to a Python expression of ``n`` (the group's
    size), e.g. ``{"lo": "(n + 1) // 2"}``. Memory stays fixed: one scan gives each
    group's size and range, the next counts values in ``BUCKETS`` equal-width buckets
    (a small table), and the distinct values of the buckets holding the wanted
    positions are then fetched (bucketed again, narrower, in the rare case that they
    are more than ``MAX_DISTINCT``). Returns ``grp, n`` and one column per position.
    """
    base = f"SELECT {by} AS grp, CAST({col} AS DOUBLE) AS v FROM {source} WHERE {where}"
    stats = runner.fetch(f"SELECT grp, COUNT(*) AS n, MIN(v) AS lo, MAX(v) AS hi FROM ({base}) "
                         "b WHERE v IS NOT NULL GROUP BY grp ORDER BY grp")
    out = stats[["grp", "n"]].copy()
    grp = [str(int(g)) if isinstance(g, int | np.integer) else
           repr(float(g)) if isinstance(g, float | np.floating) else sql_text(g)
           for g in stats["grp"]]
    # per (group, position): [1-based rank within its range, range index]; ranges are
    # (group, low, high) value intervals, the whole group's range at first
    ranges = [(i, float(r["lo"]), float(r["hi"])) for i, r in stats.iterrows()]
    todo = {}
    for i, row in stats.iterrows():
        for name, expr in positions.items():
            todo[(i, name)] = (int(eval(expr, {}, {"n": int(row["n"])})), i)  # noqa: S307
    values: dict[tuple[int, str], float] = {}
    for depth in range(10):
        used = sorted({r for _, r in todo.values()})
        conds = {r: f"(grp = {grp[ranges[r][0]]} AND v >= {ranges[r][1]!r} "
                    f"AND v <= {ranges[r][2]!r})" for r in used}
        where_any = " OR ".join(conds.values())
        distinct = int(runner.fetch(
            f"SELECT COUNT(*) AS n FROM (SELECT grp, v FROM ({base}) b WHERE {where_any} "
            "GROUP BY grp, v) t")["n"].iloc[0])
        if distinct <= MAX_DISTINCT or depth == 9:
            exact = runner.fetch(f"SELECT grp, v, COUNT(*) AS c FROM ({base}) b "
                                 f"WHERE {where_any} GROUP BY grp, v ORDER BY grp, v")
            gv = exact["grp"].to_numpy()
            v = exact["v"].to_numpy(float)
            for (i, name), (rank, r) in todo.items():
                _, lo, hi = ranges[r]
                keep = (gv == stats["grp"].iloc[i]) & (v >= lo) & (v <= hi)
                cum = exact["c"].to_numpy(np.int64)[keep].cumsum()
                values[(i, name)] = float(v[keep][np.searchsorted(cum, rank)])
            break
        # narrow each range to the bucket holding its rank (bucket ids unique per range)
        cases = " ".join(
            f"WHEN {conds[r]} THEN {r * BUCKETS} + LEAST(CAST(FLOOR((v - {ranges[r][1]!r}) / "
            f"{max((ranges[r][2] - ranges[r][1]) / BUCKETS, 1e-300)!r}) AS BIGINT), "
            f"{BUCKETS - 1})" for r in used)
        counts = runner.fetch(
            f"SELECT bucket, COUNT(*) AS c, MIN(v) AS lo, MAX(v) AS hi FROM ("
            f"SELECT v, CASE {cases} END AS bucket FROM ({base}) b WHERE {where_any}) t "
            "GROUP BY bucket ORDER BY bucket")
        bucket = counts["bucket"].to_numpy(np.int64)
        nxt = {}
        for key, (rank, r) in todo.items():
            keep = (bucket >= r * BUCKETS) & (bucket < (r + 1) * BUCKETS)
            part = counts[keep]
            cum = part["c"].to_numpy(np.int64).cumsum()
            j = int(np.searchsorted(cum, rank))
            below = int(cum[j - 1]) if j > 0 else 0
            narrow = (ranges[r][0], float(part["lo"].iloc[j]), float(part["hi"].iloc[j]))
            if narrow not in ranges:  # positions in one bucket share its range
                ranges.append(narrow)
            nxt[key] = (rank - below, ranges.index(narrow))
        todo = nxt
    for name in positions:
        out[name] = [values[(i, name)] for i in range(len(stats))]
    return out


def medians(runner, source: str, col: str, *, by: str = "CAST(0 AS INT)",
             where: str = "1 = 1") -> pd.DataFrame:
    """Exact median of ``col`` per group (``grp, n, median``), as numpy's median."""
    raw = order_values(runner, source, col, {"lo": "(n + 1) // 2", "hi": "n // 2 + 1"},
                        by=by, where=where)
    lo, hi = raw["lo"].to_numpy(dtype=float), raw["hi"].to_numpy(dtype=float)
    return pd.DataFrame({"grp": raw["grp"].to_numpy(), "n": raw["n"].to_numpy(np.int64),
                         "median": np.where(lo == hi, lo, (lo + hi) / 2)})


def quantile(runner, source: str, col: str, q: float, *, where: str) -> float:
    """Exact ``numpy.quantile(values, q)`` (linear) of ``col`` over the rows ``where``."""
    n = int(runner.fetch(f"SELECT COUNT(*) AS n FROM {source} WHERE {where}")["n"].iloc[0])
    h = (n - 1) * q
    lo = int(np.floor(h))
    raw = order_values(runner, source, col, {"a": f"{lo + 1}", "b": f"{min(lo + 2, n)}"},
                        where=where)
    a, b = float(raw["a"].iloc[0]), float(raw["b"].iloc[0])
    return a + (h - lo) * (b - a)
