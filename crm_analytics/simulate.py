"""A seeded simulator of a Chinese online shop, with the truth behind every number.

:func:`simulate_shop` makes two years of orders of a Tmall/Taobao-style shop whose
behaviour is known exactly, so that the package's estimators can be checked against it
(the bundled sample data in ``data/sample`` is its output):

* **Arrivals.** Each customer's first order is their arrival. The daily arrival
  intensity grows slowly over the period and has bumps for 38女王节 (8 March), 618
  (1-18 June), Double 11 (pre-sales from 20 October, peak on 11 November) and Double 12,
  and a dip around the Spring Festival. The time of day follows a typical e-commerce
  profile (evening peak; a midnight rush on 18 June and 11 November).
* **Purchases and dropout: BG/NBD** (Fader, Hardie & Lee 2005, "Counting your customers
  the easy way", Marketing Science 24(2)). While alive, customer *i* buys at Poisson rate
  ``lambda_i ~ Gamma(r, rate=alpha)`` per day; after each *repeat* purchase they drop out
  for good with probability ``p_i ~ Beta(a, b)``. As in the paper's likelihood (and
  ``lifetimes.generate_data``), nobody drops out right after the first purchase;
  ``params={"dropout_after_first": True}`` gives the MBG/NBD variant (Batislam, Denizel &
  Filiztekin 2007) where they can. Repeat purchases have no seasonality, so BG/NBD fitted
  on the natural orders recovers ``r, alpha, a, b``.
* **Spend: Gamma-Gamma** (Fader & Hardie 2013). ``nu_i ~ Gamma(q, rate=gamma)`` and each
  order's amount ``~ Gamma(p, rate=nu_i)``, so customer *i* spends ``p / nu_i`` per order
  on average (``true_spend_mean``), independently of how often they buy.
* **Attributes.** Every customer has a province, an acquisition channel (the mix drifts
  from 天猫/淘宝 towards 抖音 and 小程序 over the period) and a favourite product category
  (big spenders lean to 美妆/母婴, small ones to 食品). Each order has a category (mostly
  the favourite), a channel (mostly the customer's) and the customer's province; its
  ``margin`` is ``amount`` x the category's gross-margin rate x (1 + N(0, 0.05)).
* **Member tier** (普通会员/银卡/金卡/黑金) from the customer's spend on *natural* orders
  over the whole period (orders not caused by a campaign), so the tier is related to
  value but independent of the campaigns' random holdouts: lift by tier is unbiased.
* **Campaigns.** Wake-up SMS waves go to members sleeping at the wave's start (no order
  for ``audience_days`` = 90 days; earlier campaign orders count), a coupon before Double
  11 goes to active members (an order within the 90 days). Each audience member is held
  out (``group == "control"``) with probability ``planned_holdout``, at random. A treated
  member places one extra order inside ``[start, start + window_days)`` with probability
  ``true_uplift_prob`` (it depends on the tier), whether alive or dropped out (an SMS can
  revive a lost customer for that one order); its amount comes from the member's own
  spend distribution. Campaign orders are added on top of the natural orders and change
  nothing else: the natural orders are the same with or without campaigns.
* **Members and messages** (their own random streams, so the orders, customers and
  campaigns are the same with or without them). A customer joins the membership
  programme at their first order with probability 0.55, else at their second natural
  order with probability 0.5, else never; the ``members`` table holds one row per tier a
  member held (``tier_since``), the tier following the member's cumulative natural spend
  (the last row is the customer's ``member_tier``). The ``messages`` log holds one row
  per campaign audience member: treated members are sent the campaign's SMS (wake-up
  waves) or e-mail (the coupon), delivered, opened and clicked at known rates; control
  members are the holdout (not sent). A member with a campaign order was always
  delivered and opened the message.

Run ``python -m crm_analytics.simulate --out data/sample`` to regenerate the sample
byte-for-byte.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import special

from crm_analytics._core.dates import to_day
from crm_analytics._core.errors import CrmDataError

__all__ = [
    "CAMPAIGN_COLUMNS",
    "CATEGORIES",
    "CHANNELS",
    "CUSTOMER_COLUMNS",
    "DEFAULT_PARAMS",
    "MEMBER_COLUMNS",
    "MEMBER_TIERS",
    "MESSAGE_COLUMNS",
    "MESSAGE_RATES",
    "ORDER_COLUMNS",
    "SAMPLE_N_CUSTOMERS",
    "SAMPLE_SEED",
    "SimulatedShop",
    "default_campaigns",
    "main",
    "simulate_shop",
]

#: Settings of the bundled sample in ``data/sample``.
SAMPLE_N_CUSTOMERS = 5000
SAMPLE_SEED = 2024

ORDER_COLUMNS = (
    "customer_id", "order_id", "order_date", "amount", "margin", "category", "channel",
    "province",
)
CUSTOMER_COLUMNS = (
    "customer_id", "first_order_date", "member_tier", "province", "channel", "true_lambda",
    "true_p", "true_dropout_date", "true_spend_mean",
)
CAMPAIGN_COLUMNS = (
    "campaign_id", "campaign_name", "campaign_type", "channel", "start", "window_days",
    "cost_per_contact", "planned_holdout", "customer_id", "group", "member_tier",
    "days_since_last_order", "true_uplift_prob", "true_incremental_revenue",
    "true_baseline_prob", "true_extra_order",
)
MESSAGE_COLUMNS = (
    "campaign_id", "channel", "customer_id", "group", "sent_at", "delivered", "opened",
    "clicked", "true_extra_order",
)
MEMBER_COLUMNS = ("customer_id", "join_date", "member_tier", "tier_since")

#: Message channel of each campaign type, and its true funnel rates: delivered (of
#: sent), opened (of delivered) and clicked (of opened), for members without a campaign
#: order (those with one were always delivered and opened, and clicked with
#: probability ``clicked_if_ordered``).
_MESSAGE_CHANNELS = {"wake_up_sms": "sms", "coupon": "email"}
MESSAGE_RATES = {
    "sms": {"delivered": 0.96, "opened": 0.55, "clicked": 0.12, "clicked_if_ordered": 0.6},
    "email": {"delivered": 0.92, "opened": 0.22, "clicked": 0.18, "clicked_if_ordered": 0.6},
}
#: Membership: join at the first order with this probability, else at the second
#: natural order with ``_JOIN_LATER``, else never.
_JOIN_FIRST, _JOIN_LATER = 0.55, 0.5

#: Product categories and their share of customers' favourite category.
CATEGORIES = ("美妆", "母婴", "食品", "服饰", "家居")
_CATEGORY_SHARE = np.array([0.24, 0.16, 0.26, 0.20, 0.14])
#: How strongly each category attracts big spenders (per standard deviation of log spend).
_CATEGORY_TILT = np.array([0.5, 0.4, -0.9, 0.0, 0.2])
#: Share of a customer's orders in their favourite category.
_FAVOURITE_SHARE = 0.7

CHANNELS = ("天猫", "淘宝", "小程序", "抖音")
_CHANNEL_MIX_START = np.array([0.45, 0.30, 0.15, 0.10])
_CHANNEL_MIX_END = np.array([0.33, 0.20, 0.20, 0.27])
#: Share of a customer's orders placed through their acquisition channel.
_OWN_CHANNEL_SHARE = 0.8

MEMBER_TIERS = ("普通会员", "银卡", "金卡", "黑金")

_PROVINCES = {
    "广东": 14.0, "浙江": 10.0, "江苏": 9.0, "上海": 6.0, "山东": 6.0, "北京": 5.0,
    "四川": 5.0, "福建": 5.0, "河南": 5.0, "湖北": 4.0, "湖南": 4.0, "安徽": 4.0,
    "河北": 4.0, "重庆": 2.0, "陕西": 2.0, "天津": 2.0, "辽宁": 2.0, "江西": 2.0,
    "广西": 2.0, "云南": 2.0, "山西": 1.5, "黑龙江": 1.2, "贵州": 1.2, "吉林": 1.0,
    "内蒙古": 0.8, "新疆": 0.6, "甘肃": 0.6, "海南": 0.6, "宁夏": 0.3, "青海": 0.2,
    "西藏": 0.1,
}
_PROVINCE_NAMES = tuple(_PROVINCES)

#: Orders per hour of day (relative), and on the midnight-rush days 18 June / 11 November.
_HOUR_WEIGHTS = np.array(
    [3.0, 1.5, 0.8, 0.4, 0.3, 0.3, 0.6, 1.5, 2.5, 3.5, 4.5, 4.5,
     4.5, 4.0, 4.2, 4.2, 4.0, 3.8, 3.8, 5.0, 6.5, 7.5, 7.0, 5.0]
)
_PEAK_HOUR_WEIGHTS = _HOUR_WEIGHTS * np.where(np.arange(24) == 0, 6.0, 1.0) * np.where(
    np.arange(24) == 20, 1.5, 1.0
)

#: Spring Festival (Chinese New Year) dates: logistics stop, arrivals dip around them.
_SPRING_FESTIVAL = {
    2019: "02-05", 2020: "01-25", 2021: "02-12", 2022: "02-01", 2023: "01-22",
    2024: "02-10", 2025: "01-29", 2026: "02-17", 2027: "02-06", 2028: "01-26",
    2029: "02-13", 2030: "02-03",
}

#: Population parameters. Rates are per day; money is in yuan.
DEFAULT_PARAMS: dict[str, object] = {
    # BG/NBD purchase rate lambda ~ Gamma(r, rate=alpha), dropout p ~ Beta(a, b)
    "r": 0.16,
    "alpha": 20.0,
    "a": 0.3,
    "b": 4.0,
    "dropout_after_first": False,
    # Gamma-Gamma spend: nu ~ Gamma(q, rate=gamma), order value ~ Gamma(p, rate=nu)
    "p": 3.5,
    "q": 4.5,
    "gamma": 180.0,
    # gross margin as a share of the amount, by category
    "category_margin": {"美妆": 0.58, "母婴": 0.32, "食品": 0.24, "服饰": 0.48, "家居": 0.36},
    "margin_noise": 0.05,
    # lowest natural spend over the period (yuan) of each tier above 普通会员
    "tier_thresholds": {"银卡": 500.0, "金卡": 1500.0, "黑金": 5000.0},
    # relative arrival intensity at the end of the period vs its start
    "growth": 1.5,
    # None: the default schedule (see default_campaigns); [] for none
    "campaigns": None,
}

_SMS_UPLIFT = {"普通会员": 0.08, "银卡": 0.10, "金卡": 0.13, "黑金": 0.18}
_COUPON_UPLIFT = {"普通会员": 0.12, "银卡": 0.15, "金卡": 0.20, "黑金": 0.25}
_CAMPAIGN_TYPES = {"wake_up_sms": "sms", "coupon": "coupon"}
_CAMPAIGN_KEYS = (
    "campaign_id", "campaign_name", "campaign_type", "start", "window_days",
    "cost_per_contact", "planned_holdout", "uplift_by_tier", "audience_days",
)

#: Customer ids: 16 digits above 2**53, so reading them as floats loses digits.
_CUSTOMER_ID_RANGE = (9_100_000_000_000_000, 10**16)
#: Order ids: 19 digits, like Taobao's.
_ORDER_ID_RANGE = (3_000_000_000_000_000_000, 4_000_000_000_000_000_000)

_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default "str" dtype


@dataclass(frozen=True, eq=False)
class SimulatedShop:
    """Output of :func:`simulate_shop`: orders, customers, campaigns and the truth.

    Attributes
    ----------
    orders : pandas.DataFrame
        Canonical orders sorted by ``order_date`` (then customer, order id):
        ``customer_id`` (16-digit str), ``order_id`` (19-digit str), ``order_date``
        (datetime64 with time of day), ``amount`` and ``margin`` (yuan, 2 decimals),
        ``category``, ``channel``, ``province``.
    customers : pandas.DataFrame
        One row per customer, sorted by ``customer_id``: ``first_order_date`` (day),
        ``member_tier``, ``province``, ``channel`` (acquisition channel) and the truth
        ``true_lambda`` (purchases per day while alive), ``true_p`` (dropout probability
        after each repeat purchase), ``true_dropout_date`` (day of the purchase after
        which the customer dropped out; NaT if alive at ``end``) and ``true_spend_mean``
        (expected order value, ``p / nu``).
    messages : pandas.DataFrame
        The message log (columns :data:`MESSAGE_COLUMNS`): one row per campaign
        audience member, in the campaigns' order; ``channel`` is ``sms`` (wake-up
        waves) or ``email`` (the coupon); ``group`` ``treatment`` (sent) or ``control``
        (held out: never sent, ``sent_at`` is when it would have been);
        ``delivered``/``opened``/``clicked`` flags (all False in control), drawn at
        :data:`MESSAGE_RATES`; ``true_extra_order`` as in ``campaigns``.
    members : pandas.DataFrame
        The member table (columns :data:`MEMBER_COLUMNS`): one row per tier a member
        held, sorted by ``customer_id`` and ``tier_since``; ``join_date`` (day the
        customer joined), ``member_tier`` and ``tier_since`` (day it began). Customers
        who never joined are absent.
    campaigns : pandas.DataFrame
        One row per audience member per campaign (columns :data:`CAMPAIGN_COLUMNS`).
        ``true_uplift_prob`` is the extra orders a treated member places because of the
        campaign (expected; recorded for both groups), ``true_incremental_revenue`` =
        ``true_uplift_prob * true_spend_mean``, ``true_baseline_prob`` the probability of
        a natural order in the window (so the true lift of the share of members who
        order is ``true_uplift_prob * (1 - true_baseline_prob)``), ``true_extra_order``
        whether this member placed a campaign order.
    truth : dict
        Population parameters (``r, alpha, a, b`` per day, ``p, q, gamma``),
        ``category_margin``, ``tier_thresholds`` and per campaign its settings and
        true audience-average effects (``campaigns``).
    n_customers, start, end, seed, params
        The settings used (``params`` with defaults filled in).
    """

    orders: pd.DataFrame
    customers: pd.DataFrame
    campaigns: pd.DataFrame
    truth: dict
    n_customers: int
    start: pd.Timestamp
    end: pd.Timestamp
    seed: int
    params: dict = field(repr=False)
    messages: pd.DataFrame | None = field(default=None, repr=False)
    members: pd.DataFrame | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (
            f"SimulatedShop(n_customers={self.n_customers}, seed={self.seed}, "
            f"{self.start.date()} to {self.end.date()}: {len(self.orders)} orders, "
            f"{len(self.truth['campaigns'])} campaigns)"
        )

    def to_csv(self, out: str | Path) -> dict[str, Path]:
        """Write ``orders.csv``, ``customers.csv``, ``campaigns.csv``, ``messages.csv``
        and ``members.csv`` into ``out``.

        UTF-8 without BOM, ``\\n`` line ends, ISO dates, amounts with two decimals and
        other floats in their shortest exact form, so the same shop always gives the
        same bytes. Read them back with :func:`crm_analytics.load_sample` (for the
        bundled sample) or ``pandas.read_csv(..., dtype={"customer_id": str, ...})``.

        Parameters
        ----------
        out : str or Path
            Folder to write into (created if missing); existing files are replaced.

        Returns
        -------
        dict
            Table name to the path written.
        """
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, frame in _csv_frames(self).items():
            path = folder / f"{name}.csv"
            frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
            paths[name] = path
        return paths

    def campaign_truth(self) -> pd.DataFrame:
        """One row per campaign: audience, group sizes and the true effects.

        Columns ``campaign_id, campaign_type, start, n_audience, n_treatment,
        n_control, true_uplift_prob`` (audience mean extra orders per treated member),
        ``true_conversion_lift`` (mean of ``uplift * (1 - baseline)``: the true
        difference in the share of members who order), ``true_incremental_revenue``
        (audience mean per member, yuan) and ``expected_incremental_revenue``
        (treatment-group total, yuan).

        Examples
        --------
        >>> shop = simulate_shop(2000, seed=1)
        >>> shop.campaign_truth()[["campaign_id", "n_audience", "n_control"]]
            campaign_id  n_audience  n_control
        0  SMS-20250301         665         60
        1  SMS-20250601         805         73
        2  SMS-20250901        1009        103
        3  CPN-20251020         597         61
        """
        c = self.campaigns
        conv = c["true_uplift_prob"] * (1 - c["true_baseline_prob"])
        treated = c["group"] == "treatment"
        out = (
            c.assign(
                _conv=conv,
                _t=treated,
                _rev_t=c["true_incremental_revenue"].where(treated, 0.0),
            )
            .groupby(["campaign_id", "campaign_type", "start"], sort=False)
            .agg(
                n_audience=("customer_id", "size"),
                n_treatment=("_t", "sum"),
                true_uplift_prob=("true_uplift_prob", "mean"),
                true_conversion_lift=("_conv", "mean"),
                true_incremental_revenue=("true_incremental_revenue", "mean"),
                expected_incremental_revenue=("_rev_t", "sum"),
            )
            .reset_index()
        )
        out.insert(5, "n_control", out["n_audience"] - out["n_treatment"])
        return out


def default_campaigns(end: object = "2025-12-31") -> list[dict]:
    """The default campaign schedule in the calendar year of ``end``.

    Three wake-up SMS waves to sleeping members (1 March, 1 June, 1 September; 0.05 yuan
    per SMS) and a coupon to active members before Double 11 (20 October; 3 yuan per
    member: the expected cost of the coupons redeemed), each with a 10% holdout and a
    30-day window. :func:`simulate_shop` drops those that do not fit its period.

    Examples
    --------
    >>> [c["campaign_id"] for c in default_campaigns("2025-12-31")]
    ['SMS-20250301', 'SMS-20250601', 'SMS-20250901', 'CPN-20251020']
    """
    year = to_day(end, "end").year
    out = []
    for month in (3, 6, 9):
        day = f"{year}-{month:02d}-01"
        out.append(
            {
                "campaign_id": f"SMS-{year}{month:02d}01",
                "campaign_name": f"沉睡会员唤醒短信 {day}",
                "campaign_type": "wake_up_sms",
                "start": day,
                "window_days": 30,
                "cost_per_contact": 0.05,
                "planned_holdout": 0.1,
                "uplift_by_tier": dict(_SMS_UPLIFT),
                "audience_days": 90,
            }
        )
    out.append(
        {
            "campaign_id": f"CPN-{year}1020",
            "campaign_name": f"双11预热优惠券 {year}-10-20",
            "campaign_type": "coupon",
            "start": f"{year}-10-20",
            "window_days": 30,
            "cost_per_contact": 3.0,
            "planned_holdout": 0.1,
            "uplift_by_tier": dict(_COUPON_UPLIFT),
            "audience_days": 90,
        }
    )
    return out


# ----------------------------------------------------------------------------- checks


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool
    )


def _rate_table(value: object, keys: Sequence[str], high: float) -> dict[str, float] | None:
    """``value`` as {key: float in [0, high]} with exactly ``keys``, else None."""
    if not isinstance(value, Mapping) or set(value) != set(keys):
        return None
    if not all(_is_number(v) and 0 <= v <= high for v in value.values()):
        return None
    return {k: float(value[k]) for k in keys}


def _check_params(params: Mapping[str, object] | None) -> dict:
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise CrmDataError(
            f"The 'params' parameter of simulate_shop must be a dict or None. "
            f"Got {type(params).__name__}."
        )
    unknown = sorted(set(params) - set(DEFAULT_PARAMS))
    if unknown:
        raise CrmDataError(
            f"The 'params' parameter of simulate_shop has unknown key(s) {unknown}. "
            f"Valid keys: {sorted(DEFAULT_PARAMS)}."
        )
    out = {**DEFAULT_PARAMS, **params}
    for key in ("r", "alpha", "a", "b", "p", "q", "gamma", "growth"):
        value = out[key]
        if not _is_number(value) or not value > 0:
            raise CrmDataError(
                f"params[{key!r}] must be a positive number. Got {value!r} instead."
            )
        out[key] = float(value)
    if out["q"] <= 1:
        raise CrmDataError(
            f"params['q'] must be above 1 so that the mean order value p * gamma / (q - 1) "
            f"exists. Got {out['q']!r}."
        )
    margin = _rate_table(out["category_margin"], CATEGORIES, 0.99)
    if margin is None:
        raise CrmDataError(
            f"params['category_margin'] must give a margin rate in [0, 1) for each of "
            f"{list(CATEGORIES)}. Got {out['category_margin']!r}."
        )
    out["category_margin"] = margin
    thresholds = _rate_table(out["tier_thresholds"], MEMBER_TIERS[1:], np.inf)
    if thresholds is None or not 0 < thresholds["银卡"] < thresholds["金卡"] < thresholds["黑金"]:
        raise CrmDataError(
            f"params['tier_thresholds'] must give increasing positive spends (yuan) for "
            f"{list(MEMBER_TIERS[1:])}. Got {out['tier_thresholds']!r}."
        )
    out["tier_thresholds"] = thresholds
    if not _is_number(out["margin_noise"]) or not 0 <= out["margin_noise"] < 1:
        raise CrmDataError(
            f"params['margin_noise'] must be a number in [0, 1). Got {out['margin_noise']!r}."
        )
    out["margin_noise"] = float(out["margin_noise"])
    if not isinstance(out["dropout_after_first"], (bool, np.bool_)):
        raise CrmDataError(
            f"params['dropout_after_first'] must be True or False. "
            f"Got {out['dropout_after_first']!r}."
        )
    out["dropout_after_first"] = bool(out["dropout_after_first"])
    if out["campaigns"] is not None and (
        isinstance(out["campaigns"], (str, Mapping)) or not isinstance(out["campaigns"], Sequence)
    ):
        raise CrmDataError(
            f"params['campaigns'] must be a list of campaign dicts (see default_campaigns()), "
            f"[] for none, or None for the default schedule. Got {out['campaigns']!r}."
        )
    return out


def _check_campaign(raw: object, i: int) -> dict:
    if not isinstance(raw, Mapping):
        raise CrmDataError(
            f"params['campaigns'][{i}] must be a dict with keys {list(_CAMPAIGN_KEYS)}. "
            f"Got {type(raw).__name__}."
        )
    missing = [k for k in _CAMPAIGN_KEYS if k not in raw]
    extra = sorted(set(raw) - set(_CAMPAIGN_KEYS))
    if missing or extra:
        raise CrmDataError(
            f"params['campaigns'][{i}] is missing keys {missing} / has unknown keys "
            f"{extra}. Each campaign needs exactly {list(_CAMPAIGN_KEYS)}; start from "
            "default_campaigns() and change what you need."
        )
    spec = dict(raw)
    name = spec["campaign_id"] = str(spec["campaign_id"])
    if spec["campaign_type"] not in _CAMPAIGN_TYPES:
        raise CrmDataError(
            f"Campaign {name!r} has campaign_type {spec['campaign_type']!r}; use one of "
            f"{list(_CAMPAIGN_TYPES)}."
        )
    spec["start"] = to_day(spec["start"], f"campaigns[{i}].start")
    for key in ("window_days", "audience_days"):
        value = spec[key]
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise CrmDataError(
                f"Campaign {name!r}: {key} must be an int of at least 1. Got {value!r}."
            )
        spec[key] = int(value)
    holdout, cost = spec["planned_holdout"], spec["cost_per_contact"]
    if not _is_number(holdout) or not 0 < holdout < 1:
        raise CrmDataError(
            f"Campaign {name!r}: planned_holdout must be in (0, 1). Got {holdout!r}."
        )
    if not _is_number(cost) or cost < 0:
        raise CrmDataError(
            f"Campaign {name!r}: cost_per_contact must be a number >= 0 (yuan). Got {cost!r}."
        )
    spec["planned_holdout"], spec["cost_per_contact"] = float(holdout), float(cost)
    uplift = _rate_table(spec["uplift_by_tier"], MEMBER_TIERS, 1.0)
    if uplift is None:
        raise CrmDataError(
            f"Campaign {name!r}: uplift_by_tier must give a probability in [0, 1] for each "
            f"of {list(MEMBER_TIERS)}. Got {spec['uplift_by_tier']!r}."
        )
    spec["uplift_by_tier"] = uplift
    return spec


def _check_campaigns(
    campaigns: Sequence[Mapping] | None, start: pd.Timestamp, end: pd.Timestamp
) -> list[dict]:
    """Validated campaign specs in start order; defaults that do not fit are left out."""
    explicit = campaigns is not None
    specs = [_check_campaign(raw, i) for i, raw in enumerate(
        campaigns if explicit else default_campaigns(end)
    )]
    out = []
    for spec in specs:
        window_end = spec["start"] + pd.Timedelta(days=spec["window_days"] - 1)
        if spec["start"] <= start or window_end > end:
            if explicit:
                raise CrmDataError(
                    f"Campaign {spec['campaign_id']!r} runs {spec['start'].date()} to "
                    f"{window_end.date()}, outside the simulated period {start.date()} to "
                    f"{end.date()} (it must start after the first day). Move it inside, or "
                    "widen start/end."
                )
            continue
        out.append(spec)
    ids = [c["campaign_id"] for c in out]
    if len(set(ids)) != len(ids):
        raise CrmDataError(f"Campaign ids must be unique. Got {ids}.")
    return sorted(out, key=lambda c: (c["start"], c["campaign_id"]))


# ------------------------------------------------------------------------- building blocks


def _inverse_cdf(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index drawn from ``weights`` (last axis) for uniforms ``u``."""
    cdf = np.cumsum(weights, axis=-1)
    cdf = cdf / cdf[..., -1:]
    if cdf.ndim == 1:
        return np.minimum(np.searchsorted(cdf, u, side="right"), len(weights) - 1)
    return np.minimum((u[:, None] >= cdf).sum(axis=1), cdf.shape[1] - 1)


