"""Customer segments: KMeans on RFM(+churn/LTV) features, and rule-based RFM schemes.

Business feature names
----------------------
``features`` use business names, mapped to columns of
:func:`~crm_analytics.customer_summary` (see :data:`FEATURE_COLUMNS`):

- ``"recency"`` -> ``days_since_last_order`` (days from the last order to ``as_of``;
  smaller is better). This is **not** the BG/NBD ``recency`` column of the summary,
  which is the span from the first to the last purchase.
- ``"frequency"`` -> ``n_orders`` (number of orders, not the BG/NBD repeat count).
- ``"monetary"`` -> ``total_amount`` (money paid over the customer's life: what the
  shop earns from them; pass ``"avg_order_value"`` to segment on basket size instead).

Any other name must be a column of the input, or of a table passed as ``extra=``
(e.g. ``p_alive`` or a predicted LTV from the churn/LTV modules), joined on
``customer_id``. Output tables use the column names, never the business names.

Number of segments
------------------
Without ``n_clusters``, :func:`kmeans_segments` picks k in 4..8 (:data:`K_RANGE`) by
silhouette: a CRM team acts on 4 to 8 groups. When the data support fewer (too few
distinct customer profiles or customers) it uses the largest k they support and says
why in ``result.k_note``; below :data:`MIN_CUSTOMERS` customers it refuses and points to
``n_clusters=1`` (one group).

Segment names
-------------
Every segment carries ``segment_name_en``, ``segment_name_zh`` and ``segment_name``
(``"<en> / <zh>"``), in KMeans and RFM results alike. KMeans names are derived from the
segment's profile against the whole population (see :func:`kmeans_segments`), and never
contradict the sleeping rule: a segment whose median customer is asleep (``sleep_after``
days, default 90) is not called active. :func:`readable_profiles` is the profile table
for people (readable headers, shares in percent, money with its currency).

Modules
-------
``rules`` (vocabularies), ``inputs`` (checks and joins), ``profiles`` (profiles and
names), ``kmeans``, ``rfm``, ``sql`` (KMeans assignment in DuckDB / Spark) and
``export`` (CSV files).
"""

from __future__ import annotations

from crm_analytics.segments.inputs import join_extra, same_ids
from crm_analytics.segments.kmeans import (
    K_RANGE,
    MIN_CUSTOMERS,
    FeatureTransform,
    SegmentationResult,
    kmeans_segments,
    transform_features,
)
from crm_analytics.segments.profiles import (
    profiles_from_aggregates,
    readable_profiles,
    segment_order,
    segment_profiles,
)
from crm_analytics.segments.rfm import RfmSegmentation, rfm_segments
from crm_analytics.segments.rules import (
    CLASSIC_SEGMENTS,
    CN8_SEGMENTS,
    FEATURE_COLUMNS,
    SEGMENT_COLUMNS,
)

__all__ = [
    "FEATURE_COLUMNS",
    "CLASSIC_SEGMENTS",
    "CN8_SEGMENTS",
    "SEGMENT_COLUMNS",
    "K_RANGE",
    "MIN_CUSTOMERS",
    "FeatureTransform",
    "RfmSegmentation",
    "SegmentationResult",
    "join_extra",
    "kmeans_segments",
    "profiles_from_aggregates",
    "readable_profiles",
    "rfm_segments",
    "same_ids",
    "segment_order",
    "segment_profiles",
    "transform_features",
]

# Transitional: tests/test_engines_report.py still imports this private name; it should
# call transform_features (or read a result's .transform) instead. Remove then.
def _transform(x, columns, log_transform):
    """Deprecated internal form of :func:`transform_features`: (z, logged, mean, scale)."""
    z, t = transform_features(x, columns, log_transform)
    return z, t.log_features, t.mean, t.scale

