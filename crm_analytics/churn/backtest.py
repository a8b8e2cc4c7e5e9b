"""Backtest the churn models against simple rules on the shop's own order history.

Fit on the orders up to ``calibration_end``, predict who orders (and how often) between
``calibration_end`` and ``holdout_end``, and compare with what happened. Every model is
compared with three rules a shop could use without any model, so that a model is only
trusted when it does better than them.

The rules (each gives a score that ranks customers and a predicted number of orders in
the holdout, ``H`` days long; ``x`` is a customer's repeat purchase occasions, ``T`` her
age in days and ``d`` her days since the last order, all at ``calibration_end``):

- ``days_since_last_order``: the more recent the last order, the likelier the next one.
  Score ``-d``. Predicted orders: the shop's repeat rate ``R = sum(x) / sum(T)`` (repeat
  purchase occasions per customer-day) times ``H``, scaled by the customer's recency
  rank: ``R H 2 (1 - (rank - 1/2) / n)`` with rank 1 the most recent (ties share their
  mean rank), which keeps the shop total at ``n R H``;
- ``own_order_rate``: each customer keeps her own repeat rate. Score and predicted
  orders ``x / T * H`` (0 when ``T = 0``);
- ``sleeping_rule``: the shop's sleeping rule, a member with ``d >= sleep_after`` is
  asleep and predicted not to order; awake members order at their group's repeat rate
  ``sum(x) / sum(T)`` over the awake members, times ``H``. Score 1 awake, 0 asleep
  (the same threshold as :func:`crm_analytics.sleeping.member_status`, whose sleeping
  and given-up members are the asleep ones).

A model's score is its probability of at least one order in the holdout
(``1 - p_no_order`` of :func:`~crm_analytics.churn.churn_scores`; its expected orders
where that column is not available) and its prediction the expected orders.

Purchase occasions are distinct (customer, day) pairs, as everywhere in the package.
Customers whose first order is after ``calibration_end`` are not scored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from crm_analytics._core.dates import TIME_UNIT_DAYS, day_number, to_day
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source, runner_for
from crm_analytics.backends.sql import orders_cte, resolve_day
from crm_analytics.churn.model import MODELS, fit_summary
from crm_analytics.churn.scores import churn_scores
from crm_analytics.orders.encode import prepare_orders
from crm_analytics.summary import customer_summary, resolve_as_of, summary_time_unit

__all__ = [
    "BACKTEST_COLUMNS",
    "CALIBRATION_COLUMNS",
    "RULES",
    "BacktestResult",
    "auc_score",
    "backtest_churn",
    "holdout_counts",
    "rule_predictions",
    "rule_rank",
    "rule_score_sql",
]

#: Columns of :attr:`BacktestResult.table`, in this order.
BACKTEST_COLUMNS = ("name", "kind", "auc", "predicted_orders", "actual_orders", "error_pct",
                    "mae")
#: Columns of :attr:`BacktestResult.calibration`, in this order.
CALIBRATION_COLUMNS = ("name", "kind", "decile", "n_customers", "predicted_mean",
                       "actual_mean", "share_ordered")
#: The baseline rules and what each one says (see the module's documentation).
RULES = {
    "days_since_last_order": "the more recent the last order, the likelier the next one",
    "own_order_rate": "each customer keeps ordering at her own past rate",
    "sleeping_rule": "sleeping members (no order for sleep_after days) do not order",
}
#: Default models of :func:`backtest_churn` (those not available are skipped).
DEFAULT_MODELS = ("bgnbd", "mbgnbd", "pnbd")


# --------------------------------------------------------------------------- metrics
def auc_score(ordered: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for the outcome ``ordered`` (the rank formula).

    The Mann-Whitney form: the probability that a random customer who ordered scores
    higher than a random one who did not (ties count one half), equal to scikit-learn's
    ``roc_auc_score``. NaN when everybody or nobody ordered.

    Examples
    --------
    >>> auc_score(np.array([1, 0, 1, 0]), np.array([0.9, 0.1, 0.5, 0.5]))
    0.875
    """
    y = np.asarray(ordered).astype(bool)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(score, dtype=float))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _row(name: str, kind: str, ordered, actual, predicted, score) -> dict:
    total_pred, total_act = float(np.sum(predicted)), float(np.sum(actual))
    return {
        "name": name, "kind": kind, "auc": auc_score(ordered, score),
        "predicted_orders": total_pred, "actual_orders": total_act,
        "error_pct": (100.0 * (total_pred - total_act) / total_act if total_act > 0
                      else float("nan")),
        "mae": float(np.mean(np.abs(np.asarray(predicted) - np.asarray(actual)))),
    }


