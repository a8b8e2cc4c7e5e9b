"""The Gamma-Gamma model of spend per order (Fader & Hardie 2013; Fader, Hardie & Lee
2005, "RFM and CLV", JMR 42(4)): :class:`SpendModel`, its fit, and :class:`SpendRule`,
the expected-spend formula in its NumPy and SQL forms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crm_analytics._core.checks import (
    check_fraction,
    check_positive,
    format_examples,
    require_columns,
    require_dataframe,
)
from crm_analytics._core.errors import CrmDataError
from crm_analytics.churn import check_backend
from crm_analytics.fitting import lifetimes_bridge as _lifetimes

__all__ = [
    "FALLBACK_PRIOR_ORDERS",
    "MIN_REPEAT_CUSTOMERS",
    "PARAMETER_BOUNDS",
    "SpendModel",
    "SpendRule",
    "check_spend_model",
    "fit_spend_model",
    "fit_spend_pairs",
    "spend_warnings",
]

#: A fitted parameter outside this range sits at the edge of what the optimiser can
#: reach (it works on log parameters): the likelihood is flat in that direction.
PARAMETER_BOUNDS = (1e-4, 1e4)
#: Fewer repeat customers than this and the fit carries a warning.
MIN_REPEAT_CUSTOMERS = 100
#: The fallback of a flat fit weighs the shop's mean like this many extra orders:
#: ``(x m + k mean) / (x + k)``.
FALLBACK_PRIOR_ORDERS = 1.0


@dataclass(frozen=True)
class SpendRule:
    """Expected spend per order given the history (Fader & Hardie 2013, eq. 5).

    A weighted average of the customer's own mean repeat spend ``m`` and the
    population mean, the weight ``p x / (p x + q - 1)`` growing with ``frequency`` ``x``:
    ``(1 - w) * population_mean + w * (m if x > 0 else 0)``. :meth:`evaluate` (NumPy)
    and :meth:`sql` (an SQL expression) are written from the same three coefficients,
    so the pandas and engine paths apply one formula. Made by
    :meth:`SpendModel.spend_rule`.

    >>> rule = SpendRule(p=2.0, q=3.0, population_mean=10.0)
    >>> rule.evaluate([0, 2], [0.0, 40.0]).tolist()
    [10.0, 30.0]
    >>> rule.sql("s.frequency", "s.monetary_value")[:48]
    '((1 - (2.0 * CAST(s.frequency AS DOUBLE) / (2.0 '
    """

    p: float
    q: float
    population_mean: float

    def evaluate(self, frequency, monetary_value) -> np.ndarray:
        """The expected spend per order of each history (money)."""
        x = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        weight = self.p * x / (self.p * x + self.q - 1)
        return (1 - weight) * self.population_mean + weight * np.where(x > 0, m, 0.0)

    def sql(self, frequency: str, monetary_value: str) -> str:
        """The same formula as an SQL expression over two column expressions."""
        p, q, mean = repr(float(self.p)), repr(float(self.q)), repr(float(self.population_mean))
        x = f"CAST({frequency} AS DOUBLE)"
        w = f"({p} * {x} / ({p} * {x} + {q} - 1))"
        return (f"((1 - {w}) * {mean} + {w} * CASE WHEN {frequency} > 0 "
                f"THEN {monetary_value} ELSE 0.0 END)")


@dataclass(frozen=True, eq=False)
class SpendModel:
    """A fitted Gamma-Gamma spend model, from :func:`fit_spend_model`.

    Attributes
    ----------
    params : dict
        ``p, q, gamma`` (lifetimes calls ``gamma`` ``v``). The mean spend per order of
        the population is ``p * gamma / (q - 1)`` (money).
    standard_errors : dict
        Standard error of each parameter.
    log_likelihood : float
        Total log-likelihood over the fitted customers (penalty excluded).
    n_customers : int
        Repeat customers fitted.
    n_excluded : int
        Repeat customers left out because their ``monetary_value`` is not positive
        (free repeat orders); they are listed in ``excluded_customers``.
    excluded_customers : tuple of str
        Their ids.
    mean_spend : float
        Observed mean of ``monetary_value`` over the fitted customers (money per order).
    frequency_monetary_correlation : float
        Pearson correlation of ``frequency`` and ``monetary_value`` over the fitted
        customers. The model assumes the two are independent.
    max_abs_correlation : float
        Threshold of :attr:`independence_ok`.
    penalizer, requested_penalizer : float
        Penalizer used and asked for.
    fit_notes : tuple of str
        Fit retries, and warnings about the independence assumption or ``q <= 1``.
    warnings : tuple of str
        Plain sentences on what the fit cannot support: a parameter at the edge of its
        range or without a finite standard error (a flat likelihood), a standard error
        larger than the parameter (not identified), fewer than 100 repeat customers.
    fallback : str or None
        When the fit is flat, what the expected spend uses instead (the model's
        parameters are then not used for prediction): each customer's own average
        repeat spend shrunk to the shop's mean (:attr:`fallback_mean`),
        ``(x m + k mean) / (x + k)`` with ``k`` = :data:`FALLBACK_PRIOR_ORDERS`. None:
        the Gamma-Gamma formula.
    fallback_mean : float
        The shop's mean spend per repeat order (order-weighted) the fallback shrinks to.
    """

    params: dict[str, float]
    standard_errors: dict[str, float]
    log_likelihood: float
    n_customers: int
    n_excluded: int
    excluded_customers: tuple[str, ...]
    mean_spend: float
    frequency_monetary_correlation: float
    max_abs_correlation: float
    penalizer: float
    requested_penalizer: float
    fit_notes: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)
    fallback: str | None = None
    fallback_mean: float = float("nan")

    @property
    def independence_ok(self) -> bool:
        """Whether |corr(frequency, monetary_value)| is below ``max_abs_correlation``."""
        return abs(self.frequency_monetary_correlation) < self.max_abs_correlation

    @property
    def population_mean_spend(self) -> float:
        """Expected spend per order of a customer with no repeat order: ``p*gamma/(q-1)``."""
        p, q, g = (self.params[k] for k in ("p", "q", "gamma"))
        return p * g / (q - 1) if q > 1 else float("inf")

    def spend_rule(self) -> SpendRule:
        """The expected-spend formula with this model's coefficients (:class:`SpendRule`).

        With a :attr:`fallback` (a flat fit), the same formula with ``p = 1``, ``q = 1 +
        k`` and the shop's mean: ``(x m + k mean) / (x + k)``. Raises
        :class:`CrmDataError` when ``q <= 1`` (infinite mean spend).
        """
        if self.fallback is not None:
            return SpendRule(p=1.0, q=1.0 + FALLBACK_PRIOR_ORDERS,
                             population_mean=float(self.fallback_mean))
        p, q = self.params["p"], self.params["q"]
        if q <= 1:
            raise CrmDataError(
                f"The Gamma-Gamma fit has q = {q:.3g} <= 1, so the mean spend per order is "
                "infinite and expected spend is undefined. Refit with a penalizer, or check "
                "monetary_value for extreme values."
            )
        return SpendRule(p=float(p), q=float(q), population_mean=float(self.population_mean_spend))

    def expected_spend(self, frequency, monetary_value) -> np.ndarray:
        """Expected spend per order given the history (Fader & Hardie 2013, eq. 5).

        A weighted average of the customer's own mean repeat spend and the population
        mean, the weight ``p x / (p x + q - 1)`` growing with ``frequency`` ``x``
        (:meth:`SpendRule.evaluate`); with a :attr:`fallback`, the fallback's formula.
        """
        return self.spend_rule().evaluate(frequency, monetary_value)


def fit_spend_model(
    summary: pd.DataFrame,
    *,
    penalizer: float = 0.0,
    max_abs_correlation: float = 0.3,
    tol: float = 1e-7,
    standard_errors: bool = True,
    backend: str = "analytic",
) -> SpendModel:
    """Fit the Gamma-Gamma model of spend per order on the customers with repeat orders.

    Fits as lifetimes' ``GammaGammaFitter`` does (the same optimiser and objective), on
    compressed ``(frequency, monetary_value)`` pairs, by default with our analytic
    gradient. The model assumes a customer's spend per order is independent of how often
    she buys; the correlation of ``frequency`` and ``monetary_value`` is reported
    (``frequency_monetary_correlation``, ``independence_ok``) and a note is added to
    ``fit_notes`` when it exceeds ``max_abs_correlation`` in absolute value.

    The fit runs on the distinct pairs sorted by ``(frequency, monetary_value)``, so the
    same customers in any row order give the same parameters. With few repeat customers
    the likelihood can be flat (a parameter runs off to a huge value and the optimiser
    stops wherever rounding leads it); such a fit carries :attr:`SpendModel.warnings`
    and a :attr:`SpendModel.fallback`: expected spend is then each customer's own
    average spend shrunk to the shop's mean, not the Gamma-Gamma formula.

    Parameters
    ----------
    summary : pandas.DataFrame
        From :func:`~crm_analytics.customer_summary` (needs ``customer_id, frequency,
        monetary_value``; ``monetary_value`` is the mean value of the repeat purchase
        occasions). Customers with ``frequency == 0`` are not used; repeat customers
        with ``monetary_value <= 0`` are excluded and reported. Not modified.
    penalizer : float, default 0.0
        L2 penalty on the parameters (lifetimes' ``penalizer_coef``).
    max_abs_correlation : float, default 0.3
        Largest |correlation| accepted as "independent enough".
    tol : float, default 1e-7
        Optimiser tolerance of the first attempt (retries loosen it, then raise the
        penalizer; see :attr:`SpendModel.fit_notes`).
    standard_errors : bool, default True
        False skips the Hessian behind the standard errors (faster): the same
        parameters, NaN ``standard_errors``.
    backend : {"analytic", "lifetimes"}, default "analytic"
        ``"lifetimes"`` runs lifetimes' ``GammaGammaFitter`` itself (the model of record,
        slower); see :func:`~crm_analytics.churn.fit_churn_model`.

    Returns
    -------
    SpendModel
        With ``warnings`` and, for a flat fit, ``fallback`` (see above).

    Raises
    ------
    CrmDataError
        Missing columns, non-numeric values, no customer with a positive repeat spend,
        or a fit that never converged.

    Examples
    --------
    >>> from crm_analytics import customer_summary, load_cdnow
    >>> summary = customer_summary(load_cdnow("sample"), as_of="1997-09-30", time_unit="W")
    >>> spend = fit_spend_model(summary)
    >>> {k: round(v, 2) for k, v in spend.params.items()}, spend.n_customers
    ({'p': 6.25, 'q': 3.74, 'gamma': 15.44}, 946)
    >>> round(spend.mean_spend, 2), round(spend.frequency_monetary_correlation, 3)
    (35.08, 0.114)
    """
    require_dataframe(summary, "summary")
    require_columns(summary, ["customer_id", "frequency", "monetary_value"], "summary")
    check_backend(backend)
    check_positive(penalizer, "penalizer", allow_zero=True)
    check_fraction(max_abs_correlation, "max_abs_correlation")
    freq = pd.to_numeric(summary["frequency"], errors="coerce").to_numpy(dtype=float)
    money = pd.to_numeric(summary["monetary_value"], errors="coerce").to_numpy(dtype=float)
    for col, values in (("frequency", freq), ("monetary_value", money)):
        bad = ~np.isfinite(values)
        if bad.any():
            raise CrmDataError(
                f"Column {col!r} of the summary has {int(bad.sum())} missing or non-numeric "
                f"values ({format_examples(summary.loc[bad, col])}). Rebuild it with "
                "customer_summary(orders)."
            )
    repeat = freq > 0
    excluded = repeat & (money <= 0)
    use = repeat & ~excluded
    if use.sum() < 2:
        raise CrmDataError(
            f"The Gamma-Gamma spend model needs customers with repeat orders of positive "
            f"value; the summary has {int(use.sum())} (of {len(summary)} customers, "
            f"{int(repeat.sum())} with frequency > 0). Use a longer period of orders."
        )
    x, m = freq[use], money[use]
    codes = [pd.factorize(v) for v in (x, m)]
    key = codes[0][0].astype(np.int64) * len(codes[1][1]) + codes[1][0]
    inverse, _ = pd.factorize(key)
    w = np.bincount(inverse)
    rep = np.empty(len(w), dtype=np.int64)
    rep[inverse[::-1]] = np.arange(len(x))[::-1]
    px, pm = x[rep], m[rep]

    corr = float(np.corrcoef(x, m)[0, 1]) if np.std(x) > 0 and np.std(m) > 0 else 0.0
    ids = summary["customer_id"][excluded].to_numpy().astype(str)  # not all 10^6 ids
    return fit_spend_pairs(
        px, pm, w, n_customers=int(use.sum()), n_excluded=int(excluded.sum()),
        excluded_customers=tuple(ids), mean_spend=float(m.mean()), correlation=corr,
        max_abs_correlation=max_abs_correlation, penalizer=penalizer, tol=tol,
        standard_errors=standard_errors, backend=backend)


def fit_spend_pairs(
    px: np.ndarray, pm: np.ndarray, w: np.ndarray, *, n_customers: int, n_excluded: int,
    excluded_customers: tuple[str, ...], mean_spend: float, correlation: float,
    max_abs_correlation: float = 0.3, penalizer: float = 0.0, tol: float = 1e-7,
    standard_errors: bool = True, backend: str = "analytic",
) -> SpendModel:
    """A :class:`SpendModel` fitted on distinct ``(frequency, monetary_value)`` pairs and
    their counts ``w`` (what :func:`fit_spend_model` and the engines' report fit), with
    the notes on correlation, ``q <= 1`` and excluded customers, the warnings and the
    fallback of a flat fit. The pairs are sorted canonically first (by frequency, then
    monetary value), so their order does not change the result."""
    px, pm, w = (np.asarray(v) for v in (px, pm, w))
    order = np.lexsort((pm, px))
    px, pm, w = px[order].astype(float), pm[order].astype(float), w[order].astype(np.int64)

    def attempt(*, penalizer: float, tol: float) -> _lifetimes.FitOutput:
        return _lifetimes.fit_gamma_gamma(px, pm, w, penalizer=penalizer, tol=tol,
                                          standard_errors=standard_errors, backend=backend)

    try:
        out, used, notes = _lifetimes.fit_with_retries(attempt, penalizer=penalizer, tol=tol)
    except _lifetimes.FitFailed as exc:
        raise CrmDataError(
            f"The Gamma-Gamma fit on {n_customers} repeat customers did not converge. "
            f"{exc}\nLook for extreme monetary_value outliers, or pass a penalizer such as "
            "0.01."
        ) from exc
    notes = list(notes)
    if abs(correlation) >= max_abs_correlation:
        notes.append(
            f"frequency and monetary_value are correlated (r = {correlation:.2f}); the "
            "Gamma-Gamma model assumes independence, so expected spend may be biased."
        )
    if out.params["q"] <= 1:
        notes.append(f"q = {out.params['q']:.3g} <= 1: the mean spend per order is infinite.")
    if n_excluded:
        notes.append(f"{n_excluded} repeat customers with monetary_value <= 0 were left out.")
    warnings, flat = spend_warnings(out.params, out.standard_errors, n_customers)
    fallback = None
    orders = float(np.sum(w * px))
    shop_mean = float(np.sum(w * px * pm) / orders) if orders > 0 else float("nan")
    if flat:
        fallback = (
            "each customer's own average repeat spend shrunk to the shop's mean spend per "
            f"repeat order ({shop_mean:,.2f}) as if she had {FALLBACK_PRIOR_ORDERS:g} more "
            "order at that mean, since the Gamma-Gamma fit is flat")
        warnings = (*warnings, f"Expected spend per order falls back to {fallback}.")
    return SpendModel(
        params=out.params,
        standard_errors=out.standard_errors,
        log_likelihood=out.log_likelihood,
        n_customers=n_customers,
        n_excluded=n_excluded,
        excluded_customers=excluded_customers,
        mean_spend=mean_spend,
        frequency_monetary_correlation=correlation,
        max_abs_correlation=max_abs_correlation,
        penalizer=used,
        requested_penalizer=penalizer,
        fit_notes=tuple(notes),
        warnings=warnings,
        fallback=fallback,
        fallback_mean=shop_mean,
    )


def spend_warnings(params: dict[str, float], standard_errors: dict[str, float],
                   n_customers: int) -> tuple[tuple[str, ...], bool]:
    """Plain-language warnings on a Gamma-Gamma fit, and whether it is flat.

    Flat: a parameter outside :data:`PARAMETER_BOUNDS` (decided on the parameters
    alone, so a fit with or without standard errors falls back alike). Not identified:
    an infinite standard error, or one larger than its parameter. Few data: fewer than
    :data:`MIN_REPEAT_CUSTOMERS` repeat customers.

    >>> spend_warnings({"p": 2e6, "q": 3.0, "gamma": 5.0}, {}, 500)[1]
    True
    >>> spend_warnings({"p": 6.0, "q": 3.7, "gamma": 15.0}, {"p": 8.0}, 946)[0]
    ('The standard error of p (8) is larger than its value (6): the spend data do not pin it down.',)
    """
    low, high = PARAMETER_BOUNDS
    out, flat = [], False
    for name, value in params.items():
        se = standard_errors.get(name, float("nan"))
        if not low <= value <= high:
            flat = True
            out.append(f"The spend model's {name} = {value:.3g} is at the edge of its range: "
                       "the data do not pin the model down (a flat likelihood).")
        elif se is not None and np.isinf(se):
            out.append(f"The spend model's {name} has no finite standard error: the data do "
                       "not pin it down.")
        elif np.isfinite(se) and se > value:
            out.append(f"The standard error of {name} ({se:.3g}) is larger than its value "
                       f"({value:.3g}): the spend data do not pin it down.")
    if n_customers < MIN_REPEAT_CUSTOMERS:
        out.append(f"Only {n_customers} repeat customers (fewer than {MIN_REPEAT_CUSTOMERS}) "
                   "carry the spend model: expected spend per order is uncertain.")
    return tuple(out), flat


def check_spend_model(model: object, name: str = "spend_model") -> SpendModel:
    """``model`` if it is a :class:`SpendModel`, else a :class:`CrmDataError` naming ``name``."""
    if not isinstance(model, SpendModel):
        raise CrmDataError(
            f"The {name!r} argument must be a SpendModel from fit_spend_model(); got "
            f"{type(model).__name__}."
        )
    return model
