"""The LTV rules, written once for the pandas and the engine path.

- the discounted LTV loop, :func:`discounted_orders`: expected orders month by month,
  discounted, computed in NumPy once per distinct customer history for both paths;
- the margin rule, :func:`margin_rule` and :class:`MarginRule`: which gross-margin share
  applies (each customer's own ``total_margin / total_amount``, the shop's rate for a
  customer who paid nothing, or a flat ``margin_rate``; both at once is an error), with
  its NumPy form (:meth:`MarginRule.rates`) and SQL form (:meth:`MarginRule.sql`);
- the Gamma-Gamma expected spend is :class:`crm_analytics.ltv.spend.SpendRule`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crm_analytics._core.checks import check_fraction, check_positive
from crm_analytics._core.errors import CrmDataError
from crm_analytics.churn import check_expected_orders, frequency_age_pairs

__all__ = [
    "DAYS_PER_MONTH",
    "MarginRule",
    "margin_rule",
    "overall_margin_rate",
    "check_horizon_months",
    "discounted_orders",
]

#: Month length used by :func:`~crm_analytics.ltv.predict_ltv` by default: 4.345 weeks
#: (30.415 days), the month of lifetimes' ``customer_lifetime_value(..., freq="W")``.
DAYS_PER_MONTH = 4.345 * 7


# --------------------------------------------------------------------------- margin


def overall_margin_rate(total_margin: np.ndarray, total_amount: np.ndarray) -> float:
    """Total margin / total amount of all customers (NaN when the amount is not positive)."""
    amount = float(np.sum(total_amount))
    return float(np.sum(total_margin)) / amount if amount > 0 else float("nan")


@dataclass(frozen=True)
class MarginRule:
    """Which gross-margin share of revenue applies, from :func:`margin_rule`.

    Attributes
    ----------
    source : {"margin column", "margin_rate"} or None
        Each customer's own ``total_margin / total_amount`` (the shop's rate when the
        customer's amount is 0), a flat ``margin_rate``, or None: no margin known, so
        LTV is on revenue.
    margin_rate : float or None
        The flat rate when ``source == "margin_rate"``.
    """

    source: str | None
    margin_rate: float | None = None

    @property
    def basis(self) -> str:
        """What ``ltv`` measures: "margin" when a margin is known, else "revenue"."""
        return "revenue" if self.source is None else "margin"

    def rates(self, n: int, total_margin=None, total_amount=None) -> np.ndarray:
        """Per-customer margin share (NaN for every customer when unknown).

        ``total_margin`` / ``total_amount`` (arrays of the ``n`` customers) are needed
        for the margin column.
        """
        if self.source == "margin_rate":
            return np.full(n, float(self.margin_rate))
        if self.source is None:
            return np.full(n, np.nan)
        margin = np.asarray(total_margin, dtype=float)
        amount = np.asarray(total_amount, dtype=float)
        shop = overall_margin_rate(margin, amount)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(amount > 0, margin / amount, shop)

    def sql(self, s: str = "s", shop_rate: float | None = None) -> str | None:
        """The SQL form of :meth:`rates` over summary alias ``s`` (None when unknown).

        ``shop_rate`` is the shop's rate (:func:`overall_margin_rate` of the same summary,
        computed in the engine); None becomes NULL.
        """
        if self.source == "margin_rate":
            return repr(float(self.margin_rate))
        if self.source is None:
            return None
        shop = "NULL" if shop_rate is None or np.isnan(shop_rate) else repr(float(shop_rate))
        return (f"CASE WHEN {s}.total_amount > 0 THEN {s}.total_margin / {s}.total_amount "
                f"ELSE {shop} END")


def margin_rule(*, has_margin: bool, margin_rate: float | None) -> MarginRule:
    """The margin rule of data with or without a margin, and an optional flat rate.

    Parameters
    ----------
    has_margin : bool
        Whether the orders had a ``margin`` column (the summary a ``total_margin``).
    margin_rate : float, optional
        Gross margin as a share of revenue, in [0, 1].

    Raises
    ------
    CrmDataError
        Both a margin and ``margin_rate`` (which one to use is ambiguous), or a rate
        outside [0, 1].

    >>> margin_rule(has_margin=False, margin_rate=0.3)
    MarginRule(source='margin_rate', margin_rate=0.3)
    >>> margin_rule(has_margin=True, margin_rate=None).basis
    'margin'
    """
    if has_margin and margin_rate is not None:
        raise CrmDataError(
            "The data has a margin (a 'margin' column in the orders, a 'total_margin' "
            f"column in the summary) and margin_rate={margin_rate!r} was also given. Pass "
            "margin_rate=None to use the margins of the orders, or leave the margin column "
            "out to use a flat rate."
        )
    if margin_rate is not None:
        check_fraction(margin_rate, "margin_rate")
        return MarginRule("margin_rate", float(margin_rate))
    return MarginRule("margin column" if has_margin else None)


# --------------------------------------------------------------------------- discounting


def check_horizon_months(horizon_months: object) -> int:
    """``horizon_months`` as an int, or a :class:`CrmDataError` unless a whole number >= 1."""
    if isinstance(horizon_months, bool) or not isinstance(horizon_months, int | float) \
            or not float(horizon_months).is_integer() or horizon_months < 1:
        raise CrmDataError(
            f"The 'horizon_months' parameter must be a whole number of months >= 1. Got "
            f"{horizon_months!r}."
        )
    return int(horizon_months)


def discounted_orders(
    churn_model, frequency: np.ndarray, T: np.ndarray, p_alive: np.ndarray, *,
    horizon_months: int = 12, monthly_discount_rate: float = 0.01,
    days_per_month: float = DAYS_PER_MONTH,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected orders in the horizon and their monthly-discounted sum, per history.

    ``discounted = sum over months k = 1..horizon_months of (expected orders in month k)
    / (1 + monthly_discount_rate) ** k``, month ``k`` being ``(k-1)`` to ``k`` months of
    ``days_per_month`` days after ``as_of``: the discounted-cash-flow sum of lifetimes'
    ``customer_lifetime_value`` before the spend factor. The cumulative expected orders
    are P(alive) times a function of ``(frequency, T)``, evaluated once per distinct pair.

    Parameters
    ----------
    churn_model : ChurnModel
    frequency, T, p_alive : numpy.ndarray
        Histories (``T`` in the model's unit) and their P(alive).

    Returns
    -------
    (expected_orders, discounted)
    """
    check_positive(monthly_discount_rate, "monthly_discount_rate", allow_zero=True)
    check_positive(days_per_month, "days_per_month")
    months = check_horizon_months(horizon_months)
    month = days_per_month / churn_model.unit_days
    discount = (1.0 + monthly_discount_rate) ** -np.arange(1, months + 1)
    qx, qT, pair = frequency_age_pairs(np.asarray(frequency, float), np.asarray(T, float))
    cumulative = np.zeros(len(pair))
    discounted = np.zeros(len(pair))
    for k in range(1, months + 1):  # a few months x all histories, as arrays
        nxt = churn_model.expected_orders_if_alive(k * month, qx, qT)[pair] * p_alive
        discounted += (nxt - cumulative) * discount[k - 1]
        cumulative = nxt
    check_expected_orders(churn_model, cumulative)
    return cumulative, discounted
