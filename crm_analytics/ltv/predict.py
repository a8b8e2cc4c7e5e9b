"""Model-based LTV per customer: churn model x Gamma-Gamma spend, discounted monthly."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from crm_analytics._core.checks import check_positive, require_columns
from crm_analytics._core.dates import TIME_UNIT_DAYS
from crm_analytics.churn import (
    PARAMETERS,
    ChurnModel,
    check_churn_model,
    check_interval,
    check_rfm,
    churn_draw_bounds,
    compress_rfm,
    draw_bounds,
    frequency_age_pairs,
    pattern_churn,
)
from crm_analytics.ltv.rules import (
    DAYS_PER_MONTH,
    check_horizon_months,
    discounted_orders,
    margin_rule,
)
from crm_analytics.ltv.spend import SpendModel, check_spend_model
from crm_analytics.summary import summary_time_unit

__all__ = ["predict_ltv", "shop_total", "ltv_draw_bounds"]


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


def _spend_and_rates(summary: pd.DataFrame, spend_model: SpendModel,
                     margin_rate: float | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """Per customer: expected spend per order, margin rate, and whether a margin is known.

    The spend rule of the spend model and :func:`~crm_analytics.ltv.rules.margin_rule`
    (NaN rates when no margin is known).
    """
    rule = margin_rule(has_margin="total_margin" in summary.columns, margin_rate=margin_rate)
    if rule.source == "margin column":
        require_columns(summary, ["total_amount"], "summary")
    spend = spend_model.spend_rule().evaluate(summary["frequency"].to_numpy(dtype=float),
                                              summary["monetary_value"].to_numpy(float))
    if rule.source == "margin column":
        rates = rule.rates(len(summary), summary["total_margin"].to_numpy(dtype=float),
                           summary["total_amount"].to_numpy(dtype=float))
    else:
        rates = rule.rates(len(summary))
    return spend, rates, rule.source is not None


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
    interval: float | None = None,
    n_draws: int = 200,
    random_state=None,
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
    interval : float, optional
        With e.g. 0.9, add ``expected_orders_lower, expected_orders_upper, ltv_lower,
        ltv_upper``: the 5% and 95% quantiles over ``n_draws`` churn-model parameter
        sets drawn from the fit's approximate normal distribution on the log scale
        (:meth:`~crm_analytics.churn.ChurnModel.sample_params`), computed on the
        distinct histories. The spend model is held at its estimate (its uncertainty is
        not included). Shop totals with bounds: :func:`shop_total`.
    n_draws : int, default 200
        Parameter draws behind ``interval``.
    random_state : int or numpy.random.Generator, optional
        Seed of the draws.

    Returns
    -------
    pandas.DataFrame
        One row per customer of ``summary``: ``customer_id``, ``expected_orders``
        (purchase occasions in the horizon), ``expected_spend_per_order`` (money),
        ``expected_revenue`` (money, undiscounted), ``expected_margin`` (money,
        undiscounted; NaN when no margin is known), ``ltv`` (money, discounted: margin
        when a margin is known, else revenue; so ``ltv`` is on revenue exactly when
        ``expected_margin`` is all NaN), and with ``interval`` the four bound columns.
        The settings are the call's arguments; nothing is stored on the frame.

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
    if interval is not None:
        check_interval(interval, n_draws)
    check_horizon_months(horizon_months)
    check_positive(monthly_discount_rate, "monthly_discount_rate", allow_zero=True)
    check_positive(days_per_month, "days_per_month")
    check_rfm(summary)
    require_columns(summary, ["monetary_value"], "summary")
    spend, rates, known = _spend_and_rates(summary, spend_model, margin_rate)
    scale = TIME_UNIT_DAYS[summary_time_unit(summary, time_unit)] / churn_model.unit_days
    freq = summary["frequency"].to_numpy(dtype=float)
    rec = summary["recency"].to_numpy(dtype=float) * scale
    T = summary["T"].to_numpy(dtype=float) * scale
    px, prec, pT, _, inverse = compress_rfm(freq, rec, T)
    orders, discounted = discounted_orders(
        churn_model, px, pT, churn_model.p_alive(px, prec, pT), horizon_months=horizon_months,
        monthly_discount_rate=monthly_discount_rate, days_per_month=days_per_month)
    expected_orders = orders[inverse]
    revenue = expected_orders * spend
    factor = spend * (rates if known else 1.0)
    ltv = discounted[inverse] * factor
    bounds = {}
    if interval is not None:
        lower, upper, _ = ltv_draw_bounds(
            churn_model, px, prec, pT, horizon_months=horizon_months,
            monthly_discount_rate=monthly_discount_rate, days_per_month=days_per_month,
            interval=interval, n_draws=n_draws, random_state=random_state)
        bounds["expected_orders_lower"] = lower["ltv_orders"][inverse]
        bounds["expected_orders_upper"] = upper["ltv_orders"][inverse]
        lo = lower["ltv_discounted"][inverse] * factor
        hi = upper["ltv_discounted"][inverse] * factor
        bounds["ltv_lower"], bounds["ltv_upper"] = np.minimum(lo, hi), np.maximum(lo, hi)
    return pd.DataFrame(
        {
            "customer_id": summary["customer_id"].array.copy(),
            "expected_orders": expected_orders,
            "expected_spend_per_order": spend,
            "expected_revenue": revenue,
            "expected_margin": revenue * rates,
            "ltv": ltv,
            **bounds,
        },
        copy=False,  # every column is a fresh array (the ids copied above): no second copy
    )


#: Interpolation nodes per frequency for the parameter draws of :func:`ltv_draw_bounds`.
AGE_NODES = 16


class _AgeInterpolated:
    """A churn model's ``expected_orders_if_alive`` on fixed ``(frequency, T)`` pairs,
    interpolated across ages from :data:`AGE_NODES` Chebyshev nodes per frequency.

    For one frequency the expectation is a smooth function of the age ``T``; on
    ``u = log(alpha + T)`` a barycentric Chebyshev interpolant of 16 nodes agrees with
    it to about 1e-10 (relative; checked at the estimate in :func:`ltv_draw_bounds`,
    which falls back to exact values beyond 1e-9), far below the Monte Carlo error of
    the draws. Frequencies with at most 16 ages use the ages themselves. The parameter
    draws then need 16 hypergeometric values per frequency and month instead of one
    per pair.
    """

    def __init__(self, qx: np.ndarray, qT: np.ndarray, alpha: float) -> None:
        from scipy.sparse import csr_matrix

        self.qx, self.qT = qx, qT
        node_x, node_T, rows, cols, vals = [], [], [], [], []
        order = np.argsort(qx, kind="stable")
        bounds = np.flatnonzero(np.diff(qx[order])) + 1
        theta = np.pi * (np.arange(AGE_NODES) + 0.5) / AGE_NODES
        sign = (-1.0) ** np.arange(AGE_NODES) * np.sin(theta)
        n_nodes = 0
        for idx in np.split(order, bounds):
            ages = qT[idx]
            if len(idx) <= AGE_NODES:
                node_x.append(qx[idx])
                node_T.append(ages)
                rows.append(idx)
                cols.append(n_nodes + np.arange(len(idx)))
                vals.append(np.ones(len(idx)))
                n_nodes += len(idx)
                continue
            u = np.log(alpha + ages)
            lo, hi = u.min(), u.max()
            nodes_u = (lo + hi) / 2 + (hi - lo) / 2 * np.cos(theta)
            diff = u[:, None] - nodes_u[None, :]
            hit = np.isclose(diff, 0.0, rtol=0.0, atol=1e-14)
            with np.errstate(divide="ignore", invalid="ignore"):
                weights = sign / diff
                weights /= weights.sum(axis=1, keepdims=True)
            on_node = hit.any(axis=1)
            weights[on_node] = hit[on_node].astype(float)
            node_x.append(np.full(AGE_NODES, qx[idx[0]]))
            node_T.append(np.exp(nodes_u) - alpha)
            rows.append(np.repeat(idx, AGE_NODES))
            cols.append(np.tile(n_nodes + np.arange(AGE_NODES), len(idx)))
            vals.append(weights.ravel())
            n_nodes += AGE_NODES
        self.node_x, self.node_T = np.concatenate(node_x), np.concatenate(node_T)
        self.matrix = csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                         np.concatenate(cols))),
                                 shape=(len(qx), n_nodes))
        self.model: ChurnModel | None = None

    @property
    def unit_days(self) -> float:
        return self.model.unit_days

    def expected_orders_if_alive(self, t, frequency, T) -> np.ndarray:
        if len(frequency) != len(self.qx):  # only ever asked about its own pairs
            raise ValueError("not the interpolated pairs")
        return self.matrix @ self.model.expected_orders_if_alive(t, self.node_x, self.node_T)


def ltv_draw_bounds(
    churn_model: ChurnModel, frequency, recency, T, *, horizon_months: int,
    monthly_discount_rate: float, days_per_month: float, interval: float,
    n_draws: int = 200, random_state=None, totals: dict | None = None,
    bounds: tuple[str, ...] | None = None,
):
    """:func:`~crm_analytics.churn.draw_bounds` of ``ltv_orders`` (expected orders in
    the horizon) and ``ltv_discounted`` (their discounted sum) per history, histories
    in the churn model's unit.

    Both are P(alive) times a function of the ``(frequency, T)`` pair. For each
    parameter draw the one discounted-orders rule,
    :func:`~crm_analytics.ltv.rules.discounted_orders`, runs on the distinct pairs with
    P(alive) = 1, its expected orders interpolated across ages (:class:`_AgeInterpolated`,
    used only when it matches the exact values at the estimate to 1e-9); P(alive) of
    every draw then multiplies them per history.
    """
    x = np.asarray(frequency, float)
    TT = np.asarray(T, float)
    qx, qT, pair_of = frequency_age_pairs(x, TT)
    settings = dict(horizon_months=horizon_months, monthly_discount_rate=monthly_discount_rate,
                    days_per_month=days_per_month)
    ones = np.ones(len(qx))
    fast = _AgeInterpolated(qx, qT, churn_model.params["alpha"])
    fast.model = churn_model
    exact = discounted_orders(churn_model, qx, qT, ones, **settings)
    approx = discounted_orders(fast, qx, qT, ones, **settings)
    use_fast = all(np.allclose(a, e, rtol=1e-9, atol=1e-12)
                   for a, e in zip(approx, exact, strict=True))
    state = {}

    def pair_values(model):
        n = next(iter(model.params.values())).shape[0]
        orders, disc = np.empty((n, len(qx))), np.empty((n, len(qx)))
        for d in range(n):
            one = model.with_params([model.params[k][d, 0] for k in PARAMETERS[model.model]])
            fast.model = one
            orders[d], disc[d] = discounted_orders(fast if use_fast else one, qx, qT, ones,
                                                   **settings)
        return orders, disc

    def evaluate(model, xs, tx, Ts, rows):
        if "pairs" not in state:  # the same draws for every chunk: once
            state["pairs"] = pair_values(model)
        orders, disc = state["pairs"]
        cols = pair_of[rows]
        alive = model.p_alive(xs, tx, Ts)
        return {"ltv_orders": orders[:, cols] * alive, "ltv_discounted": disc[:, cols] * alive}

    return draw_bounds(churn_model, x, recency, TT, evaluate, interval=interval,
                       n_draws=n_draws, random_state=random_state, totals=totals,
                       bounds=bounds)


def shop_total(
    summary: pd.DataFrame,
    *,
    churn_model: ChurnModel,
    spend_model: SpendModel | None = None,
    horizon: float = 90,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    margin_rate: float | None = None,
    days_per_month: float = DAYS_PER_MONTH,
    interval: float = 0.9,
    n_draws: int = 200,
    random_state=None,
    time_unit: str | None = None,
) -> pd.DataFrame:
    """Shop totals of the churn and LTV scores, with bounds from parameter uncertainty.

    Each total is the sum over customers of a score of :func:`~crm_analytics.churn_scores`
    or :func:`predict_ltv` (the estimate, at the fitted parameters), with the
    ``(1 - interval) / 2`` and ``(1 + interval) / 2`` quantiles of the same sum over
    ``n_draws`` churn-model parameter sets (drawn as for ``interval=`` of those
    functions; the same ``random_state`` gives the same draws). A total's bounds are
    not the sums of the customers' bounds: customers' errors move together.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`~crm_analytics.customer_summary`. Not modified.
    churn_model : ChurnModel
        Fitted with ``standard_errors=True`` (the default).
    spend_model : SpendModel, optional
        With it, the LTV totals too (the spend model held at its estimate).
    horizon : float, default 90
        Window in days of ``customers_without_order`` and ``expected_orders``.
    horizon_months, monthly_discount_rate, margin_rate, days_per_month
        As in :func:`predict_ltv`.
    interval : float, default 0.9
    n_draws : int, default 200
    random_state : int or numpy.random.Generator, optional
    time_unit : {"D", "W"}, optional

    Returns
    -------
    pandas.DataFrame
        One row per total, columns ``total, estimate, lower, upper``: totals
        ``customers_without_order`` (expected number of customers with no order in
        ``horizon`` days, the sum of ``p_no_order``), ``expected_orders`` (in
        ``horizon`` days); with ``spend_model`` also ``ltv_expected_orders`` (in
        ``horizon_months``), ``expected_revenue``, ``expected_margin`` (when a margin is
        known) and ``ltv`` (money).

    Raises
    ------
    CrmDataError
        Invalid models, summary or settings; a churn model without covariance.

    Examples
    --------
    >>> from crm_analytics import customer_summary, fit_churn_model, load_cdnow
    >>> summary = customer_summary(load_cdnow("sample"), as_of="1997-09-30", time_unit="W")
    >>> totals = shop_total(summary, churn_model=fit_churn_model(summary), horizon=273,
    ...                     random_state=1)
    >>> totals.round(0)
                         total  estimate   lower   upper
    0  customers_without_order    1740.0  1710.0  1765.0
    1          expected_orders    1653.0  1537.0  1803.0
    """
    churn_model = check_churn_model(churn_model)
    check_positive(horizon, "horizon")
    check_interval(interval, n_draws)
    check_rfm(summary)
    unit_days = TIME_UNIT_DAYS[summary_time_unit(summary, time_unit)]
    freq = summary["frequency"].to_numpy(dtype=float)
    rec = summary["recency"].to_numpy(dtype=float)
    T = summary["T"].to_numpy(dtype=float)
    px, prec, pT, counts, inverse = compress_rfm(freq, rec, T)
    scale = unit_days / churn_model.unit_days
    point = pattern_churn(churn_model, px, prec * scale, pT * scale,
                          horizon / churn_model.unit_days)
    rows = [("customers_without_order", "p_no_order"), ("expected_orders", "expected_orders")]
    _, _, sums = churn_draw_bounds(
        churn_model, px, prec, pT, unit_days=unit_days, horizon=horizon, interval=interval,
        n_draws=n_draws, random_state=random_state, bounds=(),
        totals={name: (score, counts) for name, score in rows})
    out = [(name, float(point[score] @ counts), sums[name]) for name, score in rows]
    if spend_model is not None:
        ltv = predict_ltv(summary, churn_model=churn_model, spend_model=spend_model,
                          horizon_months=horizon_months,
                          monthly_discount_rate=monthly_discount_rate, margin_rate=margin_rate,
                          days_per_month=days_per_month, time_unit=time_unit)
        spend, rates, known = _spend_and_rates(summary, spend_model, margin_rate)
        per = {"counts": counts,
               "spend": np.bincount(inverse, weights=spend, minlength=len(px)),
               "margin": np.bincount(inverse, weights=spend * rates, minlength=len(px))}
        ltv_rows = [("ltv_expected_orders", "ltv_orders", "counts", "expected_orders"),
                    ("expected_revenue", "ltv_orders", "spend", "expected_revenue")]
        if known:
            ltv_rows.append(("expected_margin", "ltv_orders", "margin", "expected_margin"))
        ltv_rows.append(("ltv", "ltv_discounted", "margin" if known else "spend", "ltv"))
        _, _, sums = ltv_draw_bounds(
            churn_model, px, prec * scale, pT * scale, horizon_months=horizon_months,
            monthly_discount_rate=monthly_discount_rate, days_per_month=days_per_month,
            interval=interval, n_draws=n_draws, random_state=random_state, bounds=(),
            totals={name: (score, per[w]) for name, score, w, _ in ltv_rows})
        out += [(name, float(ltv[col].sum()), sums[name]) for name, _, _, col in ltv_rows]
    return pd.DataFrame(
        {"total": [name for name, _, _ in out],
         "estimate": [est for _, est, _ in out],
         "lower": [float(np.quantile(d, (1 - interval) / 2)) for _, _, d in out],
         "upper": [float(np.quantile(d, (1 + interval) / 2)) for _, _, d in out]})
