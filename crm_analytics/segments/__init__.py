"""Customer segments: KMeans on RFM(+churn/LTV) features, and rule-based RFM schemes.

Business feature names
----------------------
``features`` use business names, mapped to columns of
:func:`~crm_analytics.customer_summary` (see :data:`FEATURE_COLUMNS`):

- ``"recency"`` -> ``days_since_last_order`` (days from the last order to ``as_of``;
  smaller is better). This is **not** the BG/NBD ``recency`` column of the summary,
  which is the span from the first to the last purchase.
- ``"frequency"`` -> ``n_orders`` (number of orders, not the BG/NBD repeat count).
- ``"monetary"`` -> ``total_amount`` (money paid over the customer's life: what the
  shop earns from them; pass ``"avg_order_value"`` to segment on basket size instead).

Any other name must be a column of the input, or of a table passed as ``extra=``
(e.g. ``p_alive`` or a predicted LTV from the churn/LTV modules), joined on
``customer_id``. Output tables use the column names, never the business names.

Segment names
-------------
Every segment carries ``segment_name_en``, ``segment_name_zh`` and ``segment_name``
(``"<en> / <zh>"``), in KMeans and RFM results alike. KMeans names are derived from the
segment's profile against the whole population (see :func:`kmeans_segments`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crm_analytics._core.checks import (
    closest_column,
    format_examples,
    require_columns,
    require_dataframe,
)
from crm_analytics._core.errors import CrmDataError

__all__ = [
    "FEATURE_COLUMNS",
    "CLASSIC_SEGMENTS",
    "CN8_SEGMENTS",
    "SegmentationResult",
    "kmeans_segments",
    "rfm_segments",
    "segment_order",
    "segment_profiles",
]

#: Business feature name -> column of :func:`~crm_analytics.customer_summary`.
FEATURE_COLUMNS = {
    "recency": "days_since_last_order",
    "frequency": "n_orders",
    "monetary": "total_amount",
}
_RECENCY, _FREQUENCY, _MONETARY = FEATURE_COLUMNS.values()
#: KMeans fits on at most this many rows run on one OpenMP thread.
_SINGLE_THREAD_ROWS = 50_000
SEGMENT_COLUMNS = ("segment", "segment_name", "segment_name_en", "segment_name_zh")

#: Classic R-F quintile segments, best first: code -> (English, Chinese).
CLASSIC_SEGMENTS = {
    "champions": ("champions", "冠军客户"),
    "loyal_customers": ("loyal customers", "忠诚客户"),
    "potential_loyalists": ("potential loyalists", "潜在忠诚客户"),
    "new_customers": ("new customers", "新客户"),
    "promising": ("promising", "有潜力客户"),
    "need_attention": ("need attention", "需要关注"),
    "about_to_sleep": ("about to sleep", "即将沉睡"),
    "cant_lose_them": ("can't lose them", "不能失去"),
    "at_risk": ("at risk", "有流失风险"),
    "hibernating": ("hibernating", "沉睡客户"),
}

#: Chinese 8-class RFM: code -> (R high, F high, M high, English, Chinese), best first.
CN8_SEGMENTS = {
    "important_value": (True, True, True, "important value", "重要价值客户"),
    "important_development": (True, False, True, "important development", "重要发展客户"),
    "important_retention": (False, True, True, "important retention", "重要保持客户"),
    "important_winback": (False, False, True, "important win-back", "重要挽留客户"),
    "general_value": (True, True, False, "general value", "一般价值客户"),
    "general_development": (True, False, False, "general development", "一般发展客户"),
    "general_retention": (False, True, False, "general retention", "一般保持客户"),
    "general_winback": (False, False, False, "general win-back", "一般挽留客户"),
}

# Words of KMeans segment names: (English, Chinese) per level.
_VALUE_WORDS = {"top": ("top-value", "顶级价值"), "high": ("high-value", "高价值"),
                "mid": ("mid-value", "中价值"), "low": ("low-value", "低价值")}
_FREQ_WORDS = {"high": ("frequent", "高频"), "mid": ("repeat", "复购"),
               "one": ("one-time", "单次")}
_RECENCY_WORDS = {"high": ("active", "活跃"), "mid": ("lapsing", "沉默"),
                  "low": ("lost", "流失")}


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

    @property
    def silhouette_score(self) -> float:
        """Alias of :attr:`silhouette`."""
        return self.silhouette

    def segment_of(self, customer_ids: Iterable[object]) -> pd.Series:
        """Segment id of each given customer (NaN for unknown ids), indexed by id."""
        ids = pd.Index([str(c) for c in customer_ids], name="customer_id")
        return self.assignments.set_index("customer_id")["segment"].reindex(ids)


# --------------------------------------------------------------------------- inputs


def _as_frames(extra: object) -> list[pd.DataFrame]:
    if extra is None:
        return []
    if isinstance(extra, pd.DataFrame):
        return [extra]
    if isinstance(extra, (list, tuple)):
        return list(extra)
    raise CrmDataError(
        f"The 'extra' parameter must be a DataFrame or a list of DataFrames keyed by "
        f"customer_id. Got {type(extra).__name__} instead."
    )


def _check_unique_ids(ids: pd.Series, what: str) -> None:
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise CrmDataError(
            f"{what} has {int(dup.sum())} rows sharing {ids[dup].nunique()} customer_id "
            f"values ({format_examples(ids[dup])}). One row per customer is expected: "
            "drop or aggregate the duplicates first."
        )


def _strictly_increasing(ids: pd.Series) -> bool:
    """Whether Arrow-backed text ids are strictly increasing (so unique and sorted).

    UTF-8 byte order is code point order, so this agrees with sorting Python strings.
    Other storage: False (the caller then checks and sorts).
    """
    arr = getattr(ids.array, "_pa_array", None)
    if arr is None or len(arr) < 2 or arr.null_count:
        return False
    import pyarrow.compute as pc

    return bool(pc.all(pc.greater(arr[1:], arr[:-1])).as_py())


def _same_ids(a: pd.Series, b: pd.Series) -> bool:
    """Whether two id columns hold the same values in the same order (Arrow: no hashing)."""
    if len(a) != len(b):
        return False
    pa_a = getattr(a.array, "_pa_array", None)
    pa_b = getattr(b.array, "_pa_array", None)
    if pa_a is not None and pa_b is not None and pa_a.type == pa_b.type:
        return bool(pa_a.equals(pa_b))
    return bool(np.array_equal(a.to_numpy(), b.to_numpy()))


def join_extra(frame: pd.DataFrame, extra: object, what: str = "extra") -> pd.DataFrame:
    """Left-join per-customer tables onto ``frame`` by ``customer_id`` (ids as text).

    Columns already present (in ``frame`` or an earlier table) are kept from the first
    table that has them; later tables only add new columns. Customers missing from a
    table get NaN there. Raises on duplicate ids or a missing ``customer_id``.
    """
    out = frame
    ids = frame["customer_id"].astype(str)
    ids_unique = False  # known once an extra table with exactly these ids was checked
    for i, table in enumerate(_as_frames(extra)):
        name = f"{what}[{i}]"
        require_dataframe(table, name)
        require_columns(table, ["customer_id"], name)
        t_ids = table["customer_id"].astype(str)
        same = _same_ids(t_ids, ids)  # the same customers in the same order
        if not (same and ids_unique):
            _check_unique_ids(t_ids, name)
        ids_unique = ids_unique or same
        new = [c for c in table.columns if c not in out.columns]
        if not new:
            continue
        if same:
            pos = np.arange(len(ids))
        else:
            pos = pd.Index(t_ids).get_indexer(ids)
        add = table[new].iloc[np.where(pos < 0, 0, pos)].reset_index(drop=True)
        add.index = out.index
        if (pos < 0).any():
            add = add.where(pd.Series(pos >= 0, index=out.index), axis=0)
        out = pd.concat([out, add], axis=1)
    return out


def _resolve_features(
    frame: pd.DataFrame, features: Sequence[str], what: str
) -> dict[str, str]:
    if isinstance(features, str) or len(features) == 0:
        raise CrmDataError(
            f"The 'features' parameter must be a non-empty sequence of names such as "
            f"('recency', 'frequency', 'monetary'). Got {features!r} instead."
        )
    mapping: dict[str, str] = {}
    for name in features:
        col = FEATURE_COLUMNS.get(name, name)
        if col not in frame.columns:
            alias = f" ({name!r} means column {col!r})" if name in FEATURE_COLUMNS else ""
            raise CrmDataError(
                f"Feature {name!r}{alias} is not a column of {what}."
                f"{closest_column(col, frame.columns)}"
                f" Pass the output of customer_summary(), add the column, or join a "
                f"per-customer table with extra=[...]. Columns present: "
                f"{list(map(str, frame.columns))}."
            )
        if col in mapping.values():
            raise CrmDataError(f"Feature {name!r} repeats column {col!r}; list it once.")
        mapping[name] = col
    return mapping


def _numeric_block(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Feature matrix as float, raising on non-numeric, missing or infinite values."""
    blocks = []
    for col in columns:
        raw = frame[col]
        if pd.api.types.is_bool_dtype(raw) or not pd.api.types.is_numeric_dtype(raw):
            values = pd.to_numeric(raw, errors="coerce")
            bad = raw[values.isna() & raw.notna()]
            if len(bad) or pd.api.types.is_bool_dtype(raw):
                raise CrmDataError(
                    f"Feature column {col!r} is not numeric ({raw.dtype}; "
                    f"{format_examples(bad if len(bad) else raw)}). Use numbers."
                )
        else:
            values = raw
        arr = np.asarray(values, dtype=float)
        bad = ~np.isfinite(arr)
        if bad.any():
            ids = frame["customer_id"][bad]
            raise CrmDataError(
                f"Feature column {col!r} is missing (NaN) or infinite for {int(bad.sum())} "
                f"of {len(arr)} customers ({format_examples(ids)}). Every customer needs a "
                "value: fill them in, or pass a table covering every customer (a churn/LTV "
                "table joined with extra= must have all customers of the summary)."
            )
        blocks.append(arr)
    return np.column_stack(blocks)


