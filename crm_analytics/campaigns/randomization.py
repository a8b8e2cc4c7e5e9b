"""Was the holdout random? Group sizes against the plan, and behaviour before the campaign."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics._core.checks import require_columns
from crm_analytics.campaigns.outcomes import prepare_campaign
from crm_analytics.campaigns.stats import SRM_ALPHA, lift_statistics, scipy_stats, srm_test
from crm_analytics.orders.encode import prepare_orders
from crm_analytics.summary import customer_summary

__all__ = ["RandomizationCheck", "check_randomization"]


@dataclass(frozen=True, eq=False)
class RandomizationCheck:
    """Result of :func:`check_randomization`.

    Attributes
    ----------
    n_treatment, n_control : int
    planned_holdout, observed_holdout : float
        Planned and observed control share.
    srm_p_value : float
        Chi-square test of the sizes against the plan (suspect below 0.001).
    balance : pandas.DataFrame
        One row per pre-campaign variable: ``variable, mean_treatment, mean_control,
        std_diff`` (difference in pooled standard deviations), ``p_value`` (Welch, or
        chi-square for categorical columns) and ``balanced`` (``p_value >= 0.001``).
    start, window_days
        The settings used.
    """

    n_treatment: int
    n_control: int
    planned_holdout: float
    observed_holdout: float
    srm_p_value: float
    balance: pd.DataFrame
    start: pd.Timestamp
    window_days: int

    @property
    def ok(self) -> bool:
        """True when the sizes match the plan and every variable is balanced."""
        return bool(self.srm_p_value >= SRM_ALPHA and self.balance["balanced"].all())

    def summary(self) -> str:
        """The check in plain words."""
        text = (f"{self.n_treatment:,} treated and {self.n_control:,} control members: a "
                f"{self.observed_holdout:.1%} holdout against {self.planned_holdout:.1%} "
                f"planned (SRM p = {self.srm_p_value:.2g}). ")
        bal = self.balance
        unbalanced = bal.loc[~bal["balanced"], "variable"].tolist()
        if self.srm_p_value < SRM_ALPHA:
            text += "The sizes do not match the plan: check the assignment. "
        if unbalanced:
            return text + (f"Before the campaign the groups differ on {unbalanced} "
                           "(p < 0.001): the assignment was probably not random.")
        text += (f"Before the campaign the groups do not differ beyond chance on the "
                 f"{len(bal)} variables checked.")
        large = bal.loc[bal["std_diff"].abs() >= 0.1, "variable"].tolist()
        if large:
            text += (f" Chance differences above 0.1 standard deviations on {large}; "
                     "CUPED adjusts for them.")
        return text


def _balance_row(name: str, xt: np.ndarray, xc: np.ndarray) -> tuple:
    """Means, standardized difference and Welch p-value of one pre-campaign variable."""
    xt, xc = xt[~np.isnan(xt)], xc[~np.isnan(xc)]
    if min(len(xt), len(xc)) < 2:
        return (name, np.nan, np.nan, np.nan, np.nan, True)
    pooled = np.sqrt((np.var(xt, ddof=1) + np.var(xc, ddof=1)) / 2)
    if pooled == 0:
        return (name, xt.mean(), xc.mean(), 0.0, 1.0, True)
    std_diff = (xt.mean() - xc.mean()) / pooled
    p = lift_statistics(xt, xc).p_value
    return (name, xt.mean(), xc.mean(), float(std_diff), p, bool(p >= SRM_ALPHA))


def check_randomization(
    orders: pd.DataFrame,
    audience: pd.DataFrame,
    *,
    start: object,
    window_days: int = 30,
    covariates: Sequence[str] = (),
    group_col: str = "group",
    treatment: object = "treatment",
    control: object = "control",
    planned_holdout: float | None = None,
    pre_days: int | None = None,
) -> RandomizationCheck:
    """Check that treatment and control were alike before the campaign.

    Compares the group sizes with the planned split (sample-ratio mismatch) and the
    groups' behaviour before ``start``: each metric over the ``pre_days`` before, and
    each member's whole history (orders, amount, days since the last order, from
    :func:`~crm_analytics.customer_summary`), plus any audience ``covariates``.
    A variable is ``balanced`` unless its test (Welch, or chi-square for categorical
    columns) rejects equality at p < 0.001, the same bar as the sample-ratio check:
    under true randomization that happens once in a thousand variables, so a failure
    points at a broken assignment. ``std_diff`` (difference in pooled standard
    deviations) shows the size of chance differences; CUPED corrects those.

    Parameters
    ----------
    orders, audience, start, window_days, group_col, treatment, control, planned_holdout, \
