"""The next campaign's send list: members worth more with the message than without it.

:func:`send_list` scores every member on the send day with a fitted
:class:`~crm_analytics.uplift.UpliftModel`, subtracts what contacting them costs
(``cost_per_contact``, plus ``coupon_cost`` times the chance they order and redeem it),
keeps those whose expected incremental margin stays positive, highest first, within the
budget, and holds a random share of the chosen audience out (assigned like
:func:`~crm_analytics.campaigns.assign_holdout`), so the campaign measures itself.

When the model's ranking cannot be told apart from random targeting (its Qini interval
includes 0), the list does not pretend to target: it warns, gives every member the
campaign-average effect and fills the budget by the simple rule (most recent buyers
first), holdout kept.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics._core.checks import check_fraction, check_positive
from crm_analytics._core.dates import day_number
from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.frames import write_excel_csv
from crm_analytics.backends import is_engine_source
from crm_analytics.campaigns.holdout import assign_holdout
from crm_analytics.orders.encode import PreparedOrders, prepare_orders
from crm_analytics.summary import resolve_as_of
from crm_analytics.uplift.fit import UpliftModel, order_history

__all__ = ["SendList", "UpliftNotDistinguishableWarning", "send_list"]


class UpliftNotDistinguishableWarning(UserWarning):
    """The uplift ranking is no better than random: the list falls back to a simple rule."""


@dataclass(frozen=True, eq=False)
class SendList:
    """A budgeted send list with its own holdout (:func:`send_list`).

    It reads like its :attr:`table`: ``result["group"]``, ``result.head()``,
    ``result.shape``, ``len(result)``, ``result.columns`` and any other DataFrame
    attribute are the table's; the totals below are its own.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per selected member, best first: ``customer_id``,
        ``expected_incremental_margin`` (after costs, per member), ``uplift`` (before
        costs), ``contact_cost`` and ``group`` (``treatment``: send; ``control``: hold
        out, do not send).
    total_expected_incremental_margin : float
        Expected total over the treatment group, after costs.
    interval : tuple of float
        Its interval: from the model's out-of-fold calibration when targeted, from the
        campaigns' average effect and its confidence interval otherwise.
    cost : float
        Expected contact and coupon cost of the treatment group.
    roi : float
        ``total_expected_incremental_margin / cost``; ``roi_interval`` its interval.
    targeted : bool
        False when the simple-rule fallback was used.
    notes : list of str
    """

    table: pd.DataFrame
    total_expected_incremental_margin: float
    interval: tuple[float, float]
    cost: float
    roi: float
    roi_interval: tuple[float, float]
    targeted: bool
    notes: list[str]

    def __getitem__(self, key):
        return self.table[key]

    def __len__(self) -> int:
        return len(self.table)

    def __iter__(self):
        return iter(self.table)

    def __getattr__(self, name: str):
        if name.startswith("__") or name == "table":
            raise AttributeError(name)
        return getattr(self.table, name)

    def __repr__(self) -> str:
        return f"{self.summary()}\n{self.table.head(10)!r}"

    def _repr_html_(self) -> str:
        text = self.summary().replace("&", "&amp;").replace("<", "&lt;")
        return f"<pre>{text}</pre>" + self.table.head(10).to_html()

    def summary(self) -> str:
        """What the list is expected to earn and how it was chosen."""
        n_t = int((self.table["group"] == "treatment").sum())
        lo, hi = self.interval
        how = "ranked by predicted uplift" if self.targeted else "simple rule (see notes)"
        lines = [
            f"{len(self.table):,} members selected ({how}): {n_t:,} to contact, "
            f"{len(self.table) - n_t:,} held out to measure the campaign.",
            "Expected incremental margin after costs: "
            f"{self.total_expected_incremental_margin:,.0f}"
            + (f" (interval {lo:,.0f} to {hi:,.0f})" if np.isfinite([lo, hi]).all() else "")
            + f"; cost {self.cost:,.0f}; ROI {self.roi:.2f}.",
            *self.notes,
        ]
        return "\n".join(lines)

    def to_csv(self, path, **options) -> None:
        """Write the list as an Excel-safe CSV (UTF-8 with BOM)."""
        from pathlib import Path

        write_excel_csv(self.table, Path(path), **options)


def _within_budget(ids: np.ndarray, order: np.ndarray, net: np.ndarray, uplift: np.ndarray,
                   cost: np.ndarray, *, budget: float | None, max_contacts: int | None,
                   holdout: float, seed: int | str) -> pd.DataFrame:
    """The ranked candidates with their holdout group, cut where the contacted (treatment)
    members would exceed the budget or ``max_contacts``.

    The holdout is assigned before the cut (a hash of each id, so a member's group does
    not depend on the list's length), so the cut counts exactly the members who will be
    contacted.
    """
    n = len(order)
    # enough rows for the treatment share to reach the limits, with a margin; more if not
    need = n
    if budget is not None:
        need = min(need, int(np.searchsorted(np.cumsum(cost[order]), budget, side="right")))
    if max_contacts is not None:
        need = min(need, int(max_contacts))
    take = min(n, int(need / max(1 - holdout, 1e-9) * 1.2) + 100)
    while True:
        rows = order[:take]
        table = pd.DataFrame({
            "customer_id": ids[rows],
            "expected_incremental_margin": net[rows],
            "uplift": uplift[rows],
            "contact_cost": cost[rows],
        })
        table = assign_holdout(table, holdout=holdout, seed=seed)
        treated = (table["group"] == "treatment").to_numpy()
        keep = np.ones(len(table), dtype=bool)
        if budget is not None:
            keep &= np.cumsum(np.where(treated, table["contact_cost"], 0.0)) <= budget
        if max_contacts is not None:
            keep &= np.cumsum(treated) <= max_contacts
        last = int(np.argmin(keep)) if not keep.all() else len(keep)
        if last < len(keep) or take == n:
            return table.iloc[:last].reset_index(drop=True)
        take = n


def send_list(
    members: pd.DataFrame,
    uplift_model: UpliftModel,
    *,
    as_of: object,
    cost_per_contact: float,
    coupon_cost: float = 0.0,
    budget: float | None = None,
    max_contacts: int | None = None,
    holdout: float = 0.1,
    seed: int | str = 0,
    candidates: pd.Series | pd.DataFrame | None = None,
    orders: pd.DataFrame | None = None,
) -> SendList:
    """Pick the members whose expected incremental margin beats the cost of contacting them.

    Parameters
    ----------
    members : pandas.DataFrame or PreparedOrders
        Who may be contacted: a member table (a ``customer_id`` column, e.g.
        ``load_sample("members")``) together with ``orders=``, or the shop's orders
        themselves (then every customer with an order by ``as_of`` is a candidate).
        Not modified. Members without any order by ``as_of`` have no history to score
        and are left out (counted in the notes).
    uplift_model : UpliftModel
        From :func:`~crm_analytics.uplift.fit_uplift` (``metric="margin"`` for money;
        a revenue or conversion model ranks in its own unit).
    as_of : date-like
        The send day: histories include orders up to and including it.
    cost_per_contact : float
        Cost of one message.
    coupon_cost : float, default 0
        Cost of a redeemed coupon; charged with the chance the member orders in the
        window when treated.
    budget : float, optional
        Most to spend on contacts and coupons (treatment group).
    max_contacts : int, optional
        Most members to contact.
    holdout : float, default 0.1
        Share of the selected audience held out at random (not contacted).
    seed : int or str, default 0
        Seed of the holdout assignment (use a new one per campaign).
    candidates : pandas.Series or DataFrame, optional
        Ids (or a table with ``customer_id``) to choose from, when ``members`` are orders.
    orders : pandas.DataFrame or PreparedOrders, optional
        The order history, when ``members`` is a member table.

    Returns
    -------
    SendList

    Examples
    --------
    >>> from crm_analytics.orders.datasets import load_sample
    >>> from crm_analytics.uplift.fit import fit_uplift
    >>> orders = load_sample("orders")
    >>> model = fit_uplift(orders, load_sample("campaigns"), n_folds=2)
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     result = send_list(orders, model, as_of="2025-12-31", cost_per_contact=0.05,
    ...                        max_contacts=500, seed=1)
    >>> sorted(set(result["group"])), len(result) <= 500 / 0.9 + 1
    (['control', 'treatment'], True)
    """
    if not isinstance(uplift_model, UpliftModel):
        raise CrmDataError("uplift_model must be a fitted UpliftModel (fit_uplift).")
    if is_engine_source(members):
        raise CrmDataError(
            "send_list is not available for Parquet/DuckDB/Spark sources; read the "
            "members' orders into a DataFrame (read_orders) first."
        )
    check_positive(cost_per_contact, "cost_per_contact", allow_zero=True)
    check_positive(coupon_cost, "coupon_cost", allow_zero=True)
    check_fraction(holdout, "holdout")
    if budget is not None:
        check_positive(budget, "budget")
    if max_contacts is not None and not (isinstance(max_contacts, int | np.integer)
                                         and max_contacts >= 1):
        raise CrmDataError(f"max_contacts must be an int >= 1; got {max_contacts!r}.")
    is_orders = isinstance(members, PreparedOrders) or (
        isinstance(members, pd.DataFrame)
        and {"order_id", "order_date", "amount"} <= set(members.columns))
    if not is_orders:
        if orders is None:
            raise CrmDataError(
                "send_list scores members from their order history: pass the orders too, "
                "send_list(members, model, orders=orders, ...), or pass the orders as "
                "members (every customer with an order is then a candidate)."
            )
        if candidates is not None:
            raise CrmDataError("Give the members to choose from either as members= (with "
                               "orders=) or as candidates=, not both.")
        candidates = members
        members = orders
    elif orders is not None:
        raise CrmDataError("members are already orders; leave out orders= (or pass a member "
                           "table as members).")
    prepared = prepare_orders(members)
    as_of_ts = resolve_as_of(prepared.orders, as_of)
    day = day_number(as_of_ts) + 1  # orders on the send day are history
    history = order_history(prepared, uplift_model.margin_rate)
    ids = np.asarray(prepared.customer_ids, dtype=object)
    first = history.day[np.minimum(history.first_pos, len(history.day) - 1)] \
        + history.day_offset
    ids = ids[first < day]
    if candidates is not None:
        wanted = candidates["customer_id"] if isinstance(candidates, pd.DataFrame) \
            else candidates
        wanted_ids = pd.Index(pd.Series(wanted).astype(str).str.strip())
        missing = int((~wanted_ids.isin(ids)).sum())
        ids = ids[pd.Index(ids).isin(wanted_ids)]
    x = uplift_model.features(history, ids, day)
    notes: list[str] = []
    if candidates is not None and missing:
        notes.append(f"{missing} candidate ids have no order by the send day and are "
                     "left out (no history to score).")
    targeted = uplift_model.qini.distinguishable
    if targeted:
        uplift = uplift_model.predict(x)
    else:
        warnings.warn(
            "The uplift model's ranking is not distinguishable from random targeting "
            f"({uplift_model.qini.summary()}) Sending by the simple rule instead: every "
            "member gets the campaign-average effect, most recent buyers first, and the "
            "list keeps its holdout.",
            UpliftNotDistinguishableWarning, stacklevel=2,
        )
        notes.append("Not targeted: the model's Qini interval includes 0, so members are "
                     "taken most recent buyers first with the campaign-average effect.")
        uplift = np.full(len(ids), uplift_model.average_uplift)
    coupon = coupon_cost * uplift_model.p_order_if_treated(x) if coupon_cost else 0.0
    cost = cost_per_contact + coupon * np.ones(len(ids))
    net = uplift - cost
    # best expected margin after costs first; the simple rule: most recent buyers first
    rank = -net if targeted else x["recency_days"].to_numpy()
    order = np.lexsort((ids, rank))
    order = order[net[order] > 0]
    if len(order) == 0:
        raise CrmDataError(
            "No member has a positive expected incremental margin after the contact cost "
            f"({cost_per_contact}): the campaign is not expected to pay. Lower the cost, or "
            "check the model's metric (margin) and summary()."
        )
    table = _within_budget(ids, order, net, uplift, cost, budget=budget,
                           max_contacts=max_contacts, holdout=holdout, seed=seed)
    if len(table) == 0:
        raise CrmDataError(
            f"The budget ({budget}) does not cover one contact ({cost[order[0]]:.4g}). "
            "Raise the budget.")
    treat = (table["group"] == "treatment").to_numpy()
    total = float(table.loc[treat, "expected_incremental_margin"].sum())
    spend = float(table.loc[treat, "contact_cost"].sum())
    gross = float(table.loc[treat, "uplift"].sum())
    if targeted:
        c, c_lo, c_hi = uplift_model.calibration
        interval = (gross * c_lo - spend, gross * c_hi - spend)
    else:  # everyone carries the campaigns' average effect: its confidence interval
        c = 1.0
        n_t = int(treat.sum())
        lo, hi = uplift_model.average_uplift_ci
        interval = (n_t * lo - spend, n_t * hi - spend)
    roi = total / spend if spend > 0 else float("nan")
    roi_interval = tuple(v / spend if spend > 0 else float("nan") for v in interval)
    if targeted and np.isfinite(c) and abs(c - 1) > 0.25:
        notes.append(f"Out-of-fold, realised uplift was {c:.2f} x the predicted among "
                     "positively scored members; the interval uses that calibration.")
    return SendList(table, total, interval, spend, roi, roi_interval, targeted, notes)