def _arrival_weights(days: pd.DatetimeIndex, growth: float) -> np.ndarray:
    """Relative arrival intensity per day: growth, shopping festivals, Spring Festival."""
    n = len(days)
    w = 1 + (growth - 1) * np.arange(n) / max(n - 1, 1)
    month, day = days.month.to_numpy(), days.day.to_numpy()
    bump = np.zeros(n)
    bump += np.where((month == 3) & (day == 8), 1.5, 0.0)  # 38女王节
    june = (month == 6) & (day <= 17)
    bump += np.where(june, 2.0 * (day / 17.0) ** 2, 0.0)  # 618 pre-sales
    bump += np.where((month == 6) & (day == 18), 6.0, 0.0)
    bump += np.where((month == 6) & ((day == 19) | (day == 20)), 0.5, 0.0)
    bump += np.where((month == 10) & (day >= 20), 1.0, 0.0)  # Double 11 pre-sales
    bump += np.where((month == 11) & (day <= 3), 2.0, 0.0)
    bump += np.where((month == 11) & (day >= 4) & (day <= 10), 1.5, 0.0)
    bump += np.where((month == 11) & (day == 11), 9.0, 0.0)
    bump += np.where((month == 11) & ((day == 12) | (day == 13)), 1.0, 0.0)
    bump += np.where((month == 12) & (day == 12), 2.0, 0.0)  # Double 12
    w = w * (1 + bump)
    for year in np.unique(days.year):
        if year in _SPRING_FESTIVAL:
            festival = pd.Timestamp(f"{year}-{_SPRING_FESTIVAL[year]}")
            near = np.abs((days - festival).days.to_numpy()) <= 7
            w = np.where(near, w * 0.45, w)
    return w


