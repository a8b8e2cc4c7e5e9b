"""Fitting BG/NBD, MBG/NBD and Gamma-Gamma, and the one door to lifetimes' fitters.

Two backends give the same parameters:

- ``backend="analytic"`` (the default): the same ``scipy.optimize.minimize`` call as
  lifetimes' ``BaseFitter._fit`` (BFGS from ``0.1 * ones``, the same ``tol``, on the same
  function: log parameters, time rescaled by ``1 / max(T)``, mean over the weights plus
  ``penalizer * sum(params ** 2)``), but with the likelihoods and analytic gradients of
  :mod:`crm_analytics.fitting.likelihoods`, which work on sufficient statistics instead of
  autograd's tape; the Hessian behind the standard errors is central differences of the
  analytic gradient (two gradient calls per parameter) instead of autograd's. About 10x faster at a
  million customers.
- ``backend="lifetimes"``: lifetimes' own fitter, the model of record; the tests and
  ``benchmarks/bench_churn_ltv.py`` check that both give the same parameters and
  standard errors.

lifetimes 0.11.3 changes global state: importing it calls
``warnings.simplefilter("ignore", FutureWarning)`` (in ``lifetimes/fitters/__init__.py``
and ``lifetimes/generate_data.py``) and sets ``pd.options.mode.chained_assignment = None``
(in ``lifetimes/utils.py``); every evaluation of its log-likelihoods calls
``warnings.simplefilter`` again, and a failed fit ``print``\\ s the optimiser output
before raising ``ConvergenceError``. So this module

- imports lifetimes lazily (inside functions, never when ``crm_analytics`` is imported),
  then puts back ``warnings.filters`` and the pandas option exactly as they were;
- runs every call into lifetimes inside :func:`quiet`, which restores the warning
  filters afterwards, silences lifetimes' and scipy's numerical warnings locally and
  captures what lifetimes prints, so a failure can be reported instead of printed.

Everything else (predictions, data handling) is our own code in
:mod:`crm_analytics.churn` and :mod:`crm_analytics.ltv`.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from crm_analytics.fitting import likelihoods as _likelihoods

__all__ = ["import_lifetimes", "quiet", "fit_beta_geo", "fit_pareto_nbd", "fit_gamma_gamma",
           "FitFailed", "BACKENDS", "PNBD_MAXITER"]

_PANDAS_OPTION = "mode.chained_assignment"
_FITTERS = {"bgnbd": "BetaGeoFitter", "mbgnbd": "ModifiedBetaGeoFitter"}
#: Fitting backends: our analytic-gradient fit (default) and lifetimes' own fitter.
BACKENDS = ("analytic", "lifetimes")
_NOT_CONVERGED = ("The model did not converge. Try adding a larger penalizer to see if that "
                  "helps convergence.")


class FitFailed(RuntimeError):
    """lifetimes' optimiser did not converge; ``output`` holds what it printed."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


def _get_pandas_option() -> tuple[bool, object]:
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return True, pd.get_option(_PANDAS_OPTION)
        except (KeyError, AttributeError, pd.errors.OptionError):
            return False, None


def _set_pandas_option(value: object) -> None:
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pd.set_option(_PANDAS_OPTION, value)


def import_lifetimes() -> ModuleType:
    """Import lifetimes without letting it change warning filters or pandas options.

    Returns
    -------
    module
        The ``lifetimes`` package.
    """
    if "lifetimes" in sys.modules and "lifetimes.utils" in sys.modules:
        return sys.modules["lifetimes"]
    saved_filters = list(warnings.filters)
    had_option, saved_option = _get_pandas_option()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = importlib.import_module("lifetimes")
            importlib.import_module("lifetimes.utils")
    finally:
        if list(warnings.filters) != saved_filters:  # catch_warnings restores them
            warnings.filters[:] = saved_filters
            mutated = getattr(warnings, "_filters_mutated", None)
            if mutated is not None:
                mutated()
        if had_option and _get_pandas_option()[1] != saved_option:
            _set_pandas_option(saved_option)
    return module


@contextlib.contextmanager
def quiet() -> Iterator[io.StringIO]:
    """Run lifetimes code with its warnings silenced and its printing captured.

    The warning filters in force before the block are restored afterwards (lifetimes
    calls ``warnings.simplefilter`` inside its likelihoods).

    Yields
    ------
    io.StringIO
        What the block printed to stdout.
    """
    buffer = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(buffer):
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield buffer


