"""Learn each member's incremental outcome from past randomized campaigns.

Every past campaign with a randomized holdout is an experiment: for its audience we
know who got the message (``treatment``) and who was held out (``control``), and what
each did in the ``window_days`` after the start. :func:`fit_uplift` pairs that outcome
with the member's order history *as it stood on the start day* and learns how the
treatment effect varies with the history (a meta-learner over scikit-learn's
histogram gradient boosting):

- ``"t"``: one outcome model per group; uplift = treated prediction - control prediction.
- ``"x"``: the T models, then each group's imputed effects regressed on the features
  and blended by the treated share (Kuenzel et al. 2019).
- ``"dr"``: doubly robust pseudo-outcomes (known randomization share per campaign)
  regressed on the features (Kennedy 2023).

It is cross-fitted: members are split into ``n_folds`` folds (the same member in the
same fold across campaigns) and each member is scored by models that never saw them.
Those out-of-fold scores measure the ranking (:func:`~crm_analytics.uplift.qini`); the
fold models, averaged, score members on a send day.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crm_analytics._core.checks import format_examples, require_columns, require_dataframe
from crm_analytics._core.dates import EPOCH
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source
from crm_analytics.campaigns.stats import lift_statistics
from crm_analytics.orders.encode import prepare_orders
from crm_analytics.orders.validate import ids_as_text
from crm_analytics.uplift.evaluate import QiniResult, qini
from crm_analytics.uplift.features import (
    OrderHistory,
    member_features,
    window_outcomes,
)

__all__ = ["LEARNERS", "METRICS", "UpliftModel", "fit_uplift"]

LEARNERS = ("t", "x", "dr")
_N_BOOT = 200  # bootstrap resamples of the out-of-fold checks (as qini's default)
METRICS = ("margin", "revenue", "conversion")
#: Member attributes used as categorical features when a customers table (or the
#: campaigns table) has them.
ATTRIBUTES = ("member_tier", "channel")


def _regressor(random_state: int):
    from sklearn.ensemble import HistGradientBoostingRegressor

    # shallow, slow-learning trees with large leaves: the outcome is mostly noise and
    # the effect is a small difference between two such models
    return HistGradientBoostingRegressor(
        max_iter=60, learning_rate=0.15, max_leaf_nodes=15, min_samples_leaf=100,
        l2_regularization=1.0, random_state=random_state,
    )


def _classifier(random_state: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=100,
        random_state=random_state,
    )


@dataclass(frozen=True, eq=False)
class UpliftModel:
    """A fitted uplift model (:func:`fit_uplift`).

    Attributes
    ----------
    metric : str
        ``"margin"``, ``"revenue"`` or ``"conversion"``: the outcome whose increment is
        predicted (per member, over ``window_days``).
    window_days : int
    learner : str
    feature_names : list of str
    scores : pandas.DataFrame
        The training rows with cross-fitted scores: ``campaign_id``, ``customer_id``,
        ``group``, ``outcome`` and ``uplift`` (no row is scored by a model that saw it).
    qini : QiniResult
        The out-of-fold ranking check; ``qini.distinguishable`` is False when targeting
        cannot be told apart from random, and :func:`send_list` then falls back to the
        simple rule.
    average_uplift : float
        Treated minus control mean outcome over all training rows (the campaign-average
        effect per member); ``average_uplift_ci`` its 95% Welch interval.
    calibration : tuple of float
        Realised / predicted incremental outcome among out-of-fold rows with a positive
        score: estimate and bootstrap interval; scales send-list totals into intervals.
    notes : list of str
    """

    metric: str
    window_days: int
    learner: str
    feature_names: list[str]
    scores: pd.DataFrame
    qini: QiniResult
    average_uplift: float
    calibration: tuple[float, float, float]
    average_uplift_ci: tuple[float, float]
    sleep_after: int
    margin_rate: float | None
    churn_model: object = field(repr=False)
    categories: dict = field(repr=False)
    attributes: pd.DataFrame | None = field(repr=False)
    fold_models: list = field(repr=False)
    final_model: dict = field(repr=False)
    conversion_model: object = field(repr=False)
    notes: list[str] = field(default_factory=list)

    def features(self, history: OrderHistory, ids: np.ndarray, day: int) -> pd.DataFrame:
        """The model's features of members ``ids`` from their history before ``day``."""
        codes = history.codes_of(ids)
        x = member_features(history, codes, np.full(len(codes), day, dtype=np.int64),
                            sleep_after=self.sleep_after, churn_model=self.churn_model)
        return _add_attributes(x, ids, self.attributes, self.categories)

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """Predicted uplift per row of a feature table (models fitted on every row)."""
        return _predict_effect(self.final_model, x[self.feature_names])

    def p_order_if_treated(self, x: pd.DataFrame) -> np.ndarray:
        """P(an order in the window | treated, features): for the coupon cost."""
        return self.conversion_model.predict_proba(x[self.feature_names])[:, 1]

    def summary(self) -> str:
        """A few lines: what was learned from how many rows, and the Qini check."""
        n = len(self.scores)
        n_c = int((self.scores["group"] == "control").sum())
        lines = [
            f"Uplift model ({self.learner}-learner) of {self.metric} over {self.window_days} "
            f"days, from {self.scores['campaign_id'].nunique()} campaigns: {n:,} members "
            f"({n_c:,} held out).",
            f"Average effect per member: {self.average_uplift:.3g}.",
            self.qini.summary(),
            *self.notes,
        ]
        return "\n".join(lines)


