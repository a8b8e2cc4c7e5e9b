"""Campaign lift over the randomized holdout: one metric, several metrics, per segment."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from crm_analytics._core.checks import require_columns, require_dataframe
from crm_analytics._core.errors import CrmDataError
from crm_analytics.campaigns.outcomes import (
    CampaignData,
    SampleRatioMismatchWarning,
    prepare_campaign,
)
from crm_analytics.campaigns.rules import METRICS
from crm_analytics.campaigns.stats import (
    SRM_ALPHA,
    ConfidenceInterval,
    LiftResult,
    adjust_p_values,
    lift_statistics,
    srm_test,
)
from crm_analytics.orders.validate import ids_as_text

__all__ = ["campaign_lift", "lift_by_metric", "lift_by_segment"]


def _statistics(prep: CampaignData, mask: np.ndarray, metric: str):
    """(headline, unadjusted) LiftStatistics of ``metric`` over the members in ``mask``."""
    members, is_t = prep.members, prep.is_treated
    y = members[metric].to_numpy(dtype=float)
    t, c = mask & is_t, mask & ~is_t
    level = prep.settings["confidence_level"]
    raw = lift_statistics(y[t], y[c], confidence_level=level)
    covariate = prep.settings["covariate"]
    if covariate is None:
        return raw, raw
    x = members["pre_" + metric if covariate == "pre_period" else "covariate"].to_numpy()
    adjusted = lift_statistics(y[t], y[c], covariate_treatment=x[t], covariate_control=x[c],
                               confidence_level=level)
    return adjusted, raw


def _scaled(ci: ConfidenceInterval, factor: float) -> ConfidenceInterval:
    return ConfidenceInterval(float(ci.low * factor), float(ci.high * factor))


def _result(prep: CampaignData, mask: np.ndarray | None = None, *, metric: str | None = None,
            warn: bool = True) -> LiftResult:
    """The LiftResult of ``metric`` over the members in ``mask`` (all by default)."""
    s = prep.settings
    metric = metric or s["metric"]
    mask = np.ones(len(prep.is_treated), dtype=bool) if mask is None else mask
    notes = list(prep.notes)
    head, raw = _statistics(prep, mask, metric)
    if not head.std_error > 0:
        notes.append(f"The {metric} of every member is the same in each group (e.g. nobody "
                     "bought), so there is no interval or p-value.")
    if raw.mean_control == 0:
        notes.append("The control mean is 0, so the relative lift is undefined (NaN).")
    elif np.sqrt(raw.var_control / raw.n_control) > 0.2 * abs(raw.mean_control):
        notes.append("The control mean is imprecise (standard error above 20% of it), so the "
                     "delta-method relative interval is only approximate; judge the campaign "
                     "on the absolute lift and its interval.")
    n_t, n_c = head.n_treatment, head.n_control
    money = {m: (head if m == metric else _statistics(prep, mask, m)[0])
             for m in ("orders", "revenue") + (("margin",) if prep.has_margin else ())}
    cost = s["cost_per_contact"] * n_t
    nan_ci = ConfidenceInterval(np.nan, np.nan)
    inc_margin, margin_ci = np.nan, nan_ci
    if prep.has_margin:
        inc_margin = money["margin"].absolute_lift * n_t
        margin_ci = _scaled(money["margin"].absolute_ci, n_t)
    roi, roi_ci = np.nan, nan_ci
    if cost == 0:
        notes.append("ROI is undefined without a campaign cost: pass cost_per_contact.")
    elif prep.has_margin:
        roi = float((inc_margin - cost) / cost)
        roi_ci = ConfidenceInterval((margin_ci.low - cost) / cost, (margin_ci.high - cost) / cost)
    srm = srm_test(n_t, n_c, s["planned_holdout"])
    if srm < SRM_ALPHA and warn:
        warnings.warn(
            f"Sample ratio mismatch: {n_t} treated vs {n_c} control differs from the planned "
            f"{s['planned_holdout']:.0%} holdout (chi-square p = {srm:.2g}). The assignment or "
            "the audience export is probably broken; check it before trusting the lift.",
            SampleRatioMismatchWarning, stacklevel=3)
    return LiftResult(
        **{**s, "metric": metric},
        n_treatment=n_t, n_control=n_c,
        mean_treatment=raw.mean_treatment, mean_control=raw.mean_control,
        sd_treatment=float(np.sqrt(raw.var_treatment)),
        sd_control=float(np.sqrt(raw.var_control)),
        absolute_lift=head.absolute_lift, absolute_ci=head.absolute_ci,
        relative_lift=head.relative_lift, relative_ci=head.relative_ci,
        p_value=head.p_value, std_error=head.std_error, df=head.df,
        unadjusted_absolute_lift=raw.absolute_lift, unadjusted_absolute_ci=raw.absolute_ci,
        unadjusted_relative_lift=raw.relative_lift, unadjusted_relative_ci=raw.relative_ci,
        unadjusted_p_value=raw.p_value,
        theta=head.theta, variance_reduction=head.variance_reduction, srm_p_value=srm,
        incremental_orders=money["orders"].absolute_lift * n_t,
        incremental_revenue=money["revenue"].absolute_lift * n_t,
        incremental_revenue_ci=_scaled(money["revenue"].absolute_ci, n_t),
        incremental_margin=inc_margin, incremental_margin_ci=margin_ci,
        campaign_cost=cost, roi=roi, roi_ci=roi_ci, notes=tuple(notes),
        members=prep.members[mask].reset_index(drop=True) if not mask.all() else prep.members,
        cumulative=prep.cumulative if metric == s["metric"] and mask.all() else None,
        statistics=head, unadjusted_statistics=raw,
    )


# --------------------------------------------------------------------------- public API
def campaign_lift(
    orders: pd.DataFrame,
    audience: pd.DataFrame,
    *,
    start: object,
    window_days: int = 30,
    metric: str = "revenue",
    group_col: str = "group",
    treatment: object = "treatment",
    control: object = "control",
    confidence_level: float = 0.95,
    cost_per_contact: float = 0.0,
    margin_rate: float | None = None,
    covariate: str | None = "pre_period",
    planned_holdout: float | None = None,
    as_of: object = None,
    pre_days: int | None = None,
) -> LiftResult:
    """Lift of a campaign over its randomized holdout, with intervals, revenue and ROI.

    Parameters
    ----------
    orders : pandas.DataFrame, Parquet path(s), DuckDB relation or Spark DataFrame
        Canonical orders (validated if not already). Not modified. Orders too large for
        pandas can stay in an engine (see :mod:`crm_analytics.engines`): the per-member
        outcomes are aggregated there and only the audience-sized table comes back; the
        result's ``cumulative`` daily curve is then empty.
    audience : pandas.DataFrame
        One row per member of one campaign: ``customer_id`` and ``group_col``. Members
        without orders count as zero. Not modified.
    start : date-like
        First day of the campaign; outcomes come from orders in
        ``[start, start + window_days)``.
    window_days : int, default 30
    metric : {"conversion", "orders", "revenue", "margin"}, default "revenue"
        Per-member outcome: any order (0/1), number of orders, money paid, gross margin.
    group_col, treatment, control
        Column and labels of the two groups.
    confidence_level : float, default 0.95
    cost_per_contact : float, default 0.0
        Cost of one message / coupon sent (treated members only).
    margin_rate : float, optional
        Gross margin as a share of revenue, used when the orders have no ``margin``.
    covariate : {"pre_period", None} or str, default "pre_period"
        CUPED covariate: the same metric over the ``pre_days`` before ``start``, None
        for no adjustment, or a numeric column of the audience.
    planned_holdout : float, optional
        Planned control share for the sample-ratio check (see the module notes).
    as_of : date-like, optional
        Last day of data (default: the last order date); a window ending later is
        flagged with :class:`IncompleteWindowWarning`.
    pre_days : int, optional
        Length of the pre-period, ``[start - pre_days, start)``; defaults to
        ``window_days``. Use a longer one (e.g. 365) for sleeping members, whose last
        ``window_days`` are empty by definition, so CUPED has something to work with.

    Returns
    -------
    LiftResult

    Raises
    ------
    CrmDataError
        Unknown metric, invalid settings, missing columns, duplicated or missing ids,
        unknown group labels, a group with fewer than 2 members, a start after the data.

    Warns
    -----
    SampleRatioMismatchWarning
        When the group sizes reject the planned split (p < 0.001).

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "b", "c", "b"],
    ...     "order_id": ["1", "2", "3", "4"],
    ...     "order_date": pd.to_datetime(["2024-03-02", "2024-03-05", "2024-03-09",
    ...                                   "2024-02-20"]),
    ...     "amount": [30.0, 20.0, 10.0, 15.0]})
    >>> audience = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"],
    ...     "group": ["treatment", "treatment", "control", "control", "treatment"]})
    >>> res = campaign_lift(orders, audience, start="2024-03-01", window_days=14,
    ...                     covariate=None, planned_holdout=0.4, as_of="2024-03-31")
    >>> res.n_treatment, res.mean_treatment, res.mean_control, res.absolute_lift
    (3, 16.666666666666668, 5.0, 11.666666666666668)
    >>> round(res.incremental_revenue, 2)
    35.0
    """
    prep = prepare_campaign(orders, audience, start=start, window_days=window_days, metric=metric,
                    group_col=group_col, treatment=treatment, control=control,
                    confidence_level=confidence_level, cost_per_contact=cost_per_contact,
                    margin_rate=margin_rate, covariate=covariate,
                    planned_holdout=planned_holdout, as_of=as_of, pre_days=pre_days)
    return _result(prep)


def lift_by_metric(
    orders: pd.DataFrame, audience: pd.DataFrame, *, metrics: Sequence[str] | None = None,
    **kwargs: object,
) -> pd.DataFrame:
    """:func:`campaign_lift` for several metrics, one row each (see :meth:`LiftResult.to_frame`).

    ``metrics`` defaults to all of :data:`METRICS` that the data supports (margin needs a
    margin column or ``margin_rate``); other keyword arguments go to :func:`campaign_lift`.
    The last column, ``confidence_level``, repeats the level of the intervals on every row.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "c"], "order_id": ["1", "2"],
    ...     "order_date": pd.to_datetime(["2024-03-02", "2024-03-09"]),
    ...     "amount": [30.0, 10.0]})
    >>> audience = pd.DataFrame({"customer_id": list("abcd"),
    ...     "group": ["treatment", "treatment", "control", "control"]})
    >>> lift_by_metric(orders, audience, start="2024-03-01", planned_holdout=0.5,
    ...                covariate=None, as_of="2024-03-31")[["metric", "absolute_lift"]]
           metric  absolute_lift
    0  conversion            0.0
    1      orders            0.0
    2     revenue           10.0
    """
    kwargs.pop("metric", None)
    prep = prepare_campaign(orders, audience, **kwargs)
    if metrics is None:
        metrics = [m for m in METRICS if m != "margin" or prep.has_margin]
    for m in metrics:
        if m not in METRICS or (m == "margin" and not prep.has_margin):
            raise CrmDataError(f"Cannot compute metric {m!r}: choose from {list(METRICS)} "
                               "(margin needs a margin column or margin_rate).")
    frame = pd.concat([_result(prep, metric=m, warn=i == 0).to_frame()
                       for i, m in enumerate(metrics)], ignore_index=True)
    frame["confidence_level"] = float(prep.settings["confidence_level"])
    return frame


def lift_by_segment(
    orders: pd.DataFrame,
    audience: pd.DataFrame,
    *,
    by: str | Sequence[str],
    adjust: str = "holm",
    segments: pd.DataFrame | object | None = None,
    min_group_size: int = 10,
    **kwargs: object,
) -> pd.DataFrame:
    """:func:`campaign_lift` per segment, with p-values adjusted for multiple comparisons.

    A campaign often suits some groups and not others (REFERENCE.md). Testing many
    segments finds "significant" ones by chance, so ``p_value_adjusted`` (Holm by
    default) is what decides ``significant``. Intervals are per segment (unadjusted).

    Parameters
    ----------
    orders, audience
        As in :func:`campaign_lift`.
    by : str or list of str
        Segment column(s), in the audience or in ``segments``.
    adjust : {"holm", "bh", "none"}, default "holm"
        Holm (family-wise error) or Benjamini-Hochberg (false discovery rate).
    segments : pandas.DataFrame or segmentation result, optional
        A ``customer_id`` table holding the ``by`` columns (e.g. the customers table), or
        a segmentation result (its ``assignments``, e.g. of ``rfm_segments``), joined to
        the audience. Members it lacks form their own segment with a missing label;
        nobody is dropped.
    min_group_size : int, default 10
        Segments with fewer treated or control members get their sizes but no
        statistics (NaN): Welch intervals of a handful of skewed values are unreliable.
    **kwargs
        Any other :func:`campaign_lift` argument (``start`` is required).

    Returns
    -------
    pandas.DataFrame
        One row per segment: the ``by`` columns, the columns of
        :meth:`LiftResult.to_frame` (without ``metric``), ``p_value_adjusted`` and
        ``significant`` (adjusted p below ``1 - confidence_level``), then the settings
        repeated on every row: ``metric``, ``adjust`` and ``confidence_level``.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "b", "e"], "order_id": ["1", "2", "3"],
    ...     "order_date": pd.to_datetime(["2024-03-02", "2024-03-05", "2024-03-03"]),
    ...     "amount": [30.0, 20.0, 10.0]})
    >>> audience = pd.DataFrame({"customer_id": list("abcdefgh"),
    ...     "group": ["treatment", "treatment", "control", "control"] * 2,
    ...     "tier": ["gold"] * 4 + ["silver"] * 4})
    >>> seg = lift_by_segment(orders, audience, by="tier", start="2024-03-01", covariate=None,
    ...                       planned_holdout=0.5, as_of="2024-03-31", min_group_size=2)
    >>> seg[["tier", "n_treatment", "absolute_lift"]]
         tier  n_treatment  absolute_lift
    0    gold            2           25.0
    1  silver            2            5.0
    """
    by = [by] if isinstance(by, str) else list(by)
    table = audience
    if segments is not None and not isinstance(segments, pd.DataFrame):
        # a segmentation result (campaigns sit below segments, so it is not imported)
        segments = getattr(segments, "assignments", segments)
    if segments is not None:
        require_dataframe(segments, "segments")
        require_columns(segments, ["customer_id", *by], "the segments table")
        seg = segments[["customer_id", *by]].assign(
            customer_id=ids_as_text(segments["customer_id"], "customer_id"))
        if seg["customer_id"].duplicated().any():
            raise CrmDataError("The segments table has duplicated customer_id values; "
                               "it must hold one row per customer.")
        clash = [c for c in by if c in audience.columns]
        base = audience.drop(columns=clash).assign(
            customer_id=ids_as_text(audience["customer_id"], "customer_id"))
        table = base.merge(seg, on="customer_id", how="left", validate="one_to_one")
    require_columns(table, by, "the audience table (segment columns)")
    prep = prepare_campaign(orders, table, **kwargs)
    codes = table.groupby(by, dropna=False, sort=True).ngroup().to_numpy()
    first = np.unique(codes, return_index=True)[1]
    labels = table[by].iloc[first].reset_index(drop=True)
    rows = []
    for k in range(len(first)):
        mask = codes == k
        n_t = int((mask & prep.is_treated).sum())
        n_c = int(mask.sum()) - n_t
        if min(n_t, n_c) < max(min_group_size, 2):
            rows.append(pd.DataFrame([{"n_treatment": n_t, "n_control": n_c}]))
        else:
            rows.append(_result(prep, mask, warn=False).to_frame().drop(columns="metric"))
    out = pd.concat([labels, pd.concat(rows, ignore_index=True)], axis=1)
    out["p_value_adjusted"] = adjust_p_values(out["p_value"].to_numpy(dtype=float), adjust)
    out["significant"] = out["p_value_adjusted"] < 1 - prep.settings["confidence_level"]
    out["metric"] = prep.settings["metric"]
    out["adjust"] = adjust
    out["confidence_level"] = float(prep.settings["confidence_level"])
    return out
