"""BG/NBD, MBG/NBD and Gamma-Gamma negative log-likelihoods with analytic gradients.

The same functions lifetimes minimises (``_negative_log_likelihood`` of its
``BetaGeoFitter``, ``ModifiedBetaGeoFitter`` and ``GammaGammaFitter``), in exactly its
parametrisation, so that ``scipy.optimize.minimize`` finds the same optimum:

- the argument is the vector of **log** parameters (``log r, log alpha, log a, log b`` or
  ``log p, log q, log v``);
- recency and ``T`` are given on lifetimes' rescaled time axis (multiplied by
  ``1 / max(T)``; see :func:`time_scale`), so ``alpha`` is on that axis too;
- the value is the **mean** negative log-likelihood over the weights plus
  ``penalizer * sum(params ** 2)``.

What makes an evaluation cheap is the sufficient statistics, built once per data set:
everything that depends on the integer frequency alone (``gammaln``/``digamma`` of ``r +
x``, ``b + x``, ``a + b + x``, ``p x + q`` ...) is evaluated once per distinct frequency
and weighted by its total weight; ``log(alpha + T)`` and ``log(alpha + t_x)`` once per
distinct ``T`` and ``t_x`` (and the ``A3`` term of every customer summed per distinct
``T``); for Gamma-Gamma ``log(x m)`` per row and ``sum w log m`` once per fit. Per row and
evaluation only the log-sum-exp of the two BG/NBD terms (or ``log(x m + v)`` for
Gamma-Gamma) and its derivative remain, summed pairwise like lifetimes' ``.sum()``, so
the objective is as smooth as lifetimes' and BFGS stops at the same point.

The values equal lifetimes' to ~1e-15 (relative) and stay finite where lifetimes' BG/NBD
overflows (customers without repeat purchases whose second term dwarfs the first).

References: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way",
Marketing Science 24(2), eq. 6 (BG/NBD); Batislam, Denizel & Filiztekin (2007), IJRM 24(3)
with the erratum of Wagner & Hoppe (2008) (MBG/NBD); Fader & Hardie (2013), "The
Gamma-Gamma Model of Monetary Value", eq. 1a.

This module does not import lifetimes; the tests check it against lifetimes' own
functions and fits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln, hyp2f1, logsumexp

__all__ = [
    "BetaGeoLikelihood",
    "GammaGammaLikelihood",
    "ParetoNBDLikelihood",
    "log_power_tail",
    "time_scale",
    "value_hessian",
    "central_hessian",
]

_MODELS = ("bgnbd", "mbgnbd")


def time_scale(T: np.ndarray) -> float:
    """lifetimes' ``_scale_time``: the factor that makes the longest ``T`` equal to 1."""
    return 1.0 / np.asarray(T).max()


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of ``a * b`` over long vectors: pairwise summation, no BLAS.

    Pairwise summation (what ``np.sum`` does) keeps rounding noise in the objective as
    low as in lifetimes' own ``(weights * terms).sum()``, so BFGS stops where lifetimes'
    does. And BLAS ``ddot`` is multi-threaded: on a busy machine each call waits for its
    second thread, which made whole fits 3-4x slower on two shared cores.
    """
    return np.sum(a * b)


def _index(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and, per row, the position of its value among them."""
    inverse, uniques = pd.factorize(values)  # hashing: faster than np.unique's sort
    return np.asarray(uniques, dtype=float), inverse.astype(np.intp, copy=False)


def central_hessian(grad, x: np.ndarray, *, step: float = 1e-5) -> np.ndarray:
    """Hessian by central differences of an analytic gradient (``2 k`` gradient calls).

    The step is relative, ``step * max(1, |x_i|)``; the result is symmetrised.
    """
    x = np.asarray(x, dtype=float)
    k = len(x)
    hess = np.empty((k, k))
    for i in range(k):
        h = step * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        hess[i] = (grad(up) - grad(down)) / (2 * h)
    return (hess + hess.T) / 2


