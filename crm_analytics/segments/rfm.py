"""Rule-based RFM segments: the classic R-F quintile map and the Chinese 8 classes."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics.segments.inputs import numeric_block, prepare_customers
from crm_analytics.segments.profiles import segment_profiles
from crm_analytics.segments.rules import CLASSIC_SEGMENTS, CN8_SEGMENTS

__all__ = ["RfmSegmentation", "rfm_segments"]

SCHEMES = ("classic", "cn8")
THRESHOLDS = ("mean", "median")


@dataclass(frozen=True, eq=False)
class RfmSegmentation:
    """Rule-based RFM segments and the settings that produced them.

    Attributes
    ----------
    assignments : pandas.DataFrame
        One row per customer (see :func:`rfm_segments`).
    scheme : {"classic", "cn8"}
    threshold : {"mean", "median"}
        The high/low cut of ``cn8`` (also stored for ``classic``, where it is unused).
    thresholds : dict of str -> float
        The cut per column for ``cn8`` (``days_since_last_order``, ``n_orders``, the
        monetary column); empty for ``classic``.
    monetary : str
        The column used for M.
    segment_order : tuple of str
        Every segment code of the scheme, best first.

    Notes
    -----
    Until version 0.x :func:`rfm_segments` returned the assignments table itself. For
    one release, DataFrame use of this object (``rfm["segment"]``, ``rfm.merge(...)``,
    ``len(rfm)``, iteration) still works on :attr:`assignments`, with a
    ``DeprecationWarning``: write ``rfm.assignments`` instead.
    """

    assignments: pd.DataFrame = field(repr=False)
    scheme: str = "classic"
    threshold: str = "mean"
    thresholds: dict[str, float] = field(default_factory=dict)
    monetary: str = "total_amount"
    segment_order: tuple[str, ...] = ()

    @property
    def profiles(self) -> pd.DataFrame:
        """One row per segment, best first (see :func:`segment_profiles`); computed on use."""
        return segment_profiles(self.assignments)

    # ---- deprecated: DataFrame use of the result (one release)
    def _table(self, what: str) -> pd.DataFrame:
        warnings.warn(
            f"rfm_segments() now returns an RfmSegmentation result; {what} on it is "
            "deprecated and will be removed in the next release. Use its .assignments "
            "table (e.g. rfm.assignments['segment']).",
            DeprecationWarning, stacklevel=3,
        )
        return self.assignments

    def __getattr__(self, name: str):
        # only called for names that are not fields, properties or methods; private and
        # special names (copy, pickle, IPython display hooks) are never delegated
        if name.startswith("_") or name == "assignments":
            raise AttributeError(name)
        return getattr(self._table(f".{name}"), name)

    def __getitem__(self, key):
        return self._table("indexing")[key]

    def __len__(self) -> int:
        return len(self._table("len()"))

    def __iter__(self):
        return iter(self._table("iteration"))

    def __contains__(self, key) -> bool:
        return key in self._table("'in'")


def _quintile_score(values: np.ndarray, *, higher_is_better: bool) -> np.ndarray:
    """Scores 1..5: 1 + floor(5 * share of customers strictly worse); ties share a score."""
    v = values if higher_is_better else -values
    worse = np.searchsorted(np.sort(v), v, side="left")
    return (1 + (5 * worse) // len(v)).astype(np.int64)


def _classic_codes(r: np.ndarray, f: np.ndarray) -> np.ndarray:
    grid = np.empty((6, 6), dtype=object)
    for rr in range(1, 6):
        for ff in range(1, 6):
            if rr <= 2:
                code = "hibernating" if ff <= 2 else "at_risk" if ff <= 4 else "cant_lose_them"
            elif rr == 3 and ff <= 2:
                code = "about_to_sleep"
            elif rr == 3 and ff == 3:
                code = "need_attention"
            elif ff >= 4:
                code = "loyal_customers" if rr <= 4 else "champions"
            elif ff == 1:
                code = "promising" if rr == 4 else "new_customers"
            else:
                code = "potential_loyalists"
            grid[rr, ff] = code
    return grid[r, f]


def _cn8_codes(out: pd.DataFrame, x: np.ndarray, cols: list[str], threshold: str):
    """cn8 codes; adds ``R_high, F_high, M_high`` to ``out``; returns (codes, thresholds)."""
    rec, freq, mon = x[:, 0], x[:, 1], x[:, 2]
    stat = np.mean if threshold == "mean" else np.median
    thresholds = {cols[0]: float(stat(rec)), cols[1]: float(stat(freq)),
                  cols[2]: float(stat(mon))}
    out["R_high"] = rec < thresholds[cols[0]]
    out["F_high"] = freq > thresholds[cols[1]]
    out["M_high"] = mon > thresholds[cols[2]]
    key = (out["R_high"].to_numpy() * 4 + out["F_high"].to_numpy() * 2
           + out["M_high"].to_numpy() * 1)
    lookup = np.empty(8, dtype=object)
    for code, (r, f, m, _, _) in CN8_SEGMENTS.items():
        lookup[r * 4 + f * 2 + m] = code
    return lookup[key], thresholds


def rfm_segments(
    summary: pd.DataFrame,
    *,
    scheme: str = "classic",
    threshold: str = "mean",
    monetary: str = "total_amount",
) -> RfmSegmentation:
    """Rule-based RFM segments: the classic R-F quintile map or the Chinese 8 classes.

    Scores R, F, M are 1..5 on ``days_since_last_order`` (R: 5 = most recent),
    ``n_orders`` and ``monetary``: score = 1 + floor(5 x share of customers strictly
    worse). With distinct values this is the usual quintile split (exactly
    ``qcut(x.rank(method="first"), 5)`` when the count is a multiple of 5); tied customers
    share the lowest score their value reaches (the common
    ``qcut(x.rank(method="first"), 5)`` instead splits identical customers by row
    order). So many one-order customers all get F = 1, and a score can be skipped.

    - ``scheme="classic"``: the most copied R-F map (``[1-2][1-2]`` hibernating ...
      ``5[4-5]`` champions; see :data:`CLASSIC_SEGMENTS`).
    - ``scheme="cn8"``: R, F, M each high or low against ``threshold`` (mean or
      median over customers): R high = fewer days since the last order than the
      threshold, F/M high = above it (strictly). 8 classes such as 重要价值客户
      (important value: R, F, M all high); see :data:`CN8_SEGMENTS`.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`~crm_analytics.customer_summary` output (needs ``customer_id``,
        ``days_since_last_order``, ``n_orders`` and the ``monetary`` column). Not
        modified.
    scheme : {"classic", "cn8"}, default "classic"
    threshold : {"mean", "median"}, default "mean"
        High/low cut for ``cn8``; the values are in the result's ``thresholds``.
    monetary : str, default "total_amount"
        Column for M (e.g. ``"avg_order_value"``).

    Returns
    -------
    RfmSegmentation
        Its ``assignments`` hold one row per customer, sorted by ``customer_id``:
        ``customer_id, R, F, M``, ``R_high, F_high, M_high`` (cn8 only), ``segment``
        (code such as ``"champions"``), ``segment_name`` (``"<en> / <zh>"``),
        ``segment_name_en``, ``segment_name_zh``, then ``days_since_last_order,
        n_orders`` and the monetary column. (Using the result itself as that table
        still works for one release, with a ``DeprecationWarning``.)

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"],
    ...     "days_since_last_order": [1, 10, 100, 200, 300],
    ...     "n_orders": [9, 1, 4, 3, 1], "total_amount": [500.0, 20, 200, 90, 10]})
    >>> rfm = rfm_segments(s)
    >>> rfm.assignments[["customer_id", "R", "F", "M", "segment"]]
      customer_id  R  F  M          segment
    0           a  5  5  5        champions
    1           b  4  1  2        promising
    2           c  3  4  4  loyal_customers
    3           d  2  3  3          at_risk
    4           e  1  1  1      hibernating
    >>> rfm.assignments["segment_name_zh"].tolist()
    ['冠军客户', '有潜力客户', '忠诚客户', '有流失风险', '沉睡客户']
    >>> cn8 = rfm_segments(s, scheme="cn8")
    >>> cn8.assignments["segment_name"].iloc[0], cn8.thresholds["n_orders"]
    ('important value / 重要价值客户', 3.6)
    """
    if scheme not in SCHEMES:
        raise CrmDataError(
            f"The 'scheme' parameter must be 'classic' or 'cn8'. Got {scheme!r} instead."
        )
    if threshold not in THRESHOLDS:
        raise CrmDataError(
            f"The 'threshold' parameter must be 'mean' or 'median'. Got {threshold!r} instead."
        )
    data, mapping = prepare_customers(summary, ("recency", "frequency", monetary), None)
    cols = list(mapping.values())
    x = numeric_block(data, cols)
    out = pd.DataFrame({"customer_id": data["customer_id"].to_numpy()})
    out["R"] = _quintile_score(x[:, 0], higher_is_better=False)
    out["F"] = _quintile_score(x[:, 1], higher_is_better=True)
    out["M"] = _quintile_score(x[:, 2], higher_is_better=True)
    if scheme == "classic":
        codes = _classic_codes(out["R"].to_numpy(), out["F"].to_numpy())
        table = dict(CLASSIC_SEGMENTS)
        thresholds: dict[str, float] = {}
    else:
        codes, thresholds = _cn8_codes(out, x, cols, threshold)
        table = {c: (v[3], v[4]) for c, v in CN8_SEGMENTS.items()}
    seg = pd.Series(codes, dtype=object)
    out["segment"] = seg.to_numpy()
    out["segment_name_en"] = seg.map({c: v[0] for c, v in table.items()}).to_numpy()
    out["segment_name_zh"] = seg.map({c: v[1] for c, v in table.items()}).to_numpy()
    out.insert(
        out.columns.get_loc("segment") + 1,
        "segment_name",
        (out["segment_name_en"] + " / " + out["segment_name_zh"]).to_numpy(),
    )
    for j, c in enumerate(cols):
        out[c] = x[:, j] if not pd.api.types.is_integer_dtype(data[c]) else data[c].to_numpy()
    return RfmSegmentation(assignments=out, scheme=scheme, threshold=threshold,
                           thresholds=thresholds, monetary=cols[2],
                           segment_order=tuple(table))
