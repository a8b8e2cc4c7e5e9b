"""The holdout (对照组) of a campaign: who is held out, and how large the holdout should be.

:func:`assign_holdout` splits an audience reproducibly (a hash of seed and id, so the
same split can be made in SQL); :func:`plan_holdout` and :func:`holdout_tradeoff` size
the holdout for the effect worth detecting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics._core.checks import (
    check_fraction,
    check_positive,
    require_columns,
    require_dataframe,
)
from crm_analytics._core.errors import CrmDataError
from crm_analytics.campaigns.rules import member_ids
from crm_analytics.campaigns.stats import scipy_stats

__all__ = ["HoldoutPlan", "assign_holdout", "hash_uniform", "holdout_tradeoff", "plan_holdout"]


def hash_uniform(keys: Sequence[str], seed: object) -> np.ndarray:
    """Uniform [0, 1) per key: first 8 bytes of sha256(f"{seed}:{key}"), big-endian."""
    raw = b"".join([hashlib.sha256(f"{seed}:{k}".encode()).digest()[:8] for k in keys])
    return (np.frombuffer(raw, dtype=">u8") >> np.uint64(11)).astype(np.float64) * 2.0**-53


def assign_holdout(
    customers: pd.DataFrame | pd.Series,
    *,
    holdout: float = 0.1,
    seed: int | str,
    strata: str | Sequence[str] | None = None,
    group_col: str = "group",
    arms: Mapping[str, float] | None = None,
    id_col: str = "customer_id",
) -> pd.DataFrame:
    """Split customers into ``treatment`` and a randomized ``control`` holdout, or into
    several ``arms`` with given shares.

    Each customer gets ``u = sha256(f"{seed}:{customer_id}")`` read as a number in
    [0, 1) (first 8 bytes, big-endian), so the split is reproducible anywhere (SQL
    included) and does not depend on row order.

    - Without ``strata``: control when ``u < holdout``. Re-running or adding customers
      never moves anyone; group sizes vary by sampling error around the plan.
    - With ``strata``: within each stratum the ``floor(holdout * n + v)`` customers
      with the lowest ``u`` are control (``v`` a hash of the stratum in [0, 1), so the
      expected count is exactly ``holdout * n``). Each stratum is balanced to within
      one member, at a price: adding a customer to a stratum can move at most one
      existing member of that stratum across the boundary. Assign once, at send time.

    With ``arms`` (name -> share, in the order given, shares adding up to 1) the same
    ``u`` is cut at the cumulative shares: the first arm takes ``u < share_1``, the
    second ``share_1 <= u < share_1 + share_2`` and so on (with ``strata``, the
    lowest-``u`` members of each stratum up to ``floor(cumulative share * n + v)``).
    ``arms={"control": h, "treatment": 1 - h}`` gives exactly the two-group split of
    ``holdout=h``.

    Parameters
    ----------
    customers : pandas.DataFrame or pandas.Series
        A table with a ``customer_id`` column (or a Series of ids). Not modified.
    holdout : float, default 0.1
        Planned control share (5-10% is typical).
    seed : int or str
        Use a new seed per campaign so the same members are not always held out.
    strata : str or list of str, optional
        Columns to balance the split within (e.g. ``"member_tier"``).
    group_col : str, default "group"
        Name of the added column.
    arms : mapping of str to float, optional
        Several arms and their shares, e.g. ``{"2h": 0.4, "24h": 0.4, "none": 0.2}``
        for a test of reminder timings; replaces ``holdout`` (leave it at its default).
        The ids can be any unit (see ``id_col``).
    id_col : str, default "customer_id"
        The column whose values are assigned (each must appear once), e.g.
        ``"order_id"`` for a payment-reminder test of unpaid orders.

    Returns
    -------
    pandas.DataFrame
        The customers, same rows, order and index, with ``group_col`` holding
        ``"treatment"`` or ``"control"`` (or the arm names).

    Raises
    ------
    CrmDataError
        Missing, empty or duplicated ids; a ``holdout`` outside (0, 1); unknown strata
        columns; ``group_col`` already present; arms with a share outside (0, 1], shares
        not adding up to 1, or ``arms`` given with a ``holdout``.

    Examples
    --------
    >>> import pandas as pd
    >>> members = pd.DataFrame({"customer_id": [f"c{i}" for i in range(1000)]})
    >>> split = assign_holdout(members, holdout=0.1, seed=7)
    >>> split["group"].value_counts().sort_index()  # about 10% control
    group
    control       86
    treatment    914
    Name: count, dtype: int64
    >>> tiers = members.assign(tier=["gold"] * 200 + ["silver"] * 800)
    >>> strat = assign_holdout(tiers, seed=7, strata="tier")
    >>> (strat["group"] == "control").groupby(strat["tier"]).sum()  # exactly 10% per tier
    tier
    gold      20
    silver    80
    Name: group, dtype: int64

    A payment-reminder test assigns orders, not customers (``id_col="order_id"``); the
    arms are in the order given:

    >>> three = assign_holdout(members, seed=7, arms={"2h": 0.4, "24h": 0.4, "none": 0.2})
    >>> three["group"].value_counts().sort_index()
    group
    24h     416
    2h      364
    none    220
    Name: count, dtype: int64
    """
    if isinstance(customers, pd.Series):
        customers = customers.rename(id_col).to_frame()
    require_dataframe(customers, "customers")
    if id_col != "customer_id":  # e.g. order_id: a payment-reminder test assigns orders
        require_columns(customers, [id_col], "the table to assign")
        ids_frame = customers[[id_col]].rename(columns={id_col: "customer_id"})
    else:
        ids_frame = customers
    check_fraction(holdout, "holdout")
    if group_col in customers.columns:
        raise CrmDataError(
            f"The customers table already has a {group_col!r} column. Drop it, or pass "
            "group_col='<new name>' to keep both."
        )
    names, cum = _arm_bounds(arms, holdout)
    ids = member_ids(ids_frame, "the customers table" if id_col == "customer_id"
                     else f"the table's {id_col!r} column")
    u = hash_uniform(ids, seed)
    if strata is None:
        arm = np.searchsorted(cum, u, side="right")
    else:
        cols = [strata] if isinstance(strata, str) else list(strata)
        require_columns(customers, cols, "the customers table (strata)")
        codes = customers.groupby(cols, dropna=False, sort=True).ngroup().to_numpy()
        first = np.unique(codes, return_index=True)[1]
        labels = customers[cols].iloc[first].astype(str).agg("\x1f".join, axis=1)
        v = hash_uniform([f"stratum\x1f{x}" for x in labels], seed)
        sizes = np.bincount(codes)
        # members of each stratum in arm < i: floor(cumulative share * n + v)
        bounds = np.floor(cum[None, :] * sizes[:, None] + v[:, None]).astype(np.int64)
        order = np.lexsort((u, codes))
        rank = np.empty(len(u), dtype=np.int64)
        rank[order] = np.arange(len(u)) - (np.cumsum(sizes) - sizes)[codes[order]]
        arm = (rank[:, None] >= bounds[codes]).sum(axis=1)
    out = customers.copy()
    out[group_col] = np.asarray(names, dtype=object)[np.minimum(arm, len(names) - 1)]
    return out


def _arm_bounds(arms: Mapping[str, float] | None, holdout: float
                ) -> tuple[list[str], np.ndarray]:
    """Arm names and the cumulative shares that end each arm but the last."""
    if arms is None:
        return ["control", "treatment"], np.array([holdout])
    if holdout != 0.1:
        raise CrmDataError("Give either 'holdout' (two groups) or 'arms' (several), not both.")
    if not isinstance(arms, Mapping) or len(arms) < 2:
        raise CrmDataError(
            "The 'arms' parameter must map at least two arm names to their shares, e.g. "
            f"{{'2h': 0.4, '24h': 0.4, 'none': 0.2}}. Got {arms!r} instead."
        )
    shares = np.array([float(x) for x in arms.values()])
    if not ((shares > 0) & (shares <= 1)).all() or not np.isclose(shares.sum(), 1.0):
        raise CrmDataError(
            f"The shares of 'arms' must each be in (0, 1] and add up to 1. Got {dict(arms)}."
        )
    return [str(a) for a in arms], np.cumsum(shares)[:-1]


# ---------------------------------------------------------------------- planning
@dataclass(frozen=True, eq=False)
class HoldoutPlan:
    """Result of :func:`plan_holdout`: a holdout share and the effect it can detect.

    Attributes
    ----------
    audience_size, n_treatment, n_control : int
    holdout : float
        Control share.
    mde : float
        Minimum detectable absolute effect per member.
    relative_mde : float
        ``mde / baseline_mean``.
    baseline_mean, baseline_sd, power, alpha, variance_reduction, metric
        The settings used.
    feasible : bool
        False when no split of this audience detects the requested effect; then
        ``holdout`` is 0.5 (the most sensitive split) and ``mde`` what it detects.
    """

    audience_size: int
    holdout: float
    n_treatment: int
    n_control: int
    mde: float
    relative_mde: float
    baseline_mean: float
    baseline_sd: float
    power: float
    alpha: float
    variance_reduction: float
    metric: str
    feasible: bool = True

    def summary(self) -> str:
        """The plan in plain words."""
        if self.metric == "conversion":
            effect = f"{self.mde * 100:.3g} percentage points"
            base = f"{self.baseline_mean:.1%}"
        else:
            effect = f"{self.mde:.3g} in {self.metric} per member"
            base = f"{self.baseline_mean:.3g}"
        text = (
            f"With {self.audience_size:,} members and a {self.holdout:.1%} holdout "
            f"({self.n_control:,} control, {self.n_treatment:,} treated), a lift of "
            f"{effect} ({self.relative_mde:+.1%} on a baseline of {base}) is detected "
            f"with {self.power:.0%} power at a {self.alpha:.0%} two-sided significance level."
        )
        if not self.feasible:
            text += " Even a 50/50 split cannot detect the requested effect: it is too small."
        return text


def _effect_sd(
    metric: str, baseline_mean: float, baseline_sd: float | None, variance_reduction: float
) -> tuple[float, float]:
    """The per-member standard deviation, raw and after the CUPED reduction."""
    if baseline_sd is None:
        if metric != "conversion":
            raise CrmDataError(
                "baseline_sd is needed for metric "
                f"{metric!r} (only conversion derives it from the baseline rate). Use the "
                "control group's standard deviation of a past campaign (LiftResult.sd_control)."
            )
        if not 0 < baseline_mean < 1:
            raise CrmDataError(
                f"For metric='conversion' baseline_mean is a rate in (0, 1). Got {baseline_mean!r}."
            )
        baseline_sd = float(np.sqrt(baseline_mean * (1 - baseline_mean)))
    check_positive(baseline_sd, "baseline_sd")
    if not 0 <= variance_reduction < 1:
        raise CrmDataError(
            f"The 'variance_reduction' parameter must be in [0, 1). Got {variance_reduction!r}."
        )
    return float(baseline_sd), float(baseline_sd * np.sqrt(1 - variance_reduction))


def plan_holdout(
    audience_size: int,
    *,
    baseline_mean: float,
    baseline_sd: float | None = None,
    mde: float | None = None,
    holdout: float | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
    variance_reduction: float = 0.0,
    metric: str = "conversion",
) -> HoldoutPlan:
    """Holdout share needed for an effect, or the effect a holdout share can detect.

    Give exactly one of ``mde`` and ``holdout``. Uses the two-sided normal
    approximation ``mde = (z_{1-alpha/2} + z_power) * sd * sqrt(1/n_T + 1/n_C)`` with the
    same standard deviation in both groups.

    Parameters
    ----------
    audience_size : int
        Members the campaign will target (treatment plus control).
    baseline_mean : float
        Expected per-member outcome without the campaign (the control mean of a past
        campaign; a rate for conversion).
    baseline_sd : float, optional
        Per-member standard deviation; derived as ``sqrt(p (1 - p))`` for conversion.
    mde : float, optional
        Smallest absolute lift per member worth detecting -> the holdout share.
    holdout : float, optional
        Control share -> the minimum detectable effect.
    power : float, default 0.8
    alpha : float, default 0.05
    variance_reduction : float, default 0.0
        Expected CUPED variance reduction (``LiftResult.variance_reduction`` of a past
        campaign); shrinks the standard deviation by ``sqrt(1 - variance_reduction)``.
    metric : str, default "conversion"
        Only changes how ``baseline_sd`` is derived and how the plan is worded.

    Returns
    -------
    HoldoutPlan

    Examples
    --------
    >>> plan = plan_holdout(20_000, baseline_mean=0.05, holdout=0.1)
    >>> round(plan.mde, 4), plan.n_control
    (0.0144, 2000)
    >>> round(plan_holdout(20_000, baseline_mean=0.05, mde=plan.mde).holdout, 3)
    0.1
    """
    if not (isinstance(audience_size, int | np.integer) and audience_size >= 4):
        raise CrmDataError(
            f"The 'audience_size' parameter must be an int >= 4. Got {audience_size!r}."
        )
    check_fraction(power, "power")
    check_fraction(alpha, "alpha")
    sd, sd_eff = _effect_sd(metric, baseline_mean, baseline_sd, variance_reduction)
    z = scipy_stats().norm.ppf(1 - alpha / 2) + scipy_stats().norm.ppf(power)
    n = int(audience_size)
    feasible = True
    if (mde is None) == (holdout is None):
        raise CrmDataError(
            "Give exactly one of 'mde' (to get the holdout share) and 'holdout' "
            "(to get the minimum detectable effect)."
        )
    if mde is not None:
        check_positive(mde, "mde")
        k = (mde / (z * sd_eff)) ** 2  # required 1/n_T + 1/n_C
        disc = 1 - 4 / (n * k)
        if disc < 0:
            feasible, holdout = False, 0.5
        else:
            holdout = (1 - np.sqrt(disc)) / 2
    check_fraction(holdout, "holdout")
    n_control = n * holdout
    detectable = z * sd_eff * np.sqrt(1 / (n - n_control) + 1 / n_control)
    return HoldoutPlan(
        audience_size=n,
        holdout=float(holdout),
        n_treatment=int(round(n - n_control)),
        n_control=int(round(n_control)),
        mde=float(detectable),
        relative_mde=float(detectable / baseline_mean) if baseline_mean else float("nan"),
        baseline_mean=float(baseline_mean),
        baseline_sd=sd,
        power=power,
        alpha=alpha,
        variance_reduction=float(variance_reduction),
        metric=metric,
        feasible=feasible,
    )


def holdout_tradeoff(
    audience_size: int,
    *,
    baseline_mean: float,
    baseline_sd: float | None = None,
    holdouts: Sequence[float] = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5),
    power: float = 0.8,
    alpha: float = 0.05,
    variance_reduction: float = 0.0,
    metric: str = "conversion",
) -> pd.DataFrame:
    """Minimum detectable effect for several holdout shares (one row each).

    Parameters are those of :func:`plan_holdout`; ``holdouts`` lists the control shares.

    Returns
    -------
    pandas.DataFrame
        Columns ``holdout, n_control, n_treatment, mde, relative_mde``.

    Examples
    --------
    >>> holdout_tradeoff(20_000, baseline_mean=0.05, holdouts=[0.05, 0.1]).round(4)
       holdout  n_control  n_treatment     mde  relative_mde
    0     0.05       1000        19000  0.0198        0.3962
    1     0.10       2000        18000  0.0144        0.2878
    """
    plans = [
        plan_holdout(audience_size, baseline_mean=baseline_mean, baseline_sd=baseline_sd,
                     holdout=h, power=power, alpha=alpha,
                     variance_reduction=variance_reduction, metric=metric)
        for h in holdouts
    ]
    return pd.DataFrame(
        {
            "holdout": [p.holdout for p in plans],
            "n_control": [p.n_control for p in plans],
            "n_treatment": [p.n_treatment for p in plans],
            "mde": [p.mde for p in plans],
            "relative_mde": [p.relative_mde for p in plans],
        }
    )