class _Likelihood:
    """The public methods of a likelihood; subclasses define ``_evaluate``."""

    def _evaluate(self, log_params: np.ndarray, penalizer: float, grad: bool):
        raise NotImplementedError

    def value(self, log_params: np.ndarray, penalizer: float = 0.0) -> float:
        """Mean negative log-likelihood plus penalty at ``log_params``."""
        return float(self._evaluate(log_params, penalizer, False)[0])

    def value_and_grad(
        self, log_params: np.ndarray, penalizer: float = 0.0
    ) -> tuple[float, np.ndarray]:
        """Value and gradient with respect to the log parameters (for ``jac=True``)."""
        value, gradient = self._evaluate(log_params, penalizer, True)
        return float(value), gradient

    def grad(self, log_params: np.ndarray, penalizer: float = 0.0) -> np.ndarray:
        """Gradient with respect to the log parameters."""
        return self._evaluate(log_params, penalizer, True)[1]

    def hessian(self, log_params: np.ndarray, penalizer: float = 0.0) -> np.ndarray:
        """Hessian in the log parameters (central differences of :meth:`grad`)."""
        return central_hessian(lambda z: self.grad(z, penalizer), log_params)


class BetaGeoLikelihood(_Likelihood):
    """lifetimes' BG/NBD (or MBG/NBD) ``_negative_log_likelihood`` on fixed data.

    Parameters
    ----------
    frequency, recency, T, weights : array
        As passed to lifetimes' ``_negative_log_likelihood`` (``recency`` and ``T``
        already rescaled, see :func:`time_scale`; ``frequency`` whole numbers). Rows may
        repeat; ``weights`` counts the customers of each row.
    model : {"bgnbd", "mbgnbd"}

    Examples
    --------
    >>> import numpy as np
    >>> lik = BetaGeoLikelihood([0, 2, 1], [0.0, 0.8, 0.3], [1.0, 0.9, 0.5], [3, 1, 2])
    >>> value, grad = lik.value_and_grad(np.log([0.5, 0.2, 0.8, 2.0]))
    >>> round(value, 6), grad.shape
    (0.980263, (4,))
    """

    n_params = 4

    def __init__(self, frequency, recency, T, weights, *, model: str = "bgnbd") -> None:
        if model not in _MODELS:
            raise ValueError(f"model must be one of {_MODELS}, got {model!r}")
        self.model = model
        x = np.asarray(frequency, dtype=float)
        w = np.asarray(weights, dtype=float)
        self.total_weight = float(w.sum())
        self.weighted_frequency = float(_dot(w, x))  # sum w x: shifts the LL when time is rescaled
        # per distinct frequency: total weight (terms A1, A2)
        self.ux, ix = _index(x)
        self.wx = np.bincount(ix, weights=w, minlength=len(self.ux))
        # per distinct T and recency
        self.uT, iT = _index(np.asarray(T, dtype=float))
        self.utx, itx = _index(np.asarray(recency, dtype=float))
        self.wT = np.bincount(iT, weights=w, minlength=len(self.uT))
        self.wxT = np.bincount(iT, weights=w * x, minlength=len(self.uT))  # sum w x per T
        if model == "bgnbd":
            # customers without repeat purchases contribute A3 only, a function of T
            rows = x > 0
        else:
            rows = np.ones(len(x), dtype=bool)
        self._ix, self._iT, self._itx = ix[rows], iT[rows], itx[rows]
        self._w = w[rows]

    # ------------------------------------------------------------------ evaluation

    def _per_x(self, r: float, a: float, b: float, grad: bool):
        """Sum over customers of A1 + A2 (functions of frequency only) and its gradient."""
        ux, wx = self.ux, self.wx
        shift = 0.0 if self.model == "bgnbd" else 1.0
        value = wx @ (gammaln(r + ux) + gammaln(b + ux + shift) - gammaln(a + b + ux + shift))
        value += self.total_weight * (gammaln(a + b) - gammaln(r) - gammaln(b))
        if not grad:
            return value, None
        d_r = wx @ digamma(r + ux) - self.total_weight * digamma(r)
        dab = digamma(a + b + ux + shift)
        d_a = self.total_weight * digamma(a + b) - wx @ dab
        d_b = wx @ (digamma(b + ux + shift) - dab) + self.total_weight * (
            digamma(a + b) - digamma(b))
        return value, np.array([d_r, 0.0, d_a, d_b])

    def _evaluate(self, log_params: np.ndarray, penalizer: float, grad: bool):
        params = np.exp(np.asarray(log_params, dtype=float))
        r, alpha, a, b = params
        W = self.total_weight
        ll, g = self._per_x(r, a, b, grad)
        ll += W * r * np.log(alpha)
        # A3 = -(r + x) log(alpha + T), summed without a pass over rows
        log_T = np.log(alpha + self.uT)
        log_tx = np.log(alpha + self.utx)
        ll -= r * (self.wT @ log_T) + self.wxT @ log_T
        ux, ix, iT, itx, w = self.ux, self._ix, self._iT, self._itx, self._w
        if self.model == "bgnbd":
            # log(exp(A3) + exp(A4)) = A3 + log1p(exp(A4 - A3)) for the repeat customers
            c_x = np.log(a) - np.log(b + np.maximum(ux, 1) - 1)
        else:
            # MBG/NBD: A4 = log a - log(b + x) + (r + x)(log(alpha + T) - log(alpha + t_x))
            c_x = np.log(a) - np.log(b + ux)
        rx = (r + ux)[ix]
        log_ratio = log_T[iT] - log_tx[itx]
        d = c_x[ix] + rx * log_ratio
        # log(1 + exp(d)) = max(d, 0) + log(1 + exp(-|d|)), as stable as lifetimes'
        # max-shifted log-sum-exp (np.logaddexp / np.log1p are many times slower)
        ll += _dot(w, np.maximum(d, 0.0) + np.log(1.0 + np.exp(-np.abs(d))))
        value = -ll / W + penalizer * np.sum(params**2)
        if not grad:
            return value, None
        inv_T = 1.0 / (alpha + self.uT)
        inv_tx = 1.0 / (alpha + self.utx)
        with np.errstate(over="ignore"):  # exp(-d) = inf gives the right limit 0
            ws = w / (1.0 + np.exp(-d))  # the weight of the second term, per row
        g[0] += W * np.log(alpha) - self.wT @ log_T + _dot(ws, log_ratio)
        g[1] = W * r / alpha - (r * (self.wT @ inv_T) + self.wxT @ inv_T) \
            + _dot(ws, rx * (inv_T[iT] - inv_tx[itx]))
        sum_ws_x = np.bincount(ix, weights=ws, minlength=len(ux))
        g[2] += sum_ws_x.sum() / a
        if self.model == "bgnbd":
            g[3] -= sum_ws_x @ (1.0 / (b + np.maximum(ux, 1) - 1))
        else:
            g[3] -= sum_ws_x @ (1.0 / (b + ux))
        # d/d log(theta) = theta * d/d theta; the mean; the penalty
        gradient = -g * params / W + 2.0 * penalizer * params**2
        return value, gradient

