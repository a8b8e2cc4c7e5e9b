"""Segment plots: profiles, sizes and a recency x frequency scatter.

Each takes a :class:`~crm_analytics.segments.SegmentationResult`, an
:class:`~crm_analytics.segments.RfmSegmentation` (or any table with ``customer_id``,
``segment`` and the feature columns) and draws on ``ax``. No global style is changed.

Labels are bilingual (English and Chinese) when a CJK-capable font is installed
(Noto Sans CJK, Source Han Sans, WenQuanYi, Microsoft YaHei, PingFang ...; on Debian
``apt-get install fonts-noto-cjk`` or ``fonts-wqy-microhei``). Without one, ``lang="auto"``
draws English only, so no glyph is missing and no warning is raised. The font is set
per text artist, never in ``rcParams``.
"""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

from crm_analytics._core.checks import require_columns
from crm_analytics._core.errors import CrmDataError
from crm_analytics.plots._fonts import cjk_font
from crm_analytics.segments import RfmSegmentation, SegmentationResult, segment_profiles

__all__ = ["plot_segment_profiles", "plot_segment_sizes", "plot_segment_scatter"]

#: Axis text for known columns: (English, Chinese, unit).
_COLUMN_LABELS = {
    "days_since_last_order": ("days since last order", "距上次购买天数", "days"),
    "n_orders": ("orders", "订单数", "orders"),
    "total_amount": ("total spend", "累计消费", "money"),
    "avg_order_value": ("average order value", "客单价", "money"),
    "monetary_value": ("mean repeat purchase value", "复购平均金额", "money"),
    "p_alive": ("P(alive)", "存活概率", "probability"),
}



def _resolve_lang(lang: str) -> str:
    if lang not in ("auto", "both", "en", "zh"):
        raise CrmDataError(
            f"The 'lang' parameter must be 'auto', 'both', 'en' or 'zh'. Got {lang!r}."
        )
    if lang == "en":
        return "en"
    if cjk_font() is None:
        if lang != "auto":
            warnings.warn(
                f"lang={lang!r} needs a CJK font (e.g. Debian fonts-noto-cjk); none is "
                "installed, so labels are drawn in English.", UserWarning, stacklevel=3,
            )
        return "en"
    return "both" if lang == "auto" else lang


def _family(lang: str) -> list[str]:
    font = cjk_font()
    return ["DejaVu Sans", font] if (lang != "en" and font) else ["DejaVu Sans"]


def _text(en: str, zh: str, lang: str, sep: str = "\n") -> str:
    return {"en": en, "zh": zh}.get(lang, f"{en}{sep}{zh}")


def _frames(result_or_frame: object) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """(assignments or None, profiles) from a result, an assignment or profile table."""
    if isinstance(result_or_frame, SegmentationResult):
        return result_or_frame.assignments, result_or_frame.profiles
    if isinstance(result_or_frame, RfmSegmentation):
        assignments = result_or_frame.assignments
        return assignments, segment_profiles(assignments)
    if not isinstance(result_or_frame, pd.DataFrame):
        raise CrmDataError(
            "Segment plots need a SegmentationResult, an RfmSegmentation, a per-customer "
            "segment table or a segment_profiles() table. Got "
            f"{type(result_or_frame).__name__}."
        )
    require_columns(result_or_frame, ["segment"], "the segment table")
    if "customer_id" in result_or_frame.columns:
        return result_or_frame, segment_profiles(result_or_frame)
    require_columns(result_or_frame, ["size"], "the segment profile table")
    return None, result_or_frame


def _segment_labels(profiles: pd.DataFrame, lang: str, sep: str = "\n") -> list[str]:
    seg = profiles["segment"].astype(str).tolist()
    if "segment_name_en" in profiles.columns and "segment_name_zh" in profiles.columns:
        en = profiles["segment_name_en"].astype(str).tolist()
        zh = profiles["segment_name_zh"].astype(str).tolist()
    elif "segment_name" in profiles.columns and lang != "en":
        en = zh = profiles["segment_name"].astype(str).tolist()
        return [f"{s} {n}" if s != n else n for s, n in zip(seg, en, strict=True)]
    else:
        return seg
    numeric = pd.api.types.is_numeric_dtype(profiles["segment"])
    labels = [_text(e, z, lang, sep) for e, z in zip(en, zh, strict=True)]
    return [f"{s}. {lab}" for s, lab in zip(seg, labels, strict=True)] if numeric else labels


def _colors(n: int) -> list:
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _new_ax(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _fmt(value: float) -> str:
    if not np.isfinite(value):
        return ""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.2g}" if abs(value) < 1 else f"{value:.1f}"


def _column_label(col: str, lang: str) -> tuple[str, str]:
    en, zh, unit = _COLUMN_LABELS.get(col, (col, col, ""))
    return _text(en, zh, lang), unit


