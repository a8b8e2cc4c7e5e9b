"""The churn scoring rules, written once for the pandas and the engine path.

Both paths score each distinct customer history ``(frequency, recency, T)`` once in
NumPy with these functions (:func:`crm_analytics.churn.score_patterns`) and then spread
the results to the customers: the pandas path by the pattern index of each row, the
engine path by a join on the history's keys. Only the last step, turning "days after the
last order / after as-of" into a date, happens per customer; its two forms (NumPy and
SQL) are generated from one table, :data:`NEXT_ORDER_BASE_DAY`.

- risk bands: :func:`churn_risk_codes` (P(no order in the horizon) -> low / medium /
  high, through :func:`risk_band_codes` on the chance of an order);
- the next-order rule: :func:`expected_gap_days` and :func:`next_order_rule`
  (own gaps / model rate / unlikely alive), :func:`next_order_dates` and
  :func:`next_order_sql`.
"""

from __future__ import annotations

import numpy as np

from crm_analytics._core.errors import CrmDataError

__all__ = [
    "RISK_LEVELS",
    "NEXT_ORDER_BASES",
    "NEXT_ORDER_BASE_DAY",
    "check_risk_bands",
    "risk_band_codes",
    "churn_risk_codes",
    "expected_gap_days",
    "next_order_rule",
    "next_order_dates",
    "next_order_sql",
]

#: Ordered churn-risk labels: code 0, 1, 2 of :func:`risk_band_codes`.
RISK_LEVELS = ("low", "medium", "high")
#: How ``expected_next_order`` was found: code 0, 1, 2 of :func:`next_order_rule`.
NEXT_ORDER_BASES = ("own_gaps", "model_rate", "unlikely_alive")
#: The day each basis counts ``add_days`` from ("last": the customer's last order,
#: "as_of": the scoring day); "unlikely_alive" has no next order.
NEXT_ORDER_BASE_DAY = {"own_gaps": "last", "model_rate": "as_of"}


def check_risk_bands(high_risk_below: float, medium_risk_below: float) -> None:
    """Raise :class:`CrmDataError` unless 0 <= high_risk_below <= medium_risk_below <= 1."""
    for name, value in (("high_risk_below", high_risk_below),
                        ("medium_risk_below", medium_risk_below)):
        if not 0 <= value <= 1:
            raise CrmDataError(f"The {name!r} parameter must be in [0, 1]. Got {value!r}.")
    if high_risk_below > medium_risk_below:
        raise CrmDataError(
            f"high_risk_below ({high_risk_below}) must not exceed medium_risk_below "
            f"({medium_risk_below}): a chance of an order in the horizon below the first is "
            "high risk, below the second medium."
        )


def risk_band_codes(p_alive: np.ndarray, high_risk_below: float = 0.5,
                    medium_risk_below: float = 0.8) -> np.ndarray:
    """Risk band of each "staying" probability, as codes into :data:`RISK_LEVELS`.

    "high" (2) below ``high_risk_below``, "medium" (1) below ``medium_risk_below``,
    else "low" (0). The churn scores pass the chance of an order in the horizon, ``1 -
    p_no_order`` (:func:`churn_risk_codes`); the argument keeps its old name.

    >>> risk_band_codes(np.array([0.2, 0.6, 0.95]))
    array([2, 1, 0])
    """
    p = np.asarray(p_alive, dtype=float)
    return np.where(p < high_risk_below, 2, np.where(p < medium_risk_below, 1, 0))


def churn_risk_codes(p_no_order: np.ndarray, high_risk_below: float = 0.5,
                     medium_risk_below: float = 0.8) -> np.ndarray:
    """``churn_risk`` codes from P(no order in the horizon), the churn probability.

    The bands are cut on the chance of at least one order in the horizon, ``1 -
    p_no_order``: "high" when it is below ``high_risk_below`` (default 0.5: no order
    is more likely than an order), "medium" when below ``medium_risk_below`` (default
    0.8), else "low" (at least an 80% chance of an order). In terms of ``p_churn =
    p_no_order``: high above 0.5, medium above 0.2, low at most 0.2. Up to release
    0.1.0 the same parameters cut P(alive); P(alive) stays a column but no longer sets
    the band.

    >>> churn_risk_codes(np.array([0.9, 0.3, 0.1]))
    array([2, 1, 0])
    """
    return risk_band_codes(1.0 - np.asarray(p_no_order, dtype=float), high_risk_below,
                           medium_risk_below)