@dataclass(frozen=True)
class FitOutput:
    """What one fit produced, in plain Python types (the same for both backends).

    ``mean_negative_log_likelihood`` is lifetimes' objective at the optimum (on its
    rescaled time axis, penalty included); ``log_likelihood`` is the total over
    customers on the caller's time axis, penalty excluded (the paper's scale).
    """

    params: dict[str, float]
    standard_errors: dict[str, float]
    mean_negative_log_likelihood: float
    log_likelihood: float = float("nan")
    #: Covariance of the log parameters (the inverse Hessian of the total negative
    #: log-likelihood in log parameters; unaffected by the rescaling of time), or None
    #: when standard errors were not computed.
    log_covariance: np.ndarray | None = None


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")


def _minimize(likelihood, n_params: int, penalizer: float, tol: float):
    """lifetimes' ``BaseFitter._fit`` call on an analytic likelihood: the same optimum.

    Raises
    ------
    FitFailed
        ``minimize`` reports failure (e.g. BFGS "precision loss"); ``output`` holds the
        optimiser's result as lifetimes would have printed it.
    """
    from scipy.optimize import minimize

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        output = minimize(likelihood.value_and_grad, jac=True, method=None, tol=tol,
                          x0=0.1 * np.ones(n_params), args=(penalizer,),
                          options={"disp": False})
    if not output.success:
        raise FitFailed(_NOT_CONVERGED, str(output))
    return output


def _log_covariance(likelihood, log_params: np.ndarray, penalizer: float) -> np.ndarray:
    """Covariance of the log parameters: ``inv(H) / sum(weights)``.

    ``H`` is the Hessian of the mean negative log-likelihood in the log parameters (here
    from :meth:`hessian` of the likelihood). lifetimes' ``_compute_variance_matrix``
    gives the parameters' standard errors as ``params * sqrt(diag(...))`` of this matrix.
    """
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        hessian = likelihood.hessian(log_params, penalizer)
        try:
            inverse = np.linalg.inv(hessian)
        except np.linalg.LinAlgError as exc:  # singular Hessian after convergence
            raise FitFailed(f"the Hessian could not be inverted ({exc})") from exc
        return inverse / likelihood.total_weight


def _standard_errors(likelihood, log_params: np.ndarray, penalizer: float,
                     params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """lifetimes' delta-method standard errors and the log-parameter covariance."""
    cov = _log_covariance(likelihood, log_params, penalizer)
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.diag(cov)) * params, cov


def _finite_positive(params: dict[str, float]) -> None:
    if not all(np.isfinite(v) and v > 0 for v in params.values()):
        raise FitFailed(f"the fit returned non-finite or non-positive parameters {params}")


def _fit_without_hessian(fitter: object):
    """lifetimes' ``BaseFitter._fit`` without its autograd Hessian (a third of a fit's time).

    The same ``minimize`` call, so the same parameters; the Hessian is returned as NaN,
    and so are the standard errors.
    """
    from autograd import value_and_grad
    from scipy.optimize import minimize

    lifetimes = import_lifetimes()

    def _fit(minimizing_function_args, initial_params, params_size, disp, tol=1e-7,
             bounds=None, **kwargs):
        options = {"disp": disp, **kwargs}
        x0 = 0.1 * np.ones(params_size) if initial_params is None else initial_params
        output = minimize(
            value_and_grad(fitter._negative_log_likelihood),  # type: ignore[attr-defined]
            jac=True, method=None, tol=tol, x0=x0, args=minimizing_function_args,
            options=options, bounds=bounds,
        )
        if output.success:
            return output.x, output.fun, np.full((params_size, params_size), np.nan)
        print(output)
        raise lifetimes.utils.ConvergenceError(
            "The model did not converge. Try adding a larger penalizer to see if that helps "
            "convergence."
        )

    return _fit


