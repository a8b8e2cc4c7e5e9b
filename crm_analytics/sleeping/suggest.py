"""A data-driven ``sleep_after`` from the shop's own repurchase gaps."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics._core.checks import check_fraction
from crm_analytics._core.errors import CrmDataError
from crm_analytics.orders.encode import prepare_orders
from crm_analytics.sleeping.occasions import customer_order_days, refuse_engine_source
from crm_analytics.summary import customer_summary, resolve_as_of

__all__ = ["SleepAfterSuggestion", "suggest_sleep_after"]

_GAP_EDGES = (1, 8, 15, 31, 61, 91, 181, 366)
_GAP_LABELS = ("1-7", "8-14", "15-30", "31-60", "61-90", "91-180", "181-365", ">365")


@dataclass(frozen=True, eq=False)
class SleepAfterSuggestion:
    """A data-driven ``sleep_after``, with the gap distribution behind it.

    Attributes
    ----------
    sleep_after : int
        The ``quantile`` of the gaps between consecutive order days, rounded up.
    quantile : float
        The quantile used.
    gap_quantiles : pandas.DataFrame
        ``quantile, gap_days`` for common quantiles (and the one used).
    gap_distribution : pandas.DataFrame
        ``gap_days`` (bin label), ``n_gaps, share, cumulative_share``.
    n_customers : int
        Customers with at least two order days (the only ones with a gap).
    n_gaps : int
        Gaps observed.
    as_of : pandas.Timestamp
        Last day of data used.
    p_alive_level : float
        The P(alive) level of the churn-model view.
    p_alive_days : int or None
        With a churn model: days since the last order after which a typical repeat
        customer's P(alive) is below ``p_alive_level`` (None without a model, or when
        not reached within ten years).
    p_alive_curve : pandas.DataFrame or None
        ``days_since_last_order, p_alive`` for that typical customer.
    typical_customer : dict or None
        The ``frequency`` and ``recency`` (in the model's time unit) used.
    model_warnings : tuple of str
        The churn model's warnings (dropout not identified, few repeat customers, ...).
        When there are any, :meth:`summary` gives no time-to-churn figure: a model the
        data cannot support would state a confident wrong number.
    """

    sleep_after: int
    quantile: float
    gap_quantiles: pd.DataFrame
    gap_distribution: pd.DataFrame
    n_customers: int
    n_gaps: int
    as_of: pd.Timestamp
    p_alive_level: float = 0.5
    p_alive_days: int | None = None
    p_alive_curve: pd.DataFrame | None = None
    typical_customer: dict | None = None
    model_warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        """A few plain sentences explaining the suggestion."""
        median = int(self.gap_quantiles.set_index("quantile").loc[0.5, "gap_days"])
        text = (
            f"{self.n_gaps} gaps between order days of {self.n_customers} repeat customers "
            f"(data up to {self.as_of.date()}); the median gap is {median} days and "
            f"{self.quantile:.0%} of repurchases came within {self.sleep_after} days, so "
            f"suggest sleep_after={self.sleep_after}. Gaps longer than the data window "
            "cannot be seen, so on a short history this is a lower bound."
        )
        if self.model_warnings:  # a model the data cannot support gives no time-to-churn
            text += (" The churn model is not used for a time-to-churn figure here: "
                     + " ".join(self.model_warnings))
        elif self.p_alive_days is not None:
            text += (
                f" The churn model says a typical repeat customer's P(alive) falls below "
                f"{self.p_alive_level:.0%} after {self.p_alive_days} days without an order."
            )
        return text


def _p_alive_view(model: object, orders: pd.DataFrame, as_of: pd.Timestamp, level: float):
    params = getattr(model, "params", None)
    keys = ("r", "alpha", "a", "b")
    own = callable(getattr(model, "p_alive", None))
    if params is None or not (own or all(k in params for k in keys)):
        raise CrmDataError(
            "The 'churn_model' parameter must be a fitted model from "
            "crm_analytics.fit_churn_model(...) (or hold BG/NBD parameters "
            f"{list(keys)} in .params). Got {type(model).__name__}."
        )
    time_unit = getattr(model, "time_unit", "D")
    summary = customer_summary(orders, as_of=as_of, time_unit=time_unit)
    repeat = summary[summary["frequency"] > 0]
    if repeat.empty:
        return None, None, None
    x = max(1, round(float(repeat["frequency"].median())))
    t_x = float(repeat["recency"].median())
    days = np.arange(0, 3651)
    big_t = t_x + days / (7.0 if time_unit == "W" else 1.0)
    if own:  # the model's own P(alive) (BG/NBD, MBG/NBD, Pareto/NBD)
        p_alive = np.asarray(model.p_alive(np.full(len(days), x), np.full(len(days), t_x),
                                           big_t), dtype=float)
    else:  # BG/NBD P(alive | x, t_x, T) for x > 0 (Fader, Hardie & Lee 2005, eq. 13)
        r, alpha, a, b = (float(params[k]) for k in keys)
        log_ratio = np.log(a / (b + x - 1)) + (r + x) * np.log((alpha + big_t) / (alpha + t_x))
        p_alive = 1.0 / (1.0 + np.exp(log_ratio))
    below = np.flatnonzero(p_alive < level)
    crossing = int(days[below[0]]) if len(below) else None
    curve = pd.DataFrame({"days_since_last_order": days, "p_alive": p_alive})
    return crossing, curve, {"frequency": x, "recency": t_x, "time_unit": time_unit}


def suggest_sleep_after(
    orders: pd.DataFrame,
    *,
    quantile: float = 0.9,
    as_of: object = None,
    churn_model: object = None,
    p_alive_level: float = 0.5,
) -> SleepAfterSuggestion:
    """Suggest ``sleep_after`` from the shop's own repurchase gaps.

    Pools the gaps (in days) between consecutive order days of every customer and
    takes their ``quantile``: with 0.9, nine in ten repurchases happen within the
    suggested number of days, so a member past it is unlikely to be "between two
    orders". Gaps longer than the data window cannot be observed, so on a short
    history the suggestion is a lower bound.

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical orders. Not modified.
    quantile : float, default 0.9
        Strictly between 0 and 1.
    as_of : date-like, optional
        Use orders up to this day. Default: the last order date.
    churn_model : optional
        A fitted BG/NBD model with ``.params`` (``r, alpha, a, b``) and ``.time_unit``
        (e.g. from :mod:`crm_analytics.churn`). Adds the day after which a typical
        repeat customer (median frequency and recency of repeat customers) has
        P(alive) below ``p_alive_level``.
    p_alive_level : float, default 0.5

    Returns
    -------
    SleepAfterSuggestion

    Raises
    ------
    CrmDataError
        No customer has two order days, or invalid parameters.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b"],
    ...     "order_id": ["1", "2", "3", "4", "5"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-11", "2024-02-10",
    ...                                   "2024-01-01", "2024-01-21"]),
    ...     "amount": [10.0] * 5})
    >>> res = suggest_sleep_after(orders, quantile=0.5)
    >>> res.sleep_after, res.n_customers, res.n_gaps
    (20, 2, 3)
    """
    refuse_engine_source(orders, "suggest_sleep_after")
    check_fraction(quantile, "quantile")
    check_fraction(p_alive_level, "p_alive_level")
    orders = prepare_orders(orders).orders
    as_of_ts = resolve_as_of(orders, as_of)
    sub = orders[orders["order_date"] < as_of_ts + pd.Timedelta(days=1)]
    if sub.empty:
        raise CrmDataError(f"No order is on or before as_of={as_of_ts.date()}.")
    occ_cust, occ_day, _ = customer_order_days(sub)
    same = occ_cust[1:] == occ_cust[:-1]
    gaps = (occ_day[1:] - occ_day[:-1])[same]
    if len(gaps) == 0:
        raise CrmDataError(
            "No customer has orders on two different days, so there is no repurchase gap "
            "to learn sleep_after from. Use a longer history, or set sleep_after from the "
            "shop's experience (90 days is common)."
        )
    levels = sorted({0.5, 0.75, 0.8, 0.9, 0.95, 0.99, float(quantile)})
    gap_q = pd.DataFrame(
        {"quantile": levels, "gap_days": np.quantile(gaps, levels, method="inverted_cdf")}
    )
    counts = np.bincount(np.searchsorted(_GAP_EDGES, gaps, side="right") - 1,
                         minlength=len(_GAP_EDGES))
    dist = pd.DataFrame({"gap_days": list(_GAP_LABELS), "n_gaps": counts.astype(np.int64)})
    dist["share"] = dist["n_gaps"] / len(gaps)
    dist["cumulative_share"] = dist["share"].cumsum()
    crossing = curve = typical = None
    if churn_model is not None:
        crossing, curve, typical = _p_alive_view(churn_model, sub, as_of_ts, p_alive_level)
    return SleepAfterSuggestion(
        sleep_after=int(math.ceil(np.quantile(gaps, quantile, method="inverted_cdf"))),
        quantile=float(quantile),
        gap_quantiles=gap_q,
        gap_distribution=dist,
        n_customers=int(np.unique(occ_cust[1:][same]).size),
        n_gaps=int(len(gaps)),
        as_of=as_of_ts,
        p_alive_level=float(p_alive_level),
        p_alive_days=crossing,
        p_alive_curve=curve,
        typical_customer=typical,
        model_warnings=tuple(getattr(churn_model, "warnings", ()) or ()),
    )
