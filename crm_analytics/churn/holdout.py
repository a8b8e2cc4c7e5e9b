"""Calibration / holdout validation of the churn model (Fader, Hardie & Lee 2005, sec. 4).

Fit on the orders up to ``calibration_end``, predict each customer's repeat purchase
occasions in the holdout period, and compare with what happened: totals, means by
calibration frequency, per-customer error and a weekly cumulative tracking curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics._core.dates import day_number, to_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics.churn.model import MODELS, ChurnModel, fit_summary
from crm_analytics.churn.scores import scores_on_patterns
from crm_analytics.orders.encode import order_days, prepare_orders
from crm_analytics.summary import calibration_holdout_split, resolve_as_of

__all__ = ["HoldoutReport", "churn_holdout_report"]

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


def _new_in_holdout(prepared, calibration_end: pd.Timestamp,
                    holdout_end: pd.Timestamp) -> int:
    """Customers whose first order day is in the holdout period (not scored)."""
    codes, _ = prepared.customer_codes()
    first = pd.Series(prepared.days).groupby(codes).min().to_numpy()
    return int(((first > day_number(calibration_end))
                & (first <= day_number(holdout_end))).sum())


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
    orders : pandas.DataFrame or PreparedOrders
        Canonical orders (or :func:`~crm_analytics.prepare_orders` of them). Not
        modified.
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
    prepared = prepare_orders(orders)
    orders = prepared.orders
    split = calibration_holdout_split(prepared, calibration_end=calibration_end,
                                      holdout_end=holdout_end, time_unit=time_unit)
    cal_end = to_day(calibration_end, "calibration_end")
    hold_end = resolve_as_of(orders, holdout_end, "holdout_end")
    fitted = fit_summary(split, model=model, penalizer=penalizer, time_unit=time_unit)
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
        n_new_in_holdout=_new_in_holdout(prepared, cal_end, hold_end),
    )