def _run_fit(
    fitter: object, args: tuple, kwargs: dict, *, standard_errors: bool = True
) -> FitOutput:
    lifetimes = import_lifetimes()
    convergence_error = lifetimes.utils.ConvergenceError
    if not standard_errors:  # on this instance only: nothing global changes
        fitter._fit = _fit_without_hessian(fitter)  # type: ignore[attr-defined]
    with quiet() as printed:
        try:
            fitter.fit(*args, **kwargs)  # type: ignore[attr-defined]
        except convergence_error as exc:
            raise FitFailed(str(exc).strip(), printed.getvalue()) from exc
        except np.linalg.LinAlgError as exc:  # singular Hessian after convergence
            raise FitFailed(f"the Hessian could not be inverted ({exc})") from exc
    params = {k: float(v) for k, v in fitter.params_.items()}  # type: ignore[attr-defined]
    cov = None
    if standard_errors:
        errors = {k: float(v) for k, v in fitter.standard_errors_.items()}  # type: ignore
        weight = float(np.sum(fitter.data["weights"]))  # type: ignore[attr-defined]
        cov = np.linalg.inv(fitter._hessian_) / weight  # type: ignore[attr-defined]
    else:
        errors = dict.fromkeys(params, float("nan"))
    _finite_positive(params)
    nll = float(fitter._negative_log_likelihood_)  # type: ignore[attr-defined]
    return FitOutput(params, errors, nll, log_covariance=cov)


def fit_beta_geo(
    frequency: np.ndarray,
    recency: np.ndarray,
    T: np.ndarray,
    weights: np.ndarray,
    *,
    model: str = "bgnbd",
    penalizer: float = 0.0,
    tol: float = 1e-7,
    standard_errors: bool = True,
    backend: str = "analytic",
) -> FitOutput:
    """Fit BG/NBD (``"bgnbd"``) or MBG/NBD exactly as lifetimes' fitters do.

    Parameters
    ----------
    frequency, recency, T, weights : numpy.ndarray
        One row per distinct ``(frequency, recency, T)`` pattern and the number of
        customers with it (lifetimes' ``weights=``).
    model : {"bgnbd", "mbgnbd"}
        lifetimes' ``BetaGeoFitter`` or ``ModifiedBetaGeoFitter``.
    penalizer : float
        lifetimes' ``penalizer_coef`` (an L2 penalty on the parameters, with time
        rescaled so that the longest ``T`` is 1).
    tol : float
        Tolerance passed to ``scipy.optimize.minimize``.
    standard_errors : bool, default True
        False skips the Hessian (the same parameters, NaN standard errors).
    backend : {"analytic", "lifetimes"}, default "analytic"
        ``"analytic"``: the same optimisation on :mod:`crm_analytics.fitting.likelihoods`
        (analytic gradient, sufficient statistics; Hessian from central differences of
        the gradient). ``"lifetimes"``: lifetimes' fitter itself (autograd).

    Returns
    -------
    FitOutput
        Parameters ``r, alpha, a, b`` (alpha in the unit of ``T``), their standard
        errors (lifetimes' delta-method errors), lifetimes' mean negative
        log-likelihood (on its rescaled time axis) and the total log-likelihood on the
        axis of ``T``.

    Raises
    ------
    FitFailed
        The optimiser did not converge, or the Hessian is singular.
    """
    _check_backend(backend)
    frequency = np.asarray(frequency).astype(int)  # as lifetimes' fit() does
    weights = np.asarray(weights)
    scale = _likelihoods.time_scale(T)
    if backend == "lifetimes":
        lifetimes = import_lifetimes()
        fitter = getattr(lifetimes, _FITTERS[model])(penalizer_coef=penalizer)
        out = _run_fit(fitter, (frequency, recency, T), {"weights": weights, "tol": tol},
                       standard_errors=standard_errors)
        scaled = np.array([out.params[k] for k in ("r", "alpha", "a", "b")])
        scaled[1] *= scale
    else:
        likelihood = _likelihoods.BetaGeoLikelihood(
            frequency, np.asarray(recency) * scale, np.asarray(T) * scale, weights,
            model=model)
        output = _minimize(likelihood, 4, penalizer, tol)
        scaled = np.exp(output.x)
        unscaled = scaled.copy()
        unscaled[1] /= scale  # alpha back on the axis of T
        params = {k: float(v) for k, v in zip(("r", "alpha", "a", "b"), unscaled, strict=True)}
        _finite_positive(params)
        cov = None
        if standard_errors:
            se, cov = _standard_errors(likelihood, output.x, penalizer, unscaled)
            errors = {k: float(v) for k, v in zip(params, se, strict=True)}
        else:
            errors = dict.fromkeys(params, float("nan"))
        out = FitOutput(params, errors, float(output.fun), log_covariance=cov)
    # rescaling time by c multiplies each customer's likelihood by c ** -x
    total = float(weights.sum())
    log_likelihood = (-(out.mean_negative_log_likelihood - penalizer * np.sum(scaled**2)) * total
                      + np.log(scale) * float(weights @ frequency))
    return FitOutput(out.params, out.standard_errors, out.mean_negative_log_likelihood,
                     float(log_likelihood), out.log_covariance)


