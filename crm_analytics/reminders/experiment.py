"""Testing reminder timings: which arm (2 h, 24 h, none ...) gets more orders paid.

The statistics are those of campaign lift (:mod:`crm_analytics.campaigns.stats`): Welch
intervals and tests on per-order outcomes, Holm adjustment across the pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from crm_analytics._core.checks import format_examples, require_columns, require_dataframe
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source
from crm_analytics.campaigns.stats import LiftStatistics, adjust_p_values, lift_statistics
from crm_analytics.reminders.payments import (
    _as_of_ns,
    _payment_frame,
    delay_minutes,
    payment_state,
)
from crm_analytics.reminders.rules import parse_duration
from crm_analytics.reminders.sql import NAT, NS_PER_MIN

__all__ = ["CONTROL_ARMS", "ReminderTest", "reminder_test"]

#: Arm names taken as the no-reminder arm when ``control`` is not given.
CONTROL_ARMS = ("none", "control", "no_reminder", "holdout")


@dataclass(frozen=True, eq=False)
class ReminderTest:
    """Result of :func:`reminder_test`.

    Attributes
    ----------
    window : str
        Outcome: paid within this long after creation.
    control : str
        The no-reminder arm.
    confidence_level : float
    arms : pandas.DataFrame
        One row per arm: ``arm``, ``orders``, ``paid``, ``payment_rate`` (paid within
        the window) with ``ci_low`` / ``ci_high`` (t interval of the mean),
        ``reminder_after_minutes`` (from the arm's name, e.g. ``"2h"``; NaN when it is
        not a duration), ``reminders`` (orders still unpaid at the reminder moment, all
        of the arm when the moment is unknown, 0 for the control), ``revenue`` (paid
        within the window), ``lift`` (payment rate minus the control's),
        ``revenue_per_1000_reminders`` with ``revenue_ci_low`` / ``revenue_ci_high``:
        extra revenue over the control per 1,000 reminders sent.
    pairs : pandas.DataFrame
        Every pair of arms: ``arm``, ``versus``, ``difference`` (payment rate),
        ``ci_low``, ``ci_high``, ``p_value``, ``p_value_holm``.
    n_not_found, n_incomplete, n_paid_before_created : int
        Orders left out: assigned but not in the orders; whose window has not ended by the data's last time; with a payment before their
        creation.
    notes : tuple of str
    """

    window: str
    control: str
    confidence_level: float
    arms: pd.DataFrame
    pairs: pd.DataFrame
    n_not_found: int = 0
    n_incomplete: int = 0
    n_paid_before_created: int = 0
    notes: tuple[str, ...] = ()

    def best_arm(self) -> str:
        """The arm with the highest payment rate among those paid significantly more
        often than the control (Holm-adjusted, at ``1 - confidence_level``); the
        control when no arm is. Check :attr:`pairs` before preferring it to a close
        second."""
        alpha = 1 - self.confidence_level
        p = self.pairs
        winners = []
        for arm in self.arms["arm"]:
            mine = p[((p["arm"] == arm) & (p["versus"] == self.control))
                     | ((p["arm"] == self.control) & (p["versus"] == arm))]
            if mine.empty:
                continue
            sign = 1.0 if mine["arm"].iloc[0] == arm else -1.0
            if sign * mine["difference"].iloc[0] > 0 and mine["p_value_holm"].iloc[0] < alpha:
                winners.append(arm)
        if not winners:
            return self.control
        rates = self.arms.set_index("arm")["payment_rate"]
        return str(rates[winners].idxmax())


def _mean_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """t interval of a mean: the Welch interval against a constant 0 (no variance)."""
    n = len(values)
    if n < 2:
        return np.nan, np.nan
    st = LiftStatistics(n, n, float(values.mean()), 0.0, float(values.var(ddof=1)), 0.0,
                        level)
    return tuple(st.absolute_ci)


def reminder_test(orders: object, assignments: pd.DataFrame, *, window: str = "72h",
                  control: str | None = None, group_col: str = "group",
                  confidence_level: float = 0.95) -> ReminderTest:
    """Compare reminder timings tested at random: payment rate and revenue per arm.

    Each order of the test was assigned an arm at random when it was created (e.g.
    with :func:`~crm_analytics.assign_holdout` and ``arms={"2h": 0.4, "24h": 0.4,
    "none": 0.2}``); a reminder went out at the arm's delay if the order was still
    unpaid. The outcome of an order is whether it was paid within ``window`` of its
    creation, and the revenue that brought (its amount). Orders whose window has not
    ended by the last time in the data are left out.

    Parameters
    ----------
    orders : pandas.DataFrame
        Every created order (``read_orders(path, include_unpaid=True)``) with
        ``order_id``, ``amount``, ``created_at`` and ``paid_at``.
    assignments : pandas.DataFrame
        ``order_id`` and ``group_col`` (the arm) of every order in the test.
    window : str, default "72h"
    control : str, optional
        The no-reminder arm (default: the arm called ``none``, ``control``,
        ``no_reminder`` or ``holdout``). Arms named as a duration (``"2h"``) say when
        their reminder went out; it counts the reminders actually sent.
    group_col : str, default "group"
    confidence_level : float, default 0.95

    Returns
    -------
    ReminderTest
        ``.arms`` (rate with interval, reminders, revenue per 1,000 reminders) and
        ``.pairs`` (differences, Holm-adjusted p-values).

    Raises
    ------
    CrmDataError
        Missing columns, repeated order ids in ``assignments``, fewer than two arms,
        no control arm, an arm with fewer than two orders.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> created = pd.Timestamp("2025-03-01") + pd.to_timedelta(np.arange(300), "h")
    >>> paid = [c + pd.Timedelta(hours=3) if i % 3 != 2 or i % 2 else pd.NaT
    ...         for i, c in enumerate(created)]
    >>> orders = pd.DataFrame({"order_id": [str(i) for i in range(300)],
    ...     "amount": 100.0, "created_at": created, "paid_at": paid})
    >>> arms = pd.DataFrame({"order_id": orders["order_id"],
    ...     "group": np.where(np.arange(300) % 2, "2h", "none")})
    >>> res = reminder_test(orders.iloc[:250], arms.iloc[:250])
    >>> res.arms[["arm", "orders", "payment_rate", "reminders"]].round(3)
        arm  orders  payment_rate  reminders
    0    2h      90          1.00         90
    1  none      91          0.67          0
    """
    if is_engine_source(orders):
        raise CrmDataError(
            "reminder_test is not available for Parquet/DuckDB/Spark sources; select the "
            "orders of the test into a pandas DataFrame first."
        )
    frame = _payment_frame(orders, "reminder_test",
                           ("order_id", "amount", "created_at", "paid_at"))
    assignments = require_dataframe(assignments, "assignments")
    require_columns(assignments, ["order_id", group_col], "the assignments")
    window_min = parse_duration(window, "window")
    ids = assignments["order_id"].astype(str)
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise CrmDataError(
            f"Column 'order_id' of the assignments repeats {int(dup.sum())} rows "
            f"({format_examples(ids[dup])}). Each order of the test is in one arm."
        )
    arm_of = pd.Series(assignments[group_col].astype(str).to_numpy(), index=ids.to_numpy())
    names = sorted(arm_of.unique())
    if len(names) < 2:
        raise CrmDataError(f"The assignments hold {len(names)} arm ({names}); a test needs "
                           "at least two.")
    if control is None:
        found = [a for a in CONTROL_ARMS if a in names]
        if not found:
            raise CrmDataError(
                f"No arm is called {list(CONTROL_ARMS)}; pass control='<the no-reminder "
                f"arm>' (arms: {names})."
            )
        control = found[0]
    elif control not in names:
        raise CrmDataError(f"The control arm {control!r} is not among the arms {names}.")
    state = payment_state(frame)
    as_of_ns = _as_of_ns(None, state)
    order_ids = frame["order_id"].astype(str)
    in_test = order_ids.isin(arm_of.index).to_numpy()
    bad = state["paid_before_created"]
    complete = state["created"] <= as_of_ns - int(round(window_min * NS_PER_MIN))
    use = in_test & state["has_created"] & ~bad & complete
    n_not_found = int(len(arm_of) - in_test.sum())
    n_incomplete = int((in_test & state["has_created"] & ~bad & ~complete).sum())
    n_bad = int((in_test & bad).sum())
    arm = arm_of.reindex(order_ids[use]).to_numpy()
    delay = np.where(state["has_paid"][use],
                     delay_minutes(state["created"][use], state["paid"][use]), np.inf)
    delay[state["paid"][use] == NAT] = np.inf
    paid = delay <= window_min
    amount = pd.to_numeric(frame["amount"], errors="coerce").to_numpy(dtype=float)[use]
    revenue = np.where(paid, np.nan_to_num(amount), 0.0)
    y = {a: paid[arm == a].astype(float) for a in names}
    small = [a for a in names if len(y[a]) < 2]
    if small:
        raise CrmDataError(
            f"Arm(s) {small} have fewer than 2 complete orders; the test cannot compare "
            "them yet (wait until their window ends, or check the assignments)."
        )
    rev = {a: revenue[arm == a] for a in names}
    rows = []
    for a in names:
        lo, hi = _mean_interval(y[a], confidence_level)
        try:
            after = parse_duration(a, "arm") if a != control else np.nan
        except CrmDataError:
            after = np.nan
        d = delay[arm == a]
        sent = 0 if a == control else int((d > after).sum()) if np.isfinite(after) \
            else len(d)
        row = {"arm": a, "orders": len(y[a]), "paid": int(y[a].sum()),
               "payment_rate": float(y[a].mean()), "ci_low": lo, "ci_high": hi,
               "reminder_after_minutes": after, "reminders": sent,
               "revenue": float(rev[a].sum())}
        if a == control:
            row.update(lift=0.0, revenue_per_1000_reminders=np.nan, revenue_ci_low=np.nan,
                       revenue_ci_high=np.nan)
        else:
            st = lift_statistics(y[a], y[control], confidence_level=confidence_level)
            rs = lift_statistics(rev[a], rev[control], confidence_level=confidence_level)
            scale = len(y[a]) / sent * 1000 if sent else np.nan
            rci = rs.absolute_ci
            row.update(lift=st.absolute_lift,
                       revenue_per_1000_reminders=rs.absolute_lift * scale,
                       revenue_ci_low=rci.low * scale, revenue_ci_high=rci.high * scale)
        rows.append(row)
    pair_rows = []
    for a, b in combinations(names, 2):
        st = lift_statistics(y[a], y[b], confidence_level=confidence_level)
        ci = st.absolute_ci
        pair_rows.append({"arm": a, "versus": b, "difference": st.absolute_lift,
                          "ci_low": ci.low, "ci_high": ci.high, "p_value": st.p_value})
    pairs = pd.DataFrame(pair_rows)
    pairs["p_value_holm"] = adjust_p_values(pairs["p_value"].to_numpy(), "holm")
    notes = []
    if n_not_found:
        notes.append(f"{n_not_found:,} assigned orders are not in the orders: left out.")
    if n_incomplete:
        notes.append(f"{n_incomplete:,} orders of the test were created less than {window} "
                     "before the last time in the data: left out (their window is open).")
    if n_bad:
        notes.append(f"{n_bad:,} orders of the test have a payment time before their "
                     "creation time: left out.")
    return ReminderTest(window=str(window), control=control,
                        confidence_level=confidence_level, arms=pd.DataFrame(rows),
                        pairs=pairs, n_not_found=n_not_found, n_incomplete=n_incomplete,
                        n_paid_before_created=n_bad, notes=tuple(notes))
