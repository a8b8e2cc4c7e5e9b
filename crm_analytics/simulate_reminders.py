"""Payments, unpaid orders, a reminder test and consumables on a simulated shop: truth.

:func:`simulate_reminders` takes a shop from :func:`~crm_analytics.simulate.simulate_shop`
and adds what the reminder analyses (催付 and 追销) are checked against:

* **Consumables.** A share of the customers (``consumer_share``) become regular buyers
  of one consumable product (formula, diapers, tea ...), from shortly after their first
  order. Each purchase is of ``q`` units (drawn from the product's quantity mix); the next
  one comes ``cycle_days_per_unit x q x LogNormal(0, cycle_sigma)`` days later (median
  factor 1, so the true median cycle per unit is ``cycle_days_per_unit``), until the
  customer stops (probability ``stop_prob`` after each purchase) or the period ends.
  These orders are added to the shop's orders; the shop's own orders get a
  non-consumable product of their category (no cycle) and a quantity of 1 or 2.
* **Created and paid times.** ``created_at`` is the order's ``order_date`` (the moment
  it was placed). A paid order's delay to payment is a mixture by creation hour: with
  probability ``quick_share(h)`` a quick payment (log-normal, median 3 minutes), else a
  late one (log-normal, median 4 hours by day, 8 hours for orders placed 0:00-7:59),
  both truncated at 72 hours (Taobao closes unpaid orders then). Payments can fall up
  to 72 hours after the shop's ``end``.
* **Unpaid orders.** Each order created at hour ``h`` has ``Poisson(unpaid_ratio(h))``
  never-paid siblings (status ``"unpaid"``, no ``paid_at``): the same customer, product
  and clock time, a few days earlier or later, an amount near the original. So the true
  share of created orders paid, per creation hour, is ``1 / (1 + unpaid_ratio(h))``.
* **A reminder test.** Every order created in the last ``test_days`` days before
  ``end - 3 days`` is assigned an arm at random (``arms``, default 2 h / 24 h / none in
  thirds). An order that would never be paid is paid after its arm's reminder with
  probability ``EFFECTS[arm]`` (``paid_at = created_at + delay + Exp(20 min)``); paid
  orders are not affected. Converted orders get status ``"paid"`` and count as orders.

The truth: :attr:`ReminderShop.truth`, :meth:`ReminderShop.true_payment_timing` (per
hour, for orders outside the test) and :meth:`ReminderShop.true_reminder_effects`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from crm_analytics._core.errors import CrmDataError
from crm_analytics.simulate import (
    SimulatedShop,
    sample_command,
    shop_from_command,
)

__all__ = [
    "CONSUMABLES",
    "EFFECTS",
    "ReminderShop",
    "main",
    "simulate_reminders",
]

#: Consumable products: category, true cycle per unit (days), unit price, quantity mix.
CONSUMABLES = {
    "婴儿奶粉": ("母婴", 10.0, 198.0, {1: 0.35, 2: 0.25, 3: 0.3, 6: 0.1}),
    "纸尿裤": ("母婴", 14.0, 129.0, {1: 0.4, 2: 0.4, 4: 0.2}),
    "绿茶": ("食品", 30.0, 88.0, {1: 0.6, 2: 0.3, 3: 0.1}),
    "坚果礼包": ("食品", 20.0, 59.0, {1: 0.5, 2: 0.35, 4: 0.15}),
    "面膜": ("美妆", 25.0, 99.0, {1: 0.55, 2: 0.3, 3: 0.15}),
    "洗发水": ("家居", 45.0, 69.0, {1: 0.7, 2: 0.3}),
}
#: The product of the shop's own (non-consumable) orders, by category.
OTHER_PRODUCTS = {"美妆": "口红", "母婴": "婴儿服", "食品": "零食", "服饰": "连衣裙",
                  "家居": "收纳盒"}
#: Probability that a reminder gets a never-paid order paid, by arm.
EFFECTS = {"2h": 0.35, "24h": 0.2, "none": 0.0}
_ARM_DELAY_MIN = {"2h": 120.0, "24h": 1440.0, "none": np.nan}
_MAX_DELAY_MIN = 72 * 60.0
_QUICK_MEDIAN, _QUICK_SIGMA = 3.0, 1.0
_LATE_MEDIAN_DAY, _LATE_MEDIAN_NIGHT, _LATE_SIGMA = 240.0, 480.0, 0.9
_NIGHT = np.arange(24) < 8
#: Share of quick payers and unpaid siblings per order, by creation hour.
QUICK_SHARE = np.where(_NIGHT, 0.5, 0.75)
UNPAID_RATIO = np.where(_NIGHT, 0.25, 0.12)
_ID_BASE = 4_200_000_000_000_000_000
_NS_MIN = 60_000_000_000


@dataclass(frozen=True, eq=False)
class ReminderShop:
    """Output of :func:`simulate_reminders`.

    Attributes
    ----------
    orders : pandas.DataFrame
        Every created order: the shop's columns plus ``product``, ``quantity``,
        ``status`` (``"paid"`` / ``"unpaid"``), ``created_at``, ``paid_at`` (NaT when
        unpaid). ``order_date`` equals ``created_at``. Sorted by ``order_date``, then
        ``order_id``.
    assignments : pandas.DataFrame
        The reminder test: ``order_id``, ``group`` (the arm), and the truth
        ``true_never_paid`` (would not have paid without a reminder) and
        ``true_converted`` (paid because of the reminder).
    products : pandas.DataFrame
        ``product``, ``category``, ``true_cycle_days_per_unit`` (NaN: not a
        consumable), ``unit_price``, ``mean_quantity``.
    purchases : pandas.DataFrame
        The consumables' purchases: ``customer_id``, ``order_id``, ``product``,
        ``quantity``, ``order_date``, ``true_runout_date`` (``order_date + cycle x
        quantity`` days) and ``next_order_date`` (NaT after the last one).
    truth : dict
        Settings and true values: ``effects``, ``arms``, ``test_start``, ``test_end``,
        ``true_payment_rate`` (per arm, had every test order been in it),
        ``true_revenue_per_1000_reminders``, ``quick_share`` and ``unpaid_ratio`` (per
        hour), ``cycles``.
    shop : SimulatedShop
    """

    orders: pd.DataFrame
    assignments: pd.DataFrame
    products: pd.DataFrame
    purchases: pd.DataFrame
    truth: dict
    shop: SimulatedShop

    def true_payment_timing(self, windows=("15min", "1h", "2h", "24h")) -> pd.DataFrame:
        """Per creation hour, the true expected shares (orders outside the test).

        Columns ``hour, paid_share, paid_within_<w>..., median_minutes_to_pay``.
        """
        win = {str(w): pd.Timedelta(w).total_seconds() / 60.0 for w in windows}
        hours = np.arange(24)
        paid_share = 1.0 / (1.0 + UNPAID_RATIO)
        out = {"hour": hours, "paid_share": paid_share}
        for label, minutes in win.items():
            out[f"paid_within_{label}"] = paid_share * _delay_cdf(minutes, hours)
        out["median_minutes_to_pay"] = [_delay_median(h) for h in hours]
        return pd.DataFrame(out)

    def true_reminder_effects(self) -> pd.DataFrame:
        """Per arm: the true payment rate within 72 h had every test order been in the
        arm, its difference to ``none``, and the true extra revenue per 1,000 reminders."""
        t = self.truth
        rate = t["true_payment_rate"]
        return pd.DataFrame({
            "arm": list(rate),
            "true_payment_rate": list(rate.values()),
            "true_lift": [rate[a] - rate["none"] for a in rate],
            "true_revenue_per_1000_reminders": [
                t["true_revenue_per_1000_reminders"].get(a, np.nan) for a in rate],
        })

    def to_csv(self, out: str | Path) -> dict[str, Path]:
        """Write ``created_orders.csv`` (every created order, with the new columns),
        ``reminder_test.csv`` (the assignments) and ``products.csv`` into ``out``.

        Same conventions as :meth:`SimulatedShop.to_csv` (UTF-8, ``\\n``, times as
        ``YYYY-MM-DD HH:MM:SS``, empty when missing, amounts with two decimals), so the
        same shop gives the same bytes.
        """
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        orders = self.orders.copy()
        for col in ("order_date", "created_at", "paid_at"):
            orders[col] = orders[col].dt.strftime("%Y-%m-%d %H:%M:%S")
        for col in ("amount", "margin"):
            orders[col] = orders[col].map("{:.2f}".format)
        products = self.products.copy()
        for col in ("true_cycle_days_per_unit", "unit_price", "mean_quantity"):
            products[col] = products[col].map(repr)
        frames = {"created_orders": orders, "reminder_test": self.assignments,
                  "products": products}
        paths = {}
        for name, frame in frames.items():
            path = folder / f"{name}.csv"
            frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
            paths[name] = path
        return paths


def _mu(median: float) -> float:
    return float(np.log(median))


def _late_median(hours: np.ndarray) -> np.ndarray:
    return np.where(_NIGHT[hours], _LATE_MEDIAN_NIGHT, _LATE_MEDIAN_DAY)


def _trunc_cdf(x: float | np.ndarray, mu, sigma: float) -> np.ndarray:
    """CDF of a log-normal truncated at 72 hours."""
    top = special.ndtr((np.log(_MAX_DELAY_MIN) - mu) / sigma)
    x = np.minimum(np.asarray(x, dtype=float), _MAX_DELAY_MIN)
    return special.ndtr((np.log(x) - mu) / sigma) / top


def _delay_cdf(minutes: float, hours: np.ndarray) -> np.ndarray:
    """P(delay <= minutes | paid, created at hour h)."""
    m = QUICK_SHARE[hours]
    quick = _trunc_cdf(minutes, _mu(_QUICK_MEDIAN), _QUICK_SIGMA)
    late = _trunc_cdf(minutes, np.log(_late_median(hours)), _LATE_SIGMA)
    return m * quick + (1 - m) * late


def _delay_median(hour: int) -> float:
    lo, hi = 1e-6, _MAX_DELAY_MIN
    for _ in range(200):
        mid = np.sqrt(lo * hi)
        if _delay_cdf(mid, np.array([hour]))[0] < 0.5:
            lo = mid
        else:
            hi = mid
    return float(np.sqrt(lo * hi))


def _draw_delays(rng: np.random.Generator, hours: np.ndarray) -> np.ndarray:
    """Minutes to payment of paid orders created at ``hours``."""
    quick = rng.random(hours.size) < QUICK_SHARE[hours]
    mu = np.where(quick, _mu(_QUICK_MEDIAN), np.log(_late_median(hours)))
    sigma = np.where(quick, _QUICK_SIGMA, _LATE_SIGMA)
    top = special.ndtr((np.log(_MAX_DELAY_MIN) - mu) / sigma)
    u = rng.random(hours.size) * top
    return np.minimum(np.exp(mu + sigma * special.ndtri(u)), _MAX_DELAY_MIN - 1e-3)


def _consumer_orders(rng, shop: SimulatedShop, consumer_share: float, stop_prob: float,
                     cycle_sigma: float):
    names = list(CONSUMABLES)
    cust = shop.customers
    chosen = np.flatnonzero(rng.random(len(cust)) < consumer_share)
    product = rng.integers(0, len(names), size=chosen.size)
    end_ns = (shop.end + pd.Timedelta(days=1)).value
    rows = []
    for c, p in zip(chosen, product, strict=True):
        _cat, cycle, _price, mix = CONSUMABLES[names[p]]
        sizes, probs = np.array(list(mix)), np.array(list(mix.values()))
        t = cust["first_order_date"].iloc[c].value + int(rng.uniform(1, 30) * 86400) * 10**9
        while t < end_ns:
            q = int(rng.choice(sizes, p=probs))
            rows.append((c, p, t, q))
            if rng.random() < stop_prob:
                break
            gap = cycle * q * np.exp(cycle_sigma * rng.standard_normal())
            t += int(round(gap * 86400)) * 10**9
    arr = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return arr, names


def simulate_reminders(shop: SimulatedShop, *, consumer_share: float = 0.12,
                       stop_prob: float = 0.1, cycle_sigma: float = 0.2,
                       test_days: int = 120, arms: dict | None = None,
                       seed: int = 0) -> ReminderShop:
    """Add created/paid times, unpaid orders, a reminder test and consumables to a shop.

    Parameters
    ----------
    shop : SimulatedShop
        From :func:`~crm_analytics.simulate.simulate_shop`.
    consumer_share : float, default 0.12
        Share of customers who become regular buyers of a consumable.
    stop_prob : float, default 0.1
        Probability that a consumer stops after each purchase.
    cycle_sigma : float, default 0.2
        Spread (log scale) of the time a unit lasts.
    test_days : int, default 120
        Length of the reminder test, ending 3 days before the shop's ``end``.
    arms : dict, optional
        Arm -> share of the test (default 2 h / 24 h / none in thirds); arms must be
        keys of :data:`EFFECTS`.
    seed : int, default 0

    Returns
    -------
    ReminderShop

    Examples
    --------
    >>> from crm_analytics.simulate import simulate_shop
    >>> rs = simulate_reminders(simulate_shop(500, seed=1), seed=2)
    >>> sorted(rs.orders["status"].unique())
    ['paid', 'unpaid']
    >>> sorted(rs.assignments["group"].unique())
    ['24h', '2h', 'none']
    >>> bool((rs.orders["paid_at"].dropna() >= rs.orders.loc[
    ...     rs.orders["paid_at"].notna(), "created_at"]).all())
    True
    """
    arms = dict(arms) if arms is not None else {"2h": 1 / 3, "24h": 1 / 3, "none": 1 / 3}
    unknown = sorted(set(arms) - set(EFFECTS))
    if unknown or not np.isclose(sum(arms.values()), 1.0) or "none" not in arms:
        raise CrmDataError(
            f"The 'arms' parameter maps arms among {list(EFFECTS)} (with 'none') to shares "
            f"adding up to 1. Got {arms!r}."
        )
    rng_c, rng_p, rng_u, rng_t = (np.random.default_rng(s) for s in
                                  np.random.SeedSequence(int(seed)).spawn(4))
    # consumables
    base = shop.orders.copy()
    cat = base["category"].astype(str)
    base["product"] = cat.map(OTHER_PRODUCTS).fillna(cat + "其他")
    base["quantity"] = np.where(rng_c.random(len(base)) < 0.8, 1, 2)
    arr, names = _consumer_orders(rng_c, shop, consumer_share, stop_prob, cycle_sigma)
    cust = shop.customers
    margin_rate = shop.truth["category_margin"]
    n_new = len(arr)
    prod_names = np.array(names, dtype=object)[arr[:, 1]]
    cats = np.array([CONSUMABLES[p][0] for p in prod_names], dtype=object)
    price = np.array([CONSUMABLES[p][2] for p in prod_names], dtype=float)
    amount = np.round(price * arr[:, 3], 2)
    cons = pd.DataFrame({
        "customer_id": cust["customer_id"].to_numpy(dtype=object)[arr[:, 0]],
        "order_id": [str(_ID_BASE + i) for i in range(n_new)],
        "order_date": pd.to_datetime(arr[:, 2]),
        "amount": amount,
        "margin": np.round(amount * np.array([margin_rate[c] for c in cats]), 2),
        "category": cats,
        "channel": cust["channel"].to_numpy(dtype=object)[arr[:, 0]],
        "province": cust["province"].to_numpy(dtype=object)[arr[:, 0]],
        "product": prod_names,
        "quantity": arr[:, 3],
    })
    orders = pd.concat([base, cons.astype({c: base[c].dtype for c in
                                           ("customer_id", "order_id", "category",
                                            "channel", "province")})],
                       ignore_index=True)
    # paid orders: delay by creation hour
    created = orders["order_date"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    hours = (created // (60 * _NS_MIN)) % 24
    delay = _draw_delays(rng_p, hours)
    # unpaid siblings
    k = rng_u.poisson(UNPAID_RATIO[hours])
    src = np.repeat(np.arange(len(orders)), k)
    shift = rng_u.integers(1, 11, size=src.size) * np.where(rng_u.random(src.size) < 0.5,
                                                             -1, 1)
    t_new = created[src] + shift * 86400 * 10**9
    lo, hi = shop.start.value, (shop.end + pd.Timedelta(days=1)).value
    outside = (t_new < lo) | (t_new >= hi)
    t_new[outside] = created[src][outside] - shift[outside] * 86400 * 10**9
    t_new = np.clip(t_new, lo, hi - 1)
    unpaid = orders.iloc[src].reset_index(drop=True)
    unpaid["order_id"] = [str(_ID_BASE + n_new + i) for i in range(src.size)]
    unpaid["order_date"] = pd.to_datetime(t_new)
    unpaid["amount"] = np.round(unpaid["amount"].to_numpy() * np.exp(
        0.2 * rng_u.standard_normal(src.size)), 2)
    unpaid["margin"] = np.round(unpaid["amount"] * (orders["margin"].to_numpy()[src]
                                                    / np.maximum(orders["amount"].to_numpy()
                                                                 [src], 0.01)), 2)
    orders["status"] = "paid"
    unpaid["status"] = "unpaid"
    all_orders = pd.concat([orders, unpaid], ignore_index=True)
    created = all_orders["order_date"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    delay_min = np.r_[delay, np.full(src.size, np.inf)]
    # the reminder test
    test_end = shop.end.normalize() - pd.Timedelta(days=2)  # created before end - 3 days
    test_start = test_end - pd.Timedelta(days=test_days)
    in_test = np.flatnonzero((created >= test_start.value) & (created < test_end.value))
    arm_names = list(arms)
    arm = np.array(arm_names, dtype=object)[rng_t.choice(
        len(arm_names), size=in_test.size, p=np.array(list(arms.values())) / sum(
            arms.values()))]
    effect = np.array([EFFECTS[a] for a in arm])
    tau = np.array([_ARM_DELAY_MIN[a] for a in arm])
    never = ~np.isfinite(delay_min[in_test])
    converted = never & (rng_t.random(in_test.size) < effect)
    new_delay = tau + np.minimum(rng_t.exponential(20.0, size=in_test.size), 600.0)
    delay_min[in_test[converted]] = new_delay[converted]
    status = all_orders["status"].to_numpy(dtype=object)
    status[in_test[converted]] = "paid"
    paid_ns = np.where(np.isfinite(delay_min),
                       created + np.round(np.nan_to_num(delay_min, posinf=0) * 60) * 10**9,
                       np.iinfo(np.int64).min).astype(np.int64)
    all_orders["status"] = pd.array(status, dtype=base["customer_id"].dtype)
    all_orders["created_at"] = all_orders["order_date"]
    all_orders["paid_at"] = paid_ns.view("datetime64[ns]")
    assignments = pd.DataFrame({
        "order_id": all_orders["order_id"].to_numpy(dtype=object)[in_test],
        "group": arm, "true_never_paid": never, "true_converted": converted,
    })
    # truth of the test: every test order in one arm
    amt = all_orders["amount"].to_numpy(dtype=float)[in_test]
    natural = delay[in_test[in_test < len(delay)]]
    nat_delay = np.full(in_test.size, np.inf)
    nat_delay[in_test < len(delay)] = natural
    true_rate = {a: float(np.mean(~never) + EFFECTS[a] * np.mean(never)) for a in arm_names}
    per_1000 = {}
    for a in arm_names:
        if a == "none":
            continue
        reminded = np.sum(nat_delay > _ARM_DELAY_MIN[a])
        per_1000[a] = float(EFFECTS[a] * amt[never].sum() / reminded * 1000)
    order = np.lexsort((all_orders["order_id"].to_numpy(dtype=object),
                        all_orders["order_date"].to_numpy()))
    all_orders = all_orders.iloc[order].reset_index(drop=True)
    all_orders["quantity"] = all_orders["quantity"].astype(np.int64)
    # truth tables
    products = pd.DataFrame(
        [(p, c, cyc, price_, sum(q * w for q, w in mix.items()))
         for p, (c, cyc, price_, mix) in CONSUMABLES.items()]
        + [(p, c, np.nan, np.nan, 1.2) for c, p in OTHER_PRODUCTS.items()],
        columns=["product", "category", "true_cycle_days_per_unit", "unit_price",
                 "mean_quantity"])
    purchases = cons[["customer_id", "order_id", "product", "quantity", "order_date"]].copy()
    cyc = purchases["product"].map({p: v[1] for p, v in CONSUMABLES.items()})
    purchases["true_runout_date"] = purchases["order_date"] + pd.to_timedelta(
        cyc * purchases["quantity"], unit="D")
    purchases = purchases.sort_values(["customer_id", "product", "order_date"],
                                      kind="stable").reset_index(drop=True)
    nxt = purchases.groupby(["customer_id", "product"])["order_date"].shift(-1)
    purchases["next_order_date"] = nxt
    truth = {
        "effects": dict(EFFECTS), "arms": arms, "test_start": test_start,
        "test_end": test_end, "true_payment_rate": true_rate,
        "true_revenue_per_1000_reminders": per_1000,
        "quick_share": QUICK_SHARE.tolist(), "unpaid_ratio": UNPAID_RATIO.tolist(),
        "cycles": {p: v[1] for p, v in CONSUMABLES.items()},
        "consumer_share": consumer_share, "stop_prob": stop_prob,
        "cycle_sigma": cycle_sigma,
    }
    return ReminderShop(all_orders, assignments, products, purchases, truth, shop)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m crm_analytics.simulate_reminders --out data/sample``.

    Simulates the shop exactly as ``python -m crm_analytics.simulate`` does (same
    defaults), writes its tables, and adds ``created_orders.csv`` (the same shop's order
    export with payment times: every created order with ``product``, ``quantity``,
    ``status``, ``created_at``, ``paid_at``, unpaid orders included, consumables and the
    orders a payment reminder won), ``reminder_test.csv`` and ``products.csv``.
    ``orders.csv`` stays the base shop every other analysis of the sample uses.
    """
    parser = sample_command(
        "python -m crm_analytics.simulate_reminders",
        "Simulate the sample shop with payments, unpaid orders, a reminder test and "
        "consumables, and write its tables as CSV.")
    args = parser.parse_args(argv)
    shop = shop_from_command(parser, args)
    paths = shop.to_csv(args.out)
    paths.update(simulate_reminders(shop, seed=args.seed).to_csv(args.out))
    for path in paths.values():
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