def _prepare(
    summary: pd.DataFrame, features: Sequence[str], extra: object, what: str = "summary"
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Validated copy sorted by customer_id (ids as text) with the extras joined."""
    require_dataframe(summary, what)
    require_columns(summary, ["customer_id"], what)
    if len(summary) == 0:
        raise CrmDataError(f"The {what} is empty (0 customers). Nothing to segment.")
    ids = summary["customer_id"].astype(str)
    if _strictly_increasing(ids):  # e.g. a customer_summary: unique and sorted already
        data = summary.reset_index(drop=True)
        data["customer_id"] = ids.array
    else:
        _check_unique_ids(ids, what)
        order = ids.astype(str).argsort(kind="stable").to_numpy()
        data = summary.iloc[order].reset_index(drop=True)
        data["customer_id"] = ids.iloc[order].to_numpy()
    data = join_extra(data, extra)
    mapping = _resolve_features(data, features, what)
    return data, mapping


# --------------------------------------------------------------------------- profiles


def _pct_rank(population: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mid-rank percentile of each value within ``population`` (0..1)."""
    pop = np.sort(population)
    below = np.searchsorted(pop, values, side="left")
    upto = np.searchsorted(pop, values, side="right")
    return (below + upto) / (2.0 * len(pop))


def _level(p: np.ndarray) -> np.ndarray:
    return np.where(p >= 2 / 3, "high", np.where(p < 1 / 3, "low", "mid"))


def _profile_names(data: pd.DataFrame, labels: np.ndarray, segments: np.ndarray):
    """English and Chinese names from each segment's medians vs the population."""
    cols = [c for c in (_RECENCY, _FREQUENCY, _MONETARY)
            if c in data.columns and pd.api.types.is_numeric_dtype(data[c])]
    data = data[cols]
    med = data.groupby(labels, sort=True).median().reindex(segments)
    en_parts: list[np.ndarray] = []
    zh_parts: list[np.ndarray] = []
    if _MONETARY in data.columns:
        p = _pct_rank(data[_MONETARY].to_numpy(float), med[_MONETARY].to_numpy())
        lv = np.where(p >= 0.9, "top", _level(p))
        en_parts.append(np.array([_VALUE_WORDS[x][0] for x in lv]))
        zh_parts.append(np.array([_VALUE_WORDS[x][1] for x in lv]))
    if _FREQUENCY in data.columns:
        m = med[_FREQUENCY].to_numpy()
        lv = _level(_pct_rank(data[_FREQUENCY].to_numpy(float), m))
        lv = np.where(m <= 1, "one", np.where(lv == "high", "high", "mid"))
        en_parts.append(np.array([_FREQ_WORDS[x][0] for x in lv]))
        zh_parts.append(np.array([_FREQ_WORDS[x][1] for x in lv]))
    if _RECENCY in data.columns:
        # fewer days = more recent = "high" recency
        p = 1.0 - _pct_rank(data[_RECENCY].to_numpy(float), med[_RECENCY].to_numpy())
        lv = _level(p)
        en_parts.append(np.array([_RECENCY_WORDS[x][0] for x in lv]))
        zh_parts.append(np.array([_RECENCY_WORDS[x][1] for x in lv]))
    if not en_parts:
        en = np.array([f"segment {s}" for s in segments], dtype=object)
        zh = np.array([f"分群{s}" for s in segments], dtype=object)
    else:
        en = np.array([" ".join(w) for w in zip(*en_parts, strict=True)], dtype=object)
        zh = np.array(["".join(w) for w in zip(*zh_parts, strict=True)], dtype=object)
    # unique names: later segments with the same words get " (2)", " (3)" ...
    seen: dict[str, int] = {}
    for i, name in enumerate(en):
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            en[i] = f"{name} ({seen[name]})"
            zh[i] = f"{zh[i]}({seen[name]})"
    return en, zh


def segment_order(values: Iterable[object]) -> list:
    """Segments in display order: RFM codes best first (scheme order), else sorted."""
    vals = list(pd.unique(pd.Series(list(values), dtype=object)))
    for scheme in (CLASSIC_SEGMENTS, CN8_SEGMENTS):
        if vals and all(v in scheme for v in vals):
            return [c for c in scheme if c in vals]
    try:
        return sorted(vals)
    except TypeError:
        return sorted(vals, key=str)


def segment_profiles(
    assignments: pd.DataFrame, *, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per-segment size, share, mean/median of each feature and revenue share.

    Parameters
    ----------
    assignments : pandas.DataFrame
        One row per customer with ``segment`` and the feature columns, e.g. the
        ``assignments`` of :func:`kmeans_segments` or the output of
        :func:`rfm_segments`. Not modified.
    columns : sequence of str, optional
        Numeric columns to profile; default: every numeric column except the
        segment id and the R/F/M scores.

    Returns
    -------
    pandas.DataFrame
        One row per segment in :func:`segment_order`: ``segment, segment_name,
        segment_name_en, segment_name_zh`` (those present), ``size, share``,
        ``<column>_mean`` and ``<column>_median`` for each column (original units), and
        ``revenue, revenue_share`` (sum of ``total_amount`` and its share) when
        ``total_amount`` is there. Shares are fractions (0..1).

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"customer_id": ["a", "b", "c"], "segment": [1, 2, 2],
    ...                   "total_amount": [60.0, 30.0, 10.0]})
    >>> segment_profiles(a)[["segment", "size", "share", "total_amount_mean", "revenue_share"]]
       segment  size     share  total_amount_mean  revenue_share
    0        1     1  0.333333               60.0            0.6
    1        2     2  0.666667               20.0            0.4
    """
    require_dataframe(assignments, "assignments")
    require_columns(assignments, ["segment"], "assignments")
    if columns is None:
        skip = {"segment", "R", "F", "M", "R_high", "F_high", "M_high"}
        columns = [
            c for c in assignments.columns
            if c not in skip and pd.api.types.is_numeric_dtype(assignments[c])
            and not pd.api.types.is_bool_dtype(assignments[c])
        ]
    else:
        require_columns(assignments, list(columns), "assignments")
    seg = assignments["segment"]
    if seg.isna().any():
        raise CrmDataError(
            f"Column 'segment' is empty for {int(seg.isna().sum())} customers "
            f"({format_examples(seg[seg.isna()])}). Assign every customer a segment."
        )
    groups = assignments.groupby(seg, sort=True)
    order = segment_order(groups.size().index)
    sizes = groups.size().reindex(order)
    out = pd.DataFrame({"segment": order})
    names = [c for c in SEGMENT_COLUMNS[1:] if c in assignments.columns]
    if names:
        first = groups[names].first().reindex(order).reset_index(drop=True)
        out = pd.concat([out, first], axis=1)
    out["size"] = sizes.to_numpy()
    out["share"] = out["size"] / len(assignments)
    cols = list(columns)
    if cols:
        means = groups[cols].mean().reindex(order).to_numpy()
        medians = groups[cols].median().reindex(order).to_numpy()
        for j, c in enumerate(cols):
            out[f"{c}_mean"] = means[:, j]
            out[f"{c}_median"] = medians[:, j]
    if _MONETARY in assignments.columns:
        revenue = groups[_MONETARY].sum().reindex(order).to_numpy(dtype=float)
        total = revenue.sum()
        out["revenue"] = revenue
        out["revenue_share"] = revenue / total if total > 0 else np.nan
    return out


# --------------------------------------------------------------------------- KMeans


def _check_int(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise CrmDataError(
            f"The {name!r} parameter must be an int in the range [{low}, inf). "
            f"Got {value!r} instead."
        )
    return int(value)


def _transform(
    x: np.ndarray, columns: Sequence[str], log_transform: object
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray, np.ndarray]:
    """log1p the skewed columns, then standardise. Returns X, logged, mean, scale."""
    if isinstance(log_transform, str) and log_transform == "auto":
        centred = x - x.mean(axis=0)
        sd = x.std(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            third = (centred * centred * centred).mean(axis=0)  # ** 3 is a slow pow()
            skew = np.where(sd > 0, third / np.where(sd > 0, sd, 1) ** 3, 0)
        logged = [c for j, c in enumerate(columns) if skew[j] > 1 and x[:, j].min() >= 0]
    else:
        if isinstance(log_transform, str) or not isinstance(log_transform, Iterable):
            raise CrmDataError(
                "The 'log_transform' parameter must be 'auto' or a collection of feature "
                f"names (empty for none). Got {log_transform!r} instead."
            )
        wanted = [FEATURE_COLUMNS.get(n, n) for n in log_transform]
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
    z = x.copy()
    for c in logged:
        j = list(columns).index(c)
        z[:, j] = np.log1p(z[:, j])
    mean = z.mean(axis=0)
    scale = z.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return (z - mean) / scale, tuple(logged), mean, scale


def _sample_index(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


def kmeans_segments(
    summary: pd.DataFrame,
    *,
    n_clusters: int | None = None,
    k_range: Iterable[int] = range(2, 9),
    features: Sequence[str] = ("recency", "frequency", "monetary"),
    random_state: int | None = 0,
    n_init: int = 10,
    sample_size: int = 10_000,
    max_fit_rows: int = 200_000,
    log_transform: object = "auto",
    lower_is_better: Sequence[str] = ("recency",),
    extra: pd.DataFrame | Sequence[pd.DataFrame] | None = None,
) -> SegmentationResult:
    """Segment customers with KMeans on log-transformed, standardised RFM features.

    Steps: sort customers by ``customer_id`` (so row order never matters); log1p the
    skewed features; standardise each to mean 0, sd 1; pick k by silhouette on a
    seeded sample (when ``n_clusters`` is None); fit KMeans (Lloyd, ``n_init``
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
    when present even if not features. Equal names get a " (2)" suffix.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per customer: ``customer_id`` and the feature columns, normally
        :func:`~crm_analytics.customer_summary` output. Not modified.
    n_clusters : int, optional
        Number of segments (>= 2). None: choose from ``k_range`` by silhouette.
    k_range : iterable of int, default range(2, 9)
        Candidate k values when ``n_clusters`` is None.
    features : sequence of str, default ("recency", "frequency", "monetary")
        Business names (see the module docstring) or column names, e.g. ``"p_alive"``.
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

    Returns
    -------
    SegmentationResult

    Raises
    ------
    CrmDataError
        Missing feature columns, NaN/infinite/non-numeric features (naming the column
        and count), duplicate customer ids, bad parameters, or fewer distinct customers
        than segments.

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
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    if n_clusters is not None:
        n_clusters = _check_int(n_clusters, "n_clusters", 2)
        ks = (n_clusters,)
    else:
        try:
            ks = tuple(sorted({_check_int(k, "k_range", 2) for k in k_range}))
        except TypeError as exc:
            raise CrmDataError(
                f"The 'k_range' parameter must be an iterable of ints >= 2. Got {k_range!r}."
            ) from exc
        if not ks:
            raise CrmDataError("The 'k_range' parameter is empty; give ints >= 2.")
    n_init = _check_int(n_init, "n_init", 1)
    sample_size = _check_int(sample_size, "sample_size", 100)
    max_fit_rows = _check_int(max_fit_rows, "max_fit_rows", 100)

    data, mapping = _prepare(summary, features, extra)
    columns = list(mapping.values())
    x = _numeric_block(data, columns)
    z, logged, mean, scale = _transform(x, columns, log_transform)

    rng = np.random.default_rng(random_state)
    sample = _sample_index(len(z), sample_size, rng)
    zs = z[sample]

    # distinct profiles bound the number of segments; the sample's count is a lower
    # bound, so the whole table is counted only when the sample has too few
    n_distinct = int((~pd.DataFrame(zs).duplicated()).sum())
    if n_distinct <= max(ks) and len(sample) < len(z):
        n_distinct = int((~pd.DataFrame(z).duplicated()).sum())
    feasible = tuple(k for k in ks if k < n_distinct)
    if not feasible:
        raise CrmDataError(
            f"Only {n_distinct} distinct customer profiles among {len(z)} customers, too "
            f"few for {list(ks)} segments (need more distinct profiles than segments). "
            f"Use n_clusters <= {max(n_distinct - 1, 1)} or more customers."
        )
    notes = []
    if len(feasible) < len(ks):
        notes.append(f"skipped k={sorted(set(ks) - set(feasible))}: too few distinct profiles")

    def fit(k: int, rows: np.ndarray, init: np.ndarray | None = None):
        # Small fits run on one OpenMP thread: as fast when the machine is idle, and
        # many times faster when its cores are busy (idle OpenMP threads spin). The
        # labels do not depend on the thread count (tested).
        small = len(rows) <= _SINGLE_THREAD_ROWS
        limit = threadpool_limits(1, user_api="openmp") if small else nullcontext()
        start = {"init": init, "n_init": 1} if init is not None else {"n_init": n_init}
        with limit:
            return KMeans(
                n_clusters=k, random_state=random_state, algorithm="lloyd", **start
            ).fit(rows)

    if n_clusters is None:
        models = [fit(k, zs) for k in feasible]
        candidates = [m.labels_ for m in models]
        scores = _silhouettes(zs, candidates)
        best = int(np.nanargmax(scores))  # first max: ties go to the smaller k
        k = feasible[best]
    else:
        k = n_clusters

    fit_rows = _sample_index(len(z), max_fit_rows, rng)
    if n_clusters is None and np.array_equal(fit_rows, sample):
        model = models[best]  # fitted on these very rows with the same seed already
    elif n_clusters is None:  # refined from the chosen sample solution (best of n_init)
        model = fit(k, z[fit_rows], init=models[best].cluster_centers_)
    else:
        model = fit(k, z[fit_rows])
    raw = model.predict(z) if len(fit_rows) < len(z) else model.labels_
    centers = model.cluster_centers_

    # Relabel: value score descending, ties on centre coordinates.
    sign = np.array(
        [-1.0 if c in {FEATURE_COLUMNS.get(n, n) for n in lower_is_better} else 1.0
         for c in columns]
    )
    signed = centers * sign
    value = signed.mean(axis=1)
    order = np.array(sorted(range(k), key=lambda i: (-value[i], *(-signed[i]))))
    new_id = np.empty(k, dtype=np.int64)
    new_id[order] = np.arange(1, k + 1)
    labels = new_id[raw]
    centers = centers[order]

    if n_clusters is None and _same_partition(candidates[best], labels[sample]):
        sil = float(scores[best])  # the silhouette depends only on the partition
    else:
        sil = float(_silhouettes(zs, [labels[sample]])[0])
    if n_clusters is not None:
        scores = [sil]
    k_scores = pd.DataFrame({"k": np.array(feasible, dtype=np.int64),
                             "silhouette": np.array(scores, dtype=float)})

    segments = np.arange(1, k + 1)
    en, zh = _profile_names(data, labels, segments)
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
    extra_name_cols = [c for c in (_RECENCY, _FREQUENCY, _MONETARY)
                       if c in data.columns and c not in columns]
    for c in columns + extra_name_cols:
        assignments[c] = data[c].to_numpy()
    profiles = segment_profiles(assignments, columns=columns)

    orig = centers * scale + mean
    for c in logged:
        j = columns.index(c)
        orig[:, j] = np.expm1(orig[:, j])
    centers_df = pd.DataFrame(orig, columns=columns)
    centers_df.insert(0, "segment", segments)

    return SegmentationResult(
        assignments=assignments,
        profiles=profiles,
        k=int(k),
        silhouette=float(sil),
        k_scores=k_scores,
        centers=centers_df,
        features=tuple(features),
        feature_columns=dict(mapping),
        log_features=logged,
        n_clusters=n_clusters,
        k_range=tuple(ks),
        random_state=random_state,
        n_init=n_init,
        sample_size=sample_size,
        max_fit_rows=max_fit_rows,
        n_fit_rows=len(fit_rows),
        notes=notes,
    )


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


# --------------------------------------------------------------------------- RFM rules


def _quintile_score(values: np.ndarray, *, higher_is_better: bool) -> np.ndarray:
    """Scores 1..5: 1 + floor(5 * share of customers strictly worse); ties share a score."""
    v = values if higher_is_better else -values
    worse = np.searchsorted(np.sort(v), v, side="left")
    return (1 + (5 * worse) // len(v)).astype(np.int64)


def _classic_codes(r: np.ndarray, f: np.ndarray) -> np.ndarray:
    grid = np.empty((6, 6), dtype=object)
    for rr in range(1, 6):
        for ff in range(1, 6):
            if rr <= 2:
                code = "hibernating" if ff <= 2 else "at_risk" if ff <= 4 else "cant_lose_them"
            elif rr == 3 and ff <= 2:
                code = "about_to_sleep"
            elif rr == 3 and ff == 3:
                code = "need_attention"
            elif ff >= 4:
                code = "loyal_customers" if rr <= 4 else "champions"
            elif ff == 1:
                code = "promising" if rr == 4 else "new_customers"
            else:
                code = "potential_loyalists"
            grid[rr, ff] = code
    return grid[r, f]


def rfm_segments(
    summary: pd.DataFrame,
    *,
    scheme: str = "classic",
    threshold: str = "mean",
    monetary: str = "total_amount",
) -> pd.DataFrame:
    """Rule-based RFM segments: the classic R-F quintile map or the Chinese 8 classes.

    Scores R, F, M are 1..5 on ``days_since_last_order`` (R: 5 = most recent),
    ``n_orders`` and ``monetary``: score = 1 + floor(5 x share of customers strictly
    worse). With distinct values this is the usual quintile split (exactly
    ``qcut(x.rank(method="first"), 5)`` when the count is a multiple of 5); tied customers
    share the lowest score their value reaches (the common
    ``qcut(x.rank(method="first"), 5)`` instead splits identical customers by row
    order). So many one-order customers all get F = 1, and a score can be skipped.

    - ``scheme="classic"``: the most copied R-F map (``[1-2][1-2]`` hibernating ...
      ``5[4-5]`` champions; see :data:`CLASSIC_SEGMENTS`).
    - ``scheme="cn8"``: R, F, M each high or low against ``threshold`` (mean or
      median over customers): R high = fewer days since the last order than the
      threshold, F/M high = above it (strictly). 8 classes such as 重要价值客户
      (important value: R, F, M all high); see :data:`CN8_SEGMENTS`.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`~crm_analytics.customer_summary` output (needs ``customer_id``,
        ``days_since_last_order``, ``n_orders`` and the ``monetary`` column). Not
        modified.
    scheme : {"classic", "cn8"}, default "classic"
    threshold : {"mean", "median"}, default "mean"
        High/low cut for ``cn8``; stored in ``attrs["thresholds"]``.
    monetary : str, default "total_amount"
        Column for M (e.g. ``"avg_order_value"``).

    Returns
    -------
    pandas.DataFrame
        One row per customer, sorted by ``customer_id``: ``customer_id, R, F, M``,
        ``R_high, F_high, M_high`` (cn8 only), ``segment`` (code such as
        ``"champions"``), ``segment_name`` (``"<en> / <zh>"``), ``segment_name_en``,
        ``segment_name_zh``, then ``days_since_last_order, n_orders`` and the monetary
        column.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"],
    ...     "days_since_last_order": [1, 10, 100, 200, 300],
    ...     "n_orders": [9, 1, 4, 3, 1], "total_amount": [500.0, 20, 200, 90, 10]})
    >>> rfm = rfm_segments(s)
    >>> rfm[["customer_id", "R", "F", "M", "segment"]]
      customer_id  R  F  M          segment
    0           a  5  5  5        champions
    1           b  4  1  2        promising
    2           c  3  4  4  loyal_customers
    3           d  2  3  3          at_risk
    4           e  1  1  1      hibernating
    >>> rfm["segment_name_zh"].tolist()
    ['冠军客户', '有潜力客户', '忠诚客户', '有流失风险', '沉睡客户']
    >>> rfm_segments(s, scheme="cn8")["segment_name"].iloc[0]
    'important value / 重要价值客户'
    """
    if scheme not in ("classic", "cn8"):
        raise CrmDataError(
            f"The 'scheme' parameter must be 'classic' or 'cn8'. Got {scheme!r} instead."
        )
    if threshold not in ("mean", "median"):
        raise CrmDataError(
            f"The 'threshold' parameter must be 'mean' or 'median'. Got {threshold!r} instead."
        )
    data, mapping = _prepare(summary, ("recency", "frequency", monetary), None)
    cols = list(mapping.values())
    x = _numeric_block(data, cols)
    rec, freq, mon = x[:, 0], x[:, 1], x[:, 2]
    out = pd.DataFrame({"customer_id": data["customer_id"].to_numpy()})
    out["R"] = _quintile_score(rec, higher_is_better=False)
    out["F"] = _quintile_score(freq, higher_is_better=True)
    out["M"] = _quintile_score(mon, higher_is_better=True)
    if scheme == "classic":
        codes = _classic_codes(out["R"].to_numpy(), out["F"].to_numpy())
        table = {c: names for c, names in CLASSIC_SEGMENTS.items()}
        thresholds: dict[str, float] = {}
    else:
        stat = np.mean if threshold == "mean" else np.median
        thresholds = {cols[0]: float(stat(rec)), cols[1]: float(stat(freq)),
                      cols[2]: float(stat(mon))}
        out["R_high"] = rec < thresholds[cols[0]]
        out["F_high"] = freq > thresholds[cols[1]]
        out["M_high"] = mon > thresholds[cols[2]]
        key = (out["R_high"].to_numpy() * 4 + out["F_high"].to_numpy() * 2
               + out["M_high"].to_numpy() * 1)
        lookup = np.empty(8, dtype=object)
        for code, (r, f, m, _, _) in CN8_SEGMENTS.items():
            lookup[r * 4 + f * 2 + m] = code
        codes = lookup[key]
        table = {c: (v[3], v[4]) for c, v in CN8_SEGMENTS.items()}
    en_map = {c: v[0] for c, v in table.items()}
    zh_map = {c: v[1] for c, v in table.items()}
    seg = pd.Series(codes, dtype=object)
    out["segment"] = seg.to_numpy()
    out["segment_name_en"] = seg.map(en_map).to_numpy()
    out["segment_name_zh"] = seg.map(zh_map).to_numpy()
    out.insert(
        out.columns.get_loc("segment") + 1,
        "segment_name",
        (out["segment_name_en"] + " / " + out["segment_name_zh"]).to_numpy(),
    )
    for j, c in enumerate(cols):
        out[c] = x[:, j] if not pd.api.types.is_integer_dtype(data[c]) else data[c].to_numpy()
    out.attrs = {"scheme": scheme, "threshold": threshold, "thresholds": thresholds,
                 "segment_order": tuple(table)}
    return out
