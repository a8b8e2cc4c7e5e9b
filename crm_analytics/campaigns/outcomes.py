"""Per-member campaign outcomes: inputs checked once, then every audience member's
conversion, orders, revenue and margin in the window and the pre-period.

Pandas orders are aggregated here with NumPy; engine sources (Parquet, DuckDB, Spark) by
:func:`crm_analytics.campaigns.sql.campaign_outcomes`. Both apply the windows and the
margin rule of :mod:`crm_analytics.campaigns.rules`.
"""

from __future__ import annotations

import warnings
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
from crm_analytics.campaigns.rules import (
    METRICS,
    check_windows,
    margin_source,
    margin_values,
    member_ids,
    outcome_windows,
)
from crm_analytics.campaigns.sql import campaign_outcomes
from crm_analytics.orders.encode import prepare_orders
from crm_analytics.summary import resolve_as_of

__all__ = [
    "CampaignData",
    "IncompleteWindowWarning",
    "SampleRatioMismatchWarning",
    "campaign_settings",
    "prepare_campaign",
]


class SampleRatioMismatchWarning(UserWarning):
    """Group sizes differ from the planned split more than chance allows (p < 0.001)."""


class IncompleteWindowWarning(UserWarning):
    """The outcome window extends past the last order in the data."""


@dataclass(frozen=True, eq=False)
class CampaignData:
    """One campaign's checked settings and every member's outcomes (internal to campaigns).

    ``members`` holds ``customer_id, group`` and each metric in the window and (``pre_``)
    before it; ``is_treated`` flags its rows; ``settings`` repeats the checked settings;
    ``cumulative`` is the daily curve of ``settings["metric"]`` (empty on engines).
    """

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


def _member_outcomes(orders: pd.DataFrame, ids: np.ndarray, is_treated: np.ndarray, *,
                     start_ts: pd.Timestamp, as_of_ts: pd.Timestamp, window_days: int,
                     pre_days: int, metric: str, margin_rate, observed: int, notes: list):
    """Per-member outcomes from pandas orders: (members, has_margin, cumulative curve)."""
    n = len(ids)
    codes = pd.Index(ids).get_indexer(orders["customer_id"].to_numpy(dtype=object))
    day = np.floor((orders["order_date"] - start_ts) / pd.Timedelta(days=1)).to_numpy()
    after = (orders["order_date"] >= as_of_ts + pd.Timedelta(days=1)).to_numpy()
    day = np.where(after, window_days, day)  # orders after as_of are outside both windows
    windows = outcome_windows(window_days, pre_days)
    masks = {prefix: (codes >= 0) & (day >= lo) & (day < hi)
             for prefix, (lo, hi) in windows.items()}
    in_window = masks[""]
    relevant = np.logical_or.reduce(list(masks.values()))
    amount = orders["amount"].to_numpy(dtype=float)
    has_column = "margin" in orders.columns
    margin = orders["margin"].to_numpy(dtype=float) if has_column else None
    n_missing = int((relevant & np.isnan(margin)).sum()) if has_column else 0
    source, note = margin_source(has_margin_column=has_column, n_missing=n_missing,
                                 margin_rate=margin_rate)
    if note is not None:
        notes.append(note)
    has_margin = source is not None
    margin = margin_values(source, amount, margin, margin_rate)
    members = pd.DataFrame({"customer_id": ids, "group": np.where(is_treated, "treatment",
                                                                  "control")})
    for prefix, mask in masks.items():
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
    cumulative = _cumulative(codes[in_window], day[in_window].astype(np.int64), is_treated,
                             weights={"orders": None, "revenue": amount[in_window],
                                      "margin": margin[in_window]},
                             metric=metric, start_ts=start_ts, window_days=window_days,
                             observed=observed)
    return members, has_margin, cumulative


def _cumulative(c: np.ndarray, d: np.ndarray, is_treated: np.ndarray, *, weights: dict,
                metric: str, start_ts: pd.Timestamp, window_days: int,
                observed: int) -> pd.DataFrame:
    """Cumulative per-member outcome by day of the window, per group (observed days)."""
    n = len(is_treated)
    if metric == "conversion":
        first = np.full(n, window_days)
        np.minimum.at(first, c, d)
        c = np.flatnonzero(first < window_days)
        d, weight = first[c], np.ones(len(c))
    else:
        weight = weights[metric] if weights[metric] is not None else np.ones(len(c))
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
    return cumulative[cumulative["day"] <= observed].reset_index(drop=True)


def prepare_campaign(
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
) -> CampaignData:
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
    margin_notes: list[str] = []  # kept after the window note, as on the pandas path
    if on_engine:  # per-member outcomes aggregated in DuckDB / Spark
        members, as_of_ts = campaign_outcomes(runner_for(orders), audience, start=start_ts,
                                              window_days=window_days, pre_days=pre_days,
                                              as_of=as_of, group_col=group_col,
                                              margin_rate=margin_rate, notes=margin_notes)
    else:
        as_of_ts = resolve_as_of(orders, as_of)
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
        notes.extend(margin_notes)
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
    return CampaignData(members, is_treated, settings, tuple(notes), has_margin, cumulative)
