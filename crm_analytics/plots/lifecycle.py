"""Lifecycle plots: stages over time, transitions, the KPI board, repurchase by level.

Each takes a table of :mod:`crm_analytics.membership` (or of
:func:`crm_analytics.cohorts.repurchase_rate` with ``by=``), draws on ``ax`` (a new
figure when None) and returns it. Nothing is computed here beyond reshaping.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from crm_analytics._core.checks import require_columns, require_dataframe
from crm_analytics._core.errors import CrmDataError
from crm_analytics.membership.rules import STAGES
from crm_analytics.plots._fonts import font_family

__all__ = ["STAGE_COLOURS", "plot_kpi_board", "plot_lifecycle", "plot_lifecycle_flow",
           "plot_repurchase_by"]

#: One colour per stage: greens for active, blue for new, greys for sleeping/lost.
STAGE_COLOURS = {
    "new": "#4c72b0", "won_back": "#8172b2", "repeat_active": "#2ca02c",
    "one_time_active": "#98df8a", "sleeping": "#bbbbbb", "lost": "#777777",
}
_STAGE_LABELS = {
    "new": "new", "won_back": "won back", "repeat_active": "repeat active",
    "one_time_active": "one-time active", "sleeping": "sleeping", "lost": "lost",
}


def _new_ax(ax: Axes | None, size=(9, 4.5)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_lifecycle(counts: pd.DataFrame, *, share: bool = False, ax: Axes | None = None
                   ) -> Axes:
    """Stacked areas of customers per lifecycle stage over the periods.

    Parameters
    ----------
    counts : pandas.DataFrame
        :func:`crm_analytics.membership.lifecycle_counts` (``period``, ``stage``,
        ``customers``, ``share``).
    share : bool, default False
        Draw shares of the period's customers instead of counts.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    require_dataframe(counts, "counts")
    require_columns(counts, ["period", "stage", "customers"], "lifecycle counts")
    value = "share" if share else "customers"
    wide = counts.pivot_table(index="period", columns="stage", values=value,
                              aggfunc="sum", observed=False).reindex(columns=list(STAGES))
    wide = wide.fillna(0.0)
    ax = _new_ax(ax)
    ax.stackplot(wide.index, *(wide[s].to_numpy() for s in STAGES),
                 labels=[_STAGE_LABELS[s] for s in STAGES],
                 colors=[STAGE_COLOURS[s] for s in STAGES], alpha=0.9)
    ax.set_xlabel("Period")
    ax.set_ylabel("Share of customers (%)" if share else "Customers (count)")
    if share:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title("Customers by lifecycle stage")
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    ax.margins(x=0)
    return ax