def _deciles(name: str, kind: str, actual: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    """Customers in ten groups by predicted orders (1 lowest; ties in row order)."""
    n = len(actual)
    order = np.argsort(predicted, kind="stable")
    decile = np.empty(n, dtype=np.int64)
    decile[order] = np.arange(n) * 10 // max(n, 1) + 1
    frame = pd.DataFrame({"decile": decile, "predicted": predicted, "actual": actual,
                          "ordered": actual > 0})
    out = frame.groupby("decile").agg(
        n_customers=("actual", "size"), predicted_mean=("predicted", "mean"),
        actual_mean=("actual", "mean"), share_ordered=("ordered", "mean")).reset_index()
    out.insert(0, "kind", kind)
    out.insert(0, "name", name)
    return out[list(CALIBRATION_COLUMNS)]


# --------------------------------------------------------------------------- rules
def rule_predictions(summary: pd.DataFrame, rule: str, *, horizon: float,
                     sleep_after: int = 90, time_unit: str | None = None) -> pd.DataFrame:
    """A baseline rule's score and predicted orders in the next ``horizon`` days.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`~crm_analytics.customer_summary` (``customer_id, frequency, T,
        days_since_last_order``).
    rule : {"days_since_last_order", "own_order_rate", "sleeping_rule"}
        See :data:`RULES` and the module's documentation for the formulas.
    horizon : float
        Days ahead.
    sleep_after : int, default 90
        Days without an order after which a member is asleep (``sleeping_rule``).
    time_unit : {"D", "W"}, optional
        Unit of ``T``; default: read from the summary's columns
        (:func:`~crm_analytics.summary.summary_time_unit`).

    Returns
    -------
    pandas.DataFrame
        ``customer_id, score`` (higher: likelier to order) ``, predicted_orders``, in the
        summary's row order.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"customer_id": ["a", "b"], "frequency": [3, 0],
    ...                   "T": [120.0, 100.0], "days_since_last_order": [10, 100]})
    >>> rule = rule_predictions(s, "own_order_rate", horizon=30, time_unit="D")
    >>> rule["predicted_orders"].tolist()
    [0.75, 0.0]
    >>> rule_predictions(s, "sleeping_rule", horizon=30, time_unit="D")["score"].tolist()
    [1.0, 0.0]
    """
    if rule not in RULES:
        raise CrmDataError(f"The 'rule' parameter must be one of {list(RULES)}. Got {rule!r}.")
    x = summary["frequency"].to_numpy(dtype=float)
    d = summary["days_since_last_order"].to_numpy(dtype=float)
    unit_days = TIME_UNIT_DAYS[summary_time_unit(summary, time_unit)]
    ages = summary["T"].to_numpy(dtype=float) * unit_days
    h = float(horizon)
    if rule == "own_order_rate":
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(ages > 0, x / ages, 0.0)
        score = predicted = rate * h
    elif rule == "days_since_last_order":
        shop_rate = x.sum() / ages.sum() if ages.sum() > 0 else 0.0
        n = len(d)
        rank = rankdata(d)  # 1 = most recent, ties share their mean rank
        predicted = shop_rate * h * 2.0 * (1.0 - (rank - 0.5) / n)
        score = -d
    else:
        awake = d < int(sleep_after)
        rate = x[awake].sum() / ages[awake].sum() if ages[awake].sum() > 0 else 0.0
        predicted = np.where(awake, rate * h, 0.0)
        score = awake.astype(float)
    return pd.DataFrame({"customer_id": summary["customer_id"].to_numpy(),
                         "score": np.asarray(score, dtype=float),
                         "predicted_orders": np.asarray(predicted, dtype=float)})


# --------------------------------------------------------------------------- holdout
def rule_score_sql(rule: str, *, alias: str = "s", unit_days: float = 1.0,
                   sleep_after: int = 90) -> str:
    """The SQL form of a rule's ``score`` in :func:`rule_predictions` (higher: likelier
    to order), over a customer summary aliased ``alias`` whose ``T`` is in units of
    ``unit_days`` days. The same formulas, so a ranking by either form is the same.

    >>> rule_score_sql("sleeping_rule", sleep_after=60)
    'CASE WHEN s.days_since_last_order < 60 THEN 1.0 ELSE 0.0 END'
    """
    if rule not in RULES:
        raise CrmDataError(f"The 'rule' parameter must be one of {list(RULES)}. Got {rule!r}.")
    s = alias
    if rule == "own_order_rate":
        age = f"(CAST({s}.T AS DOUBLE) * {float(unit_days)!r})"
        return (f"CASE WHEN {age} > 0 THEN CAST({s}.frequency AS DOUBLE) / {age} "
                "ELSE 0.0 END")
    if rule == "days_since_last_order":
        return f"-CAST({s}.days_since_last_order AS DOUBLE)"
    return f"CASE WHEN {s}.days_since_last_order < {int(sleep_after)} THEN 1.0 ELSE 0.0 END"


def rule_rank(summary: pd.DataFrame, rule: str, *, sleep_after: int = 90,
              time_unit: str | None = None) -> np.ndarray:
    """Each customer's place when ranked by ``rule`` (1 = contact first): score
    descending, ties by ``customer_id`` (as the SQL ``ROW_NUMBER() OVER (ORDER BY score
    DESC, customer_id)``)."""
    score = rule_predictions(summary, rule, horizon=1.0, sleep_after=sleep_after,
                             time_unit=time_unit)["score"].to_numpy(dtype=float)
    order = np.lexsort((summary["customer_id"].astype(str).to_numpy(), -score))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    return rank


def holdout_counts(orders: object, *, calibration_end: object,
                   holdout_end: object) -> pd.DataFrame:
    """Purchase occasions per customer in ``(calibration_end, holdout_end]``.

    ``orders`` are canonical orders (DataFrame or PreparedOrders) or an engine source
    (Parquet, DuckDB, Spark: one small SQL query). Occasions are distinct (customer,
    day) pairs of kept orders. Returns ``customer_id`` (text), ``n`` for the customers
    with at least one.
    """
    c, h = day_number(to_day(calibration_end, "calibration_end")), day_number(
        to_day(holdout_end, "holdout_end"))
    if is_engine_source(orders):
        runner = runner_for(orders)
        query = (f"WITH {orders_cte(runner, as_of_day=h)} SELECT customer_id, "
                 f"COUNT(DISTINCT day) AS n FROM o WHERE day > {c} GROUP BY customer_id")
        got = runner.fetch(query)
        return pd.DataFrame({"customer_id": got["customer_id"].astype(str).to_numpy(),
                             "n": got["n"].to_numpy(dtype=np.int64)})
    prepared = prepare_orders(orders)
    days = prepared.days
    keep = (days > c) & (days <= h)
    codes, uniques = prepared.customer_codes(keep)
    kept_days = days[keep].astype(np.int64)
    pairs = np.unique(codes.astype(np.int64) * (h - c + 1) + (kept_days - c))
    counts = np.bincount(pairs // (h - c + 1), minlength=len(uniques))
    ids = np.asarray(uniques, dtype=object).astype(str)
    return pd.DataFrame({"customer_id": ids, "n": counts.astype(np.int64)})


def _last_day(orders: object) -> pd.Timestamp:
    if is_engine_source(orders):
        return resolve_day(runner_for(orders), None, "holdout_end")[0]
    return resolve_as_of(prepare_orders(orders).orders, None, "holdout_end")


# --------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Models and rules compared on a holdout period, from :func:`backtest_churn`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model then one per rule, columns :data:`BACKTEST_COLUMNS`:
        ``name``, ``kind`` ("model" or "rule"), ``auc`` (who ordered in the holdout),
        ``predicted_orders`` and ``actual_orders`` (holdout purchase occasions, all
        scored customers), ``error_pct`` (predicted vs actual, %), ``mae`` (mean
        absolute error per customer, orders). With several folds: AUC and MAE are the
        folds' means, the orders their sums.
    calibration : pandas.DataFrame
        By decile of predicted orders (1 lowest), per model and rule (last fold):
        :data:`CALIBRATION_COLUMNS`.
    folds : pandas.DataFrame
        The table of every fold with ``fold, calibration_end, holdout_end`` in front.
    calibration_end, holdout_end : pandas.Timestamp
        The (latest) fold's period ends.
    holdout_days : int
        Holdout length in days.
    n_customers, n_ordered : int
        Customers scored and those who ordered in the holdout (latest fold).
    models : dict
        Name -> :class:`~crm_analytics.churn.ChurnModel` fitted on the latest fold's
        calibration period.
    notes : tuple of str
        Models skipped (not available, or the fit failed) and why.
    """

    table: pd.DataFrame
    calibration: pd.DataFrame
    folds: pd.DataFrame
    calibration_end: pd.Timestamp
    holdout_end: pd.Timestamp
    holdout_days: int
    n_customers: int
    n_ordered: int
    models: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def ranking(self, kind: str | None = None) -> list[str]:
        """Names, best first: higher AUC, then smaller |error_pct| (NaN AUC last)."""
        t = self.table if kind is None else self.table[self.table["kind"] == kind]
        key = pd.DataFrame({"auc": -t["auc"].fillna(-np.inf),
                            "err": t["error_pct"].abs().fillna(np.inf), "name": t["name"]})
        return key.sort_values(["auc", "err"], kind="stable")["name"].tolist()

    def summary(self) -> str:
        """The table as short text lines."""
        lines = [f"Backtest: calibration to {self.calibration_end.date()}, holdout "
                 f"{self.holdout_days} days to {self.holdout_end.date()}, "
                 f"{self.n_customers} customers, {self.n_ordered} ordered."]
        for row in self.table.itertuples(index=False):
            lines.append(f"  {row.name:<22} {row.kind:<5} AUC {row.auc:.3f}  predicted "
                         f"{row.predicted_orders:.0f} vs {row.actual_orders:.0f} "
                         f"({row.error_pct:+.1f}%)  MAE {row.mae:.3f}")
        return "\n".join(lines + list(self.notes))


def _one_fold(orders, cal_end: pd.Timestamp, hold_end: pd.Timestamp, models, *,
              time_unit: str, sleep_after: int, penalizer: float):
    summary = customer_summary(orders, as_of=cal_end, time_unit=time_unit)
    horizon = (hold_end - cal_end).days
    counts = holdout_counts(orders, calibration_end=cal_end, holdout_end=hold_end)
    actual = (pd.Series(counts["n"].to_numpy(), index=counts["customer_id"].to_numpy())
              .reindex(summary["customer_id"].astype(str).to_numpy()).fillna(0)
              .to_numpy(dtype=float))
    ordered = actual > 0
    rows, deciles, fitted, notes = [], [], {}, []
    for name in models:
        if name not in MODELS:
            notes.append(f"Model {name!r} skipped: not available in this version "
                         f"(available: {', '.join(MODELS)}).")
            continue
        try:
            m = fit_summary(summary, model=name, penalizer=penalizer, standard_errors=False)
            scores = churn_scores(summary, churn_model=m, horizon=horizon)
        except CrmDataError as exc:
            notes.append(f"Model {name!r} skipped: the fit failed or is degenerate ({exc}).")
            continue
        predicted = scores["expected_orders"].to_numpy(dtype=float)
        score = (1.0 - scores["p_no_order"].to_numpy(dtype=float)
                 if "p_no_order" in scores.columns else predicted)
        fitted[name] = m
        rows.append(_row(name, "model", ordered, actual, predicted, score))
        deciles.append(_deciles(name, "model", actual, predicted))
    for rule in RULES:
        pred = rule_predictions(summary, rule, horizon=horizon, sleep_after=sleep_after)
        predicted = pred["predicted_orders"].to_numpy()
        rows.append(_row(rule, "rule", ordered, actual, predicted, pred["score"].to_numpy()))
        deciles.append(_deciles(rule, "rule", actual, predicted))
    table = pd.DataFrame(rows, columns=list(BACKTEST_COLUMNS))
    return table, pd.concat(deciles, ignore_index=True), fitted, notes, len(summary), \
        int(ordered.sum())


def backtest_churn(
    orders: object,
    *,
    calibration_end: object,
    holdout_end: object = None,
    models: tuple[str, ...] = DEFAULT_MODELS,
    folds: int = 1,
    sleep_after: int = 90,
    time_unit: str = "W",
    penalizer: float = 0.0,
) -> BacktestResult:
    """Compare churn models with simple rules on a holdout period of the shop's history.

    Each model is fitted on the orders up to ``calibration_end`` and asked who will order
    in ``(calibration_end, holdout_end]`` and how often; so is each rule of
    :data:`RULES` (formulas in the module's documentation). The comparison: AUC for
    "ordered in the holdout", total predicted vs actual purchase occasions (error in %),
    the mean absolute error per customer, and a calibration table by decile.

    Parameters
    ----------
    orders : pandas.DataFrame, PreparedOrders or engine source
        Canonical orders, or Parquet path(s) / DuckDB relation / Spark DataFrame: then
        the calibration summary comes from the engine
        (:func:`~crm_analytics.customer_summary`) and the holdout counts from one SQL
        query. Not modified.
    calibration_end : date-like
        Last day of the calibration period (included).
    holdout_end : date-like, optional
        Last day of the holdout period; default the last order day.
    models : tuple of str, default ("bgnbd", "mbgnbd", "pnbd")
        Model families (:data:`~crm_analytics.churn.MODELS`); one not available in this
        version is skipped with a note.
    folds : int, default 1
        Rolling origins: fold ``i`` (0 = the given one) ends its calibration ``i``
        holdout lengths earlier, with a holdout of the same length. The table then
        averages AUC and MAE over the folds and sums the orders.
    sleep_after : int, default 90
        Days without an order after which a member is asleep (``sleeping_rule``).
    time_unit : {"D", "W"}, default "W"
        Unit the models are fitted in (predictions do not depend on it).
    penalizer : float, default 0.0
        See :func:`~crm_analytics.churn.fit_churn_model`.

    Returns
    -------
    BacktestResult

    Raises
    ------
    CrmDataError
        Invalid dates (``holdout_end`` not after ``calibration_end``, no order before a
        calibration end), ``folds`` below 1.

    Examples
    --------
    >>> from crm_analytics.orders.datasets import load_sample
    >>> bt = backtest_churn(load_sample(), calibration_end="2025-10-01",
    ...                     models=("mbgnbd",))
    >>> bt.table["name"].tolist()
    ['mbgnbd', 'days_since_last_order', 'own_order_rate', 'sleeping_rule']
    >>> bt.holdout_days, bt.n_customers
    (91, 4099)
    """
    if isinstance(folds, bool) or not isinstance(folds, int | np.integer) or folds < 1:
        raise CrmDataError(f"The 'folds' parameter must be a whole number >= 1. Got {folds!r}.")
    if not is_engine_source(orders):
        orders = prepare_orders(orders)
    cal_end = to_day(calibration_end, "calibration_end")
    hold_end = (_last_day(orders) if holdout_end is None
                else to_day(holdout_end, "holdout_end"))
    if hold_end <= cal_end:
        raise CrmDataError(f"holdout_end ({hold_end.date()}) must be after calibration_end "
                           f"({cal_end.date()}).")
    length = pd.Timedelta(days=(hold_end - cal_end).days)
    tables, results = [], None
    for i in range(int(folds)):
        c, h = cal_end - i * length, hold_end - i * length
        out = _one_fold(orders, c, h, models, time_unit=time_unit, sleep_after=sleep_after,
                        penalizer=penalizer)
        if results is None:
            results = out
        tables.append(out[0].assign(fold=i, calibration_end=c, holdout_end=h))
    folds_table = pd.concat(tables, ignore_index=True)
    folds_table = folds_table[["fold", "calibration_end", "holdout_end",
                               *BACKTEST_COLUMNS]]
    table, deciles, fitted, notes, n, n_ordered = results
    if folds > 1:
        names = table["name"].tolist()
        g = folds_table.groupby("name", sort=False)
        table = pd.DataFrame({
            "name": names, "kind": table["kind"].to_numpy(),
            "auc": g["auc"].mean().reindex(names).to_numpy(),
            "predicted_orders": g["predicted_orders"].sum().reindex(names).to_numpy(),
            "actual_orders": g["actual_orders"].sum().reindex(names).to_numpy(),
            "mae": g["mae"].mean().reindex(names).to_numpy(),
        })
        with np.errstate(divide="ignore", invalid="ignore"):
            table["error_pct"] = np.where(
                table["actual_orders"] > 0,
                100 * (table["predicted_orders"] - table["actual_orders"])
                / table["actual_orders"], np.nan)
        table = table[list(BACKTEST_COLUMNS)]
    return BacktestResult(
        table=table, calibration=deciles, folds=folds_table, calibration_end=cal_end,
        holdout_end=hold_end, holdout_days=int(length.days), n_customers=n,
        n_ordered=n_ordered, models=fitted, notes=tuple(dict.fromkeys(notes)))

