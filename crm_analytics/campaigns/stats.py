"""Statistics behind campaign lift: Welch intervals, delta-method relative lift, CUPED,
sample-ratio mismatch and multiple-comparison adjustment (holdout planning is in
:mod:`crm_analytics.campaigns.holdout`).

Conventions follow GrowthBook / Eppo (see REFERENCE.md, "Campaign lift"):

- Absolute lift ``mean_T - mean_C`` with the Welch variance ``s_T^2/n_T + s_C^2/n_C``;
  its interval and p-value use Student's t with Welch-Satterthwaite degrees of freedom,
  so they equal :func:`scipy.stats.ttest_ind` with ``equal_var=False``.
- Relative lift ``mean_T / mean_C - 1`` with the delta-method variance
  ``s_C^2 mean_T^2 / (mean_C^4 n_C) + s_T^2 / (mean_C^2 n_T)`` and a normal interval
  (the delta method is a large-sample approximation). Undefined (NaN) when
  ``mean_C == 0``.
- CUPED (Deng, Xu, Kohavi & Walker 2013): ``Y - theta (X - mean X)`` with
  ``theta = cov(Y, X) / var(X)`` pooled over both groups, ``X`` measured before the
  campaign. It removes variance explained by ``X`` without biasing the lift.

These functions work on plain arrays; :mod:`crm_analytics.campaigns` turns orders and an
audience into those arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from crm_analytics._core.checks import check_fraction
from crm_analytics._core.errors import CrmDataError


def scipy_stats():
    """``scipy.stats``, imported on first use (its import is half of ``import crm_analytics``)."""
    from scipy import stats

    return stats

__all__ = [
    "SRM_ALPHA",
    "ConfidenceInterval",
    "LiftResult",
    "LiftStatistics",
    "adjust_p_values",
    "lift_statistics",
    "scipy_stats",
    "srm_test",
]


#: Sample-ratio-mismatch p-values below this flag a broken assignment.
SRM_ALPHA = 0.001


class ConfidenceInterval(NamedTuple):
    """An interval ``(low, high)``; unpacks like a tuple."""

    low: float
    high: float


@dataclass(frozen=True, eq=False)
class LiftStatistics:
    """Moments of one treatment/control comparison and the statistics derived from them.

    Attributes
    ----------
    n_treatment, n_control : int
        Group sizes.
    mean_treatment, mean_control : float
        Group means of the analysed values (CUPED-adjusted when ``theta != 0``).
    var_treatment, var_control : float
        Sample variances (``ddof=1``) of the analysed values.
    confidence_level : float
        Level of :attr:`absolute_ci` and :attr:`relative_ci`.
    theta : float
        CUPED coefficient (0 when no covariate was used).
    variance_reduction : float
        ``1 - Var_adjusted(lift) / Var_unadjusted(lift)`` (0 without covariate).
    """

    n_treatment: int
    n_control: int
    mean_treatment: float
    mean_control: float
    var_treatment: float
    var_control: float
    confidence_level: float = 0.95
    theta: float = 0.0
    variance_reduction: float = 0.0

    @property
    def absolute_lift(self) -> float:
        """``mean_treatment - mean_control``."""
        return self.mean_treatment - self.mean_control

    @property
    def std_error(self) -> float:
        """Welch standard error of the absolute lift."""
        return float(np.sqrt(self.var_treatment / self.n_treatment
                             + self.var_control / self.n_control))

    @property
    def df(self) -> float:
        """Welch-Satterthwaite degrees of freedom (NaN when both variances are 0)."""
        a = self.var_treatment / self.n_treatment
        b = self.var_control / self.n_control
        denom = a**2 / (self.n_treatment - 1) + b**2 / (self.n_control - 1)
        return float((a + b) ** 2 / denom) if denom > 0 else float("nan")

    @property
    def statistic(self) -> float:
        """Welch t statistic."""
        se = self.std_error
        return self.absolute_lift / se if se > 0 else float("nan")

    @property
    def p_value(self) -> float:
        """Two-sided Welch p-value for ``absolute_lift == 0``."""
        t = self.statistic
        return float(2 * scipy_stats().t.sf(abs(t), self.df)) if np.isfinite(t) else float("nan")

    @property
    def relative_lift(self) -> float:
        """``mean_treatment / mean_control - 1``; NaN when ``mean_control == 0``."""
        if self.mean_control == 0:
            return float("nan")
        return self.mean_treatment / self.mean_control - 1

    @property
    def relative_std_error(self) -> float:
        """Delta-method standard error of :attr:`relative_lift`."""
        mt, mc = self.mean_treatment, self.mean_control
        if mc == 0:
            return float("nan")
        var = (self.var_control * mt**2 / (mc**4 * self.n_control)
               + self.var_treatment / (mc**2 * self.n_treatment))
        return float(np.sqrt(var))

    @property
    def absolute_ci(self) -> ConfidenceInterval:
        """Welch interval of the absolute lift at :attr:`confidence_level`."""
        return self.confidence_interval()

    @property
    def relative_ci(self) -> ConfidenceInterval:
        """Delta-method interval of the relative lift at :attr:`confidence_level`."""
        return self.confidence_interval(kind="relative")

    def confidence_interval(
        self, confidence_level: float | None = None, *, kind: str = "absolute"
    ) -> ConfidenceInterval:
        """Interval for the lift at another confidence level.

        Parameters
        ----------
        confidence_level : float, optional
            Defaults to the level the statistics were computed at.
        kind : {"absolute", "relative"}
            ``"absolute"``: Welch t interval (equals scipy's
            ``ttest_ind(..., equal_var=False).confidence_interval()``);
            ``"relative"``: delta-method normal interval.
        """
        level = self.confidence_level if confidence_level is None else confidence_level
        check_fraction(level, "confidence_level")
        if kind == "absolute":
            se, df = self.std_error, self.df
            if not se > 0:
                return ConfidenceInterval(float("nan"), float("nan"))
            half = float(scipy_stats().t.ppf(0.5 + level / 2, df)) * se
            return ConfidenceInterval(self.absolute_lift - half, self.absolute_lift + half)
        if kind == "relative":
            half = float(scipy_stats().norm.ppf(0.5 + level / 2)) * self.relative_std_error
            return ConfidenceInterval(self.relative_lift - half, self.relative_lift + half)
        raise CrmDataError(
            f"The 'kind' parameter must be 'absolute' or 'relative'. Got {kind!r} instead."
        )


def _moments(values: np.ndarray) -> tuple[int, float, float]:
    n = len(values)
    var = float(np.var(values, ddof=1)) if n > 1 else float("nan")
    return n, float(np.mean(values)), var


def lift_statistics(
    treatment: Sequence[float] | np.ndarray,
    control: Sequence[float] | np.ndarray,
    *,
    covariate_treatment: Sequence[float] | np.ndarray | None = None,
    covariate_control: Sequence[float] | np.ndarray | None = None,
    confidence_level: float = 0.95,
) -> LiftStatistics:
    """Welch lift of ``treatment`` over ``control``, CUPED-adjusted when covariates are given.

    Parameters
    ----------
    treatment, control : array-like of float
        One outcome per member (zeros included), at least two per group.
    covariate_treatment, covariate_control : array-like of float, optional
        The same members' pre-campaign value of the metric (CUPED's ``X``). Give both
        or neither.
    confidence_level : float, default 0.95

    Returns
    -------
    LiftStatistics

    Examples
    --------
    >>> s = lift_statistics([3.0, 5.0, 4.0], [1.0, 2.0, 3.0])
    >>> round(s.absolute_lift, 3), round(s.p_value, 4)
    (2.0, 0.0705)
    """
    check_fraction(confidence_level, "confidence_level")
    yt = np.asarray(treatment, dtype=float)
    yc = np.asarray(control, dtype=float)
    for name, arr in (("treatment", yt), ("control", yc)):
        if len(arr) < 2:
            raise CrmDataError(
                f"The {name} group has {len(arr)} member(s); at least 2 are needed to "
                "estimate a variance. Check the group labels or the audience."
            )
        if not np.isfinite(arr).all():
            raise CrmDataError(f"The {name} outcomes contain NaN or infinite values.")
    if (covariate_treatment is None) != (covariate_control is None):
        raise CrmDataError("Give both covariate_treatment and covariate_control, or neither.")
    theta, reduction = 0.0, 0.0
    if covariate_treatment is not None:
        xt = np.asarray(covariate_treatment, dtype=float)
        xc = np.asarray(covariate_control, dtype=float)
        if xt.shape != yt.shape or xc.shape != yc.shape:
            raise CrmDataError("Each covariate must have one value per member of its group.")
        x = np.concatenate([xt, xc])
        y = np.concatenate([yt, yc])
        var_x = float(np.var(x, ddof=1))
        if var_x > 0:
            theta = float(np.cov(y, x, ddof=1)[0, 1] / var_x)
        raw_var = np.var(yt, ddof=1) / len(yt) + np.var(yc, ddof=1) / len(yc)
        mean_x = x.mean()
        yt = yt - theta * (xt - mean_x)
        yc = yc - theta * (xc - mean_x)
        adj_var = np.var(yt, ddof=1) / len(yt) + np.var(yc, ddof=1) / len(yc)
        reduction = float(1 - adj_var / raw_var) if raw_var > 0 else 0.0
    nt, mt, vt = _moments(yt)
    nc, mc, vc = _moments(yc)
    return LiftStatistics(nt, nc, mt, mc, vt, vc, confidence_level, theta, reduction)


def srm_test(n_treatment: int, n_control: int, planned_holdout: float) -> float:
    """Sample-ratio-mismatch p-value: chi-square goodness of fit to the planned split.

    Parameters
    ----------
    n_treatment, n_control : int
        Observed group sizes.
    planned_holdout : float
        Planned control share, strictly between 0 and 1.

    Returns
    -------
    float
        The p-value; below 0.001 the assignment is suspect (REFERENCE.md).

    Examples
    --------
    >>> round(srm_test(900, 100, 0.1), 3), srm_test(800, 200, 0.1) < 0.001
    (1.0, True)
    """
    check_fraction(planned_holdout, "planned_holdout")
    n = n_treatment + n_control
    expected = [n * (1 - planned_holdout), n * planned_holdout]
    return float(scipy_stats().chisquare([n_treatment, n_control], f_exp=expected).pvalue)


def adjust_p_values(p_values: Sequence[float] | np.ndarray, method: str = "holm") -> np.ndarray:
    """Adjust p-values for testing several segments at once.

    Parameters
    ----------
    p_values : array-like of float
        NaN entries (untestable segments) stay NaN and do not count as tests.
    method : {"holm", "bh", "none"}
        ``"holm"`` (Holm 1979, controls the family-wise error rate), ``"bh"``
        (Benjamini-Hochberg 1995, controls the false discovery rate) or ``"none"``.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> adjust_p_values([0.01, 0.04, 0.03])
    array([0.03, 0.06, 0.06])
    >>> adjust_p_values([0.01, 0.04, 0.03], method="bh")
    array([0.03, 0.04, 0.04])
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    if method == "none":
        return p.copy()
    if method not in ("holm", "bh"):
        raise CrmDataError(
            f"The 'adjust' method must be one of ['holm', 'bh', 'none']. Got {method!r}."
        )
    if len(q) == 0:
        return out
    if method == "bh":
        out[ok] = scipy_stats().false_discovery_control(q, method="bh")
        return out
    m = len(q)
    order = np.argsort(q, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * q[order])
    adj = np.empty(m)
    adj[order] = np.minimum(stepped, 1.0)
    out[ok] = adj
    return out


