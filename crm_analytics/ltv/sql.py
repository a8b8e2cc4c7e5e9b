"""Churn and LTV scores joined inside the engine (DuckDB, Spark)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from crm_analytics._core.checks import check_positive
from crm_analytics._core.dates import check_time_unit
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends.sql import (
    DIALECTS,
    Runner,
    as_text,
    chunk_count,
    has_column,
    resolve_day,
)
from crm_analytics.churn import (
    NEXT_ORDER_BASES,
    RISK_LEVELS,
    check_churn_model,
    check_risk_bands,
    score_patterns,
)
from crm_analytics.churn.rules import next_order_sql
from crm_analytics.ltv.rules import (
    DAYS_PER_MONTH,
    check_horizon_months,
    discounted_orders,
    margin_rule,
)
from crm_analytics.ltv.spend import check_spend_model
from crm_analytics.orders.sql import check_engine_orders
from crm_analytics.summary.sql import customer_summary_sql

__all__ = [
    "fetch_patterns",
    "pattern_scores",
    "pattern_join",
    "score_columns",
    "shop_margin_rate",
    "score_customers_on_engine",
]


# --------------------------------------------------------------------------- scoring
def _check_scoring(churn_model, spend_model, horizon, high_risk_below, medium_risk_below,
                   output):
    churn_model = check_churn_model(churn_model)
    check_positive(horizon, "horizon")
    if spend_model is not None:
        check_spend_model(spend_model)
    check_risk_bands(high_risk_below, medium_risk_below)
    if output not in ("pandas", "native"):
        raise CrmDataError(f"The 'output' parameter must be 'pandas' or 'native'. Got {output!r}.")
    return churn_model


def fetch_patterns(runner: Runner, summary: str, *, as_of_day: int) -> pd.DataFrame:
    """Distinct ``(frequency, recency, T)`` histories of a summary query, with counts.

    ``summary`` is a query or table with the columns of :func:`customer_summary_sql`
    (day numbers). One row per history: ``frequency, rec_days, t_days`` (integer keys:
    days from first to last order and to ``as_of``), ``recency, T`` (the summary's
    values), ``n`` (customers) and ``first_id``, in the order of each history's first
    customer by ``customer_id``: the order :func:`crm_analytics.churn.compress_rfm`
    gives a summary sorted by id, so a fit on these rows is the pandas fit.
    """
    a = int(as_of_day)
    raw = runner.fetch(
        f"SELECT frequency, last_day - first_day AS rec_days, {a} - first_day AS t_days, "
        "MIN(recency) AS recency, MIN(T) AS T, COUNT(*) AS n, MIN(customer_id) AS first_id "
        f"FROM {summary} GROUP BY frequency, last_day - first_day, {a} - first_day "
        "ORDER BY first_id"
    )
    out = pd.DataFrame({
        "frequency": raw["frequency"].to_numpy(dtype=np.int64),
        "rec_days": raw["rec_days"].to_numpy(dtype=np.int64),
        "t_days": raw["t_days"].to_numpy(dtype=np.int64),
        "recency": raw["recency"].to_numpy(dtype=float),
        "T": raw["T"].to_numpy(dtype=float),
        "n": raw["n"].to_numpy(dtype=np.int64),
    })
    return out


def pattern_scores(
    model, patterns: pd.DataFrame, *, unit_days: float, horizon: float = 90,
    high_risk_below: float = 0.5, medium_risk_below: float = 0.8,
    next_order_min_p_alive: float = 0.1, horizon_months: int | None = None,
    monthly_discount_rate: float = 0.01, days_per_month: float | None = None,
) -> pd.DataFrame:
    """Every per-history number of churn_scores / predict_ltv, once per history.

    The functions :func:`crm_analytics.churn.churn_scores` and
    :func:`crm_analytics.ltv.predict_ltv` run themselves: :func:`~crm_analytics.churn.
    score_patterns` (``p_alive, p_no_order, p_churn, expected_orders, churn_risk``;
    ``next_order_basis``, ``expected_gap_days`` and ``add_days``, the days added to the
    last order (own gaps) or to ``as_of`` (model rate) to get ``expected_next_order``)
    and, with ``horizon_months``, :func:`crm_analytics.ltv.rules.discounted_orders`
    (``ltv_orders``: expected orders in the horizon, ``ltv_discounted``: their
    monthly-discounted sum). The spend per order depends on ``monetary_value`` and is
    computed in SQL (:func:`score_columns`). Returns the key columns ``frequency,
    rec_days, t_days`` and those numbers.

    ``model`` is the fitted :class:`~crm_analytics.churn.ChurnModel`; ``patterns`` come
    from :func:`fetch_patterns` (``recency``, ``T`` in units of ``unit_days`` days).
    """
    churn_model = check_churn_model(model)
    x = patterns["frequency"].to_numpy(dtype=float)
    scores = score_patterns(
        churn_model, x, patterns["recency"].to_numpy(dtype=float),
        patterns["T"].to_numpy(dtype=float), unit_days=unit_days, horizon=horizon,
        high_risk_below=high_risk_below, medium_risk_below=medium_risk_below,
        next_order_min_p_alive=next_order_min_p_alive)
    unlikely = np.isnan(scores["add_days"])
    add = pd.array(np.where(unlikely, 0, scores["add_days"]).astype(np.int64), dtype="Int64")
    add[unlikely] = pd.NA
    out = pd.DataFrame({
        "frequency": patterns["frequency"].to_numpy(dtype=np.int64),
        "rec_days": patterns["rec_days"].to_numpy(dtype=np.int64),
        "t_days": patterns["t_days"].to_numpy(dtype=np.int64),
        "p_alive": scores["p_alive"],
        "p_no_order": scores["p_no_order"],
        "p_churn": scores["p_churn"],
        "expected_orders": scores["expected_orders"],
        "churn_risk": np.asarray(RISK_LEVELS, dtype=object)[scores["risk"]].astype(str),
        "next_order_basis": np.asarray(NEXT_ORDER_BASES,
                                       dtype=object)[scores["basis"]].astype(str),
        "expected_gap_days": scores["expected_gap_days"],
        "add_days": add,
    })
    if horizon_months is not None:
        T = patterns["T"].to_numpy(dtype=float) * (unit_days / churn_model.unit_days)
        orders, discounted = discounted_orders(
            churn_model, x, T, scores["p_alive"], horizon_months=horizon_months,
            monthly_discount_rate=monthly_discount_rate,
            days_per_month=DAYS_PER_MONTH if days_per_month is None else days_per_month)
        out["ltv_orders"] = orders
        out["ltv_discounted"] = discounted
    return out


def pattern_join(summary_alias: str, pattern_alias: str, as_of_day: int) -> str:
    """The join condition of a summary row and its history's row of :func:`pattern_scores`."""
    s, p = summary_alias, pattern_alias
    return (f"{s}.frequency = {p}.frequency AND {s}.last_day - {s}.first_day = {p}.rec_days "
            f"AND {int(as_of_day)} - {s}.first_day = {p}.t_days")