def order_history(prepared, margin_rate: float | None) -> OrderHistory:
    """The orders' :class:`OrderHistory`, built once per prepared orders and margin rule
    (fitting and then scoring the same orders sort them once)."""
    return prepared.derived(("uplift_history", margin_rate),
                            lambda: OrderHistory.from_prepared(prepared, margin_rate=margin_rate))


def _predict_effect(models: dict, x: pd.DataFrame) -> np.ndarray:
    kind = models["kind"]
    if kind == "t":
        return models["m1"].predict(x) - models["m0"].predict(x)
    if kind == "x":
        e = models["e"]
        return e * models["g0"].predict(x) + (1 - e) * models["g1"].predict(x)
    return models["g"].predict(x)


def _add_attributes(x: pd.DataFrame, ids: np.ndarray, attributes: pd.DataFrame | None,
                    categories: dict) -> pd.DataFrame:
    if attributes is None:
        return x
    found = attributes.reindex(pd.Index(np.asarray(ids, dtype=object)))
    for col, levels in categories.items():
        values = found[col].astype(object).where(found[col].notna(), "unknown")
        x[col] = pd.Categorical(values, categories=levels)
    return x


def _check_campaigns(campaigns: pd.DataFrame) -> pd.DataFrame:
    require_dataframe(campaigns, "campaigns")
    require_columns(campaigns, ["campaign_id", "customer_id", "group", "start"],
                    "the campaigns table")
    group = campaigns["group"].astype(str).str.strip().str.lower()
    bad = ~group.isin(["treatment", "control"])
    if bad.any():
        raise CrmDataError(
            f"Column 'group' of the campaigns table must be 'treatment' or 'control'; "
            f"{int(bad.sum())} rows are not ({format_examples(campaigns.loc[bad, 'group'])})."
        )
    start = pd.to_datetime(campaigns["start"], errors="coerce")
    if start.isna().any():
        raise CrmDataError(
            f"Column 'start' of the campaigns table has {int(start.isna().sum())} values "
            f"that are not dates ({format_examples(campaigns.loc[start.isna(), 'start'])})."
        )
    ids = ids_as_text(campaigns["customer_id"], "customer_id")
    out = pd.DataFrame({
        "campaign_id": campaigns["campaign_id"].astype(str).to_numpy(),
        "customer_id": ids.to_numpy(dtype=object),
        "group": group.to_numpy(),
        "start_day": (start.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
                      - EPOCH).astype(np.int64),
    })
    dup = out.duplicated(["campaign_id", "customer_id"], keep=False)
    if dup.any():
        raise CrmDataError(
            f"{int(dup.sum())} rows of the campaigns table repeat a member within one "
            f"campaign ({format_examples(out.loc[dup, 'customer_id'])}). Each member "
            "appears once per campaign."
        )
    return out


