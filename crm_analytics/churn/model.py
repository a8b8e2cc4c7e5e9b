"""The BG/NBD churn model: the fitted :class:`ChurnModel`, its formulas and its fit.

The BG/NBD model (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way: An
Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284): while alive, a
customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``; after every
purchase she drops out for good with probability ``p ~ Beta(a, b)``. The MBG/NBD variant
(Batislam, Denizel & Filiztekin 2007, IJRM 24(3); erratum Wagner & Hoppe 2008) also lets
her drop out at time 0, right after the first purchase.

Parameters are estimated exactly as lifetimes' fitters do (the same optimiser on the same
function; :mod:`crm_analytics.fitting.lifetimes_bridge`), on the compressed sufficient
statistics: each distinct ``(frequency, recency, T)`` row once, with the number of
customers sharing it as weight. By default the likelihood and its gradient are our own
analytic ones (:mod:`crm_analytics.fitting.likelihoods`, about 10x faster than lifetimes'
autograd); ``backend="lifetimes"`` runs lifetimes' own fitter, the model of record, and
gives the same parameters. Predictions are our own vectorised formulas (checked against
lifetimes in the tests).

Time units: ``recency``, ``T`` and ``alpha`` are in the summary's time unit ("D" days or
"W" weeks, read from the summary's columns by
:func:`crm_analytics.summary.summary_time_unit`); every user-facing horizon is in days
and converted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit, hyp2f1

from crm_analytics._core.checks import (
    check_positive,
    format_examples,
    require_columns,
    require_dataframe,
)
from crm_analytics._core.dates import TIME_UNIT_DAYS
from crm_analytics._core.errors import CrmDataError
from crm_analytics.fitting import lifetimes_bridge as _lifetimes
from crm_analytics.summary import summary_as_of, summary_time_unit

__all__ = [
    "MODELS",
    "ChurnModel",
    "fit_summary",
    "fit_patterns",
    "check_rfm",
    "check_backend",
    "check_churn_model",
    "compress_rfm",
    "frequency_age_pairs",
]

#: Model families of :func:`fit_churn_model` and their display names.
MODELS = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD"}
_RFM_COLUMNS = ("customer_id", "frequency", "recency", "T")


# --------------------------------------------------------------------------- checks

def check_rfm(summary: pd.DataFrame, what: str = "summary") -> None:
    """Validate ``customer_id, frequency, recency, T`` of a customer summary."""
    require_dataframe(summary, what)
    require_columns(summary, _RFM_COLUMNS, what)
    if len(summary) == 0:
        raise CrmDataError(f"The {what} has no customers. Pass a non-empty customer_summary().")
    for col in ("frequency", "recency", "T"):
        values = pd.to_numeric(summary[col], errors="coerce")
        bad = summary[col][values.isna() | ~np.isfinite(values.astype(float))]
        if len(bad):
            raise CrmDataError(
                f"Column {col!r} of the {what} has {len(bad)} missing or non-numeric values "
                f"({format_examples(bad)}). Rebuild it with customer_summary(orders)."
            )
    freq = summary["frequency"].to_numpy(dtype=float)
    rec = summary["recency"].to_numpy(dtype=float)
    T = summary["T"].to_numpy(dtype=float)
    problems = [
        ((freq < 0) | (freq % 1 != 0), "frequency", "must be whole numbers >= 0 (repeat "
         "purchase occasions)"),
        (rec < 0, "recency", "must be >= 0"),
        (rec > T * (1 + 1e-12) + 1e-12, "recency", "must not exceed T (the last order "
         "cannot be after the end of the observation period)"),
        ((freq == 0) & (rec != 0), "recency", "must be 0 for customers with frequency 0"),
    ]
    for mask, col, rule in problems:
        if mask.any():
            raise CrmDataError(
                f"Column {col!r} of the {what} {rule}: {int(mask.sum())} rows break this "
                f"({format_examples(summary.loc[mask, col])}). Rebuild the summary with "
                "customer_summary(orders)."
            )


def compress_rfm(
    frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct ``(frequency, recency, T)`` rows, their counts, and each row's pattern.

    Returns
    -------
    (frequency, recency, T, weights, inverse)
        ``pattern_values[inverse]`` gives back the per-customer values.
    """
    codes = [pd.factorize(v) for v in (frequency, recency, T)]
    key = np.zeros(len(frequency), dtype=np.int64)
    for c, uniques in codes:
        key = key * len(uniques) + c
    inverse, keys = pd.factorize(key)
    weights = np.bincount(inverse, minlength=len(keys))
    # decode each distinct key back into its three values (in order of first appearance)
    values = []
    for _, uniques in reversed(codes):
        keys, code = np.divmod(keys, len(uniques))
        values.append(np.asarray(uniques)[code])
    pattern_t, pattern_recency, pattern_frequency = values
    return pattern_frequency, pattern_recency, pattern_t, weights, inverse


