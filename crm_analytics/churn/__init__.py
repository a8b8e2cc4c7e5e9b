"""Who is still a live customer: BG/NBD churn model, scores and holdout validation.

The BG/NBD model (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way: An
Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284): while alive, a
customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``; after every
purchase she drops out for good with probability ``p ~ Beta(a, b)``. The MBG/NBD variant
(Batislam, Denizel & Filiztekin 2007, IJRM 24(3); erratum Wagner & Hoppe 2008) also lets
her drop out at time 0, right after the first purchase.

Parameters are estimated exactly as lifetimes' fitters do (the same optimiser on the same
function; :mod:`crm_analytics.fitting.lifetimes_bridge`), on the compressed sufficient statistics: each
distinct ``(frequency, recency, T)`` row once, with the number of customers sharing it as
weight. By default the likelihood and its gradient are our own analytic ones
(:mod:`crm_analytics.fitting.likelihoods`, about 10x faster than lifetimes' autograd);
``backend="lifetimes"`` runs lifetimes' own fitter, the model of record, and gives the
same parameters. Predictions are our own vectorised formulas (checked against lifetimes
in the tests).

Time units: ``recency``, ``T`` and ``alpha`` are in the summary's ``time_unit``
(``summary.attrs["time_unit"]``: "D" days or "W" weeks); every user-facing horizon is in
days and converted.
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
from crm_analytics._core.dates import TIME_UNIT_DAYS, check_time_unit, iso_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics.fitting import lifetimes_bridge as _lifetimes
from crm_analytics.orders.encode import order_days, prepare_orders
from crm_analytics.summary import calibration_holdout_split

__all__ = [
    "ChurnModel",
    "HoldoutReport",
    "fit_churn_model",
    "churn_scores",
    "churn_holdout_report",
    "RISK_LEVELS",
]

MODELS = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD"}
#: Ordered churn-risk labels.
RISK_LEVELS = ("low", "medium", "high")
#: How ``expected_next_order`` was found (see :func:`churn_scores`).
NEXT_ORDER_BASES = ("own_gaps", "model_rate", "unlikely_alive")
_RFM_COLUMNS = ("customer_id", "frequency", "recency", "T")


# --------------------------------------------------------------------------- checks


def summary_time_unit(summary: pd.DataFrame, time_unit: str | None = None) -> str:
    """The time unit of ``recency`` / ``T``: the argument, else ``summary.attrs``."""
    unit = time_unit if time_unit is not None else summary.attrs.get("time_unit")
    if unit is None:
        raise CrmDataError(
            "The summary does not say in which unit recency and T are (no "
            "attrs['time_unit']; pandas drops attrs in some operations). Pass "
            "time_unit='D' (days) or 'W' (weeks), or rebuild it with customer_summary()."
        )
    check_time_unit(unit)
    return unit


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
        return self._expected_orders_if_alive(t, x, T) * self.p_alive(x, recency, T)

    def _expected_orders_if_alive(self, t, x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """:meth:`expected_orders` before its P(alive) factor: a function of (x, T) only."""
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
        frequency, recency, T``; ``attrs["time_unit"]``). Not modified.
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
        Unit of ``recency`` and ``T``; default ``summary.attrs["time_unit"]``.
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
    if model not in MODELS:
        raise CrmDataError(
            f"The 'model' parameter must be one of {list(MODELS)}. Got {model!r} instead."
        )
    check_backend(backend)
    check_positive(penalizer, "penalizer", allow_zero=True)
    check_positive(tol, "tol")
    unit = summary_time_unit(require_dataframe(summary, "summary"), time_unit)
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
    fx, frec, fT, w, _ = compress_rfm(freq, rec, T)
    as_of = summary.attrs.get("as_of")
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


# --------------------------------------------------------------------------- scores


def check_risk_bands(high_risk_below: float, medium_risk_below: float) -> None:
    """Raise :class:`CrmDataError` unless 0 <= high_risk_below <= medium_risk_below <= 1."""
    for name, value in (("high_risk_below", high_risk_below),
                        ("medium_risk_below", medium_risk_below)):
        if not 0 <= value <= 1:
            raise CrmDataError(f"The {name!r} parameter must be in [0, 1]. Got {value!r}.")
    if high_risk_below > medium_risk_below:
        raise CrmDataError(
            f"high_risk_below ({high_risk_below}) must not exceed medium_risk_below "
            f"({medium_risk_below}): P(alive) below the first is high risk, below the "
            "second medium."
        )


def expected_gap_days(model: ChurnModel, frequency: np.ndarray, recency: np.ndarray,
                      T: np.ndarray, unit_days: float) -> tuple[np.ndarray, np.ndarray]:
    """Days from the base day to the expected next order, and the repeat-buyer mask.

    Repeat buyers: their own mean gap between purchase days (``recency`` in units of
    ``unit_days`` days / ``frequency``), counted from the last order. Others: the
    model's mean gap for their history, ``(alpha + T) / (r + x)`` (``T`` in the model's
    unit), counted from ``as_of``. Shared by :func:`churn_scores` and the engines.
    """
    r, alpha = model.params["r"], model.params["alpha"]
    # purchase occasions are whole days: recency in days is an integer up to float noise
    recency_days = np.rint(recency * unit_days)
    with np.errstate(divide="ignore", invalid="ignore"):
        own_gap = recency_days / frequency
    model_gap = (alpha + T) / (r + frequency) * model.unit_days
    repeat = frequency >= 1
    return np.where(repeat, own_gap, model_gap), repeat


def rfm_in_model_units(model: ChurnModel, summary: pd.DataFrame, time_unit: str | None):
    unit = summary_time_unit(summary, time_unit)
    scale = TIME_UNIT_DAYS[unit] / model.unit_days
    return (summary["frequency"].to_numpy(dtype=float),
            summary["recency"].to_numpy(dtype=float) * scale,
            summary["T"].to_numpy(dtype=float) * scale, unit)


def predict_patterns(model: ChurnModel, freq, rec, T, fn) -> np.ndarray:
    """Evaluate ``fn(x, tx, T)`` once per distinct history and spread it to customers."""
    px, prec, pT, _, inverse = compress_rfm(freq, rec, T)
    values = np.asarray(fn(px, prec, pT))
    return values[..., inverse]


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


def scores_on_patterns(
    model: ChurnModel, freq, rec, T, t: float
) -> tuple[np.ndarray, np.ndarray]:
    """P(alive) and expected orders within ``t`` (model units), per customer.

    Computed on the distinct ``(frequency, recency, T)`` rows (P(alive)) and the distinct
    ``(frequency, T)`` pairs (the rest of :meth:`ChurnModel.expected_orders`), then
    mapped back to the customers.
    """
    px, prec, pT, _, inverse = compress_rfm(freq, rec, T)
    alive = model.p_alive(px, prec, pT)
    qx, qT, pair = frequency_age_pairs(px, pT)
    expected = model._expected_orders_if_alive(t, qx, qT)[pair] * alive
    return alive[inverse], expected[inverse]


def check_backend(backend: object) -> None:
    if backend not in _lifetimes.BACKENDS:
        raise CrmDataError(
            f"The 'backend' parameter must be one of {list(_lifetimes.BACKENDS)}. Got "
            f"{backend!r} instead."
        )


def check_churn_model(model: object) -> ChurnModel:
    if not isinstance(model, ChurnModel):
        raise CrmDataError(
            f"The 'model' argument must be a ChurnModel from fit_churn_model(); got "
            f"{type(model).__name__}."
        )
    return model


def churn_scores(
    model: ChurnModel,
    summary: pd.DataFrame,
    *,
    horizon: float = 90,
    high_risk_below: float = 0.5,
    medium_risk_below: float = 0.8,
    next_order_min_p_alive: float = 0.1,
    time_unit: str | None = None,
) -> pd.DataFrame:
    """Per customer: P(alive), expected orders in the next ``horizon`` days, risk, next order.

    ``expected_next_order`` (for reorder reminders) follows this rule:

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
    model : ChurnModel
        From :func:`fit_churn_model`.
    summary : pandas.DataFrame
        :func:`~crm_analytics.customer_summary` at the scoring date (may be the fitted
        summary or a later one; ``recency``/``T`` are converted to the model's unit).
        Needs ``last_order`` for ``expected_next_order``. Not modified.
    horizon : float, default 90
        Horizon of ``expected_orders`` in **days** (converted to the model's unit).
    high_risk_below, medium_risk_below : float, default 0.5 and 0.8
        ``churn_risk`` is "high" when P(alive) < ``high_risk_below``, "medium" when
        below ``medium_risk_below``, else "low". With ``model="bgnbd"`` one-time
        buyers always have P(alive) = 1 and so "low" risk; use ``"mbgnbd"`` to score them.
    next_order_min_p_alive : float, default 0.1
        Below this P(alive), ``expected_next_order`` is ``NaT``.
    time_unit : {"D", "W"}, optional
        Unit of the summary's ``recency``/``T``; default ``summary.attrs["time_unit"]``.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, p_alive, p_churn, expected_orders, churn_risk (ordered
        categorical low < medium < high), expected_next_order (datetime),
        next_order_basis (categorical: own_gaps, model_rate, unlikely_alive),
        expected_gap_days``, one row per customer of ``summary`` in
        its order. ``attrs`` holds ``horizon_days``, ``as_of`` and the thresholds.

    Raises
    ------
    CrmDataError
        Not a ChurnModel, invalid summary, non-positive horizon or thresholds outside
        (0, 1) or in the wrong order.

    Examples
    --------
    >>> from crm_analytics import customer_summary, load_cdnow
    >>> summary = customer_summary(load_cdnow("sample"), as_of="1997-09-30", time_unit="W")
    >>> scores = churn_scores(fit_churn_model(summary), summary, horizon=91)
    >>> first = scores.iloc[0]  # x = 2, t_x = 30.43, T = 38.86 weeks
    >>> p_alive, orders = float(first["p_alive"]), float(first["expected_orders"])
    >>> first["customer_id"], round(p_alive, 3), round(orders, 3)
    ('1', 0.727, 0.457)
    >>> first["churn_risk"], str(first["expected_next_order"].date()), first["next_order_basis"]
    ('medium', '1997-11-17', 'own_gaps')
    """
    model = check_churn_model(model)
    check_positive(horizon, "horizon")
    check_risk_bands(high_risk_below, medium_risk_below)
    check_rfm(summary)
    require_columns(summary, ["last_order"], "summary")
    freq, rec, T, unit = rfm_in_model_units(model, summary, time_unit)
    p_alive, expected = scores_on_patterns(model, freq, rec, T, horizon / model.unit_days)
    risk = np.where(p_alive < high_risk_below, 2, np.where(p_alive < medium_risk_below, 1, 0))

    last = pd.to_datetime(summary["last_order"]).to_numpy(dtype="datetime64[ns]")
    unit_days = TIME_UNIT_DAYS[unit]
    as_of_values = last + np.rint((T - rec) * model.unit_days).astype("timedelta64[D]")
    as_of = summary.attrs.get("as_of")
    if as_of is None:
        as_of_arr = as_of_values
    else:
        as_of_arr = np.full(len(last), pd.Timestamp(as_of).to_datetime64(), "datetime64[ns]")
    gap, repeat = expected_gap_days(model, freq, summary["recency"].to_numpy(dtype=float),
                                    T, unit_days)
    base = np.where(repeat, last, as_of_arr.astype("datetime64[ns]"))
    nxt = base + np.floor(gap + 0.5).astype("timedelta64[D]")
    unlikely = p_alive < next_order_min_p_alive
    nxt = np.where(unlikely, np.datetime64("NaT"), nxt).astype("datetime64[ns]")
    basis = pd.Categorical.from_codes(np.where(unlikely, 2, np.where(repeat, 0, 1)),
                                      categories=list(NEXT_ORDER_BASES))

    out = pd.DataFrame(
        {
            "customer_id": summary["customer_id"].array.copy(),
            "p_alive": p_alive,
            "p_churn": 1.0 - p_alive,
            "expected_orders": expected,
            "churn_risk": pd.Categorical.from_codes(risk, categories=list(RISK_LEVELS),
                                                    ordered=True),
            "expected_next_order": nxt,
            "next_order_basis": basis,
            "expected_gap_days": gap,
        },
        copy=False,  # every column is a fresh array (the ids copied above): no second copy
    )
    out.attrs = {
        "horizon_days": float(horizon),
        "as_of": iso_day(as_of),
        "model": model.model,
        "high_risk_below": high_risk_below,
        "medium_risk_below": medium_risk_below,
        "next_order_min_p_alive": next_order_min_p_alive,
    }
    return out


# --------------------------------------------------------------------------- holdout


@dataclass(frozen=True, eq=False)
class HoldoutReport:
    """Calibration fit versus holdout outcomes, from :func:`churn_holdout_report`.

    Attributes
    ----------
    model : ChurnModel
        Fitted on the calibration period.
    calibration_end, holdout_end : pandas.Timestamp
        Last days of the two periods.
    time_unit : str
        Unit of recency / T in ``customers``.
    customers : pandas.DataFrame
        Per customer: ``customer_id, frequency, recency, T, p_alive, actual, predicted``
        (holdout repeat purchase occasions, actual and expected).
    by_frequency : pandas.DataFrame
        ``frequency`` (label "0", "1", ..., "7+"), ``n_customers``, ``actual_mean``,
        ``predicted_mean``, ``actual_total``, ``predicted_total``.
    tracking : pandas.DataFrame
        Weekly cumulative repeat purchase occasions of the calibration customers:
        ``week, date`` (last day of the week), ``period`` ("calibration"/"holdout"),
        ``actual, predicted`` (that week), ``actual_cumulative, predicted_cumulative``.
    total_actual, total_predicted : float
        Repeat purchase occasions in the holdout, all calibration customers.
    correlation : float
        Pearson correlation of per-customer predicted and actual holdout orders.
    mae : float
        Mean absolute error per customer (orders).
    n_new_in_holdout : int
        Customers whose first order is in the holdout (not scored).
    """

    model: ChurnModel
    calibration_end: pd.Timestamp
    holdout_end: pd.Timestamp
    time_unit: str
    customers: pd.DataFrame
    by_frequency: pd.DataFrame
    tracking: pd.DataFrame
    total_actual: float
    total_predicted: float
    correlation: float
    mae: float
    n_new_in_holdout: int

    def summary(self) -> str:
        """A short text summary of the validation."""
        m = self.model
        return (
            f"{MODELS[m.model]} fitted on {m.n_customers} customers up to "
            f"{self.calibration_end.date()}; holdout to {self.holdout_end.date()}.\n"
            f"Repeat orders in holdout: actual {self.total_actual:.0f}, predicted "
            f"{self.total_predicted:.1f} ({self.total_predicted / self.total_actual - 1:+.1%}).\n"
            f"Per customer: correlation {self.correlation:.3f}, MAE {self.mae:.3f} orders."
        )


def _tracking(model: ChurnModel, orders: pd.DataFrame, split: pd.DataFrame,
              holdout_end: pd.Timestamp, calibration_end: pd.Timestamp) -> pd.DataFrame:
    first = split["first_order"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    start, end = int(first.min()), int(np.datetime64(holdout_end.date(), "D").astype(np.int64))
    cal_end = int(np.datetime64(calibration_end.date(), "D").astype(np.int64))
    week_ends = np.arange(start + 6, end + 1, 7)
    if len(week_ends) == 0 or week_ends[-1] != end:
        week_ends = np.append(week_ends, end)
    # predicted: each customer's unconditional expectation since their first purchase
    first_days, counts = np.unique(first, return_counts=True)
    age = (week_ends[:, None] - first_days[None, :]) / model.unit_days
    expected = np.where(age > 0, model.expected_orders_new_customer(np.maximum(age, 0)), 0.0)
    predicted_cum = expected @ counts
    # actual: repeat purchase occasions (orders on a day after the first) of these customers
    cohort = orders["customer_id"].isin(split["customer_id"]).to_numpy()
    days = order_days(orders)[cohort]
    codes = pd.factorize(orders["customer_id"].to_numpy()[cohort])[0]
    occasions = np.unique(codes.astype(np.int64) * (1 << 32) + (days - days.min()))
    occ_cust, occ_day = occasions >> 32, (occasions & 0xFFFFFFFF) + days.min()
    is_first = np.r_[True, occ_cust[1:] != occ_cust[:-1]]
    repeat_days = np.sort(occ_day[~is_first])
    actual_cum = np.searchsorted(repeat_days, week_ends, side="right").astype(float)
    dates = (week_ends.astype("datetime64[D]")).astype("datetime64[ns]")
    return pd.DataFrame(
        {
            "week": np.arange(1, len(week_ends) + 1),
            "date": dates,
            "period": np.where(week_ends <= cal_end, "calibration", "holdout"),
            "actual": np.diff(actual_cum, prepend=0.0),
            "predicted": np.diff(predicted_cum, prepend=0.0),
            "actual_cumulative": actual_cum,
            "predicted_cumulative": predicted_cum,
        }
    )


def churn_holdout_report(
    orders: pd.DataFrame,
    *,
    calibration_end: object,
    holdout_end: object = None,
    model: str = "bgnbd",
    penalizer: float = 0.0,
    time_unit: str = "D",
    max_frequency: int = 7,
) -> HoldoutReport:
    """Fit on a calibration period and compare the predictions with the holdout period.

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical orders. Not modified.
    calibration_end : date-like
        Last day of the calibration period (included).
    holdout_end : date-like, optional
        Last day of the holdout period; default the last order date.
    model : {"bgnbd", "mbgnbd"}, default "bgnbd"
        See :func:`fit_churn_model`.
    penalizer : float, default 0.0
        See :func:`fit_churn_model`.
    time_unit : {"D", "W"}, default "D"
        Unit of recency / T for the fit. Predictions do not depend on it (up to the
        optimiser's tolerance); "W" reproduces the paper's parameter values.
    max_frequency : int, default 7
        Calibration frequencies from this value up are pooled ("7+").

    Returns
    -------
    HoldoutReport
        Totals, mean predicted vs actual holdout orders by calibration frequency,
        correlation, MAE and a weekly cumulative tracking table.

    Raises
    ------
    CrmDataError
        Invalid orders or dates (see
        :func:`~crm_analytics.calibration_holdout_split`), or a failed fit.

    Examples
    --------
    >>> from crm_analytics import load_cdnow
    >>> rep = churn_holdout_report(load_cdnow("sample"), calibration_end="1997-09-30",
    ...                            holdout_end="1998-06-30", time_unit="W")
    >>> rep.total_actual, round(rep.total_predicted)
    (1882.0, 1653)
    >>> rep.by_frequency["frequency"].tolist()
    ['0', '1', '2', '3', '4', '5', '6', '7+']
    """
    if int(max_frequency) < 1:
        raise CrmDataError(f"The 'max_frequency' parameter must be >= 1. Got {max_frequency!r}.")
    orders = prepare_orders(orders).orders
    split = calibration_holdout_split(orders, calibration_end=calibration_end,
                                      holdout_end=holdout_end, time_unit=time_unit)
    fitted = fit_churn_model(split, model=model, penalizer=penalizer)
    freq = split["frequency"].to_numpy(dtype=float)
    rec = split["recency"].to_numpy(dtype=float)
    T = split["T"].to_numpy(dtype=float)
    duration = float(split["duration_holdout"].iloc[0])
    p_alive, predicted = scores_on_patterns(fitted, freq, rec, T, duration)
    actual = split["frequency_holdout"].to_numpy(dtype=float)
    customers = pd.DataFrame(
        {"customer_id": split["customer_id"].to_numpy(), "frequency": freq.astype(np.int64),
         "recency": rec, "T": T, "p_alive": p_alive, "actual": actual, "predicted": predicted}
    )
    k = int(max_frequency)
    bucket = np.minimum(customers["frequency"].to_numpy(), k)
    labels = [str(i) for i in range(k)] + [f"{k}+"]
    grouped = customers.groupby(bucket).agg(
        n_customers=("actual", "size"), actual_mean=("actual", "mean"),
        predicted_mean=("predicted", "mean"), actual_total=("actual", "sum"),
        predicted_total=("predicted", "sum"),
    ).reindex(range(k + 1))
    grouped["n_customers"] = grouped["n_customers"].fillna(0).astype(np.int64)
    by_frequency = grouped.reset_index(drop=True)
    by_frequency.insert(0, "frequency", labels)
    cal_end = pd.Timestamp(split.attrs["calibration_end"])
    hold_end = pd.Timestamp(split.attrs["holdout_end"])
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (float(np.corrcoef(predicted, actual)[0, 1])
                if np.std(actual) > 0 and np.std(predicted) > 0 else float("nan"))
    return HoldoutReport(
        model=fitted,
        calibration_end=cal_end,
        holdout_end=hold_end,
        time_unit=time_unit,
        customers=customers,
        by_frequency=by_frequency,
        tracking=_tracking(fitted, orders, split, hold_end, cal_end),
        total_actual=float(actual.sum()),
        total_predicted=float(predicted.sum()),
        correlation=corr,
        mae=float(np.mean(np.abs(predicted - actual))),
        n_new_in_holdout=int(split.attrs.get("n_new_in_holdout", 0)),
    )
