"""Churn and LTV scores per customer straight from orders, in pandas or in an engine."""

from __future__ import annotations

import pandas as pd

from crm_analytics._core.checks import check_positive
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source, runner_for
from crm_analytics.churn import ChurnModel, check_churn_model, check_risk_bands, churn_scores
from crm_analytics.ltv.predict import predict_ltv
from crm_analytics.ltv.rules import DAYS_PER_MONTH, check_horizon_months
from crm_analytics.ltv.spend import SpendModel, check_spend_model
from crm_analytics.ltv.sql import score_customers_on_engine
from crm_analytics.summary import customer_summary

__all__ = ["score_customers"]


def score_customers(
    orders: object,
    *,
    churn_model: ChurnModel,
    spend_model: SpendModel | None = None,
    as_of: object = None,
    time_unit: str = "D",
    horizon: float = 90,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    margin_rate: float | None = None,
    high_risk_below: float = 0.5,
    medium_risk_below: float = 0.8,
    next_order_min_p_alive: float = 0.1,
    days_per_month: float = DAYS_PER_MONTH,
    output: str = "pandas",
) -> pd.DataFrame | object:
    """Churn scores and (with a spend model) LTV per customer, from orders.

    For pandas orders (or :func:`~crm_analytics.prepare_orders` of them) this is
    :func:`~crm_analytics.customer_summary`, :func:`~crm_analytics.churn.churn_scores`
    and :func:`~crm_analytics.ltv.predict_ltv`, joined. For an engine source (Parquet
    path / glob / list, DuckDB relation, Spark DataFrame) the summary stays in the
    engine: each distinct history is scored once in NumPy by the same functions and
    joined back in SQL, so the numbers are those of the pandas path.

    Parameters
    ----------
    orders : pandas.DataFrame, PreparedOrders or engine source
        Canonical orders. Not modified.
    churn_model : ChurnModel
        From :func:`~crm_analytics.churn.fit_churn_model` (any time unit).
    spend_model : SpendModel, optional
        From :func:`~crm_analytics.ltv.fit_spend_model`; without it, churn columns only.
    as_of : date-like, optional
        The scoring day; default the last order date.
    time_unit : {"D", "W"}, default "D"
        Unit of the summary computed on the way (results do not depend on it).
    horizon : float, default 90
        Churn window of ``expected_orders``, in **days**.
    horizon_months : int, default 12
        LTV horizon, in months of ``days_per_month`` days.
    monthly_discount_rate, margin_rate, days_per_month
        As in :func:`~crm_analytics.ltv.predict_ltv`.
    high_risk_below, medium_risk_below, next_order_min_p_alive
        As in :func:`~crm_analytics.churn.churn_scores`.
    output : {"pandas", "native"}, default "pandas"
        ``"native"`` returns an engine source's own lazy table (a DuckDB relation or
        Spark DataFrame) instead of collecting it.

    Returns
    -------
    pandas.DataFrame (or the engine's table)
        One row per customer sorted by ``customer_id``: the columns of
        :func:`~crm_analytics.churn.churn_scores` and, with ``spend_model``,
        ``ltv_expected_orders`` (``expected_orders`` of
        :func:`~crm_analytics.ltv.predict_ltv`), ``expected_spend_per_order,
        expected_revenue, expected_margin, ltv``. Engine results carry ``churn_risk``
        and ``next_order_basis`` as text.

    Raises
    ------
    CrmDataError
        Wrong model objects or parameters, invalid orders, ``output="native"`` for
        pandas orders, or a margin column together with ``margin_rate``.

    Examples
    --------
    >>> from crm_analytics import customer_summary, load_cdnow
    >>> from crm_analytics.churn import fit_churn_model
    >>> from crm_analytics.ltv import fit_spend_model
    >>> orders = load_cdnow("sample")
    >>> summary = customer_summary(orders, as_of="1997-09-30", time_unit="W")
    >>> scores = score_customers(orders, as_of="1997-09-30",
    ...                          churn_model=fit_churn_model(summary),
    ...                          spend_model=fit_spend_model(summary), horizon=91)
    >>> first = scores.iloc[0]
    >>> first["customer_id"], first["churn_risk"], round(float(first["ltv"]), 2)
    ('1', 'high', 36.27)
    """
    if output not in ("pandas", "native"):
        raise CrmDataError(f"The 'output' parameter must be 'pandas' or 'native'. Got {output!r}.")
    if is_engine_source(orders):
        return score_customers_on_engine(
            runner_for(orders), churn_model, spend_model, as_of=as_of, time_unit=time_unit,
            horizon=horizon, horizon_months=horizon_months,
            monthly_discount_rate=monthly_discount_rate, margin_rate=margin_rate,
            high_risk_below=high_risk_below, medium_risk_below=medium_risk_below,
            next_order_min_p_alive=next_order_min_p_alive, days_per_month=days_per_month,
            output=output)
    if output != "pandas":
        raise CrmDataError(
            f"output={output!r} is only for engine sources (Parquet, DuckDB, Spark); pandas "
            "orders give a pandas DataFrame. Leave output out."
        )
    # the cheap argument checks before the summary is computed
    check_churn_model(churn_model)
    check_positive(horizon, "horizon")
    check_risk_bands(high_risk_below, medium_risk_below)
    if spend_model is not None:
        check_spend_model(spend_model)
        check_horizon_months(horizon_months)
    summary = customer_summary(orders, as_of=as_of, time_unit=time_unit)
    scores = churn_scores(summary, churn_model=churn_model, horizon=horizon,
                          high_risk_below=high_risk_below, medium_risk_below=medium_risk_below,
                          next_order_min_p_alive=next_order_min_p_alive, time_unit=time_unit)
    if spend_model is None:
        return scores
    ltv = predict_ltv(summary, churn_model=churn_model, spend_model=spend_model,
                      horizon_months=horizon_months,
                      monthly_discount_rate=monthly_discount_rate, margin_rate=margin_rate,
                      days_per_month=days_per_month, time_unit=time_unit)
    ltv = ltv.drop(columns="customer_id").rename(
        columns={"expected_orders": "ltv_expected_orders"})
    return pd.concat([scores, ltv], axis=1)