def score_columns(
    runner: Runner, *, as_of_day: int, spend_model=None, margin_rate: float | None = None,
    margin: bool = False, shop_margin_rate: float | None = None, s: str = "s", p: str = "p",
) -> list[tuple[str, str]]:
    """``(name, SQL expression)`` of the churn and LTV columns, summary ``s`` joined to ``p``.

    Names as :func:`crm_analytics.churn.churn_scores` (``p_alive ... expected_gap_days``)
    and, with ``spend_model``, :func:`crm_analytics.ltv.predict_ltv` (``expected_orders``
    there is ``ltv_expected_orders`` here, then ``expected_spend_per_order,
    expected_revenue, expected_margin, ltv``). Each expression is generated by the rule
    the pandas path evaluates in NumPy: the next-order date by
    :func:`crm_analytics.churn.rules.next_order_sql`, the spend by
    :meth:`crm_analytics.ltv.spend.SpendRule.sql`, the margin rate by
    :meth:`crm_analytics.ltv.rules.MarginRule.sql` (``margin_rate``, else with
    ``margin`` each customer's ``total_margin / total_amount``, ``shop_margin_rate`` when
    the amount is 0, else unknown: ``expected_margin`` NULL, ``ltv`` on revenue).
    """
    day = DIALECTS[runner.dialect]["day_date"]
    nxt = next_order_sql(f"{p}.next_order_basis", f"{p}.add_days", last_day=f"{s}.last_day",
                         as_of_day=as_of_day, day_date=day)
    cols = [(c, f"{p}.{c}") for c in ("p_alive", "p_no_order", "p_churn", "expected_orders",
                                      "churn_risk")]
    cols += [("expected_next_order", nxt), ("next_order_basis", f"{p}.next_order_basis"),
             ("expected_gap_days", f"{p}.expected_gap_days")]
    if spend_model is None:
        return cols
    spend = check_spend_model(spend_model).spend_rule().sql(f"{s}.frequency",
                                                            f"{s}.monetary_value")
    rule = margin_rule(has_margin=margin and margin_rate is None, margin_rate=margin_rate)
    rate = rule.sql(s, shop_margin_rate)
    revenue = f"({p}.ltv_orders * {spend})"
    cols += [
        ("ltv_expected_orders", f"{p}.ltv_orders"),
        ("expected_spend_per_order", spend),
        ("expected_revenue", revenue),
        ("expected_margin", "CAST(NULL AS DOUBLE)" if rate is None else f"{revenue} * {rate}"),
        ("ltv", f"{p}.ltv_discounted * {spend}" + ("" if rate is None else f" * {rate}")),
    ]
    return cols