def _member_table(customers: pd.DataFrame | None, campaigns: pd.DataFrame
                  ) -> tuple[pd.DataFrame | None, dict]:
    """Member attributes (tier, channel) by customer id, from customers or campaigns."""
    source = customers
    if source is None:
        cols = [c for c in ATTRIBUTES if c in campaigns.columns]
        if not cols:
            return None, {}
        source = campaigns[["customer_id", *cols]]
    require_columns(source, ["customer_id"], "the customers table")
    cols = [c for c in ATTRIBUTES if c in source.columns]
    if not cols:
        return None, {}
    table = source[cols].copy()
    table.index = pd.Index(ids_as_text(source["customer_id"], "customer_id").to_numpy(
        dtype=object))
    table = table[~table.index.duplicated(keep="last")]
    categories = {c: sorted({*table[c].dropna().astype(str), "unknown"}) for c in cols}
    return table.astype(object), categories


def _folds(ids: np.ndarray, n_folds: int, random_state: int) -> np.ndarray:
    codes, uniques = pd.factorize(pd.Index(ids, dtype=object))
    rng = np.random.default_rng(random_state)
    fold_of = rng.permutation(len(uniques)) % n_folds
    return fold_of[codes]


def _fit_fold(kind: str, x: pd.DataFrame, y: np.ndarray, t: np.ndarray, e: np.ndarray,
              seed: int, oof_mu: tuple[np.ndarray, np.ndarray] | None) -> dict:
    if kind in ("t", "x"):
        m1 = _regressor(seed).fit(x[t], y[t])
        m0 = _regressor(seed).fit(x[~t], y[~t])
        if kind == "t":
            return {"kind": "t", "m1": m1, "m0": m0}
        d1 = y[t] - m0.predict(x[t])
        d0 = m1.predict(x[~t]) - y[~t]
        g1 = _regressor(seed).fit(x[t], d1)
        g0 = _regressor(seed).fit(x[~t], d0)
        return {"kind": "x", "g1": g1, "g0": g0, "e": float(t.mean())}
    mu1, mu0 = oof_mu
    psi = mu1 - mu0 + t * (y - mu1) / e - (~t) * (y - mu0) / (1 - e)
    return {"kind": "dr", "g": _regressor(seed).fit(x, psi)}


