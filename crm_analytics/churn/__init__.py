"""Who will not order again soon: churn models, scores and holdout validation.

- :mod:`~crm_analytics.churn.model`: :class:`ChurnModel` (BG/NBD, Fader, Hardie & Lee
  2005; MBG/NBD, Batislam et al. 2007; Pareto/NBD, Schmittlein et al. 1987) with
  P(no order), P(alive), order-count probabilities and plain-language ``warnings``,
  and :func:`fit_churn_model`;
- :mod:`~crm_analytics.churn.rules`: the scoring rules shared by the pandas and engine
  paths (risk bands, the next-order rule);
- :mod:`~crm_analytics.churn.scores`: :func:`churn_scores` (with ``p_no_order``, the
  churn probability, and optional intervals), :func:`p_order_count`, :func:`p_alive_at`
  and :func:`score_patterns`, the per-history computation both paths run;
- :mod:`~crm_analytics.churn.holdout`: :func:`churn_holdout_report`.

Units: ``recency``, ``T`` and ``alpha`` are in the summary's time unit ("D" or "W");
the churn window ``horizon`` is always in days.
"""

from __future__ import annotations

from crm_analytics.churn.fit import fit_churn_model
from crm_analytics.churn.holdout import HoldoutReport, churn_holdout_report
from crm_analytics.churn.model import (
    MIN_REPEAT_CUSTOMERS,
    MODELS,
    PARAMETERS,
    ChurnModel,
    check_backend,
    check_churn_model,
    check_rfm,
    compress_rfm,
    fit_patterns,
    fit_summary,
    fit_warnings,
    frequency_age_pairs,
)
from crm_analytics.churn.rules import (
    NEXT_ORDER_BASES,
    RISK_LEVELS,
    check_risk_bands,
    churn_risk_codes,
    expected_gap_days,
    next_order_rule,
    risk_band_codes,
)
from crm_analytics.churn.scores import (
    alive_and_expected,
    check_expected_orders,
    check_interval,
    churn_draw_bounds,
    churn_scores,
    draw_bounds,
    p_alive_at,
    p_order_count,
    pattern_churn,
    score_patterns,
    scores_on_patterns,
)

__all__ = [
    "ChurnModel",
    "HoldoutReport",
    "fit_churn_model",
    "churn_scores",
    "churn_holdout_report",
    "p_order_count",
    "p_alive_at",
    "score_patterns",
    "pattern_churn",
    "draw_bounds",
    "churn_draw_bounds",
    "check_interval",
    "churn_risk_codes",
    "fit_warnings",
    "PARAMETERS",
    "MIN_REPEAT_CUSTOMERS",
    "RISK_LEVELS",
    "NEXT_ORDER_BASES",
    "MODELS",
    "alive_and_expected",
    "check_expected_orders",
    "check_backend",
    "check_churn_model",
    "check_risk_bands",
    "check_rfm",
    "compress_rfm",
    "expected_gap_days",
    "fit_patterns",
    "fit_summary",
    "frequency_age_pairs",
    "next_order_rule",
    "risk_band_codes",
    "scores_on_patterns",
]
