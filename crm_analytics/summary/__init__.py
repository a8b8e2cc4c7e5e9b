"""Per-customer summary (RFM in the BG/NBD convention) and the calibration/holdout split.

Conventions (Fader, Hardie & Lee 2005): several orders on one calendar day are one
*purchase occasion*; ``frequency`` is the number of repeat occasions, ``recency`` the
time from the first to the last occasion, ``T`` the time from the first occasion to
``as_of``, and ``monetary_value`` the mean value of the repeat occasions (0 without
any). ``time_unit`` only sets the unit of ``recency`` and ``T`` ("D" days, "W" weeks =
days / 7). The numbers equal lifetimes'
``summary_data_from_transaction_data(..., freq="D", freq_multiplier=1 or 7)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.dates import (
    TIME_UNIT_DAYS,
    check_time_unit,
    dates_from_days,
    day_number,
    to_day,
)
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source, runner_for
from crm_analytics.orders.encode import PreparedOrders, prepare_orders
from crm_analytics.summary.sql import summary_on_engine

__all__ = [
    "SUMMARY_COLUMNS",
    "calibration_holdout_split",
    "customer_summary",
    "occasion_keys",
    "orders_until",
    "purchase_occasions",
    "resolve_as_of",
    "summary_as_of",
    "summary_time_unit",
]

SUMMARY_COLUMNS = (
    "customer_id", "first_order", "last_order", "n_orders", "frequency", "recency", "T",
    "monetary_value", "total_amount", "avg_order_value", "total_margin",
    "days_since_last_order",
)

def resolve_as_of(orders: pd.DataFrame, as_of: object, name: str = "as_of") -> pd.Timestamp:
    """The analysis day: ``as_of`` as a midnight Timestamp, default the last order's day.

    One rule for every analysis and both paths (the SQL path takes the last order day
    of the kept orders the same way).
    """
    if as_of is None:
        return orders["order_date"].max().normalize()
    return to_day(as_of, name)


def summary_as_of(summary: pd.DataFrame, as_of: object = None) -> pd.Timestamp | None:
    """The as-of day of a customer summary, read from its own columns.

    ``last_order + days_since_last_order`` is the same day for every customer of a
    :func:`customer_summary`; that day is returned. An explicit ``as_of`` is returned as
    given (checked against the columns when they exist). None when the summary has
    neither the columns nor an ``as_of``.

    >>> s = pd.DataFrame({"last_order": pd.to_datetime(["2024-01-20"]),
    ...                   "days_since_last_order": [11]})
    >>> summary_as_of(s).date()
    datetime.date(2024, 1, 31)
    """
    derived = None
    if {"last_order", "days_since_last_order"} <= set(summary.columns) and len(summary):
        days = summary["last_order"].to_numpy(dtype="datetime64[D]").astype(np.int64)
        day = days + summary["days_since_last_order"].to_numpy(dtype=np.int64)
        lo, hi = int(day.min()), int(day.max())
        if lo != hi:
            raise CrmDataError(
                "The summary's rows disagree on the as-of day (last_order + "
                f"days_since_last_order gives days from {lo} to {hi}). Build it with one "
                "call of customer_summary(orders, as_of=...), or pass as_of explicitly."
            )
        derived = pd.Timestamp(dates_from_days([lo])[0])
    if as_of is None:
        return derived
    given = to_day(as_of, "as_of")
    if derived is not None and given != derived:
        raise CrmDataError(
            f"as_of={given.date()} disagrees with the summary, which was computed as of "
            f"{derived.date()}. Leave as_of out, or rebuild the summary with this as_of."
        )
    return given


def summary_time_unit(summary: pd.DataFrame, time_unit: str | None = None) -> str:
    """The unit of a summary's ``recency`` and ``T`` ("D" days or "W" weeks).

    Read from the summary's own columns: ``T`` times the unit's days equals the days
    from ``first_order`` to the as-of day (:func:`summary_as_of`). An explicit
    ``time_unit`` is checked against them; a summary without those columns (e.g. one
    made by another tool) needs ``time_unit``.

    >>> s = pd.DataFrame({"first_order": pd.to_datetime(["2024-01-03"]),
    ...     "last_order": pd.to_datetime(["2024-01-03"]), "days_since_last_order": [28],
    ...     "T": [4.0]})
    >>> summary_time_unit(s)
    'W'
    """
    if time_unit is not None:
        check_time_unit(time_unit)
    derived = None
    as_of = summary_as_of(summary) if "T" in summary.columns else None
    if as_of is not None and "first_order" in summary.columns:
        age = (day_number(as_of) - summary["first_order"].to_numpy(dtype="datetime64[D]")
               .astype(np.int64)).astype(float)
        T = summary["T"].to_numpy(dtype=float)
        for unit, days in TIME_UNIT_DAYS.items():
            if np.allclose(T * days, age, rtol=0, atol=1e-6):
                derived = unit
                break
    if time_unit is None:
        if derived is None:
            raise CrmDataError(
                "The summary does not say in which unit recency and T are (it has no "
                "first_order / last_order / days_since_last_order columns to tell). Pass "
                "time_unit='D' (days) or 'W' (weeks), or build it with customer_summary()."
            )
        return derived
    if derived is not None and derived != time_unit and not (T == 0).all():
        raise CrmDataError(
            f"time_unit={time_unit!r} disagrees with the summary, whose T is in "
            f"{'days' if derived == 'D' else 'weeks'} ({derived!r}). Leave time_unit out."
        )
    return time_unit


def orders_until(prepared: PreparedOrders, as_of_day: int) -> np.ndarray:
    """Mask of the orders on or before day number ``as_of_day``; raises when none is.

    One rule for the summary, the cohorts and every per-customer step: orders after the
    as-of day are left out, and an as-of day before the first order is an error.
    """
    keep = prepared.days <= as_of_day
    if not keep.any():
        first = prepared.orders["order_date"].min().date()
        day = dates_from_days([as_of_day])[0].astype("datetime64[D]")
        raise CrmDataError(
            f"No order is on or before as_of={day} (first order {first}). Use a later as_of."
        )
    return keep


def occasion_keys(codes: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Distinct ``(customer code, day)`` purchase occasions as sorted integer keys.

    Returns ``(keys, day0, span)`` with ``key = code * span + (day - day0)``, so keys
    sort by customer then day. Sort-based (hash tables are slower at millions of
    rows); the key is int32 whenever customers x days fit, which halves the sort time.
    """
    day0 = int(days.min())
    span = int(days.max()) - day0 + 1
    key = codes.astype(np.int64) * span + (days - day0)
    if (int(codes.max()) + 1) * span < np.iinfo(np.int32).max:
        key = key.astype(np.int32)
    key.sort()
    new = np.empty(len(key), dtype=bool)
    new[:1] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    return key[new], day0, span


