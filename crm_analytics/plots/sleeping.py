"""Plots of sleeping members: stock and inflow, sleepers by quality, reactivation, gaps.

Each function draws on ``ax`` (a new figure when None) and returns it; nothing global
is changed. Text artists get a CJK-capable font family list so Chinese labels passed
by the analyst render when such a font is installed.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from crm_analytics._core.checks import require_dataframe
from crm_analytics._core.errors import CrmDataError
from crm_analytics.plots._fonts import font_family
from crm_analytics.sleeping.rules import ASLEEP_STATUSES

__all__ = [
    "plot_order_gaps",
    "plot_reactivation",
    "plot_sleepers_by_quality",
    "plot_sleeping_flow",
]

_family = font_family


def _label(ax: Axes, *, title: str | None, xlabel: str, ylabel: str) -> None:
    family = _family()
    ax.set_xlabel(xlabel, fontfamily=family)
    ax.set_ylabel(ylabel, fontfamily=family)
    if title:
        ax.set_title(title, fontfamily=family)


def _need(frame: object, columns: list[str], fn: str, source: str) -> pd.DataFrame:
    frame = require_dataframe(frame, "The table")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CrmDataError(
            f"{fn} needs the output of {source} (missing column(s) {missing}; got "
            f"{list(map(str, frame.columns))})."
        )
    return frame


def plot_sleeping_flow(
    flow: pd.DataFrame,
    *,
    ax: Axes | None = None,
    rolling: int = 7,
    title: str | None = "Sleeping members: stock and daily flow",
) -> Axes:
    """Stock of sleeping members (left axis) and daily inflow / woken (right axis).

    Parameters
    ----------
    flow : pandas.DataFrame
        The output of :func:`crm_analytics.sleeping.sleeping_flow`.
    ax : matplotlib Axes, optional
    rolling : int, default 7
        Days averaged in the flow lines (1 for raw daily counts).
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
        The stock axis; the flow lines are on its twin axis (the last entry of
        ``ax.figure.axes``).
    """
    flow = _need(flow, ["date", "sleeping", "newly_sleeping", "woken"],
                 "plot_sleeping_flow", "sleeping_flow()")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4))
    ax.fill_between(flow["date"], flow["sleeping"], color="#9bb7d4", alpha=0.6,
                    label="sleeping (stock, left)")
    if "pre_sleep" in flow.columns:
        ax.plot(flow["date"], flow["pre_sleep"], color="#e0a030", lw=1,
                label="pre-sleep (stock, left)")
    right = ax.twinx()
    window = max(int(rolling), 1)
    for col, color, name in (("newly_sleeping", "#c0392b", "fell asleep"),
                             ("woken", "#27ae60", "woken")):
        series = flow[col].rolling(window, min_periods=1).mean()
        right.plot(flow["date"], series, color=color, lw=1.2,
                   label=f"{name} per day ({window}-day mean, right)")
    right.set_ylabel("members per day (count)", fontfamily=_family())
    right.set_ylim(bottom=0)
    ax.set_ylim(bottom=0)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    _label(ax, title=title, xlabel="date", ylabel="members (count)")
    handles = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], loc="upper center",
              bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False,
              prop={"family": _family(), "size": 8})
    return ax


def plot_sleepers_by_quality(
    status: pd.DataFrame,
    *,
    ax: Axes | None = None,
    title: str | None = "Sleepers by quality: share of members and of past revenue",
) -> Axes:
    """Share of sleepers and of their past revenue by quality (and given-up status).

    Parameters
    ----------
    status : pandas.DataFrame
        The output of :func:`crm_analytics.sleeping.member_status`.
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    status = _need(status, ["status", "quality", "total_amount"],
                   "plot_sleepers_by_quality", "member_status()")
    asleep = status[status["status"].isin(list(ASLEEP_STATUSES))]
    if asleep.empty:
        raise CrmDataError("No member is asleep on this as_of, so there is nothing to plot.")
    groups = asleep.groupby([asleep["quality"].astype(str), asleep["status"].astype(str)])
    table = groups["total_amount"].agg(["size", "sum"]).reset_index()
    order = {name: i for i, name in enumerate(ASLEEP_STATUSES)}
    table = table.sort_values(["quality", "status"], key=lambda c: c.map(order).fillna(c)
                              if c.name == "status" else c).reset_index(drop=True)
    table["share_members"] = table["size"] / table["size"].sum()
    total = table["sum"].sum()
    table["share_amount"] = table["sum"] / total if total else 0.0
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(table))
    width = 0.38
    bars_m = ax.bar(x - width / 2, table["share_members"], width, color="#7f8fa6",
                    label="share of sleepers")
    bars_a = ax.bar(x + width / 2, table["share_amount"], width, color="#e1a95f",
                    label="share of their past revenue")
    for bar, n in zip(bars_m, table["size"], strict=True):
        ax.annotate(f"{n:,}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    for bar, amount in zip(bars_a, table["sum"], strict=True):
        ax.annotate(f"{amount:,.0f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    names = [f"{q} quality\n{s.replace('_', ' ')}" for q, s in
             zip(table["quality"], table["status"], strict=True)]
    ax.set_xticks(x, names, fontfamily=_family())
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, min(1.0, table[["share_members", "share_amount"]].to_numpy().max() * 1.2))
    _label(ax, title=title, xlabel="sleepers (counts and revenue above the bars)",
           ylabel="share of sleepers / revenue (%)")
    ax.legend(fontsize=8)
    return ax


