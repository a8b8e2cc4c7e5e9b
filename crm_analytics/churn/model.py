"""The churn models (BG/NBD, MBG/NBD, Pareto/NBD): :class:`ChurnModel`, formulas, fit.

The BG/NBD model (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way: An
Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284): while alive, a
customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``; after every
purchase she drops out for good with probability ``p ~ Beta(a, b)``. The MBG/NBD variant
(Batislam, Denizel & Filiztekin 2007, IJRM 24(3); erratum Wagner & Hoppe 2008) also lets
her drop out at time 0, right after the first purchase. The Pareto/NBD model
(Schmittlein, Morrison & Colombo 1987; Fader, Hardie & Lee 2005, "A note on implementing
the Pareto/NBD model in MATLAB") lets her drop out at any moment: her lifetime is
exponential with rate ``mu ~ Gamma(s, beta)``.

"Churn" here is "no order in the next ``t``" (:meth:`ChurnModel.p_no_order`), not ``1 -
P(alive)``: a live customer with a low purchase rate often goes months without an order,
and a model whose dropout process the data cannot identify says little about P(alive).

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

from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import pandas as pd
from scipy.special import betainc, betaln, expit, gammaln, hyp2f1

from crm_analytics._core.checks import (
    check_positive,
    format_examples,
    require_columns,
    require_dataframe,
)
from crm_analytics._core.dates import TIME_UNIT_DAYS
from crm_analytics._core.errors import CrmDataError
from crm_analytics.fitting import lifetimes_bridge as _lifetimes
from crm_analytics.fitting.likelihoods import log_power_tail
from crm_analytics.summary import summary_as_of, summary_time_unit

__all__ = [
    "MODELS",
    "PARAMETERS",
    "MIN_REPEAT_CUSTOMERS",
    "ChurnModel",
    "fit_warnings",
    "fit_summary",
    "fit_patterns",
    "check_rfm",
    "check_backend",
    "check_churn_model",
    "compress_rfm",
    "frequency_age_pairs",
]

#: Model families of :func:`fit_churn_model` and their display names.
MODELS = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD", "pnbd": "Pareto/NBD"}
#: Parameter names of each model family (``alpha`` and ``beta`` in the time unit).
PARAMETERS = {"bgnbd": ("r", "alpha", "a", "b"), "mbgnbd": ("r", "alpha", "a", "b"),
              "pnbd": ("r", "alpha", "s", "beta")}
#: Below this many repeat customers a fitted model carries a warning.
MIN_REPEAT_CUSTOMERS = 100
#: A shape parameter (``r, a, b, s``) outside this range, or a scale (``alpha``, ``beta``)
#: above ``SCALE_LIMIT`` times the longest customer age, is "at a bound": the optimiser
#: ran towards 0 or infinity because the data do not pin it down.
SHAPE_RANGE = (1e-3, 1e3)
SCALE_LIMIT = 1e3
#: Gauss-Legendre nodes of the Pareto/NBD order-count integral.
_QUAD_NODES = 64
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


def _one_minus_scaled_hyp2f1(a, b, c, z, log_scale) -> np.ndarray:
    """``1 - 2F1(a, b; c; z) * exp(log_scale)``: through logs (``expm1``, accurate near 1)
    where 2F1 is positive, directly where it is not. 2F1 can be zero or negative when
    ``c`` is negative: BG/NBD with ``a + b < 1`` gives ``c = a + b - 1 < 0`` for customers
    with no repeat order, a fit (or a parameter draw) the data can produce."""
    a, b, c, z, log_scale = np.broadcast_arrays(*map(np.asarray, (a, b, c, z, log_scale)))
    with np.errstate(all="ignore"):
        out = np.array(-np.expm1(_log_hyp2f1(a, b, c, z) + log_scale), dtype=float)
        bad = ~np.isfinite(out)
        if bad.any():
            h = hyp2f1(a[bad], b[bad], c[bad], z[bad])
            out[bad] = 1.0 - h * np.exp(log_scale[bad])
    return out


# --------------------------------------------------------------------------- model


def _log_shifted(alpha, v: np.ndarray) -> np.ndarray:
    """``log(alpha + v)``; with parameter draws (``alpha`` a column) computed once per
    distinct ``v`` and gathered (the same numbers, a fraction of the logs)."""
    if np.ndim(alpha) == 2 and np.ndim(v) == 1 and len(v) > 1000:
        code, uniques = pd.factorize(v)
        return np.take(np.log(alpha + np.asarray(uniques, dtype=float)), code, axis=1)
    return np.log(alpha + v)


def _shrink_ratio(c: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``(1 - (1 + u) ** -c) / c``, with its limit ``log(1 + u)`` at ``c = 0``."""
    c, u = np.broadcast_arrays(np.asarray(c, dtype=float), np.asarray(u, dtype=float))
    lu = np.log1p(u)
    small = np.abs(c) < 1e-10
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -np.expm1(-c * lu) / np.where(small, 1.0, c)
    return np.where(small, lu, out)


