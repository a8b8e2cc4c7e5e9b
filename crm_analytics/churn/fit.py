"""The public churn-model fit: one model family, or the best one by backtest.

``fit_churn_model(orders, model="auto")`` holds out the last part of the shop's own
history (:func:`holdout_days_for`), backtests the models against the simple rules
(:func:`~crm_analytics.churn.backtest.backtest_churn`), refits the best model on the
whole history and says which one was chosen and why (:func:`choose_churn_model` returns
that as a :class:`ModelChoice`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source, runner_for
from crm_analytics.backends.sql import first_day, resolve_day
from crm_analytics.churn.backtest import DEFAULT_MODELS, BacktestResult, backtest_churn
from crm_analytics.churn.model import MODELS, ChurnModel, fit_summary
from crm_analytics.churn.scores import check_expected_orders
from crm_analytics.orders.encode import PreparedOrders, prepare_orders
from crm_analytics.summary import customer_summary, resolve_as_of

__all__ = [
    "AUC_TIE",
    "HOLDOUT_ERROR_LIMIT",
    "ModelChoice",
    "choose_churn_model",
    "fit_churn_model",
    "holdout_days_for",
]

#: Backtest AUCs closer than this to the best count as a tie (then the smaller
#: |error_pct| wins).
AUC_TIE = 0.005
#: A chosen model whose holdout total is further off than this (in %) carries a warning.
HOLDOUT_ERROR_LIMIT = 30.0
#: Longest holdout of the automatic choice, in days.
MAX_HOLDOUT_DAYS = 90
#: Shortest history (days) the automatic choice can hold a part of out.
MIN_SPAN_DAYS = 28


def holdout_days_for(span_days: int) -> int:
    """Holdout length of the automatic choice: the last quarter of the history, at most
    90 days.

    >>> holdout_days_for(730), holdout_days_for(120)
    (90, 30)
    """
    if span_days < MIN_SPAN_DAYS:
        raise CrmDataError(
            f"The order history spans {span_days} days; choosing a churn model by backtest "
            f"needs at least {MIN_SPAN_DAYS}. Pass model='mbgnbd' (or 'bgnbd') instead.")
    return int(min(MAX_HOLDOUT_DAYS, span_days // 4))


@dataclass(frozen=True, eq=False)
class ModelChoice:
    """Which churn model the backtest chose and why, from :func:`choose_churn_model`.

    Attributes
    ----------
    model : ChurnModel
        The chosen family refitted on the whole history up to ``as_of`` (with the
        warnings of :attr:`warnings` when the model supports them); with
        ``refit=False`` the backtest's calibration-period fit.
    name : str
        Its family (``"bgnbd"``, ``"mbgnbd"``, ...).
    reason : str
        One sentence: what won and by how much.
    backtest : BacktestResult
        The backtest behind the choice.
    best_rule : str
        The best simple rule of the backtest (higher AUC, then smaller error).
    beats_rules : bool
        Whether the chosen model's AUC is above the best rule's. When False, rank
        customers by ``best_rule`` (:func:`~crm_analytics.churn.backtest.rule_predictions`).
    warnings : tuple of str
        What the backtest adds to the model's warnings (holdout error above 30%; no
        model beats the rule).
    """

    model: ChurnModel
    name: str
    reason: str
    backtest: BacktestResult
    best_rule: str
    beats_rules: bool
    warnings: tuple[str, ...] = ()


def _is_orders(obj: object) -> bool:
    if isinstance(obj, PreparedOrders) or is_engine_source(obj):
        return True
    return isinstance(obj, pd.DataFrame) and "order_date" in obj.columns


def _history(orders: object, as_of: object) -> tuple[object, pd.Timestamp, int]:
    """Prepared orders (or the engine source), the as-of day and the span in days."""
    if is_engine_source(orders):
        runner = runner_for(orders)
        as_of_ts, a = resolve_day(runner, as_of, "as_of")
        return orders, as_of_ts, int(a - first_day(runner))
    prepared = prepare_orders(orders)
    as_of_ts = resolve_as_of(prepared.orders, as_of)
    first = prepared.orders["order_date"].min().normalize()
    return prepared, as_of_ts, int((as_of_ts - first).days)


def _with_warnings(model: ChurnModel, sentences: tuple[str, ...]) -> ChurnModel:
    add = getattr(model, "with_warnings", None)
    return add(*sentences) if add is not None and sentences else model


def choose_churn_model(
    orders: object,
    *,
    as_of: object = None,
    models: tuple[str, ...] = DEFAULT_MODELS,
    holdout_days: int | None = None,
    sleep_after: int = 90,
    time_unit: str = "D",
    penalizer: float = 0.0,
    standard_errors: bool = True,
    refit: bool = True,
) -> ModelChoice:
    """Choose the churn model by a backtest on the shop's own history, and refit it.

    The last ``holdout_days`` before ``as_of`` are held out (default: the last quarter
    of the history, at most 90 days, :func:`holdout_days_for`); every model of
    ``models`` and every simple rule is backtested there
    (:func:`~crm_analytics.churn.backtest.backtest_churn`). The model with the highest
    AUC for "ordered in the holdout" wins (AUCs within 0.005 of the best are a tie,
    broken by the smaller |error| of the predicted holdout orders); it is refitted on
    all orders up to ``as_of``. A holdout error above 30%, or no model beating the best
    rule, is said in :attr:`ModelChoice.warnings` and added to the model's warnings.

    Parameters
    ----------
    orders : pandas.DataFrame, PreparedOrders or engine source
        The order history (a summary alone cannot be backtested).
    as_of : date-like, optional
        End of the history; default the last order day.
    models : tuple of str, default ("bgnbd", "mbgnbd", "pnbd")
        Candidates (those not available in this version are skipped).
    holdout_days : int, optional
        Days held out; default :func:`holdout_days_for` of the history's span.
    sleep_after : int, default 90
        The sleeping rule's threshold (days without an order).
    time_unit : {"D", "W"}, default "D"
        Unit of the refitted model (and of the summary it is fitted on).
    penalizer : float, default 0.0
    standard_errors : bool, default True
        For the final fit (the backtest fits skip them).
    refit : bool, default True
        False keeps the backtest's calibration-period fit as :attr:`ModelChoice.model`
        (for callers that refit the chosen family themselves, e.g. inside an engine).

    Returns
    -------
    ModelChoice

    Examples
    --------
    >>> from crm_analytics.orders.datasets import load_sample
    >>> choice = choose_churn_model(load_sample(), models=("bgnbd", "mbgnbd"))
    >>> choice.name, choice.best_rule, choice.beats_rules, choice.backtest.holdout_days
    ('bgnbd', 'own_order_rate', True, 90)
    """
    history, as_of_ts, span = _history(orders, as_of)
    days = holdout_days_for(span) if holdout_days is None else int(holdout_days)
    if days < 1 or days >= span:
        raise CrmDataError(f"The 'holdout_days' parameter must be between 1 and the "
                           f"history's span ({span} days). Got {holdout_days!r}.")
    cal_end = as_of_ts - pd.Timedelta(days=days)
    bt = backtest_churn(history, calibration_end=cal_end, holdout_end=as_of_ts,
                        models=models, sleep_after=sleep_after, penalizer=penalizer)
    if bt.n_ordered in (0, bt.n_customers):
        raise CrmDataError(
            f"{'No' if bt.n_ordered == 0 else 'Every'} customer ordered in the last {days} "
            "days held out, so the backtest cannot tell the models apart.")
    best_rule = _best(bt, "rule")
    name = _best(bt, "model")
    if name is None:
        raise CrmDataError("No churn model could be fitted in the backtest: "
                           + " ".join(bt.notes))
    row = bt.table.set_index("name")
    m_auc, r_auc = float(row.loc[name, "auc"]), float(row.loc[best_rule, "auc"])
    err = float(row.loc[name, "error_pct"])
    beats = bool(m_auc > r_auc)
    others = "; ".join(f"{MODELS[o]} {row.loc[o, 'auc']:.3f}"
                       for o in bt.ranking("model") if o != name)
    reason = (f"{MODELS[name]} ranked who ordered in the last {days} days best among the "
              f"models (AUC {m_auc:.3f}" + (f"; {others}" if others else "")
              + f") with a holdout total {err:+.1f}% off; the best simple rule, "
              f"{best_rule.replace('_', ' ')}, had AUC {r_auc:.3f}.")
    notes = []
    if np.isfinite(err) and abs(err) > HOLDOUT_ERROR_LIMIT:
        notes.append(f"In the backtest on the last {days} days the {MODELS[name]} model's "
                     f"predicted orders were {err:+.0f}% off the actual ones (more than "
                     f"{HOLDOUT_ERROR_LIMIT:.0f}%): treat its expected orders as rough.")
    if not beats:
        notes.append(f"No model beat the simple rule '{best_rule.replace('_', ' ')}' in "
                     f"the backtest (AUC {m_auc:.3f} vs {r_auc:.3f}): rank customers by "
                     "that rule rather than by the model.")
    if refit:
        summary = customer_summary(history, as_of=as_of_ts, time_unit=time_unit)
        fitted = fit_summary(summary, model=name, penalizer=penalizer, time_unit=time_unit,
                             standard_errors=standard_errors)
    else:
        fitted = bt.models[name]
    return ModelChoice(model=_with_warnings(fitted, tuple(notes)), name=name, reason=reason,
                       backtest=bt, best_rule=best_rule, beats_rules=beats,
                       warnings=tuple(notes))


def _best(bt: BacktestResult, kind: str) -> str | None:
    """The best name of ``kind``: highest AUC (within :data:`AUC_TIE` a tie), then the
    smallest |error_pct|."""
    t = bt.table[(bt.table["kind"] == kind) & bt.table["auc"].notna()]
    if t.empty:
        return None
    close = t[t["auc"] >= t["auc"].max() - AUC_TIE]
    return str(close.loc[close["error_pct"].abs().fillna(np.inf).idxmin(), "name"])


def _best_likelihood(summary: pd.DataFrame, **options: object) -> ChurnModel:
    """``model="auto"`` on a summary: the family with the highest likelihood, and a
    warning that it was not chosen by a backtest (a summary has no held-out period)."""
    fits, failed = {}, []
    x = summary["frequency"].to_numpy(dtype=float)
    for name in DEFAULT_MODELS:
        try:
            fitted = fit_summary(summary, model=name, **options)
            # a degenerate fit (its expected orders not finite) is not a candidate; the
            # summary is in the model's own time unit
            check_expected_orders(fitted, fitted.expected_orders(
                90 / fitted.unit_days, x, summary["recency"].to_numpy(float),
                summary["T"].to_numpy(float)))
            fits[name] = fitted
        except CrmDataError as exc:
            failed.append(f"{MODELS[name]}: {exc}")
    if not fits:
        raise CrmDataError("No churn model could be fitted to the summary. " + " ".join(failed))
    best = max(fits, key=lambda name: fits[name].log_likelihood)
    lls = ", ".join(f"{MODELS[n]} {fits[n].log_likelihood:,.1f}" for n in fits)
    return fits[best].with_warnings(
        f"{MODELS[best]} was chosen by its likelihood on the summary ({lls}; every family "
        "has four parameters), not by a backtest: a summary has no held-out period. Pass "
        "the orders, fit_churn_model(orders, model='auto'), to choose by how well each "
        "model predicts the shop's last months.")


def fit_churn_model(
    summary: pd.DataFrame,
    *,
    model: str = "bgnbd",
    penalizer: float = 0.0,
    time_unit: str | None = None,
    tol: float = 1e-7,
    standard_errors: bool = True,
    backend: str = "analytic",
    as_of: object = None,
) -> ChurnModel:
    """Fit a churn model to a customer summary, or choose one by backtest on orders.

    The fit runs on compressed sufficient statistics: every distinct ``(frequency,
    recency, T)`` row once, weighted by the number of customers sharing it (the same
    likelihood, much less work). When lifetimes' optimiser fails (``ConvergenceError``,
    BFGS "precision loss") the fit is retried with a looser tolerance, then with a
    growing penalizer; what happened is in :attr:`ChurnModel.fit_notes`. If every
    attempt fails a :class:`~crm_analytics.CrmDataError` is raised: no NaN parameters.

    Parameters
    ----------
    summary : pandas.DataFrame, or orders with ``model="auto"``
        From :func:`~crm_analytics.customer_summary` (columns ``customer_id,
        frequency, recency, T``). Not modified. With ``model="auto"`` pass the order
        history instead (a DataFrame of orders, :class:`~crm_analytics.PreparedOrders`
        or an engine source) to choose by a backtest; given a summary, ``"auto"`` takes
        the family with the highest likelihood and says in ``warnings`` that no
        backtest was possible.
    model : {"bgnbd", "mbgnbd", "pnbd", "auto"}, default "bgnbd"
        ``"auto"``: hold out the last quarter of the history (at most 90 days), backtest
        every available family against simple rules and refit the best one on the
        whole history (:func:`choose_churn_model`, which also returns the reason); a
        holdout error above 30%, or no model beating the best rule, is added to the
        model's warnings.
        ``"bgnbd"``: Fader, Hardie & Lee (2005). It gives P(alive) = 1 to every customer
        with no repeat order (a known property of the model, however long ago the one
        order was). ``"mbgnbd"``: the modified BG/NBD (Batislam et al. 2007), which lets
        customers drop out right after the first purchase and so scores one-time
        buyers; prefer it when most customers never reorder. ``"pnbd"``: the
        Pareto/NBD model (Schmittlein, Morrison & Colombo 1987), where a customer can
        drop out at any moment, not only right after a purchase.
    penalizer : float, default 0.0
        L2 penalty on the parameters (lifetimes' ``penalizer_coef``; time is rescaled
        so that the longest ``T`` is 1). Leave at 0 unless the fit fails.
    time_unit : {"D", "W"}, optional
        Unit of ``recency`` and ``T``; default: read from the summary's columns
        (:func:`~crm_analytics.summary.summary_time_unit`). Needed for a summary built
        by hand without ``first_order`` / ``last_order`` / ``days_since_last_order``.
    tol : float, default 1e-7
        Optimiser tolerance of the first attempt.
    standard_errors : bool, default True
        False skips the Hessian behind the standard errors: the same parameters, NaN
        ``standard_errors``.
    as_of : date-like, optional
        ``model="auto"`` only: end of the history (default the last order day).
    backend : {"analytic", "lifetimes"}, default "analytic"
        ``"analytic"``: lifetimes' optimisation (BFGS from the same start, same
        tolerance, same objective) with analytic gradients on sufficient statistics and
        a Hessian from central differences of the gradient. ``"lifetimes"``:
        lifetimes' ``BetaGeoFitter`` / ``ModifiedBetaGeoFitter`` itself (autograd;
        about 10x slower). Both give the same parameters to the optimiser's tolerance.

    Returns
    -------
    ChurnModel
        Frozen result with ``params``, ``standard_errors``, ``log_likelihood`` (total,
        paper's scale), ``n_customers``, ``time_unit`` and ``fit_notes``.

    Raises
    ------
    CrmDataError
        Unknown ``model``, a negative ``penalizer``, a summary with missing columns,
        invalid values, no repeat purchase or no time unit, or a fit that never converged.

    Examples
    --------
    >>> from crm_analytics import customer_summary, load_cdnow
    >>> summary = customer_summary(load_cdnow("sample"), as_of="1997-09-30", time_unit="W")
    >>> fit = fit_churn_model(summary)
    >>> {k: round(v, 3) for k, v in fit.params.items()}
    {'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}
    >>> round(fit.log_likelihood, 1), fit.n_customers
    (-9582.4, 2357)
    """
    if model == "auto":
        if not _is_orders(summary):
            return _best_likelihood(summary, penalizer=penalizer, time_unit=time_unit,
                                    tol=tol, standard_errors=standard_errors)
        choice = choose_churn_model(summary, as_of=as_of, time_unit=time_unit or "D",
                                    penalizer=penalizer, standard_errors=standard_errors)
        # the model says which family was chosen and why, beside its warnings
        return dataclasses.replace(choice.model, choice_reason=choice.reason)
    if as_of is not None:
        raise CrmDataError("The 'as_of' parameter is for model='auto' (orders); a summary "
                           "already has its as-of day.")
    return fit_summary(summary, model=model, penalizer=penalizer, time_unit=time_unit,
                       tol=tol, standard_errors=standard_errors, backend=backend)
