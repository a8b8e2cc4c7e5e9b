"""Segment profiles (size, share, means, medians, revenue) and KMeans segment names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from crm_analytics._core.checks import format_examples, require_columns, require_dataframe
from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.money import check_currency, format_money
from crm_analytics.segments.rules import (
    CLASSIC_SEGMENTS,
    CN8_SEGMENTS,
    FREQ_WORDS,
    FREQUENCY,
    MONETARY,
    RECENCY,
    RECENCY_WORDS,
    SEGMENT_COLUMNS,
    VALUE_WORDS,
)
from crm_analytics.sleeping.rules import ASLEEP_STATUSES, STATUSES, status_codes

__all__ = [
    "profiles_from_aggregates",
    "readable_profiles",
    "segment_order",
    "segment_profiles",
]

#: Columns never profiled by default: the segment id and the RFM scores.
_NOT_PROFILED = {"segment", "R", "F", "M", "R_high", "F_high", "M_high"}


def assignments_of(result_or_frame: object) -> object:
    """The per-customer table of a segmentation result; anything else unchanged."""
    if isinstance(result_or_frame, pd.DataFrame):
        return result_or_frame
    table = getattr(type(result_or_frame), "__dataclass_fields__", {}).get("assignments")
    return result_or_frame.assignments if table is not None else result_or_frame


# --------------------------------------------------------------------------- names


def _pct_rank(population: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mid-rank percentile of each value within ``population`` (0..1)."""
    pop = np.sort(population)
    below = np.searchsorted(pop, values, side="left")
    upto = np.searchsorted(pop, values, side="right")
    return (below + upto) / (2.0 * len(pop))


def _level(p: np.ndarray) -> np.ndarray:
    return np.where(p >= 2 / 3, "high", np.where(p < 1 / 3, "low", "mid"))


def asleep(days_since_last_order: np.ndarray, sleep_after: int) -> np.ndarray:
    """Whether a customer this many days after the last order is asleep (the sleeping rule).

    Examples
    --------
    >>> asleep(np.array([0, 89, 90, 139.5]), 90).tolist()
    [False, False, True, True]
    """
    codes = status_codes(np.asarray(days_since_last_order), sleep_after=sleep_after,
                         remind_before=0)
    return np.isin(codes, [STATUSES.index(s) for s in ASLEEP_STATUSES])


def profile_names(
    data: pd.DataFrame, labels: np.ndarray, segments: np.ndarray, *, sleep_after: int = 90
) -> tuple[np.ndarray, np.ndarray]:
    """English and Chinese names from each segment's medians vs the population.

    Value from ``total_amount`` (top tenth: top-value, else high / mid / low third),
    frequency from ``n_orders`` (one-time when the median is one order, frequent in the
    top third, else repeat), recency from ``days_since_last_order`` (active / lapsing /
    lost), each from the columns present. Equal names get " (2)", " (3)" ... A single
    segment is "all customers" (全部客户).

    Recency words also agree with the sleeping rule: a segment whose median customer
    is asleep (median ``days_since_last_order >= sleep_after``) is never "active" (it
    is "lapsing" at best), and one whose median customer is awake is never "lost".
    """
    if len(segments) == 1:  # no other segment to compare with
        return np.array(["all customers"], dtype=object), np.array(["全部客户"], dtype=object)
    cols = [c for c in (RECENCY, FREQUENCY, MONETARY)
            if c in data.columns and pd.api.types.is_numeric_dtype(data[c])]
    data = data[cols]
    med = data.groupby(labels, sort=True).median().reindex(segments)
    en_parts: list[np.ndarray] = []
    zh_parts: list[np.ndarray] = []
    if MONETARY in data.columns:
        p = _pct_rank(data[MONETARY].to_numpy(float), med[MONETARY].to_numpy())
        lv = np.where(p >= 0.9, "top", _level(p))
        en_parts.append(np.array([VALUE_WORDS[x][0] for x in lv]))
        zh_parts.append(np.array([VALUE_WORDS[x][1] for x in lv]))
    if FREQUENCY in data.columns:
        m = med[FREQUENCY].to_numpy()
        lv = _level(_pct_rank(data[FREQUENCY].to_numpy(float), m))
        lv = np.where(m <= 1, "one", np.where(lv == "high", "high", "mid"))
        en_parts.append(np.array([FREQ_WORDS[x][0] for x in lv]))
        zh_parts.append(np.array([FREQ_WORDS[x][1] for x in lv]))
    if RECENCY in data.columns:
        # fewer days = more recent = "high" recency
        m = med[RECENCY].to_numpy()
        lv = _level(1.0 - _pct_rank(data[RECENCY].to_numpy(float), m))
        sleeping = asleep(m, sleep_after)
        lv = np.where(sleeping & (lv == "high"), "mid", lv)  # asleep: not active
        lv = np.where(~sleeping & (lv == "low"), "mid", lv)  # awake: not lost
        en_parts.append(np.array([RECENCY_WORDS[x][0] for x in lv]))
        zh_parts.append(np.array([RECENCY_WORDS[x][1] for x in lv]))
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


# --------------------------------------------------------------------------- profiles


