"""Uplift plots: the Qini curve of a targeting model against random targeting."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from crm_analytics._core.errors import CrmDataError
from crm_analytics.uplift.evaluate import QiniResult, qini

__all__ = ["plot_qini"]

_UNITS = {"margin": "incremental margin", "revenue": "incremental revenue",
          "conversion": "incremental buyers"}


def plot_qini(result: object, *, ax: Axes | None = None, metric: str | None = None) -> Axes:
    """Qini curve (incremental outcome in the top fraction) against random targeting.

    Parameters
    ----------
    result : QiniResult, UpliftModel or scored table
        A :func:`~crm_analytics.uplift.qini` result, a fitted model (its out-of-fold
        check), or a table accepted by :func:`~crm_analytics.uplift.qini`.
    ax : matplotlib Axes, optional
    metric : str, optional
        Label of the outcome (taken from the model when given one).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> t = rng.random(2000) < 0.5
    >>> s = rng.random(2000)
    >>> table = pd.DataFrame({"uplift": s, "outcome": rng.random(2000) + t * (s > 0.5),
    ...                       "group": np.where(t, "treatment", "control")})
    >>> ax = plot_qini(table)
    >>> ax.get_xlabel()
    'share of members contacted (highest predicted uplift first)'
    """
    metric = metric or getattr(result, "metric", None)
    check = getattr(result, "qini", None)
    if isinstance(check, QiniResult):
        result = check
    if not isinstance(result, QiniResult):
        try:
            result = qini(result, n_boot=50)
        except CrmDataError:
            raise
    curve = result.curve
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    x = curve["fraction"].to_numpy()
    ax.plot(x, curve["qini"], color="C0", lw=2, label="model ranking")
    ax.plot(x, curve["random"], color="grey", ls="--", lw=1.2, label="random targeting")
    ax.fill_between(x, curve["random"], curve["qini"], color="C0", alpha=0.12)
    best = int(np.nanargmax(curve["qini"].to_numpy()))
    ax.scatter([x[best]], [curve["qini"].iloc[best]], color="C0", zorder=3)
    ax.annotate(f"peak at {x[best]:.0%}", (x[best], curve["qini"].iloc[best]),
                textcoords="offset points", xytext=(6, 6), fontsize=9)
    ax.axhline(0, color="black", lw=0.6)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("share of members contacted (highest predicted uplift first)")
    ax.set_ylabel(_UNITS.get(metric or "", "incremental outcome"))
    level = round(result.confidence_level * 100)
    ax.set_title(f"Qini coefficient {result.coefficient:.3g} "
                 f"({level}% CI {result.ci_low:.3g} to {result.ci_high:.3g})", fontsize=10)
    ax.legend(frameon=False, loc="best")
    return ax
