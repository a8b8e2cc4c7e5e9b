"""Model-based LTV per customer: churn model x Gamma-Gamma spend, discounted monthly."""

from __future__ import annotations

import warnings

import pandas as pd

from crm_analytics._core.checks import check_positive, require_columns
from crm_analytics._core.dates import TIME_UNIT_DAYS
from crm_analytics.churn import ChurnModel, check_churn_model, check_rfm, compress_rfm
from crm_analytics.ltv.rules import (
    DAYS_PER_MONTH,
    check_horizon_months,
    discounted_orders,
    margin_rule,
)
from crm_analytics.ltv.spend import SpendModel, check_spend_model
from crm_analytics.summary import summary_time_unit

__all__ = ["predict_ltv"]


def _positional_models(summary, args: tuple, churn_model, spend_model):
    """The models of ``predict_ltv(summary, churn_model, spend_model)``, with a warning."""
    if not args:
        return churn_model, spend_model
    if len(args) > 2:
        raise TypeError("predict_ltv() takes the summary as its only positional argument; "
                        "pass churn_model= and spend_model= by keyword.")
    given = list(args) + [None] * (2 - len(args))
    if (given[0] is not None and churn_model is not None) or (
            given[1] is not None and spend_model is not None):
        raise TypeError("predict_ltv() got a model twice (positionally and by keyword).")
    warnings.warn(
        "predict_ltv(summary, churn_model, spend_model) with positional models is deprecated "
        "and will be removed in the next release: pass them by keyword, "
        "predict_ltv(summary, churn_model=..., spend_model=...).",
        DeprecationWarning, stacklevel=3,
    )
    return (given[0] if given[0] is not None else churn_model,
            given[1] if given[1] is not None else spend_model)