def segment_order(values: Iterable[object]) -> list:
    """Segments in display order: RFM codes best first (scheme order), else sorted.

    Examples
    --------
    >>> segment_order(["hibernating", "champions"])
    ['champions', 'hibernating']
    >>> segment_order([3, 1, 2])
    [1, 2, 3]
    """
    vals = list(pd.unique(pd.Series(list(values), dtype=object)))
    for scheme in (CLASSIC_SEGMENTS, CN8_SEGMENTS):
        if vals and all(v in scheme for v in vals):
            return [c for c in scheme if c in vals]
    try:
        return sorted(vals)
    except TypeError:
        return sorted(vals, key=str)


def profiles_from_aggregates(
    segments: Sequence[object],
    sizes: Sequence[int] | np.ndarray,
    *,
    n_customers: int | None = None,
    names: pd.DataFrame | None = None,
    means: Mapping[str, np.ndarray] | None = None,
    medians: Mapping[str, np.ndarray] | None = None,
    revenue: Sequence[float] | np.ndarray | None = None,
) -> pd.DataFrame:
    """The segment profile table from per-segment aggregates, however computed.

    :func:`segment_profiles` computes the aggregates with pandas; an engine (DuckDB,
    Spark) computes them in SQL and builds the same table with this function.

    Parameters
    ----------
    segments : sequence
        Segment ids in display order (see :func:`segment_order`).
    sizes : sequence of int
        Customers per segment, in the same order.
    n_customers : int, optional
        Customers in all; default the sum of ``sizes``.
    names : pandas.DataFrame, optional
        Name columns (``segment_name``, ``segment_name_en``, ``segment_name_zh``), one
        row per segment in the same order.
    means, medians : mapping of column -> array, optional
        Per-segment mean and median of each profiled column (same keys, same order).
    revenue : sequence of float, optional
        Sum of ``total_amount`` per segment.

    Returns
    -------
    pandas.DataFrame
        ``segment``, the name columns, ``size, share``, ``<column>_mean`` and
        ``<column>_median`` per column, then ``revenue, revenue_share`` (NaN shares when
        the total revenue is not positive).

    Examples
    --------
    >>> profiles_from_aggregates([1, 2], [1, 3], means={"n_orders": [5.0, 1.0]},
    ...                          medians={"n_orders": [5.0, 1.0]}, revenue=[80.0, 20.0])
       segment  size  share  n_orders_mean  n_orders_median  revenue  revenue_share
    0        1     1   0.25            5.0              5.0     80.0            0.8
    1        2     3   0.75            1.0              1.0     20.0            0.2
    """
    out = pd.DataFrame({"segment": list(segments)})
    if names is not None and len(names.columns):
        out = pd.concat([out, names.reset_index(drop=True)], axis=1)
    out["size"] = np.asarray(sizes)
    total = int(np.sum(out["size"])) if n_customers is None else n_customers
    out["share"] = out["size"] / total
    means = means or {}
    for c, values in means.items():
        out[f"{c}_mean"] = np.asarray(values, dtype=float)
        out[f"{c}_median"] = np.asarray((medians or {})[c], dtype=float)
    if revenue is not None:
        rev = np.asarray(revenue, dtype=float)
        out["revenue"] = rev
        out["revenue_share"] = rev / rev.sum() if rev.sum() > 0 else np.nan
    return out


