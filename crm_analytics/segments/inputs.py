"""Inputs of both segmenters: per-customer tables checked, sorted, joined and read as numbers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from crm_analytics._core.checks import (
    closest_column,
    format_examples,
    require_columns,
    require_dataframe,
)
from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.frames import check_unique_ids, join_extra, same_ids
from crm_analytics.segments.rules import FEATURE_COLUMNS

__all__ = ["join_extra", "same_ids"]


def strictly_increasing(ids: pd.Series) -> bool:
    """Whether Arrow-backed text ids are strictly increasing (so unique and sorted).

    UTF-8 byte order is code point order, so this agrees with sorting Python strings.
    Other storage: False (the caller then checks and sorts).
    """
    arr = getattr(ids.array, "_pa_array", None)
    if arr is None or len(arr) < 2 or arr.null_count:
        return False
    import pyarrow.compute as pc

    return bool(pc.all(pc.greater(arr[1:], arr[:-1])).as_py())


def resolve_features(frame: pd.DataFrame, features: Sequence[str], what: str) -> dict[str, str]:
    """Feature name -> column of ``frame``; raises on unknown or repeated features."""
    if isinstance(features, str) or len(features) == 0:
        raise CrmDataError(
            f"The 'features' parameter must be a non-empty sequence of names such as "
            f"('recency', 'frequency', 'monetary'). Got {features!r} instead."
        )
    mapping: dict[str, str] = {}
    for name in features:
        col = FEATURE_COLUMNS.get(name, name)
        if col not in frame.columns:
            alias = f" ({name!r} means column {col!r})" if name in FEATURE_COLUMNS else ""
            raise CrmDataError(
                f"Feature {name!r}{alias} is not a column of {what}."
                f"{closest_column(col, frame.columns)}"
                f" Pass the output of customer_summary(), add the column, or join a "
                f"per-customer table with extra=[...]. Columns present: "
                f"{list(map(str, frame.columns))}."
            )
        if col in mapping.values():
            raise CrmDataError(f"Feature {name!r} repeats column {col!r}; list it once.")
        mapping[name] = col
    return mapping


def numeric_block(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Feature matrix as float, raising on non-numeric, missing or infinite values."""
    blocks = []
    for col in columns:
        raw = frame[col]
        if pd.api.types.is_bool_dtype(raw) or not pd.api.types.is_numeric_dtype(raw):
            values = pd.to_numeric(raw, errors="coerce")
            bad = raw[values.isna() & raw.notna()]
            if len(bad) or pd.api.types.is_bool_dtype(raw):
                raise CrmDataError(
                    f"Feature column {col!r} is not numeric ({raw.dtype}; "
                    f"{format_examples(bad if len(bad) else raw)}). Use numbers."
                )
        else:
            values = raw
        arr = np.asarray(values, dtype=float)
        bad = ~np.isfinite(arr)
        if bad.any():
            ids = frame["customer_id"][bad]
            raise CrmDataError(
                f"Feature column {col!r} is missing (NaN) or infinite for {int(bad.sum())} "
                f"of {len(arr)} customers ({format_examples(ids)}). Every customer needs a "
                "value: fill them in, or pass a table covering every customer (a churn/LTV "
                "table joined with extra= must have all customers of the summary)."
            )
        blocks.append(arr)
    return np.column_stack(blocks)


def prepare_customers(
    summary: pd.DataFrame, features: Sequence[str], extra: object, what: str = "summary"
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Validated copy sorted by customer_id (ids as text) with the extras joined."""
    require_dataframe(summary, what)
    require_columns(summary, ["customer_id"], what)
    if len(summary) == 0:
        raise CrmDataError(f"The {what} is empty (0 customers). Nothing to segment.")
    ids = summary["customer_id"].astype(str)
    if strictly_increasing(ids):  # e.g. a customer_summary: unique and sorted already
        data = summary.reset_index(drop=True)
        data["customer_id"] = ids.array
    else:
        check_unique_ids(ids, what)
        order = ids.astype(str).argsort(kind="stable").to_numpy()
        data = summary.iloc[order].reset_index(drop=True)
        data["customer_id"] = ids.iloc[order].to_numpy()
    data = join_extra(data, extra)
    mapping = resolve_features(data, features, what)
    return data, mapping