def plot_reactivation(
    result: object,
    *,
    ax: Axes | None = None,
    title: str | None = "Reactivation after falling asleep",
) -> Axes:
    """Share of sleepers who ordered again, by days since falling asleep.

    The line pools every sleep episode observed for that long; dots are the complete
    monthly cohorts at each window.

    Parameters
    ----------
    result : Reactivation
        The output of :func:`crm_analytics.sleeping.reactivation`.
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    curve = getattr(result, "curve", None)
    table = getattr(result, "table", None)
    if not isinstance(curve, pd.DataFrame) or not isinstance(table, pd.DataFrame):
        raise CrmDataError("plot_reactivation needs the result of reactivation().")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    ax.plot(curve["days_since_asleep"], curve["share_reactivated"], color="#2c7fb8", lw=2,
            label="all sleepers (pooled)")
    done = table[table["complete"]]
    if len(done):
        ax.scatter(done["window_days"], done["reactivation_rate"], s=14, color="#7f8fa6",
                   alpha=0.6, label="monthly cohorts (complete windows)", zorder=3)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlim(0, curve["days_since_asleep"].max() * 1.04)
    ax.set_ylim(bottom=0)
    _label(ax, title=title, xlabel="days since falling asleep",
           ylabel="ordered again (% of sleepers)")
    ax.legend(fontsize=8)
    return ax


def plot_order_gaps(
    suggestion: object,
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Distribution of gaps between order days, with the suggested ``sleep_after``.

    Parameters
    ----------
    suggestion : SleepAfterSuggestion
        The output of :func:`crm_analytics.sleeping.suggest_sleep_after`.
    ax : matplotlib Axes, optional
    title : str, optional
        Default names the suggestion.

    Returns
    -------
    matplotlib.axes.Axes
    """
    dist = getattr(suggestion, "gap_distribution", None)
    if not isinstance(dist, pd.DataFrame):
        raise CrmDataError("plot_order_gaps needs the result of suggest_sleep_after().")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(dist))
    ax.bar(x, dist["share"], color="#9bb7d4", label="share of gaps")
    ax.plot(x, dist["cumulative_share"], color="#c0392b", marker="o", lw=1.5,
            label="cumulative share")
    ax.axhline(suggestion.quantile, color="#555555", lw=0.8, ls="--",
               label=f"{suggestion.quantile:.0%} of repurchases")
    ax.set_xticks(x, dist["gap_days"])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1.05)
    if title is None:
        title = (f"Days between orders: {suggestion.quantile:.0%} within "
                 f"{suggestion.sleep_after} days -> sleep_after = {suggestion.sleep_after}")
    _label(ax, title=title, xlabel="days between two order days of a customer",
           ylabel="share of repurchase gaps (%)")
    ax.legend(fontsize=8)
    return ax
