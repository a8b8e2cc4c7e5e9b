"""Customer attributes ("dimensions") to cut an analysis by: ``by=``.

One attribute per customer, from one of

- the customer's **first order** (``by="first_<column>"``): the ``<column>`` value of
  their earliest order, e.g. ``first_channel``, ``first_category``, ``first_product``,
  ``first_coupon`` (the first order is the first row of the validated orders, which are
  sorted by ``order_date``);
- a **customers table** (``by="<column>"`` with ``customers=``), e.g. ``province`` or
  ``member_tier``; with no ``province`` column, the province is read from a Chinese
  address column (``address``, ``收货地址``, ...) by :func:`province_from_address`;
- the **orders** themselves when no customers table has the column: the value on the
  customer's first order (``by="province"`` on orders that carry a province);
- a ready-made :class:`pandas.Series` indexed by ``customer_id``.

Rules, the same for every analysis that takes ``by=``: a missing value is the explicit
level ``"unknown"`` (never a dropped customer); levels with fewer than ``min_size``
customers are grouped under ``"other"``; levels are ordered by size, ``"other"`` and
``"unknown"`` last. :func:`customer_dimension` returns the levels with the counts a
report shows (how many customers were unknown, which levels were grouped).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics.orders.encode import PreparedOrders, prepare_orders

__all__ = [
    "ADDRESS_COLUMNS",
    "OTHER",
    "PROVINCES",
    "UNKNOWN",
    "CustomerDimension",
    "customer_dimension",
    "dimension_codes",
    "province_from_address",
]

#: Level of customers whose attribute is missing.
UNKNOWN = "unknown"
#: Level grouping the levels with fewer than ``min_size`` customers.
OTHER = "other"
#: Default ``min_size``: levels with fewer customers are grouped under "other".
DEFAULT_MIN_SIZE = 20

#: Columns of a customers table read as a Chinese address when it has no province.
ADDRESS_COLUMNS = ("address", "收货地址", "地址", "shipping_address", "收货人地址")

#: Provincial-level divisions of China, as short names (地址 may add 省/市/自治区).
PROVINCES = (
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江",
    "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州",
    "云南", "陕西", "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港",
    "澳门",
)
#: Big cities often written without their province.
_CITIES = {
    "广州": "广东", "深圳": "广东", "东莞": "广东", "佛山": "广东", "杭州": "浙江",
    "宁波": "浙江", "温州": "浙江", "南京": "江苏", "苏州": "江苏", "无锡": "江苏",
    "成都": "四川", "武汉": "湖北", "长沙": "湖南", "郑州": "河南", "济南": "山东",
    "青岛": "山东", "西安": "陕西", "合肥": "安徽", "福州": "福建", "厦门": "福建",
    "南昌": "江西", "石家庄": "河北", "太原": "山西", "沈阳": "辽宁", "大连": "辽宁",
    "长春": "吉林", "哈尔滨": "黑龙江", "昆明": "云南", "贵阳": "贵州", "南宁": "广西",
    "海口": "海南", "兰州": "甘肃", "西宁": "青海", "银川": "宁夏", "乌鲁木齐": "新疆",
    "拉萨": "西藏", "呼和浩特": "内蒙古",
}


def province_from_address(addresses: pd.Series) -> pd.Series:
    """The province named in each Chinese address; ``"unknown"`` when none is.

    The earliest province name in the text wins (``"广东省深圳市..."`` -> 广东,
    ``"内蒙古自治区..."`` -> 内蒙古); an address naming only a big city gives that city's
    province (``"杭州市西湖区..."`` -> 浙江). Work is done once per distinct address.

    Parameters
    ----------
    addresses : pandas.Series
        Address texts (missing values allowed).

    Returns
    -------
    pandas.Series
        Province short names (or ``"unknown"``), same index as ``addresses``.

    Examples
    --------
    >>> province_from_address(pd.Series(["广东省深圳市南山区", "杭州市西湖区", "火星", None]))
    0         广东
    1         浙江
    2    unknown
    3    unknown
    dtype: object
    """
    codes, uniques = pd.factorize(addresses, use_na_sentinel=True)
    names = np.array([_province_of(str(u)) for u in uniques] + [UNKNOWN], dtype=object)
    return pd.Series(names[codes], index=addresses.index, dtype=object)


def _province_of(text: str) -> str:
    best, where = UNKNOWN, len(text) + 1
    for name in PROVINCES:
        pos = text.find(name)
        if 0 <= pos < where or (pos == where and len(name) > len(best)):
            best, where = name, pos
    if best != UNKNOWN:
        return best
    for city, province in _CITIES.items():
        pos = text.find(city)
        if 0 <= pos < where:
            best, where = province, pos
    return best


@dataclass(frozen=True, eq=False)
class CustomerDimension:
    """One attribute per customer, with what the grouping did.

    Attributes
    ----------
    name : str
        The dimension's name (the ``by`` string, or the Series' name); also the column
        name analyses give it.
    levels : pandas.DataFrame
        ``customer_id`` and ``<name>`` (the level), one row per customer, sorted by id.
    level_order : tuple of str
        The levels by size, ``"other"`` and ``"unknown"`` last.
    n_unknown : int
        Customers whose attribute was missing (level ``"unknown"``).
    grouped : tuple of str
        Levels with fewer than ``min_size`` customers, grouped under ``"other"``.
    min_size : int
    notes : list of str
        Sentences for a report (unknown values, addresses naming no province, grouping).
    """

    name: str
    levels: pd.DataFrame
    level_order: tuple
    n_unknown: int
    grouped: tuple
    min_size: int
    notes: list = field(default_factory=list)


def _check_min_size(min_size: object) -> int:
    ok = isinstance(min_size, numbers.Integral) and not isinstance(min_size, bool)
    if not ok or min_size < 1:
        raise CrmDataError(
            f"The 'min_size' parameter must be a whole number of customers >= 1. "
            f"Got {min_size!r} instead."
        )
    return int(min_size)


def _first_order_values(prepared: PreparedOrders, column: str) -> pd.Series:
    """The ``column`` value of each customer's first order, by customer code."""
    codes = prepared.codes
    n = len(prepared.customer_ids)
    first = np.empty(n, dtype=np.int64)
    # validated orders are sorted by date: the first row of a customer is the first order
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return prepared.orders[column].iloc[first].reset_index(drop=True)


