"""Plots of customer lifetime value: distribution and value by segment or cohort."""

from __future__ import annotations

import re

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


def _basis(ltv: pd.DataFrame, basis: str | None, horizon_months: int | None,
           discounted: bool | None) -> str:
    """The title's "(basis, N months, discounted)": keywords first, else the columns.

    A :func:`~crm_analytics.ltv.predict_ltv` table is on margin when its
    ``expected_margin`` has values, else on revenue, and is discounted; a
    :func:`~crm_analytics.ltv.formula_ltv` table (``margin_per_order``) is on margin and
    undiscounted; a column ``expected_orders_<N>m`` (as in the report) gives the horizon.
    """
    if basis is None:
        if "expected_margin" in ltv.columns:
            basis = "margin" if ltv["expected_margin"].notna().any() else "revenue"
        elif "margin_per_order" in ltv.columns:
            basis = "margin"
    if discounted is None:
        if "expected_spend_per_order" in ltv.columns:
            discounted = True
        elif "margin_per_order" in ltv.columns:
            discounted = False
    if horizon_months is None:
        found = [int(m.group(1)) for c in ltv.columns
                 if (m := re.fullmatch(r"expected_orders_(\d+)m", str(c)))]
        horizon_months = found[0] if len(found) == 1 else None
    parts = [basis or None, f"{horizon_months} months" if horizon_months else None,
             "discounted" if discounted else None]
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
    basis: str | None = None,
    horizon_months: int | None = None,
    discounted: bool | None = None,
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
        Money unit for the axis label, e.g. "pounds" or "USD" (no currency is assumed:
        "money" when empty).
    basis, horizon_months, discounted : optional
        What the values measure, for the title: "margin" or "revenue", the LTV horizon
        in months and whether it is discounted. Default: inferred from the table's
        columns where possible (``expected_margin`` of
        :func:`~crm_analytics.ltv.predict_ltv`, ``margin_per_order`` of
        :func:`~crm_analytics.ltv.formula_ltv`, an ``expected_orders_<N>m`` column), else
        left out of the title.
    **kw
        Passed to :meth:`~matplotlib.axes.Axes.hist`.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> ltv = pd.DataFrame({"customer_id": ["a", "b", "c"], "ltv": [10.0, 25.0, 400.0]})
    >>> plot_ltv_distribution(ltv, log_scale=True, currency="USD").get_xlabel()
    'ltv (USD)'
    """
    require_dataframe(ltv, "ltv")
    require_columns(ltv, [column], "ltv")
    values = pd.to_numeric(ltv[column], errors="coerce").dropna().to_numpy(dtype=float)
    if len(values) == 0:
        raise CrmDataError(f"Column {column!r} of ltv has no numeric values to plot.")
    ax = _axes(ax)
    title = (f"Distribution of {column}{_basis(ltv, basis, horizon_months, discounted)}, "
             f"{len(values)} customers")
    if log_scale:
        positive = values[values > 0]
        if len(positive) == 0:
            raise CrmDataError(f"log_scale=True needs positive {column!r} values; none are.")
        # near-zero values (long-lost customers) would stretch the axis over decades:
        # those under the 0.5% quantile are drawn in the first bin
        edges = ltv_log_bin_edges(positive.min(),
                                  float(np.quantile(positive, LOG_BINS_LOW_QUANTILE)),
                                  positive.max(), bins)
        low, high = float(edges[0]), float(edges[-1])
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
    basis: str | None = None,
    horizon_months: int | None = None,
    discounted: bool | None = None,
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
    basis, horizon_months, discounted : optional
        For the title, as in :func:`plot_ltv_distribution`.
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
    >>> ax = plot_ltv_by_group(ltv, by="segment", currency="USD")
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
    ax.set_title(f"{column}{_basis(ltv, basis, horizon_months, discounted)} by {label}")
    if _needs_cjk(f"{label}"):
        ax.title.set_fontfamily(family)
    ax.margins(y=0.12)
    return ax


# ------------------------------------------------------------------ binned input (report)
#: A log-scale LTV histogram starts at this quantile of the positive values (or at the
#: smallest one when larger): the few near-zero values of long-lost customers would
#: otherwise stretch the axis over decades. Values below it are drawn in the first bin.
LOG_BINS_LOW_QUANTILE = 0.005


def ltv_log_bin_edges(minimum: float, low_quantile: float, maximum: float,
                      bins: int = 50) -> np.ndarray:
    """Edges of a log-scale LTV histogram of positive values (``bins + 1`` of them).

    From ``max(minimum, low_quantile)`` (``low_quantile``: the
    :data:`LOG_BINS_LOW_QUANTILE` quantile of the positive values) to ``maximum``, and at
    least one decade wide. The engine report computes the three numbers in SQL, the
    pandas report in numpy; both use these edges.

    Examples
    --------
    >>> ltv_log_bin_edges(1.0, 2.0, 10.0, bins=2).round(3).tolist()
    [2.0, 6.325, 20.0]
    """
    low = max(float(minimum), float(low_quantile))
    high = max(float(maximum), low * 10)
    return np.geomspace(low, high, bins + 1)


def ltv_log_bins(ltv: pd.DataFrame, *, column: str = "ltv", bins: int = 50) -> pd.DataFrame:
    """Log-scale histogram bins of the positive values of ``ltv[column]``.

    Parameters
    ----------
    ltv : pandas.DataFrame
        Per-customer values, e.g. from :func:`~crm_analytics.ltv.predict_ltv`.
    column : str, default "ltv"
    bins : int, default 50

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``bin_low, bin_high, customers``, ``clipped`` (customers below
        the first edge, counted in the first bin) and ``not_shown`` (customers with a
        value <= 0), both repeated on every row; ``mean`` and ``median`` of all
        numeric values (positive or not), repeated too. Empty when no value is positive.
        :func:`plot_ltv_histogram` draws it.

    Examples
    --------
    >>> import pandas as pd
    >>> ltv = pd.DataFrame({"ltv": [0.0, 10.0, 25.0, 400.0]})
    >>> table = ltv_log_bins(ltv, bins=3)
    >>> table["customers"].tolist(), int(table["not_shown"].iloc[0])
    ([2, 0, 1], 1)
    """
    require_dataframe(ltv, "ltv")
    require_columns(ltv, [column], "ltv")
    values = pd.to_numeric(ltv[column], errors="coerce").dropna().to_numpy(dtype=float)
    positive = values[values > 0]
    columns = ["bin_low", "bin_high", "customers", "clipped", "not_shown", "mean", "median"]
    if len(positive) == 0:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    edges = ltv_log_bin_edges(positive.min(),
                              np.quantile(positive, LOG_BINS_LOW_QUANTILE),
                              positive.max(), bins)
    counts, _ = np.histogram(np.clip(positive, edges[0], edges[-1]), bins=edges)
    return pd.DataFrame({
        "bin_low": edges[:-1], "bin_high": edges[1:], "customers": counts.astype(np.int64),
        "clipped": int((positive < edges[0]).sum()),
        "not_shown": len(values) - len(positive),
        "mean": values.mean(), "median": float(np.median(values)),
    })


def plot_ltv_histogram(
    bins: pd.DataFrame,
    *,
    ax: Axes | None = None,
    column: str = "ltv",
    basis: str | None = None,
    horizon_months: int | None = None,
    discounted: bool = False,
    currency: str = "",
    **kw: object,
) -> Axes:
    """Log-scale LTV histogram from precomputed bins, with mean and median marked.

    The same chart as ``plot_ltv_distribution(ltv, log_scale=True)``, drawn from counts
    (e.g. computed in SQL on a table too large for pandas) instead of per-customer rows.

    Parameters
    ----------
    bins : pandas.DataFrame
        As made by :func:`ltv_log_bins`: ``bin_low, bin_high, customers``, and
        ``clipped``, ``not_shown``, ``mean``, ``median`` (each the same on every row).
    ax : matplotlib.axes.Axes, optional
    column : str, default "ltv"
        Name of the value, for the labels.
    basis : str, optional
        "margin" or "revenue", shown in the title.
    horizon_months : int, optional
        Prediction horizon, shown in the title.
    discounted : bool, default False
        Whether the values are discounted, shown in the title.
    currency : str, default ""
        Money unit for the axis label, e.g. "pounds" ("money" when empty).
    **kw
        Passed to :meth:`~matplotlib.axes.Axes.hist`.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> table = ltv_log_bins(pd.DataFrame({"ltv": [10.0, 25.0, 400.0]}))
    >>> ax = plot_ltv_histogram(table, basis="margin", horizon_months=12, currency="USD")
    >>> ax.get_title().splitlines()[0], ax.get_xlabel()
    ('Distribution of ltv (margin, 12 months), 3 customers', 'ltv (USD)')
    """
    require_dataframe(bins, "bins")
    require_columns(bins, ["bin_low", "bin_high", "customers", "clipped", "not_shown",
                           "mean", "median"], "bins")
    if len(bins) == 0:
        raise CrmDataError(f"The bins table is empty: no positive {column!r} value to plot.")
    edges = np.append(bins["bin_low"].to_numpy(dtype=float),
                      float(bins["bin_high"].iloc[-1]))
    counts = bins["customers"].to_numpy(dtype=float)
    clipped, not_shown = int(bins["clipped"].iloc[0]), int(bins["not_shown"].iloc[0])
    ax = _axes(ax)
    ax.hist(np.sqrt(edges[:-1] * edges[1:]), bins=edges, weights=counts, **kw)
    ax.set_xscale("log")
    title = (f"Distribution of {column}{_basis(bins, basis, horizon_months, discounted)}, "
             f"{int(counts.sum()) + not_shown} customers")
    notes = []
    if clipped:
        notes.append(f"{clipped} below {edges[0]:.3g} in the first bin")
    if not_shown:
        notes.append(f"{not_shown} <= 0 not shown")
    if notes:
        title += "\n(" + "; ".join(notes) + ")"
    for stat, style in (("mean", "--"), ("median", ":")):
        value = float(bins[stat].iloc[0])
        ax.axvline(value, color="black", linestyle=style, linewidth=1,
                   label=f"{stat} {value:,.2f}")
    ax.set_xlabel(f"{column} ({currency})" if currency else f"{column} (money)")
    ax.set_ylabel("customers (count)")
    ax.set_title(title)
    ax.legend()
    return ax


__all__ += ["LOG_BINS_LOW_QUANTILE", "ltv_log_bin_edges", "ltv_log_bins",
            "plot_ltv_histogram"]
