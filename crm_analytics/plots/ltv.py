"""Plots of customer lifetime value: distribution and value by segment or cohort."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from crm_analytics._core.checks import require_columns, require_dataframe
from crm_analytics._core.errors import CrmDataError
from crm_analytics.plots._fonts import font_family, needs_cjk

__all__ = ["plot_ltv_distribution", "plot_ltv_by_group"]



_PERIOD_NAMES = {"D": "day", "W": "week", "M": "month", "ME": "month", "Q": "quarter",
                 "QE": "quarter", "Y": "year", "YE": "year"}


_cjk_family = font_family
_needs_cjk = needs_cjk


def _axes(ax: Axes | None) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=(7.0, 4.5))
    return ax


def _basis(ltv: pd.DataFrame) -> str:
    basis = ltv.attrs.get("ltv_basis")
    months = ltv.attrs.get("horizon_months")
    parts = [f"{basis}" if basis else None, f"{months} months" if months else None,
             "discounted" if "monthly_discount_rate" in ltv.attrs else None]
    inner = ", ".join(p for p in parts if p)
    return f" ({inner})" if inner else ""


def plot_ltv_distribution(
    ltv: pd.DataFrame,
    *,
    ax: Axes | None = None,
    column: str = "ltv",
    bins: int = 50,
    log_scale: bool = False,
    currency: str = "",
    **kw: object,
) -> Axes:
    """Histogram of customer lifetime values, with mean and median marked.

    Parameters
    ----------
    ltv : pandas.DataFrame
        From :func:`~crm_analytics.ltv.predict_ltv` or
        :func:`~crm_analytics.ltv.formula_ltv`.
    ax : matplotlib.axes.Axes, optional
    column : str, default "ltv"
        Value column.
    bins : int, default 50
    log_scale : bool, default False
        Log-spaced bins and a log x axis (LTV is usually very skewed); values <= 0 are
        left out of the histogram and counted in the title.
    currency : str, default ""
        Money unit for the axis label, e.g. "yuan" or "USD".
    **kw
        Passed to :meth:`~matplotlib.axes.Axes.hist`.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> ltv = pd.DataFrame({"customer_id": ["a", "b", "c"], "ltv": [10.0, 25.0, 400.0]})
    >>> plot_ltv_distribution(ltv, log_scale=True, currency="yuan").get_xlabel()
    'ltv (yuan)'
    """
    require_dataframe(ltv, "ltv")
    require_columns(ltv, [column], "ltv")
    values = pd.to_numeric(ltv[column], errors="coerce").dropna().to_numpy(dtype=float)
    if len(values) == 0:
        raise CrmDataError(f"Column {column!r} of ltv has no numeric values to plot.")
    ax = _axes(ax)
    title = f"Distribution of {column}{_basis(ltv)}, {len(values)} customers"
    if log_scale:
        positive = values[values > 0]
        if len(positive) == 0:
            raise CrmDataError(f"log_scale=True needs positive {column!r} values; none are.")
        # near-zero values (long-lost customers) would stretch the axis over decades:
        # those under the 0.5% quantile are drawn in the first bin
        low = max(positive.min(), float(np.quantile(positive, 0.005)))
        high = max(positive.max(), low * 10)
        edges = np.geomspace(low, high, bins + 1)
        ax.hist(np.clip(positive, low, high), bins=edges, **kw)
        ax.set_xscale("log")
        notes = []
        if (positive < low).any():
            notes.append(f"{int((positive < low).sum())} below {low:.3g} in the first bin")
        if len(positive) < len(values):
            notes.append(f"{len(values) - len(positive)} <= 0 not shown")
        if notes:
            title += "\n(" + "; ".join(notes) + ")"
    else:
        ax.hist(values, bins=bins, **kw)
    unit = f" ({currency})" if currency else " (money)"
    for stat, value, style in (("mean", values.mean(), "--"),
                               ("median", np.median(values), ":")):
        ax.axvline(value, color="black", linestyle=style, linewidth=1,
                   label=f"{stat} {value:,.2f}")
    ax.set_xlabel(f"{column}{unit}")
    ax.set_ylabel("customers (count)")
    ax.set_title(title)
    ax.legend()
    return ax


def plot_ltv_by_group(
    ltv: pd.DataFrame,
    *,
    by: str | pd.Series,
    ax: Axes | None = None,
    column: str = "ltv",
    statistic: str = "mean",
    cohort_freq: str = "M",
    currency: str = "",
    **kw: object,
) -> Axes:
    """Bar chart of LTV by segment or cohort (mean or total per group).

    Parameters
    ----------
    ltv : pandas.DataFrame
        Per-customer LTV with ``customer_id`` (e.g. from
        :func:`~crm_analytics.ltv.predict_ltv`, merged with segment columns).
    by : str or pandas.Series
        A column of ``ltv``, or a Series mapping ``customer_id`` (its index) to a group,
        e.g. a segment label. A datetime column (such as ``first_order``) is grouped into
        cohorts of ``cohort_freq`` periods. Customers without a group are shown as
        "(none)". A categorical keeps its category order; other groups are sorted.
    ax : matplotlib.axes.Axes, optional
    column : str, default "ltv"
    statistic : {"mean", "median", "sum"}, default "mean"
        Value per group; the group's customer count is written on each bar.
    cohort_freq : str, default "M"
        Period of cohorts when ``by`` is a date column ("M" month, "Q" quarter, ...).
    currency : str, default ""
        Money unit for the axis label.
    **kw
        Passed to :meth:`~matplotlib.axes.Axes.bar`.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> ltv = pd.DataFrame({"customer_id": ["a", "b", "c"], "ltv": [10.0, 30.0, 400.0],
    ...                     "segment": ["new", "new", "loyal"]})
    >>> ax = plot_ltv_by_group(ltv, by="segment", currency="yuan")
    >>> [t.get_text() for t in ax.get_xticklabels()], [float(p.get_height()) for p in ax.patches]
    (['loyal', 'new'], [400.0, 20.0])
    """
    require_dataframe(ltv, "ltv")
    require_columns(ltv, ["customer_id", column], "ltv")
    if statistic not in ("mean", "median", "sum"):
        raise CrmDataError(
            f"The 'statistic' parameter must be 'mean', 'median' or 'sum'. Got {statistic!r}."
        )
    if isinstance(by, pd.Series):
        groups = ltv["customer_id"].map(by)
        label = by.name or "group"
    else:
        require_columns(ltv, [by], "ltv")
        groups = ltv[by]
        label = by
    if isinstance(groups.dtype, pd.CategoricalDtype):
        order = [str(c) for c in groups.cat.categories]
    else:
        order = None
    if pd.api.types.is_datetime64_any_dtype(groups):
        groups = groups.dt.to_period(cohort_freq).astype(str)
        period = _PERIOD_NAMES.get(cohort_freq.upper(), cohort_freq)
        label = f"{label} cohort (by {period})"
    groups = groups.astype(object).where(groups.notna(), "(none)").astype(str)
    table = (
        pd.DataFrame({"group": groups.to_numpy(), "value": ltv[column].to_numpy(dtype=float)})
        .groupby("group", sort=True)["value"]
        .agg([statistic, "size"])
    )
    if order is not None:  # keep a categorical's own order (e.g. member tiers)
        table = table.reindex([g for g in [*order, "(none)"] if g in table.index])
    ax = _axes(ax)
    x = np.arange(len(table))
    bars = ax.bar(x, table[statistic].to_numpy(), **kw)
    ax.set_xticks(x, table.index.tolist())
    family = _cjk_family()
    for text in ax.get_xticklabels():
        if _needs_cjk(text.get_text()):
            text.set_fontfamily(family)
    if len(table) > 6:
        ax.tick_params(axis="x", labelrotation=45)
    if len(table) <= 12:
        ax.bar_label(bars, labels=[f"n={n}" for n in table["size"]], fontsize=8)
    unit = f" ({currency})" if currency else " (money)"
    ax.set_ylabel(f"{statistic} {column} per customer{unit}" if statistic != "sum"
                  else f"total {column}{unit}")
    xlabel = ax.set_xlabel(str(label))
    if _needs_cjk(str(label)):
        xlabel.set_fontfamily(family)
    ax.set_title(f"{column}{_basis(ltv)} by {label}")
    if _needs_cjk(f"{label}"):
        ax.title.set_fontfamily(family)
    ax.margins(y=0.12)
    return ax
