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
    check_orders,
    chunk_count,
    has_column,
    resolve_day,
)
from crm_analytics.churn import (
    NEXT_ORDER_BASES,
    RISK_LEVELS,
    check_churn_model,
    check_risk_bands,
    expected_gap_days,
)
from crm_analytics.ltv import DAYS_PER_MONTH, SpendModel
from crm_analytics.summary.sql import customer_summary_sql


# --------------------------------------------------------------------------- scoring
def _check_scoring(model, spend_model, horizon, high_risk_below, medium_risk_below, output):
    model = check_churn_model(model)
    check_positive(horizon, "horizon")
    if spend_model is not None and not isinstance(spend_model, SpendModel):
        raise CrmDataError("The 'spend_model' argument must be a SpendModel from "
                           f"fit_spend_model(); got {type(spend_model).__name__}.")
    check_risk_bands(high_risk_below, medium_risk_below)
    if output not in ("pandas", "native"):
        raise CrmDataError(f"The 'output' parameter must be 'pandas' or 'native'. Got {output!r}.")
    return model


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

    The same formulas as :func:`crm_analytics.churn.churn_scores` (``p_alive, p_churn,
    expected_orders, churn_risk``; ``next_order_basis``, ``expected_gap_days`` and
    ``add_days``, the days added to the last order (own gaps) or to ``as_of`` (model
    rate) to get ``expected_next_order``, all functions of the history) and, with
    ``horizon_months``, of :func:`crm_analytics.ltv.predict_ltv` (``ltv_orders``: expected
    orders in the horizon, ``ltv_discounted``: their monthly-discounted sum). The spend
    per order depends on ``monetary_value`` and is computed in SQL
    (:func:`score_columns`). Returns the key columns ``frequency, rec_days, t_days`` and
    those numbers.
    """
    scale = unit_days / model.unit_days
    x = patterns["frequency"].to_numpy(dtype=float)
    tx = patterns["recency"].to_numpy(dtype=float) * scale
    TT = patterns["T"].to_numpy(dtype=float) * scale
    p_alive = model.p_alive(x, tx, TT)
    expected = model.expected_orders(horizon / model.unit_days, x, tx, TT)
    risk = np.where(p_alive < high_risk_below, 2, np.where(p_alive < medium_risk_below, 1, 0))
    gap, repeat = expected_gap_days(model, x, patterns["recency"].to_numpy(dtype=float), TT,
                                    unit_days)
    unlikely = p_alive < next_order_min_p_alive
    basis = np.where(unlikely, 2, np.where(repeat, 0, 1))
    add = np.floor(gap + 0.5)
    out = pd.DataFrame({
        "frequency": patterns["frequency"].to_numpy(dtype=np.int64),
        "rec_days": patterns["rec_days"].to_numpy(dtype=np.int64),
        "t_days": patterns["t_days"].to_numpy(dtype=np.int64),
        "p_alive": p_alive,
        "p_churn": 1.0 - p_alive,
        "expected_orders": expected,
        "churn_risk": np.asarray(RISK_LEVELS, dtype=object)[risk].astype(str),
        "next_order_basis": np.asarray(NEXT_ORDER_BASES, dtype=object)[basis].astype(str),
        "expected_gap_days": gap,
        "add_days": pd.array(np.where(unlikely, 0, add).astype(np.int64), dtype="Int64"),
    })
    out.loc[unlikely, "add_days"] = pd.NA
    if horizon_months is not None:
        months = int(horizon_months)
        month = (DAYS_PER_MONTH if days_per_month is None else days_per_month) / model.unit_days
        discount = (1.0 + monthly_discount_rate) ** -np.arange(1, months + 1)
        cumulative = np.zeros(len(x))
        discounted = np.zeros(len(x))
        for k in range(1, months + 1):  # as predict_ltv: a few months x all histories
            nxt = model._expected_orders_if_alive(k * month, x, TT) * p_alive
            discounted += (nxt - cumulative) * discount[k - 1]
            cumulative = nxt
        out["ltv_orders"] = cumulative
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
    expected_revenue, expected_margin, ltv``). The margin rate is ``margin_rate``, else
    each customer's ``total_margin / total_amount`` (``shop_margin_rate`` when the amount
    is 0) when ``margin``, else unknown (``expected_margin`` NULL, ``ltv`` on revenue).
    """
    day = DIALECTS[runner.dialect]["day_date"]
    a = int(as_of_day)
    nxt = (f"CASE {p}.next_order_basis "
           f"WHEN 'own_gaps' THEN {day.format(x=f'{s}.last_day + {p}.add_days')} "
           f"WHEN 'model_rate' THEN {day.format(x=f'{a} + {p}.add_days')} END")
    cols = [(c, f"{p}.{c}") for c in ("p_alive", "p_churn", "expected_orders", "churn_risk")]
    cols += [("expected_next_order", nxt), ("next_order_basis", f"{p}.next_order_basis"),
             ("expected_gap_days", f"{p}.expected_gap_days")]
    if spend_model is None:
        return cols
    pp, q = float(spend_model.params["p"]), float(spend_model.params["q"])
    mean = float(spend_model.population_mean_spend)
    x = f"CAST({s}.frequency AS DOUBLE)"
    w = f"({pp!r} * {x} / ({pp!r} * {x} + {q!r} - 1))"
    spend = (f"((1 - {w}) * {mean!r} + {w} * CASE WHEN {s}.frequency > 0 "
             f"THEN {s}.monetary_value ELSE 0.0 END)")
    if margin_rate is not None:
        rate = repr(float(margin_rate))
    elif margin:
        shop = "NULL" if shop_margin_rate is None else repr(float(shop_margin_rate))
        rate = (f"CASE WHEN {s}.total_amount > 0 THEN {s}.total_margin / {s}.total_amount "
                f"ELSE {shop} END")
    else:
        rate = None
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


def score_customers_on_engine(runner: Runner, model, spend_model=None, *, as_of=None, time_unit="D",
                    horizon=90, horizon_months=12, monthly_discount_rate=0.01,
                    margin_rate=None, high_risk_below=0.5, medium_risk_below=0.8,
                    next_order_min_p_alive=0.1, output="native"):
    """Churn / LTV scores joined in the engine; see :func:`crm_analytics.engines.score_customers`."""
    model = _check_scoring(model, spend_model, horizon, high_risk_below, medium_risk_below,
                           output)
    unit_days = check_time_unit(time_unit)
    counts = check_orders(runner)
    _, as_of_day = resolve_day(runner, as_of, "as_of")
    margin = has_column(runner, "margin")
    if margin and margin_rate is not None and spend_model is not None:
        raise CrmDataError(
            "The orders have a 'margin' column and margin_rate="
            f"{margin_rate!r} was also given. Pass margin_rate=None to use the margins of the "
            "orders, or leave the margin column out to use a flat rate."
        )
    query = customer_summary_sql(runner, as_of_day=as_of_day, unit_days=unit_days,
                                 margin=margin, chunks=chunk_count(runner, counts["n_rows"]),
                                 order=False)
    summary = f"crm_scored_summary_{next(_pattern_tables)}"
    runner.materialise(summary, query)
    pats = fetch_patterns(runner, summary, as_of_day=as_of_day)
    scores = pattern_scores(
        model, pats, unit_days=unit_days, horizon=horizon, high_risk_below=high_risk_below,
        medium_risk_below=medium_risk_below, next_order_min_p_alive=next_order_min_p_alive,
        horizon_months=None if spend_model is None else horizon_months,
        monthly_discount_rate=monthly_discount_rate)
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
