"""KMeans segments assigned in SQL (DuckDB, Spark) from a fitted :class:`SegmentationResult`.

The features are transformed with the result's own :class:`FeatureTransform` (the same
log1p columns, means and scales), and each row goes to the nearest centre; ties go to
the lower segment id, as :meth:`sklearn.cluster.KMeans.predict` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends.sql import DIALECTS, sql_text
from crm_analytics.segments.kmeans import SegmentationResult

__all__ = ["nearest_segment_sql", "segment_distance_sql", "segment_name_sql"]


def segment_distance_sql(
    result: SegmentationResult, *, dialect: str, alias: str = "s"
) -> list[str]:
    """One SQL expression per segment: squared distance of a row to that segment's centre.

    Parameters
    ----------
    result : SegmentationResult
        A fitted :func:`~crm_analytics.segments.kmeans_segments` result.
    dialect : {"duckdb", "spark"}
    alias : str, default "s"
        Table alias of the rows holding the feature columns.

    Returns
    -------
    list of str
        ``k`` expressions, segment 1 first.

    Examples
    --------
    >>> import pandas as pd
    >>> from crm_analytics.segments import kmeans_segments
    >>> s = pd.DataFrame({"customer_id": list("abcd"), "n_orders": [1, 2, 8, 9]})
    >>> res = kmeans_segments(s, n_clusters=2, features=["n_orders"], log_transform=())
    >>> d = segment_distance_sql(res, dialect="duckdb")
    >>> len(d), d[0][:49]
    (2, '(((CAST(s.n_orders AS DOUBLE) - 5.0) / 3.53553390')
    """
    t = result.transform
    if t is None:
        raise CrmDataError("The result holds no fitted transform; refit with kmeans_segments.")
    log1p = DIALECTS[dialect]["log1p"]
    columns = list(t.columns)
    z = []
    for j, c in enumerate(columns):
        x = f"CAST({alias}.{c} AS DOUBLE)"
        if c in t.log_features:
            x = log1p.format(x=x)
        z.append(f"(({x} - {float(t.mean[j])!r}) / {float(t.scale[j])!r})")
    centers = result.centers[columns].to_numpy(dtype=float).copy()
    for j, c in enumerate(columns):
        if c in t.log_features:
            centers[:, j] = np.log1p(centers[:, j])
        centers[:, j] = (centers[:, j] - t.mean[j]) / t.scale[j]
    return [" + ".join(f"({zj} - {float(cj)!r}) * ({zj} - {float(cj)!r})"
                       for zj, cj in zip(z, row, strict=True)) for row in centers]


def nearest_segment_sql(distance_columns: Sequence[str]) -> str:
    """SQL ``CASE``: the segment (1..k) whose distance column is smallest (ties: lowest).

    Examples
    --------
    >>> nearest_segment_sql(["d0", "d1"])
    'CASE WHEN d0 = LEAST(d0, d1) THEN 1 WHEN d1 = LEAST(d0, d1) THEN 2 END'
    """
    nearest = "LEAST(" + ", ".join(distance_columns) + ")"
    return "CASE " + " ".join(f"WHEN {d} = {nearest} THEN {i + 1}"
                              for i, d in enumerate(distance_columns)) + " END"


def segment_name_sql(
    result: SegmentationResult, column: str = "segment_name", *, segment: str = "segment"
) -> str:
    """SQL ``CASE``: the ``column`` name (e.g. ``segment_name_zh``) of segment ``segment``.

    Examples
    --------
    >>> import pandas as pd
    >>> from crm_analytics.segments import kmeans_segments
    >>> s = pd.DataFrame({"customer_id": list("abcd"), "n_orders": [1, 2, 8, 9]})
    >>> res = kmeans_segments(s, n_clusters=2, features=["n_orders"])
    >>> segment_name_sql(res, "segment_name_en")
    "CASE segment WHEN 1 THEN 'frequent' WHEN 2 THEN 'repeat' END"
    """
    names = result.profiles.set_index("segment")[column]
    return (f"CASE {segment} " + " ".join(f"WHEN {int(i)} THEN {sql_text(v)}"
                                          for i, v in names.items()) + " END")
