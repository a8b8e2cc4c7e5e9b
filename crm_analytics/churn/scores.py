"""Churn scores per customer: P(alive), expected orders, risk band, next order.

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
    next_order_dates,
    next_order_rule,
    risk_band_codes,
)
from crm_analytics.summary import summary_as_of, summary_time_unit

__all__ = [
    "churn_scores",
    "score_patterns",
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
    return alive, expected


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
        Horizon of ``expected_orders`` in days.
    high_risk_below, medium_risk_below, next_order_min_p_alive : float
        As in :func:`churn_scores`.

    Returns
    -------
    dict of numpy.ndarray
        ``p_alive, p_churn, expected_orders``, ``risk`` (codes into ``RISK_LEVELS``),
        ``basis`` (codes into ``NEXT_ORDER_BASES``), ``expected_gap_days`` and
        ``add_days`` (whole days added to the last order or to ``as_of``; NaN when
        unlikely alive), one value per history.
    """
    x = np.asarray(frequency, dtype=float)
    rec = np.asarray(recency, dtype=float)
    scale = unit_days / churn_model.unit_days
    tx, TT = rec * scale, np.asarray(T, dtype=float) * scale
    p_alive, expected = alive_and_expected(churn_model, x, tx, TT,
                                           horizon / churn_model.unit_days)
    basis, gap, add = next_order_rule(churn_model, x, rec, TT, p_alive, unit_days=unit_days,
                                      next_order_min_p_alive=next_order_min_p_alive)
    return {
        "p_alive": p_alive,
        "p_churn": 1.0 - p_alive,
        "expected_orders": expected,
        "risk": risk_band_codes(p_alive, high_risk_below, medium_risk_below),
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
        f"{function}(model, summary) is deprecated and will be removed in the next release: "
        f"pass the summary first and the fitted model by keyword, "
        f"{function}(summary, churn_model=model).",
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
) -> pd.DataFrame:
    """Per customer: P(alive), expected orders in the next ``horizon`` days, risk, next order.

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
        Horizon of ``expected_orders`` in **days** (converted to the model's unit).
        Every churn window of the package is ``horizon`` in days; LTV's is
        ``horizon_months``.
    high_risk_below, medium_risk_below : float, default 0.5 and 0.8
        ``churn_risk`` is "high" when P(alive) < ``high_risk_below``, "medium" when
        below ``medium_risk_below``, else "low". With ``model="bgnbd"`` one-time
        buyers always have P(alive) = 1 and so "low" risk; use ``"mbgnbd"`` to score them.
    next_order_min_p_alive : float, default 0.1
        Below this P(alive), ``expected_next_order`` is ``NaT``.
    time_unit : {"D", "W"}, optional
        Unit of the summary's ``recency``/``T``; default: read from its columns
        (:func:`~crm_analytics.summary.summary_time_unit`).

    Returns
    -------
    pandas.DataFrame
        ``customer_id, p_alive, p_churn, expected_orders, churn_risk (ordered
        categorical low < medium < high), expected_next_order (datetime),
        next_order_basis (categorical: own_gaps, model_rate, unlikely_alive),
        expected_gap_days``, one row per customer of ``summary`` in its order. The
        settings are the arguments of the call (nothing is stored on the frame); the
        as-of day is the summary's (:func:`~crm_analytics.summary.summary_as_of`).

    Raises
    ------
    CrmDataError
        Not a ChurnModel, invalid summary, non-positive horizon or thresholds outside
        (0, 1) or in the wrong order.

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
    >>> first["churn_risk"], str(first["expected_next_order"].date()), first["next_order_basis"]
    ('medium', '1997-11-17', 'own_gaps')
    """
    summary, churn_model = positional_churn_model("churn_scores", summary, args, churn_model)
    churn_model = check_churn_model(churn_model)
    check_positive(horizon, "horizon")
    check_risk_bands(high_risk_below, medium_risk_below)
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
    return pd.DataFrame(
        {
            "customer_id": summary["customer_id"].array.copy(),
            "p_alive": scores["p_alive"][inverse],
            "p_churn": scores["p_churn"][inverse],
            "expected_orders": scores["expected_orders"][inverse],
            "churn_risk": pd.Categorical.from_codes(scores["risk"][inverse],
                                                    categories=list(RISK_LEVELS), ordered=True),
            "expected_next_order": nxt,
            "next_order_basis": pd.Categorical.from_codes(basis,
                                                          categories=list(NEXT_ORDER_BASES)),
            "expected_gap_days": scores["expected_gap_days"][inverse],
        },
        copy=False,  # every column is a fresh array (the ids copied above): no second copy
    )
