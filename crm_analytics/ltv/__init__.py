"""What each customer is worth: the shop formula, Gamma-Gamma spend, and model-based LTV.

Two ways, with every unit in the names:

- :func:`formula_ltv`, the shop formula: LTV (money) = expected lifetime (years) x average
  gross margin per order (money) x orders per year.
- :func:`predict_ltv`, model based: expected orders in each of the next months from the
  churn model (:func:`~crm_analytics.churn.fit_churn_model`) times the expected spend per
  order from the Gamma-Gamma model (:func:`fit_spend_model`; Fader & Hardie 2013, "The
  Gamma-Gamma Model of Monetary Value"; Fader, Hardie & Lee 2005, "RFM and CLV", JMR
  42(4)), discounted monthly.

"Order" here means a purchase occasion (all orders of one customer on one day), as in
:func:`~crm_analytics.customer_summary`.
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
from crm_analytics._core.dates import TIME_UNIT_DAYS, iso_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics.churn import (
    ChurnModel,
    check_backend,
    check_churn_model,
    check_rfm,
    compress_rfm,
    frequency_age_pairs,
    rfm_in_model_units,
    summary_time_unit,
)
from crm_analytics.fitting import lifetimes_bridge as _lifetimes

__all__ = [
    "SpendModel",
    "fit_spend_model",
    "predict_ltv",
    "formula_ltv",
    "estimate_lifetime_years",
    "DAYS_PER_MONTH",
]

#: Month length used by :func:`predict_ltv` by default: 4.345 weeks (30.415 days), the
#: month of lifetimes' ``customer_lifetime_value(..., freq="W")`` (~365.25 / 12).
DAYS_PER_MONTH = 4.345 * 7


# --------------------------------------------------------------------------- spend model


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

    @property
    def independence_ok(self) -> bool:
        """Whether |corr(frequency, monetary_value)| is below ``max_abs_correlation``."""
        return abs(self.frequency_monetary_correlation) < self.max_abs_correlation

    @property
    def population_mean_spend(self) -> float:
        """Expected spend per order of a customer with no repeat order: ``p*gamma/(q-1)``."""
        p, q, g = (self.params[k] for k in ("p", "q", "gamma"))
        return p * g / (q - 1) if q > 1 else float("inf")

    def expected_spend(self, frequency, monetary_value) -> np.ndarray:
        """Expected spend per order given the history (Fader & Hardie 2013, eq. 5).

        A weighted average of the customer's own mean repeat spend and the population
        mean, the weight ``p x / (p x + q - 1)`` growing with ``frequency`` ``x``.
        """
        p, q = self.params["p"], self.params["q"]
        if q <= 1:
            raise CrmDataError(
                f"The Gamma-Gamma fit has q = {q:.3g} <= 1, so the mean spend per order is "
                "infinite and expected spend is undefined. Refit with a penalizer, or check "
                "monetary_value for extreme values."
            )
        x = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        weight = p * x / (p * x + q - 1)
        return (1 - weight) * self.population_mean_spend + weight * np.where(x > 0, m, 0.0)


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
    the notes on correlation, ``q <= 1`` and excluded customers."""

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
    )


# --------------------------------------------------------------------------- margins


def _margin_rates(summary: pd.DataFrame, margin_rate: float | None) -> tuple[np.ndarray, str]:
    """Per-customer gross margin / revenue, and where it came from ("" if unknown)."""
    has_margin = "total_margin" in summary.columns
    if has_margin and margin_rate is not None:
        raise CrmDataError(
            "The summary has a 'total_margin' column (the orders had a margin) and "
            f"margin_rate={margin_rate!r} was also given. Pass margin_rate=None to use the "
            "margins of the orders, or drop the total_margin column to use a flat rate."
        )
    if margin_rate is not None:
        check_fraction(margin_rate, "margin_rate")
        return np.full(len(summary), float(margin_rate)), "margin_rate"
    if not has_margin:
        return np.full(len(summary), np.nan), ""
    require_columns(summary, ["total_amount"], "summary")
    margin = summary["total_margin"].to_numpy(dtype=float)
    amount = summary["total_amount"].to_numpy(dtype=float)
    shop_rate = margin.sum() / amount.sum() if amount.sum() > 0 else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(amount > 0, margin / amount, shop_rate)
    return rate, "margin column"


# --------------------------------------------------------------------------- predict