def predict_ltv(
    summary: pd.DataFrame,
    *args: object,
    churn_model: ChurnModel | None = None,
    spend_model: SpendModel | None = None,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    margin_rate: float | None = None,
    days_per_month: float = DAYS_PER_MONTH,
    time_unit: str | None = None,
) -> pd.DataFrame:
    """Expected orders, spend, revenue, margin and discounted LTV over the next months.

    ``ltv = sum over months k = 1..horizon_months of
    (expected orders in month k) x (expected spend per order) [x margin rate]
    / (1 + monthly_discount_rate) ** k``, the discounted-cash-flow sum of lifetimes'
    ``customer_lifetime_value``. Month ``k`` is the interval from ``(k-1)`` to ``k``
    months after ``as_of``, a month being ``days_per_month`` days, converted to the churn
    model's time unit (lifetimes' own function assumes daily data unless told
    ``freq=``: a 7x error on weekly data, lifetimes issues #215/#233; here the unit comes
    from the model, so weekly and daily summaries give the same answer).

    The rules are shared with the engine path: the discounted loop
    (:func:`~crm_analytics.ltv.rules.discounted_orders`, once per distinct history), the
    expected spend (:class:`~crm_analytics.ltv.spend.SpendRule`) and the margin rule
    (:func:`~crm_analytics.ltv.rules.margin_rule`).

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`~crm_analytics.customer_summary` at the valuation date. Not modified.
        The only positional argument (``predict_ltv(summary, churn_model, spend_model)``
        still works for one release, with a DeprecationWarning).
    churn_model : ChurnModel
        From :func:`~crm_analytics.churn.fit_churn_model`.
    spend_model : SpendModel
        From :func:`~crm_analytics.ltv.fit_spend_model`.
    horizon_months : int, default 12
        Number of months valued (the LTV horizon; churn windows are ``horizon`` in
        days).
    monthly_discount_rate : float, default 0.01
        Discount rate per month (0.01 is about 12.7% a year).
    margin_rate : float, optional
        Gross margin as a share of revenue, when the orders had no ``margin`` column.
        When the summary has ``total_margin``, each customer's own margin share
        (``total_margin / total_amount``; the shop's share for a customer who paid
        nothing) is used instead; giving both is an error.
    days_per_month : float, default 30.415
        Month length in days: 4.345 weeks, as lifetimes with ``freq="W"`` (lifetimes
        uses 30 days with ``freq="D"``; pass 30 to reproduce that).
    time_unit : {"D", "W"}, optional
        Unit of the summary's ``recency`` / ``T``; default: read from its columns.

    Returns
    -------
    pandas.DataFrame
        One row per customer of ``summary``: ``customer_id``, ``expected_orders``
        (purchase occasions in the horizon), ``expected_spend_per_order`` (money),
        ``expected_revenue`` (money, undiscounted), ``expected_margin`` (money,
        undiscounted; NaN when no margin is known), ``ltv`` (money, discounted: margin
        when a margin is known, else revenue; so ``ltv`` is on revenue exactly when
        ``expected_margin`` is all NaN). The settings are the call's arguments; nothing
        is stored on the frame.

    Raises
    ------
    CrmDataError
        Wrong model objects, an invalid summary, ``margin_rate`` together with a
        ``total_margin`` column, or invalid horizon / rates.

    Examples
    --------
    >>> from crm_analytics import customer_summary, load_cdnow
    >>> from crm_analytics.churn import fit_churn_model
    >>> from crm_analytics.ltv import fit_spend_model
    >>> summary = customer_summary(load_cdnow("sample"), as_of="1997-09-30", time_unit="W")
    >>> ltv = predict_ltv(summary, churn_model=fit_churn_model(summary),
    ...                   spend_model=fit_spend_model(summary))
    >>> bool(ltv["expected_margin"].isna().all()), round(ltv["ltv"].sum())
    (True, 71508)
    >>> ltv.loc[0, ["expected_orders", "expected_spend_per_order", "ltv"]].round(2).to_dict()
    {'expected_orders': 1.56, 'expected_spend_per_order': 24.65, 'ltv': 36.27}
    """
    churn_model, spend_model = _positional_models(summary, args, churn_model, spend_model)
    churn_model = check_churn_model(churn_model)
    spend_model = check_spend_model(spend_model)
    check_horizon_months(horizon_months)
    check_positive(monthly_discount_rate, "monthly_discount_rate", allow_zero=True)
    check_positive(days_per_month, "days_per_month")
    check_rfm(summary)
    require_columns(summary, ["monetary_value"], "summary")
    rule = margin_rule(has_margin="total_margin" in summary.columns, margin_rate=margin_rate)
    if rule.source == "margin column":
        require_columns(summary, ["total_amount"], "summary")
    scale = TIME_UNIT_DAYS[summary_time_unit(summary, time_unit)] / churn_model.unit_days
    freq = summary["frequency"].to_numpy(dtype=float)
    rec = summary["recency"].to_numpy(dtype=float) * scale
    T = summary["T"].to_numpy(dtype=float) * scale
    px, prec, pT, _, inverse = compress_rfm(freq, rec, T)
    orders, discounted = discounted_orders(
        churn_model, px, pT, churn_model.p_alive(px, prec, pT), horizon_months=horizon_months,
        monthly_discount_rate=monthly_discount_rate, days_per_month=days_per_month)
    spend = spend_model.spend_rule().evaluate(freq, summary["monetary_value"].to_numpy(float))
    if rule.source == "margin column":
        rates = rule.rates(len(summary), summary["total_margin"].to_numpy(dtype=float),
                           summary["total_amount"].to_numpy(dtype=float))
    else:
        rates = rule.rates(len(summary))
    expected_orders = orders[inverse]
    revenue = expected_orders * spend
    ltv = discounted[inverse] * spend * (rates if rule.source is not None else 1.0)
    return pd.DataFrame(
        {
            "customer_id": summary["customer_id"].array.copy(),
            "expected_orders": expected_orders,
            "expected_spend_per_order": spend,
            "expected_revenue": revenue,
            "expected_margin": revenue * rates,
            "ltv": ltv,
        },
        copy=False,  # every column is a fresh array (the ids copied above): no second copy
    )
