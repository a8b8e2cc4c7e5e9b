"""The churn section's story, the same on both report paths.

Which model scores churn and why (a backtest on the shop's own last months,
:func:`crm_analytics.churn.fit.choose_churn_model`), what the model cannot support (its
warnings), how churn risk relates to the sleeping status (a two-way count table), and
what to do when no model beats a simple rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics.churn import MODELS, RISK_LEVELS
from crm_analytics.churn.fit import ModelChoice, choose_churn_model
from crm_analytics.orders.encode import PreparedOrders
from crm_analytics.sleeping.rules import STATUSES

__all__ = [
    "BACKTEST_MAX_CUSTOMERS",
    "BACKTEST_SAMPLE_CUSTOMERS",
    "PNBD_MAX_CUSTOMERS",
    "DEFAULT_MODEL",
    "RULE_HOW_TO_RANK",
    "ChurnStory",
    "choose_report_model",
    "customer_sample",
    "churn_fields",
    "spend_notes",
    "model_warnings",
    "risk_by_status",
    "risk_vs_sleeping_sentence",
]

#: The family used when the backtest cannot run (too short a history, too many
#: customers on an engine): it scores one-time buyers, unlike plain BG/NBD.
DEFAULT_MODEL = "mbgnbd"
#: Engine sources: the backtest collects a customer summary into memory, so it runs up
#: to this many customers; above, the report uses :data:`DEFAULT_MODEL` and says so.
BACKTEST_MAX_CUSTOMERS = 200_000
#: Pareto/NBD joins the report's backtest up to this many customers: its fit takes
#: seconds per 100,000 customers (BG/NBD and MBG/NBD well under one), and the report
#: must stay quick on large shops. Above it the page says it was left out.
PNBD_MAX_CUSTOMERS = 50_000
#: In memory, shops with more customers are backtested on a seeded sample of this many
#: customers (the choice of a model family needs no more); the chosen family is then
#: fitted on every customer.
BACKTEST_SAMPLE_CUSTOMERS = 200_000
#: How a reader ranks the customers of ``customers.csv`` by each rule.
RULE_HOW_TO_RANK = {
    "days_since_last_order": "sort customers.csv by days_since_last_order, smallest first",
    "own_order_rate": "sort customers.csv by frequency / T, largest first",
    "sleeping_rule": "contact the awake members (status active or pre_sleep) first",
}


def risk_vs_sleeping_sentence(sleep_after: int, horizon: int = 90) -> str:
    """The one sentence telling churn risk and sleeping status apart.

    >>> risk_vs_sleeping_sentence(90)[:52]
    'Churn risk is the chance of no order in the next 90 '
    """
    return (f"Churn risk is the chance of no order in the next {horizon} days, from each "
            "customer's whole history (how often and how recently she ordered); sleeping "
            f"status only counts the days since her last order ({sleep_after} or more: "
            "sleeping), so a rare buyer can be awake yet at high risk and a frequent one "
            "asleep yet likely to return.")


@dataclass(frozen=True, eq=False)
class ChurnStory:
    """The churn model family the report uses, and the sentence saying why.

    Attributes
    ----------
    name : str
        Model family (``MODELS`` key).
    text : str
        Why this family: the backtest's verdict, or why no backtest ran.
    choice : ModelChoice or None
        The backtest's choice (None when no backtest ran).
    refitted : bool
        Whether ``choice.model`` is already fitted on every customer (False when the
        backtest ran on a sample: the caller fits ``name`` on all customers).
    """

    name: str
    text: str
    choice: ModelChoice | None = None
    refitted: bool = True

    @property
    def best_rule(self) -> str | None:
        """The rule to rank customers by when no model beat it, else None."""
        if self.choice is None or self.choice.beats_rules:
            return None
        return self.choice.best_rule

    def rule_text(self) -> str:
        """What the page says when a rule beat every model ("" otherwise)."""
        rule = self.best_rule
        if rule is None:
            return ""
        return (f"No model beat the simple rule '{rule.replace('_', ' ')}' in the backtest, "
                f"so rank customers by that rule ({RULE_HOW_TO_RANK[rule]}): customers.csv "
                "holds that ranking as rule_rank, 1 = contact first.")


def choose_report_model(source: object, *, as_of: pd.Timestamp, sleep_after: int,
                        refit: bool, n_customers: int | None = None,
                        engine: bool = False) -> ChurnStory:
    """Choose the churn family by a backtest on ``source`` (orders or an engine runner).

    On an engine (``engine=True``), ``n_customers`` above :data:`BACKTEST_MAX_CUSTOMERS`
    skips the backtest; above :data:`PNBD_MAX_CUSTOMERS` Pareto/NBD is left out of it. Any reason the backtest cannot run gives :data:`DEFAULT_MODEL` with a
    sentence saying why.
    """
    name = MODELS[DEFAULT_MODEL]
    if engine and n_customers is not None and n_customers > BACKTEST_MAX_CUSTOMERS:
        return ChurnStory(DEFAULT_MODEL, (
            f"{name} is used without a backtest: with {n_customers:,} customers the "
            f"backtest (run in memory up to {BACKTEST_MAX_CUSTOMERS:,}) was skipped."))
    models, left_out = ("bgnbd", "mbgnbd", "pnbd"), ""
    if n_customers is not None and n_customers > PNBD_MAX_CUSTOMERS:
        models = ("bgnbd", "mbgnbd")
        left_out = (f" Pareto/NBD was left out of the backtest: with {n_customers:,} "
                    f"customers (more than {PNBD_MAX_CUSTOMERS:,}) its fit would dominate "
                    "the report's time; run crm_analytics.backtest_churn to include it.")
    sampled = ""
    if (not engine and n_customers is not None and n_customers > BACKTEST_SAMPLE_CUSTOMERS
            and isinstance(source, PreparedOrders)):
        source = customer_sample(source, BACKTEST_SAMPLE_CUSTOMERS)
        refit = False
        sampled = (f" The backtest ran on a seeded sample of {BACKTEST_SAMPLE_CUSTOMERS:,} of "
                   f"the {n_customers:,} customers; the chosen model is fitted on all.")
    try:
        choice = choose_churn_model(source, as_of=as_of, sleep_after=sleep_after,
                                    time_unit="W", refit=refit, models=models)
    except CrmDataError as exc:
        return ChurnStory(DEFAULT_MODEL, f"{name} is used without a backtest ({exc}).")
    return ChurnStory(choice.name,
                      f"Model chosen by a backtest: {choice.reason}{left_out}{sampled}",
                      choice, refitted=not sampled)


def customer_sample(prepared: PreparedOrders, size: int, seed: int = 0) -> PreparedOrders:
    """The orders of ``size`` customers drawn at random (seeded) from ``prepared``."""
    n = len(prepared.customer_ids)
    chosen = np.zeros(n, dtype=bool)
    chosen[np.random.default_rng(seed).choice(n, size=min(size, n), replace=False)] = True
    keep = chosen[prepared.codes]
    return PreparedOrders(prepared.orders.loc[keep].reset_index(drop=True), prepared.report)


def model_warnings(model: object, story: ChurnStory) -> tuple[str, ...]:
    """The model's warnings, plus the backtest's when the model does not carry them."""
    own = tuple(getattr(model, "warnings", ()) or ())
    extra = () if story.choice is None else story.choice.warnings
    return own + tuple(w for w in extra if w not in own)


def risk_by_status(counts: pd.DataFrame) -> pd.DataFrame:
    """Two-way counts: one row per churn risk, one column per member status, and totals.

    ``counts`` has ``churn_risk, status, n`` (the engine's GROUP BY) or one row per
    customer with ``churn_risk, status`` (then each row counts 1).

    >>> t = risk_by_status(pd.DataFrame({"churn_risk": ["low", "high", "high"],
    ...                                  "status": ["active", "sleeping", "sleeping"]}))
    >>> t.to_dict("list")["sleeping"], t["churn_risk"].tolist()
    ([0, 0, 2, 2], ['low', 'medium', 'high', 'total'])
    """
    n = counts["n"] if "n" in counts.columns else pd.Series(1, index=counts.index)
    frame = pd.DataFrame({"churn_risk": counts["churn_risk"].astype(str).to_numpy(),
                          "status": counts["status"].astype(str).to_numpy(),
                          "n": n.to_numpy(dtype=np.int64)})
    wide = (frame.pivot_table(index="churn_risk", columns="status", values="n",
                              aggfunc="sum", fill_value=0)
            .reindex(index=list(RISK_LEVELS), columns=list(STATUSES), fill_value=0)
            .astype(np.int64))
    wide["total"] = wide.sum(axis=1)
    wide.loc["total"] = wide.sum(axis=0)
    wide.columns.name = None
    return wide.rename_axis("churn_risk").reset_index()


def churn_fields(model: object, story: ChurnStory,
                 risk_status: pd.DataFrame | None) -> dict[str, object]:
    """The churn fields of :class:`~crm_analytics.report.sections.ReportTables`."""
    if model is None:
        return {"churn_model_name": None, "churn_choice": "", "churn_warnings": (),
                "churn_rule_text": "", "backtest": None, "risk_by_status": None}
    return {
        "churn_model_name": MODELS.get(getattr(model, "model", story.name), story.name),
        "churn_choice": story.text,
        "churn_warnings": model_warnings(model, story),
        "churn_rule_text": story.rule_text(),
        "backtest": None if story.choice is None else story.choice.backtest,
        "risk_by_status": risk_status,
    }


def spend_notes(spend_model: object) -> tuple[str, ...]:
    """The spend model's warnings (its fallback included), () without a model."""
    return tuple(getattr(spend_model, "warnings", ()) or ())
