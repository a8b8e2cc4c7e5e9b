"""Line items to orders: one row per order, with returns netted against the customer.

Many order tables hold one row per *line* (product) of an order: a retail invoice table
(InvoiceNo, StockCode, Quantity, UnitPrice, CustomerID ...), Shopify's export, Taobao's
sub-order export. :func:`combine_line_items` turns such a table into one row per order by
one rule, the same for every source (and for the SQL of Parquet/DuckDB sources):

- rows sharing an ``order_id`` are one order: ``order_date`` is the earliest, ``amount`` the
  sum of the amounts (or of ``quantity x unit_price`` when there is no amount column),
  ``margin`` and ``quantity`` the sums, other columns their first non-empty value. An order
  belongs to one customer; an order id shared by two customers is refused.
- an order whose rows carry no customer id (a guest checkout) is left out with
  :data:`~crm_analytics._core.vocab.REASON_NO_CUSTOMER`.
- reversal rows are not orders: order ids made of :data:`REVERSAL_PREFIX` and digits
  (``C536379``), or a negative quantity or amount. Each customer's reversed money is taken
  off that customer's orders, latest order first (on the same date and time, the order
  later in the table first); an order reduced to nothing is left out
  with :data:`~crm_analytics._core.vocab.REASON_REVERSED`, and a customer whose orders are
  all reversed is not a customer. Reversed money with no order left to net against (a
  return of a purchase made before the table starts) is reported, never subtracted twice.
- a table whose every row appears twice (a file read twice) is refused.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from crm_analytics._core.checks import format_examples, require_dataframe
from crm_analytics._core.errors import CrmDataError
from crm_analytics._core.vocab import (
    LINE_COLUMNS,
    MAPPABLE_COLUMNS,
    REASON_NO_CUSTOMER,
    REASON_REVERSED,
    REVERSAL_PREFIX,
)
from crm_analytics.orders.validate import ValidationReport, dropped_customer_ids
from crm_analytics.orders.values import float_text_ids, null_ids, parse_dates, parse_money

__all__ = ["LINE_COLUMNS", "MAPPABLE_COLUMNS", "combine_line_items", "reversal_rows"]


#: What is left of an order's amount below which it counts as reversed in full (money units).
_TOLERANCE = 0.005
_REVERSAL_ID = re.compile(rf"^{re.escape(REVERSAL_PREFIX)}\d+$")
_SUMMED = ("amount", "margin", "quantity")


def combine_line_items(
    frame: pd.DataFrame,
    *,
    dayfirst: bool | None = None,
    date_format: str | None = None,
    decimal: str | None = None,
    return_report: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, ValidationReport]:
    """Combine line items into one row per order and net returns (see the module docstring).

    Parameters
    ----------
    frame : pandas.DataFrame
        Line items with canonical column names: ``customer_id``, ``order_id``,
        ``order_date``, and ``amount`` or both ``quantity`` and ``unit_price``; optionally
        ``margin`` and any other columns. Values may be text (as read from a file) or
        typed. Not modified.
    dayfirst, date_format : optional
        How to read text dates, used only to find the earliest of an order's lines when they
        differ (the dates are read for good by :func:`~crm_analytics.validate_orders`).
    decimal : {".", ","}, optional
        The decimal mark of text amounts, quantities and prices (None: detect).
    return_report : bool, default False
        Also return a :class:`~crm_analytics.ValidationReport` listing the orders left out
        (no customer, reversed) and notes on the reversals netted.

    Returns
    -------
    pandas.DataFrame
        One row per kept order: ``customer_id``, ``order_id``, ``order_date`` (as given,
        the earliest of the order's lines), ``amount`` (float, net of reversals),
        ``margin`` and ``quantity`` when given, then the other columns (``unit_price`` is
        dropped). With ``return_report=True`` the pair ``(orders, report)``; pass the
        orders to :func:`~crm_analytics.validate_orders` next.

    Raises
    ------
    CrmDataError
        Missing columns, an order id shared by several customers, amounts or quantities
        that are not numbers, every row given twice, or nothing left.

    Examples
    --------
    >>> import pandas as pd
    >>> lines = pd.DataFrame({
    ...     "order_id": ["536365", "536365", "C536366", "536367"],
    ...     "customer_id": ["17850", "17850", "17850", None],
    ...     "order_date": ["2010-12-01 08:26"] * 4,
    ...     "quantity": [6, 2, -2, 1], "unit_price": [2.55, 3.39, 3.39, 9.0]})
    >>> orders, report = combine_line_items(lines, return_report=True)
    >>> orders[["customer_id", "order_id", "amount", "quantity"]]
      customer_id order_id  amount  quantity
    0       17850   536365    15.3       8.0
    >>> report.excluded[["order_id", "reason"]].to_numpy().tolist()
    [['536367', 'no customer id (guest checkout or missing id)']]
    """
    require_dataframe(frame, "line items")
    _require_line_columns(frame)
    n_in = len(frame)
    if n_in == 0:
        raise CrmDataError("The line-item table is empty (0 rows). Check the file or the filter.")
    _refuse_doubled_file(frame)

    order_id = _id_text(frame["order_id"])
    missing_ids = order_id.isna()
    if missing_ids.any():
        raise CrmDataError(
            f"Column 'order_id' is empty in {int(missing_ids.sum())} of {n_in} rows "
            f"({format_examples(frame.loc[missing_ids, 'order_id'])}). Every line needs the "
            "id of its order; fill them in or remove those rows."
        )
    customer = _id_text(frame["customer_id"])
    found: dict[str, str] = {}
    quantity = _money(frame, "quantity", decimal, found) if "quantity" in frame else None
    if "amount" in frame.columns:
        money = _money(frame, "amount", decimal, found)
        how = "the sum of amount"
    else:
        money = quantity * _money(frame, "unit_price", decimal, found)
        how = "the sum of quantity x unit_price"
    reversal = reversal_rows(order_id, money, quantity)

    lines = frame.drop(columns=[c for c in ("unit_price",) if c in frame.columns])
    lines = lines.assign(customer_id=customer, order_id=order_id, amount=money)
    if quantity is not None:
        lines["quantity"] = quantity
    if "margin" in lines.columns:
        lines["margin"] = _money(lines, "margin", decimal, found)

    orders = _group_orders(lines[~reversal.to_numpy()], dayfirst, date_format)
    notes = []
    n_lines = n_in - int(reversal.sum())
    if len(orders) != n_lines:
        notes.append(f"combined {n_lines} line rows into {len(orders)} orders by order_id "
                     f"(amount is {how})")

    guest = orders["customer_id"].isna()
    excluded = [orders[guest].assign(reason=REASON_NO_CUSTOMER)]
    orders = orders[~guest]
    if reversal.any():
        orders, reversed_orders, more = _net_reversals(
            orders, lines[reversal.to_numpy()], dayfirst, date_format)
        excluded.append(reversed_orders.assign(reason=REASON_REVERSED))
        notes.extend(more)
    excluded_table = pd.concat(excluded, ignore_index=True)
    if len(orders) == 0:
        counts = excluded_table["reason"].value_counts()
        raise CrmDataError(
            "No order is left after combining the line items ("
            + "; ".join(f"{n} {reason}" for reason, n in counts.items())
            + "). Check that the customer id column is the right one (command line: "
            "--columns customer_id=<column>)."
        )
    orders = orders.reset_index(drop=True)
    if not return_report:
        return orders
    gone = dropped_customer_ids(excluded_table, orders["customer_id"])
    currencies = set(found.values())
    if len(currencies) > 1:
        raise CrmDataError(
            "The money columns show different currencies ("
            + ", ".join(f"{col}: {code}" for col, code in found.items())
            + "). Amounts in different currencies cannot be added up; convert them first."
        )
    report = ValidationReport(
        n_rows_in=n_in, n_rows_out=len(orders), excluded=excluded_table,
        dropped_customers=gone, notes=notes,
        currency=currencies.pop() if currencies else None,
    )
    return orders, report


def reversal_rows(order_id: pd.Series, amount: pd.Series | None = None,
                  quantity: pd.Series | None = None) -> pd.Series:
    """Which rows are reversals: an order id of ``REVERSAL_PREFIX`` + digits, or a negative
    quantity or amount.

    Examples
    --------
    >>> import pandas as pd
    >>> reversal_rows(pd.Series(["536365", "C536379", "CX1"]),
    ...               quantity=pd.Series([2.0, -1.0, -3.0])).tolist()
    [False, True, True]
    """
    flags = order_id.astype("string").str.strip().str.match(_REVERSAL_ID.pattern)
    flags = flags.fillna(False).astype(bool)
    for values in (amount, quantity):
        if values is not None:
            flags |= (pd.to_numeric(values, errors="coerce") < 0).fillna(False).astype(bool)
    return flags


# ------------------------------------------------------------------------------ helpers


def _require_line_columns(frame: pd.DataFrame) -> None:
    missing = [c for c in ("customer_id", "order_id", "order_date") if c not in frame.columns]
    if "amount" not in frame.columns and not {"quantity", "unit_price"} <= set(frame.columns):
        missing.append("amount (or quantity and unit_price)")
    if missing:
        raise CrmDataError(
            f"The line-item table is missing {missing}; it has {list(map(str, frame.columns))}. "
            "Map your columns with columns={'<canonical name>': '<your column>'} (command line: "
            "--columns customer_id=CustomerID,order_id=InvoiceNo,order_date=InvoiceDate,"
            "quantity=Quantity,unit_price=UnitPrice)."
        )


def _refuse_doubled_file(frame: pd.DataFrame) -> None:
    """Every row given twice (and more than one order): the same file read twice."""
    if len(frame) < 2 or frame["order_id"].nunique() < 2:
        return
    if frame.duplicated(keep=False).all():
        raise CrmDataError(
            f"Every one of the {len(frame)} rows appears at least twice: the same orders seem "
            "to be given twice (a file read or pasted twice). Remove the copy and read the "
            "file again."
        )


def _id_text(values: pd.Series) -> pd.Series:
    """Ids as stripped text (``12346.0`` from a float column -> ``12346``); missing ids and
    null markers (``N/A``, ``NULL`` ...) as None."""
    if pd.api.types.is_float_dtype(values):
        whole = values.where(values % 1 == 0)
        text = whole.astype("Int64").astype("string").where(values.notna())
        other = values.notna() & whole.isna()
        if other.any():
            text = text.where(~other, values.astype("string"))
    else:
        text = float_text_ids(values.astype("string").str.strip())
    return text.mask(null_ids(text).to_numpy(dtype=bool)).astype(object)


def _money(frame: pd.DataFrame, col: str, decimal: str | None,
           found: dict[str, str]) -> pd.Series:
    """A money or number column read as validate_orders reads amounts; the currency its
    cells show goes into ``found``."""
    values, currency = parse_money(frame[col], col, decimal=decimal)
    if currency is not None:
        found[col] = currency
    return values


def _group_orders(lines: pd.DataFrame, dayfirst: bool | None,
                  date_format: str | None) -> pd.DataFrame:
    """One row per order id: sums, the earliest date, first non-empty values."""
    key = lines["order_id"]
    groups = lines.groupby(key, sort=False)
    owners = groups["customer_id"].nunique()
    shared = owners[owners > 1]
    if len(shared):
        examples = "; ".join(
            f"{oid!r}: {sorted(lines.loc[key == oid, 'customer_id'].dropna().unique())[:3]}"
            for oid in shared.index[:5]
        )
        raise CrmDataError(
            f"{len(shared)} order ids belong to several customers ({examples}). An order has "
            "one customer: check that order_id and customer_id are mapped to the right "
            "columns (command line: --columns order_id=<column>,customer_id=<column>)."
        )
    others = [c for c in lines.columns if c not in ("order_id", "order_date") + _SUMMED]
    out = groups[others].first() if others else pd.DataFrame(index=owners.index)
    for col in _SUMMED:
        if col in lines.columns:
            out[col] = groups[col].sum(min_count=1)
    out["order_date"] = _earliest(lines["order_date"], key, groups, dayfirst, date_format)
    first = [c for c in ("customer_id", "order_date", "amount", "margin") if c in out.columns]
    out = out.rename_axis("order_id").reset_index()
    return out[[first[0], "order_id", *first[1:],
                *[c for c in out.columns if c not in first and c != "order_id"]]]


def _earliest(dates: pd.Series, key: pd.Series, groups, dayfirst: bool | None,
              date_format: str | None) -> pd.Series:
    """Each order's earliest date (text kept as text: validate_orders reads it for good)."""
    if pd.api.types.is_datetime64_any_dtype(dates):
        return groups["order_date"].min()
    first = groups["order_date"].first()
    distinct = groups["order_date"].nunique()
    several = distinct[distinct > 1].index
    if len(several) == 0:
        return first
    rows = key.isin(several).to_numpy()
    parsed = parse_dates(dates[rows], "order_date", dayfirst=dayfirst,
                         date_format=date_format)[0]
    ranked = pd.DataFrame({"key": key[rows], "when": parsed}).dropna()
    best = ranked.sort_values("when", kind="stable").drop_duplicates("key")
    first.loc[best["key"].to_numpy()] = dates.loc[best.index].to_numpy()
    return first


def _net_reversals(orders: pd.DataFrame, reversals: pd.DataFrame, dayfirst: bool | None,
                   date_format: str | None) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Take each customer's reversed money off their orders, latest order first."""
    money = reversals["amount"].abs()
    guest = reversals["customer_id"].isna()
    per_customer = money[~guest].groupby(reversals.loc[~guest, "customer_id"]).sum()
    notes = [
        f"netted {len(reversals)} reversal rows (order ids {REVERSAL_PREFIX}+digits, negative "
        f"quantities or amounts) of {len(per_customer)} customers, {money[~guest].sum():,.2f} "
        "in all, against their orders, latest order first"
    ]
    if guest.any():
        notes.append(f"ignored {int(guest.sum())} reversal rows without a customer id")
    dates = _sort_key(orders["order_date"], dayfirst, date_format)
    customers = pd.factorize(orders["customer_id"])[0]
    order = np.lexsort((-np.arange(len(orders)), -dates, customers))
    ranked = orders.iloc[order]
    reversed_money = ranked["customer_id"].map(per_customer).fillna(0.0).to_numpy()
    amount = ranked["amount"].fillna(0.0).to_numpy()
    running = ranked.groupby("customer_id", sort=False)["amount"].cumsum().to_numpy()
    left = np.clip(running - reversed_money, 0.0, amount)
    netted = ranked.assign(amount=np.where(ranked["amount"].isna(), np.nan, left))
    if "margin" in netted.columns:
        share = np.divide(left, amount, out=np.zeros_like(left), where=amount > 0)
        netted["margin"] = ranked["margin"] * share
    gone = (left <= _TOLERANCE) & (reversed_money > 0)
    kept = netted[~gone].sort_index()
    removed = ranked[gone].sort_index()

    spend = orders.groupby("customer_id")["amount"].sum()
    unmatched = (per_customer - spend.reindex(per_customer.index).fillna(0.0)).clip(lower=0)
    unmatched = unmatched[unmatched > _TOLERANCE]
    if len(unmatched):
        notes.append(
            f"{unmatched.sum():,.2f} of reversed money of {len(unmatched)} customers had no "
            "order left to net against (returns of purchases made before the table starts?)"
        )
    return kept, removed, notes


def _sort_key(dates: pd.Series, dayfirst: bool | None, date_format: str | None) -> np.ndarray:
    """Dates as sortable int64 (unreadable ones sort first)."""
    days = parse_dates(dates, "order_date", dayfirst=dayfirst, date_format=date_format)[0]
    days = days.astype("datetime64[s]")
    return np.where(days.isna(), -(2**62), days.to_numpy().astype("int64"))