def segment_profiles(
    assignments: pd.DataFrame, *, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per-segment size, share, mean/median of each feature and revenue share.

    Parameters
    ----------
    assignments : pandas.DataFrame or segmentation result
        One row per customer with ``segment`` and the feature columns, e.g. the
        ``assignments`` of :func:`kmeans_segments` or :func:`rfm_segments` (a result
        object is taken as its ``assignments``). Not modified.
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
    assignments = assignments_of(assignments)
    require_dataframe(assignments, "assignments")
    require_columns(assignments, ["segment"], "assignments")
    if columns is None:
        columns = [
            c for c in assignments.columns
            if c not in _NOT_PROFILED and pd.api.types.is_numeric_dtype(assignments[c])
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
    name_cols = [c for c in SEGMENT_COLUMNS[1:] if c in assignments.columns]
    names = groups[name_cols].first().reindex(order) if name_cols else None
    cols = list(columns)
    means = medians = None
    if cols:
        mean_block = groups[cols].mean().reindex(order).to_numpy()
        median_block = groups[cols].median().reindex(order).to_numpy()
        means = {c: mean_block[:, j] for j, c in enumerate(cols)}
        medians = {c: median_block[:, j] for j, c in enumerate(cols)}
    revenue = None
    if MONETARY in assignments.columns:
        revenue = groups[MONETARY].sum().reindex(order).to_numpy(dtype=float)
    return profiles_from_aggregates(order, sizes.to_numpy(), n_customers=len(assignments),
                                    names=names, means=means, medians=medians,
                                    revenue=revenue)


# --------------------------------------------------------------------------- for people

#: Headers of :func:`readable_profiles` per language: profile column -> header.
_HEADERS = {
    "en": {"segment": "Segment", "name": "Name", "size": "Customers",
           "share": "Share of customers",
           f"{RECENCY}_median": "Days since last order (median)",
           f"{FREQUENCY}_median": "Orders (median)",
           f"{MONETARY}_median": "Total spend (median)",
           "avg_order_value_median": "Average order value (median)",
           "revenue": "Revenue", "revenue_share": "Share of revenue",
           "median": "{} (median)"},
    "zh": {"segment": "分群", "name": "名称", "size": "客户数", "share": "客户占比",
           f"{RECENCY}_median": "距上次购买天数（中位数）",
           f"{FREQUENCY}_median": "订单数（中位数）",
           f"{MONETARY}_median": "消费金额（中位数）",
           "avg_order_value_median": "客单价（中位数）",
           "revenue": "销售额", "revenue_share": "销售额占比",
           "median": "{}（中位数）"},
}
_NAME_COLUMN = {"en": "segment_name", "zh": "segment_name_zh"}
_MONEY_COLUMNS = (f"{MONETARY}_median", "avg_order_value_median", "revenue")


def _percent(v: float) -> str:
    return "" if pd.isna(v) else f"{v:.1%}"


def _number(v: float) -> str:
    """Whole or large numbers without decimals ("1,234"), others with one ("1.5"), or
    two below 1 ("0.37", e.g. a probability)."""
    if pd.isna(v):
        return ""
    if float(v).is_integer() or abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}" if abs(v) >= 1 else f"{v:.2f}"


def readable_profiles(
    result_or_profiles: object, *, currency: str | None = None, language: str = "en"
) -> pd.DataFrame:
    """The segment table for people: readable headers, percentages, money with its currency.

    One row per segment, in the order of the profiles: segment id, name, customers and
    their share, the medians of days since the last order, orders, total spend (and
    average order value and the other KMeans features when profiled), then the
    segment's revenue and its share of all revenue; columns whose data is absent are
    left out. Every cell but the segment id is text (``"1,250"``, ``"12.5%"``,
    ``"£1,250"``, empty when unknown): the table is for reading (report, command line),
    not for computing; use :func:`segment_profiles` for numbers.

    Parameters
    ----------
    result_or_profiles : SegmentationResult, RfmSegmentation or pandas.DataFrame
        A segmentation result, its ``profiles`` table, or a per-customer table with
        ``segment`` (profiled with :func:`segment_profiles`). Not modified.
    currency : str, optional
        ISO code (e.g. ``"GBP"``) for the money columns; None: no currency sign.
    language : {"en", "zh"}, default "en"
        Header language. "en" shows the bilingual ``segment_name``; "zh" the Chinese
        name.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    CrmDataError
        Unknown ``language`` or currency, or a table without ``segment``.

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "segment": [1, 2, 2, 2],
    ...                   "days_since_last_order": [3, 200, 150, 400],
    ...                   "n_orders": [9, 1, 2, 1], "total_amount": [600.0, 100, 200, 100]})
    >>> readable_profiles(a, currency="USD").iloc[0].to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'Segment': 1, 'Customers': '1', 'Share of customers': '25.0%',
     'Days since last order (median)': '3', 'Orders (median)': '9',
     'Total spend (median)': '$600', 'Revenue': '$600', 'Share of revenue': '60.0%'}
    """
    if language not in _HEADERS:
        raise CrmDataError(
            f"The 'language' parameter must be one of {sorted(_HEADERS)}. Got {language!r}."
        )
    currency = check_currency(currency)
    source = result_or_profiles
    if not isinstance(source, pd.DataFrame):
        profiles = getattr(source, "profiles", None)
        if not isinstance(profiles, pd.DataFrame):
            raise CrmDataError(
                "readable_profiles needs a segmentation result, its profiles table or a "
                f"table with a segment column. Got {type(source).__name__}."
            )
        source = profiles
    if "size" not in source.columns or "share" not in source.columns:
        source = segment_profiles(source)
    h = _HEADERS[language]
    medians = [f"{RECENCY}_median", f"{FREQUENCY}_median", f"{MONETARY}_median",
               "avg_order_value_median"]
    if "feature_columns" in getattr(type(result_or_profiles), "__dataclass_fields__", {}):
        medians += [f"{c}_median" for c in result_or_profiles.feature_columns.values()
                    if f"{c}_median" not in medians]
    out = pd.DataFrame({h["segment"]: source["segment"].to_numpy()})
    name = _NAME_COLUMN[language]
    if name in source.columns:
        out[h["name"]] = source[name].to_numpy()
    out[h["size"]] = [f"{int(v):,}" for v in source["size"]]
    out[h["share"]] = [_percent(v) for v in source["share"]]
    for col in [*medians, "revenue"]:
        if col not in source.columns:
            continue
        header = h.get(col) or h["median"].format(col.removesuffix("_median"))
        if col in _MONEY_COLUMNS:
            out[header] = ["" if pd.isna(v) else format_money(v, currency)
                           for v in source[col]]
        else:
            out[header] = [_number(v) for v in source[col]]
    if "revenue_share" in source.columns:
        out[h["revenue_share"]] = [_percent(v) for v in source["revenue_share"]]
    return out