# ------------------------------------------------------------------------------ result
def _money(value: float, currency: str, digits: int = 2) -> str:
    if not np.isfinite(value):
        return "n/a"
    sign = "-" if value < 0 else ""
    return f"{sign}{currency}{abs(value):,.{digits}f}"


def _amount(value: float, metric: str, currency: str, unit: bool = False) -> str:
    """A lift in the metric's unit; ``unit`` adds "percentage points" for conversion."""
    if not np.isfinite(value):
        return "n/a"
    if metric == "conversion":
        return f"{value * 100:.2f}" + (" percentage points" if unit else "")
    if metric == "orders":
        return f"{value:.3f}"
    return _money(value, currency)


@dataclass(frozen=True, eq=False)
class LiftResult:
    """Result of :func:`campaign_lift`: the lift of one metric and what it earned.

    Settings are repeated (``metric``, ``start``, ``window_days``, ``confidence_level``,
    ``covariate``, ``pre_days``, ``cost_per_contact``, ``margin_rate``,
    ``planned_holdout``, ``campaign_name``).

    Attributes
    ----------
    n_treatment, n_control : int
        Group sizes (every audience member, buyers or not).
    mean_treatment, mean_control, sd_treatment, sd_control : float
        Observed per-member mean and standard deviation of the metric (unadjusted).
    absolute_lift, absolute_ci : float, ConfidenceInterval
        Headline lift per member (CUPED-adjusted when ``covariate`` is set) and its
        Welch t interval.
    relative_lift, relative_ci : float, ConfidenceInterval
        Lift relative to the control mean, delta-method interval; NaN when the control
        mean is 0.
    p_value, std_error, df : float
        Two-sided Welch test of the headline lift.
    unadjusted_absolute_lift, unadjusted_absolute_ci, unadjusted_relative_lift, \
unadjusted_relative_ci, unadjusted_p_value
        The same without CUPED (equal to the headline when ``covariate`` is None).
    theta, variance_reduction : float
        CUPED coefficient and the share of the lift's variance it removed.
    srm_p_value : float
        Sample-ratio mismatch against ``planned_holdout`` (suspect below 0.001).
    incremental_orders, incremental_revenue, incremental_margin : float
        Extra orders / revenue / gross margin from the treated group:
        per-member lift x ``n_treatment`` (each with its own CUPED adjustment).
    incremental_revenue_ci, incremental_margin_ci : ConfidenceInterval
    campaign_cost : float
        ``cost_per_contact x n_treatment``.
    roi, roi_ci : float, ConfidenceInterval
        ``(incremental_margin - campaign_cost) / campaign_cost``; NaN (see ``notes``)
        without a cost or a margin.
    notes : tuple of str
        Everything the analyst should know (assumptions, missing data, warnings).
    members : pandas.DataFrame
        One row per audience member: ``customer_id, group`` and each metric in the
        window and (``pre_`` prefix) before it.
    cumulative : pandas.DataFrame
        ``day, date, group, value``: cumulative per-member ``metric`` by day of the window.
    statistics, unadjusted_statistics : LiftStatistics
        The moments behind the headline and unadjusted estimates.
    """

    metric: str
    start: pd.Timestamp
    window_days: int
    confidence_level: float
    covariate: str | None
    pre_days: int
    cost_per_contact: float
    margin_rate: float | None
    planned_holdout: float
    campaign_name: str | None
    n_treatment: int
    n_control: int
    mean_treatment: float
    mean_control: float
    sd_treatment: float
    sd_control: float
    absolute_lift: float
    absolute_ci: ConfidenceInterval
    relative_lift: float
    relative_ci: ConfidenceInterval
    p_value: float
    std_error: float
    df: float
    unadjusted_absolute_lift: float
    unadjusted_absolute_ci: ConfidenceInterval
    unadjusted_relative_lift: float
    unadjusted_relative_ci: ConfidenceInterval
    unadjusted_p_value: float
    theta: float
    variance_reduction: float
    srm_p_value: float
    incremental_orders: float
    incremental_revenue: float
    incremental_revenue_ci: ConfidenceInterval
    incremental_margin: float
    incremental_margin_ci: ConfidenceInterval
    campaign_cost: float
    roi: float
    roi_ci: ConfidenceInterval
    notes: tuple[str, ...] = ()
    members: pd.DataFrame = field(default=None, repr=False)
    cumulative: pd.DataFrame = field(default=None, repr=False)
    statistics: LiftStatistics = field(default=None, repr=False)
    unadjusted_statistics: LiftStatistics = field(default=None, repr=False)

    @property
    def sample_ratio_mismatch(self) -> bool:
        """True when ``srm_p_value < 0.001``: do not trust the lift before checking."""
        return bool(self.srm_p_value < SRM_ALPHA)

    def confidence_interval(
        self, confidence_level: float | None = None, *, kind: str = "absolute"
    ) -> ConfidenceInterval:
        """Interval of the headline lift at another level (default: the result's own).

        ``kind="absolute"`` gives the Welch t interval, ``"relative"`` the delta-method one.
        """
        return self.statistics.confidence_interval(confidence_level, kind=kind)

    def to_frame(self) -> pd.DataFrame:
        """The main numbers as a one-row DataFrame (columns as in :func:`lift_by_segment`)."""
        return pd.DataFrame([{
            "metric": self.metric,
            "n_treatment": self.n_treatment, "n_control": self.n_control,
            "mean_treatment": self.mean_treatment, "mean_control": self.mean_control,
            "absolute_lift": self.absolute_lift,
            "absolute_ci_low": self.absolute_ci.low, "absolute_ci_high": self.absolute_ci.high,
            "relative_lift": self.relative_lift,
            "relative_ci_low": self.relative_ci.low, "relative_ci_high": self.relative_ci.high,
            "p_value": self.p_value, "unadjusted_absolute_lift": self.unadjusted_absolute_lift,
            "variance_reduction": self.variance_reduction, "srm_p_value": self.srm_p_value,
            "incremental_orders": self.incremental_orders,
            "incremental_revenue": self.incremental_revenue,
            "incremental_margin": self.incremental_margin,
            "campaign_cost": self.campaign_cost, "roi": self.roi,
        }])

    def cuped_table(self) -> pd.DataFrame:
        """Unadjusted vs CUPED-adjusted lift side by side, with interval widths."""
        rows = []
        for name, st in (("unadjusted", self.unadjusted_statistics),
                         ("CUPED", self.statistics)):
            ci = st.absolute_ci
            rows.append({"estimate": name, "absolute_lift": st.absolute_lift,
                         "ci_low": ci.low, "ci_high": ci.high, "ci_width": ci.high - ci.low,
                         "p_value": st.p_value})
        return pd.DataFrame(rows)

    def summary(self, *, name: str | None = None, currency: str = "") -> str:
        """The result in plain words, one statement per line.

        Parameters
        ----------
        name : str, optional
            How to call the campaign; defaults to its ``campaign_name`` or "The campaign".
        currency : str, default ""
            Sign written before money, e.g. "¥" or "$"; none by default (a currency is
            never assumed).
        """
        name = name or (f"The campaign {self.campaign_name!r}" if self.campaign_name
                        else "The campaign")
        level = f"{self.confidence_level:.0%} CI"
        w, m = self.window_days, self.metric
        what = {"conversion": f"the share of members ordering within {w} days",
                "orders": f"{w}-day orders per member",
                "revenue": f"{w}-day revenue per member",
                "margin": f"{w}-day gross margin per member"}[m]
        verb = "raised" if self.absolute_lift >= 0 else "changed"
        lo, hi = self.absolute_ci
        line = (f"{name} {verb} {what} by {_amount(self.absolute_lift, m, currency, True)} "
                f"({level} {_amount(lo, m, currency)} to {_amount(hi, m, currency)}; "
                f"p = {self.p_value:.3g})")
        if np.isfinite(self.relative_lift):
            rlo, rhi = self.relative_ci
            base = (f"{self.mean_control:.2%}" if m == "conversion" else
                    f"{self.mean_control:.4f}" if m == "orders" else
                    _money(self.mean_control, currency))
            line += (f", {self.relative_lift:+.1%} ({rlo:+.1%} to {rhi:+.1%}) over the "
                     f"control group's {base}")
        lines = [line + "."]
        if lo <= 0 <= hi:
            lines.append("The interval includes zero: the data cannot tell this campaign "
                         "apart from doing nothing.")
        if self.covariate is not None:
            ulo, uhi = self.unadjusted_absolute_ci
            cov = (f"the same metric in the {self.pre_days} days before"
                   if self.covariate == "pre_period" else f"{self.covariate!r}")
            raw = (f"unadjusted: {_amount(self.unadjusted_absolute_lift, m, currency, True)} "
                   f"({_amount(ulo, m, currency)} to {_amount(uhi, m, currency)})")
            if self.theta == 0:
                lines.append(f"CUPED had nothing to adjust for: {cov} is the same for every "
                             f"member; {raw}.")
            elif self.variance_reduction < 0.01:
                lines.append(f"CUPED adjustment for {cov} made no material difference "
                             f"(variance reduction {self.variance_reduction:.1%}); {raw}.")
            else:
                lines.append(f"CUPED adjustment for {cov} removed "
                             f"{self.variance_reduction:.0%} of the variance; {raw}.")
        rev_lo, rev_hi = self.incremental_revenue_ci
        money = (f"Across {self.n_treatment:,} treated members: {self.incremental_orders:,.0f} "
                 f"incremental orders and {_money(self.incremental_revenue, currency, 0)} "
                 f"incremental revenue ({_money(rev_lo, currency, 0)} to "
                 f"{_money(rev_hi, currency, 0)})")
        if np.isfinite(self.incremental_margin):
            money += f", {_money(self.incremental_margin, currency, 0)} incremental margin"
        money += f"; campaign cost {_money(self.campaign_cost, currency, 0)}."
        lines.append(money)
        if np.isfinite(self.roi):
            lines.append(f"ROI = (incremental margin - cost) / cost = {self.roi:.2f} "
                         f"({level} {self.roi_ci.low:.2f} to {self.roi_ci.high:.2f}).")
        sizes = f"{self.n_treatment:,} treated, {self.n_control:,} control"
        if self.sample_ratio_mismatch:
            lines.append(f"WARNING: group sizes ({sizes}) do not match the planned "
                         f"{self.planned_holdout:.0%} holdout (SRM p = {self.srm_p_value:.2g});"
                         " check the assignment before trusting these numbers.")
        else:
            lines.append(f"Group sizes ({sizes}) match the planned "
                         f"{self.planned_holdout:.0%} holdout (SRM p = {self.srm_p_value:.2f}).")
        lines.extend(self.notes)
        return "\n".join(lines)