def purchase_occasions(prepared: PreparedOrders) -> tuple[np.ndarray, int, int]:
    """:func:`occasion_keys` of every order of ``prepared``, computed once per object."""
    return prepared.derived(("occasion_keys",),
                            lambda: occasion_keys(prepared.codes, prepared.days))


def _summarise(
    codes: np.ndarray,
    n_customers: int,
    days: np.ndarray,
    amount: np.ndarray,
    margin: np.ndarray | None,
    as_of_day: int,
    occasions: tuple[np.ndarray, int, int],
) -> dict[str, np.ndarray]:
    """Per-customer columns, ``recency`` and ``T`` in days."""
    first_day = np.full(n_customers, np.iinfo(np.int64).max)
    np.minimum.at(first_day, codes, days)
    last_day = np.full(n_customers, np.iinfo(np.int64).min)
    np.maximum.at(last_day, codes, days)
    keys, _, span = occasions
    frequency = np.bincount(keys // span, minlength=n_customers) - 1
    repeat = days != first_day[codes]  # orders on a later day than the first order day
    repeat_total = np.bincount(codes[repeat], weights=amount[repeat], minlength=n_customers)
    monetary = np.where(frequency > 0, repeat_total / np.maximum(frequency, 1), 0.0)
    n_orders = np.bincount(codes, minlength=n_customers)
    total_amount = np.bincount(codes, weights=amount, minlength=n_customers)
    cols = {
        "first_order": dates_from_days(first_day),
        "last_order": dates_from_days(last_day),
        "n_orders": n_orders.astype(np.int64),
        "frequency": frequency.astype(np.int64),
        "recency": (last_day - first_day).astype(float),
        "T": (as_of_day - first_day).astype(float),
        "monetary_value": monetary,
        "total_amount": total_amount,
        "avg_order_value": total_amount / n_orders,
    }
    if margin is not None:
        cols["total_margin"] = np.bincount(codes, weights=margin, minlength=n_customers)
    cols["days_since_last_order"] = (as_of_day - last_day).astype(np.int64)
    return cols


def _as_text(uniques: pd.Index) -> np.ndarray | pd.Index:
    """Customer ids as text, without a per-element conversion when already strings."""
    if pd.api.types.is_string_dtype(uniques.dtype) and not pd.api.types.is_object_dtype(
        uniques.dtype
    ):
        return uniques
    return np.asarray(uniques, dtype=object).astype(str)


def customer_summary(
    orders: pd.DataFrame | PreparedOrders | object,
    *,
    as_of: object = None,
    time_unit: str = "D",
    output: str = "pandas",
) -> pd.DataFrame:
    """One row per customer: first/last order, RFM in the BG/NBD convention, totals.

    Parameters
    ----------
    orders : pandas.DataFrame, PreparedOrders or engine source
        Canonical orders (validated here; not modified), the result of
        :func:`~crm_analytics.prepare_orders`, or an engine source: a Parquet path / glob
        / list of paths, a DuckDB relation, a PySpark DataFrame or
        :func:`~crm_analytics.engine_source` (then the summary is computed in SQL).
    as_of : date-like, optional
        End of the observation period (a day, included whole). Defaults to the last
        order date. Orders after it are excluded.
    time_unit : {"D", "W"}, default "D"
        Unit of ``recency`` and ``T``: days, or weeks (days / 7, as in the BG/NBD
        paper). Purchase occasions are always calendar days.
    output : {"pandas", "native"}, default "pandas"
        For engine sources, ``"native"`` returns the engine's own lazy table (a DuckDB
        relation or Spark DataFrame, dates as timestamps) instead of collecting it.

    Returns
    -------
    pandas.DataFrame
        Columns ``customer_id, first_order, last_order, n_orders, frequency, recency,
        T, monetary_value, total_amount, avg_order_value, total_margin`` (when orders
        have a margin) ``, days_since_last_order``, sorted by ``customer_id``. The unit
        and the as-of day can be read back from these columns
        (:func:`summary_time_unit`, :func:`summary_as_of`).

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
    ...     "order_id": ["1", "2", "3", "4"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-11",
    ...                                   "2024-01-05"]),
    ...     "amount": [10.0, 5.0, 30.0, 8.0]})
    >>> s = customer_summary(orders, as_of="2024-01-31")
    >>> s[["customer_id", "n_orders", "frequency", "recency", "T", "monetary_value"]]
      customer_id  n_orders  frequency  recency     T  monetary_value
    0           a         3          1     10.0  30.0            30.0
    1           b         1          0      0.0  26.0             0.0
    """
    if is_engine_source(orders):  # Parquet path, DuckDB relation, Spark frame
        return summary_on_engine(runner_for(orders), as_of=as_of, time_unit=time_unit,
                                 output=output)
    if output != "pandas":
        raise CrmDataError(
            f"output={output!r} is only for engine sources (Parquet, DuckDB, Spark); pandas "
            "orders give a pandas DataFrame. Leave output out."
        )
    unit_days = check_time_unit(time_unit)
    prepared = prepare_orders(orders)
    orders = prepared.orders
    as_of_ts = resolve_as_of(orders, as_of)
    days = prepared.days
    as_of_day = day_number(as_of_ts)
    keep = orders_until(prepared, as_of_day)
    amount = orders["amount"].to_numpy(dtype=float)
    margin = orders["margin"].to_numpy(dtype=float) if "margin" in orders.columns else None
    if keep.all():
        codes, uniques = prepared.customer_codes()
        # with prepared orders, shared with the other steps (and the other time unit)
        cols = prepared.derived(("summary", as_of_day), lambda: _summarise(
            codes, len(uniques), days, amount, margin, as_of_day,
            purchase_occasions(prepared)))
    else:  # filter only the arrays needed, not the whole frame
        codes, uniques = prepared.customer_codes(keep)
        days, amount = days[keep], amount[keep]
        margin = None if margin is None else margin[keep]
        cols = _summarise(codes, len(uniques), days, amount, margin, as_of_day,
                          occasion_keys(codes, days))
    cols = {**cols, "recency": cols["recency"] / unit_days, "T": cols["T"] / unit_days}
    result = pd.DataFrame({"customer_id": _as_text(uniques), **cols})
    return result


def calibration_holdout_split(
    orders: pd.DataFrame,
    *,
    calibration_end: object,
    holdout_end: object = None,
    time_unit: str = "D",
) -> pd.DataFrame:
    """Calibration-period summary with the holdout period's outcomes per customer.

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical orders. Not modified.
    calibration_end : date-like
        Last day of the calibration period (included).
    holdout_end : date-like, optional
        Last day of the holdout period (included); defaults to the last order date.
    time_unit : {"D", "W"}, default "D"
        Unit of ``recency``, ``T`` and ``duration_holdout``.

    Returns
    -------
    pandas.DataFrame
        The :func:`customer_summary` of orders up to ``calibration_end`` (customers
        whose first order is later are not in it: a model calibrated to that day
        cannot score them) plus ``frequency_holdout`` (purchase occasions
        in the holdout), ``monetary_value_holdout`` (mean occasion value there, 0 when
        none) and ``duration_holdout`` (holdout length in ``time_unit``).

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "a"], "order_id": ["1", "2", "3"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-10", "2024-02-10"]),
    ...     "amount": [10.0, 20.0, 30.0]})
    >>> split = calibration_holdout_split(orders, calibration_end="2024-01-31",
    ...                                   holdout_end="2024-02-29")
    >>> split[["frequency", "frequency_holdout", "monetary_value_holdout", "duration_holdout"]]
       frequency  frequency_holdout  monetary_value_holdout  duration_holdout
    0          1                  1                    30.0              29.0
    """
    unit_days = check_time_unit(time_unit)
    orders = prepare_orders(orders).orders
    cal_end = to_day(calibration_end, "calibration_end")
    hold_end = resolve_as_of(orders, holdout_end, "holdout_end")
    if hold_end <= cal_end:
        raise CrmDataError(
            f"holdout_end ({hold_end.date()}) must be after calibration_end "
            f"({cal_end.date()})."
        )
    summary = customer_summary(orders, as_of=cal_end, time_unit=time_unit)
    day = orders["order_date"].dt.normalize()
    in_holdout = (day > cal_end) & (day <= hold_end)
    hold = orders.loc[in_holdout, ["customer_id", "amount"]].assign(day=day[in_holdout])
    occ = hold.groupby(["customer_id", "day"], sort=False)["amount"].sum()
    per_customer = occ.groupby(level="customer_id").agg(["size", "mean"])
    idx = pd.Index(summary["customer_id"])
    result = summary.copy()
    result["frequency_holdout"] = (
        per_customer["size"].reindex(idx).fillna(0).to_numpy(dtype=np.int64)
    )
    result["monetary_value_holdout"] = (
        per_customer["mean"].reindex(idx).fillna(0.0).to_numpy(dtype=float)
    )
    result["duration_holdout"] = (hold_end - cal_end).days / unit_days
    return result
