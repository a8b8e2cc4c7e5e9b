"""Plot of a churn backtest: predicted vs actual holdout orders by decile."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from crm_analytics._core.errors import CrmDataError
from crm_analytics.churn.backtest import BacktestResult

__all__ = ["plot_backtest_calibration"]


def plot_backtest_calibration(
    result: BacktestResult,
    *,
    ax: Axes | None = None,
    names: list[str] | None = None,
    **kw: object,
) -> Axes:
    """Mean predicted vs mean actual holdout orders per decile, one line per model or rule.

    Customers are put in ten groups by predicted orders
    (:attr:`~crm_analytics.churn.backtest.BacktestResult.calibration`); a well
    calibrated model lies on the diagonal. Models are drawn solid, rules dashed; the
    legend gives each one's AUC.

    Parameters
    ----------
    result : BacktestResult
        From :func:`~crm_analytics.churn.backtest.backtest_churn`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made if omitted.
    names : list of str, optional
        Models and rules to draw (default all).
    **kw
        Passed to :meth:`~matplotlib.axes.Axes.plot` for every line.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from crm_analytics.churn.backtest import backtest_churn
    >>> from crm_analytics.orders.datasets import load_sample
    >>> bt = backtest_churn(load_sample(), calibration_end="2025-10-01", models=("mbgnbd",))
    >>> ax = plot_backtest_calibration(bt)
    >>> ax.get_xlabel()
    'predicted orders per customer (decile mean)'
    """
    if not isinstance(result, BacktestResult):
        raise CrmDataError("plot_backtest_calibration needs a BacktestResult from "
                           f"backtest_churn(); got {type(result).__name__}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.0, 5.0))
    table = result.table.set_index("name")
    cal = result.calibration
    names = list(table.index) if names is None else list(names)
    top = 0.0
    for name in names:
        rows = cal[cal["name"] == name]
        if rows.empty:
            continue
        kind = table.loc[name, "kind"] if name in table.index else "rule"
        auc = table.loc[name, "auc"] if name in table.index else np.nan
        ax.plot(rows["predicted_mean"], rows["actual_mean"], marker="o", markersize=3,
                linestyle="-" if kind == "model" else "--",
                label=f"{name} ({kind}, AUC {auc:.2f})", **kw)
        top = max(top, float(rows[["predicted_mean", "actual_mean"]].to_numpy().max()))
    ax.plot([0, top], [0, top], color="grey", linewidth=0.8, label="perfect calibration")
    ax.set_xlabel("predicted orders per customer (decile mean)")
    ax.set_ylabel("actual orders per customer (decile mean)")
    ax.set_title(f"Holdout {result.calibration_end.date()} to {result.holdout_end.date()} "
                 f"({result.holdout_days} days)")
    ax.legend(fontsize="small")
    return ax
