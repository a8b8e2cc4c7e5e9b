"""The report's data section: what was read, what was left out and why, what was used.

The first section of the page and the first lines of the headline. It comes from the
:class:`~crm_analytics.orders.validate.ValidationReport` of the orders (read and
validated in memory, or counted in SQL for Parquet / DuckDB / Spark sources) and from
the as-of day the report used. Nothing is left out silently: every exclusion is listed
with its count and reason, and so are the orders dated after the as-of day.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from crm_analytics._core.money import currency_label
from crm_analytics._core.vocab import REASON_AFTER_AS_OF

__all__ = ["AS_OF_GIVEN", "AS_OF_LAST_ORDER", "DataSection", "exclusion_table",
           "data_section"]

#: Why the report used its as-of day.
AS_OF_GIVEN = "given"
AS_OF_LAST_ORDER = "the last order date"


def exclusion_table(report: object) -> pd.DataFrame:
    """``reason, orders``: the orders a validation left out, by reason (most first).

    Uses ``report.exclusion_counts()`` when the report offers it, else counts the
    ``reason`` column of ``report.excluded``; an empty table without a report.

    Examples
    --------
    >>> from crm_analytics.orders.validate import validate_orders
    >>> raw = pd.DataFrame({"customer_id": ["a", "b"], "order_id": ["1", "2"],
    ...     "order_date": ["2024-01-05", "2024-01-06"], "amount": [10, 5],
    ...     "status": ["paid", "cancelled"]})
    >>> int(exclusion_table(validate_orders(raw, return_report=True)[1])["orders"].sum())
    1
    """
    empty = pd.DataFrame({"reason": pd.Series([], dtype=object),
                          "orders": pd.Series([], dtype="int64")})
    if report is None:
        return empty
    counts = getattr(report, "exclusion_counts", None)
    if callable(counts):
        table = counts()
    else:
        excluded = getattr(report, "excluded", None)
        if excluded is None or not len(excluded) or "reason" not in excluded.columns:
            return empty
        table = (excluded["reason"].astype(str).value_counts()
                 .rename_axis("reason").reset_index(name="orders"))
    table = pd.DataFrame({"reason": table["reason"].astype(str).to_numpy(dtype=object),
                          "orders": table["orders"].to_numpy(dtype="int64")})
    table = table[table["orders"] > 0]
    return table.sort_values(["orders", "reason"], ascending=[False, True],
                             kind="stable").reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class DataSection:
    """What the report read, left out and used.

    Attributes
    ----------
    rows_read : int or None
        Rows (or orders) the source held; None when unknown.
    orders_kept : int
        Orders the validation kept (before the as-of day cut).
    exclusions : pandas.DataFrame
        ``reason, orders``: every exclusion with its count, the orders after the as-of
        day included (reason ``REASON_AFTER_AS_OF``).
    n_after_as_of : int
        Orders dated after the as-of day, left out of every analysis.
    orders_used : int
        Orders the analyses used (kept and on or before the as-of day).
    first_day, last_day : pandas.Timestamp or None
        The first and last order dates of the orders used.
    as_of : pandas.Timestamp
    as_of_reason : str
        :data:`AS_OF_GIVEN` or :data:`AS_OF_LAST_ORDER`.
    currency : str or None
        ISO code of the amounts; None when unknown.
    warnings : tuple of str
        Kept but suspicious (from the validation).
    notes : tuple of str
        What validation changed (date readings, renamed columns ...) or could not tell.
    """

    rows_read: int | None
    orders_kept: int
    exclusions: pd.DataFrame
    n_after_as_of: int
    orders_used: int
    first_day: pd.Timestamp | None
    last_day: pd.Timestamp | None
    as_of: pd.Timestamp
    as_of_reason: str
    currency: str | None = None
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def currency_text(self) -> str:
        """The currency as said on the page ("unknown (no currency given)" when None)."""
        if self.currency is None:
            return "unknown (none given; amounts shown without a currency)"
        word = currency_label(self.currency)
        return self.currency if word == self.currency else f"{self.currency} ({word})"

    def as_of_text(self) -> str:
        """The as-of day and why it was used."""
        text = f"{self.as_of.date()} ({self.as_of_reason})"
        if self.n_after_as_of:
            text += (f"; {self.n_after_as_of:,} orders dated after it are left out of "
                     "every analysis")
        return text

    def lines(self) -> list[str]:
        """The section as ``label: value`` lines (the headline's first lines).

        Examples
        --------
        >>> section = DataSection(rows_read=12, orders_kept=10, exclusions=pd.DataFrame(
        ...     {"reason": ["never paid"], "orders": [2]}), n_after_as_of=0, orders_used=10,
        ...     first_day=pd.Timestamp("2024-01-01"), last_day=pd.Timestamp("2024-03-01"),
        ...     as_of=pd.Timestamp("2024-03-01"), as_of_reason=AS_OF_LAST_ORDER)
        >>> print("\\n".join(section.lines()[:3]))
        Rows read: 12
        Orders used: 10
        Left out: 2 orders never paid
        """
        out = []
        if self.rows_read is not None:
            out.append(f"Rows read: {self.rows_read:,}")
        out.append(f"Orders used: {self.orders_used:,}")
        for reason, n in zip(self.exclusions["reason"], self.exclusions["orders"], strict=True):
            out.append(f"Left out: {int(n):,} order{'' if int(n) == 1 else 's'} {reason}")
        if self.first_day is not None and self.last_day is not None:
            out.append(f"Order dates: {self.first_day.date()} to {self.last_day.date()}")
        out.append(f"Currency: {self.currency_text()}")
        out.append(f"As of: {self.as_of_text()}")
        out.extend(f"Warning: {w}" for w in self.warnings)
        return out

    def table(self) -> pd.DataFrame:
        """``what, orders`` for the page: read, each exclusion, used."""
        rows: list[tuple[str, object]] = []
        if self.rows_read is not None:
            rows.append(("rows read", f"{self.rows_read:,}"))
        rows.append(("orders kept by validation", f"{self.orders_kept:,}"))
        rows += [(f"left out: {r}", f"{int(n):,}") for r, n in
                 zip(self.exclusions["reason"], self.exclusions["orders"], strict=True)]
        rows.append(("orders used by the analyses", f"{self.orders_used:,}"))
        return pd.DataFrame(rows, columns=["what", "orders"])


def data_section(report: object, *, orders_kept: int, n_after_as_of: int,
                 first_day: pd.Timestamp | None, last_day: pd.Timestamp | None,
                 as_of: pd.Timestamp, as_of_given: bool, currency: str | None,
                 extra_notes: tuple[str, ...] = (),
                 sleep_after: int | None = None) -> DataSection:
    """A :class:`DataSection` from a validation report and the report's as-of cut.

    ``orders_kept`` are the validated orders (those after ``as_of`` included);
    ``n_after_as_of`` of them are dated after ``as_of``. Orders a validation already
    left out as after the as-of day (in ``report``) are counted with them once. A given
    as-of day more than ``sleep_after`` days after the last order is warned about
    (every member would be asleep).
    """
    exclusions = exclusion_table(report)
    already = exclusions["reason"] == REASON_AFTER_AS_OF
    if n_after_as_of:
        if already.any():
            exclusions.loc[already, "orders"] += n_after_as_of
        else:
            exclusions = pd.concat([exclusions, pd.DataFrame(
                {"reason": [REASON_AFTER_AS_OF], "orders": [n_after_as_of]})],
                ignore_index=True)
    n_after = int(exclusions.loc[exclusions["reason"] == REASON_AFTER_AS_OF, "orders"].sum())
    rows_in = getattr(report, "n_rows_in", None)
    notes = [str(n) for n in getattr(report, "notes", ()) or ()]
    warnings = [str(w) for w in getattr(report, "warnings", ()) or ()]
    if (as_of_given and isinstance(sleep_after, int) and last_day is not None
            and (as_of - last_day).days > sleep_after):
        warnings.append(f"The as-of day {as_of.date()} is {(as_of - last_day).days} days "
                        f"after the last order ({last_day.date()}), more than sleep_after="
                        f"{sleep_after}: every member counts as sleeping. Leave as_of out "
                        "to use the last order date.")
    readings = getattr(report, "date_readings", None) or {}
    notes += [f"Dates in column {col!r} read as {how}." for col, how in readings.items()]
    return DataSection(
        rows_read=None if rows_in is None else int(rows_in),
        orders_kept=int(orders_kept),
        exclusions=exclusions,
        n_after_as_of=n_after,
        orders_used=int(orders_kept) - int(n_after_as_of),
        first_day=first_day, last_day=last_day,
        as_of=as_of,
        as_of_reason=AS_OF_GIVEN if as_of_given else AS_OF_LAST_ORDER,
        currency=currency,
        warnings=tuple(warnings),
        notes=tuple(notes) + tuple(extra_notes),
    )
