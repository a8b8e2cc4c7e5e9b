"""Cohort plots: the cohort heatmap and repurchase curves.

Both take the tidy tables of :func:`crm_analytics.cohorts.cohort_repurchase` (or
:func:`~crm_analytics.cohorts.cohort_revenue`), draw on ``ax`` (a new figure when None)
and return it. Incomplete cells (period not over by ``as_of``) are never drawn: blank
in the heatmap, no point on the curves. No global style is changed.

The tables do not carry their settings, so ``period`` and ``how`` are keywords: pass
the values given to ``cohort_repurchase`` for the most precise labels. Without
``period`` it is inferred from the cohort dates and their spacing; without ``how``
the titles do not claim "in each period" or "within k periods".
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from crm_analytics._core.checks import require_columns, require_dataframe
from crm_analytics._core.errors import CrmDataError
from crm_analytics.cohorts.rules import COHORT_PERIODS, check_how, check_period

__all__ = ["MAX_COLOURED_CURVES", "plot_cohort_heatmap", "plot_repurchase_curves"]

_UNITS = COHORT_PERIODS
_VALUE_LABELS = {
    "rate": "Repurchase rate (% of cohort)",
    "customers": "Repurchasing customers",
    "cohort_size": "Customers in cohort",
    "revenue": "Revenue (currency)",
    "revenue_per_customer": "Revenue per cohort customer (currency)",
    "cumulative_revenue_per_customer": "Cumulative revenue per cohort customer (currency)",
}
#: Repurchase curves: with more cohorts, only a few are coloured (the rest grey).
MAX_COLOURED_CURVES = 12
#: Heatmaps up to this many rows and columns get a number in each cell by default.
_ANNOTATE_MAX = 24


def _period_of(table: pd.DataFrame, period: str | None = None) -> str | None:
    """The cohort period ("W", "M", "Q"): as given, else from the cohort dates.

    Cohorts that all start on the 1st of a month are months, or quarters when they all
    start a calendar quarter and are spaced by whole quarters; cohorts that all start
    on a Monday are weeks. Anything else is unknown (None: neutral labels).
    """
    if period is not None:
        return check_period(period)
    starts = pd.DatetimeIndex(pd.to_datetime(table["cohort"].drop_duplicates())).sort_values()
    if not len(starts):
        return None
    if (starts.day == 1).all():
        months = np.asarray(starts.year * 12 + starts.month - 1, dtype=np.int64)
        step = int(np.gcd.reduce(np.diff(months))) if len(months) > 1 else 0
        quarterly = step > 0 and step % 3 == 0 and (months % 3 == 0).all()
        return "Q" if quarterly else "M"
    if (starts.day_of_week == 0).all():
        return "W"
    return None


def _cohort_label(cohort: pd.Timestamp, period: str | None) -> str:
    if period == "M":
        return cohort.strftime("%Y-%m")
    if period == "Q":
        return f"{cohort.year}Q{(cohort.month - 1) // 3 + 1}"
    return cohort.strftime("%Y-%m-%d")


def _axis_labels(period: str | None) -> tuple[str, str]:
    unit = _UNITS.get(period or "")
    if unit is None:
        return "Periods since first order", "Cohort (first-order period)"
    return f"{unit.capitalize()}s since first order", f"Cohort (first-order {unit})"


def _checked(table: object, value: str, name: str) -> pd.DataFrame:
    table = require_dataframe(table, "table")
    require_columns(table, ["cohort", "period", "complete", value], f"the table of {name}")
    if not pd.api.types.is_numeric_dtype(table[value]):
        raise CrmDataError(
            f"The 'value' parameter of {name} must name a numeric column; column "
            f"{value!r} has dtype {table[value].dtype}."
        )
    return table


def _check_min_size(min_cohort_size: object) -> int | None:
    if min_cohort_size is None:
        return None
    if isinstance(min_cohort_size, bool) or not isinstance(min_cohort_size, int | np.integer) \
            or min_cohort_size < 1:
        raise CrmDataError("The 'min_cohort_size' parameter must be an int >= 1 or None. "
                           f"Got {min_cohort_size!r} instead.")
    return int(min_cohort_size)


def _cohort_sizes(table: pd.DataFrame, cohorts: pd.Index) -> np.ndarray | None:
    """Customers per cohort (``cohort_size``) in the order of ``cohorts``; None without."""
    if "cohort_size" not in table.columns:
        return None
    sizes = table.groupby("cohort")["cohort_size"].max()
    return sizes.reindex(cohorts).fillna(0).to_numpy(dtype=np.int64)


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def plot_cohort_heatmap(
    table: pd.DataFrame,
    *,
    value: str = "rate",
    ax: Axes | None = None,
    annotate: bool | None = None,
    cmap: str = "YlGnBu",
    period: str | None = None,
    how: str | None = None,
    min_cohort_size: int | None = None,
    show_sizes: bool = False,
    **kw: object,
) -> Axes:
    """Heatmap of a cohort table: cohorts as rows, periods since first order as columns.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`~crm_analytics.cohorts.cohort_repurchase` or
        :func:`~crm_analytics.cohorts.cohort_revenue` (columns ``cohort``, ``period``,
        ``complete`` and ``value``).
    value : str, default "rate"
        Column to show. ``"rate"`` is shown in percent.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made if omitted.
    annotate : bool, optional
        Write the value in each cell; by default only when the grid has at most 24
        rows and 24 columns.
    cmap : str, default "YlGnBu"
    period : {"M", "W", "Q"}, optional
        The table's cohort period (as given to ``cohort_repurchase``), for the labels;
        inferred from the cohort dates when omitted.
    how : {"on", "cumulative"}, optional
        How the rates were counted (as given to ``cohort_repurchase``), for the title;
        a neutral title when omitted.
    min_cohort_size : int, optional
        Cohorts with fewer customers (column ``cohort_size``) are not coloured: their
        row is hatched grey and labelled "too small", so that a one-customer cohort
        does not show as a dark 100% row. Default: every cohort is coloured.
    show_sizes : bool, default False
        Write each cohort's size beside its row label (when the table has
        ``cohort_size``).
    **kw
        Passed to :func:`seaborn.heatmap`.

    Returns
    -------
    matplotlib.axes.Axes
        Incomplete cells (``complete`` False) and cells after ``as_of`` are blank.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import pandas as pd
    >>> from crm_analytics.cohorts import cohort_repurchase
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_id": ["1", "2", "3"],
    ...     "order_date": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-02-20"]),
    ...     "amount": [10.0, 20.0, 15.0]})
    >>> ax = plot_cohort_heatmap(cohort_repurchase(orders, as_of="2024-02-29"))
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('Months since first order', 'Cohort (first-order month)')
    >>> plt.close(ax.figure)
    >>> ax = plot_cohort_heatmap(cohort_repurchase(orders, as_of="2024-02-29"),
    ...                          show_sizes=True, min_cohort_size=2)
    >>> [t.get_text() for t in ax.get_yticklabels()], ax.get_ylabel()
    (['2024-01  n=1', '2024-02  n=1'], 'Cohort (first-order month), customers')
    >>> plt.close(ax.figure)
    """
    table = _checked(table, value, "plot_cohort_heatmap")
    period = _period_of(table, period)
    how = None if how is None else check_how(how)
    min_size = _check_min_size(min_cohort_size)
    shown = table[value].where(table["complete"].astype(bool))
    grid = (
        table.assign(_shown=shown.astype(float))
        .pivot(index="cohort", columns="period", values="_shown")
        .sort_index()
    )
    sizes = _cohort_sizes(table, grid.index)
    small = (np.zeros(len(grid), dtype=bool) if sizes is None or min_size is None
             else sizes < min_size)
    grid.loc[grid.index[small]] = np.nan
    labels = [_cohort_label(pd.Timestamp(c), period) for c in grid.index]
    if sizes is not None and show_sizes:
        labels = [f"{label}  n={n:,}" for label, n in zip(labels, sizes, strict=True)]
    grid.index = labels
    is_rate = value == "rate"
    if is_rate:
        grid = grid * 100
    if annotate is None:
        annotate = grid.shape[0] <= _ANNOTATE_MAX and grid.shape[1] <= _ANNOTATE_MAX
    values = grid.to_numpy()
    finite = values[~np.isnan(values)]
    fmt = "%.0f" if is_rate or (finite.size and np.abs(finite).max() >= 100) else "%.1f"
    text = np.where(np.isnan(values), "", np.char.mod(fmt, np.nan_to_num(values)))
    size = (min(4 + 0.55 * grid.shape[1], 16), min(2.5 + 0.35 * grid.shape[0], 12))
    ax = _axes(ax, size)
    options = {
        "cmap": cmap,
        "vmin": 0,
        "mask": np.isnan(values),
        "linewidths": 0.5 if max(grid.shape) <= 2 * _ANNOTATE_MAX else 0.0,
        "xticklabels": max(1, int(np.ceil(grid.shape[1] / 26))),  # every n-th label
        "linecolor": "white",
        "cbar_kws": {"label": _VALUE_LABELS.get(value, value)},
    }
    if annotate:
        options.update(annot=text, fmt="", annot_kws={"fontsize": 7})
    if grid.isna().all().all():  # no cohort period is over yet: an empty, labelled grid
        options.setdefault("vmin", 0.0)
        options.setdefault("vmax", 1.0)
    options.update(kw)
    sns.heatmap(grid, ax=ax, **options)
    for cell_text in ax.texts:  # inside the axes: no need to measure them for the layout
        cell_text.set_in_layout(False)
    if is_rate and ax.collections and ax.collections[0].colorbar is not None:
        ax.collections[0].colorbar.ax.yaxis.set_major_formatter(PercentFormatter(100, 0))
    for row in np.flatnonzero(small):  # too small to colour: hatched and labelled
        ax.add_patch(Rectangle((0, row), grid.shape[1], 1, facecolor="#eeeeee",
                               edgecolor="#aaaaaa", hatch="///", linewidth=0))
        if grid.shape[0] <= 2 * _ANNOTATE_MAX:
            ax.text(grid.shape[1] / 2, row + 0.5,
                    f"too small to show (under {min_size} customers)",
                    ha="center", va="center", fontsize=7, color="#555555")
    xlabel, ylabel = _axis_labels(period)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (", customers" if sizes is not None and show_sizes else ""))
    ax.tick_params(axis="y", labelrotation=0)
    ax.tick_params(axis="x", labelrotation=0)
    unit = _UNITS.get(period or "", "period")
    if is_rate and how is not None:
        title = (f"Share of cohort repurchasing in each {unit}" if how == "on"
                 else f"Share of cohort repurchased within k {unit}s")
    else:
        title = _VALUE_LABELS.get(value, value)
    suffix = (f"; hatched: cohorts under {min_size} customers" if small.any() else "")
    ax.set_title(f"{title} (blank: {unit} not over yet{suffix})", fontsize=10)
    return ax


def plot_repurchase_curves(
    table: pd.DataFrame,
    *,
    ax: Axes | None = None,
    cohorts: Sequence[object] | None = None,
    value: str = "rate",
    period: str | None = None,
    how: str | None = None,
    min_cohort_size: int | None = None,
    highlight: int | None = None,
    **kw: object,
) -> Axes:
    """One line per cohort: repurchase rate by periods since the first order.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`~crm_analytics.cohorts.cohort_repurchase` (best with
        ``how="cumulative"``) or :func:`~crm_analytics.cohorts.cohort_revenue`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made if omitted.
    cohorts : sequence of date-like, optional
        Cohorts to draw (their first day, e.g. ``["2024-01-01", "2024-06-01"]``);
        default all. Many cohorts are coloured from early (light) to late (dark).
    value : str, default "rate"
        Column on the y axis; ``"rate"`` is shown in percent.
    period : {"M", "W", "Q"}, optional
        The table's cohort period, for the labels; inferred from the cohort dates
        when omitted.
    how : {"on", "cumulative"}, optional
        How the rates were counted, for the y label; a neutral label when omitted.
    min_cohort_size : int, optional
        Cohorts with fewer customers (column ``cohort_size``) are not drawn (the
        legend says how many); default: all are drawn.
    highlight : int, optional
        With more cohorts than :data:`MAX_COLOURED_CURVES`, only this many (default
        4, evenly spread from the oldest to the newest) are coloured and named; the
        others are thin grey lines, and the average of all cohorts (weighted by their
        size, when the table has ``customers`` and ``cohort_size``) is drawn in black.
        ``0`` colours every cohort.
    **kw
        Passed to :meth:`~matplotlib.axes.Axes.plot`.

    Returns
    -------
    matplotlib.axes.Axes
        Only complete cells are drawn, so the last, still-growing period of each
        cohort never shows as a drop.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import pandas as pd
    >>> from crm_analytics.cohorts import cohort_repurchase
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_id": ["1", "2", "3"],
    ...     "order_date": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-02-20"]),
    ...     "amount": [10.0, 20.0, 15.0]})
    >>> table = cohort_repurchase(orders, how="cumulative", as_of="2024-02-29")
    >>> ax = plot_repurchase_curves(table, how="cumulative")
    >>> [line.get_label() for line in ax.get_lines()]
    ['2024-01', '2024-02']
    >>> ax.get_ylabel()
    'Customers repurchased so far (% of cohort)'
    >>> plt.close(ax.figure)
    """
    table = _checked(table, value, "plot_repurchase_curves")
    period = _period_of(table, period)
    how = None if how is None else check_how(how)
    data = table[table["complete"].astype(bool)]
    all_cohorts = pd.DatetimeIndex(pd.to_datetime(table["cohort"].drop_duplicates())).sort_values()
    if cohorts is not None:
        try:
            wanted = pd.DatetimeIndex(pd.to_datetime(list(cohorts)))
        except (ValueError, TypeError) as exc:
            raise CrmDataError(
                f"The 'cohorts' parameter must list cohort start dates such as "
                f"'2024-01-01'. Got {list(cohorts)!r}."
            ) from exc
        unknown = wanted.difference(all_cohorts)
        if len(unknown):
            raise CrmDataError(
                f"The 'cohorts' parameter names cohorts not in the table: "
                f"{[str(c.date()) for c in unknown[:5]]}. The table has "
                f"{[str(c.date()) for c in all_cohorts[:5]]}"
                f"{' ...' if len(all_cohorts) > 5 else ''}."
            )
        all_cohorts = wanted.sort_values()
    min_size = _check_min_size(min_cohort_size)
    n_small = 0
    if min_size is not None:
        sizes = _cohort_sizes(table.assign(cohort=pd.to_datetime(table["cohort"])),
                              all_cohorts)
        if sizes is not None:
            n_small = int((sizes < min_size).sum())
            all_cohorts = all_cohorts[sizes >= min_size]
    if highlight is not None and (isinstance(highlight, bool) or not isinstance(
            highlight, int | np.integer) or highlight < 0):
        raise CrmDataError("The 'highlight' parameter must be an int >= 0 or None. "
                           f"Got {highlight!r} instead.")
    n_highlight = 4 if highlight is None else int(highlight)
    many = n_highlight > 0 and len(all_cohorts) > max(MAX_COLOURED_CURVES, n_highlight)
    ax = _axes(ax, (8.0, 4.8))
    scale = 100.0 if value == "rate" else 1.0
    cohort_col = pd.to_datetime(data["cohort"])
    if many:
        picks = np.unique(np.linspace(0, len(all_cohorts) - 1, n_highlight).round().astype(int))
        coloured = set(all_cohorts[picks])
        colors = iter(sns.color_palette("colorblind", n_colors=len(picks)))
    else:
        coloured = set(all_cohorts)
        colors = iter(sns.color_palette("crest", n_colors=max(len(all_cohorts), 1)))
    grey_label = f"other cohorts ({len(all_cohorts) - len(coloured)})"
    for cohort in all_cohorts:
        part = data[cohort_col == cohort].sort_values("period")
        if cohort in coloured:
            color = next(colors)
        if part.empty:
            continue
        if cohort in coloured:
            options = {"color": color, "marker": "o", "markersize": 3, "linewidth": 1.5,
                       "label": _cohort_label(cohort, period), "zorder": 3}
        else:
            options = {"color": "#bbbbbb", "linewidth": 0.8, "label": grey_label,
                       "zorder": 1}
            grey_label = "_nolegend_"
        options.update(kw)
        ax.plot(part["period"], part[value] * scale, **options)
    if many and value == "rate" and {"customers", "cohort_size"} <= set(data.columns):
        kept = data[cohort_col.isin(all_cohorts)]
        pooled = kept.groupby("period")[["customers", "cohort_size"]].sum()
        pooled = pooled[pooled["cohort_size"] > 0]
        ax.plot(pooled.index, pooled["customers"] / pooled["cohort_size"] * scale,
                color="black", linewidth=2.2, linestyle="--", zorder=4,
                label="all cohorts (weighted)")
    xlabel, _ = _axis_labels(period)
    ax.set_xlabel(xlabel)
    if value == "rate":
        ylabel = {
            "on": "Customers repurchasing in the period (% of cohort)",
            "cumulative": "Customers repurchased so far (% of cohort)",
        }.get(how, _VALUE_LABELS["rate"])
        ax.yaxis.set_major_formatter(PercentFormatter(100, decimals=0))
        ax.set_ylim(bottom=0)
    else:
        ylabel = _VALUE_LABELS.get(value, value)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    handles = [h for h in ax.get_lines() if not h.get_label().startswith("_")]
    if handles:
        ncol = 1 if len(handles) <= 12 else 2
        title = "Cohort"
        if n_small:
            title += f"\n({n_small} under {min_size} customers not drawn)"
        ax.legend(title=title, fontsize=7, title_fontsize=8, ncol=ncol,
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax
