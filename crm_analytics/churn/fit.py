"""The public churn-model fit: one model family, or the best one by backtest."""

from __future__ import annotations

import pandas as pd

from crm_analytics.churn.model import ChurnModel, fit_summary

__all__ = ["fit_churn_model"]


def fit_churn_model(
    summary: pd.DataFrame,
    *,
    model: str = "bgnbd",
    penalizer: float = 0.0,
    time_unit: str | None = None,
    tol: float = 1e-7,
    standard_errors: bool = True,
    backend: str = "analytic",
) -> ChurnModel:
    """Fit the BG/NBD (or MBG/NBD) model to a customer summary.

    The fit runs on compressed sufficient statistics: every distinct ``(frequency,
    recency, T)`` row once, weighted by the number of customers sharing it (the same
    likelihood, much less work). When lifetimes' optimiser fails (``ConvergenceError``,
    BFGS "precision loss") the fit is retried with a looser tolerance, then with a
    growing penalizer; what happened is in :attr:`ChurnModel.fit_notes`. If every
    attempt fails a :class:`~crm_analytics.CrmDataError` is raised: no NaN parameters.

    Parameters
    ----------
    summary : pandas.DataFrame
        From :func:`~crm_analytics.customer_summary` (columns ``customer_id,
        frequency, recency, T``). Not modified.
    model : {"bgnbd", "mbgnbd"}, default "bgnbd"
        ``"bgnbd"``: Fader, Hardie & Lee (2005). It gives P(alive) = 1 to every customer
        with no repeat order (a known property of the model, however long ago the one
        order was). ``"mbgnbd"``: the modified BG/NBD (Batislam et al. 2007), which lets
        customers drop out right after the first purchase and so scores one-time
        buyers; prefer it when most customers never reorder.
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
    return fit_summary(summary, model=model, penalizer=penalizer, time_unit=time_unit,
                       tol=tol, standard_errors=standard_errors, backend=backend)
