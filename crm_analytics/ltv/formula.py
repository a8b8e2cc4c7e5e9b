"""The shop formula of LTV: lifetime (years) x gross margin per order x orders per year."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.checks import (
    check_positive,
    format_examples,
    require_columns,
    require_dataframe,
)
from crm_analytics._core.dates import TIME_UNIT_DAYS
from crm_analytics._core.errors import CrmDataError
from crm_analytics.ltv.rules import margin_rule
from crm_analytics.summary import summary_as_of, summary_time_unit

__all__ = ["estimate_lifetime_years", "formula_ltv"]


def estimate_lifetime_years(
    summary: pd.DataFrame, *, days_per_year: float = 365.25, as_of: object = None
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
    as_of : date-like, optional
        The summary's as-of day; default: read from its ``last_order`` and
        ``days_since_last_order`` (:func:`~crm_analytics.summary.summary_as_of`).
        Needed for a summary without them.

    Returns
    -------
    (lifetime_years, annual_retention, n_customers_a_year_ago)

    Raises
    ------
    CrmDataError
        Less than a year of data, every customer retained (infinite lifetime), or no
        as-of day.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"first_order": pd.to_datetime(["2022-01-01", "2022-03-01",
    ...                                                  "2023-06-01"]),
    ...                   "last_order": pd.to_datetime(["2023-09-01", "2022-03-01",
    ...                                                 "2023-06-01"])})
    >>> estimate_lifetime_years(s, as_of="2023-12-31")
    (2.0, 0.5, 2)
    """
    require_dataframe(summary, "summary")
    require_columns(summary, ["first_order", "last_order"], "summary")
    check_positive(days_per_year, "days_per_year")
    as_of = summary_as_of(summary, as_of)
    if as_of is None:
        raise CrmDataError(
            "estimate_lifetime_years needs the as-of day: the summary has no last_order / "
            "days_since_last_order columns to read it from. Pass as_of=<date>, or build the "
            "summary with customer_summary()."
        )
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
        Unit of ``T``; default: read from the summary's columns
        (:func:`~crm_analytics.summary.summary_time_unit`).

    Returns
    -------
    pandas.DataFrame
        ``customer_id, orders_per_year, margin_per_order, lifetime_years, ltv`` (margin,
        undiscounted). Nothing is stored on the frame: the lifetime used is the
        ``lifetime_years`` column; with ``"estimate"``, :func:`estimate_lifetime_years`
        gives the annual retention behind it; the margin source is the summary's
        ``total_margin`` when present, else ``margin_rate``.

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
    >>> formula_ltv(s, lifetime_years=3, margin_rate=0.25, time_unit="D")
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
    rule = margin_rule(has_margin="total_margin" in summary.columns, margin_rate=margin_rate)
    if isinstance(lifetime_years, str):
        if lifetime_years != "estimate":
            raise CrmDataError(
                f"The 'lifetime_years' parameter must be a number of years or 'estimate'. "
                f"Got {lifetime_years!r}."
            )
        years, _, _ = estimate_lifetime_years(summary, days_per_year=days_per_year)
    else:
        if isinstance(lifetime_years, bool) or not isinstance(lifetime_years, int | float):
            raise CrmDataError(
                f"The 'lifetime_years' parameter must be a number of years or 'estimate' (to "
                f"estimate it from annual retention). Got {lifetime_years!r}."
            )
        check_positive(lifetime_years, "lifetime_years")
        years = float(lifetime_years)
    n_orders = summary["n_orders"].to_numpy(dtype=float)
    if (n_orders < 1).any():
        bad = summary.loc[n_orders < 1, "n_orders"]
        raise CrmDataError(
            f"Column 'n_orders' must be >= 1 for every customer; {len(bad)} rows are not "
            f"({format_examples(bad)}). Rebuild the summary with customer_summary(orders)."
        )
    observed = summary["T"].to_numpy(dtype=float) * TIME_UNIT_DAYS[unit] / days_per_year
    per_year = n_orders / np.maximum(observed, min_years_observed)
    if rule.source == "margin column":  # the customer's own margin, whatever her amount
        per_order = summary["total_margin"].to_numpy(dtype=float) / n_orders
    else:
        per_order = (summary["total_amount"].to_numpy(dtype=float) / n_orders
                     * rule.rates(len(summary)))
    return pd.DataFrame(
        {
            "customer_id": summary["customer_id"].array,
            "orders_per_year": per_year,
            "margin_per_order": per_order,
            "lifetime_years": years,
            "ltv": years * per_order * per_year,
        }
    )
