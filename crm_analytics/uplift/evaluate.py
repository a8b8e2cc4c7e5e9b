"""Does the uplift ranking find the persuadable members? Uplift and Qini curves.

Members are sorted by predicted uplift, highest first. For the top fraction ``phi`` of
the scored rows, the Qini curve is the incremental outcome the campaign earned there,
``Q(phi) = Y_t(phi) - Y_c(phi) * N_t(phi) / N_c(phi)`` (treated total minus the control
total scaled to the treated count; Radcliffe 2007). Targeting at random earns
``phi * Q(1)``; the Qini coefficient is the mean gap between the two curves over
``phi`` in [0, 1], per scored member, so it is in the outcome's unit (money for margin)
and 0 means "no better than random". Intervals come from a Poisson bootstrap of the
rows with the ranking held fixed (the scores are cross-fitted, so no row scored itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics._core.checks import require_columns
from crm_analytics._core.errors import CrmDataError

__all__ = ["QiniResult", "qini", "uplift_curve"]

_GRID = np.linspace(0.0, 1.0, 101)


def _scored_rows(scores: object, score: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(outcome, treated, order by score desc) from a model or a table."""
    table = getattr(scores, "scores", scores)
    if not isinstance(table, pd.DataFrame):
        raise CrmDataError("Pass a fitted UpliftModel (fit_uplift) or a table with columns "
                           f"{score!r}, 'outcome' and 'group'.")
    require_columns(table, [score, "outcome", "group"], "the scored table")
    treated = (table["group"].astype(str).str.lower() == "treatment").to_numpy()
    y = table["outcome"].to_numpy(dtype=float)
    s = table[score].to_numpy(dtype=float)
    if treated.all() or not treated.any():
        raise CrmDataError("The scored table needs members of both groups (treatment and "
                           "control) to measure uplift.")
    if not np.isfinite(y).all() or not np.isfinite(s).all():
        raise CrmDataError(f"The 'outcome' and {score!r} columns must be finite numbers.")
    # ties broken by row position, so the curve does not depend on the sort algorithm
    order = np.lexsort((np.arange(len(s)), -s))
    return y[order], treated[order], order


