"""Campaign rules both paths (pandas and SQL) share: audience ids, metrics, the outcome
windows and where margin comes from.

Each rule is written once here; :mod:`crm_analytics.campaigns.outcomes` applies it to
pandas orders with NumPy and :mod:`crm_analytics.campaigns.sql` generates its SQL form.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.checks import format_examples, require_columns
from crm_analytics._core.errors import CrmDataError
from crm_analytics.orders.validate import ids_as_text, null_ids

__all__ = [
    "METRICS",
    "MARGIN_SOURCES",
    "check_windows",
    "margin_source",
    "margin_sql",
    "margin_values",
    "member_ids",
    "outcome_windows",
]

#: Outcome metrics per audience member over the window.
METRICS = ("conversion", "orders", "revenue", "margin")

#: Where each order's margin comes from: its ``margin`` column; that column, with
#: ``amount * margin_rate`` where it is missing; ``amount * margin_rate`` alone.
MARGIN_SOURCES = ("margin", "margin_or_rate", "rate")


def member_ids(table: pd.DataFrame, what: str) -> np.ndarray:
    """Audience ids as str; raises on missing or duplicated ids."""
    require_columns(table, ["customer_id"], what)
    if len(table) == 0:
        raise CrmDataError(f"{what} is empty (0 rows). Pass at least one member per group.")
    nulls = null_ids(table["customer_id"])
    if nulls.any():
        raise CrmDataError(
            f"Column 'customer_id' of {what} is empty in {int(nulls.sum())} rows "
            f"({format_examples(table.loc[nulls, 'customer_id'])}). Remove those rows."
        )
    ids = ids_as_text(table["customer_id"], "customer_id")
    dup = ids.duplicated(keep=False)
    if dup.any():
        hint = ""
        if "campaign_id" in table.columns and table["campaign_id"].nunique() > 1:
            hint = (f" It holds {table['campaign_id'].nunique()} campaigns: select one, e.g. "
                    "table[table['campaign_id'] == '<id>'].")
        raise CrmDataError(
            f"Column 'customer_id' of {what} has {int(dup.sum())} rows sharing "
            f"{ids[dup].nunique()} ids ({format_examples(ids[dup])}). Each member must "
            f"appear once.{hint}"
        )
    return ids.to_numpy(dtype=object)


def check_windows(window_days: object, pre_days: object) -> int:
    """Check the campaign window and pre-period lengths; returns ``pre_days`` (default:
    the window's length)."""
    if not (isinstance(window_days, int | np.integer) and window_days >= 1):
        raise CrmDataError(f"The 'window_days' parameter must be an int >= 1. "
                           f"Got {window_days!r} instead.")
    pre_days = window_days if pre_days is None else pre_days
    if not (isinstance(pre_days, int | np.integer) and pre_days >= 1):
        raise CrmDataError(f"The 'pre_days' parameter must be an int >= 1. "
                           f"Got {pre_days!r} instead.")
    return int(pre_days)


def outcome_windows(window_days: int, pre_days: int) -> dict[str, tuple[int, int]]:
    """Column prefix -> half-open day range ``[lo, hi)`` relative to the start day.

    ``""``: the campaign window ``[0, window_days)``; ``"pre_"``: the pre-period
    ``[-pre_days, 0)``. Orders after ``as_of`` count in neither.

    Examples
    --------
    >>> outcome_windows(30, 90)
    {'': (0, 30), 'pre_': (-90, 0)}
    """
    return {"": (0, int(window_days)), "pre_": (-int(pre_days), 0)}


def margin_source(
    *, has_margin_column: bool, n_missing: int, margin_rate: float | None
) -> tuple[str | None, str | None]:
    """Where margin comes from (one of :data:`MARGIN_SOURCES`, None: unknown) and a note.

    ``n_missing`` counts the audience's orders (window and pre-period) whose ``margin``
    is missing.

    Examples
    --------
    >>> margin_source(has_margin_column=True, n_missing=0, margin_rate=None)
    ('margin', None)
    >>> margin_source(has_margin_column=True, n_missing=2, margin_rate=0.3)[0]
    'margin_or_rate'
    >>> margin_source(has_margin_column=False, n_missing=0, margin_rate=None)[0] is None
    True
    """
    if has_margin_column:
        if n_missing and margin_rate is not None:
            return "margin_or_rate", f"{n_missing} orders without margin use amount x margin_rate."
        if n_missing:
            return None, (f"{n_missing} of the audience's orders have no margin, so margin and "
                          "ROI are not computed; fill the margin column or pass margin_rate.")
        if margin_rate is not None:
            return "margin", "margin_rate is ignored: the orders have a margin column."
        return "margin", None
    if margin_rate is not None:
        return "rate", None
    return None, ("The orders have no margin column and margin_rate was not given, so "
                  "incremental margin and ROI are not computed.")


def margin_values(source: str | None, amount: np.ndarray, margin: np.ndarray | None,
                  margin_rate: float | None) -> np.ndarray:
    """Margin per order from ``source`` (NumPy form of :func:`margin_sql`); NaN if None."""
    if source == "margin":
        return margin
    if source == "margin_or_rate":
        return np.where(np.isnan(margin), amount * margin_rate, margin)
    if source == "rate":
        return amount * margin_rate
    return np.full(len(amount), np.nan)


def margin_sql(source: str, margin_rate: float | None) -> str:
    """SQL expression of an order's margin from ``source`` (see :func:`margin_values`).

    Examples
    --------
    >>> margin_sql("margin_or_rate", 0.3)
    'COALESCE(margin, amount * 0.3)'
    """
    rate = f"amount * {float(margin_rate or 0)!r}"
    return {"margin": "margin", "margin_or_rate": f"COALESCE(margin, {rate})",
            "rate": rate}[source]