def plot_segment_profiles(
    result_or_frame: SegmentationResult | RfmSegmentation | pd.DataFrame,
    *,
    ax: Axes | None = None,
    columns: list[str] | None = None,
    lang: str = "auto",
    annotate: bool = True,
) -> Axes:
    """Grouped bars: each segment's mean of each feature relative to all customers.

    Bar height is the segment mean divided by the mean over all customers (1 = the
    average customer, the dashed line), so features in days, orders and money share
    one axis; each bar is labelled with the segment mean in original units and each
    feature with the all-customer mean.

    Parameters
    ----------
    result_or_frame : SegmentationResult, RfmSegmentation or pandas.DataFrame
        A KMeans or RFM result, a per-customer segment table, or a
        :func:`~crm_analytics.segments.segment_profiles` table.
    ax : matplotlib Axes, optional
    columns : list of str, optional
        Feature columns to show; default the result's features, else
        ``days_since_last_order, n_orders, total_amount`` (those present).
    lang : {"auto", "both", "en", "zh"}, default "auto"
        Label language; "auto" is both when a CJK font is installed, else English.
    annotate : bool, default True
        Write the original-unit mean on each bar.

    Returns
    -------
    matplotlib.axes.Axes
    """
    lang = _resolve_lang(lang)
    _, prof = _frames(result_or_frame)
    if columns is None:
        if isinstance(result_or_frame, SegmentationResult):
            columns = list(result_or_frame.feature_columns.values())
        else:
            columns = [c for c in _COLUMN_LABELS if f"{c}_mean" in prof.columns][:3]
    missing = [c for c in columns if f"{c}_mean" not in prof.columns]
    if missing or not columns:
        raise CrmDataError(
            f"No segment means for columns {missing or columns}: the table has "
            f"{[c for c in prof.columns if c.endswith('_mean')]}. Pass columns= or a "
            "table with those columns."
        )
    family = _family(lang)
    ax = _new_ax(ax, (max(6.0, 2.2 * len(columns) + 2), 4.8))
    sizes = prof["size"].to_numpy(dtype=float)
    n_seg = len(prof)
    colors = _colors(n_seg)
    labels = _segment_labels(prof, lang, sep=" / " if lang == "both" else "\n")
    width = 0.8 / n_seg
    x = np.arange(len(columns))
    ticks = []
    for j, col in enumerate(columns):
        means = prof[f"{col}_mean"].to_numpy(dtype=float)
        overall = float(np.sum(means * sizes) / np.sum(sizes))
        ratio = means / overall if overall != 0 else np.full(n_seg, np.nan)
        pos = x[j] - 0.4 + width * (np.arange(n_seg) + 0.5)
        bars = ax.bar(pos, ratio, width=width * 0.92, color=colors,
                      label=labels if j == 0 else None)
        if annotate:
            ax.bar_label(bars, labels=[_fmt(m) for m in means], fontsize=7, padding=1,
                         rotation=90 if n_seg > 4 else 0)
        name, unit = _column_label(col, lang)
        unit = "" if unit in ("money", "orders") else f" {unit}"
        head = {"en": "all", "zh": "全体"}.get(lang, "all / 全体")
        ticks.append(f"{name}\n{head}: {_fmt(overall)}{unit}")
    ax.axhline(1.0, color="0.3", linestyle="--", linewidth=1)
    ax.set_xticks(x, ticks, fontfamily=family)
    ax.set_ylabel(_text("segment mean ÷ mean of all customers (×)",
                        "分群均值 ÷ 全体均值（倍）", lang), fontfamily=family)
    ax.set_title(_text("Segment profiles", "分群画像", lang, sep=" / "), fontfamily=family)
    ax.margins(y=0.15)
    ax.legend(prop={"family": family, "size": 8}, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False,
              title=_text("segment", "分群", lang, sep=" / "),
              title_fontproperties={"family": family, "size": 9})
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_segment_sizes(
    result_or_frame: SegmentationResult | RfmSegmentation | pd.DataFrame,
    *,
    ax: Axes | None = None,
    lang: str = "auto",
) -> Axes:
    """Horizontal bars of each segment's share of customers and of revenue (%).

    Parameters
    ----------
    result_or_frame : SegmentationResult, RfmSegmentation or pandas.DataFrame
        A KMeans or RFM result, a per-customer segment table, or a
        :func:`~crm_analytics.segments.segment_profiles` table.
    ax : matplotlib Axes, optional
    lang : {"auto", "both", "en", "zh"}, default "auto"

    Returns
    -------
    matplotlib.axes.Axes
    """
    lang = _resolve_lang(lang)
    _, prof = _frames(result_or_frame)
    family = _family(lang)
    n_seg = len(prof)
    ax = _new_ax(ax, (8.0, 1.0 + 0.55 * n_seg))
    y = np.arange(n_seg)
    share = 100 * prof["size"].to_numpy(dtype=float) / prof["size"].sum()
    has_rev = "revenue_share" in prof.columns
    h = 0.4 if has_rev else 0.7
    bars = ax.barh(y - (h / 2 if has_rev else 0), share, height=h, color="#4C72B0",
                   label=_text("customers", "客户数", lang, sep=" / "))
    ax.bar_label(bars, labels=[f"{s:.1f}% (n={n:,})" for s, n in
                               zip(share, prof["size"], strict=True)], fontsize=8, padding=2)
    if has_rev:
        rev = 100 * prof["revenue_share"].to_numpy(dtype=float)
        bars = ax.barh(y + h / 2, rev, height=h, color="#DD8452",
                       label=_text("revenue", "销售额", lang, sep=" / "))
        ax.bar_label(bars, labels=[f"{r:.1f}%" for r in rev], fontsize=8, padding=2)
    ax.set_yticks(y, _segment_labels(prof, lang), fontfamily=family, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(_text("share of all customers / of revenue (%)",
                        "占全部客户 / 销售额的比例（%）", lang), fontfamily=family)
    ax.set_title(_text("Segment sizes", "分群规模", lang, sep=" / "), fontfamily=family)
    ax.set_xlim(0, max(share.max(), rev.max() if has_rev else 0) * 1.3)
    ax.legend(prop={"family": family, "size": 8}, loc="lower right", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_segment_scatter(
    result_or_frame: SegmentationResult | RfmSegmentation | pd.DataFrame,
    *,
    ax: Axes | None = None,
    x: str = "days_since_last_order",
    y: str = "n_orders",
    max_points: int = 5000,
    random_state: int | None = 0,
    lang: str = "auto",
) -> Axes:
    """Recency x frequency scatter of customers, coloured by segment.

    Orders are on a log scale with a small seeded jitter so customers with the same
    number of orders do not hide each other; at most ``max_points`` customers (a
    seeded sample, stated in the title) are drawn.

    Parameters
    ----------
    result_or_frame : SegmentationResult, RfmSegmentation or pandas.DataFrame
        A KMeans or RFM result, or a per-customer table with ``segment`` and the ``x``,
        ``y`` columns.
    ax : matplotlib Axes, optional
    x, y : str
        Columns for the axes; default days since the last order and number of orders.
    max_points : int, default 5000
    random_state : int or None, default 0
        Seed of the sample and the jitter.
    lang : {"auto", "both", "en", "zh"}, default "auto"

    Returns
    -------
    matplotlib.axes.Axes
    """
    lang = _resolve_lang(lang)
    assign, prof = _frames(result_or_frame)
    if assign is None:
        raise CrmDataError(
            "plot_segment_scatter needs one row per customer (a SegmentationResult, an "
            "RfmSegmentation or an assignments table with customer_id), not a profile "
            "table."
        )
    require_columns(assign, [x, y], "the segment table")
    family = _family(lang)
    ax = _new_ax(ax, (8.0, 5.0))
    rng = np.random.default_rng(random_state)
    n = len(assign)
    rows = np.sort(rng.choice(n, size=max_points, replace=False)) if n > max_points else None
    data = assign if rows is None else assign.iloc[rows]
    xs = data[x].to_numpy(dtype=float)
    ys = data[y].to_numpy(dtype=float)
    log_y = bool((ys > 0).all())
    if log_y and np.allclose(ys, np.round(ys)):
        ys = ys * np.exp(rng.uniform(-0.12, 0.12, len(ys)))
    labels = _segment_labels(prof, lang, sep=" / ")
    colors = _colors(len(prof))
    # One scatter in a seeded random order, so overlapping segments stay visible.
    code = pd.Index(prof["segment"]).get_indexer(data["segment"])
    shuffle = rng.permutation(len(code))
    ax.scatter(xs[shuffle], ys[shuffle], s=6, alpha=0.5, linewidths=0,
               c=np.array(colors)[code[shuffle]])
    for label, color in zip(labels, colors, strict=True):
        ax.scatter([], [], s=6, color=color, label=label)
    if log_y:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    xl, xu = _column_label(x, lang)
    yl, yu = _column_label(y, lang)
    yu = ", ".join(u for u in (yu if yu not in ("orders", "money") else "",
                               "log scale" if log_y else "") if u)
    xu = xu if xu not in ("orders", "money") else ""
    ax.set_xlabel(f"{xl} ({xu})" if xu else xl, fontfamily=family)
    ax.set_ylabel(f"{yl} ({yu})" if yu else yl, fontfamily=family)
    title = _text("Customers by segment", "各分群客户分布", lang, sep=" / ")
    if rows is not None:
        title += f" ({max_points:,} of {n:,})"
    ax.set_title(title, fontfamily=family)
    leg = ax.legend(prop={"family": family, "size": 8}, loc="upper left",
                    bbox_to_anchor=(1.01, 1.0), frameon=False, markerscale=3)
    for handle in leg.legend_handles:
        handle.set_alpha(1.0)
    ax.spines[["top", "right"]].set_visible(False)
    return ax