class GammaGammaLikelihood(_Likelihood):
    """lifetimes' Gamma-Gamma ``_negative_log_likelihood`` on fixed data.

    Parameters
    ----------
    frequency, monetary_value, weights : array
        Repeat customers (``frequency > 0``, ``monetary_value > 0``) and their counts.

    Examples
    --------
    >>> import numpy as np
    >>> lik = GammaGammaLikelihood([1, 3, 2], [20.0, 35.5, 12.0], [4, 1, 2])
    >>> round(lik.value(np.log([2.0, 3.0, 15.0])), 6)
    4.085405
    """

    n_params = 3

    def __init__(self, frequency, monetary_value, weights) -> None:
        x = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        w = np.asarray(weights, dtype=float)
        self.total_weight = float(w.sum())
        self.ux, ix = _index(x)
        self.wx = np.bincount(ix, weights=w, minlength=len(self.ux))
        self.s_log_m = float(_dot(w, np.log(m)))  # the "- log m" of every row
        self._xm = x * m
        self._log_xm = np.log(self._xm)
        self._w = w
        self._wx = w * x

    def _evaluate(self, log_params: np.ndarray, penalizer: float, grad: bool):
        params = np.exp(np.asarray(log_params, dtype=float))
        p, q, v = params
        ux, wx, W = self.ux, self.wx, self.total_weight
        px = p * ux
        # per row: (p x - 1) log m + p x log x + q log v - (p x + q) log(x m + v)
        #        = p x (log(x m) - log(x m + v)) + q (log v - log(x m + v)) - log m;
        # summed as small per-row differences, which keeps the value as smooth as
        # lifetimes' (big separate sums that cancel made BFGS stop on rounding noise)
        xm_v = self._xm + v
        log_xm_v = np.log(xm_v)
        to_xm = self._log_xm - log_xm_v
        to_v = np.log(v) - log_xm_v
        s_to_xm = _dot(self._wx, to_xm)
        s_to_v = _dot(self._w, to_v)
        ll = wx @ (gammaln(px + q) - gammaln(px) - gammaln(q))
        ll += p * s_to_xm + q * s_to_v - self.s_log_m
        value = -ll / W + penalizer * np.sum(params**2)
        if not grad:
            return value, None
        inv = 1.0 / xm_v
        dg_pxq = digamma(px + q)
        d_p = wx @ (ux * (dg_pxq - digamma(px))) + s_to_xm
        d_q = wx @ (dg_pxq - digamma(q)) + s_to_v
        d_v = q * _dot(self._w, 1.0 / v - inv) - p * _dot(self._wx, inv)
        gradient = -np.array([d_p, d_q, d_v]) * params / W + 2.0 * penalizer * params**2
        return value, gradient