def _raw_values(prepared: PreparedOrders, by: object, customers: pd.DataFrame | None,
                notes: list) -> tuple[str, pd.Series]:
    """The raw attribute of every customer of ``prepared``, in customer-code order."""
    ids = prepared.customer_ids
    if isinstance(by, pd.Series):
        name = str(by.name) if by.name is not None else "level"
        values = by.copy()
        values.index = values.index.astype(str)
        if not values.index.is_unique:
            raise CrmDataError(
                f"The 'by' Series must hold one value per customer_id; "
                f"{int(values.index.duplicated().sum())} ids repeat."
            )
        return name, values.reindex(np.asarray(ids, dtype=object)).reset_index(drop=True)
    if not isinstance(by, str) or not by:
        raise CrmDataError(
            "The 'by' parameter must be a column name such as 'first_channel', "
            "'first_category', 'province' or 'member_tier', or a Series indexed by "
            f"customer_id. Got {by!r} instead."
        )
    orders = prepared.orders
    if customers is not None:
        if not isinstance(customers, pd.DataFrame) or "customer_id" not in customers:
            raise CrmDataError(
                "The 'customers' parameter must be a DataFrame with a customer_id column."
            )
        source = None
        if by in customers.columns:
            source = customers[by]
        elif by == "province":
            address = next((c for c in ADDRESS_COLUMNS if c in customers.columns), None)
            if address is not None:
                source = province_from_address(customers[address])
                n_bad = int(((source == UNKNOWN) & customers[address].notna()).sum())
                if n_bad:
                    notes.append(f"{n_bad:,} addresses name no province: counted as "
                                 f"'{UNKNOWN}'.")
                source = source.where(source != UNKNOWN)
        if source is not None:
            cid = customers["customer_id"].astype(str)
            table = pd.Series(source.to_numpy(), index=cid.to_numpy())
            table = table[~table.index.duplicated(keep="last")]
            return by, table.reindex(np.asarray(ids, dtype=object)).reset_index(drop=True)
    column = by[len("first_"):] if by.startswith("first_") else by
    if column in orders.columns:
        return by, _first_order_values(prepared, column)
    extra = [c for c in orders.columns if c not in
             ("customer_id", "order_id", "order_date", "amount", "margin")]
    where = "" if customers is None else f" or customers columns {list(customers.columns)}"
    raise CrmDataError(
        f"by={by!r} names no customer attribute: the orders have no {column!r} column "
        f"(their extra columns: {extra}){where}. Use 'first_<orders column>' for the first "
        "order's value, or pass customers= with the column (province may come from an "
        "address column)."
    )