def _curves(y: np.ndarray, t: np.ndarray, w: np.ndarray, grid_idx: np.ndarray):
    """Qini values and top-fraction uplift at the grid positions, for weights ``w``."""
    yt = np.concatenate([[0.0], np.cumsum(w * y * t)])[grid_idx]
    nt = np.concatenate([[0.0], np.cumsum(w * t)])[grid_idx]
    yc = np.concatenate([[0.0], np.cumsum(w * y * ~t)])[grid_idx]
    nc = np.concatenate([[0.0], np.cumsum(w * ~t)])[grid_idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = yt - np.where(nc > 0, yc * nt / nc, 0.0)
        uplift = np.where((nt > 0) & (nc > 0), yt / nt - yc / nc, np.nan)
    return q, uplift, nt + nc


def uplift_curve(scores: object, *, score: str = "uplift") -> pd.DataFrame:
    """Qini and uplift curves of a ranking, at 101 fractions of the scored rows.

    Parameters
    ----------
    scores : UpliftModel or pandas.DataFrame
        A fitted model (its cross-fitted ``scores``) or a table with the ``score``
        column, ``outcome`` (the metric in the campaign window) and ``group``
        (``treatment`` / ``control``).
    score : str, default "uplift"

    Returns
    -------
    pandas.DataFrame
        ``fraction``, ``n_targeted``, ``qini`` (incremental outcome earned in the top
        fraction), ``random`` (what random targeting earns) and ``uplift`` (treated mean
        minus control mean within the top fraction).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = rng.random(4000) < 0.5
    >>> s = rng.random(4000)
    >>> y = rng.random(4000) + t * (s > 0.5)  # only the top half responds
    >>> curve = uplift_curve(pd.DataFrame({"uplift": s, "outcome": y,
    ...                                    "group": np.where(t, "treatment", "control")}))
    >>> curve.loc[[50, 100], ["fraction", "qini", "random"]].round({"qini": -1, "random": -1})
         fraction    qini  random
    50        0.5  1010.0   520.0
    100       1.0  1030.0  1030.0
    """
    y, t, _ = _scored_rows(scores, score)
    n = len(y)
    idx = np.round(_GRID * n).astype(np.int64)
    q, uplift, _ = _curves(y, t, np.ones(n), idx)
    return pd.DataFrame({"fraction": _GRID, "n_targeted": idx, "qini": q,
                         "random": _GRID * q[-1], "uplift": uplift})


@dataclass(frozen=True, eq=False)
class QiniResult:
    """The Qini coefficient and the uplift in the top fractions, with bootstrap intervals.

    Attributes
    ----------
    coefficient : float
        Mean gap between the Qini curve and random targeting, per scored member
        (outcome units); 0 = no better than random.
    ci_low, ci_high : float
        Its bootstrap interval at ``confidence_level``.
    uplift_at : pandas.DataFrame
        ``fraction``, ``uplift`` (treated minus control mean in the top fraction),
        ``ci_low``, ``ci_high``, ``n_targeted``.
    curve : pandas.DataFrame
        :func:`uplift_curve`.
    confidence_level : float
    n_boot : int
    """

    coefficient: float
    ci_low: float
    ci_high: float
    uplift_at: pd.DataFrame
    curve: pd.DataFrame
    confidence_level: float
    n_boot: int

    @property
    def distinguishable(self) -> bool:
        """True when the interval excludes 0: the ranking beats random targeting."""
        return bool(self.ci_low > 0)

    def summary(self) -> str:
        """One line: the coefficient, its interval and what it means."""
        verdict = ("the ranking finds members who respond more than average"
                   if self.distinguishable else
                   "not distinguishable from random targeting: send by the simple rule "
                   "and keep the holdout")
        level = round(self.confidence_level * 100)
        return (f"Qini coefficient {self.coefficient:.3g} per member "
                f"({level}% interval {self.ci_low:.3g} to {self.ci_high:.3g}): {verdict}.")


def qini(scores: object, *, score: str = "uplift", at: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5),
         n_boot: int = 200, confidence_level: float = 0.95, seed: int = 0) -> QiniResult:
    """Qini coefficient and uplift at ``at`` fractions, with Poisson-bootstrap intervals.

    Parameters
    ----------
    scores : UpliftModel or pandas.DataFrame
        As for :func:`uplift_curve`. Use cross-fitted or held-out scores: a model's own
        training rows would flatter it.
    score : str, default "uplift"
    at : tuple of float
        Top fractions at which to report the uplift.
    n_boot : int, default 200
    confidence_level : float, default 0.95
    seed : int, default 0

    Returns
    -------
    QiniResult

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> t = rng.random(4000) < 0.5
    >>> s = rng.random(4000)
    >>> y = rng.random(4000) + t * (s > 0.5)
    >>> res = qini(pd.DataFrame({"uplift": s, "outcome": y,
    ...                          "group": np.where(t, "treatment", "control")}))
    >>> res.distinguishable, round(res.coefficient, 2)
    (True, 0.06)
    """
    if not (isinstance(n_boot, int) and n_boot >= 20):
        raise CrmDataError(f"n_boot must be an int >= 20; got {n_boot!r}.")
    if not 0 < confidence_level < 1:
        raise CrmDataError(f"confidence_level must be in (0, 1); got {confidence_level!r}.")
    fractions = np.asarray(at, dtype=float)
    if fractions.size == 0 or (fractions <= 0).any() or (fractions > 1).any():
        raise CrmDataError(f"'at' holds fractions in (0, 1]; got {at!r}.")
    y, t, _ = _scored_rows(scores, score)
    n = len(y)
    grid_idx = np.round(_GRID * n).astype(np.int64)
    at_idx = np.maximum(np.round(fractions * n).astype(np.int64), 1)
    idx = np.concatenate([grid_idx, at_idx])
    k = len(grid_idx)

    def stats(w: np.ndarray) -> tuple[float, np.ndarray]:
        q, uplift, _ = _curves(y, t, w, idx)
        qg = q[:k]
        coef = float(np.mean(qg - _GRID * qg[-1])) / max(float(w.sum()), 1.0)
        return coef, uplift[k:]

    coef, up = stats(np.ones(n))
    rng = np.random.default_rng(seed)
    boot_coef = np.empty(n_boot)
    boot_up = np.empty((n_boot, len(fractions)))
    for b in range(n_boot):
        boot_coef[b], boot_up[b] = stats(rng.poisson(1.0, n).astype(float))
    tail = (1 - confidence_level) / 2 * 100
    lo, hi = np.nanpercentile(boot_coef, [tail, 100 - tail])
    up_lo, up_hi = np.nanpercentile(boot_up, [tail, 100 - tail], axis=0)
    uplift_at = pd.DataFrame({"fraction": fractions, "uplift": up, "ci_low": up_lo,
                              "ci_high": up_hi, "n_targeted": at_idx})
    curve = uplift_curve(scores, score=score)
    return QiniResult(coef, float(lo), float(hi), uplift_at, curve, confidence_level, n_boot)