def shop_margin_rate(runner: Runner, summary: str) -> float | None:
    """Total margin / total amount of a summary (None when the amount is not positive)."""
    row = runner.fetch(f"SELECT SUM(total_margin) AS m, SUM(total_amount) AS a FROM {summary}")
    m, a = row["m"].iloc[0], row["a"].iloc[0]
    return float(m) / float(a) if pd.notna(a) and float(a) > 0 else None


_pattern_tables = itertools.count()


def score_customers_on_engine(
    runner: Runner, churn_model=None, spend_model=None, *, as_of=None, time_unit="D",
    horizon=90, horizon_months=12, monthly_discount_rate=0.01, margin_rate=None,
    high_risk_below=0.5, medium_risk_below=0.8, next_order_min_p_alive=0.1,
    days_per_month=DAYS_PER_MONTH, output="native",
):
    """Churn / LTV scores joined in the engine; see :func:`crm_analytics.ltv.score_customers`."""
    churn_model = _check_scoring(churn_model, spend_model, horizon, high_risk_below,
                                 medium_risk_below, output)
    if spend_model is not None:
        check_horizon_months(horizon_months)
        check_positive(monthly_discount_rate, "monthly_discount_rate", allow_zero=True)
    unit_days = check_time_unit(time_unit)
    counts = check_engine_orders(runner)
    _, as_of_day = resolve_day(runner, as_of, "as_of")
    margin = has_column(runner, "margin")
    if spend_model is not None:
        margin_rule(has_margin=margin, margin_rate=margin_rate)  # the pandas path's error
    query = customer_summary_sql(runner, as_of_day=as_of_day, unit_days=unit_days,
                                 margin=margin, chunks=chunk_count(runner, counts["n_rows"]),
                                 order=False)
    summary = f"crm_scored_summary_{next(_pattern_tables)}"
    runner.materialise(summary, query)
    pats = fetch_patterns(runner, summary, as_of_day=as_of_day)
    scores = pattern_scores(
        churn_model, pats, unit_days=unit_days, horizon=horizon,
        high_risk_below=high_risk_below, medium_risk_below=medium_risk_below,
        next_order_min_p_alive=next_order_min_p_alive,
        horizon_months=None if spend_model is None else horizon_months,
        monthly_discount_rate=monthly_discount_rate, days_per_month=days_per_month)
    name = f"crm_patterns_{next(_pattern_tables)}"
    runner.register(name, scores)
    shop = shop_margin_rate(runner, summary) if margin and spend_model is not None else None
    cols = score_columns(runner, as_of_day=as_of_day, spend_model=spend_model,
                         margin_rate=margin_rate, margin=margin, shop_margin_rate=shop)
    select = ", ".join(["s.customer_id"] + [f"{expr} AS {col}" for col, expr in cols])
    query = (f"SELECT {select} FROM {summary} s JOIN {name} p "
             f"ON {pattern_join('s', 'p', as_of_day)} ORDER BY s.customer_id")
    if output == "native":
        return runner.native(query)
    out = runner.fetch(query)
    out["customer_id"] = as_text(out["customer_id"])
    out["expected_next_order"] = pd.to_datetime(out["expected_next_order"]).astype(
        "datetime64[ns]")
    return out