def dimension_codes(orders: pd.DataFrame | PreparedOrders, by: object, *,
                    customers: pd.DataFrame | None = None, min_size: int = DEFAULT_MIN_SIZE
                    ) -> tuple[np.ndarray, tuple, CustomerDimension]:
    """Level code of each customer (in ``prepared.customer_ids`` order) and the labels.

    What analyses call: codes index into the returned labels (``level_order``).
    """
    min_size = _check_min_size(min_size)
    prepared = prepare_orders(orders)
    notes: list[str] = []
    name, raw = _raw_values(prepared, by, customers, notes)
    text = raw.astype("string").str.strip()
    missing = (text.isna() | (text == "")).to_numpy(dtype=bool)
    text = text.astype(object).where(~missing, UNKNOWN)
    n_unknown = int(missing.sum())
    counts = text.value_counts()
    small = [lv for lv, k in counts.items() if k < min_size and lv not in (UNKNOWN, OTHER)]
    if small:
        text = text.where(~text.isin(small), OTHER)
        counts = text.value_counts()
    tail = [lv for lv in (OTHER, UNKNOWN) if lv in counts.index]
    order = [lv for lv in counts.index if lv not in (OTHER, UNKNOWN)] + tail
    codes = pd.Categorical(text, categories=order).codes.astype(np.int64)
    if n_unknown:
        notes.append(f"{n_unknown:,} customers have no {name}: level '{UNKNOWN}'.")
    if small:
        notes.append(f"{len(small)} {name} levels with fewer than {min_size} customers are "
                     f"grouped under '{OTHER}'.")
    dim = CustomerDimension(
        name=name,
        levels=pd.DataFrame({"customer_id": np.asarray(prepared.customer_ids, dtype=object),
                             name: np.asarray(order, dtype=object)[codes]}),
        level_order=tuple(order),
        n_unknown=n_unknown,
        grouped=tuple(sorted(map(str, small))),
        min_size=min_size,
        notes=notes,
    )
    return codes, tuple(order), dim


def customer_dimension(orders: pd.DataFrame | PreparedOrders, by: object, *,
                       customers: pd.DataFrame | None = None,
                       min_size: int = DEFAULT_MIN_SIZE) -> CustomerDimension:
    """Each customer's level of an attribute, with missing and small levels grouped.

    Parameters
    ----------
    orders : pandas.DataFrame or PreparedOrders
        Canonical orders; every customer in them gets a level. Not modified.
    by : str or pandas.Series
        ``"first_<column>"`` (the first order's value of an orders column, e.g.
        ``first_channel``, ``first_category``, ``first_product``, ``first_coupon``), a
        column of ``customers`` (``province``, ``member_tier``; ``province`` is read from
        an address column when the table has none), an orders column (the first order's
        value), or a Series indexed by customer_id.
    customers : pandas.DataFrame, optional
        One row per customer with ``customer_id`` and attribute columns.
    min_size : int, default 20
        Levels with fewer customers are grouped under ``"other"``.

    Returns
    -------
    CustomerDimension

    Raises
    ------
    CrmDataError
        ``by`` names no attribute, or a bad ``min_size``/``customers``.

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b", "c"],
    ...     "order_id": ["1", "2", "3", "4"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-05",
    ...                                   "2024-01-09"]),
    ...     "amount": [10.0, 20.0, 5.0, 7.0], "channel": ["天猫", "抖音", "天猫", None]})
    >>> dim = customer_dimension(orders, "first_channel", min_size=1)
    >>> dim.levels
      customer_id first_channel
    0           a            天猫
    1           b            天猫
    2           c       unknown
    >>> dim.n_unknown, dim.level_order
    (1, ('天猫', 'unknown'))
    """
    return dimension_codes(orders, by, customers=customers, min_size=min_size)[2]
