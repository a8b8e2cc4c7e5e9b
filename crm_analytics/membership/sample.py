"""The sample shop's member table and message log (also ``load_sample("members")``)."""

from __future__ import annotations

import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics.orders.datasets import load_sample

__all__ = ["LIFECYCLE_SAMPLE_TABLES", "load_lifecycle_sample"]

#: Table name -> date columns.
LIFECYCLE_SAMPLE_TABLES = {"members": ["join_date", "tier_since"], "messages": ["sent_at"]}


def load_lifecycle_sample(name: str) -> pd.DataFrame:
    """The sample shop's ``members`` table or ``messages`` log.

    Parameters
    ----------
    name : {"members", "messages"}
        ``members``: one row per tier a member held (``customer_id``, ``join_date``,
        ``member_tier``, ``tier_since``); ``messages``: one row per campaign message
        (``campaign_id``, ``channel``, ``customer_id``, ``group``, ``sent_at``,
        ``delivered``, ``opened``, ``clicked``, ``true_extra_order``).

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> load_lifecycle_sample("members").columns.tolist()
    ['customer_id', 'join_date', 'member_tier', 'tier_since']
    """
    if name not in LIFECYCLE_SAMPLE_TABLES:
        raise CrmDataError(
            f"The 'name' parameter must be one of {list(LIFECYCLE_SAMPLE_TABLES)}. "
            f"Got {name!r} instead."
        )
    return load_sample(name)
