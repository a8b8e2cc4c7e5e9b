"""Plots of payment reminders (催付) and replenishment (追销).

Each function draws on ``ax`` (a new figure when None) and returns it; nothing global
is changed. Text artists get a CJK-capable font family list so Chinese product names
render when such a font is installed.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from crm_analytics._core.checks import require_dataframe
from crm_analytics._core.errors import CrmDataError
from crm_analytics.plots._fonts import font_family

__all__ = ["plot_payment_timing", "plot_repurchase_cycles"]

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _label(ax: Axes, *, title: str | None, xlabel: str, ylabel: str) -> None:
    family = font_family()
    ax.set_xlabel(xlabel, fontfamily=family)
    ax.set_ylabel(ylabel, fontfamily=family)
    if title:
        ax.set_title(title, fontfamily=family)


def plot_payment_timing(timing: object, *, ax: Axes | None = None,
                        title: str | None = "When created orders get paid") -> Axes:
    """Share of created orders paid within each window, per hour (or weekday) of creation.

    One line per ``paid_within_<window>`` column and the eventual ``paid_share``
    (dashed); bars of created orders on a second axis. The gap between the 2 h line and
    the eventual share is what a reminder after 2 hours can still win.

    Parameters
    ----------
    timing : PaymentTiming or pandas.DataFrame
        :func:`crm_analytics.payment_timing` or its ``.table``.
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
        The axes with the shares (the created-orders bars are on its twin).

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"hour": range(24), "created": 10, "paid_share": 0.9,
    ...                       "paid_within_2h": 0.6})
    >>> ax = plot_payment_timing(table)
    >>> ax.get_ylabel()
    'share of created orders'
    """
    table = getattr(timing, "table", timing)
    table = require_dataframe(table, "The table")
    key = "hour" if "hour" in table.columns else "weekday" if "weekday" in table.columns \
        else None
    windows = [c for c in table.columns if c.startswith("paid_within_")]
    if key is None or "paid_share" not in table.columns or not windows:
        raise CrmDataError(
            "plot_payment_timing needs the output of payment_timing (columns hour or "
            f"weekday, paid_share, paid_within_...); got {list(map(str, table.columns))}."
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.5))
    x = table[key].to_numpy()
    if "created" in table.columns:
        twin = ax.twinx()
        twin.bar(x, table["created"].to_numpy(), color="0.85", width=0.8, zorder=0)
        twin.set_ylabel("orders created", fontfamily=font_family())
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
    colors = plt.cm.viridis(np.linspace(0.1, 0.85, len(windows)))
    for col, color in zip(windows, colors, strict=True):
        ax.plot(x, table[col].to_numpy(), marker="o", ms=3, color=color,
                label=f"paid within {col.removeprefix('paid_within_')}")
    ax.plot(x, table["paid_share"].to_numpy(), ls="--", color="black", label="paid at all")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1.02)
    if key == "weekday":
        ax.set_xticks(range(7), _WEEKDAYS)
    else:
        ax.set_xticks(range(0, 24, 2))
    ax.legend(loc="lower right", fontsize=8)
    _label(ax, title=title, xlabel="hour the order was created" if key == "hour"
           else "weekday the order was created", ylabel="share of created orders")
    return ax


def plot_repurchase_cycles(cycles: object, *, ax: Axes | None = None, top: int = 20,
                           title: str | None = "Repurchase cycle per unit") -> Axes:
    """Each product's cycle per unit (median, with the quartiles as a bar).

    Products without a cycle (too few repeat purchases) are left out.

    Parameters
    ----------
    cycles : RepurchaseCycles or pandas.DataFrame
        :func:`crm_analytics.repurchase_cycles` or its ``.table``.
    ax : matplotlib Axes, optional
    top : int, default 20
        Show the products with the most repeat purchases.
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"product": ["tea", "formula"], "repeat_purchases": [90, 40],
    ...                   "cycle_days_per_unit": [30.0, 10.0], "cycle_q25": [25.0, 8.0],
    ...                   "cycle_q75": [35.0, 12.0]})
    >>> plot_repurchase_cycles(t).get_xlabel()
    'days per unit (median; bar: quartiles)'
    """
    table = getattr(cycles, "table", cycles)
    table = require_dataframe(table, "The table")
    key = "product" if "product" in table.columns else "category" \
        if "category" in table.columns else None
    need = {"cycle_days_per_unit", "cycle_q25", "cycle_q75"}
    if key is None or not need <= set(table.columns):
        raise CrmDataError(
            "plot_repurchase_cycles needs the output of repurchase_cycles (columns product "
            f"or category, {sorted(need)}); got {list(map(str, table.columns))}."
        )
    t = table.dropna(subset=["cycle_days_per_unit"]).head(top).iloc[::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.35 * max(len(t), 3) + 1.2))
    y = np.arange(len(t))
    ax.hlines(y, t["cycle_q25"], t["cycle_q75"], color="tab:blue", lw=6, alpha=0.35)
    ax.plot(t["cycle_days_per_unit"], y, "o", color="tab:blue")
    ax.set_yticks(y, [str(v) for v in t[key]], fontfamily=font_family())
    _label(ax, title=title, xlabel="days per unit (median; bar: quartiles)", ylabel="")
    if pd.Series(t["cycle_q75"]).notna().any():
        ax.set_xlim(0, float(np.nanmax(t["cycle_q75"])) * 1.1)
    return ax
