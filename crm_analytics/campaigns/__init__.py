"""Campaign lift: what an SMS, email or coupon campaign earned over doing nothing.

A campaign is judged against a randomized holdout (对照组): members picked by
:func:`assign_holdout` receive nothing, everyone else receives the message. After the
campaign, :func:`campaign_lift` compares the two groups over the window
``[start, start + window_days)`` and reports the lift (提升) with confidence intervals,
the incremental orders, revenue and margin earned from the treated group, and the ROI
after the message cost. :func:`lift_by_segment` repeats this per segment with p-values
adjusted for multiple comparisons. The statistics live in
:mod:`crm_analytics.campaigns.stats` (GrowthBook / Eppo conventions, REFERENCE.md).

Choices
-------
- Every audience member gets an outcome: members without an order in the window count
  as zero (that is the point of a holdout); nobody is dropped.
- The headline estimate is CUPED-adjusted when ``covariate`` is given (the default,
  ``"pre_period"``: the same metric over the ``pre_days``, default ``window_days``,
  before ``start``); the unadjusted estimate is reported beside it (``unadjusted_*``).
  Both are unbiased; the adjusted one is tighter when behaviour before and during the
  window correlates. The choice is made before seeing the data (never "whichever is
  significant").
  ``mean_treatment`` / ``mean_control`` are always the raw observed means.
- The planned split for the sample-ratio-mismatch check is ``planned_holdout``; when
  not given it is read from the audience's ``planned_holdout`` column, else it is 0.1,
  :func:`assign_holdout`'s default (and a note says so).
- Margin comes from the orders' ``margin`` column when present, otherwise
  ``amount * margin_rate``; without either, margin and ROI are NaN with a note.
- ``orders`` may be a Parquet path / glob, a DuckDB relation or a Spark DataFrame
  (:func:`crm_analytics.engines.is_engine_source`): the per-member outcomes then come
  from :func:`crm_analytics.engines.campaign_outcomes` and the same statistics follow,
  but the ``cumulative`` daily curve is left empty (a note says so).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics._core.checks import (
    check_fraction,
    check_positive,
    format_examples,
    require_columns,
    require_dataframe,
)
from crm_analytics._core.dates import to_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source, runner_for
from crm_analytics.campaigns.rules import check_windows, member_ids
from crm_analytics.campaigns.sql import campaign_outcomes
from crm_analytics.campaigns.stats import (
    SRM_ALPHA,
    ConfidenceInterval,
    HoldoutPlan,
    LiftResult,
    adjust_p_values,
    holdout_tradeoff,
    lift_statistics,
    plan_holdout,
    scipy_stats,
    srm_test,
)
from crm_analytics.orders.encode import prepare_orders
from crm_analytics.orders.validate import ids_as_text
from crm_analytics.summary import customer_summary

__all__ = [
    "METRICS",
    "ConfidenceInterval",
    "HoldoutPlan",
    "IncompleteWindowWarning",
    "LiftResult",
    "RandomizationCheck",
    "SampleRatioMismatchWarning",
    "assign_holdout",
    "campaign_lift",
    "campaign_settings",
    "check_randomization",
    "holdout_tradeoff",
    "lift_by_metric",
    "lift_by_segment",
    "plan_holdout",
]

#: Outcome metrics per audience member over the window.
METRICS = ("conversion", "orders", "revenue", "margin")


class SampleRatioMismatchWarning(UserWarning):
    """Group sizes differ from the planned split more than chance allows (p < 0.001)."""


class IncompleteWindowWarning(UserWarning):
    """The outcome window extends past the last order in the data."""


# ---------------------------------------------------------------------------- holdout
def _hash_uniform(keys: Sequence[str], seed: object) -> np.ndarray:
    """Uniform [0, 1) per key: first 8 bytes of sha256(f"{seed}:{key}"), big-endian."""
    raw = b"".join([hashlib.sha256(f"{seed}:{k}".encode()).digest()[:8] for k in keys])
    return (np.frombuffer(raw, dtype=">u8") >> np.uint64(11)).astype(np.float64) * 2.0**-53


def assign_holdout(
    customers: pd.DataFrame | pd.Series,
    *,
    holdout: float = 0.1,
    seed: int | str,
    strata: str | Sequence[str] | None = None,
    group_col: str = "group",
) -> pd.DataFrame:
    """Split customers into ``treatment`` and a randomized ``control`` holdout.

    Each customer gets ``u = sha256(f"{seed}:{customer_id}")`` read as a number in
    [0, 1) (first 8 bytes, big-endian), so the split is reproducible anywhere (SQL
    included) and does not depend on row order.

    - Without ``strata``: control when ``u < holdout``. Re-running or adding customers
      never moves anyone; group sizes vary by sampling error around the plan.
    - With ``strata``: within each stratum the ``floor(holdout * n + v)`` customers
      with the lowest ``u`` are control (``v`` a hash of the stratum in [0, 1), so the
      expected count is exactly ``holdout * n``). Each stratum is balanced to within
      one member, at a price: adding a customer to a stratum can move at most one
      existing member of that stratum across the boundary. Assign once, at send time.

    Parameters
    ----------
    customers : pandas.DataFrame or pandas.Series
        A table with a ``customer_id`` column (or a Series of ids). Not modified.
    holdout : float, default 0.1
        Planned control share (5-10% is typical).
    seed : int or str
        Use a new seed per campaign so the same members are not always held out.
    strata : str or list of str, optional
        Columns to balance the split within (e.g. ``"member_tier"``).
    group_col : str, default "group"
        Name of the added column.

    Returns
    -------
    pandas.DataFrame
        The customers, same rows, order and index, with ``group_col`` holding
        ``"treatment"`` or ``"control"``.

    Raises
    ------
    CrmDataError
        Missing, empty or duplicated ids; a ``holdout`` outside (0, 1); unknown strata
        columns; ``group_col`` already present.

    Examples
    --------
    >>> import pandas as pd
    >>> members = pd.DataFrame({"customer_id": [f"c{i}" for i in range(1000)]})
    >>> split = assign_holdout(members, holdout=0.1, seed=7)
    >>> split["group"].value_counts().sort_index()  # about 10% control
    group
    control       86
    treatment    914
    Name: count, dtype: int64
    >>> tiers = members.assign(tier=["gold"] * 200 + ["silver"] * 800)
    >>> strat = assign_holdout(tiers, seed=7, strata="tier")
    >>> (strat["group"] == "control").groupby(strat["tier"]).sum()  # exactly 10% per tier
    tier
    gold      20
    silver    80
    Name: group, dtype: int64
    """
    if isinstance(customers, pd.Series):
        customers = customers.rename("customer_id").to_frame()
    require_dataframe(customers, "customers")
    check_fraction(holdout, "holdout")
    if group_col in customers.columns:
        raise CrmDataError(
            f"The customers table already has a {group_col!r} column. Drop it, or pass "
            "group_col='<new name>' to keep both."
        )
    ids = member_ids(customers, "the customers table")
    u = _hash_uniform(ids, seed)
    if strata is None:
        control = u < holdout
    else:
        cols = [strata] if isinstance(strata, str) else list(strata)
        require_columns(customers, cols, "the customers table (strata)")
        codes = customers.groupby(cols, dropna=False, sort=True).ngroup().to_numpy()
        first = np.unique(codes, return_index=True)[1]
        labels = customers[cols].iloc[first].astype(str).agg("\x1f".join, axis=1)
        v = _hash_uniform([f"stratum\x1f{x}" for x in labels], seed)
        sizes = np.bincount(codes)
        n_control = np.floor(holdout * sizes + v).astype(np.int64)
        order = np.lexsort((u, codes))
        rank = np.empty(len(u), dtype=np.int64)
        rank[order] = np.arange(len(u)) - (np.cumsum(sizes) - sizes)[codes[order]]
        control = rank < n_control[codes]
    out = customers.copy()
    out[group_col] = np.where(control, "control", "treatment")
    return out


# ---------------------------------------------------------------------- member outcomes
@dataclass(frozen=True, eq=False)
class _Prepared:
    members: pd.DataFrame
    is_treated: np.ndarray
    settings: dict
    notes: tuple[str, ...]
    has_margin: bool
    cumulative: pd.DataFrame


def campaign_settings(audience: pd.DataFrame, **overrides: object) -> dict:
    """Settings of one campaign read from its audience table, for :func:`campaign_lift`.

    Reads ``start``, ``window_days``, ``cost_per_contact`` and ``planned_holdout`` from
    columns of that name holding one value each; ``overrides`` that are not None win.

    Examples
    --------
    >>> import pandas as pd
    >>> aud = pd.DataFrame({"customer_id": ["a", "b"], "start": ["2024-03-01"] * 2,
    ...                     "window_days": [30, 30]})
    >>> campaign_settings(aud, window_days=14)
    {'start': '2024-03-01', 'window_days': 14}
    """
    require_dataframe(audience, "audience")
    settings: dict = {}
    for col in ("start", "window_days", "cost_per_contact", "planned_holdout"):
        if col in audience.columns:
            values = audience[col].dropna().unique()
            if len(values) > 1:
                raise CrmDataError(
                    f"Column {col!r} of the audience has {len(values)} different values "
                    f"(e.g. {list(values[:5])}); select one campaign first."
                )
            if len(values) == 1:
                value = values[0]
                if isinstance(value, np.datetime64):
                    value = pd.Timestamp(value)
                settings[col] = value.item() if isinstance(value, np.generic) else value
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return settings


def _margin_values(orders: pd.DataFrame, relevant: np.ndarray, margin_rate, notes) -> np.ndarray:
    """Margin per order (NaN array when unknown), noting where it came from."""
    amount = orders["amount"].to_numpy(dtype=float)
    if "margin" in orders.columns:
        margin = orders["margin"].to_numpy(dtype=float)
        missing = relevant & np.isnan(margin)
        if missing.any() and margin_rate is not None:
            notes.append(f"{int(missing.sum())} orders without margin use amount x margin_rate.")
            return np.where(np.isnan(margin), amount * margin_rate, margin)
        if missing.any():
            notes.append(
                f"{int(missing.sum())} of the audience's orders have no margin, so margin and "
                "ROI are not computed; fill the margin column or pass margin_rate."
            )
            return np.full(len(amount), np.nan)
        if margin_rate is not None:
            notes.append("margin_rate is ignored: the orders have a margin column.")
        return margin
    if margin_rate is not None:
        return amount * margin_rate
    notes.append("The orders have no margin column and margin_rate was not given, so "
                 "incremental margin and ROI are not computed.")
    return np.full(len(amount), np.nan)


def _engine_columns(orders: object) -> list[str]:
    """Column names of engine orders (Parquet path(s), DuckDB relation, Spark frame)."""
    columns = getattr(orders, "columns", None)
    if columns is None:
        columns = runner_for(orders).columns
    return [str(c).lower() for c in columns]


def _member_outcomes(orders: pd.DataFrame, ids: np.ndarray, is_treated: np.ndarray, *,
                     start_ts: pd.Timestamp, as_of_ts: pd.Timestamp, window_days: int,
                     pre_days: int, metric: str, margin_rate, observed: int, notes: list):
    """Per-member outcomes from pandas orders: (members, has_margin, cumulative curve)."""
    n = len(ids)
    codes = pd.Index(ids).get_indexer(orders["customer_id"].to_numpy(dtype=object))
    day = np.floor((orders["order_date"] - start_ts) / pd.Timedelta(days=1)).to_numpy()
    after = (orders["order_date"] >= as_of_ts + pd.Timedelta(days=1)).to_numpy()
    day = np.where(after, window_days, day)  # orders after as_of are outside both windows
    in_window = (codes >= 0) & (day >= 0) & (day < window_days)
    in_pre = (codes >= 0) & (day >= -pre_days) & (day < 0)
    amount = orders["amount"].to_numpy(dtype=float)
    margin = _margin_values(orders, in_window | in_pre, margin_rate, notes)
    has_margin = not np.isnan(margin[in_window | in_pre]).any() and (
        "margin" in orders.columns or margin_rate is not None)
    members = pd.DataFrame({"customer_id": ids, "group": np.where(is_treated, "treatment",
                                                                  "control")})
    for prefix, mask in (("", in_window), ("pre_", in_pre)):
        c = codes[mask]
        n_orders = np.bincount(c, minlength=n)
        members[prefix + "conversion"] = (n_orders > 0).astype(float)
        members[prefix + "orders"] = n_orders.astype(float)
        # float even when no order falls in the period (bincount gives int64 then)
        members[prefix + "revenue"] = np.bincount(c, weights=amount[mask],
                                                  minlength=n).astype(float)
        if has_margin:
            members[prefix + "margin"] = np.bincount(c, weights=margin[mask],
                                                     minlength=n).astype(float)

    # cumulative per-member outcome by day of the window, per group
    c = codes[in_window]
    d = day[in_window].astype(np.int64)
    if metric == "conversion":
        first = np.full(n, window_days)
        np.minimum.at(first, c, d)
        c = np.flatnonzero(first < window_days)
        d, weight = first[c], np.ones(len(c))
    else:
        weight = {"orders": np.ones(len(c)), "revenue": amount[in_window],
                  "margin": margin[in_window]}[metric]
    sums = np.bincount(is_treated[c] * window_days + d, weights=weight,
                       minlength=2 * window_days).reshape(2, window_days)
    sizes = np.array([(~is_treated).sum(), is_treated.sum()])[:, None]
    cum = np.cumsum(sums, axis=1) / sizes
    cumulative = pd.DataFrame({
        "day": np.tile(np.arange(1, window_days + 1), 2),
        "date": np.tile(pd.date_range(start_ts, periods=window_days), 2),
        "group": np.repeat(["control", "treatment"], window_days),
        "value": cum.ravel(),
    })
    cumulative = cumulative[cumulative["day"] <= observed].reset_index(drop=True)

    return members, has_margin, cumulative


def _prepare(
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
    pre_only: bool = False,
) -> _Prepared:
    """Validate inputs and compute every member's outcomes before and during the window."""
    if metric not in METRICS:
        raise CrmDataError(f"The 'metric' parameter must be one of {list(METRICS)}. "
                           f"Got {metric!r} instead.")
    pre_days = check_windows(window_days, pre_days)
    check_fraction(confidence_level, "confidence_level")
    check_positive(cost_per_contact, "cost_per_contact", allow_zero=True)
    if margin_rate is not None and not 0 < margin_rate <= 1:
        raise CrmDataError(f"The 'margin_rate' parameter must be in (0, 1] (gross margin "
                           f"as a share of revenue). Got {margin_rate!r} instead.")
    on_engine = is_engine_source(orders)
    if not on_engine:
        orders = prepare_orders(orders).orders
    require_dataframe(audience, "audience")
    require_columns(audience, ["customer_id", group_col], "the audience table")
    ids = member_ids(audience, "the audience table")
    groups = audience[group_col]
    unknown = ~groups.isin([treatment, control]).to_numpy()
    if unknown.any():
        raise CrmDataError(
            f"Column {group_col!r} of the audience has {int(unknown.sum())} rows that are "
            f"neither {treatment!r} nor {control!r} ({format_examples(groups[unknown])}). "
            "Fix those rows, or pass treatment=/control= with your labels."
        )
    is_treated = (groups == treatment).to_numpy(dtype=bool)
    for label, n in ((treatment, is_treated.sum()), (control, (~is_treated).sum())):
        if n < 2:
            raise CrmDataError(
                f"The {label!r} group has {n} member(s) in column {group_col!r}; at least 2 "
                "per group are needed. Was the holdout assigned (assign_holdout)?"
            )
    notes: list[str] = []
    if covariate not in (None, "pre_period"):
        if covariate not in audience.columns:
            raise CrmDataError(
                f"The 'covariate' parameter must be 'pre_period', None or a numeric column "
                f"of the audience. Got {covariate!r}; audience columns: "
                f"{list(map(str, audience.columns))}."
            )
        x = pd.to_numeric(audience[covariate], errors="coerce")
        if x.isna().any():
            raise CrmDataError(
                f"Covariate column {covariate!r} has {int(x.isna().sum())} missing or "
                f"non-numeric values ({format_examples(audience.loc[x.isna(), covariate])})."
            )
    if planned_holdout is None:
        if "planned_holdout" in audience.columns:
            planned_holdout = float(campaign_settings(audience)["planned_holdout"])
        else:
            planned_holdout = 0.1
            notes.append("Planned holdout assumed 0.1 (assign_holdout's default) for the "
                         "sample-ratio check; pass planned_holdout= if the plan differed.")
    check_fraction(planned_holdout, "planned_holdout")

    start_ts = to_day(start, "start")
    if on_engine:  # per-member outcomes aggregated in DuckDB / Spark
        members, as_of_ts = campaign_outcomes(runner_for(orders), audience, start=start_ts,
                                              window_days=window_days, pre_days=pre_days,
                                              as_of=as_of, group_col=group_col,
                                              margin_rate=margin_rate)
    else:
        last_day = orders["order_date"].max().normalize()
        as_of_ts = last_day if as_of is None else to_day(as_of, "as_of")
    if start_ts > as_of_ts and not pre_only:
        raise CrmDataError(f"The campaign start {start_ts.date()} is after the last order "
                           f"date {as_of_ts.date()}: there are no outcomes to measure yet.")
    observed = int(np.clip((as_of_ts - start_ts).days + 1, 0, window_days))
    if observed < window_days and not pre_only:
        msg = (f"The {window_days}-day window from {start_ts.date()} ends after the data "
               f"({as_of_ts.date()}): outcomes cover only {observed} days.")
        notes.append(msg)
        warnings.warn(msg, IncompleteWindowWarning, stacklevel=3)

    if on_engine:
        has_margin = "margin" in members.columns
        if has_margin and margin_rate is not None and "margin" in _engine_columns(orders):
            notes.append("margin_rate is ignored: the orders have a margin column.")
        if not has_margin:
            notes.append("The orders have no margin column and margin_rate was not given, so "
                         "incremental margin and ROI are not computed.")
        members["group"] = np.where(is_treated, "treatment", "control")
        # the daily curve would need the orders per member and day: not computed here
        cumulative = pd.DataFrame({"day": np.array([], dtype=np.int64),
                                   "date": np.array([], dtype="datetime64[ns]"),
                                   "group": np.array([], dtype=object),
                                   "value": np.array([], dtype=float)})
        notes.append("Orders from an engine (Parquet / DuckDB / Spark): no cumulative daily "
                     "curve (the result's `cumulative` table is empty).")
    else:
        members, has_margin, cumulative = _member_outcomes(
            orders, ids, is_treated, start_ts=start_ts, as_of_ts=as_of_ts,
            window_days=window_days, pre_days=pre_days, metric=metric,
            margin_rate=margin_rate, observed=observed, notes=notes)
    if metric == "margin" and not has_margin:
        raise CrmDataError("metric='margin' needs margins: the orders have no (complete) "
                           "'margin' column; pass margin_rate= (e.g. 0.3) instead.")
    if covariate not in (None, "pre_period"):
        members["covariate"] = pd.to_numeric(audience[covariate]).to_numpy(dtype=float)

    campaign_name = None
    if "campaign_name" in audience.columns and audience["campaign_name"].nunique() == 1:
        campaign_name = str(audience["campaign_name"].iloc[0])
    settings = dict(
        metric=metric, start=start_ts, window_days=int(window_days),
        confidence_level=confidence_level, covariate=covariate, pre_days=int(pre_days),
        cost_per_contact=float(cost_per_contact), margin_rate=margin_rate,
        planned_holdout=float(planned_holdout), campaign_name=campaign_name,
    )
    return _Prepared(members, is_treated, settings, tuple(notes), has_margin, cumulative)


