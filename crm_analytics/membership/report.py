"""The tables the HTML report shows for the lifecycle: one call, nothing drawn."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from crm_analytics.backends import is_engine_source
from crm_analytics.cohorts import repurchase_rate
from crm_analytics.membership.board import kpi_board
from crm_analytics.membership.stages import lifecycle, lifecycle_counts
from crm_analytics.orders.encode import prepare_orders

__all__ = ["LifecycleTables", "REPORT_DIMENSIONS", "report_tables"]

#: Dimensions the report cuts repurchase by, when the orders have the column.
REPORT_DIMENSIONS = ("first_channel", "first_category")


@dataclass(frozen=True, eq=False)
class LifecycleTables:
    """What the report shows: the KPI board, lifecycle counts, repurchase by dimension.

    Attributes
    ----------
    board : pandas.DataFrame
        :func:`~crm_analytics.membership.kpi_board` (with member columns when the
        member table was given).
    stage_counts : pandas.DataFrame
        :func:`~crm_analytics.membership.lifecycle_counts` of the monthly lifecycle
        (draw with :func:`crm_analytics.plots.lifecycle.plot_lifecycle`).
    repurchase : dict of str to pandas.DataFrame
        ``repurchase_rate(orders, by=...)`` per dimension of :data:`REPORT_DIMENSIONS`
        the orders have (``first_channel`` needs a ``channel`` column, ...; draw with
        :func:`crm_analytics.plots.lifecycle.plot_repurchase_by`).
    notes : list of str
        Sentences for the page (unknown levels, grouped levels, skipped dimensions).
    """

    board: pd.DataFrame
    stage_counts: pd.DataFrame
    repurchase: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def report_tables(orders, *, as_of: object = None, period: str = "M",
                  members: pd.DataFrame | None = None, sleep_after: int = 90,
                  lost_after: int = 365, min_size: int = 20) -> LifecycleTables:
    """The lifecycle tables of the report in one call.

    Parameters
    ----------
    orders : pandas.DataFrame, PreparedOrders or engine source
        Canonical orders (engine sources get the board and the stages; repurchase by
        dimension needs the orders in memory and is skipped with a note).
    as_of : date-like, optional
    period : {"Y", "Q", "M"}, default "M"
        Period of the KPI board (the lifecycle is monthly).
    members : pandas.DataFrame, optional
        The member table, for the board's member columns (in-memory orders only).
    sleep_after, lost_after, min_size
        As in :func:`~crm_analytics.membership.lifecycle` and
        :func:`~crm_analytics.cohorts.repurchase_rate`.

    Returns
    -------
    LifecycleTables

    Examples
    --------
    >>> import crm_analytics as ca
    >>> tables = report_tables(ca.load_sample(), period="Q")
    >>> list(tables.repurchase)
    ['first_channel', 'first_category']
    >>> tables.board["period"].dt.year.unique().tolist()
    [2024, 2025]
    """
    notes: list[str] = []
    engine = is_engine_source(orders)
    if not engine:
        orders = prepare_orders(orders)
    elif members is not None:
        notes.append("Member columns need the orders in memory; not shown.")
        members = None
    board = kpi_board(orders, as_of=as_of, period=period, members=members)
    stages = lifecycle(orders, as_of=as_of, freq="M", sleep_after=sleep_after,
                       lost_after=lost_after)
    repurchase = {}
    if engine:
        notes.append("Repurchase by first channel and category needs the orders in memory.")
    else:
        for by in REPORT_DIMENSIONS:
            column = by[len("first_"):]
            if column in orders.orders.columns:
                repurchase[by] = repurchase_rate(orders, as_of=as_of, by=by,
                                                 min_size=min_size)
            else:
                notes.append(f"No {column!r} column in the orders: no repurchase by {by}.")
    return LifecycleTables(board=board, stage_counts=lifecycle_counts(stages),
                           repurchase=repurchase, notes=notes)