def _nbd_log_pmf(n, shape, log_theta, log_1m_theta):
    """log P(K = n) of a negative binomial: Gamma(shape) mixture of Poisson counts."""
    return (gammaln(shape + n) - gammaln(shape) - gammaln(n + 1.0) + shape * log_theta
            + n * log_1m_theta)


@dataclass(frozen=True, eq=False)
class ChurnModel:
    """A fitted BG/NBD, MBG/NBD or Pareto/NBD model, from :func:`fit_churn_model`.

    Attributes
    ----------
    model : {"bgnbd", "mbgnbd", "pnbd"}
        Which model was fitted.
    params : dict
        ``r, alpha, a, b`` (BG/NBD, MBG/NBD) or ``r, alpha, s, beta`` (Pareto/NBD).
        ``alpha`` and ``beta`` are in the unit of ``time_unit``.
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
    choice_reason : str
        With ``fit_churn_model(orders, model="auto")``: which family the backtest chose
        and why (empty otherwise).
    log_covariance : numpy.ndarray or None
        Covariance of the log parameters (order of ``params``), from the Hessian; None
        when fitted with ``standard_errors=False``. Behind the intervals of
        :func:`~crm_analytics.churn_scores` (``interval=``).
    n_repeat_customers : int or None
        Customers with at least one repeat purchase in the fitted data.
    warnings : tuple of str
        Plain sentences on what the fit cannot support (:func:`fit_warnings`: a
        parameter at a bound or with a standard error above its value, fewer than
        :data:`MIN_REPEAT_CUSTOMERS` repeat customers, a fit that needed retries),
        plus any added later with :meth:`with_warnings` (e.g. by a backtest). Empty
        when nothing is wrong.
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
    log_covariance: np.ndarray | None = None
    n_repeat_customers: int | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    choice_reason: str = ""

    @property
    def unit_days(self) -> float:
        """Days per model time unit."""
        return TIME_UNIT_DAYS[self.time_unit]

    @property
    def retried(self) -> bool:
        """Whether the first fit attempt failed and a retry was needed."""
        return bool(self.fit_notes)

    @property
    def dropout_identified(self) -> bool:
        """False when a warning says the dropout process is not identified by the data."""
        return not any("not identified" in w for w in self.warnings)

    def with_warnings(self, *sentences: str) -> ChurnModel:
        """A copy of this model with ``sentences`` added to :attr:`warnings`.

        For checks made outside the fit, e.g. a backtest's "the holdout error is above
        30%". Sentences already present are not repeated.

        >>> m = ChurnModel("bgnbd", {"r": 0.2, "alpha": 4.0, "a": 0.8, "b": 2.4}, {}, 0.0,
        ...                10, 5, "W", None, 0.0, 0.0, 39.0)
        >>> m.with_warnings("The holdout error is 45%.").warnings
        ('The holdout error is 45%.',)
        """
        new = tuple(w for w in dict.fromkeys(sentences) if w not in self.warnings)
        return replace(self, warnings=self.warnings + new)

    def with_params(self, params) -> ChurnModel:
        """A copy with other parameter values (same family, unit and data summary)."""
        values = dict(zip(PARAMETERS[self.model], (float(v) for v in params), strict=True))
        return replace(self, params=values)

    def with_param_draws(self, draws: np.ndarray) -> ChurnModel:
        """A copy whose parameters are columns ``(n_draws, 1)`` of ``draws``.

        Every formula of the model broadcasts over them: ``p_alive(x, t_x, T)`` of such a
        model is an ``(n_draws, len(x))`` array, one row per draw.
        """
        draws = np.asarray(draws, dtype=float)
        return replace(self, params={k: draws[:, i:i + 1]
                                     for i, k in enumerate(PARAMETERS[self.model])})

    def sample_params(self, n_draws: int, random_state=None) -> np.ndarray:
        """Parameter draws from the fit's approximate distribution: ``(n_draws, 4)``.

        The log parameters are drawn from a normal with mean the estimate and covariance
        :attr:`log_covariance` (the large-sample distribution of the maximum-likelihood
        estimate, on the log scale so every draw is positive).

        Raises
        ------
        CrmDataError
            The model was fitted with ``standard_errors=False`` (no covariance), or the
            covariance is not positive definite (a flat likelihood).
        """
        if self.log_covariance is None or not np.all(np.isfinite(self.log_covariance)):
            raise CrmDataError(
                "Intervals need the parameters' covariance, which this model does not have: "
                "fit it with standard_errors=True (the default).")
        cov = (self.log_covariance + self.log_covariance.T) / 2
        if np.linalg.eigvalsh(cov).min() <= 0:
            raise CrmDataError(
                "The parameters' covariance is not positive definite (the likelihood is flat "
                "in some direction; see churn_model.warnings), so intervals from parameter "
                "uncertainty cannot be computed for this fit.")
        rng = np.random.default_rng(random_state)
        mean = np.log([self.params[k] for k in PARAMETERS[self.model]])
        return np.exp(rng.multivariate_normal(mean, cov, size=int(n_draws), method="cholesky"))

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

    # ------------------------------------------------------------------ P(alive)

    def _log_odds_dead(self, frequency, recency, T) -> np.ndarray:
        x = np.asarray(frequency, dtype=float)
        T = np.asarray(T, dtype=float)
        tx = np.asarray(recency, dtype=float)
        if self.model == "pnbd":
            r, alpha, s, beta = (self.params[k] for k in PARAMETERS["pnbd"])
            # 1 / P(alive) - 1 = s / (r + s + x) (alpha + T)^(r + x) (beta + T)^s A0,
            # A0 = F(t_x) - F(T) (Fader & Hardie's Pareto/NBD derivations, eqs. 19-20)
            m1 = r + s + x
            e_min = np.where(alpha < beta, r + x, s + 1.0)
            lf1 = log_power_tail(m1, e_min, alpha, beta, tx)
            lf2 = log_power_tail(m1, e_min, alpha, beta, T)
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a0 = lf1 + np.log1p(-np.exp(np.minimum(lf2 - lf1, 0.0)))
                return (np.log(s) - np.log(m1) + (r + x) * np.log(alpha + T)
                        + s * np.log(beta + T) + log_a0)
        r, alpha, a, b = (self.params[k] for k in ("r", "alpha", "a", "b"))
        with np.errstate(divide="ignore"):
            ratio = (r + x) * (_log_shifted(alpha, T) - _log_shifted(alpha, tx))
        if self.model == "bgnbd":
            return np.log(a) - np.log(b + np.maximum(x, 1) - 1) + ratio
        return np.log(a) - np.log(b + x) + ratio

    def p_alive(self, frequency, recency, T) -> np.ndarray:
        """P(alive) at the end of observation, given the history (model time units).

        BG/NBD gives exactly 1 to customers with ``frequency == 0`` (Fader, Hardie &
        Lee 2005, note 021); MBG/NBD and Pareto/NBD do not.
        """
        p = expit(-self._log_odds_dead(frequency, recency, T))
        if self.model == "bgnbd":
            p = np.where(np.asarray(frequency) == 0, 1.0, p)
        return np.asarray(p, dtype=float)

    def p_alive_at(self, t, frequency, recency, T) -> np.ndarray:
        """P(alive) ``t`` time units after the end of observation, if no order comes.

        The history then is ``(frequency, recency, T + t)``: the same formula as
        :meth:`p_alive` at the later age.
        """
        T = np.asarray(T, dtype=float) + np.asarray(t, dtype=float)
        return self.p_alive(frequency, recency, T)

    # ------------------------------------------------------------------ orders ahead

    def p_no_order_if_alive(self, t, frequency, T) -> np.ndarray:
        """P(no order in the next ``t`` | alive now): a function of ``(frequency, T)``.

        Given alive at ``T``, the purchase rate is ``lambda ~ Gamma(r + x, alpha + T)``
        (the posterior; x purchases in T). BG/NBD and MBG/NBD customers cannot drop out
        between purchases, so no order means no Poisson event:
        ``E[exp(-lambda t)] = ((alpha + T) / (alpha + T + t)) ** (r + x)``. A Pareto/NBD
        customer may die first: with ``mu ~ Gamma(s, beta + T)`` independent of
        ``lambda``, ``P(an order) = integral over u in (0, t) of E[lambda e^(-lambda u)]
        E[e^(-mu u)] du = (r + x) (alpha + T)^(r + x) (beta + T)^s integral from T to T +
        t of (alpha + v)^-(r + x + 1) (beta + v)^-s dv``, a hypergeometric closed form
        (:func:`~crm_analytics.fitting.likelihoods.log_power_tail`).
        """
        x = np.asarray(frequency, dtype=float)
        T = np.asarray(T, dtype=float)
        t = np.asarray(t, dtype=float)
        r, alpha = self.params["r"], self.params["alpha"]
        log_quiet = (r + x) * (np.log(alpha + T) - np.log(alpha + T + t))
        if self.model != "pnbd":
            return np.exp(log_quiet)
        s, beta = self.params["s"], self.params["beta"]
        m1 = r + x + s
        e_min = np.where(alpha >= beta, s, r + x + 1.0)
        lf1 = log_power_tail(m1, e_min, alpha, beta, T)
        lf2 = log_power_tail(m1, e_min, alpha, beta, T + t)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_order = (np.log(r + x) - np.log(m1) + (r + x) * np.log(alpha + T)
                         + s * np.log(beta + T) + lf1
                         + np.log1p(-np.exp(np.minimum(lf2 - lf1, 0.0))))
        return np.where(t > 0, -np.expm1(np.minimum(log_order, 0.0)), 1.0)

    def p_no_order(self, t, frequency, recency, T) -> np.ndarray:
        """P(no order in the next ``t`` time units | history): the churn probability.

        ``(1 - P(alive)) + P(alive) * P(no order | alive)``; see
        :meth:`p_no_order_if_alive`. For BG/NBD and MBG/NBD this is
        ``1 - P(alive) + P(alive) ((alpha + T) / (alpha + T + t)) ** (r + x)``.
        """
        alive = self.p_alive(frequency, recency, T)
        return 1.0 - alive * (1.0 - self.p_no_order_if_alive(t, frequency, T))

    def p_order_count_if_alive(self, n: int, t, frequency, T) -> np.ndarray:
        """P(exactly ``n`` orders in the next ``t`` | alive now), per ``(frequency, T)``.

        BG/NBD and MBG/NBD (the conditional PMF of Fader, Hardie & Lee's note "Deriving
        the conditional PMF of the BG/NBD model", in this form): given alive, ``lambda ~
        Gamma(r + x, alpha + T)`` and the dropout probability ``p ~ Beta(a, b + x)``
        (MBG/NBD: ``Beta(a, b + x + 1)``, the first purchase counts too). With ``K`` the
        Poisson count in the window (negative binomial after mixing), the customer makes
        ``n >= 1`` orders if ``K = n`` and she survived the first ``n - 1`` of them, or
        ``K > n`` and she dropped out right after the ``n``-th:
        ``P(K = n) E[(1 - p)^(n - 1)] + P(K > n) E[p (1 - p)^(n - 1)]``, and 0 orders
        if ``K = 0``. Pareto/NBD: with lifetime ``tau ~ Exp(mu)``, ``mu ~ Gamma(s, beta +
        T)``, ``n`` orders means ``n`` Poisson events in ``min(tau, t)``:
        ``P(K_t = n) E[e^(-mu t)] + integral over (0, t) of P(K_u = n) E[mu e^(-mu u)] du``,
        integrated numerically (Gauss-Legendre in ``log(1 + u / c)``).
        """
        n = int(n)
        if n < 0:
            raise CrmDataError(f"The 'n' parameter must be a whole number >= 0. Got {n}.")
        x = np.asarray(frequency, dtype=float)
        T = np.asarray(T, dtype=float)
        t = np.asarray(t, dtype=float)
        r, alpha = self.params["r"], self.params["alpha"]
        if self.model != "pnbd" and n == 0:
            return self.p_no_order_if_alive(t, x, T)
        if self.model != "pnbd":
            a, b = self.params["a"], self.params["b"]
            b_post = b + x + (1.0 if self.model == "mbgnbd" else 0.0)
            log_theta = np.log(alpha + T) - np.log(alpha + T + t)
            log_1m = np.log(t) - np.log(alpha + T + t)
            p_eq = np.exp(_nbd_log_pmf(n, r + x, log_theta, log_1m))
            p_gt = betainc(n + 1.0, r + x, np.exp(log_1m))  # P(K > n)
            base = betaln(a, b_post)
            survive = np.exp(betaln(a, b_post + n - 1) - base)
            drop = np.exp(betaln(a + 1, b_post + n - 1) - base)
            return p_eq * survive + p_gt * drop
        s, beta = self.params["s"], self.params["beta"]
        x, T, t = np.broadcast_arrays(x, T, t)
        c = np.minimum(alpha, beta) + T
        nodes, weights = np.polynomial.legendre.leggauss(_QUAD_NODES)
        top = np.log1p(t / c)  # v = log(1 + u / c) runs over (0, top)
        nodes = nodes.reshape((-1,) + (1,) * top.ndim)
        weights = weights.reshape(nodes.shape)
        v = (nodes + 1.0) / 2.0 * top
        u = c * np.expm1(v)
        ax, bx = alpha + T, beta + T

        def log_nbd(u):
            return _nbd_log_pmf(n, r + x, np.log(ax) - np.log(ax + u),
                                np.log(u) - np.log(ax + u))

        with np.errstate(divide="ignore", invalid="ignore"):
            at_end = np.exp(log_nbd(t) + s * (np.log(bx) - np.log(bx + t)))
            dens = (log_nbd(u) + np.log(s) - np.log(bx + u) + s * (np.log(bx) - np.log(bx + u))
                    + np.log(c + u))  # du = (c + u) dv
            inside = (weights * np.exp(dens)).sum(axis=0) * top / 2.0
        if n == 0:
            at_end = np.where(t > 0, at_end, 1.0)
        return np.nan_to_num(at_end) + np.nan_to_num(inside)

    def p_order_count(self, n: int, t, frequency, recency, T) -> np.ndarray:
        """P(exactly ``n`` orders in the next ``t`` time units | history).

        ``n = 0`` gives :meth:`p_no_order`; see :meth:`p_order_count_if_alive`.
        """
        if int(n) == 0:
            return self.p_no_order(t, frequency, recency, T)
        return self.p_alive(frequency, recency, T) * self.p_order_count_if_alive(
            n, t, frequency, T)

    def expected_orders(self, t, frequency, recency, T) -> np.ndarray:
        """Expected repeat purchase occasions in the next ``t`` time units.

        BG/NBD: Fader, Hardie & Lee (2005) eq. 10; Pareto/NBD: Schmittlein et al.
        (1987), P(alive) times ``(r + x)(beta + T) / ((alpha + T)(s - 1)) [1 - ((beta +
        T) / (beta + T + t)) ** (s - 1)]``.

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

        The costly part (a hypergeometric function for BG/NBD); the scoring functions
        evaluate it once per distinct ``(frequency, T)`` pair (:func:`frequency_age_pairs`).
        """
        x = np.asarray(frequency, dtype=float)
        T = np.asarray(T, dtype=float)
        t = np.asarray(t, dtype=float)
        if self.model == "pnbd":
            r, alpha, s, beta = (self.params[k] for k in PARAMETERS["pnbd"])
            return (r + x) / (alpha + T) * (beta + T) * _shrink_ratio(s - 1.0, t / (beta + T))
        r, alpha, a, b = (self.params[k] for k in ("r", "alpha", "a", "b"))
        z = t / (alpha + T + t)
        decay = (r + x) * (np.log(alpha + T) - np.log(alpha + T + t))
        if self.model == "bgnbd":
            lead = (a + b + x - 1) / (a - 1)
            return lead * _one_minus_scaled_hyp2f1(r + x, b + x, a + b + x - 1, z, decay)
        lead = (a + b + x) / (a - 1)
        return lead * _one_minus_scaled_hyp2f1(r + x, b + x + 1, a + b + x, z, decay)

    def expected_orders_new_customer(self, t) -> np.ndarray:
        """Expected repeat purchase occasions within ``t`` units of a first purchase (eq. 9)."""
        t = np.asarray(t, dtype=float)
        if self.model == "pnbd":
            r, alpha, s, beta = (self.params[k] for k in PARAMETERS["pnbd"])
            return r * beta / alpha * _shrink_ratio(s - 1.0, t / beta)
        r, alpha, a, b = (self.params[k] for k in ("r", "alpha", "a", "b"))
        z = t / (alpha + t)
        decay = r * (np.log(alpha) - np.log(alpha + t))
        if self.model == "bgnbd":
            return (a + b - 1) / (a - 1) * _one_minus_scaled_hyp2f1(r, b, a + b - 1, z, decay)
        return b / (a - 1) * _one_minus_scaled_hyp2f1(r, b + 1, a + b, z, decay)

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
        fit = _lifetimes.fit_pareto_nbd if model == "pnbd" else partial(
            _lifetimes.fit_beta_geo, model=model)
        return fit(fx, frec, fT, w, penalizer=penalizer, tol=tol,
                   standard_errors=standard_errors, backend=backend)

    if model not in MODELS:
        raise CrmDataError(
            f"The 'model' parameter must be one of {list(MODELS)}. Got {model!r} instead."
        )
    n = int(np.sum(w))
    try:
        out, used, notes = _lifetimes.fit_with_retries(attempt, penalizer=penalizer, tol=tol)
    except _lifetimes.FitFailed as exc:
        other = "model='mbgnbd'" if model != "mbgnbd" else "model='bgnbd'"
        raise CrmDataError(
            f"The {MODELS[model]} fit on {n} customers did not converge. {exc}\n"
            f"Check the summary (e.g. {hint}), try {other}, or pass a penalizer "
            "such as 0.01."
        ) from exc
    n_repeat = int(np.sum(np.asarray(w)[np.asarray(fx) > 0]))
    fitted = ChurnModel(
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
        log_covariance=out.log_covariance,
        n_repeat_customers=n_repeat,
    )
    return replace(fitted, warnings=fit_warnings(fitted))


def fit_warnings(model: ChurnModel) -> tuple[str, ...]:
    """Plain-language warnings about what a fitted model cannot support.

    - a parameter at a bound (a shape parameter ``r, a, b, s`` outside
      :data:`SHAPE_RANGE`, or ``alpha`` / ``beta`` above :data:`SCALE_LIMIT` times the
      longest customer age) or with a standard error larger than itself: that part of
      the model is not identified by the data;
    - fewer than :data:`MIN_REPEAT_CUSTOMERS` repeat customers;
    - a fit that did not converge at the first attempt (retried with a looser tolerance
      or a penalizer).

    >>> m = ChurnModel("mbgnbd", {"r": 0.5, "alpha": 20.0, "a": 0.002, "b": 11.9},
    ...                {"r": 0.05, "alpha": 2.0, "a": 0.01, "b": 66.0}, -100.0, 4338, 900,
    ...                "D", None, 0.0, 0.0, 373.0, n_repeat_customers=2845)
    >>> for sentence in fit_warnings(m):
    ...     print(sentence[:72])
    The dropout parameters are not identified: a = 0.002 has a standard erro
    """
    out = []
    unit = {"D": "days", "W": "weeks"}.get(model.time_unit, model.time_unit)
    dropout = {"bgnbd": ("a", "b"), "mbgnbd": ("a", "b"), "pnbd": ("s", "beta")}[model.model]
    problems: dict[str, list[str]] = {"dropout": [], "purchase": []}
    for name, value in model.params.items():
        se = model.standard_errors.get(name, float("nan"))
        reasons = []
        if name in ("alpha", "beta"):
            if value > SCALE_LIMIT * max(model.T_max, 1e-12):
                reasons.append(f"{name} = {value:.4g} {unit} is at the edge of its range "
                               f"(over {SCALE_LIMIT:g} times the longest customer age)")
        elif not SHAPE_RANGE[0] <= value <= SHAPE_RANGE[1]:
            reasons.append(f"{name} = {value:.3g} is at the edge of its range")
        if np.isfinite(se) and se > value:
            reasons.append(f"{name} = {value:.3g} has a standard error of {se:.3g}, larger "
                           "than the estimate")
        elif not np.isfinite(se) and model.log_covariance is not None:
            reasons.append(f"{name} = {value:.3g} has no standard error (the likelihood is "
                           "flat or curved the wrong way there)")
        problems["dropout" if name in dropout else "purchase"] += reasons
    if problems["dropout"]:
        out.append(
            "The dropout parameters are not identified: " + "; ".join(problems["dropout"])
            + ". The data do not show when customers stop buying, so P(alive) and any "
            "time-to-churn statement from this model are not reliable; rank customers by "
            "P(no order) or by days since the last order instead.")
    if problems["purchase"]:
        out.append(
            "The purchase-rate parameters are not identified: "
            + "; ".join(problems["purchase"]) + ". Expected orders per customer are not "
            "reliable.")
    if model.n_repeat_customers is not None and model.n_repeat_customers < MIN_REPEAT_CUSTOMERS:
        out.append(
            f"Only {model.n_repeat_customers} customers have a repeat purchase (fewer than "
            f"{MIN_REPEAT_CUSTOMERS}): too few to estimate how often customers reorder and "
            "when they stop; treat every score as a rough guess.")
    if model.fit_notes:
        raised = model.penalizer != model.requested_penalizer
        out.append(
            "The fit did not converge at the first attempt; it converged only with "
            + ("a penalizer that shrinks the parameters" if raised
               else "a looser tolerance") + ", so the parameters may be off the best fit "
            "(see fit_notes).")
    return tuple(out)