def expected_gap_days(model, frequency: np.ndarray, recency: np.ndarray,
                      T: np.ndarray, unit_days: float) -> tuple[np.ndarray, np.ndarray]:
    """Days from the base day to the expected next order, and the repeat-buyer mask.

    Repeat buyers: their own mean gap between purchase days (``recency`` in units of
    ``unit_days`` days / ``frequency``), counted from the last order. Others: the
    model's mean gap for their history, ``(alpha + T) / (r + x)`` (``T`` in the model's
    unit), counted from ``as_of``. ``model`` is a fitted
    :class:`~crm_analytics.churn.ChurnModel`.
    """
    r, alpha = model.params["r"], model.params["alpha"]
    # purchase occasions are whole days: recency in days is an integer up to float noise
    recency_days = np.rint(recency * unit_days)
    with np.errstate(divide="ignore", invalid="ignore"):
        own_gap = recency_days / frequency
    model_gap = (alpha + T) / (r + frequency) * model.unit_days
    repeat = frequency >= 1
    return np.where(repeat, own_gap, model_gap), repeat


def next_order_rule(
    model, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray, p_alive: np.ndarray,
    *, unit_days: float, next_order_min_p_alive: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The next-order rule on histories: basis codes, gap days and days to add.

    - ``frequency >= 1``: own mean gap (:func:`expected_gap_days`), added to the last
      order (basis 0, "own_gaps");
    - one purchase occasion: the model's mean gap ``(alpha + T) / (r + x)``, added to
      ``as_of`` (basis 1, "model_rate");
    - P(alive) below ``next_order_min_p_alive``: no next order (basis 2,
      "unlikely_alive", ``add_days`` NaN).

    Parameters
    ----------
    model : ChurnModel
    frequency, recency, T, p_alive : numpy.ndarray
        ``recency`` in the summary's unit (``unit_days`` days), ``T`` in the model's.
    unit_days : float
        Days per unit of ``recency``.
    next_order_min_p_alive : float, default 0.1

    Returns
    -------
    (basis, gap_days, add_days)
        Codes into :data:`NEXT_ORDER_BASES`; the gap in days (float); the whole days
        to add to the base day (float, NaN when unlikely alive).
    """
    gap, repeat = expected_gap_days(model, frequency, recency, T, unit_days)
    unlikely = np.asarray(p_alive) < next_order_min_p_alive
    basis = np.where(unlikely, 2, np.where(repeat, 0, 1))
    add = np.where(unlikely, np.nan, np.floor(gap + 0.5))
    return basis, gap, add


def next_order_dates(basis: np.ndarray, add_days: np.ndarray, last_order: np.ndarray,
                     as_of: np.ndarray) -> np.ndarray:
    """``expected_next_order`` per customer (datetime64[ns], NaT when unlikely alive).

    ``add_days`` whole days from the day :data:`NEXT_ORDER_BASE_DAY` names for each
    basis; ``last_order`` and ``as_of`` are datetime64 arrays (one value per customer).
    """
    base = {"last": np.asarray(last_order, dtype="datetime64[ns]"),
            "as_of": np.asarray(as_of, dtype="datetime64[ns]")}
    out = np.full(len(basis), np.datetime64("NaT"), dtype="datetime64[ns]")
    for name, day in NEXT_ORDER_BASE_DAY.items():
        rows = basis == NEXT_ORDER_BASES.index(name)
        out[rows] = base[day][rows] + add_days[rows].astype("timedelta64[D]")
    return out


def next_order_sql(basis: str, add_days: str, *, last_day: str, as_of_day: int,
                   day_date: str) -> str:
    """The SQL form of :func:`next_order_dates` (NULL when unlikely alive).

    ``basis`` and ``add_days`` are SQL expressions of a history's basis label and days
    to add; ``last_day`` the customer's last order as a day number; ``day_date`` the
    dialect's day-number-to-date template (with ``{x}``).

    >>> next_order_sql("p.b", "p.d", last_day="s.last_day", as_of_day=10,
    ...                day_date="DATE {x}")
    "CASE p.b WHEN 'own_gaps' THEN DATE s.last_day + p.d WHEN 'model_rate' THEN DATE 10 + p.d END"
    """
    base = {"last": last_day, "as_of": str(int(as_of_day))}
    whens = " ".join(f"WHEN '{name}' THEN {day_date.format(x=f'{base[day]} + {add_days}')}"
                     for name, day in NEXT_ORDER_BASE_DAY.items())
    return f"CASE {basis} {whens} END"
