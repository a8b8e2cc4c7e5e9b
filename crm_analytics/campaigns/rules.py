"""Campaign rules both paths share: audience ids and the outcome windows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.checks import format_examples, require_columns
from crm_analytics._core.errors import CrmDataError
from crm_analytics.orders.validate import ids_as_text, null_ids

__all__ = ["check_windows", "member_ids"]


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
