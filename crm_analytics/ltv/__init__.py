"""What each customer is worth: the shop formula, Gamma-Gamma spend, and model-based LTV.

Two ways, with every unit in the names:

- :func:`formula_ltv`, the shop formula: LTV (money) = expected lifetime (years) x average
  gross margin per order (money) x orders per year;
- :func:`predict_ltv`, model based: expected orders in each of the next
  ``horizon_months`` months from the churn model
  (:func:`~crm_analytics.churn.fit_churn_model`) times the expected spend per order from
  the Gamma-Gamma model (:func:`fit_spend_model`; Fader & Hardie 2013, "The Gamma-Gamma
  Model of Monetary Value"; Fader, Hardie & Lee 2005, "RFM and CLV", JMR 42(4)),
  discounted monthly. :func:`score_customers` gives churn scores and LTV straight from
  orders, in pandas or inside an engine.

Modules: :mod:`~crm_analytics.ltv.spend` (the spend model and its :class:`SpendRule`),
:mod:`~crm_analytics.ltv.rules` (the discount loop and the margin rule, shared by the
pandas and SQL paths), :mod:`~crm_analytics.ltv.predict`, :mod:`~crm_analytics.ltv.formula`,
:mod:`~crm_analytics.ltv.scoring`, :mod:`~crm_analytics.ltv.sql` (engine scoring) and
:mod:`~crm_analytics.ltv.engine_fit` (fits on SQL counts).

"Order" here means a purchase occasion (all orders of one customer on one day), as in
:func:`~crm_analytics.customer_summary`.
"""

from __future__ import annotations

from crm_analytics.ltv.formula import estimate_lifetime_years, formula_ltv
from crm_analytics.ltv.predict import predict_ltv, shop_total
from crm_analytics.ltv.rules import (
    DAYS_PER_MONTH,
    MarginRule,
    check_horizon_months,
    discounted_orders,
    margin_rule,
    overall_margin_rate,
)
from crm_analytics.ltv.scoring import score_customers
from crm_analytics.ltv.spend import (
    SpendModel,
    SpendRule,
    check_spend_model,
    fit_spend_model,
    fit_spend_pairs,
)

__all__ = [
    "SpendModel",
    "SpendRule",
    "fit_spend_model",
    "fit_spend_pairs",
    "predict_ltv",
    "shop_total",
    "formula_ltv",
    "estimate_lifetime_years",
    "score_customers",
    "DAYS_PER_MONTH",
    "MarginRule",
    "margin_rule",
    "overall_margin_rate",
    "discounted_orders",
    "check_horizon_months",
    "check_spend_model",
]