def _statistics(prep: _Prepared, mask: np.ndarray, metric: str):
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


def _result(prep: _Prepared, mask: np.ndarray | None = None, *, metric: str | None = None,
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
    prep = _prepare(orders, audience, start=start, window_days=window_days, metric=metric,
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
    prep = _prepare(orders, audience, **kwargs)
    if metrics is None:
        metrics = [m for m in METRICS if m != "margin" or prep.has_margin]
    for m in metrics:
        if m not in METRICS or (m == "margin" and not prep.has_margin):
            raise CrmDataError(f"Cannot compute metric {m!r}: choose from {list(METRICS)} "
                               "(margin needs a margin column or margin_rate).")
    frame = pd.concat([_result(prep, metric=m, warn=i == 0).to_frame()
                       for i, m in enumerate(metrics)], ignore_index=True)
    frame.attrs = {"confidence_level": prep.settings["confidence_level"]}
    return frame


def lift_by_segment(
    orders: pd.DataFrame,
    audience: pd.DataFrame,
    *,
    by: str | Sequence[str],
    adjust: str = "holm",
    segments: pd.DataFrame | None = None,
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
    segments : pandas.DataFrame, optional
        A ``customer_id`` table holding the ``by`` columns (e.g. the customers table or
        an RFM segmentation), joined to the audience. Members it lacks form their own
        segment with a missing label; nobody is dropped.
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
        ``significant`` (adjusted p below ``1 - confidence_level``). ``attrs`` holds
        ``metric``, ``adjust`` and ``confidence_level``.

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
    prep = _prepare(orders, table, **kwargs)
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
    out.attrs = {"metric": prep.settings["metric"], "adjust": adjust,
                 "confidence_level": prep.settings["confidence_level"]}
    return out


@dataclass(frozen=True, eq=False)
class RandomizationCheck:
    """Result of :func:`check_randomization`.

    Attributes
    ----------
    n_treatment, n_control : int
    planned_holdout, observed_holdout : float
        Planned and observed control share.
    srm_p_value : float
        Chi-square test of the sizes against the plan (suspect below 0.001).
    balance : pandas.DataFrame
        One row per pre-campaign variable: ``variable, mean_treatment, mean_control,
        std_diff`` (difference in pooled standard deviations), ``p_value`` (Welch, or
        chi-square for categorical columns) and ``balanced`` (``p_value >= 0.001``).
    start, window_days
        The settings used.
    """

    n_treatment: int
    n_control: int
    planned_holdout: float
    observed_holdout: float
    srm_p_value: float
    balance: pd.DataFrame
    start: pd.Timestamp
    window_days: int

    @property
    def ok(self) -> bool:
        """True when the sizes match the plan and every variable is balanced."""
        return bool(self.srm_p_value >= SRM_ALPHA and self.balance["balanced"].all())

    def summary(self) -> str:
        """The check in plain words."""
        text = (f"{self.n_treatment:,} treated and {self.n_control:,} control members: a "
                f"{self.observed_holdout:.1%} holdout against {self.planned_holdout:.1%} "
                f"planned (SRM p = {self.srm_p_value:.2g}). ")
        bal = self.balance
        unbalanced = bal.loc[~bal["balanced"], "variable"].tolist()
        if self.srm_p_value < SRM_ALPHA:
            text += "The sizes do not match the plan: check the assignment. "
        if unbalanced:
            return text + (f"Before the campaign the groups differ on {unbalanced} "
                           "(p < 0.001): the assignment was probably not random.")
        text += (f"Before the campaign the groups do not differ beyond chance on the "
                 f"{len(bal)} variables checked.")
        large = bal.loc[bal["std_diff"].abs() >= 0.1, "variable"].tolist()
        if large:
            text += (f" Chance differences above 0.1 standard deviations on {large}; "
                     "CUPED adjusts for them.")
        return text


def _balance_row(name: str, xt: np.ndarray, xc: np.ndarray) -> tuple:
    """Means, standardized difference and Welch p-value of one pre-campaign variable."""
    xt, xc = xt[~np.isnan(xt)], xc[~np.isnan(xc)]
    if min(len(xt), len(xc)) < 2:
        return (name, np.nan, np.nan, np.nan, np.nan, True)
    pooled = np.sqrt((np.var(xt, ddof=1) + np.var(xc, ddof=1)) / 2)
    if pooled == 0:
        return (name, xt.mean(), xc.mean(), 0.0, 1.0, True)
    std_diff = (xt.mean() - xc.mean()) / pooled
    p = lift_statistics(xt, xc).p_value
    return (name, xt.mean(), xc.mean(), float(std_diff), p, bool(p >= SRM_ALPHA))


def check_randomization(
    orders: pd.DataFrame,
    audience: pd.DataFrame,
    *,
    start: object,
    window_days: int = 30,
    covariates: Sequence[str] = (),
    group_col: str = "group",
    treatment: object = "treatment",
    control: object = "control",
    planned_holdout: float | None = None,
    pre_days: int | None = None,
) -> RandomizationCheck:
    """Check that treatment and control were alike before the campaign.

    Compares the group sizes with the planned split (sample-ratio mismatch) and the
    groups' behaviour before ``start``: each metric over the ``pre_days`` before, and
    each member's whole history (orders, amount, days since the last order, from
    :func:`~crm_analytics.customer_summary`), plus any audience ``covariates``.
    A variable is ``balanced`` unless its test (Welch, or chi-square for categorical
    columns) rejects equality at p < 0.001, the same bar as the sample-ratio check:
    under true randomization that happens once in a thousand variables, so a failure
    points at a broken assignment. ``std_diff`` (difference in pooled standard
    deviations) shows the size of chance differences; CUPED corrects those.

    Parameters
    ----------
    orders, audience, start, window_days, group_col, treatment, control, planned_holdout, \
pre_days
        As in :func:`campaign_lift`.
    covariates : list of str
        Extra audience columns to compare (numeric or categorical, e.g. member tier).

    Returns
    -------
    RandomizationCheck

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": list("abcdef"), "order_id": list("123456"),
    ...     "order_date": pd.to_datetime(["2024-02-20", "2024-02-21", "2024-02-10",
    ...                                   "2024-01-05", "2024-02-11", "2024-02-25"]),
    ...     "amount": [10.0, 12.0, 11.0, 9.0, 20.0, 30.0]})
    >>> audience = pd.DataFrame({"customer_id": list("abcdef"),
    ...                          "group": ["treatment", "control"] * 3})
    >>> check = check_randomization(orders, audience, start="2024-03-01", planned_holdout=0.5)
    >>> check.balance[["variable", "std_diff", "balanced"]].head(3).round(2)
             variable  std_diff  balanced
    0  pre_conversion      0.82      True
    1      pre_orders      0.82      True
    2     pre_revenue     -0.03      True
    """
    prep = _prepare(orders, audience, start=start, window_days=window_days, metric="orders",
                    group_col=group_col, treatment=treatment, control=control,
                    covariate=None, planned_holdout=planned_holdout, pre_days=pre_days,
                    pre_only=True)
    members, is_t = prep.members, prep.is_treated
    start_ts = prep.settings["start"]
    variables = {c: members[c].to_numpy() for c in members.columns if c.startswith("pre_")}
    orders = prepare_orders(orders).orders
    if (orders["order_date"] < start_ts).any():
        history = customer_summary(orders, as_of=start_ts - pd.Timedelta(days=1))
        history = history.set_index("customer_id").reindex(members["customer_id"])
        variables["history_orders"] = history["n_orders"].fillna(0).to_numpy(dtype=float)
        variables["history_amount"] = history["total_amount"].fillna(0).to_numpy(dtype=float)
        variables["history_days_since_order"] = (
            history["days_since_last_order"].to_numpy(dtype=float) + 1)  # as of start
    rows = [_balance_row(name, x[is_t], x[~is_t]) for name, x in variables.items()]
    for col in covariates:
        require_columns(audience, [col], "the audience table (covariates)")
        if pd.api.types.is_numeric_dtype(audience[col]):
            x = audience[col].to_numpy(dtype=float)
            rows.append(_balance_row(col, x[is_t], x[~is_t]))
        else:
            table = pd.crosstab(audience[col].fillna("(missing)").to_numpy(), is_t)
            p = scipy_stats().chi2_contingency(table).pvalue if table.shape[0] > 1 else 1.0
            rows.append((col, np.nan, np.nan, np.nan, float(p), bool(p >= SRM_ALPHA)))
    balance = pd.DataFrame(rows, columns=["variable", "mean_treatment", "mean_control",
                                          "std_diff", "p_value", "balanced"])
    n_t, n_c = int(is_t.sum()), int((~is_t).sum())
    planned = prep.settings["planned_holdout"]
    return RandomizationCheck(
        n_treatment=n_t, n_control=n_c, planned_holdout=planned,
        observed_holdout=n_c / (n_t + n_c), srm_p_value=srm_test(n_t, n_c, planned),
        balance=balance, start=start_ts, window_days=prep.settings["window_days"])
