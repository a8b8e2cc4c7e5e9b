"""KMeans customer segments: prepare features, choose k, fit, relabel by value, name.

:func:`kmeans_segments` runs these steps in order; each is a small function below.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics.segments.inputs import numeric_block, prepare_customers
from crm_analytics.segments.profiles import profile_names, segment_profiles
from crm_analytics.segments.rules import FREQUENCY, MONETARY, RECENCY, feature_column
from crm_analytics.sleeping.rules import check_count

__all__ = [
    "K_RANGE",
    "MIN_CUSTOMERS",
    "FeatureTransform",
    "SegmentationResult",
    "kmeans_segments",
    "transform_features",
]

#: KMeans fits on at most this many rows run on one OpenMP thread.
_SINGLE_THREAD_ROWS = 50_000

#: Candidate numbers of segments when none is given: a CRM team acts on 4 to 8 groups.
K_RANGE = range(4, 9)
#: Fewest customers for an automatic number of segments (fewer: give ``n_clusters=1``).
MIN_CUSTOMERS = 4


@dataclass(frozen=True, eq=False)
class FeatureTransform:
    """How features become KMeans coordinates: log1p of some columns, then standardise.

    ``z = (x' - mean) / scale`` where ``x'`` is ``x`` with ``log1p`` applied to the
    ``log_features`` columns. Fitted by :func:`transform_features`.

    Attributes
    ----------
    columns : tuple of str
        Feature columns, in the order of the matrix columns.
    log_features : tuple of str
        Columns log1p-transformed before standardising.
    mean, scale : numpy.ndarray
        Per-column mean and standard deviation (1 where it is 0) after the log step.
    """

    columns: tuple[str, ...]
    log_features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Coordinates of the rows of ``x`` (original units, columns as ``columns``)."""
        z = np.array(x, dtype=float, copy=True)
        for c in self.log_features:
            j = self.columns.index(c)
            z[:, j] = np.log1p(z[:, j])
        return (z - self.mean) / self.scale

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Original units of coordinates ``z`` (e.g. cluster centres)."""
        orig = z * self.scale + self.mean
        for c in self.log_features:
            j = self.columns.index(c)
            orig[:, j] = np.expm1(orig[:, j])
        return orig


@dataclass(frozen=True, eq=False)
class SegmentationResult:
    """KMeans customer segments, their profiles and the settings that produced them.

    Attributes
    ----------
    assignments : pandas.DataFrame
        One row per customer, sorted by ``customer_id``: ``customer_id, segment``
        (1..k, 1 = highest value score), ``segment_name`` (``"<en> / <zh>"``),
        ``segment_name_en``, ``segment_name_zh``, then the feature columns in original
        units (e.g. ``days_since_last_order, n_orders, total_amount``).
    profiles : pandas.DataFrame
        One row per segment (see :func:`segment_profiles`).
    k : int
        Number of segments.
    silhouette : float
        Silhouette score of the final segments on the seeded sample.
    k_scores : pandas.DataFrame
        ``k, silhouette`` for every k tried (one row when ``n_clusters`` was given).
    centers : pandas.DataFrame
        Cluster centres in original units (inverse of the log/standardise transform),
        one row per segment.
    features : tuple of str
        The features as given; ``feature_columns`` maps each to its column.
    log_features : tuple of str
        Columns that were log1p-transformed before standardising.
    n_clusters, k_range, random_state, n_init, sample_size, max_fit_rows
        The settings used.
    n_fit_rows : int
        Customers the final KMeans was fitted on.
    notes : list of str
        What the analyst should know (k values skipped, ``k_note`` ...).
    k_note : str or None
        Why k lies outside ``k_range``: the data support fewer segments (too few
        distinct customer profiles, or customers); None when k was given or chosen
        within ``k_range``.
    sleep_after : int
        Days after the last order from which a customer is asleep; no segment whose
        median customer is asleep is named "active".
    transform : FeatureTransform
        The fitted log/standardise step, to place other customers (e.g. in SQL with
        :func:`crm_analytics.segments.sql.segment_distance_sql`).
    """

    assignments: pd.DataFrame
    profiles: pd.DataFrame
    k: int
    silhouette: float
    k_scores: pd.DataFrame
    centers: pd.DataFrame
    features: tuple[str, ...]
    feature_columns: dict[str, str]
    log_features: tuple[str, ...]
    n_clusters: int | None
    k_range: tuple[int, ...]
    random_state: int | None
    n_init: int
    sample_size: int
    max_fit_rows: int
    n_fit_rows: int = 0
    notes: list[str] = field(default_factory=list)
    transform: FeatureTransform | None = field(default=None, repr=False)
    k_note: str | None = None
    sleep_after: int = 90

    @property
    def silhouette_score(self) -> float:
        """Alias of :attr:`silhouette`."""
        return self.silhouette

    def segment_of(self, customer_ids: Iterable[object]) -> pd.Series:
        """Segment id of each given customer (NaN for unknown ids), indexed by id."""
        ids = pd.Index([str(c) for c in customer_ids], name="customer_id")
        return self.assignments.set_index("customer_id")["segment"].reindex(ids)


# --------------------------------------------------------------------------- settings


def _check_int(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise CrmDataError(
            f"The {name!r} parameter must be an int in the range [{low}, inf). "
            f"Got {value!r} instead."
        )
    return int(value)


def _candidate_ks(n_clusters: object, k_range: Iterable[int]) -> tuple[int, ...]:
    """The k values to try: ``(n_clusters,)``, else the sorted distinct ``k_range``."""
    if n_clusters is not None:
        return (_check_int(n_clusters, "n_clusters", 1),)
    try:
        ks = tuple(sorted({_check_int(k, "k_range", 2) for k in k_range}))
    except TypeError as exc:
        raise CrmDataError(
            f"The 'k_range' parameter must be an iterable of ints >= 2. Got {k_range!r}."
        ) from exc
    if not ks:
        raise CrmDataError("The 'k_range' parameter is empty; give ints >= 2.")
    return ks


# --------------------------------------------------------------------------- features


def _log_columns(x: np.ndarray, columns: Sequence[str], log_transform: object) -> list[str]:
    """Columns to log1p: skewness > 1 and non-negative ("auto"), or the ones named."""
    if isinstance(log_transform, str) and log_transform == "auto":
        centred = x - x.mean(axis=0)
        sd = x.std(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            third = (centred * centred * centred).mean(axis=0)  # ** 3 is a slow pow()
            skew = np.where(sd > 0, third / np.where(sd > 0, sd, 1) ** 3, 0)
        return [c for j, c in enumerate(columns) if skew[j] > 1 and x[:, j].min() >= 0]
    if isinstance(log_transform, str) or not isinstance(log_transform, Iterable):
        raise CrmDataError(
            "The 'log_transform' parameter must be 'auto' or a collection of feature "
            f"names (empty for none). Got {log_transform!r} instead."
        )
    wanted = [feature_column(n) for n in log_transform]
    unknown = [n for n in wanted if n not in columns]
    if unknown:
        raise CrmDataError(
            f"log_transform names {unknown}, which are not among the features "
            f"{list(columns)}."
        )
    logged = [c for c in columns if c in wanted]
    for c in logged:
        j = list(columns).index(c)
        if x[:, j].min() < 0:
            raise CrmDataError(
                f"Feature column {c!r} has {int((x[:, j] < 0).sum())} negative values, "
                "so it cannot be log-transformed. Leave it out of log_transform."
            )
    return logged


def transform_features(
    x: np.ndarray, columns: Sequence[str], log_transform: object = "auto"
) -> tuple[np.ndarray, FeatureTransform]:
    """log1p the skewed columns, then standardise; the coordinates and the fitted step.

    Parameters
    ----------
    x : numpy.ndarray
        One row per customer, one column per feature (original units).
    columns : sequence of str
        Column names of ``x``.
    log_transform : "auto" or collection of str, default "auto"
        "auto": non-negative columns with skewness > 1; else the names to log.

    Returns
    -------
    (numpy.ndarray, FeatureTransform)
        The standardised coordinates and the transform that made them.

    Examples
    --------
    >>> import numpy as np
    >>> z, t = transform_features(np.array([[1.0, 0.0], [3.0, 0.0]]), ["a", "b"], ())
    >>> z.tolist(), t.mean.tolist(), t.scale.tolist()
    ([[-1.0, 0.0], [1.0, 0.0]], [2.0, 0.0], [1.0, 1.0])
    """
    columns = tuple(columns)
    logged = _log_columns(x, columns, log_transform)
    z = x.copy()
    for c in logged:
        j = columns.index(c)
        z[:, j] = np.log1p(z[:, j])
    mean = z.mean(axis=0)
    scale = z.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return (z - mean) / scale, FeatureTransform(columns, tuple(logged), mean, scale)


def _sample_index(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


def _n_distinct(z: np.ndarray) -> int:
    return int((~pd.DataFrame(z).duplicated()).sum())


def _feasible_ks(z: np.ndarray, sample: np.ndarray, ks: tuple[int, ...],
                 explicit: bool) -> tuple[tuple[int, ...], list[str], str | None]:
    """The k values the data support, notes on those skipped, and the ``k_note``.

    A partition into k segments needs k distinct customer profiles and, for k >= 2,
    more customers than segments (a silhouette needs a segment of two). An explicit k
    the data cannot support is refused; an automatic choice takes the feasible part of
    the range, or else the largest feasible k below it (with a ``k_note``).
    """
    n = len(z)
    if explicit:
        k = ks[0]
        if k >= 2 and n <= k:
            fewer = "" if n <= 2 else f"n_clusters={n - 1} (command line: --k {n - 1}), or "
            raise CrmDataError(
                f"Segmentation into {k} segments needs at least {k + 1} customers; this "
                f"shop has {n}. Use {fewer}n_clusters=1 to keep them as one group "
                "(command line: --k 1)."
            )
        # the sample's distinct count is a lower bound: count them all only when short
        n_distinct = _n_distinct(z[sample])
        if n_distinct < k and len(sample) < n:
            n_distinct = _n_distinct(z)
        if n_distinct < k:
            profiles = "profile" if n_distinct == 1 else "profiles"
            raise CrmDataError(
                f"Only {n_distinct} distinct customer {profiles} among {n} customers, too "
                f"few for {k} segments (each segment needs a profile of its own). Use "
                f"n_clusters <= {n_distinct} (command line: --k {n_distinct})."
            )
        return ks, [], None
    if n < MIN_CUSTOMERS:
        raise CrmDataError(
            f"Segmentation needs at least {MIN_CUSTOMERS} customers; this shop has {n}. "
            "Pass n_clusters=1 to keep them as one group (command line: --k 1)."
        )
    # the candidates are fitted on the sample: it bounds what they can find
    n_distinct = _n_distinct(z[sample])
    limit = min(n_distinct, len(sample) - 1)
    feasible = tuple(k for k in ks if k <= limit)
    if feasible:
        skipped = sorted(set(ks) - set(feasible))
        why = (f"too few distinct customer profiles ({n_distinct})" if n_distinct <= limit
               else f"too few customers ({len(sample)})")
        return feasible, [f"skipped k={skipped}: {why}"] if skipped else [], None
    asked = f"{ks[0]}-{ks[-1]}" if len(ks) > 1 else f"{ks[0]}"
    if n_distinct <= len(sample) - 1:
        among = (f"among {n:,} customers" if len(sample) == n
                 else f"in a sample of {len(sample):,} of the {n:,} customers")
        why = f"only {n_distinct} distinct customer profiles {among}"
    else:
        why = f"only {n} customers"
    if limit == 1:
        note = (f"The data cannot support {asked} segments: every customer has the same "
                "profile, so all are in one segment.")
    else:
        note = (f"The data cannot support {asked} segments ({why}): using {limit} "
                "segments, the most they support.")
    return (limit,), [note], note


# --------------------------------------------------------------------------- fitting


def _fit(k: int, rows: np.ndarray, *, n_init: int, random_state: int | None,
         init: np.ndarray | None = None):
    """One KMeans (Lloyd) fit; ``init`` given: one run from those centres."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    # Small fits run on one OpenMP thread: as fast when the machine is idle, and
    # many times faster when its cores are busy (idle OpenMP threads spin). The
    # labels do not depend on the thread count (tested).
    small = len(rows) <= _SINGLE_THREAD_ROWS
    limit = threadpool_limits(1, user_api="openmp") if small else nullcontext()
    start = {"init": init, "n_init": 1} if init is not None else {"n_init": n_init}
    with limit:
        return KMeans(n_clusters=k, random_state=random_state, algorithm="lloyd",
                      **start).fit(rows)


@dataclass(frozen=True, eq=False)
class _Choice:
    """k chosen by silhouette on the sample: its model, labels and every k's score."""

    k: int
    model: object
    labels: np.ndarray
    scores: np.ndarray


def _choose_k(zs: np.ndarray, feasible: tuple[int, ...], *, n_init: int,
              random_state: int | None) -> _Choice:
    """Fit every candidate k on the sample; keep the best silhouette (ties: smaller k)."""
    models = [_fit(k, zs, n_init=n_init, random_state=random_state) for k in feasible]
    candidates = [m.labels_ for m in models]
    scores = _silhouettes(zs, candidates)
    # first max: ties go to the smaller k (a single k = 1 candidate has no score)
    best = 0 if np.isnan(scores).all() else int(np.nanargmax(scores))
    return _Choice(feasible[best], models[best], candidates[best], scores)


def _final_fit(z: np.ndarray, k: int, fit_rows: np.ndarray, sample: np.ndarray,
               choice: _Choice | None, *, n_init: int, random_state: int | None):
    """The final model on ``fit_rows``: raw labels of every row and the centres."""
    if choice is not None and np.array_equal(fit_rows, sample):
        model = choice.model  # fitted on these very rows with the same seed already
    elif choice is not None:  # refined from the chosen sample solution (best of n_init)
        model = _fit(k, z[fit_rows], n_init=n_init, random_state=random_state,
                     init=choice.model.cluster_centers_)
    else:
        model = _fit(k, z[fit_rows], n_init=n_init, random_state=random_state)
    raw = model.predict(z) if len(fit_rows) < len(z) else model.labels_
    return raw, model.cluster_centers_


def _relabel(raw: np.ndarray, centers: np.ndarray, columns: Sequence[str],
             lower_is_better: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Segment ids 1..k by value score, descending (ties on centre coordinates).

    Returns the labels of every row and the centres in the new order.
    """
    k = len(centers)
    worse_high = {feature_column(n) for n in lower_is_better}
    sign = np.array([-1.0 if c in worse_high else 1.0 for c in columns])
    signed = centers * sign
    value = signed.mean(axis=1)
    order = np.array(sorted(range(k), key=lambda i: (-value[i], *(-signed[i]))))
    new_id = np.empty(k, dtype=np.int64)
    new_id[order] = np.arange(1, k + 1)
    return new_id[raw], centers[order]


# --------------------------------------------------------------------------- naming


def _assignments(data: pd.DataFrame, labels: np.ndarray, columns: list[str], k: int,
                 sleep_after: int):
    """One row per customer: id, segment, its names, the features (original units)."""
    segments = np.arange(1, k + 1)
    en, zh = profile_names(data, labels, segments, sleep_after=sleep_after)
    full = np.array([f"{e} / {z}" for e, z in zip(en, zh, strict=True)], dtype=object)

    def per_customer(names: np.ndarray):  # k texts taken per customer, without 1M objects
        return pd.array(names, dtype="str").take(labels - 1)

    assignments = pd.DataFrame(
        {
            "customer_id": data["customer_id"].array,
            "segment": labels,
            "segment_name": per_customer(full),
            "segment_name_en": per_customer(en),
            "segment_name_zh": per_customer(zh),
        }
    )
    name_cols = [c for c in (RECENCY, FREQUENCY, MONETARY)
                 if c in data.columns and c not in columns]
    for c in columns + name_cols:
        assignments[c] = data[c].to_numpy()
    return assignments


def kmeans_segments(
    summary: pd.DataFrame,
    *,
    n_clusters: int | None = None,
    k_range: Iterable[int] = K_RANGE,
    features: Sequence[str] = ("recency", "frequency", "monetary"),
    random_state: int | None = 0,
    n_init: int = 10,
    sample_size: int = 10_000,
    max_fit_rows: int = 200_000,
    log_transform: object = "auto",
    lower_is_better: Sequence[str] = ("recency",),
    extra: pd.DataFrame | Sequence[pd.DataFrame] | None = None,
    sleep_after: int = 90,
) -> SegmentationResult:
    """Segment customers with KMeans on log-transformed, standardised RFM features.

    Steps: sort customers by ``customer_id`` (so row order never matters); log1p the
    skewed features; standardise each to mean 0, sd 1; pick k in ``k_range`` (4 to 8)
    by silhouette on a seeded sample (when ``n_clusters`` is None); fit KMeans (Lloyd, ``n_init``
    initialisations, ``random_state``); relabel clusters in a fixed order; name them.

    Segment ids are 1..k ordered by **value score**, descending: the mean of the
    cluster centre's standardised coordinates, with ``lower_is_better`` features
    (recency: days since the last order) counted negatively. Ties break on the centre
    coordinates. So segment 1 is the most recent/frequent/high-spending group, the same
    across runs, row permutations and thread counts.

    Names come from the segment's medians placed in the whole population (mid-rank
    percentile; top third / middle / bottom third): value from ``total_amount``
    (top-value when in the top tenth, high-value / mid-value / low-value, 顶级价值 /
    高价值 / 中价值 / 低价值), frequency from
    ``n_orders`` (frequent / repeat / one-time when the median is one order, 高频 / 复购
    / 单次), recency from ``days_since_last_order`` (active / lapsing / lost, 活跃 / 沉默
    / 流失), e.g. ``"high-value frequent active / 高价值高频活跃"``. These columns are used
    when present even if not features. Equal names get a " (2)" suffix. Recency words
    also follow the sleeping rule: a segment whose median customer is asleep (median
    days since the last order ``>= sleep_after``) is "lapsing" at best, never "active";
    one whose median customer is awake is never "lost". A single segment is "all
    customers / 全部客户".

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per customer: ``customer_id`` and the feature columns, normally
        :func:`~crm_analytics.customer_summary` output. Not modified.
    n_clusters : int, optional
        Number of segments (>= 1; 1 puts every customer in one segment). It needs at
        least ``n_clusters`` distinct customer profiles and, from 2, more customers
        than segments. None: choose from ``k_range`` by silhouette.
    k_range : iterable of int, default range(4, 9)
        Candidate k values when ``n_clusters`` is None (a CRM team acts on 4 to 8
        groups; the silhouette alone would mostly pick 2). Only the k the data support
        are tried (at most the number of distinct customer profiles in the sample, and
        fewer than its customers); when none is, the largest k they support is used and
        ``k_note`` says why. At least 4 customers are needed (:data:`MIN_CUSTOMERS`).
    features : sequence of str, default ("recency", "frequency", "monetary")
        Business names (see the package docstring) or column names, e.g. ``"p_alive"``.
    random_state : int or None, default 0
        Seed for the samples and KMeans initialisation.
    n_init : int, default 10
        KMeans initialisations per fit (the best inertia is kept).
    sample_size : int, default 10000
        Customers in the seeded sample used to fit and score each candidate k and to
        compute the reported silhouette (its cost grows with the square of this).
    max_fit_rows : int, default 200000
        The final KMeans is fitted on all customers up to this many, else on a seeded
        sample of this size; every customer is then assigned to the nearest centre.
        When k is chosen by silhouette, that fit starts from the chosen sample solution
        (the best of ``n_init``), so it runs once instead of ``n_init`` times.
    log_transform : "auto" or collection of str, default "auto"
        Features to log1p before standardising. "auto": non-negative features with
        skewness > 1 (the chosen ones are in ``log_features``).
    lower_is_better : sequence of str, default ("recency",)
        Features where a smaller value is better, for the value score ordering.
    extra : DataFrame or list of DataFrame, optional
        Per-customer tables (churn ``p_alive``, predicted LTV ...) joined on
        ``customer_id``; only columns not already in ``summary`` are added. Each must
        cover every customer used as a feature.
    sleep_after : int, default 90
        Days after the last order from which a customer is asleep (as in the sleeping
        analyses). A segment whose median ``days_since_last_order`` reaches it is never
        named "active", and one below it never "lost".

    Returns
    -------
    SegmentationResult

    Raises
    ------
    CrmDataError
        Missing feature columns, NaN/infinite/non-numeric features (naming the column
        and count), duplicate customer ids, bad parameters, fewer than
        :data:`MIN_CUSTOMERS` customers for an automatic k, or too few customers or
        distinct profiles for ``n_clusters``.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"customer_id": list("abcdef"),
    ...     "days_since_last_order": [5, 8, 6, 300, 280, 310],
    ...     "n_orders": [9, 12, 10, 1, 1, 2],
    ...     "total_amount": [900.0, 1300.0, 1000.0, 20.0, 35.0, 60.0]})
    >>> res = kmeans_segments(s, n_clusters=2)
    >>> res.assignments["segment"].tolist()
    [1, 1, 1, 2, 2, 2]
    >>> res.profiles["segment_name_en"].tolist()
    ['high-value frequent active', 'low-value one-time lost']
    >>> res.profiles["segment_name_zh"].tolist()
    ['高价值高频活跃', '低价值单次流失']
    >>> res.profiles[["segment", "size", "total_amount_median", "revenue_share"]]
       segment  size  total_amount_median  revenue_share
    0        1     3               1000.0       0.965309
    1        2     3                 35.0       0.034691
    """
    ks = _candidate_ks(n_clusters, k_range)
    n_clusters = None if n_clusters is None else ks[0]
    n_init = _check_int(n_init, "n_init", 1)
    sample_size = _check_int(sample_size, "sample_size", 100)
    max_fit_rows = _check_int(max_fit_rows, "max_fit_rows", 100)
    sleep_after = check_count(sleep_after, "sleep_after", 1)

    # 1. features: validated, sorted by id, log/standardised
    data, mapping = prepare_customers(summary, features, extra)
    columns = list(mapping.values())
    z, transform = transform_features(numeric_block(data, columns), columns, log_transform)

    # 2. k: by silhouette on a seeded sample, unless given
    rng = np.random.default_rng(random_state)
    sample = _sample_index(len(z), sample_size, rng)
    zs = z[sample]
    feasible, notes, k_note = _feasible_ks(z, sample, ks, explicit=n_clusters is not None)
    fit_kw = {"n_init": n_init, "random_state": random_state}
    choice = _choose_k(zs, feasible, **fit_kw) if n_clusters is None else None
    k = choice.k if choice is not None else n_clusters

    # 3. the final fit; 4. segment ids by value score
    fit_rows = _sample_index(len(z), max_fit_rows, rng)
    raw, centers = _final_fit(z, k, fit_rows, sample, choice, **fit_kw)
    labels, centers = _relabel(raw, centers, columns, lower_is_better)

    if choice is not None and _same_partition(choice.labels, labels[sample]):
        sil = float(choice.scores[feasible.index(k)])  # depends only on the partition
    else:
        sil = float(_silhouettes(zs, [labels[sample]])[0])
    scores = choice.scores if choice is not None else [sil]
    k_scores = pd.DataFrame({"k": np.array(feasible, dtype=np.int64),
                             "silhouette": np.array(scores, dtype=float)})

    # 5. names, profiles and centres in original units
    assignments = _assignments(data, labels, columns, k, sleep_after)
    centers_df = pd.DataFrame(transform.inverse(centers), columns=columns)
    centers_df.insert(0, "segment", np.arange(1, k + 1))

    return SegmentationResult(
        assignments=assignments,
        profiles=segment_profiles(assignments, columns=columns),
        k=int(k),
        silhouette=float(sil),
        k_scores=k_scores,
        centers=centers_df,
        features=tuple(features),
        feature_columns=dict(mapping),
        log_features=transform.log_features,
        n_clusters=n_clusters,
        k_range=tuple(ks),
        random_state=random_state,
        n_init=n_init,
        sample_size=sample_size,
        max_fit_rows=max_fit_rows,
        n_fit_rows=len(fit_rows),
        notes=notes,
        transform=transform,
        k_note=k_note,
        sleep_after=sleep_after,
    )


# --------------------------------------------------------------------------- silhouette


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two labellings of the same rows group them identically (up to names)."""
    pairs = np.unique(np.stack([a, b]), axis=1).shape[1]
    return pairs == len(np.unique(a)) == len(np.unique(b))