def predict_ltv(
    summary: pd.DataFrame,
    churn_model: ChurnModel,
    spend_model: SpendModel,
    *,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    margin_rate: float | None = None,
    days_per_month: float = DAYS_PER_MONTH,
    time_unit: str | None = None,
) -> pd.DataFrame:
    """Expected orders, spend, revenue, margin and discounted LTV over the next months.

    ``ltv = sum over months k = 1..horizon_months of
    (expected orders in month k) x (expected spend per order) [x margin rate]
    / (1 + monthly_discount_rate) ** k``, the discounted-cash-flow sum of lifetimes'
    ``customer_lifetime_value``. Month ``k`` is the interval from ``(k-1)`` to ``k``
    months after ``as_of``, a month being ``days_per_month`` days, converted to the churn
    model's time unit (lifetimes' own function assumes daily data unless told
    ``freq=``: a 7x error on weekly data, lifetimes issues #215/#233; here the unit comes
    from the model, so weekly and daily summaries give the same answer).

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`~crm_analytics.customer_summary` at the valuation date. Not modified.
    churn_model : ChurnModel
        From :func:`~crm_analytics.churn.fit_churn_model`.
    spend_model : SpendModel
        From :func:`fit_spend_model`.
    horizon_months : int, default 12
        Number of months valued.
    monthly_discount_rate : float, default 0.01
        Discount rate per month (0.01 is about 12.7% a year).
    margin_rate : float, optional
        Gross margin as a share of revenue, when the orders had no ``margin`` column.
        When the summary has ``total_margin``, each customer's own margin share
        (``total_margin / total_amount``) is used instead; giving both is an error.
    days_per_month : float, default 30.415
        Month length in days: 4.345 weeks, as lifetimes with ``freq="W"`` (lifetimes
        uses 30 days with ``freq="D"``; pass 30 to reproduce that).
    time_unit : {"D", "W"}, optional
        Unit of the summary's ``recency`` / ``T``; default ``summary.attrs["time_unit"]``.

    Returns
    -------
    pandas.DataFrame
        One row per customer of ``summary``: ``customer_id``, ``expected_orders``
        (purchase occasions in the horizon), ``expected_spend_per_order`` (money),
        ``expected_revenue`` (money, undiscounted), ``expected_margin`` (money,
        undiscounted; NaN when no margin is known), ``ltv`` (money, discounted: margin
        when a margin is known, else revenue). ``attrs["ltv_basis"]`` says which
        ("margin" or "revenue"); ``attrs`` also repeats the settings.

    Raises
    ------
    CrmDataError
        Wrong model objects, an invalid summary, ``margin_rate`` together with a
        ``total_margin`` column, or invalid horizon / rates.

    Examples
    --------
    >>> from crm_analytics import customer_summary, load_cdnow
    >>> from crm_analytics.churn import fit_churn_model
    >>> summary = customer_summary(load_cdnow("sample"), as_of="1997-09-30", time_unit="W")
    >>> ltv = predict_ltv(summary, fit_churn_model(summary), fit_spend_model(summary))
    >>> ltv.attrs["ltv_basis"], round(ltv["ltv"].sum())
    ('revenue', 71508)
    >>> ltv.loc[0, ["expected_orders", "expected_spend_per_order", "ltv"]].round(2).to_dict()
    {'expected_orders': 1.56, 'expected_spend_per_order': 24.65, 'ltv': 36.27}
    """
    churn_model = check_churn_model(churn_model)
    if not isinstance(spend_model, SpendModel):
        raise CrmDataError(
            "The 'spend_model' argument must be a SpendModel from fit_spend_model(); got "
            f"{type(spend_model).__name__}."
        )
    if isinstance(horizon_months, bool) or not float(horizon_months).is_integer() \
            or horizon_months < 1:
        raise CrmDataError(
            f"The 'horizon_months' parameter must be a whole number of months >= 1. Got "
            f"{horizon_months!r}."
        )
    check_positive(monthly_discount_rate, "monthly_discount_rate", allow_zero=True)
    check_positive(days_per_month, "days_per_month")
    check_rfm(summary)
    require_columns(summary, ["monetary_value"], "summary")
    rates, margin_source = _margin_rates(summary, margin_rate)
    freq, rec, T, _ = rfm_in_model_units(churn_model, summary, time_unit)
    months = int(horizon_months)
    month = days_per_month / churn_model.unit_days
    discount = (1.0 + monthly_discount_rate) ** -np.arange(1, months + 1)

    px, prec, pT, _, inverse = compress_rfm(freq, rec, T)
    # expected_orders = (a function of frequency and T) x P(alive): the costly first
    # factor (a hypergeometric function) once per distinct (frequency, T) pair
    alive = churn_model.p_alive(px, prec, pT)
    qx, qT, pair = frequency_age_pairs(px, pT)
    cumulative = np.zeros(len(px))
    discounted = np.zeros(len(px))
    for k in range(1, months + 1):  # a few months x all patterns as arrays
        nxt = churn_model._expected_orders_if_alive(k * month, qx, qT)[pair] * alive
        discounted += (nxt - cumulative) * discount[k - 1]
        cumulative = nxt
    spend = spend_model.expected_spend(freq, summary["monetary_value"].to_numpy(dtype=float))
    expected_orders = cumulative[inverse]
    revenue = expected_orders * spend
    margin = revenue * rates
    known = margin_source != ""
    ltv = discounted[inverse] * spend * (rates if known else 1.0)
    out = pd.DataFrame(
        {
            "customer_id": summary["customer_id"].array.copy(),
            "expected_orders": expected_orders,
            "expected_spend_per_order": spend,
            "expected_revenue": revenue,
            "expected_margin": margin,
            "ltv": ltv,
        },
        copy=False,  # every column is a fresh array (the ids copied above): no second copy
    )
    out.attrs = {
        "ltv_basis": "margin" if known else "revenue",
        "margin_source": margin_source or None,
        "horizon_months": months,
        "monthly_discount_rate": monthly_discount_rate,
        "days_per_month": days_per_month,
        "time_unit": churn_model.time_unit,
        "as_of": iso_day(summary.attrs.get("as_of")),
    }
    return out