#: Nelder-Mead iterations of lifetimes' ``ParetoNBDFitter`` (its ``maxiter`` default).
PNBD_MAXITER = 2000


def fit_pareto_nbd(
    frequency: np.ndarray,
    recency: np.ndarray,
    T: np.ndarray,
    weights: np.ndarray,
    *,
    penalizer: float = 0.0,
    tol: float = 1e-7,
    standard_errors: bool = True,
    backend: str = "analytic",
) -> FitOutput:
    """Fit the Pareto/NBD model exactly as lifetimes' ``ParetoNBDFitter`` does.

    lifetimes minimises its objective (see
    :class:`~crm_analytics.fitting.likelihoods.ParetoNBDLikelihood`) over the raw
    parameters with Nelder-Mead (``tol`` for both ``xatol`` and ``fatol``, at most
    :data:`PNBD_MAXITER` iterations) from a random start near ``(1, 1, 1, 1)``; here the
    start is exactly ``(1, 1, 1, 1)`` (pass ``initial_params=np.ones(4)`` to lifetimes
    to get the same path). ``"analytic"`` runs that minimisation on our likelihood
    (hypergeometric terms once per distinct ``(x, t_x)`` / ``(x, T)``), ``"lifetimes"``
    runs lifetimes' fitter itself. Unlike lifetimes, a run that hits the iteration
    limit is reported as a failure. lifetimes computes no Hessian for this model: the
    standard errors of both backends come from second differences of our likelihood
    in the log parameters.

    Parameters
    ----------
    frequency, recency, T, weights, penalizer, tol, standard_errors, backend
        As in :func:`fit_beta_geo`.

    Returns
    -------
    FitOutput
        Parameters ``r, alpha, s, beta`` (alpha and beta in the unit of ``T``).

    Raises
    ------
    FitFailed
        Nelder-Mead did not converge, or the Hessian is singular.
    """
    from scipy.optimize import minimize

    _check_backend(backend)
    frequency = np.asarray(frequency).astype(int)
    weights = np.asarray(weights)
    scale = _likelihoods.time_scale(T)
    likelihood = _likelihoods.ParetoNBDLikelihood(
        frequency, np.asarray(recency) * scale, np.asarray(T) * scale, weights)
    x0 = np.ones(4)
    if backend == "lifetimes":
        lifetimes = import_lifetimes()
        fitter = lifetimes.ParetoNBDFitter(penalizer_coef=penalizer)
        with quiet():
            fitter.fit(frequency, recency, T, weights=weights, initial_params=x0, tol=tol,
                       maxiter=PNBD_MAXITER)
        scaled = fitter.params_.to_numpy(dtype=float).copy()
        scaled[[1, 3]] *= scale
        objective = float(fitter._negative_log_likelihood_)
    else:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            output = minimize(likelihood.objective, x0=x0, method="Nelder-Mead", tol=tol,
                              args=(penalizer,),
                              options={"disp": False, "maxiter": PNBD_MAXITER})
        if not output.success:
            raise FitFailed(_NOT_CONVERGED, str(output))
        scaled, objective = np.asarray(output.x, dtype=float), float(output.fun)
    unscaled = scaled.copy()
    unscaled[[1, 3]] /= scale
    params = {k: float(v) for k, v in zip(("r", "alpha", "s", "beta"), unscaled, strict=True)}
    _finite_positive(params)
    cov = None
    if standard_errors:
        se, cov = _standard_errors(likelihood, np.log(scaled), penalizer, unscaled)
        errors = {k: float(v) for k, v in zip(params, se, strict=True)}
    else:
        errors = dict.fromkeys(params, float("nan"))
    total = float(weights.sum())
    mean_nll = (objective - penalizer * np.sum(scaled**2)) * likelihood.mean_weight / total
    log_likelihood = -mean_nll * total + np.log(scale) * float(weights @ frequency)
    return FitOutput(params, errors, mean_nll + penalizer * np.sum(scaled**2),
                     float(log_likelihood), cov)


