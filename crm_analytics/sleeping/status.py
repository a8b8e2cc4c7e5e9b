"""Member status on a day (active / pre_sleep / sleeping / given_up) and its overview."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics._core.checks import format_examples, require_columns, require_dataframe
from crm_analytics._core.dates import day_number
from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends import is_engine_source, runner_for
from crm_analytics.backends.sql import resolve_day
from crm_analytics.orders.encode import prepare_orders
from crm_analytics.sleeping.occasions import EPOCH_DAY
from crm_analytics.sleeping.rules import (
    STATUSES,
    check_aov_threshold,
    check_count,
    check_sleep,
    default_aov_threshold,
    give_up_reason_codes,
    quality_codes,
    status_codes,
    status_table,
)
from crm_analytics.sleeping.sql import member_status_on_engine
from crm_analytics.summary import customer_summary, resolve_as_of

__all__ = ["member_status", "status_overview"]


def member_status(
    orders: pd.DataFrame,
    *,
    as_of: object = None,
    sleep_after: int = 90,
    remind_before: int = 10,
    give_up_after: int | None = None,
    campaigns: pd.DataFrame | None = None,
    give_up_contacts: int = 3,
    aov_threshold: float | None = None,
    min_orders: int = 2,
    contact_date: str = "start",
    contact_customer_id: str = "customer_id",
    group_col: str = "group",
    treated: str = "treatment",
) -> pd.DataFrame:
    """Each member's status on ``as_of``: active, pre_sleep, sleeping or given_up.

    The status and quality rules are those of :mod:`crm_analytics.sleeping.rules`; on
    a Parquet path, DuckDB relation or Spark DataFrame they run as SQL generated from
    the same rules (:func:`crm_analytics.sleeping.sql.member_status_on_engine`).

    Parameters
    ----------
    orders : pandas.DataFrame
        Canonical orders (or an engine source). Not modified. Orders after ``as_of``
        are ignored.
    as_of : date-like, optional
        The day the status is taken (end of that day). Default: the last order date.
    sleep_after, remind_before : int, default 90 and 10
        See :mod:`crm_analytics.sleeping`.
    give_up_after : int, optional
        Give up on members asleep for more than this many days
        (``days_since_last_order >= sleep_after + give_up_after``). Default: never.
    campaigns : pandas.DataFrame, optional
        Campaign contacts, one row per contacted member per campaign, with the columns
        ``contact_customer_id`` and ``contact_date`` (e.g. ``load_sample("campaigns")``).
        When a ``group_col`` column exists only rows where it equals ``treated`` count
        (the control group was not contacted). Contacts of every campaign type count;
        filter the table first to count only some. Contacts after ``as_of`` and of
        customers who are not members are ignored.
    give_up_contacts : int, default 3
        Give up on sleepers contacted at least this many times after falling asleep
        (only with ``campaigns``).
    aov_threshold : float, optional
        Average order value from which a sleeper is ``high`` quality. Default: the
        median average order value of all members on ``as_of``, i.e.
        :func:`~crm_analytics.sleeping.rules.default_aov_threshold` of the returned
        table.
    min_orders : int, default 2
        Number of orders from which a sleeper is ``high`` quality.
    contact_date, contact_customer_id, group_col, treated : str
        Column names and the treated-group label of ``campaigns``.

    Returns
    -------
    pandas.DataFrame
        One row per member, sorted by ``customer_id`` (customers whose first order is
        after ``as_of`` are not members yet and are left out): ``customer_id,
        last_order, days_since_last_order, status, n_orders, avg_order_value,
        total_amount, quality, first_order, sleep_date``, with ``campaigns``
        ``n_wake_up_contacts``, and ``give_up_reason`` (``asleep_too_long``,
        ``ignored_contacts``, ``both``; missing unless given up). ``status``,
        ``quality`` and ``give_up_reason`` are categoricals (quality missing when not
        asleep). The table does not repeat the settings: they are the call's
        parameters.

    Raises
    ------
    CrmDataError
        Invalid orders or parameters, or a campaign table without the named columns
        or with unparseable dates.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "b", "c", "c"],
    ...     "order_id": ["1", "2", "3", "4"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-03-25", "2024-01-05",
    ...                                   "2024-01-14"]),
    ...     "amount": [80.0, 20.0, 10.0, 10.0]})
    >>> st = member_status(orders, as_of="2024-04-05", sleep_after=90, remind_before=10)
    >>> st[["customer_id", "days_since_last_order", "status", "quality"]]
      customer_id  days_since_last_order     status quality
    0           a                     95   sleeping    high
    1           b                     11     active     NaN
    2           c                     82  pre_sleep     NaN
    """
    s, r = check_sleep(sleep_after, remind_before)
    if give_up_after is not None:
        give_up_after = check_count(give_up_after, "give_up_after", 0)
    give_up_contacts = check_count(give_up_contacts, "give_up_contacts", 1, " of contacts")
    min_orders = check_count(min_orders, "min_orders", 1, " of orders")
    if aov_threshold is not None:
        aov_threshold = check_aov_threshold(aov_threshold)
    settings = {"sleep_after": s, "remind_before": r, "give_up_after": give_up_after,
                "aov_threshold": aov_threshold, "min_orders": min_orders}
    if is_engine_source(orders):  # Parquet path, DuckDB relation, Spark frame
        runner = runner_for(orders)
        out = member_status_on_engine(runner, as_of=as_of, **settings)
        as_of_ts = resolve_day(runner, as_of, "as_of")[0]
    else:
        prepared = prepare_orders(orders)
        as_of_ts = resolve_as_of(prepared.orders, as_of)
        out = _status_of_summary(customer_summary(prepared, as_of=as_of_ts), **settings)
    if campaigns is None:
        return out
    contacts = _contacts_per_sleeper(
        campaigns, out, as_of=as_of_ts, sleep_after=s, customer_id=contact_customer_id,
        contact_date=contact_date, group_col=group_col, treated=treated,
    )
    return _with_contacts(out, contacts, give_up_contacts=give_up_contacts)


def _status_of_summary(summary: pd.DataFrame, *, sleep_after: int, remind_before: int,
                       give_up_after: int | None, aov_threshold: float | None,
                       min_orders: int) -> pd.DataFrame:
    """The status table of a customer summary, by the NumPy form of the rules."""
    d = summary["days_since_last_order"].to_numpy()
    aov = summary["avg_order_value"].to_numpy()
    if aov_threshold is None:
        aov_threshold = default_aov_threshold(aov)
    too_long = np.zeros(len(d), dtype=bool)
    if give_up_after is not None:
        too_long = d >= sleep_after + give_up_after
    return status_table(
        summary,
        status=status_codes(d, sleep_after=sleep_after, remind_before=remind_before,
                            give_up_after=give_up_after),
        quality=quality_codes(d >= sleep_after, aov, summary["n_orders"].to_numpy(),
                              aov_threshold=aov_threshold, min_orders=min_orders),
        give_up_reason=give_up_reason_codes(too_long, np.zeros(len(d), dtype=bool)),
        sleep_after=sleep_after,
    )


def _with_contacts(status: pd.DataFrame, contacts: np.ndarray, *,
                   give_up_contacts: int) -> pd.DataFrame:
    """Sleepers with at least ``give_up_contacts`` wake-up contacts become given_up."""
    code = status["status"].cat.codes.to_numpy()
    ignored = (code >= STATUSES.index("sleeping")) & (contacts >= give_up_contacts)
    too_long = status["give_up_reason"].notna().to_numpy()  # so far: asleep too long only
    out = status.drop(columns="give_up_reason")
    out["status"] = pd.Categorical.from_codes(
        np.where(ignored, STATUSES.index("given_up"), code), dtype=status["status"].dtype)
    out["n_wake_up_contacts"] = contacts.astype(np.int64)
    out["give_up_reason"] = pd.Categorical.from_codes(
        give_up_reason_codes(too_long, ignored), dtype=status["give_up_reason"].dtype)
    return out


def _contacts_per_sleeper(
    campaigns: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    sleep_after: int,
    customer_id: str,
    contact_date: str,
    group_col: str,
    treated: str,
) -> np.ndarray:
    """Contacts of each member after they fell asleep (``summary`` row order)."""
    require_dataframe(campaigns, "campaigns")
    require_columns(campaigns, [customer_id, contact_date], "The campaign contact table")
    contacts = campaigns
    if group_col in contacts.columns:
        contacts = contacts[contacts[group_col].astype("string").eq(treated).fillna(False)]
    raw = contacts[contact_date]
    if pd.api.types.is_datetime64_any_dtype(raw):
        dates = raw
    else:
        dates = pd.to_datetime(raw, errors="coerce", format="mixed")
    bad = dates.isna()
    if bad.any():
        raise CrmDataError(
            f"Column {contact_date!r} of the campaign contact table has "
            f"{int(bad.sum())} values that are not dates ({format_examples(raw[bad])}). "
            "Use ISO dates such as '2024-06-18'; fill in or remove those rows."
        )
    if getattr(dates.dtype, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    day = dates.to_numpy(dtype="datetime64[D]").astype(np.int64)
    ids = contacts[customer_id].astype("string").str.strip()
    pos = pd.Index(summary["customer_id"]).get_indexer(ids.to_numpy(dtype=object))
    in_time = day <= day_number(as_of)
    matched = (pos >= 0) & in_time
    last = (summary["last_order"].to_numpy().astype("datetime64[D]") - EPOCH_DAY).astype(np.int64)
    counted = matched.copy()
    counted[matched] = day[matched] > last[pos[matched]] + sleep_after
    counts = np.bincount(pos[counted], minlength=len(summary))
    return counts


def status_overview(status: pd.DataFrame) -> pd.DataFrame:
    """Members and their past value by status and quality, from :func:`member_status`.

    Parameters
    ----------
    status : pandas.DataFrame
        The output of :func:`member_status`.

    Returns
    -------
    pandas.DataFrame
        Columns ``status, quality, n_members, share_of_members, total_amount,
        share_of_amount, avg_order_value`` (average of the members' average order
        values); quality is ``"-"`` for members who are not asleep.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "b"], "order_id": ["1", "2"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-04-01"]),
    ...     "amount": [80.0, 20.0]})
    >>> status_overview(member_status(orders))[["status", "quality", "n_members"]]
         status quality  n_members
    0    active       -          1
    1  sleeping    high          1
    """
    require_dataframe(status, "status")
    require_columns(status, ["status", "quality", "customer_id", "total_amount",
                             "avg_order_value"], "The member status table")
    table = status.assign(
        quality=status["quality"].astype("string").fillna("-"),
        status=pd.Categorical(status["status"], categories=list(STATUSES), ordered=True),
    )
    grouped = table.groupby(["status", "quality"], observed=True, sort=True)
    out = grouped.agg(
        n_members=("customer_id", "size"),
        total_amount=("total_amount", "sum"),
        avg_order_value=("avg_order_value", "mean"),
    ).reset_index()
    out.insert(3, "share_of_members", out["n_members"] / max(len(status), 1))
    total = status["total_amount"].sum()
    out.insert(5, "share_of_amount", out["total_amount"] / total if total else np.nan)
    out["status"] = out["status"].astype(str)
    return out