# --------------------------------------------------------------------------- formula


def _as_of(summary: pd.DataFrame) -> pd.Timestamp:
    if summary.attrs.get("as_of") is not None:
        return pd.Timestamp(summary.attrs["as_of"])
    require_columns(summary, ["last_order", "days_since_last_order"], "summary")
    last = pd.to_datetime(summary["last_order"])
    return (last + pd.to_timedelta(summary["days_since_last_order"], unit="D")).max()


def estimate_lifetime_years(
    summary: pd.DataFrame, *, days_per_year: float = 365.25
) -> tuple[float, float, int]:
    """Expected customer lifetime in years from the annual retention rate.

    Annual retention = the share of the customers who already existed a year before
    ``as_of`` (first order at least ``days_per_year`` days earlier) who ordered again in
    the last year. With a constant yearly churn ``1 - retention`` the lifetime is
    geometric: ``lifetime_years = 1 / (1 - retention)``. Customers already lost before
    that year count as churned, so the estimate errs on the short (cautious) side.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`~crm_analytics.customer_summary` (``first_order``, ``last_order``).
    days_per_year : float, default 365.25

    Returns
    -------
    (lifetime_years, annual_retention, n_customers_a_year_ago)

    Raises
    ------
    CrmDataError
        Less than a year of data, or every customer retained (infinite lifetime).

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"first_order": pd.to_datetime(["2022-01-01", "2022-03-01",
    ...                                                  "2023-06-01"]),
    ...                   "last_order": pd.to_datetime(["2023-09-01", "2022-03-01",
    ...                                                 "2023-06-01"])})
    >>> s.attrs["as_of"] = pd.Timestamp("2023-12-31")
    >>> estimate_lifetime_years(s)
    (2.0, 0.5, 2)
    """
    require_dataframe(summary, "summary")
    require_columns(summary, ["first_order", "last_order"], "summary")
    check_positive(days_per_year, "days_per_year")
    as_of = _as_of(summary)
    cut = as_of - pd.Timedelta(days=round(days_per_year))
    first = pd.to_datetime(summary["first_order"])
    last = pd.to_datetime(summary["last_order"])
    existing = (first <= cut).to_numpy()
    n = int(existing.sum())
    if n == 0:
        raise CrmDataError(
            f"Cannot estimate the customer lifetime: no customer's first order is a year or "
            f"more before as_of ({as_of.date()}; the data starts {first.min().date()}). "
            "Pass lifetime_years=<number> instead."
        )
    retention = float((last > cut).to_numpy()[existing].mean())
    if retention >= 1:
        raise CrmDataError(
            f"Every one of the {n} customers from a year ago ordered again in the last year "
            "(retention 100%), so the lifetime cannot be estimated from retention. Pass "
            "lifetime_years=<number> instead."
        )
    return 1.0 / (1.0 - retention), retention, n


