"""kmeans_segments vs a plain scikit-learn pipeline fitted on all rows (1M customers).

Run: ``python benchmarks/bench_segments.py [--n 1000000]``. Prints median times, the
ratio, and how close the labels are (adjusted Rand index) to the full fit.
"""

import argparse
import statistics
import time

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score

from crm_analytics.segments import kmeans_segments


def make_summary(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    orders = 1 + rng.negative_binomial(1, 0.45, n)
    return pd.DataFrame({
        "customer_id": rng.permutation(n).astype(str),
        "days_since_last_order": rng.integers(0, 720, n) // orders,
        "n_orders": orders,
        "total_amount": rng.lognormal(5, 0.8, n) * orders,
    })


def reference(summary: pd.DataFrame, k: int) -> tuple[np.ndarray, float]:
    """The textbook pipeline: same transforms, KMeans on every row, sampled silhouette."""
    cols = ["days_since_last_order", "n_orders", "total_amount"]
    x = np.log1p(summary[cols].to_numpy(float))
    x[:, 0] = summary["days_since_last_order"]  # recency is not log-transformed ("auto")
    z = (x - x.mean(0)) / x.std(0)
    km = KMeans(k, n_init=10, random_state=0, algorithm="lloyd").fit(z)
    return km.labels_, silhouette_score(z, km.labels_, sample_size=10_000, random_state=0)


def timed(fn, reps: int):
    out, times = None, []
    for _ in range(reps):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    summary = make_summary(args.n)
    res, t_ours = timed(lambda: kmeans_segments(summary, n_clusters=5), args.reps)
    (ref_labels, ref_sil), t_ref = timed(lambda: reference(summary, 5), args.reps)
    labels = res.assignments.set_index("customer_id")["segment"].reindex(summary["customer_id"])
    print(f"k=5: ours {t_ours:.2f}s, scikit-learn full fit {t_ref:.2f}s, "
          f"ratio {t_ref / t_ours:.2f}x, ARI(ours, full fit) "
          f"{adjusted_rand_score(ref_labels, labels.to_numpy()):.4f}, silhouette ours "
          f"{res.silhouette:.4f} vs {ref_sil:.4f}")
    auto, t_auto = timed(lambda: kmeans_segments(summary), args.reps)
    print(f"k chosen from 2..8: {t_auto:.2f}s, k={auto.k}")


if __name__ == "__main__":
    main()
