"""Plots of the churn model: P(alive) heatmap and holdout validation."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from crm_analytics._core.errors import CrmDataError
from crm_analytics.churn import MODELS, ChurnModel, HoldoutReport

__all__ = [
    "plot_frequency_recency_alive",
    "plot_holdout_by_frequency",
    "plot_cumulative_tracking",
]

_UNIT_NAMES = {"D": "days", "W": "weeks"}


def _axes(ax: Axes | None, figsize: tuple[float, float] = (7.0, 4.5)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _report(obj: object, name: str) -> HoldoutReport:
    if not isinstance(obj, HoldoutReport):
        raise CrmDataError(
            f"{name} needs a HoldoutReport from churn_holdout_report(); got "
            f"{type(obj).__name__}."
        )
    return obj


def plot_frequency_recency_alive(
    model: ChurnModel | HoldoutReport,
    *,
    ax: Axes | None = None,
    max_frequency: int | None = None,
    T: float | None = None,
    cmap: str = "viridis",
    **kw: object,
) -> Axes:
    """Heatmap of P(alive) by frequency (rows) and recency (columns) for one customer age.

    Parameters
    ----------
    model : ChurnModel or HoldoutReport
        A fitted model (for a report, its calibration model).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made if omitted.
    max_frequency : int, optional
        Largest frequency shown (default 20).
    T : float, optional
        Customer age in the model's time unit (default: the longest in the data).
    cmap : str, default "viridis"
    **kw
        Passed to :meth:`~matplotlib.axes.Axes.pcolormesh`.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from crm_analytics import customer_summary, load_cdnow
    >>> from crm_analytics.churn import fit_churn_model
    >>> summary = customer_summary(load_cdnow(), as_of="1997-09-30", time_unit="W")
    >>> ax = plot_frequency_recency_alive(fit_churn_model(summary), max_frequency=10)
    >>> ax.get_xlabel()
    'recency: time from first to last purchase (weeks)'
    """
    if isinstance(model, HoldoutReport):
        model = model.model
    if not isinstance(model, ChurnModel):
        raise CrmDataError(
            "plot_frequency_recency_alive needs a ChurnModel from fit_churn_model() or a "
            f"HoldoutReport; got {type(model).__name__}."
        )
    grid = model.p_alive_matrix(max_frequency=max_frequency, T=T)
    ax = _axes(ax, (7.0, 5.0))
    rec = grid.columns.to_numpy(dtype=float)
    step = rec[1] - rec[0] if len(rec) > 1 else 1.0
    x_edges = np.append(rec - step / 2, rec[-1] + step / 2).clip(min=0)
    freq = grid.index.to_numpy()
    y_edges = np.append(freq - 0.5, freq[-1] + 0.5)
    mesh = ax.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(grid.to_numpy()),
                         cmap=cmap, vmin=0.0, vmax=1.0, **kw)
    ax.figure.colorbar(mesh, ax=ax, label="P(alive)")
    unit = _UNIT_NAMES[model.time_unit]
    age = rec[-1]
    ax.set_xlabel(f"recency: time from first to last purchase ({unit})")
    ax.set_ylabel("frequency (repeat purchases)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{MODELS[model.model]} P(alive) for customers aged {age:.0f} {unit}")
    return ax


def plot_holdout_by_frequency(
    report: HoldoutReport, *, ax: Axes | None = None, **kw: object
) -> Axes:
    """Mean actual vs predicted holdout orders by calibration-period frequency.

    Parameters
    ----------
    report : HoldoutReport
        From :func:`~crm_analytics.churn.churn_holdout_report`.
    ax : matplotlib.axes.Axes, optional
    **kw
        Passed to :meth:`~matplotlib.axes.Axes.plot` for both lines.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from crm_analytics import load_cdnow
    >>> from crm_analytics.churn import churn_holdout_report
    >>> report = churn_holdout_report(load_cdnow(), calibration_end="1997-09-30",
    ...                               holdout_end="1998-06-30")
    >>> [t.get_text() for t in plot_holdout_by_frequency(report).get_xticklabels()][-1]
    '7+'
    """
    report = _report(report, "plot_holdout_by_frequency")
    table = report.by_frequency
    ax = _axes(ax)
    x = np.arange(len(table))
    ax.plot(x, table["actual_mean"], marker="o", label="actual", **kw)
    ax.plot(x, table["predicted_mean"], marker="s", linestyle="--",
            label=f"predicted ({MODELS[report.model.model]})", **kw)
    ax.set_xticks(x, table["frequency"])
    days = (report.holdout_end - report.calibration_end).days
    ax.set_xlabel("repeat purchases in the calibration period (count)")
    ax.set_ylabel("holdout repeat purchases per customer (mean)")
    ax.set_title(f"Repeat purchases in the {days}-day holdout, by calibration frequency")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_cumulative_tracking(
    report: HoldoutReport, *, ax: Axes | None = None, **kw: object
) -> Axes:
    """Weekly cumulative repeat purchases, actual vs model, across calibration and holdout.

    Parameters
    ----------
    report : HoldoutReport
        From :func:`~crm_analytics.churn.churn_holdout_report`.
    ax : matplotlib.axes.Axes, optional
    **kw
        Passed to :meth:`~matplotlib.axes.Axes.plot` for both lines.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from crm_analytics import load_cdnow
    >>> from crm_analytics.churn import churn_holdout_report
    >>> report = churn_holdout_report(load_cdnow(), calibration_end="1997-09-30",
    ...                               holdout_end="1998-06-30")
    >>> plot_cumulative_tracking(report).get_ylabel()
    'cumulative repeat purchases (count)'
    """
    report = _report(report, "plot_cumulative_tracking")
    track = report.tracking
    ax = _axes(ax)
    ax.plot(track["date"], track["actual_cumulative"], label="actual", **kw)
    ax.plot(track["date"], track["predicted_cumulative"], linestyle="--",
            label=f"predicted ({MODELS[report.model.model]})", **kw)
    ax.axvline(report.calibration_end, color="grey", linestyle=":", linewidth=1)
    ax.annotate("end of calibration", xy=(report.calibration_end, 0.98),
                xycoords=("data", "axes fraction"), ha="right", va="top", fontsize=8,
                color="grey", rotation=90)
    ax.set_xlabel("week ending (date)")
    ax.set_ylabel("cumulative repeat purchases (count)")
    ax.set_title("Cumulative repeat purchases of the calibration customers")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    ax.figure.autofmt_xdate()
    return ax