def formula_ltv(
    summary: pd.DataFrame,
    *,
    lifetime_years: float | str,
    margin_rate: float | None = None,
    min_years_observed: float = 1.0,
    days_per_year: float = 365.25,
    time_unit: str | None = None,
) -> pd.DataFrame:
    """The shop formula: LTV = lifetime (years) x gross margin per order x orders per year.

    Per customer:

    - ``orders_per_year = n_orders / max(years observed, min_years_observed)``, years
      observed being ``T`` (first order to ``as_of``) in years; the floor keeps a new
      customer's one order from counting as a yearly rate of 50;
    - ``margin_per_order`` (money) = ``total_margin / n_orders`` when the orders had a
      ``margin`` column, else ``total_amount / n_orders * margin_rate``;
    - ``ltv`` (money, undiscounted) = ``lifetime_years * margin_per_order *
      orders_per_year``.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`~crm_analytics.customer_summary` (``customer_id, n_orders, T,
        total_amount``, and ``total_margin`` when known). Not modified.
    lifetime_years : float or "estimate"
        Expected customer lifetime in years, or ``"estimate"`` to take
        ``1 / (1 - annual retention)`` from the data (see
        :func:`estimate_lifetime_years`).
    margin_rate : float, optional
        Gross margin as a share of ``amount``; required when the summary has no
        ``total_margin``, an error when it has one.
    min_years_observed : float, default 1.0
        Floor of the observation time used for ``orders_per_year``.
    days_per_year : float, default 365.25
    time_unit : {"D", "W"}, optional
        Unit of ``T``; default ``summary.attrs["time_unit"]``.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, orders_per_year, margin_per_order, lifetime_years, ltv``.
        ``attrs``: ``lifetime_years``, ``lifetime_source`` ("given"/"estimated"),
        ``annual_retention`` (when estimated), ``margin_source``.

    Raises
    ------
    CrmDataError
        Missing columns, no margin information, a bad ``lifetime_years``, or a lifetime
        that cannot be estimated.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"customer_id": ["a", "b"], "n_orders": [4, 1],
    ...                   "T": [730.5, 30.0], "total_amount": [400.0, 50.0]})
    >>> s.attrs["time_unit"] = "D"
    >>> formula_ltv(s, lifetime_years=3, margin_rate=0.25)
      customer_id  orders_per_year  margin_per_order  lifetime_years    ltv
    0           a              2.0              25.0             3.0  150.0
    1           b              1.0              12.5             3.0   37.5
    """
    require_dataframe(summary, "summary")
    require_columns(summary, ["customer_id", "n_orders", "T", "total_amount"], "summary")
    unit = summary_time_unit(summary, time_unit)
    check_positive(min_years_observed, "min_years_observed")
    check_positive(days_per_year, "days_per_year")
    if "total_margin" not in summary.columns and margin_rate is None:
        raise CrmDataError(
            "formula_ltv needs a gross margin: the summary has no 'total_margin' column "
            "(the orders had no 'margin'), so pass margin_rate=<share of amount>, e.g. 0.3."
        )
    rates, margin_source = _margin_rates(summary, margin_rate)
    attrs: dict[str, object] = {}
    if isinstance(lifetime_years, str):
        if lifetime_years != "estimate":
            raise CrmDataError(
                f"The 'lifetime_years' parameter must be a number of years or 'estimate'. "
                f"Got {lifetime_years!r}."
            )
        years, retention, n = estimate_lifetime_years(summary, days_per_year=days_per_year)
        attrs.update(lifetime_source="estimated", annual_retention=retention,
                     n_customers_a_year_ago=n)
    else:
        if isinstance(lifetime_years, bool) or not isinstance(lifetime_years, int | float):
            raise CrmDataError(
                f"The 'lifetime_years' parameter must be a number of years or 'estimate' (to "
                f"estimate it from annual retention). Got {lifetime_years!r}."
            )
        check_positive(lifetime_years, "lifetime_years")
        years = float(lifetime_years)
        attrs["lifetime_source"] = "given"
    n_orders = summary["n_orders"].to_numpy(dtype=float)
    if (n_orders < 1).any():
        bad = summary.loc[n_orders < 1, "n_orders"]
        raise CrmDataError(
            f"Column 'n_orders' must be >= 1 for every customer; {len(bad)} rows are not "
            f"({format_examples(bad)}). Rebuild the summary with customer_summary(orders)."
        )
    observed = summary["T"].to_numpy(dtype=float) * TIME_UNIT_DAYS[unit] / days_per_year
    per_year = n_orders / np.maximum(observed, min_years_observed)
    if margin_source == "margin column":
        per_order = summary["total_margin"].to_numpy(dtype=float) / n_orders
    else:
        per_order = summary["total_amount"].to_numpy(dtype=float) / n_orders * rates
    out = pd.DataFrame(
        {
            "customer_id": summary["customer_id"].array,
            "orders_per_year": per_year,
            "margin_per_order": per_order,
            "lifetime_years": years,
            "ltv": years * per_order * per_year,
        }
    )
    out.attrs = {"lifetime_years": years, "margin_source": margin_source,
                 "min_years_observed": min_years_observed, **attrs}
    return out
