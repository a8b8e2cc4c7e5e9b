"""The pre-sleep reminder list (沉睡前提醒名单)."""

from __future__ import annotations

import warnings

import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source
from crm_analytics.orders.encode import prepare_orders
from crm_analytics.sleeping.rules import check_sleep
from crm_analytics.summary import customer_summary, resolve_as_of

__all__ = ["reminder_list"]


def reminder_list(
    orders: pd.DataFrame,
    *,
    as_of: object = None,
    sleep_after: int = 90,
    remind_before: int = 10,
    on: object = None,
) -> pd.DataFrame:
    """Members who reach their reminder day on ``as_of`` (沉睡前提醒名单).

    The reminder day is when days since the last order reaches
    ``sleep_after - remind_before``; members who ordered since are not on the list.

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical orders (or a Parquet path, DuckDB relation or Spark DataFrame: the
        summary is then computed in the engine). Not modified. Orders after ``as_of``
        are ignored.
    as_of : date-like, optional
        The day the reminders go out. Default: the last order date.
    sleep_after, remind_before : int, default 90 and 10
    on : date-like, optional
        Deprecated spelling of ``as_of`` (the name every other analysis uses).

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (str), ``last_order, days_since_last_order, n_orders,
        total_amount, avg_order_value, sleep_date`` (the day they fall asleep without
        an order), ``segment`` (``"pre_sleep_reminder"``) and ``segment_name``,
        highest ``total_amount`` first: ready for
        :func:`crm_analytics.segments.export.export_segments` (UTF-8 with BOM for Excel).
        The table does not repeat ``as_of`` and the thresholds: they are the parameters.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "b"], "order_id": ["1", "2"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-02"]),
    ...     "amount": [80.0, 20.0]})
    >>> reminder_list(orders, as_of="2024-03-21")[["customer_id", "days_since_last_order"]]
      customer_id  days_since_last_order
    0           a                     80
    """
    if on is not None:
        if as_of is not None:
            raise CrmDataError("Pass as_of only ('on' is its deprecated spelling).")
        warnings.warn("reminder_list(on=...) is deprecated; use as_of=... (the same day).",
                      DeprecationWarning, stacklevel=2)
        as_of = on
    s, r = check_sleep(sleep_after, remind_before)
    if is_engine_source(orders):  # Parquet path, DuckDB relation, Spark frame
        summary = customer_summary(orders, as_of=as_of)  # the summary is made in the engine
    else:
        prepared = prepare_orders(orders)
        summary = customer_summary(prepared, as_of=resolve_as_of(prepared.orders, as_of))
    due = summary[summary["days_since_last_order"] == s - r]
    out = pd.DataFrame({c: due[c].array for c in (  # a new table: no settings carried
        "customer_id", "last_order", "days_since_last_order", "n_orders", "total_amount",
        "avg_order_value")})
    out["customer_id"] = out["customer_id"].astype(str)
    out["sleep_date"] = out["last_order"] + pd.Timedelta(days=s)
    out["segment"] = "pre_sleep_reminder"
    out["segment_name"] = "pre-sleep reminder / 沉睡前提醒"
    out = out.sort_values(["total_amount", "customer_id"], ascending=[False, True])
    out = out.reset_index(drop=True)
    return out
