"""Campaign lift plots: lift by metric, lift by segment (forest plot), cumulative outcome.

Each draws on ``ax`` (a new figure when None) and returns it; no global style is
changed. Segment labels may be Chinese (会员等级 ...): their font family is set per text
artist to the CJK-capable fonts installed, if any.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter
from matplotlib.transforms import ScaledTranslation

from crm_analytics._core.checks import require_columns, require_dataframe
from crm_analytics._core.errors import CrmDataError
from crm_analytics.campaigns.stats import LiftResult
from crm_analytics.plots._fonts import font_family

__all__ = ["plot_lift", "plot_lift_by_segment", "plot_cumulative_outcome"]

_METRIC_LABELS = {
    "conversion": "conversion\n(share ordering)",
    "orders": "orders\nper member",
    "revenue": "revenue\nper member",
    "margin": "gross margin\nper member",
}
_CI_COLUMNS = ("metric", "absolute_lift", "absolute_ci_low", "absolute_ci_high",
               "relative_lift", "relative_ci_low", "relative_ci_high", "p_value")


def _font_family() -> list[str]:
    return font_family(cjk_first=False)


def _set_family(texts) -> None:
    family = _font_family()
    for text in texts:
        if any(ord(ch) > 0x2E7F for ch in text.get_text()):
            text.set_fontfamily(family)


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _unit(metric: str, currency: str) -> str:
    return {"conversion": "percentage points", "orders": "orders"}.get(metric,
                                                                       currency or "money")


def _scale(metric: str) -> float:
    return 100.0 if metric == "conversion" else 1.0


def _setting(table: pd.DataFrame, column: str, given: object) -> object:
    """A setting: the keyword when given, else the table's column (one value), else None."""
    if given is not None:
        return given
    if column in table.columns:
        values = table[column].dropna().unique()
        if len(values) == 1:
            return values[0]
    return None


def _as_frame(
    result: LiftResult | Sequence[LiftResult] | pd.DataFrame,
) -> tuple[pd.DataFrame, float | None]:
    """The lift table and the confidence level of its intervals (None when unknown)."""
    if isinstance(result, LiftResult):
        return result.to_frame(), result.confidence_level
    if isinstance(result, pd.DataFrame):
        require_columns(result, list(_CI_COLUMNS), "the lift table")
        return result, _setting(result, "confidence_level", None)
    items = list(result) if isinstance(result, Sequence) else None
    if not items or not all(isinstance(r, LiftResult) for r in items):
        raise CrmDataError(
            "plot_lift takes a LiftResult, a list of LiftResults or the table of "
            f"lift_by_metric; got {type(result).__name__}."
        )
    levels = {r.confidence_level for r in items}
    level = levels.pop() if len(levels) == 1 else None
    return pd.concat([r.to_frame() for r in items], ignore_index=True), level


def _ci_text(level: object) -> str:
    return f"{float(level):.0%} confidence intervals" if level is not None else \
        "confidence intervals"