def fit_gamma_gamma(
    frequency: np.ndarray,
    monetary_value: np.ndarray,
    weights: np.ndarray,
    *,
    penalizer: float = 0.0,
    tol: float = 1e-7,
    standard_errors: bool = True,
    backend: str = "analytic",
) -> FitOutput:
    """Fit the Gamma-Gamma model as lifetimes' ``GammaGammaFitter``; ``v`` is ``gamma``.

    Parameters
    ----------
    frequency, monetary_value, weights : numpy.ndarray
        Distinct ``(frequency, monetary_value)`` pairs of repeat customers and counts.
    penalizer, tol : float
        As in :func:`fit_beta_geo`.
    standard_errors : bool, default True
        As in :func:`fit_beta_geo`.
    backend : {"analytic", "lifetimes"}, default "analytic"
        As in :func:`fit_beta_geo`.

    Returns
    -------
    FitOutput
        Parameters ``p, q, gamma``, standard errors, lifetimes' mean negative
        log-likelihood and the total log-likelihood (penalty excluded).

    Raises
    ------
    FitFailed
        The optimiser did not converge, or the Hessian is singular.
    """
    _check_backend(backend)
    frequency = np.asarray(frequency, dtype=float)
    monetary_value = np.asarray(monetary_value, dtype=float)
    weights = np.asarray(weights)
    if backend == "lifetimes":
        lifetimes = import_lifetimes()
        fitter = lifetimes.GammaGammaFitter(penalizer_coef=penalizer)
        out = _run_fit(fitter, (frequency, monetary_value),
                       {"weights": weights, "tol": tol}, standard_errors=standard_errors)
        cov = out.log_covariance
        rename = {"p": "p", "q": "q", "v": "gamma"}
        params = {rename[k]: v for k, v in out.params.items()}
        errors = {rename[k]: v for k, v in out.standard_errors.items()}
        nll = out.mean_negative_log_likelihood
    else:
        likelihood = _likelihoods.GammaGammaLikelihood(frequency, monetary_value, weights)
        output = _minimize(likelihood, 3, penalizer, tol)
        values = np.exp(output.x)
        params = {k: float(v) for k, v in zip(("p", "q", "gamma"), values, strict=True)}
        _finite_positive(params)
        cov = None
        if standard_errors:
            se, cov = _standard_errors(likelihood, output.x, penalizer, values)
            errors = {k: float(v) for k, v in zip(params, se, strict=True)}
        else:
            errors = dict.fromkeys(params, float("nan"))
        nll = float(output.fun)
    penalty = penalizer * sum(v**2 for v in params.values())
    log_likelihood = -(nll - penalty) * float(weights.sum())
    return FitOutput(params, errors, nll, float(log_likelihood), cov)


def fit_with_retries(
    fit: object, *, penalizer: float, tol: float = 1e-7
) -> tuple[FitOutput, float, tuple[str, ...]]:
    """Call ``fit(penalizer=..., tol=...)`` and retry sensibly when it fails.

    The schedule: the requested settings; the same with ``tol`` 10 and 100 times
    looser (BFGS often stops with "precision loss" right at the optimum); then a
    growing penalizer (1e-4, 1e-3, 1e-2, never lower than the requested one) with
    ``tol=1e-6``. Every attempt is described in the returned notes.

    Returns
    -------
    (FitOutput, penalizer used, notes)

    Raises
    ------
    FitFailed
        Every attempt failed; the message lists them.
    """
    schedule = [(penalizer, tol), (penalizer, tol * 10), (penalizer, tol * 100)]
    schedule += [(max(penalizer, p), 1e-6) for p in (1e-4, 1e-3, 1e-2) if p > penalizer]
    notes: list[str] = []
    for pen, t in schedule:
        try:
            out = fit(penalizer=pen, tol=t)  # type: ignore[operator]
        except FitFailed as exc:
            first_line = exc.output.strip().splitlines()[:2]
            detail = f" ({' '.join(s.strip() for s in first_line)})" if first_line else ""
            notes.append(f"attempt with penalizer={pen:g}, tol={t:g} failed: {exc}{detail}")
            continue
        if notes:
            notes.append(f"converged with penalizer={pen:g}, tol={t:g}")
            if pen != penalizer:
                notes.append(
                    f"the penalizer was raised from {penalizer:g} to {pen:g} to converge: "
                    "the parameters are shrunk towards zero"
                )
        return out, pen, tuple(notes)
    raise FitFailed("every fit attempt failed:\n" + "\n".join(notes))