pre_days
        As in :func:`campaign_lift`.
    covariates : list of str
        Extra audience columns to compare (numeric or categorical, e.g. member tier).

    Returns
    -------
    RandomizationCheck

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": list("abcdef"), "order_id": list("123456"),
    ...     "order_date": pd.to_datetime(["2024-02-20", "2024-02-21", "2024-02-10",
    ...                                   "2024-01-05", "2024-02-11", "2024-02-25"]),
    ...     "amount": [10.0, 12.0, 11.0, 9.0, 20.0, 30.0]})
    >>> audience = pd.DataFrame({"customer_id": list("abcdef"),
    ...                          "group": ["treatment", "control"] * 3})
    >>> check = check_randomization(orders, audience, start="2024-03-01", planned_holdout=0.5)
    >>> check.balance[["variable", "std_diff", "balanced"]].head(3).round(2)
             variable  std_diff  balanced
    0  pre_conversion      0.82      True
    1      pre_orders      0.82      True
    2     pre_revenue     -0.03      True
    """
    prep = prepare_campaign(orders, audience, start=start, window_days=window_days, metric="orders",
                    group_col=group_col, treatment=treatment, control=control,
                    covariate=None, planned_holdout=planned_holdout, pre_days=pre_days,
                    pre_only=True)
    members, is_t = prep.members, prep.is_treated
    start_ts = prep.settings["start"]
    variables = {c: members[c].to_numpy() for c in members.columns if c.startswith("pre_")}
    orders = prepare_orders(orders).orders
    if (orders["order_date"] < start_ts).any():
        history = customer_summary(orders, as_of=start_ts - pd.Timedelta(days=1))
        history = history.set_index("customer_id").reindex(members["customer_id"])
        variables["history_orders"] = history["n_orders"].fillna(0).to_numpy(dtype=float)
        variables["history_amount"] = history["total_amount"].fillna(0).to_numpy(dtype=float)
        variables["history_days_since_order"] = (
            history["days_since_last_order"].to_numpy(dtype=float) + 1)  # as of start
    rows = [_balance_row(name, x[is_t], x[~is_t]) for name, x in variables.items()]
    for col in covariates:
        require_columns(audience, [col], "the audience table (covariates)")
        if pd.api.types.is_numeric_dtype(audience[col]):
            x = audience[col].to_numpy(dtype=float)
            rows.append(_balance_row(col, x[is_t], x[~is_t]))
        else:
            table = pd.crosstab(audience[col].fillna("(missing)").to_numpy(), is_t)
            p = scipy_stats().chi2_contingency(table).pvalue if table.shape[0] > 1 else 1.0
            rows.append((col, np.nan, np.nan, np.nan, float(p), bool(p >= SRM_ALPHA)))
    balance = pd.DataFrame(rows, columns=["variable", "mean_treatment", "mean_control",
                                          "std_diff", "p_value", "balanced"])
    n_t, n_c = int(is_t.sum()), int((~is_t).sum())
    planned = prep.settings["planned_holdout"]
    return RandomizationCheck(
        n_treatment=n_t, n_control=n_c, planned_holdout=planned,
        observed_holdout=n_c / (n_t + n_c), srm_p_value=srm_test(n_t, n_c, planned),
        balance=balance, start=start_ts, window_days=prep.settings["window_days"])