def plot_lift(
    result: LiftResult | Sequence[LiftResult] | pd.DataFrame,
    *,
    ax: Axes | None = None,
    relative: bool | None = None,
    currency: str = "",
    confidence_level: float | None = None,
) -> Axes:
    """Lift with its confidence interval, one row per metric.

    Parameters
    ----------
    result : LiftResult, list of LiftResult or pandas.DataFrame
        One result, several (e.g. one per metric), or :func:`lift_by_metric`'s table.
    ax : matplotlib.axes.Axes, optional
    relative : bool, optional
        Plot the relative lift (%), comparable across metrics. Default: relative when
        there are several metrics, absolute (in the metric's unit) for one.
    currency : str, default ""
        Money unit of the money metrics' axis (e.g. "GBP"); "money" when empty (the
        currency is never assumed).
    confidence_level : float, optional
        Level of the intervals, for the title. Default: the results' own, or the
        table's ``confidence_level`` column; left out of the title when unknown.

    Returns
    -------
    matplotlib.axes.Axes
    """
    table, level = _as_frame(result)
    level = confidence_level if confidence_level is not None else level
    table = table.reset_index(drop=True)
    if relative is None:
        relative = len(table) > 1
    if not relative and table["metric"].nunique() > 1:
        raise CrmDataError("Absolute lifts of different metrics have different units; "
                           "use relative=True or plot one metric.")
    ax = _axes(ax, (7.0, 1.2 + 0.9 * len(table)))
    kind = "relative" if relative else "absolute"
    scale = 100.0 if relative else _scale(table["metric"].iloc[0])
    x = table[f"{kind}_lift"].to_numpy(dtype=float) * scale
    low = table[f"{kind}_ci_low"].to_numpy(dtype=float) * scale
    high = table[f"{kind}_ci_high"].to_numpy(dtype=float) * scale
    y = np.arange(len(table))
    ax.errorbar(x, y, xerr=[x - low, high - x], fmt="o", color="tab:blue", ecolor="tab:blue",
                capsize=5, markersize=7, lw=2)
    ax.axvline(0, color="0.4", lw=1, ls="--")
    for xi, yi, lo, hi, p in zip(x, y, low, high, table["p_value"], strict=True):
        # the p-value tests the absolute lift, so it is shown with absolute intervals only
        label = (f"{xi:+.1f}% [{lo:+.1f}, {hi:+.1f}]" if relative
                 else f"{xi:+.3g} [{lo:+.3g}, {hi:+.3g}]  p={p:.2g}")
        ax.annotate(label, (xi, yi), xytext=(0, 9), textcoords="offset points",
                    ha="center", fontsize=8)
    ax.set_yticks(y, [_METRIC_LABELS.get(m, m) for m in table["metric"]])
    ax.set_ylim(len(table) - 0.4, -0.6)
    if relative:
        ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
        ax.set_xlabel("lift over control (%, relative to the control mean)")
    else:
        metric = table["metric"].iloc[0]
        ax.set_xlabel(f"lift per member ({_unit(metric, currency)})")
    ax.set_title(f"Campaign lift with {_ci_text(level)}")
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_lift_by_segment(
    table: pd.DataFrame,
    *,
    ax: Axes | None = None,
    relative: bool = False,
    currency: str = "",
    metric: str | None = None,
    adjust: str | None = None,
    confidence_level: float | None = None,
) -> Axes:
    """Forest plot of :func:`lift_by_segment`: lift and interval per segment.

    Segments significant after the multiple-comparison adjustment are drawn in colour,
    the others in grey; segments too small to test are listed without a marker.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`~crm_analytics.campaigns.lift_by_segment`.
    ax : matplotlib.axes.Axes, optional
    relative : bool, default False
        Plot relative (%) instead of absolute lift per member.
    currency : str, default ""
        Money unit of the money metrics' axis (e.g. "GBP"); "money" when empty (the
        currency is never assumed).
    metric, adjust, confidence_level : optional
        The settings of the table, for the labels. Default: the table's ``metric``,
        ``adjust`` and ``confidence_level`` columns; generic labels when unknown.

    Returns
    -------
    matplotlib.axes.Axes
    """
    require_dataframe(table, "table")
    require_columns(table, ["n_treatment", "n_control", "absolute_lift", "absolute_ci_low",
                            "absolute_ci_high", "significant"], "the lift_by_segment table")
    by = list(table.columns[: table.columns.get_loc("n_treatment")])
    if not by:
        raise CrmDataError("The table has no segment columns before 'n_treatment'; pass "
                           "the output of lift_by_segment.")
    by = [c for c in by if c not in ("metric", "adjust", "confidence_level")]
    metric = _setting(table, "metric", metric)
    adjust = _setting(table, "adjust", adjust)
    level = _setting(table, "confidence_level", confidence_level)
    ax = _axes(ax, (7.0, 1.4 + 0.45 * len(table)))
    kind = "relative" if relative else "absolute"
    scale = 100.0 if relative or metric is None else _scale(metric)
    x = table[f"{kind}_lift"].to_numpy(dtype=float) * scale
    low = table[f"{kind}_ci_low"].to_numpy(dtype=float) * scale
    high = table[f"{kind}_ci_high"].to_numpy(dtype=float) * scale
    y = np.arange(len(table))
    sig = table["significant"].fillna(False).to_numpy(dtype=bool)
    for mask, color in ((sig, "tab:red"), (~sig, "0.55")):
        ok = mask & np.isfinite(x)
        if ok.any():
            ax.errorbar(x[ok], y[ok], xerr=[x[ok] - low[ok], high[ok] - x[ok]], fmt="s",
                        color=color, ecolor=color, capsize=3, markersize=6, lw=1.5)
    ax.axvline(0, color="0.3", lw=1, ls="--")
    labels = [" / ".join("(missing)" if pd.isna(v) else str(v) for v in row)
              + f"  (n={nt + nc:,})" + ("" if np.isfinite(xi) else ", too small")
              for row, nt, nc, xi in zip(table[by].itertuples(index=False),
                                         table["n_treatment"], table["n_control"], x,
                                         strict=True)]
    ax.set_yticks(y, labels)
    _set_family(ax.get_yticklabels())
    ax.set_ylim(len(table) - 0.5, -0.5)
    what = f"{metric} lift" if metric is not None else "lift"
    if relative:
        ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
        ax.set_xlabel(f"{what} over control (%)")
    elif metric is None:
        ax.set_xlabel("lift per member (the metric's unit)")
    else:
        ax.set_xlabel(f"{what} per member ({_unit(metric, currency)})")
    name = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no", None: "multiple-test"}.get(
        adjust, str(adjust))
    ax.legend(handles=[
        Line2D([], [], marker="s", color="tab:red", ls="", label=f"significant ({name} adj.)"),
        Line2D([], [], marker="s", color="0.55", ls="", label="not significant"),
    ], loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8, frameon=False,
        bbox_transform=ax.transAxes + ScaledTranslation(0, -0.5, ax.figure.dpi_scale_trans))
    ci = f"{float(level):.0%} CI" if level is not None else "CI"
    ax.set_title(f"Lift by {' / '.join(map(str, by))} ({ci} per segment)")
    _set_family([ax.title])
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_cumulative_outcome(
    result: LiftResult, *, ax: Axes | None = None, currency: str = ""
) -> Axes:
    """Cumulative outcome per member, treated vs control, by day of the window.

    The gap between the lines at the last day is the (unadjusted) lift.

    Parameters
    ----------
    result : LiftResult
    ax : matplotlib.axes.Axes, optional
    currency : str, default ""
        Money unit of the money metrics' axis (e.g. "GBP"); "money" when empty (the
        currency is never assumed).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not isinstance(result, LiftResult) or result.cumulative is None:
        raise CrmDataError("plot_cumulative_outcome takes the LiftResult of campaign_lift.")
    ax = _axes(ax, (7.0, 4.2))
    cum = result.cumulative
    scale = _scale(result.metric)
    series = {}
    for group, color in (("treatment", "tab:blue"), ("control", "0.45")):
        part = cum[cum["group"] == group]
        series[group] = part["value"].to_numpy(dtype=float) * scale
        n = result.n_treatment if group == "treatment" else result.n_control
        ax.plot(part["day"], series[group], color=color, lw=2, label=f"{group} (n={n:,})")
    days = cum.loc[cum["group"] == "treatment", "day"]
    ax.fill_between(days, series["control"], series["treatment"], color="tab:blue",
                    alpha=0.15, label="lift")
    ax.set_xlim(1, result.window_days)
    ax.set_xlabel(f"days since campaign start ({result.start.date()})")
    what = {"conversion": "share of members who ordered (%)",
            "orders": "orders per member"}.get(result.metric,
                                               f"{result.metric} per member ({currency or 'money'})")
    ax.set_ylabel(f"cumulative {what}")
    title = "Cumulative outcome, treated vs control"
    if result.campaign_name and (len(_font_family()) > 1 or result.campaign_name.isascii()):
        title += f"\n{result.campaign_name}"  # only when it can be drawn
    ax.set_title(title)
    _set_family([ax.title])
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return ax