def plot_lifecycle_flow(flow: pd.DataFrame, *, period: object = None,
                        ax: Axes | None = None) -> Axes:
    """Transition matrix (from stage x to stage) as a shaded grid with counts.

    Parameters
    ----------
    flow : pandas.DataFrame
        :func:`crm_analytics.membership.lifecycle_flow`.
    period : date-like, optional
        The later period of the transitions shown; default all periods summed.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    require_dataframe(flow, "flow")
    require_columns(flow, ["period", "from_stage", "to_stage", "customers"], "lifecycle flow")
    part = flow
    if period is not None:
        part = flow[flow["period"] == pd.Timestamp(period)]
        if part.empty:
            raise CrmDataError(f"No transitions into period {period} in the flow table.")
    rows = [*STAGES, "none"]
    grid = (part.pivot_table(index="from_stage", columns="to_stage", values="customers",
                             aggfunc="sum").reindex(index=rows, columns=list(STAGES))
            .fillna(0.0))
    grid = grid[(grid.sum(axis=1) > 0).to_numpy()]
    ax = _new_ax(ax, (7, 5))
    values = grid.to_numpy()
    ax.imshow(values, cmap="Blues", aspect="auto")
    ax.set_xticks(range(len(STAGES)), [_STAGE_LABELS[s] for s in STAGES], rotation=30,
                  ha="right")
    ax.set_yticks(range(len(grid)), [_STAGE_LABELS.get(s, "(first period)")
                                     for s in grid.index])
    top = values.max() if values.size else 0
    for (i, j), v in np.ndenumerate(values):
        if v:
            ax.text(j, i, f"{int(v):,}", ha="center", va="center", fontsize=8,
                    color="white" if v > top / 2 else "black")
    ax.set_xlabel("Stage in the period")
    ax.set_ylabel("Stage in the period before")
    when = "all periods" if period is None else pd.Timestamp(period).strftime("%Y-%m-%d")
    ax.set_title(f"Lifecycle transitions (customers, {when})")
    return ax


def _period_labels(periods: pd.Series, period: str | None) -> pd.Series:
    """``2024 Q1`` for quarters, ``2024`` for years, ``2024-01`` for months, ``2024-01-08``
    for weeks; the period is inferred from the spacing when not given."""
    start = pd.to_datetime(periods)
    if period is None:
        days = start.diff().dt.days.median() if len(start) > 1 else 31
        period = "W" if days < 20 else "M" if days < 60 else "Q" if days < 200 else "Y"
    if period == "Q":
        return start.dt.year.astype(str) + " Q" + start.dt.quarter.astype(str)
    if period == "Y":
        return start.dt.year.astype(str)
    return start.dt.strftime("%Y-%m-%d" if period == "W" else "%Y-%m")


def plot_kpi_board(board: pd.DataFrame, *, column: str = "revenue",
                   ax: Axes | None = None, period: str | None = None) -> Axes:
    """One KPI of :func:`crm_analytics.membership.kpi_board` per period, as bars.

    Incomplete periods (``complete`` False) are drawn hatched. Rates and shares are
    shown as percentages. ``period`` (``"W"``, ``"M"``, ``"Q"``, ``"Y"``) sets the tick
    labels (``2024 Q1`` for quarters); by default it is inferred from the periods.

    Returns
    -------
    matplotlib.axes.Axes
    """
    require_dataframe(board, "board")
    require_columns(board, ["period", column], "KPI board")
    ax = _new_ax(ax)
    x = np.arange(len(board))
    complete = board["complete"].to_numpy() if "complete" in board else np.ones(len(x), bool)
    bars = ax.bar(x, board[column].to_numpy(dtype=float), color="#4c72b0")
    for bar, done in zip(bars, complete, strict=False):
        if not done:
            bar.set_hatch("//")
            bar.set_alpha(0.5)
    labels = _period_labels(board["period"], period)
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    pct = column.endswith("rate") or column.endswith("share")
    if pct:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel(column.replace("_", " ") + (" (%)" if pct else ""))
    ax.set_title(f"KPI board: {column.replace('_', ' ')} by period")
    return ax


def plot_repurchase_by(table: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Repurchase rate per level of a dimension, as horizontal bars with customer counts.

    Parameters
    ----------
    table : pandas.DataFrame
        ``repurchase_rate(orders, by=...)``: the level column first, then ``rate`` and
        ``n_customers``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    require_dataframe(table, "table")
    require_columns(table, ["rate", "n_customers"], "repurchase table")
    name = table.columns[0]
    ax = _new_ax(ax, (7, 0.45 * len(table) + 1.5))
    y = np.arange(len(table))[::-1]
    ax.barh(y, table["rate"].to_numpy(dtype=float), color="#2ca02c")
    ax.set_yticks(y, table[name].astype(str), fontfamily=font_family())
    for yi, rate, n in zip(y, table["rate"], table["n_customers"], strict=False):
        ax.text(rate, yi, f" {rate:.0%} of {int(n):,}", va="center", fontsize=8)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("Repurchase rate (% of customers)")
    ax.set_title(f"Repurchase by {str(name).replace('_', ' ')}")
    ax.set_xlim(0, max(1e-9, float(table["rate"].max())) * 1.25)
    return ax