def fit_uplift(
    orders: pd.DataFrame,
    campaigns: pd.DataFrame,
    *,
    metric: str = "margin",
    window_days: int = 30,
    learner: str = "t",
    churn_model: object = None,
    customers: pd.DataFrame | None = None,
    sleep_after: int = 90,
    margin_rate: float | None = None,
    n_folds: int = 3,
    min_per_arm: int = 100,
    random_state: int = 0,
) -> UpliftModel:
    """Learn each member's incremental outcome from past randomized campaigns.

    Parameters
    ----------
    orders : pandas.DataFrame or PreparedOrders
        Canonical orders (validated here if needed; not modified).
    campaigns : pandas.DataFrame
        One row per audience member per past campaign: ``campaign_id``,
        ``customer_id``, ``group`` (``treatment`` / ``control``) and ``start`` (the
        shape of ``load_sample("campaigns")``). Extra columns ``member_tier`` /
        ``channel`` become features when no ``customers`` table is given.
    metric : {"margin", "revenue", "conversion"}, default "margin"
        The outcome in the window: margin (the ``margin`` column, or ``amount *
        margin_rate``), revenue, or whether the member ordered.
    window_days : int, default 30
        Days from each start over which the outcome counts.
    learner : {"t", "x", "dr"}, default "t"
        The meta-learner (see the module docstring).
    churn_model : ChurnModel, optional
        Adds ``p_no_order`` (no order in ``sleep_after`` days) as a feature.
    customers : pandas.DataFrame, optional
        ``customer_id`` with ``member_tier`` and/or ``channel``: categorical features.
    sleep_after : int, default 90
        Days without an order after which a member counts as sleeping (a feature).
    margin_rate : float, optional
        Margin share of revenue, for orders without a ``margin`` column.
    n_folds : int, default 3
        Cross-fitting folds (>= 2).
    min_per_arm : int, default 100
        Fewest members per group (over all campaigns) to learn from.
    random_state : int, default 0

    Returns
    -------
    UpliftModel

    Raises
    ------
    CrmDataError
        Orders or campaigns that fail validation; no holdout, or fewer than
        ``min_per_arm`` members in a group; no campaign whose window has ended; margin
        asked for without a margin source.

    Examples
    --------
    >>> from crm_analytics.orders.datasets import load_sample
    >>> model = fit_uplift(load_sample("orders"), load_sample("campaigns"),
    ...                    metric="revenue", n_folds=2)
    >>> model.metric, len(model.scores) == len(load_sample("campaigns"))
    ('revenue', True)
    """
    if is_engine_source(orders):
        raise CrmDataError(
            "fit_uplift is not available for Parquet/DuckDB/Spark sources: the learners "
            "need the audience's histories in memory. Read the audience's orders with "
            "read_orders (or filter the engine table to them) and pass a DataFrame."
        )
    if metric not in METRICS:
        raise CrmDataError(f"metric must be one of {list(METRICS)}; got {metric!r}.")
    if learner not in LEARNERS:
        raise CrmDataError(f"learner must be one of {list(LEARNERS)}; got {learner!r}.")
    for name, value, low in (("window_days", window_days, 1), ("n_folds", n_folds, 2),
                             ("min_per_arm", min_per_arm, 2), ("sleep_after", sleep_after, 1)):
        if not (isinstance(value, int | np.integer) and value >= low):
            raise CrmDataError(f"{name} must be an int >= {low}; got {value!r}.")
    prepared = prepare_orders(orders)
    history = order_history(prepared, margin_rate)
    if metric == "margin" and not history.has_margin:
        raise CrmDataError(
            "metric='margin' needs margins: the orders have no (complete) margin column. "
            "Pass margin_rate= (gross margin / revenue), or use metric='revenue'."
        )
    camp = _check_campaigns(campaigns)
    notes: list[str] = []
    last_day = int(prepared.days.max())
    ended = camp["start_day"] + window_days <= last_day + 1
    if not ended.all():
        open_ids = sorted(camp.loc[~ended, "campaign_id"].unique())
        notes.append(f"Left out {len(open_ids)} campaign(s) whose {window_days}-day window "
                     f"has not ended in the orders: {open_ids[:5]}.")
        camp = camp[ended].reset_index(drop=True)
    n_t = int((camp["group"] == "treatment").sum())
    n_c = int((camp["group"] == "control").sum())
    if n_c < min_per_arm or n_t < min_per_arm:
        raise CrmDataError(
            f"Learning whom to send to needs randomized history: past campaigns with a "
            f"holdout, at least {min_per_arm} members in each group whose window has ended. "
            f"Found {n_t} treated and {n_c} held-out members in {camp['campaign_id'].nunique()}"
            " finished campaign(s). Run the next campaigns with a holdout (assign_holdout) "
            "and send by a simple rule until then."
        )
    attributes, categories = _member_table(customers, campaigns)
    ids = camp["customer_id"].to_numpy(dtype=object)
    codes = history.codes_of(ids)
    start = camp["start_day"].to_numpy(dtype=np.int64)
    x = member_features(history, codes, start, sleep_after=sleep_after,
                        churn_model=churn_model)
    x = _add_attributes(x, ids, attributes, categories)
    outcomes = window_outcomes(history, codes, start, window_days)
    y = outcomes[metric]
    t = (camp["group"] == "treatment").to_numpy()
    # randomization share per campaign (known by design; estimated from the groups)
    e = camp.groupby("campaign_id")["group"].transform(
        lambda g: (g == "treatment").mean()).to_numpy(dtype=float)
    fold = _folds(ids, n_folds, random_state)
    oof_mu = None
    if learner == "dr":
        mu1, mu0 = np.empty(len(y)), np.empty(len(y))
        for k in range(n_folds):
            tr, te = fold != k, fold == k
            m = _fit_fold("t", x[tr], y[tr], t[tr], e[tr], random_state + k, None)
            mu1[te], mu0[te] = m["m1"].predict(x[te]), m["m0"].predict(x[te])
        oof_mu = (mu1, mu0)
    uplift = np.empty(len(y))
    fold_models = []
    for k in range(n_folds):
        tr, te = fold != k, fold == k
        mu = None if oof_mu is None else (oof_mu[0][tr], oof_mu[1][tr])
        models = _fit_fold(learner, x[tr], y[tr], t[tr], e[tr], random_state + k, mu)
        uplift[te] = _predict_effect(models, x[te])
        fold_models.append(models)
    # scoring on a send day uses models fitted on every row (the fold models only score
    # the rows they did not see, to check the ranking)
    final = _fit_fold(learner, x, y, t, e, random_state + n_folds, oof_mu)
    conversion = outcomes["conversion"]
    conversion_model = _classifier(random_state).fit(x[t], conversion[t].astype(int))
    scores = pd.DataFrame({"campaign_id": camp["campaign_id"], "customer_id": ids,
                           "group": camp["group"], "outcome": y, "uplift": uplift})
    check = qini(scores, seed=random_state, n_boot=_N_BOOT)
    average_stats = lift_statistics(y[t], y[~t])
    average = float(average_stats.absolute_lift)
    calibration = _calibration(y, t, uplift, random_state, n_boot=_N_BOOT)
    return UpliftModel(
        metric=metric, window_days=int(window_days), learner=learner,
        feature_names=list(x.columns), scores=scores, qini=check, average_uplift=average,
        calibration=calibration, average_uplift_ci=tuple(map(float, average_stats.absolute_ci)),
        sleep_after=int(sleep_after), margin_rate=margin_rate, churn_model=churn_model,
        categories=categories, attributes=attributes, fold_models=fold_models,
        final_model=final,
        conversion_model=conversion_model, notes=notes,
    )


def _calibration(y: np.ndarray, t: np.ndarray, uplift: np.ndarray, seed: int,
                 n_boot: int = 200) -> tuple[float, float, float]:
    """Realised / predicted incremental outcome among rows with a positive score."""
    sel = uplift > 0
    if sel.sum() < 4 or not (t[sel].any() and (~t[sel]).any()):
        return (float("nan"),) * 3

    def ratio(w: np.ndarray) -> float:
        wt, wc = w * (t & sel), w * (~t & sel)
        if wt.sum() == 0 or wc.sum() == 0:
            return float("nan")
        realised = (wt * y).sum() / wt.sum() - (wc * y).sum() / wc.sum()
        predicted = (w * sel * uplift).sum() / (w * sel).sum()
        return realised / predicted if predicted > 0 else float("nan")

    rng = np.random.default_rng(seed)
    est = ratio(np.ones(len(y)))
    boot = np.array([ratio(rng.poisson(1.0, len(y)).astype(float)) for _ in range(n_boot)])
    lo, hi = np.nanpercentile(boot, [2.5, 97.5]) if np.isfinite(boot).any() else (np.nan,) * 2
    return float(est), float(lo), float(hi)
