"""Churn scores per customer: P(no order), P(alive), expected orders, risk, next order.

Every number is a function of the customer's history ``(frequency, recency, T)``, so it
is computed once per distinct history by :func:`score_patterns` and spread to the
customers. The engine path (:mod:`crm_analytics.ltv.sql`) calls the same function on the
distinct histories it counts in SQL, so both paths share one definition of every rule.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from crm_analytics._core.checks import check_positive, require_columns
from crm_analytics._core.dates import TIME_UNIT_DAYS
from crm_analytics._core.errors import CrmDataError
from crm_analytics.churn.model import (
    ChurnModel,
    check_churn_model,
    check_rfm,
    compress_rfm,
    frequency_age_pairs,
)
from crm_analytics.churn.rules import (
    NEXT_ORDER_BASES,
    RISK_LEVELS,
    check_risk_bands,
    churn_risk_codes,
    next_order_dates,
    next_order_rule,
)
from crm_analytics.summary import summary_as_of, summary_time_unit

__all__ = [
    "churn_scores",
    "p_order_count",
    "p_alive_at",
    "score_patterns",
    "pattern_churn",
    "draw_bounds",
    "churn_draw_bounds",
    "check_interval",
    "alive_and_expected",
    "scores_on_patterns",
    "positional_churn_model",
]


def alive_and_expected(
    churn_model: ChurnModel, frequency, recency, T, t: float
) -> tuple[np.ndarray, np.ndarray]:
    """P(alive) and expected orders within ``t`` of histories (all in model units).

    :meth:`ChurnModel.expected_orders` is P(alive) times a function of ``(frequency,
    T)`` alone (the costly hypergeometric part), evaluated once per distinct pair.
    """
    alive = churn_model.p_alive(frequency, recency, T)
    qx, qT, pair = frequency_age_pairs(np.asarray(frequency, float), np.asarray(T, float))
    expected = churn_model.expected_orders_if_alive(t, qx, qT)[pair] * alive
    check_expected_orders(churn_model, expected)
    return alive, expected


def check_expected_orders(churn_model: ChurnModel, expected: np.ndarray) -> None:
    """Refuse a degenerate fit whose expected orders are not finite or are negative.

    It happens when the data cannot identify the model (parameters run off to 0 or to
    huge values, e.g. a few dozen repeat buyers); a confident wrong number is worse than
    none, so the error says so and what to try.
    """
    values = np.asarray(expected, dtype=float)
    bad = ~np.isfinite(values) | (values < -1e-9)
    if bad.any():
        params = ", ".join(f"{k}={v:.3g}" for k, v in churn_model.params.items())
        said = " ".join(getattr(churn_model, "warnings", ()) or ())
        raise CrmDataError(
            f"The {churn_model.model} fit is degenerate ({params}): its expected orders are "
            f"not finite or negative for {int(bad.sum())} of {len(values)} customer "
            f"histories, so it cannot score them. {said} Fit another model family "
            "(model='bgnbd', 'mbgnbd' or 'pnbd'), choose one by backtest "
            "(fit_churn_model(orders, model='auto')), or use a longer order history."
        )


def pattern_churn(churn_model: ChurnModel, frequency, recency, T, t: float
                  ) -> dict[str, np.ndarray]:
    """P(alive), P(no order) and expected orders within ``t`` (model units) of histories.

    The factors that depend on ``(frequency, T)`` alone are evaluated once per distinct
    pair. ``churn_model`` may carry parameter draws
    (:meth:`ChurnModel.with_param_draws`): the arrays then have one row per draw.
    """
    x = np.asarray(frequency, float)
    T = np.asarray(T, float)
    alive = churn_model.p_alive(x, recency, T)
    qx, qT, pair = frequency_age_pairs(x, T)
    if_alive = np.take(churn_model.expected_orders_if_alive(t, qx, qT), pair, axis=-1)
    quiet = np.take(churn_model.p_no_order_if_alive(t, qx, qT), pair, axis=-1)
    expected = if_alive * alive
    if np.ndim(expected) == 1:  # the estimate (parameter draws are checked by their use)
        check_expected_orders(churn_model, expected)
    return {"p_alive": alive, "p_no_order": 1.0 - alive * (1.0 - quiet),
            "expected_orders": expected}


def check_interval(interval: object, n_draws: object = 200) -> None:
    """Raise :class:`CrmDataError` unless ``0 < interval < 1`` and ``n_draws >= 10``."""
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not (
            0 < interval < 1):
        raise CrmDataError(
            f"The 'interval' parameter must be a probability in (0, 1), e.g. 0.9. Got "
            f"{interval!r} instead.")
    if isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer)) or n_draws < 10:
        raise CrmDataError(
            f"The 'n_draws' parameter must be a whole number >= 10. Got {n_draws!r} instead.")


def _quantiles(values: np.ndarray, q: list[float]) -> list[np.ndarray]:
    """``np.quantile(values, q, axis=0)`` (linear interpolation), by one sort: several
    times faster than numpy's partition-based quantile on a few hundred draws."""
    ordered = np.sort(values, axis=0)
    out = []
    for level in q:
        h = (len(ordered) - 1) * level
        lo = int(np.floor(h))
        hi = min(lo + 1, len(ordered) - 1)
        out.append(ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo]))
    return out


