"""Overview charts for the report: churn-risk distribution and member status."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes

from crm_analytics._core.checks import require_columns
from crm_analytics.churn import RISK_LEVELS
from crm_analytics.sleeping.rules import STATUSES

__all__ = ["plot_churn_risk", "plot_member_status"]

_RISK_ORDER = list(RISK_LEVELS)
_RISK_COLORS = {"low": "#4c9f70", "medium": "#e0a030", "high": "#c8553d"}
_STATUS_ORDER = list(STATUSES)


def _bars(ax: Axes, counts: pd.Series, colors: list[str]) -> None:
    total = counts.sum()
    bars = ax.bar(counts.index.astype(str), counts.to_numpy(), color=colors)
    for bar, n in zip(bars, counts.to_numpy(), strict=True):
        share = n / total if total else 0.0
        ax.annotate(f"{n:,}\n{share:.0%}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("customers")
    ax.margins(y=0.2)


def _level_counts(table: pd.DataFrame | pd.Series, col: str, order: list[str],
                  what: str) -> pd.Series:
    """Customers per level: counted from ``table[col]``, or ``table`` already holds the
    counts (a Series indexed by level, e.g. from a GROUP BY in an engine)."""
    if isinstance(table, pd.Series):
        return table.reindex(order, fill_value=0).astype("int64")
    require_columns(table, [col], what)
    return table[col].astype(str).value_counts().reindex(order, fill_value=0)


def plot_churn_risk(scores: pd.DataFrame | pd.Series, *, ax: Axes | None = None) -> Axes:
    """Bar chart of customers by churn risk (low / medium / high) from ``churn_scores``.

    ``scores`` may also be the counts per level (a Series indexed by level).

    Examples
    --------
    >>> import pandas as pd
    >>> ax = plot_churn_risk(pd.DataFrame({"churn_risk": ["low", "high", "low"]}))
    >>> ax.get_ylabel()
    'customers'
    """
    counts = _level_counts(scores, "churn_risk", _RISK_ORDER, "the churn score table")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    _bars(ax, counts, [_RISK_COLORS[r] for r in _RISK_ORDER])
    ax.set_xlabel("churn risk (from P(alive))")
    ax.set_title("Customers by churn risk")
    return ax


def plot_member_status(status: pd.DataFrame | pd.Series, *, ax: Axes | None = None,
                       pre_sleep_in_active: bool = False,
                       sleep_after: int | None = None) -> Axes:
    """Bar chart of members by status (active / pre_sleep / sleeping / given_up).

    ``status`` may also be the counts per status (a Series indexed by status).

    Parameters
    ----------
    status : pandas.DataFrame or pandas.Series
        :func:`crm_analytics.sleeping.member_status` output, or counts per status.
    ax : matplotlib.axes.Axes, optional
    pre_sleep_in_active : bool, default False
        Draw one "active" bar for every member who ordered within ``sleep_after`` days,
        with its pre-sleep part (about to sleep) hatched inside it, so the bar shows
        the same active count as a headline that counts pre-sleep members as active.
    sleep_after : int, optional
        For the labels ("ordered within 90 days").

    Examples
    --------
    >>> import pandas as pd
    >>> ax = plot_member_status(pd.DataFrame({"status": ["active", "sleeping"]}))
    >>> ax.get_xlabel()
    'member status'
    >>> counts = pd.Series({"active": 3, "pre_sleep": 1, "sleeping": 2, "given_up": 0})
    >>> ax = plot_member_status(counts, pre_sleep_in_active=True, sleep_after=90)
    >>> [t.get_text() for t in ax.get_xticklabels()][0]
    'active\\n(ordered within 90 days)'
    """
    counts = _level_counts(status, "status", _STATUS_ORDER, "the member status table")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.5), layout="constrained")
    if not pre_sleep_in_active:
        _bars(ax, counts, ["#4c9f70", "#e0a030", "#7a8ca5", "#999999"])
    else:
        within = f"ordered within {sleep_after} days" if sleep_after else "not sleeping"
        merged = pd.Series({f"active\n({within})": counts["active"] + counts["pre_sleep"],
                            "sleeping": counts["sleeping"], "given_up": counts["given_up"]})
        _bars(ax, merged, ["#4c9f70", "#7a8ca5", "#999999"])
        pre = int(counts["pre_sleep"])
        if pre:
            ax.bar([merged.index[0]], [pre], bottom=[int(counts["active"])],
                   color="#e0a030", hatch="//", edgecolor="white",
                   label=f"of which pre-sleep ({pre:,}, about to sleep)")
            ax.legend(fontsize=8, loc="upper left", frameon=False)
    ax.set_xlabel("member status")
    ax.set_title("Members by status")
    return ax