def _silhouettes(z: np.ndarray, label_sets: Sequence[np.ndarray], chunk: int = 512) -> np.ndarray:
    """Mean silhouette (Euclidean) of each labelling of the same rows, in one pass.

    The pairwise distances are shared by all labellings, so they are computed once per
    row chunk and summed per cluster for every labelling at once (a matrix product).
    Equals :func:`sklearn.metrics.silhouette_score` (singletons score 0).
    """
    n = len(z)
    codes = [np.unique(lab, return_inverse=True)[1] for lab in label_sets]
    sizes = [int(c.max()) + 1 for c in codes]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    onehot = np.zeros((n, offsets[-1]))
    for c, off in zip(codes, offsets[:-1], strict=True):
        onehot[np.arange(n), off + c] = 1.0
    sq = np.einsum("ij,ij->i", z, z)
    sums = np.empty((n, offsets[-1]))
    buf, prod = np.empty((min(chunk, n), n)), np.empty((min(chunk, n), n))
    for start in range(0, n, chunk):  # in place: the same numbers, no temporaries
        stop = min(start + chunk, n)
        d, zz = buf[:stop - start], prod[:stop - start]
        np.add(sq[start:stop, None], sq[None, :], out=d)
        np.matmul(z[start:stop], z.T, out=zz)
        zz *= 2.0
        d -= zz  # squared distances
        np.maximum(d, 0.0, out=d)
        np.sqrt(d, out=d)
        d[np.arange(stop - start), np.arange(start, stop)] = 0.0
        np.matmul(d, onehot, out=sums[start:stop])
    out = np.full(len(codes), np.nan)
    rows = np.arange(n)
    for i, (c, off, k) in enumerate(zip(codes, offsets[:-1], sizes, strict=True)):
        if k < 2 or k >= n:
            continue
        s = sums[:, off:off + k]
        counts = onehot[:, off:off + k].sum(axis=0)
        own = counts[c]
        with np.errstate(invalid="ignore", divide="ignore"):
            a = s[rows, c] / (own - 1)
            mean_other = s / counts
        mean_other[rows, c] = np.inf
        b = mean_other.min(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            sil = (b - a) / np.maximum(a, b)
        sil = np.where(own > 1, np.nan_to_num(sil, nan=0.0), 0.0)
        out[i] = sil.mean()
    return out


