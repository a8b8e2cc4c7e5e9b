"""The one door to lifetimes: its BG/NBD, MBG/NBD and Gamma-Gamma fitters, nothing else.

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

Everything else (predictions, log-likelihood on the paper's scale, data handling) is
our own code in :mod:`crm_analytics.churn` and :mod:`crm_analytics.ltv`.
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

__all__ = ["import_lifetimes", "quiet", "fit_beta_geo", "fit_gamma_gamma", "FitFailed"]

_PANDAS_OPTION = "mode.chained_assignment"
_FITTERS = {"bgnbd": "BetaGeoFitter", "mbgnbd": "ModifiedBetaGeoFitter"}


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
    """What one lifetimes fit produced, in plain Python types."""

    params: dict[str, float]
    standard_errors: dict[str, float]
    mean_negative_log_likelihood: float


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
    if standard_errors:
        errors = {k: float(v) for k, v in fitter.standard_errors_.items()}  # type: ignore
    else:
        errors = dict.fromkeys(params, float("nan"))
    if not all(np.isfinite(v) and v > 0 for v in params.values()):
        raise FitFailed(f"the fit returned non-finite or non-positive parameters {params}")
    nll = float(fitter._negative_log_likelihood_)  # type: ignore[attr-defined]
    return FitOutput(params, errors, nll)


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
) -> FitOutput:
    """Fit lifetimes' ``BetaGeoFitter`` (``"bgnbd"``) or ``ModifiedBetaGeoFitter``.

    Parameters
    ----------
    frequency, recency, T, weights : numpy.ndarray
        One row per distinct ``(frequency, recency, T)`` pattern and the number of
        customers with it (lifetimes' ``weights=``).
    model : {"bgnbd", "mbgnbd"}
    penalizer : float
        lifetimes' ``penalizer_coef`` (an L2 penalty on the parameters, with time
        rescaled so that the longest ``T`` is 1).
    tol : float
        Tolerance passed to ``scipy.optimize.minimize``.
    standard_errors : bool, default True
        False skips lifetimes' autograd Hessian (about a third of the fit time): the
        same parameters, NaN standard errors.

    Returns
    -------
    FitOutput
        Parameters ``r, alpha, a, b`` (alpha in the unit of ``T``), their standard
        errors (lifetimes' delta-method errors from the autograd Hessian) and
        lifetimes' mean negative log-likelihood (on its rescaled time axis).

    Raises
    ------
    FitFailed
        The optimiser did not converge.
    """
    lifetimes = import_lifetimes()
    fitter = getattr(lifetimes, _FITTERS[model])(penalizer_coef=penalizer)
    return _run_fit(fitter, (frequency, recency, T), {"weights": weights, "tol": tol},
                    standard_errors=standard_errors)


def fit_gamma_gamma(
    frequency: np.ndarray,
    monetary_value: np.ndarray,
    weights: np.ndarray,
    *,
    penalizer: float = 0.0,
    tol: float = 1e-7,
    standard_errors: bool = True,
) -> FitOutput:
    """Fit lifetimes' ``GammaGammaFitter``; parameters are renamed ``p, q, gamma``.

    Parameters
    ----------
    frequency, monetary_value, weights : numpy.ndarray
        Distinct ``(frequency, monetary_value)`` pairs of repeat customers and counts.
    penalizer, tol : float
        As in :func:`fit_beta_geo`.
    standard_errors : bool, default True
        As in :func:`fit_beta_geo`.

    Returns
    -------
    FitOutput

    Raises
    ------
    FitFailed
        The optimiser did not converge.
    """
    lifetimes = import_lifetimes()
    fitter = lifetimes.GammaGammaFitter(penalizer_coef=penalizer)
    out = _run_fit(fitter, (frequency, monetary_value), {"weights": weights, "tol": tol},
                   standard_errors=standard_errors)
    rename = {"p": "p", "q": "q", "v": "gamma"}
    return FitOutput(
        {rename[k]: v for k, v in out.params.items()},
        {rename[k]: v for k, v in out.standard_errors.items()},
        out.mean_negative_log_likelihood,
    )


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