def frequency_age_pairs(
    frequency: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct ``(frequency, T)`` pairs and each row's pair.

    :meth:`ChurnModel.expected_orders` is ``P(alive) x`` a function of ``(frequency,
    T)`` alone (a hypergeometric function, the costly part), so that factor is
    evaluated once per pair: far fewer than the distinct ``(frequency, recency, T)``.

    Returns
    -------
    (frequency, T, pair)
        ``values[pair]`` spreads per-pair values back to the rows.
    """
    x_code, x_values = pd.factorize(frequency)
    t_code, t_values = pd.factorize(T)
    pair, pairs = pd.factorize(x_code.astype(np.int64) * len(t_values) + t_code)
    return (np.asarray(x_values)[pairs // len(t_values)],
            np.asarray(t_values)[pairs % len(t_values)], pair)

def check_backend(backend: object) -> None:
    """Raise :class:`CrmDataError` unless ``backend`` is "analytic" or "lifetimes"."""
    if backend not in _lifetimes.BACKENDS:
        raise CrmDataError(
            f"The 'backend' parameter must be one of {list(_lifetimes.BACKENDS)}. Got "
            f"{backend!r} instead."
        )


def check_churn_model(model: object, name: str = "churn_model") -> ChurnModel:
    """``model`` if it is a :class:`ChurnModel`, else a :class:`CrmDataError` naming ``name``."""
    if not isinstance(model, ChurnModel):
        raise CrmDataError(
            f"The {name!r} argument must be a ChurnModel from fit_churn_model(); got "
            f"{type(model).__name__}."
        )
    return model


# --------------------------------------------------------------------------- formulas


def _log_hyp2f1(a: np.ndarray, b: np.ndarray, c: np.ndarray, z: np.ndarray) -> np.ndarray:
    """log 2F1(a, b; c; z), with Euler's transformation where the direct value overflows."""
    a, b, c, z = np.broadcast_arrays(*map(np.asarray, (a, b, c, z)))
    with np.errstate(all="ignore"):
        out = np.log(hyp2f1(a, b, c, z))
        bad = ~np.isfinite(out)
        if bad.any():
            ab, bb, cb, zb = a[bad], b[bad], c[bad], z[bad]
            out = np.array(out, dtype=float)
            out[bad] = np.log(hyp2f1(cb - ab, cb - bb, cb, zb)) + (cb - ab - bb) * np.log1p(-zb)
    return out


# --------------------------------------------------------------------------- model


@dataclass(frozen=True, eq=False)
class ChurnModel:
    """A fitted BG/NBD (or MBG/NBD) model, from :func:`fit_churn_model`.

    Attributes
    ----------
    model : {"bgnbd", "mbgnbd"}
        Which model was fitted.
    params : dict
        ``r, alpha, a, b``. ``alpha`` is in the unit of ``time_unit``.
    standard_errors : dict
        Standard error of each parameter (lifetimes' delta method on the Hessian of its
        objective).
    log_likelihood : float
        Total log-likelihood over all customers, on the summary's time axis (the
        paper's scale: -9582.4 on CDNOW in weeks). Excludes the penalty.
    n_customers : int
        Customers fitted.
    n_patterns : int
        Distinct ``(frequency, recency, T)`` rows the fit ran on (compression).
    time_unit : {"D", "W"}
        Unit of ``recency``, ``T`` and ``alpha``.
    as_of : pandas.Timestamp or None
        End of the observation period of the fitted summary.
    penalizer : float
        L2 penalizer actually used (lifetimes' ``penalizer_coef``).
    requested_penalizer : float
        Penalizer asked for; larger ``penalizer`` means a retry raised it to converge.
    T_max : float
        Longest customer age ``T`` in the data (``time_unit``).
    fit_notes : tuple of str
        Failed attempts and how the fit finally converged; empty when the first
        attempt converged.
    """

    model: str
    params: dict[str, float]
    standard_errors: dict[str, float]
    log_likelihood: float
    n_customers: int
    n_patterns: int
    time_unit: str
    as_of: pd.Timestamp | None
    penalizer: float
    requested_penalizer: float
    T_max: float
    fit_notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def unit_days(self) -> float:
        """Days per model time unit."""
        return TIME_UNIT_DAYS[self.time_unit]

    @property
    def retried(self) -> bool:
        """Whether the first fit attempt failed and a retry was needed."""
        return bool(self.fit_notes)

    def params_table(self, confidence_level: float = 0.95) -> pd.DataFrame:
        """Parameters with standard errors and normal confidence intervals."""
        from scipy.stats import norm

        z = norm.ppf(0.5 + confidence_level / 2)
        est = pd.Series(self.params)
        se = pd.Series(self.standard_errors).reindex(est.index)
        return pd.DataFrame(
            {"parameter": est.index, "estimate": est.to_numpy(), "standard_error": se.to_numpy(),
             "lower": (est - z * se).to_numpy(), "upper": (est + z * se).to_numpy()}
        )

    def _log_odds_dead(self, frequency, recency, T) -> np.ndarray:
        r, alpha, a, b = (self.params[k] for k in ("r", "alpha", "a", "b"))
        x = np.asarray(frequency, dtype=float)
        with np.errstate(divide="ignore"):
            ratio = (r + x) * (np.log(alpha + np.asarray(T, float))
                               - np.log(alpha + np.asarray(recency, float)))
        if self.model == "bgnbd":
            return np.log(a) - np.log(b + np.maximum(x, 1) - 1) + ratio
        return np.log(a) - np.log(b + x) + ratio

    def p_alive(self, frequency, recency, T) -> np.ndarray:
        """P(alive) at the end of observation, given the history (model time units).

        BG/NBD gives exactly 1 to customers with ``frequency == 0`` (Fader, Hardie &
        Lee 2005, note 021); MBG/NBD does not.
        """
        p = expit(-self._log_odds_dead(frequency, recency, T))
        if self.model == "bgnbd":
            p = np.where(np.asarray(frequency) == 0, 1.0, p)
        return np.asarray(p, dtype=float)

    def expected_orders(self, t, frequency, recency, T) -> np.ndarray:
        """Expected repeat purchase occasions in the next ``t`` time units (eq. 10).

        Parameters
        ----------
        t : float or array
            Horizon in the model's ``time_unit``.
        frequency, recency, T : array
            Customers' histories in the model's ``time_unit``.
        """
        x = np.asarray(frequency, dtype=float)
        T = np.asarray(T, dtype=float)
        return self.expected_orders_if_alive(t, x, T) * self.p_alive(x, recency, T)

    def expected_orders_if_alive(self, t, frequency, T) -> np.ndarray:
        """:meth:`expected_orders` before its P(alive) factor: a function of (x, T) only.

        The costly part (a hypergeometric function); the scoring functions evaluate it
        once per distinct ``(frequency, T)`` pair (:func:`frequency_age_pairs`).
        """
        x = np.asarray(frequency, dtype=float)
        T = np.asarray(T, dtype=float)
        r, alpha, a, b = (self.params[k] for k in ("r", "alpha", "a", "b"))
        t = np.asarray(t, dtype=float)
        z = t / (alpha + T + t)
        decay = (r + x) * (np.log(alpha + T) - np.log(alpha + T + t))
        if self.model == "bgnbd":
            lead = (a + b + x - 1) / (a - 1)
            log_h = _log_hyp2f1(r + x, b + x, a + b + x - 1, z)
        else:
            lead = (a + b + x) / (a - 1)
            log_h = _log_hyp2f1(r + x, b + x + 1, a + b + x, z)
        return lead * -np.expm1(log_h + decay)

    def expected_orders_new_customer(self, t) -> np.ndarray:
        """Expected repeat purchase occasions within ``t`` units of a first purchase (eq. 9)."""
        r, alpha, a, b = (self.params[k] for k in ("r", "alpha", "a", "b"))
        t = np.asarray(t, dtype=float)
        z = t / (alpha + t)
        decay = r * (np.log(alpha) - np.log(alpha + t))
        if self.model == "bgnbd":
            return (a + b - 1) / (a - 1) * -np.expm1(_log_hyp2f1(r, b, a + b - 1, z) + decay)
        return b / (a - 1) * -np.expm1(_log_hyp2f1(r, b + 1, a + b, z) + decay)

    def p_alive_matrix(self, max_frequency: int | None = None, T: float | None = None,
                       n_recency: int = 60) -> pd.DataFrame:
        """P(alive) on a grid: rows frequency 0..max_frequency, columns recency 0..T.

        Parameters
        ----------
        max_frequency : int, optional
            Largest frequency shown (default 20).
        T : float, optional
            Customer age, in ``time_unit`` (default: the longest age in the data).
        n_recency : int
            Number of recency grid points.
        """
        max_frequency = 20 if max_frequency is None else int(max_frequency)
        T = self.T_max if T is None else float(T)
        freq = np.arange(max_frequency + 1)
        rec = np.linspace(0.0, T, n_recency)
        grid = self.p_alive(freq[:, None], rec[None, :], T)
        out = pd.DataFrame(grid, index=pd.Index(freq, name="frequency"),
                           columns=pd.Index(rec, name=f"recency_{self.time_unit}"))
        # frequency 0 implies recency 0; other cells of that row are not possible
        out.iloc[0, 1:] = np.nan
        return out


def fit_summary(
    summary: pd.DataFrame,
    *,
    model: str = "bgnbd",
    penalizer: float = 0.0,
    time_unit: str | None = None,
    tol: float = 1e-7,
    standard_errors: bool = True,
    backend: str = "analytic",
) -> ChurnModel:
    """Fit one model family to a customer summary (see :func:`crm_analytics.fit_churn_model`).

    The fitting core behind the public ``fit_churn_model``, which adds the choice of
    the model by backtest (``model="auto"``).
    """
    if model not in MODELS:
        raise CrmDataError(
            f"The 'model' parameter must be one of {list(MODELS)}. Got {model!r} instead."
        )
    check_backend(backend)
    check_positive(penalizer, "penalizer", allow_zero=True)
    check_positive(tol, "tol")
    check_rfm(summary)
    freq = summary["frequency"].to_numpy(dtype=float)
    rec = summary["recency"].to_numpy(dtype=float)
    T = summary["T"].to_numpy(dtype=float)
    if not (T > 0).any():
        raise CrmDataError(
            "Every customer in the summary has T == 0 (first order on as_of): there is no "
            "observation period to fit. Use a later as_of."
        )
    if not (freq > 0).any():
        raise CrmDataError(
            f"None of the {len(freq)} customers in the summary has a repeat purchase "
            "(frequency > 0), so purchase rates and dropout cannot be estimated. Use a "
            "longer period of orders."
        )
    unit = summary_time_unit(summary, time_unit)
    fx, frec, fT, w, _ = compress_rfm(freq, rec, T)
    as_of = summary_as_of(summary)
    return fit_patterns(
        fx, frec, fT, w, model=model, time_unit=unit, as_of=as_of, penalizer=penalizer,
        tol=tol, standard_errors=standard_errors, backend=backend,
        hint="very few repeat customers, or a time unit that makes T huge")


def fit_patterns(
    fx: np.ndarray, frec: np.ndarray, fT: np.ndarray, w: np.ndarray, *, model: str,
    time_unit: str, as_of: object = None, penalizer: float = 0.0, tol: float = 1e-7,
    standard_errors: bool = True, backend: str = "analytic",
    hint: str = "very few repeat customers",
) -> ChurnModel:
    """A :class:`ChurnModel` fitted on distinct ``(frequency, recency, T)`` rows and their
    customer counts ``w`` (what :func:`fit_churn_model` and the engines' report fit).

    The fit is retried as :func:`fit_churn_model` describes; ``hint`` ends the error
    message when every attempt fails.
    """

    def attempt(*, penalizer: float, tol: float) -> _lifetimes.FitOutput:
        return _lifetimes.fit_beta_geo(fx, frec, fT, w, model=model, penalizer=penalizer,
                                       tol=tol, standard_errors=standard_errors,
                                       backend=backend)

    n = int(np.sum(w))
    try:
        out, used, notes = _lifetimes.fit_with_retries(attempt, penalizer=penalizer, tol=tol)
    except _lifetimes.FitFailed as exc:
        raise CrmDataError(
            f"The {MODELS[model]} fit on {n} customers did not converge. {exc}\n"
            f"Check the summary (e.g. {hint}), try model='mbgnbd', or pass a penalizer "
            "such as 0.01."
        ) from exc
    return ChurnModel(
        model=model,
        params=out.params,
        standard_errors=out.standard_errors,
        log_likelihood=out.log_likelihood,
        n_customers=n,
        n_patterns=len(fx),
        time_unit=time_unit,
        as_of=None if as_of is None else pd.Timestamp(as_of),
        penalizer=used,
        requested_penalizer=penalizer,
        T_max=float(np.max(fT)),
        fit_notes=notes,
    )