def _seconds_of_day(frac: np.ndarray, peak: np.ndarray) -> np.ndarray:
    """Map a uniform day fraction to seconds after midnight through the hour profile.

    Monotone, so orders of one customer on one day keep their order.
    """
    out = np.empty(len(frac))
    for weights, mask in ((_HOUR_WEIGHTS, ~peak), (_PEAK_HOUR_WEIGHTS, peak)):
        cdf = np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
        u = frac[mask]
        hour = np.minimum(np.searchsorted(cdf, u, side="right") - 1, 23)
        within = (u - cdf[hour]) / (cdf[hour + 1] - cdf[hour])
        out[mask] = (hour + within) * 3600.0
    return np.minimum(np.floor(out), 86399.0)


def _order_times(t: np.ndarray, peak_day: np.ndarray) -> np.ndarray:
    """Continuous time (days since start) to whole seconds since start, day kept."""
    day = np.floor(t)
    peak = peak_day[day.astype(np.int64)]
    return (day * 86400.0 + _seconds_of_day(t - day, peak)).astype(np.int64)


def _bgnbd(
    rng: np.random.Generator,
    t0: np.ndarray,
    lam: np.ndarray,
    p_drop: np.ndarray,
    horizon: float,
    dropout_after_first: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Natural orders of the BG/NBD process, vectorised over customers.

    Loops over the purchase number (all customers still buying at once). Returns the
    customer index and continuous time (days) of every order, sorted by customer then
    time, and each customer's dropout time (NaN if alive at ``horizon``).
    """
    n = len(t0)
    dropout = np.full(n, np.nan)
    idx, t = np.arange(n), t0
    custs, times = [idx], [t0]
    if dropout_after_first:
        die = rng.random(n) < p_drop
        dropout[die] = t0[die]
        idx, t = idx[~die], t[~die]
    with np.errstate(divide="ignore"):
        while idx.size:
            nxt = t + rng.standard_exponential(idx.size) / lam[idx]
            keep = nxt < horizon
            idx, nxt = idx[keep], nxt[keep]
            custs.append(idx)
            times.append(nxt)
            die = rng.random(idx.size) < p_drop[idx]
            dropout[idx[die]] = nxt[die]
            idx, t = idx[~die], nxt[~die]
    cust = np.concatenate(custs)
    time = np.concatenate(times)
    order = np.argsort(cust, kind="stable")  # purchase number rises with time
    return cust[order], time[order], dropout


def _order_values(rng: np.random.Generator, p: float, nu: np.ndarray) -> np.ndarray:
    """Gamma(p, rate=nu) order values in yuan, rounded to fen (at least 0.01)."""
    return np.maximum(np.round(rng.gamma(p, 1.0, size=len(nu)) / nu, 2), 0.01)


def _margins(
    rng: np.random.Generator, amount: np.ndarray, category: np.ndarray, prm: dict
) -> np.ndarray:
    """Gross margin: amount x the category's rate x (1 + noise), rounded to fen."""
    rates = np.array([prm["category_margin"][c] for c in CATEGORIES])
    noise = np.maximum(1 + prm["margin_noise"] * rng.standard_normal(len(amount)), 0.0)
    return np.round(amount * rates[category] * noise, 2)


def _customer_attributes(
    rng: np.random.Generator, arrival_share: np.ndarray, spend_mean: np.ndarray, prm: dict
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Province, acquisition channel and favourite category codes of each customer.

    The channel mix drifts linearly over the period (``arrival_share`` = arrival time /
    period length); big spenders lean to the categories with a positive tilt.
    """
    n = len(spend_mean)
    province = _inverse_cdf(np.array(list(_PROVINCES.values())), rng.random(n))
    late = rng.random(n) < arrival_share
    u = rng.random(n)
    channel = np.where(
        late, _inverse_cdf(_CHANNEL_MIX_END, u), _inverse_cdf(_CHANNEL_MIX_START, u)
    )
    # standardised log spend: log(p / nu) with log nu ~ log-Gamma(q, rate=gamma)
    log_mean = np.log(prm["p"]) - (special.digamma(prm["q"]) - np.log(prm["gamma"]))
    z = (np.log(spend_mean) - log_mean) / np.sqrt(special.polygamma(1, prm["q"]))
    logits = np.log(_CATEGORY_SHARE)[None, :] + z[:, None] * _CATEGORY_TILT[None, :]
    favourite = _inverse_cdf(
        np.exp(logits - logits.max(axis=1, keepdims=True)), rng.random(n)
    )
    return province, channel, favourite


def _categories_and_channels(
    rng: np.random.Generator,
    cust: np.ndarray,
    t: np.ndarray,
    horizon: float,
    favourite: np.ndarray,
    own_channel: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Category and channel codes of orders (mostly the customer's own)."""
    m = len(cust)
    u = rng.random((4, m))
    category = np.where(
        u[0] < _FAVOURITE_SHARE, favourite[cust], _inverse_cdf(_CATEGORY_SHARE, u[1])
    )
    late = u[2] < t / horizon  # linear drift of the channel mix = a mixture of two
    mix = np.where(
        late,
        _inverse_cdf(_CHANNEL_MIX_END, u[3]),
        _inverse_cdf(_CHANNEL_MIX_START, u[3]),
    )
    own = rng.random(m) < _OWN_CHANNEL_SHARE
    channel = np.where(own, own_channel[cust], mix)
    return category.astype(np.int8), channel.astype(np.int8)


def _unique_ids(rng: np.random.Generator, size: int, bounds: tuple[int, int]) -> np.ndarray:
    """``size`` distinct random integers in ``[low, high)`` (redrawing the rare repeats)."""
    ids = rng.integers(*bounds, size=size, dtype=np.int64)
    while True:
        _, first = np.unique(ids, return_index=True)
        if len(first) == size:
            return ids
        repeat = np.ones(size, dtype=bool)
        repeat[first] = False
        ids[repeat] = rng.integers(*bounds, size=int(repeat.sum()), dtype=np.int64)


def _increasing_ids(rng: np.random.Generator, size: int, bounds: tuple[int, int]) -> np.ndarray:
    """``size`` increasing random integers in ``[low, high)``: order numbers grow with time."""
    mean_gap = (bounds[1] - bounds[0]) // (2 * (size + 1))
    gaps = rng.integers(1, 2 * mean_gap, size=size, dtype=np.int64)
    return bounds[0] + np.cumsum(gaps)


def _sort_by_time_then_id(seconds: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Order of rows by ``seconds`` then ``ids`` (lexsort only on the tied rows: fast)."""
    order = np.argsort(seconds, kind="stable")
    s = seconds[order]
    tied = np.zeros(len(s), dtype=bool)
    same = s[1:] == s[:-1]
    tied[1:] |= same
    tied[:-1] |= same
    pos = np.flatnonzero(tied)
    sub = order[pos]
    order[pos] = sub[np.lexsort((ids[sub], seconds[sub]))]
    return order


def _take_str(strings: pa.Array, index: np.ndarray) -> pd.Series:
    """A pandas ``str`` column of ``strings[index]``."""
    return pd.Series(pd.array(strings.take(pa.array(index)), dtype=_STR))


def _str_column(labels: Sequence[str], codes: np.ndarray) -> pd.Series:
    """A pandas ``str`` column from integer codes into ``labels`` (fast, via Arrow)."""
    arr = pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(codes, dtype=np.int32)), pa.array(list(labels))
    ).cast(pa.string())
    return pd.Series(pd.array(arr, dtype=_STR))


def _id_column(values: np.ndarray) -> pd.Series:
    """A pandas ``str`` column of the decimal digits of int64 ids."""
    return pd.Series(pd.array(pa.array(values, type=pa.int64()).cast(pa.string()), dtype=_STR))


# ------------------------------------------------------------------------------ simulator


def simulate_shop(
    n_customers: int = 5000,
    *,
    start: object = "2024-01-01",
    end: object = "2025-12-31",
    seed: int = 0,
    params: Mapping[str, object] | None = None,
) -> SimulatedShop:
    """Simulate a Chinese online shop with known churn, value and campaign effects.

    See the module docstring for the model: arrivals with 618 / Double 11 peaks,
    BG/NBD purchases and dropout (Fader, Hardie & Lee 2005), Gamma-Gamma spend (Fader &
    Hardie 2013), categories with different margins, channels, provinces, member tiers,
    and wake-up SMS / coupon campaigns with random holdouts and known true effects.
    Vectorised: a million customers take seconds.

    Parameters
    ----------
    n_customers : int, default 5000
        Customers to simulate; each arrives (places a first order) inside the period.
    start, end : date-like, default "2024-01-01" and "2025-12-31"
        First and last day of the period (both included).
    seed : int, default 0
        Seed of all randomness: the same seed gives identical tables.
    params : dict, optional
        Overrides of :data:`DEFAULT_PARAMS` (population parameters per day, margins,
        tier thresholds, ``campaigns``: a list like :func:`default_campaigns`, or ``[]``
        for none). Campaign orders are drawn from their own random stream: with the same
        seed, the natural orders are the same whatever the campaigns.

    Returns
    -------
    SimulatedShop
        ``orders``, ``customers``, ``campaigns``, ``truth`` and the settings.

    Raises
    ------
    CrmDataError
        A non-positive ``n_customers``, ``end`` not after ``start``, a bad ``seed``,
        unknown or invalid ``params``, or a campaign outside the period.

    Examples
    --------
    >>> shop = simulate_shop(200, seed=1)
    >>> shop
    SimulatedShop(n_customers=200, seed=1, 2024-01-01 to 2025-12-31: 764 orders, 4 campaigns)
    >>> shop.orders.columns.tolist()
    ['customer_id', 'order_id', 'order_date', 'amount', 'margin', 'category', 'channel', 'province']
    >>> len(shop.customers), shop.orders["customer_id"].nunique()
    (200, 200)
    >>> shop.truth["r"], shop.truth["alpha"]
    (0.16, 20.0)
    """
    if isinstance(n_customers, bool) or not isinstance(n_customers, (int, np.integer)) or (
        n_customers < 1
    ):
        raise CrmDataError(
            f"The 'n_customers' parameter of simulate_shop must be an int in the range "
            f"[1, inf). Got {n_customers!r} instead."
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise CrmDataError(
            f"The 'seed' parameter of simulate_shop must be a non-negative int. "
            f"Got {seed!r} instead."
        )
    start_ts, end_ts = to_day(start, "start"), to_day(end, "end")
    if end_ts <= start_ts:
        raise CrmDataError(
            f"The 'end' parameter ({end_ts.date()}) must be after 'start' "
            f"({start_ts.date()})."
        )
    n = int(n_customers)
    prm = _check_params(params)
    campaigns = _check_campaigns(prm["campaigns"], start_ts, end_ts)
    prm["campaigns"] = campaigns

    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(8)]
    rng_arrival, rng_process, rng_spend, rng_attr, rng_campaign, rng_ids = streams[:6]
    rng_members, rng_messages = streams[6:]  # extra streams: the six above are unchanged

    days = pd.date_range(start_ts, end_ts, freq="D")
    n_days = len(days)
    horizon = float(n_days)
    peak_day = np.asarray(
        ((days.month == 6) & (days.day == 18)) | ((days.month == 11) & (days.day == 11))
    )

    # arrivals (customers numbered in order of arrival), then the BG/NBD process
    weights = _arrival_weights(days, prm["growth"])
    arrival_day = np.sort(rng_arrival.choice(n_days, size=n, p=weights / weights.sum()))
    t0 = arrival_day + rng_arrival.random(n)
    lam = rng_process.gamma(prm["r"], 1.0 / prm["alpha"], size=n)
    p_drop = rng_process.beta(prm["a"], prm["b"], size=n)
    cust, t, dropout = _bgnbd(rng_process, t0, lam, p_drop, horizon, prm["dropout_after_first"])

    # Gamma-Gamma spend
    nu = rng_spend.gamma(prm["q"], 1.0 / prm["gamma"], size=n)
    spend_mean = prm["p"] / nu
    amount = _order_values(rng_spend, prm["p"], nu[cust])

    # attributes of customers and orders; margins; member tiers from natural spend
    province, own_channel, favourite = _customer_attributes(
        rng_attr, t0 / horizon, spend_mean, prm
    )
    category, channel = _categories_and_channels(
        rng_attr, cust, t, horizon, favourite, own_channel
    )
    margin = _margins(rng_attr, amount, category, prm)
    total = np.bincount(cust, weights=amount, minlength=n)
    tier = np.searchsorted(np.array(list(prm["tier_thresholds"].values())), total, side="right")

    members = _members(rng_members, cust, t, amount, prm, start_ts)

    # ids; customers in id order
    customer_num = _unique_ids(rng_ids, n, _CUSTOMER_ID_RANGE)
    by_id = np.argsort(customer_num)
    customer_str = pa.array(customer_num, type=pa.int64()).cast(pa.string())

    # campaigns
    camp_rows, camp_orders, camp_truth = _run_campaigns(
        rng_campaign, campaigns, start_ts, cust, np.floor(t).astype(np.int64), dropout, lam,
        nu, tier, favourite, own_channel, horizon, by_id, prm,
    )

    # orders sorted by time, customer id, order id (as validate_orders sorts them)
    seconds = _order_times(t, peak_day)
    if camp_orders is not None:
        cust = np.concatenate([cust, camp_orders["cust"]])
        seconds = np.concatenate([seconds, _order_times(camp_orders["t"], peak_day)])
        amount = np.concatenate([amount, camp_orders["amount"]])
        margin = np.concatenate([margin, camp_orders["margin"]])
        category = np.concatenate([category, camp_orders["category"]])
        channel = np.concatenate([channel, camp_orders["channel"]])
    final = _sort_by_time_then_id(seconds, customer_num[cust])
    cust_sorted = cust[final]
    order_date = start_ts.to_datetime64().astype("datetime64[s]") + seconds[final].astype(
        "timedelta64[s]"
    )
    orders = pd.DataFrame(
        {
            "customer_id": _take_str(customer_str, cust_sorted),
            "order_id": _id_column(_increasing_ids(rng_ids, len(final), _ORDER_ID_RANGE)),
            "order_date": order_date.astype("datetime64[ns]"),
            "amount": amount[final],
            "margin": margin[final],
            "category": _str_column(CATEGORIES, category[final]),
            "channel": _str_column(CHANNELS, channel[final]),
            "province": _str_column(_PROVINCE_NAMES, province[cust_sorted]),
        }
    )

    # customers in id order, with their truth
    day0 = start_ts.to_datetime64().astype("datetime64[D]")
    first_day = (day0 + np.floor(t0).astype(np.int64).astype("timedelta64[D]"))
    drop_date = (day0 + np.floor(np.nan_to_num(dropout)).astype(np.int64).astype(
        "timedelta64[D]"
    )).astype("datetime64[ns]")
    drop_date[np.isnan(dropout)] = np.datetime64("NaT")
    customers = pd.DataFrame(
        {
            "customer_id": _take_str(customer_str, by_id),
            "first_order_date": first_day[by_id].astype("datetime64[ns]"),
            "member_tier": _str_column(MEMBER_TIERS, tier[by_id]),
            "province": _str_column(_PROVINCE_NAMES, province[by_id]),
            "channel": _str_column(CHANNELS, own_channel[by_id]),
            "true_lambda": lam[by_id],
            "true_p": p_drop[by_id],
            "true_dropout_date": drop_date[by_id],
            "true_spend_mean": spend_mean[by_id],
        }
    )

    campaigns_frame = _campaign_frame(camp_rows, customer_str, campaigns)
    messages, message_truth = _messages(rng_messages, camp_rows, customer_str, campaigns)
    truth = {
        "time_unit": "D",
        "model": (
            "MBG/NBD (dropout possible after every purchase)"
            if prm["dropout_after_first"]
            else "BG/NBD (Fader, Hardie & Lee 2005: dropout after repeat purchases)"
        ),
        **{k: prm[k] for k in ("r", "alpha", "a", "b", "p", "q", "gamma")},
        "mean_order_value": prm["p"] * prm["gamma"] / (prm["q"] - 1),
        "category_margin": dict(prm["category_margin"]),
        "tier_thresholds": dict(prm["tier_thresholds"]),
        "campaigns": camp_truth,
        "message_rates": {k: dict(v) for k, v in MESSAGE_RATES.items()},
        "messages": message_truth,
        "membership": {"join_first": _JOIN_FIRST, "join_later": _JOIN_LATER},
    }
    return SimulatedShop(
        orders=orders,
        customers=customers,
        campaigns=campaigns_frame,
        truth=truth,
        n_customers=n,
        start=start_ts,
        end=end_ts,
        seed=int(seed),
        params=prm,
        messages=messages,
        members=_member_frame(members, customer_num, customer_str),
    )


def _run_campaigns(
    rng, campaigns, start_ts, cust, order_day, dropout, lam, nu, tier, favourite,
    own_channel, horizon, by_id, prm,
):
    """Audiences, random holdouts and campaign orders, campaign by campaign.

    ``cust``/``order_day`` are the natural orders sorted by customer then time;
    ``by_id`` the customers in customer-id order (audiences are listed in that order).
    """
    n = len(nu)
    stride = np.int64(horizon) + 1  # more days than any order day or campaign start
    key = cust.astype(np.int64) * stride + order_day
    first_pos = np.searchsorted(key, np.arange(n, dtype=np.int64) * stride)
    rows, extra_parts, truth = [], [], {}
    extra_cust = np.empty(0, dtype=np.int64)
    extra_day = np.empty(0, dtype=np.int64)
    for spec in campaigns:
        s = int((spec["start"] - start_ts).days)
        w = spec["window_days"]
        # last observed order before the start: natural ...
        pos = np.searchsorted(key, np.arange(n, dtype=np.int64) * stride + s) - 1
        has = pos >= first_pos
        last = np.where(has, order_day[np.maximum(pos, 0)], -1)
        # ... or caused by an earlier campaign
        before = extra_day < s
        np.maximum.at(last, extra_cust[before], extra_day[before])
        member = last >= 0
        since = s - last
        if spec["campaign_type"] == "wake_up_sms":
            chosen = member & (since >= spec["audience_days"])
        else:
            chosen = member & (since < spec["audience_days"])
        audience = by_id[chosen[by_id]]
        m = audience.size
        control = rng.random(m) < spec["planned_holdout"]
        uplift = np.array([spec["uplift_by_tier"][x] for x in MEMBER_TIERS])[tier[audience]]
        extra = ~control & (rng.random(m) < uplift)
        alive = np.isnan(dropout[audience]) | (dropout[audience] >= s)
        baseline = np.where(alive, -np.expm1(-lam[audience] * w), 0.0)
        spend_mean = prm["p"] / nu[audience]
        rows.append(
            {
                "cust": audience,
                "control": control,
                "tier": tier[audience],
                "since": since[audience],
                "uplift": uplift,
                "revenue": uplift * spend_mean,
                "baseline": baseline,
                "extra": extra,
            }
        )
        # campaign orders: a truncated exponential delay (mean a quarter of the window)
        who = audience[extra]
        k = who.size
        scale = w / 4.0
        delay = -scale * np.log1p(-rng.random(k) * -np.expm1(-w / scale))
        t_extra = np.minimum(s + delay, s + w - 1e-9)
        amount = _order_values(rng, prm["p"], nu[who])
        category, channel = _categories_and_channels(
            rng, who, t_extra, horizon, favourite, own_channel
        )
        margin = _margins(rng, amount, category, prm)
        extra_parts.append(
            {"cust": who, "t": t_extra, "amount": amount, "margin": margin,
             "category": category, "channel": channel}
        )
        extra_cust = np.concatenate([extra_cust, who])
        extra_day = np.concatenate([extra_day, np.floor(t_extra).astype(np.int64)])
        treated = ~control
        truth[spec["campaign_id"]] = {
            "campaign_type": spec["campaign_type"],
            "start": spec["start"],
            "window_days": w,
            "planned_holdout": spec["planned_holdout"],
            "uplift_by_tier": dict(spec["uplift_by_tier"]),
            "n_audience": int(m),
            "n_treatment": int(treated.sum()),
            "mean_uplift_prob": float(uplift.mean()) if m else math.nan,
            "mean_conversion_lift": float((uplift * (1 - baseline)).mean()) if m else math.nan,
            "mean_incremental_revenue": float((uplift * spend_mean).mean()) if m else math.nan,
        }
    if not extra_parts:
        return rows, None, truth
    camp_orders = {
        key_: np.concatenate([part[key_] for part in extra_parts]) for key_ in extra_parts[0]
    }
    return rows, camp_orders, truth


def _members(rng, cust, t, amount, prm, start_ts) -> dict:
    """Who joins the membership programme, when, and their tiers over time.

    ``cust``/``t``/``amount`` are the natural orders sorted by customer then time. The
    tier after each order follows the cumulative natural spend up to it (the thresholds
    of ``member_tier``); a member's history starts at the join order.
    """
    n = int(cust.max()) + 1 if len(cust) else 0
    first_pos = np.searchsorted(cust, np.arange(n))
    n_orders = np.bincount(cust, minlength=n)
    join_first = rng.random(n) < _JOIN_FIRST
    join_later = ~join_first & (n_orders >= 2) & (rng.random(n) < _JOIN_LATER)
    joins = join_first | join_later
    join_pos = np.where(join_first, first_pos, first_pos + 1)  # position of the join order
    spend = np.cumsum(amount)
    before = np.concatenate([[0.0], spend])[first_pos][cust]
    tier = np.searchsorted(np.array(list(prm["tier_thresholds"].values())), spend - before,
                           side="right")
    pos = np.arange(len(cust))
    member_order = joins[cust] & (pos >= join_pos[cust])
    # a history row at the join order and wherever the tier rises after it
    rises = np.ones(len(cust), dtype=bool)
    rises[1:] = (tier[1:] != tier[:-1]) | (cust[1:] != cust[:-1])
    keep = member_order & ((pos == join_pos[cust]) | rises)
    day0 = start_ts.to_datetime64().astype("datetime64[D]")
    day = day0 + np.floor(t).astype(np.int64).astype("timedelta64[D]")
    return {
        "cust": cust[keep],
        "join_date": day[join_pos[cust[keep]]],
        "tier": tier[keep],
        "since": day[keep],
    }


def _member_frame(members: dict, customer_num: np.ndarray, customer_str) -> pd.DataFrame:
    """The member table sorted by customer id, then ``tier_since``."""
    order = np.lexsort((members["since"], customer_num[members["cust"]]))
    return pd.DataFrame(
        {
            "customer_id": _take_str(customer_str, members["cust"][order]),
            "join_date": members["join_date"][order].astype("datetime64[ns]"),
            "member_tier": _str_column(MEMBER_TIERS, members["tier"][order]),
            "tier_since": members["since"][order].astype("datetime64[ns]"),
        }
    )


def _messages(rng, rows, customer_str, campaigns) -> tuple[pd.DataFrame, dict]:
    """The message log of the campaigns: sends, deliveries, opens and clicks."""
    parts, truth = [], {}
    for spec, row in zip(campaigns, rows, strict=False):
        m = len(row["cust"])
        channel = _MESSAGE_CHANNELS[spec["campaign_type"]]
        rates = MESSAGE_RATES[channel]
        sent = ~row["control"]
        extra = row["extra"]
        u = rng.random((4, m))
        delivered = sent & ((u[0] < rates["delivered"]) | extra)
        opened = delivered & ((u[1] < rates["opened"]) | extra)
        clicked = opened & np.where(extra, u[2] < rates["clicked_if_ordered"],
                                    u[2] < rates["clicked"])
        # sent between 10:00 and 11:00 on the campaign's first day
        seconds = 36_000 + np.floor(u[3] * 3600).astype(np.int64)
        sent_at = spec["start"].to_datetime64().astype("datetime64[s]") + seconds.astype(
            "timedelta64[s]")
        parts.append({"campaign_id": np.full(m, spec["campaign_id"], dtype=object),
                      "channel": np.full(m, channel, dtype=object),
                      "cust": row["cust"], "control": row["control"],
                      "sent_at": sent_at, "delivered": delivered, "opened": opened,
                      "clicked": clicked, "extra": extra})
        truth[spec["campaign_id"]] = {
            "channel": channel, "sent": int(sent.sum()), "delivered": int(delivered.sum()),
            "opened": int(opened.sum()), "clicked": int(clicked.sum()),
            "extra_orders": int(extra.sum()), "held_out": int(row["control"].sum()),
        }
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in MESSAGE_COLUMNS}), truth
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    frame = pd.DataFrame(
        {
            "campaign_id": pd.Series(cat["campaign_id"]).astype(_STR),
            "channel": pd.Series(cat["channel"]).astype(_STR),
            "customer_id": _take_str(customer_str, cat["cust"]),
            "group": _str_column(("treatment", "control"), cat["control"]),
            "sent_at": cat["sent_at"].astype("datetime64[ns]"),
            "delivered": cat["delivered"],
            "opened": cat["opened"],
            "clicked": cat["clicked"],
            "true_extra_order": cat["extra"],
        }
    )
    return frame, truth


def _campaign_frame(rows, customer_str, campaigns) -> pd.DataFrame:
    """The long campaign table: campaigns in start order, members in customer-id order."""
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CAMPAIGN_COLUMNS})
    sizes = [len(r["cust"]) for r in rows]
    which = np.repeat(np.arange(len(rows)), sizes)
    cat = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}

    def labels(key):
        return _str_column([str(c[key]) for c in campaigns], which)

    def values(key, dtype):
        return np.array([c[key] for c in campaigns], dtype=dtype)[which]

    return pd.DataFrame(
        {
            "campaign_id": labels("campaign_id"),
            "campaign_name": labels("campaign_name"),
            "campaign_type": labels("campaign_type"),
            "channel": _str_column(
                [_CAMPAIGN_TYPES[c["campaign_type"]] for c in campaigns], which
            ),
            "start": np.array(
                [c["start"].to_datetime64() for c in campaigns], dtype="datetime64[ns]"
            )[which],
            "window_days": values("window_days", np.int64),
            "cost_per_contact": values("cost_per_contact", float),
            "planned_holdout": values("planned_holdout", float),
            "customer_id": _take_str(customer_str, cat["cust"]),
            "group": _str_column(("treatment", "control"), cat["control"]),
            "member_tier": _str_column(MEMBER_TIERS, cat["tier"]),
            "days_since_last_order": cat["since"].astype(np.int64),
            "true_uplift_prob": cat["uplift"],
            "true_incremental_revenue": cat["revenue"],
            "true_baseline_prob": cat["baseline"],
            "true_extra_order": cat["extra"],
        }
    )


# ------------------------------------------------------------------------------ CSV / CLI


def _csv_frames(shop: SimulatedShop) -> dict[str, pd.DataFrame]:
    """The tables with every value formatted as text, for stable bytes."""
    orders = shop.orders.copy()
    orders["order_date"] = orders["order_date"].dt.strftime("%Y-%m-%d %H:%M:%S")
    for col in ("amount", "margin"):
        orders[col] = orders[col].map("{:.2f}".format)
    customers = shop.customers.copy()
    for col in ("first_order_date", "true_dropout_date"):
        customers[col] = customers[col].dt.strftime("%Y-%m-%d")
    for col in ("true_lambda", "true_p", "true_spend_mean"):
        customers[col] = customers[col].map(repr)
    campaigns = shop.campaigns.copy()
    if len(campaigns):
        campaigns["start"] = campaigns["start"].dt.strftime("%Y-%m-%d")
        for col in ("cost_per_contact", "planned_holdout", "true_uplift_prob",
                    "true_incremental_revenue", "true_baseline_prob"):
            campaigns[col] = campaigns[col].map(repr)
    frames = {"orders": orders, "customers": customers, "campaigns": campaigns}
    if shop.messages is not None:
        messages = shop.messages.copy()
        if len(messages):
            messages["sent_at"] = messages["sent_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
        frames["messages"] = messages
    if shop.members is not None:
        members = shop.members.copy()
        for col in ("join_date", "tier_since"):
            members[col] = members[col].dt.strftime("%Y-%m-%d")
        frames["members"] = members
    return frames


def sample_command(prog: str, description: str) -> argparse.ArgumentParser:
    """The command-line parser of the sample simulators: ``--out`` and the shop's
    settings, whose defaults regenerate the bundled sample."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--out", required=True, help="folder to write the CSVs into")
    parser.add_argument("--n-customers", type=int, default=SAMPLE_N_CUSTOMERS)
    parser.add_argument("--seed", type=int, default=SAMPLE_SEED)
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--end", default="2025-12-31")
    return parser


def shop_from_command(parser: argparse.ArgumentParser, args: argparse.Namespace
                      ) -> SimulatedShop:
    """The shop of a :func:`sample_command` line; bad settings are a usage error."""
    try:
        return simulate_shop(args.n_customers, start=args.start, end=args.end, seed=args.seed)
    except CrmDataError as exc:
        parser.error(str(exc))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m crm_analytics.simulate --out data/sample``.

    Writes ``orders.csv``, ``customers.csv``, ``campaigns.csv``, ``messages.csv`` and
    ``members.csv``; the defaults regenerate the bundled sample byte-for-byte
    (``python -m crm_analytics.simulate_reminders`` adds the payment-time tables).
    """
    parser = sample_command("python -m crm_analytics.simulate",
                            "Simulate a Chinese online shop and write its tables as CSV.")
    args = parser.parse_args(argv)
    paths = shop_from_command(parser, args).to_csv(args.out)
    for path in paths.values():
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