def log_power_tail(m1, e_min, alpha, beta, v):
    """``log F(v)`` with ``F(v) = 2F1(m1, e_min; m1 + 1; |alpha - beta| / (M + v)) / (M +
    v) ** m1``, ``M = max(alpha, beta)``.

    ``F(lo) - F(hi) = m1 * integral from lo to hi of (alpha + u) ** -p (beta + u) ** -q du``
    with ``m1 = p + q - 1`` and ``e_min`` the exponent (``p`` or ``q``) of the factor
    with the smaller of ``alpha`` and ``beta`` (write that factor as the other one times
    ``1 - z`` and integrate the binomial series term by term). The Pareto/NBD
    likelihood's ``A0`` and its P(no order) are such integrals.
    """
    q = np.maximum(alpha, beta) + np.asarray(v, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(hyp2f1(m1, e_min, m1 + 1.0, np.abs(alpha - beta) / q)) - m1 * np.log(q)


def _pairs(x: np.ndarray, code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, its distinct ``(x, code)`` pair; per pair, its first row."""
    key = x.astype(np.int64) * (int(code.max()) + 1) + code
    inverse, uniques = pd.factorize(key)
    first = np.empty(len(uniques), dtype=np.intp)
    first[inverse[::-1]] = np.arange(len(key))[::-1]
    return inverse.astype(np.intp, copy=False), first


class ParetoNBDLikelihood(_Likelihood):
    """lifetimes' Pareto/NBD ``_negative_log_likelihood`` on fixed data (no gradient).

    lifetimes' ``ParetoNBDFitter`` minimises ``-sum(w * ll) / mean(w) + penalizer *
    sum(params ** 2)`` over the **raw** parameters ``r, alpha, s, beta`` (time rescaled by
    :func:`time_scale`) with Nelder-Mead; :meth:`objective` is that function. The
    per-customer log-likelihood is Fader & Hardie's note "Deriving an expression for
    P(X(t) = x) under the Pareto/NBD model" eq. (18) with ``A0`` of eqs. (19)-(20):

    ``ll = log Gamma(r + x) - log Gamma(r) + r log alpha + s log beta
    + log[(alpha + T) ** -(r + x) (beta + T) ** -s + s / (r + s + x) A0]``,
    ``A0 = F(t_x) - F(T)`` with ``F`` a hypergeometric function of ``(x, v)``.

    The costly ``2F1`` is evaluated once per distinct ``(x, t_x)`` and ``(x, T)`` pair,
    not per row; :meth:`value` is the mean negative log-likelihood over customers in log
    parameters (for the Hessian behind the standard errors).

    Examples
    --------
    >>> lik = ParetoNBDLikelihood([0, 2, 1], [0.0, 0.8, 0.3], [1.0, 0.9, 0.5], [3, 1, 2])
    >>> round(lik.objective(np.array([0.5, 0.2, 0.8, 2.0])), 6)
    3.00491
    """

    n_params = 4

    def __init__(self, frequency, recency, T, weights) -> None:
        x = np.asarray(frequency, dtype=float)
        tx = np.asarray(recency, dtype=float)
        T = np.asarray(T, dtype=float)
        w = np.asarray(weights, dtype=float)
        self.total_weight = float(w.sum())
        self.mean_weight = float(w.mean())
        self._w = w
        self.ux, ix = _index(x)
        self.wx = np.bincount(ix, weights=w, minlength=len(self.ux))
        self.uT, iT = _index(T)
        # distinct (x, t_x) and (x, T) pairs: the hypergeometric terms are functions of these
        self._i_xtx, first_tx = _pairs(x, pd.factorize(tx)[0])
        self._i_xT, first_T = _pairs(x, iT)
        self._p_tx_x, self._p_tx_v = x[first_tx], tx[first_tx]
        self._p_T_x, self._p_T_v = x[first_T], T[first_T]
        self._x, self._ix, self._iT, self._tx = x, ix, iT, tx
        self._utx, self._itx = _index(tx)
        self._ones = np.ones(len(x))

    def log_likelihood_rows(self, params: np.ndarray) -> np.ndarray:
        """Each row's log-likelihood at raw ``params = (r, alpha, s, beta)``.

        The arithmetic is lifetimes' own, operation for operation (only the
        hypergeometric values and the logs of ``alpha + T`` etc. are computed once per
        distinct argument and gathered, which gives the same numbers), so the objective
        is bitwise lifetimes' and Nelder-Mead follows the same path.
        """
        r, alpha, s, beta = (float(p) for p in params)
        x = self._x
        if alpha < beta:
            small, big = alpha, beta
            t_tx, t_T = r + self._p_tx_x, r + self._p_T_x
        else:
            small, big = beta, alpha
            t_tx = t_T = s + 1
        gap = big - small
        with np.errstate(divide="ignore", invalid="ignore"):
            # per distinct (x, t_x) and (x, T): lifetimes' p_1 and p_2 (log), and log q
            rsf_tx, rsf_T = r + s + self._p_tx_x, r + s + self._p_T_x
            log_p1 = np.log(hyp2f1(rsf_tx, t_tx, rsf_tx + 1.0, gap / (big + self._p_tx_v)))
            log_p2 = np.log(hyp2f1(rsf_T, t_T, rsf_T + 1.0, gap / (big + self._p_T_v)))
            q_1 = big + self._tx
            q_2 = (big + self.uT)[self._iT]
            rsf = r + s + x
            log_a0 = logsumexp(
                [log_p1[self._i_xtx] + rsf * np.log(big + self.uT)[self._iT],
                 log_p2[self._i_xT] + rsf * np.log(big + self._utx)[self._itx]],
                axis=0, b=[self._ones, -self._ones]) - rsf * np.log(q_1 * q_2)
            a_1 = gammaln(r + self.ux)[self._ix] - gammaln(r) + r * np.log(alpha) + s * np.log(
                beta)
            a_2 = np.logaddexp(
                -(r + x) * np.log(alpha + self.uT)[self._iT]
                - s * np.log(beta + self.uT)[self._iT],
                np.log(s) + log_a0 - np.log(rsf))
        return a_1 + a_2

    def objective(self, params: np.ndarray, penalizer: float = 0.0) -> float:
        """lifetimes' objective at raw ``params``: ``-sum(w ll) / mean(w) + penalty``."""
        params = np.asarray(params, dtype=float)
        if np.any(params <= 0.0):
            return np.inf
        ll = self.log_likelihood_rows(params)
        penalty = penalizer * sum(params**2)  # a Python sum, as lifetimes'
        return float(-(self._w * ll).sum() / self.mean_weight + penalty)

    def _evaluate(self, log_params: np.ndarray, penalizer: float, grad: bool):
        if grad:
            raise NotImplementedError("the Pareto/NBD likelihood has no analytic gradient")
        params = np.exp(np.asarray(log_params, dtype=float))
        ll = self.log_likelihood_rows(params)
        return -np.sum(self._w * ll) / self.total_weight + penalizer * np.sum(params**2), None

    def hessian(self, log_params: np.ndarray, penalizer: float = 0.0) -> np.ndarray:
        """Hessian of :meth:`value` in the log parameters (second differences of values)."""
        return value_hessian(lambda z: self.value(z, penalizer), log_params)


def value_hessian(fun, x: np.ndarray, *, step: float = 1e-3) -> np.ndarray:
    """Hessian by central second differences of function values (``2 k^2 + 1`` calls)."""
    x = np.asarray(x, dtype=float)
    k = len(x)
    f0 = fun(x)
    hess = np.empty((k, k))
    h = step * np.maximum(1.0, np.abs(x))

    def at(i, di, j=None, dj=0.0):
        z = x.copy()
        z[i] += di
        if j is not None:
            z[j] += dj
        return fun(z)

    for i in range(k):
        hess[i, i] = (at(i, h[i]) - 2 * f0 + at(i, -h[i])) / h[i] ** 2
        for j in range(i):
            hess[i, j] = hess[j, i] = (
                at(i, h[i], j, h[j]) - at(i, h[i], j, -h[j]) - at(i, -h[i], j, h[j])
                + at(i, -h[i], j, -h[j])) / (4 * h[i] * h[j])
    return hess