def draw_bounds(
    churn_model: ChurnModel, frequency, recency, T, evaluate, *, interval: float,
    n_draws: int = 200, random_state=None, totals: dict | None = None,
    bounds: tuple[str, ...] | None = None, max_cells: int = 2_000_000,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-history bounds and per-draw totals of some scores under parameter uncertainty.

    ``n_draws`` parameter sets are drawn from the fit's approximate distribution
    (:meth:`ChurnModel.sample_params`: normal on the log scale, covariance from the
    Hessian); ``evaluate(model, frequency, recency, T, rows)`` returns a dict of score
    arrays for a model carrying all draws (one row per draw; see :func:`pattern_churn`)
    and the histories at positions ``rows`` of the inputs. The
    histories (typically the distinct ones) are processed in chunks of about
    ``max_cells / n_draws`` rows, sorted by ``(frequency, T)`` so that pair-level factors
    are shared within a chunk.

    Parameters
    ----------
    totals : dict, optional
        ``{total_name: (score_name, weights)}``: per draw, ``weights @ score`` over the
        histories (e.g. the customer count of each history gives the shop total).
    bounds : tuple of str, optional
        Scores whose per-history quantiles are wanted (default: all).

    Returns
    -------
    (lower, upper, totals)
        ``lower[name]``, ``upper[name]``: the ``(1 - interval) / 2`` and ``(1 + interval)
        / 2`` quantiles over the draws, per history; ``totals[name]``: ``n_draws``
        totals.
    """
    check_interval(interval, n_draws)
    draws = churn_model.sample_params(n_draws, random_state)
    model = churn_model.with_param_draws(draws)
    x = np.asarray(frequency, float)
    rec = np.asarray(recency, float)
    T = np.asarray(T, float)
    totals = totals or {}
    order = np.lexsort((T, x))
    size = max(1, int(max_cells) // int(n_draws))
    q = [(1.0 - interval) / 2.0, (1.0 + interval) / 2.0]
    lower: dict[str, np.ndarray] = {}
    upper: dict[str, np.ndarray] = {}
    sums = {name: np.zeros(int(n_draws)) for name in totals}
    for start in range(0, len(x), size):
        rows = order[start:start + size]
        values = evaluate(model, x[rows], rec[rows], T[rows], rows)
        for name in values if bounds is None else bounds:
            if name not in lower:
                lower[name], upper[name] = np.empty(len(x)), np.empty(len(x))
            lower[name][rows], upper[name][rows] = _quantiles(values[name], q)
        for name, (score, weights) in totals.items():
            sums[name] += values[score] @ np.asarray(weights, float)[rows]
    return lower, upper, sums


def scores_on_patterns(
    churn_model: ChurnModel, freq, rec, T, t: float
) -> tuple[np.ndarray, np.ndarray]:
    """P(alive) and expected orders within ``t`` (model units), per customer.

    Computed on the distinct ``(frequency, recency, T)`` rows with
    :func:`alive_and_expected`, then mapped back to the customers.
    """
    px, prec, pT, _, inverse = compress_rfm(freq, rec, T)
    alive, expected = alive_and_expected(churn_model, px, prec, pT, t)
    return alive[inverse], expected[inverse]


def score_patterns(
    churn_model: ChurnModel,
    frequency: np.ndarray,
    recency: np.ndarray,
    T: np.ndarray,
    *,
    unit_days: float,
    horizon: float = 90,
    high_risk_below: float = 0.5,
    medium_risk_below: float = 0.8,
    next_order_min_p_alive: float = 0.1,
) -> dict[str, np.ndarray]:
    """Every churn score of some customer histories (one row each, typically distinct).

    The one definition behind :func:`churn_scores` and the engines' scoring.

    Parameters
    ----------
    churn_model : ChurnModel
    frequency, recency, T : numpy.ndarray
        Histories, ``recency`` and ``T`` in units of ``unit_days`` days (converted to
        the model's unit here).
    unit_days : float
        Days per unit of ``recency`` / ``T`` (1 or 7).
    horizon : float, default 90
        Horizon of ``p_no_order`` and ``expected_orders`` in days.
    high_risk_below, medium_risk_below, next_order_min_p_alive : float
        As in :func:`churn_scores`.

    Returns
    -------
    dict of numpy.ndarray
        ``p_alive, p_no_order, p_churn`` (the same as ``p_no_order``),
        ``expected_orders``, ``risk`` (codes into ``RISK_LEVELS``, from ``p_no_order``:
        :func:`~crm_analytics.churn.rules.churn_risk_codes`),
        ``basis`` (codes into ``NEXT_ORDER_BASES``), ``expected_gap_days`` and
        ``add_days`` (whole days added to the last order or to ``as_of``; NaN when
        unlikely alive), one value per history.
    """
    x = np.asarray(frequency, dtype=float)
    rec = np.asarray(recency, dtype=float)
    scale = unit_days / churn_model.unit_days
    tx, TT = rec * scale, np.asarray(T, dtype=float) * scale
    churn = pattern_churn(churn_model, x, tx, TT, horizon / churn_model.unit_days)
    p_alive = churn["p_alive"]
    basis, gap, add = next_order_rule(churn_model, x, rec, TT, p_alive, unit_days=unit_days,
                                      next_order_min_p_alive=next_order_min_p_alive)
    return {
        "p_alive": p_alive,
        "p_no_order": churn["p_no_order"],
        "p_churn": churn["p_no_order"],
        "expected_orders": churn["expected_orders"],
        "risk": churn_risk_codes(churn["p_no_order"], high_risk_below, medium_risk_below),
        "basis": basis,
        "expected_gap_days": gap,
        "add_days": add,
    }


def positional_churn_model(function: str, summary, args: tuple, churn_model):
    """``(summary, churn_model)`` from a call that may use the old ``(model, summary)``.

    Warns (DeprecationWarning) when the model came positionally; the old order
    ``f(model, summary)`` and ``f(summary, model)`` are both recognised.
    """
    if not args and not isinstance(summary, ChurnModel):
        return summary, churn_model
    if len(args) > 1:
        raise TypeError(f"{function}() takes the summary as its only positional argument; "
                        "pass churn_model= by keyword.")
    if churn_model is not None:
        raise TypeError(f"{function}() got the churn model twice (positionally and as "
                        "churn_model=).")
    if isinstance(summary, pd.DataFrame):
        model, summary = args[0], summary
    else:  # the old order: (model, summary)
        model, summary = summary, (args[0] if args else None)
    warnings.warn(
        f"Passing the churn model positionally to {function}() is deprecated and will be "
        f"removed in the next release: pass the summary first and the fitted model by "
        f"keyword, {function}(summary, churn_model=model).",
        DeprecationWarning, stacklevel=3,
    )
    return summary, model


def churn_scores(
    summary: pd.DataFrame,
    *args: object,
    churn_model: ChurnModel | None = None,
    horizon: float = 90,
    high_risk_below: float = 0.5,
    medium_risk_below: float = 0.8,
    next_order_min_p_alive: float = 0.1,
    time_unit: str | None = None,
    interval: float | None = None,
    n_draws: int = 200,
    random_state=None,
) -> pd.DataFrame:
    """Per customer: P(no order in the next ``horizon`` days), P(alive), expected orders,
    churn risk and the expected next order.

    ``p_no_order`` is the churn probability of a shop: the chance that the customer
    places no order in the next ``horizon`` days given her history, ``(1 - P(alive)) +
    P(alive) P(no order | alive)`` (:meth:`ChurnModel.p_no_order`; for BG/NBD and
    MBG/NBD ``P(no order | alive) = ((alpha + T) / (alpha + T + t)) ** (r + x)``, for
    Pareto/NBD a closed form over the joint posterior of the purchase and dropout
    rates). ``p_churn`` equals ``p_no_order`` and ``churn_risk`` is cut on it
    (:func:`~crm_analytics.churn.rules.churn_risk_codes`). ``p_alive`` is kept for
    reference: with a dropout process the data do not identify (see
    ``churn_model.warnings``) it is not a churn score.

    ``expected_next_order`` (for reorder reminders) follows this rule
    (:func:`~crm_analytics.churn.rules.next_order_rule`):

    - customers with at least two purchase occasions (``frequency >= 1``): last order
      + their own mean gap between occasions (``(last_order - first_order) /
      frequency``, rounded to whole days). The date can lie before ``as_of``: such a
      customer is overdue (``next_order_basis = "own_gaps"`` either way);
    - customers with one purchase occasion: ``as_of`` + ``1 / E[lambda]``, the mean time
      between purchases at the model's expected purchase rate of a live customer with
      that history, ``E[lambda] = (r + frequency) / (alpha + T)`` per time unit (the
      Poisson process has no memory, so the wait counts from ``as_of``);
      ``next_order_basis = "model_rate"``;
    - customers with P(alive) below ``next_order_min_p_alive``: ``NaT``
      (``next_order_basis = "unlikely_alive"``), since no order is expected.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`~crm_analytics.customer_summary` at the scoring date (may be the fitted
        summary or a later one; ``recency``/``T`` are converted to the model's unit).
        Needs ``last_order`` for ``expected_next_order``. Not modified. The only
        positional argument (the old order ``churn_scores(model, summary)`` still works
        for one release, with a DeprecationWarning).
    churn_model : ChurnModel
        From :func:`fit_churn_model`.
    horizon : float, default 90
        Horizon of ``p_no_order`` and ``expected_orders`` in **days** (converted to the
        model's unit). Every churn window of the package is ``horizon`` in days; LTV's
        is ``horizon_months``.
    high_risk_below, medium_risk_below : float, default 0.5 and 0.8
        Cut-offs on the chance of at least one order in the horizon, ``1 -
        p_no_order``: ``churn_risk`` is "high" when it is below ``high_risk_below``
        (``p_no_order`` above 0.5 by default), "medium" when below
        ``medium_risk_below`` (``p_no_order`` above 0.2), else "low". (Up to release
        0.1.0 they cut P(alive); same names, same defaults.)
    next_order_min_p_alive : float, default 0.1
        Below this P(alive), ``expected_next_order`` is ``NaT``.
    time_unit : {"D", "W"}, optional
        Unit of the summary's ``recency``/``T``; default: read from its columns
        (:func:`~crm_analytics.summary.summary_time_unit`).
    interval : float, optional
        With e.g. 0.9, add 90% bounds from parameter uncertainty:
        ``p_no_order_lower, p_no_order_upper, expected_orders_lower,
        expected_orders_upper``, the 5% and 95% quantiles over ``n_draws`` parameter
        sets drawn from the fit's approximate normal distribution on the log scale
        (covariance from the Hessian; :meth:`ChurnModel.sample_params`), each draw
        scored on the distinct histories (:func:`draw_bounds`). Needs a model fitted
        with ``standard_errors=True``. Shop totals with bounds:
        :func:`crm_analytics.ltv.shop_total`.
    n_draws : int, default 200
        Parameter draws behind ``interval``.
    random_state : int or numpy.random.Generator, optional
        Seed of the draws.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, p_alive, p_no_order, p_churn (= p_no_order), expected_orders,
        churn_risk (ordered categorical low < medium < high), expected_next_order
        (datetime), next_order_basis (categorical: own_gaps, model_rate,
        unlikely_alive), expected_gap_days`` and with ``interval`` the four bound
        columns, one row per customer of ``summary`` in its order. The settings are the
        arguments of the call (nothing is stored on the frame); the as-of day is the
        summary's (:func:`~crm_analytics.summary.summary_as_of`).

    Raises
    ------
    CrmDataError
        Not a ChurnModel, invalid summary, non-positive horizon or thresholds outside
        (0, 1) or in the wrong order; ``interval`` outside (0, 1) or a model without
        covariance.

    Examples
    --------
    >>> from crm_analytics import customer_summary, load_cdnow
    >>> from crm_analytics.churn import fit_churn_model
    >>> summary = customer_summary(load_cdnow("sample"), as_of="1997-09-30", time_unit="W")
    >>> scores = churn_scores(summary, churn_model=fit_churn_model(summary), horizon=91)
    >>> first = scores.iloc[0]  # x = 2, t_x = 30.43, T = 38.86 weeks
    >>> p_alive, orders = float(first["p_alive"]), float(first["expected_orders"])
    >>> first["customer_id"], round(p_alive, 3), round(orders, 3)
    ('1', 0.727, 0.457)
    >>> round(float(first["p_no_order"]), 3), first["churn_risk"]
    (0.677, 'high')
    >>> str(first["expected_next_order"].date()), first["next_order_basis"]
    ('1997-11-17', 'own_gaps')
    """
    summary, churn_model = positional_churn_model("churn_scores", summary, args, churn_model)
    churn_model = check_churn_model(churn_model)
    check_positive(horizon, "horizon")
    check_risk_bands(high_risk_below, medium_risk_below)
    if interval is not None:
        check_interval(interval, n_draws)
    check_rfm(summary)
    require_columns(summary, ["last_order"], "summary")
    unit_days = TIME_UNIT_DAYS[summary_time_unit(summary, time_unit)]
    freq = summary["frequency"].to_numpy(dtype=float)
    rec = summary["recency"].to_numpy(dtype=float)
    T = summary["T"].to_numpy(dtype=float)
    px, prec, pT, _, inverse = compress_rfm(freq, rec, T)
    scores = score_patterns(
        churn_model, px, prec, pT, unit_days=unit_days, horizon=horizon,
        high_risk_below=high_risk_below, medium_risk_below=medium_risk_below,
        next_order_min_p_alive=next_order_min_p_alive)

    last = pd.to_datetime(summary["last_order"]).to_numpy(dtype="datetime64[ns]")
    as_of = summary_as_of(summary)
    if as_of is None:  # a summary without days_since_last_order: T - recency after last
        as_of_arr = last + np.rint((T - rec) * unit_days).astype("timedelta64[D]")
    else:
        as_of_arr = np.full(len(last), as_of.to_datetime64(), "datetime64[ns]")
    basis = scores["basis"][inverse]
    nxt = next_order_dates(basis, scores["add_days"][inverse], last, as_of_arr)
    bounds = {}
    if interval is not None:
        lower, upper, _ = churn_draw_bounds(
            churn_model, px, prec, pT, unit_days=unit_days, horizon=horizon,
            interval=interval, n_draws=n_draws, random_state=random_state)
        for name in ("p_no_order", "expected_orders"):
            bounds[f"{name}_lower"] = lower[name][inverse]
            bounds[f"{name}_upper"] = upper[name][inverse]
    return pd.DataFrame(
        {
            "customer_id": summary["customer_id"].array.copy(),
            "p_alive": scores["p_alive"][inverse],
            "p_no_order": scores["p_no_order"][inverse],
            "p_churn": scores["p_churn"][inverse],
            "expected_orders": scores["expected_orders"][inverse],
            "churn_risk": pd.Categorical.from_codes(scores["risk"][inverse],
                                                    categories=list(RISK_LEVELS), ordered=True),
            "expected_next_order": nxt,
            "next_order_basis": pd.Categorical.from_codes(basis,
                                                          categories=list(NEXT_ORDER_BASES)),
            "expected_gap_days": scores["expected_gap_days"][inverse],
            **bounds,
        },
        copy=False,  # every column is a fresh array (the ids copied above): no second copy
    )


def churn_draw_bounds(
    churn_model: ChurnModel, frequency, recency, T, *, unit_days: float, horizon: float,
    interval: float, n_draws: int = 200, random_state=None, totals: dict | None = None,
    bounds: tuple[str, ...] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """:func:`draw_bounds` of ``p_no_order`` and ``expected_orders`` within ``horizon``
    days, on histories in units of ``unit_days`` days (what :func:`churn_scores` and
    :func:`crm_analytics.ltv.shop_total` compute with ``interval``)."""
    scale = unit_days / churn_model.unit_days
    t = horizon / churn_model.unit_days

    def evaluate(model, x, tx, TT, rows):
        out = pattern_churn(model, x, tx, TT, t)
        return {"p_no_order": out["p_no_order"], "expected_orders": out["expected_orders"]}

    return draw_bounds(churn_model, frequency, np.asarray(recency, float) * scale,
                       np.asarray(T, float) * scale, evaluate, interval=interval,
                       n_draws=n_draws, random_state=random_state, totals=totals,
                       bounds=bounds)


def _summary_and_model(function: str, summary, args: tuple, churn_model):
    """``(summary, churn_model)`` of ``f(summary, churn_model=m)`` or ``f(m, summary)``."""
    if len(args) > 1:
        raise TypeError(f"{function}() takes at most the summary and the model positionally.")
    if args:
        if churn_model is not None:
            raise TypeError(f"{function}() got the churn model twice.")
        first, second = summary, args[0]
        summary, churn_model = (second, first) if isinstance(first, ChurnModel) else (
            first, second)
    return summary, check_churn_model(churn_model)


def _histories(summary: pd.DataFrame, churn_model: ChurnModel, time_unit):
    check_rfm(summary)
    scale = TIME_UNIT_DAYS[summary_time_unit(summary, time_unit)] / churn_model.unit_days
    freq = summary["frequency"].to_numpy(dtype=float)
    rec = summary["recency"].to_numpy(dtype=float) * scale
    T = summary["T"].to_numpy(dtype=float) * scale
    return compress_rfm(freq, rec, T)


def _counts(n) -> list[int]:
    values = [n] if np.ndim(n) == 0 else list(n)
    if not values or any(isinstance(v, bool) or not float(v).is_integer() or v < 0
                         for v in values):
        raise CrmDataError(
            f"The 'n' parameter must be a whole number >= 0 or a list of them. Got {n!r}.")
    return [int(v) for v in values]


def p_order_count(
    summary: pd.DataFrame,
    *args: object,
    churn_model: ChurnModel | None = None,
    n=0,
    horizon: float = 90,
    time_unit: str | None = None,
) -> pd.DataFrame:
    """P(exactly ``n`` orders in the next ``horizon`` days) per customer.

    BG/NBD and MBG/NBD: closed form (Fader, Hardie & Lee's conditional PMF; see
    :meth:`ChurnModel.p_order_count_if_alive`); Pareto/NBD: a one-dimensional integral
    over the customer's remaining lifetime, evaluated by 64-point Gauss-Legendre
    quadrature (agrees with the literature's closed form to about 1e-15). ``n = 0`` is
    ``p_no_order`` of :func:`churn_scores`. Computed once per distinct history.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`~crm_analytics.customer_summary` at the scoring date. Not modified.
        ``p_order_count(churn_model, summary, ...)`` (the model first) works too.
    churn_model : ChurnModel
        From :func:`~crm_analytics.fit_churn_model`.
    n : int or list of int, default 0
        Order counts.
    horizon : float, default 90
        Window in days.
    time_unit : {"D", "W"}, optional
        Unit of the summary's ``recency``/``T``; default: read from its columns.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, n_orders, probability``: one row per customer and count
        (customer-major, in the summary's order).

    Raises
    ------
    CrmDataError
        Not a ChurnModel, invalid summary, horizon or ``n``.

    Examples
    --------
    >>> from crm_analytics import customer_summary, fit_churn_model, load_cdnow
    >>> summary = customer_summary(load_cdnow("sample"), as_of="1997-09-30", time_unit="W")
    >>> model = fit_churn_model(summary)
    >>> probs = p_order_count(summary, churn_model=model, n=[0, 1, 2], horizon=91)
    >>> probs.head(3).round(3).to_dict("list")
    {'customer_id': ['1', '1', '1'], 'n_orders': [0, 1, 2], 'probability': [0.677, 0.226, 0.07]}
    """
    summary, churn_model = _summary_and_model("p_order_count", summary, args, churn_model)
    check_positive(horizon, "horizon")
    counts = _counts(n)
    px, prec, pT, _, inverse = _histories(summary, churn_model, time_unit)
    t = horizon / churn_model.unit_days
    values = np.column_stack([churn_model.p_order_count(k, t, px, prec, pT)[inverse]
                              for k in counts])
    return pd.DataFrame({
        "customer_id": np.repeat(summary["customer_id"].to_numpy(), len(counts)),
        "n_orders": np.tile(np.asarray(counts, dtype=np.int64), len(summary)),
        "probability": values.ravel(),
    })


def p_alive_at(
    summary: pd.DataFrame,
    *args: object,
    churn_model: ChurnModel | None = None,
    days_ahead=90,
    time_unit: str | None = None,
) -> pd.DataFrame:
    """P(alive) ``days_ahead`` days after the summary's as-of day, if no order comes first.

    The customer's history then is ``(frequency, recency, T + days_ahead)``, so this is
    :meth:`ChurnModel.p_alive` at the later age. It falls as the silence grows; when
    the model's dropout is not identified (``churn_model.warnings``) it says little.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`~crm_analytics.customer_summary`. Not modified.
        ``p_alive_at(churn_model, summary, ...)`` works too.
    churn_model : ChurnModel
    days_ahead : float or list of float, default 90
        Days after as-of (0 gives today's P(alive)).
    time_unit : {"D", "W"}, optional
        Unit of the summary's ``recency``/``T``; default: read from its columns.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, days_ahead, p_alive``, customer-major.

    Examples
    --------
    >>> from crm_analytics import customer_summary, fit_churn_model, load_cdnow
    >>> summary = customer_summary(load_cdnow("sample"), as_of="1997-09-30", time_unit="W")
    >>> model = fit_churn_model(summary)
    >>> p_alive_at(summary, churn_model=model, days_ahead=[0, 91]).head(2).round(3)
      customer_id  days_ahead  p_alive
    0           1         0.0    0.727
    1           1        91.0    0.596
    """
    summary, churn_model = _summary_and_model("p_alive_at", summary, args, churn_model)
    days = [days_ahead] if np.ndim(days_ahead) == 0 else list(days_ahead)
    for d in days:
        check_positive(d, "days_ahead", allow_zero=True)
    px, prec, pT, _, inverse = _histories(summary, churn_model, time_unit)
    values = np.column_stack([
        churn_model.p_alive_at(float(d) / churn_model.unit_days, px, prec, pT)[inverse]
        for d in days])
    return pd.DataFrame({
        "customer_id": np.repeat(summary["customer_id"].to_numpy(), len(days)),
        "days_ahead": np.tile(np.asarray(days, dtype=float), len(summary)),
        "p_alive": values.ravel(),
    })
