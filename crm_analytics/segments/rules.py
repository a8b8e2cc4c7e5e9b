"""Segment vocabularies both segmenters share: feature names, RFM schemes, name words."""

from __future__ import annotations

__all__ = [
    "CLASSIC_SEGMENTS",
    "CN8_SEGMENTS",
    "FEATURE_COLUMNS",
    "SEGMENT_COLUMNS",
    "feature_column",
]

#: Business feature name -> column of :func:`~crm_analytics.customer_summary`.
FEATURE_COLUMNS = {
    "recency": "days_since_last_order",
    "frequency": "n_orders",
    "monetary": "total_amount",
}
RECENCY, FREQUENCY, MONETARY = FEATURE_COLUMNS.values()

#: Segment id and name columns, in the order every segment table puts them.
SEGMENT_COLUMNS = ("segment", "segment_name", "segment_name_en", "segment_name_zh")

#: Classic R-F quintile segments, best first: code -> (English, Chinese).
CLASSIC_SEGMENTS = {
    "champions": ("champions", "冠军客户"),
    "loyal_customers": ("loyal customers", "忠诚客户"),
    "potential_loyalists": ("potential loyalists", "潜在忠诚客户"),
    "new_customers": ("new customers", "新客户"),
    "promising": ("promising", "有潜力客户"),
    "need_attention": ("need attention", "需要关注"),
    "about_to_sleep": ("about to sleep", "即将沉睡"),
    "cant_lose_them": ("can't lose them", "不能失去"),
    "at_risk": ("at risk", "有流失风险"),
    "hibernating": ("hibernating", "沉睡客户"),
}

#: Chinese 8-class RFM: code -> (R high, F high, M high, English, Chinese), best first.
CN8_SEGMENTS = {
    "important_value": (True, True, True, "important value", "重要价值客户"),
    "important_development": (True, False, True, "important development", "重要发展客户"),
    "important_retention": (False, True, True, "important retention", "重要保持客户"),
    "important_winback": (False, False, True, "important win-back", "重要挽留客户"),
    "general_value": (True, True, False, "general value", "一般价值客户"),
    "general_development": (True, False, False, "general development", "一般发展客户"),
    "general_retention": (False, True, False, "general retention", "一般保持客户"),
    "general_winback": (False, False, False, "general win-back", "一般挽留客户"),
}

# Words of KMeans segment names: (English, Chinese) per level.
VALUE_WORDS = {"top": ("top-value", "顶级价值"), "high": ("high-value", "高价值"),
               "mid": ("mid-value", "中价值"), "low": ("low-value", "低价值")}
FREQ_WORDS = {"high": ("frequent", "高频"), "mid": ("repeat", "复购"),
              "one": ("one-time", "单次")}
RECENCY_WORDS = {"high": ("active", "活跃"), "mid": ("lapsing", "沉默"),
                 "low": ("lost", "流失")}


def feature_column(name: str) -> str:
    """The column a feature name stands for (business names mapped, others kept).

    Examples
    --------
    >>> feature_column("recency"), feature_column("p_alive")
    ('days_since_last_order', 'p_alive')
    """
    return FEATURE_COLUMNS.get(name, name)
