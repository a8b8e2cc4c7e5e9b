"""A self-contained HTML page (plots embedded as PNG data URIs) for managers.

Only rendering lives here: the numbers come from :class:`~crm_analytics.report.sections.
ReportTables` and the charts from :mod:`crm_analytics.report.builder`.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from crm_analytics._core.money import format_money
from crm_analytics.report.churn_story import risk_vs_sleeping_sentence
from crm_analytics.report.data_section import DataSection
from crm_analytics.report.sections import ReportTables, active_counts
from crm_analytics.report.shop_sections import (
    BOARD_PERIODS_SHOWN,
    LEAD_DAYS,
    readable_board,
    readable_cycles,
    readable_payment,
)

__all__ = ["ReportSection", "figure_to_png", "readable_risk_by_status",
           "readable_segment_table", "render_html", "write_report_page"]

#: Readable headers of the segment table on the page (profile column -> header).
_SEGMENT_HEADERS = {
    "segment": "Segment",
    "segment_name": "Name",
    "size": "Customers",
    "share": "Share of customers",
    "days_since_last_order_median": "Days since last order (median)",
    "n_orders_median": "Orders (median)",
    "total_amount_median": "Total spend (median)",
    "avg_order_value_median": "Average order value (median)",
    "revenue": "Revenue",
    "revenue_share": "Share of revenue",
}
_PERCENT = ("share", "revenue_share")
_MONEY = ("total_amount_median", "avg_order_value_median", "revenue")


def readable_segment_table(profiles: pd.DataFrame,
                           currency: str | None = None) -> pd.DataFrame:
    """The segment profiles as shown on the page: readable headers, percentages, money.

    Examples
    --------
    >>> prof = pd.DataFrame({"segment": [1], "segment_name": ["loyal / 忠诚"], "size": [40],
    ...     "share": [0.4], "n_orders_median": [3.0], "revenue": [1234.5],
    ...     "revenue_share": [0.61]})
    >>> readable_segment_table(prof, "GBP").iloc[0, 1:].tolist()
    ['loyal / 忠诚', '40', '40.0%', '3', '£1,234', '61.0%']
    """
    cols = [c for c in _SEGMENT_HEADERS if c in profiles.columns]
    out = pd.DataFrame(index=profiles.index)
    for col in cols:
        values = profiles[col]
        if col in _PERCENT:
            values = values.map(lambda v: f"{v:.1%}" if pd.notna(v) else "")
        elif col in _MONEY:
            values = values.map(lambda v: format_money(v, currency) if pd.notna(v) else "")
        elif col == "size":
            values = values.map(lambda v: f"{int(v):,}")
        elif col.endswith("_median"):
            values = values.map(lambda v: f"{v:,.0f}" if pd.notna(v) else "")
        out[_SEGMENT_HEADERS[col]] = values
    return out.reset_index(drop=True)


def readable_risk_by_status(table: pd.DataFrame) -> pd.DataFrame:
    """Churn risk x member status with the page's one "active": members who ordered
    within ``sleep_after`` days (pre-sleep ones included, also shown as their own part).

    >>> t = pd.DataFrame({"churn_risk": ["low"], "active": [5], "pre_sleep": [2],
    ...                   "sleeping": [1], "given_up": [0], "total": [8]})
    >>> readable_risk_by_status(t).columns.tolist()
    ['churn_risk', 'active (incl. pre-sleep)', 'of which pre-sleep', 'sleeping', 'given_up', 'total']
    >>> int(readable_risk_by_status(t).iloc[0, 1])
    7
    """
    return pd.DataFrame({
        "churn_risk": table["churn_risk"],
        "active (incl. pre-sleep)": table["active"] + table["pre_sleep"],
        "of which pre-sleep": table["pre_sleep"],
        "sleeping": table["sleeping"],
        "given_up": table["given_up"],
        "total": table["total"],
    })

_CSS = """
body{font-family:-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei","Noto Sans CJK SC",
sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} .sub{color:#666;margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:1rem;margin:1.5rem 0}
.card{flex:1 1 180px;border:1px solid #ddd;border-radius:8px;padding:.8rem 1rem;background:#fafafa}
.card .v{font-size:1.6rem;font-weight:600} .card .k{color:#555;font-size:.9rem}
section{margin:2rem 0} img{max-width:100%;height:auto;border:1px solid #eee}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}
th{background:#f0f0f0} td:first-child,th:first-child{text-align:left}
.note{color:#555;font-size:.9rem} .scroll{overflow-x:auto;max-width:100%}
.warn{color:#8a4b00;background:#fff7e6;border-left:3px solid #e0a030;padding:.4rem 1.2rem}
"""


@dataclass(frozen=True, eq=False)
class ReportSection:
    """One section of the page: a title, optional text, PNG images and tables."""

    title: str
    text: str = ""
    images: Sequence[bytes] = field(default_factory=tuple)
    tables: Sequence[pd.DataFrame] = field(default_factory=tuple)
    warnings: Sequence[str] = field(default_factory=tuple)


def figure_to_png(fig, *, dpi: int = 110) -> bytes:
    """Render a matplotlib figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _img(png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="chart">'


def render_html(
    path: Path | str,
    *,
    title: str,
    subtitle: str,
    headline: dict[str, str],
    sections: Sequence[ReportSection],
    lead: Sequence[ReportSection] = (),
) -> Path:
    """Write the report page to ``path`` (UTF-8) and return the path.

    ``lead`` sections (the data section) come before the headline cards, ``sections``
    after them.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "r.html"
    >>> _ = render_html(out, title="T", subtitle="s", headline={"Customers": "3"},
    ...                 sections=[ReportSection("Cohorts", text="none yet")])
    >>> "Customers" in out.read_text(encoding="utf-8")
    True
    """
    esc = html.escape
    cards = "".join(
        f'<div class="card"><div class="v">{esc(v)}</div><div class="k">{esc(k)}</div></div>'
        for k, v in headline.items()
    )

    def render(sec: ReportSection) -> str:
        parts = [f"<section><h2>{esc(sec.title)}</h2>"]
        if sec.text:
            parts.append(f'<p class="note">{esc(sec.text)}</p>')
        if sec.warnings:
            parts.append('<ul class="warn">' + "".join(f"<li>{esc(w)}</li>"
                                                       for w in sec.warnings) + "</ul>")
        parts.extend(_img(png) for png in sec.images)
        parts.extend('<div class="scroll">'
                     + t.to_html(index=False, border=0, float_format="{:,.2f}".format)
                     + "</div>" for t in sec.tables)
        parts.append("</section>")
        return "".join(parts)

    first = "".join(render(sec) for sec in lead)
    body = [render(sec) for sec in sections]
    page = (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{esc(title)}</h1><p class="sub">{esc(subtitle)}</p>{first}'
        f'<div class="cards">{cards}</div>{"".join(body)}</body></html>'
    )
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


def _churn_section(tables: ReportTables, img: dict[str, bytes]) -> ReportSection:
    """Churn risk: the model and why, its warnings, risk x sleeping status, the backtest."""
    if tables.risk_counts is None:
        return ReportSection("Churn risk", text="Not computed. " + tables.unavailable.get(
            "churn", "No churn model."))
    text = " ".join(t for t in (
        f"Model: {tables.churn_model_name}. Churn risk (low / medium / high) bands the "
        "model's chance of no order in the next 90 days.",
        tables.churn_choice, tables.churn_rule_text,
        risk_vs_sleeping_sentence(tables.sleep_after)) if t)
    images = [img[name] for name in ("churn_risk.png", "churn_backtest.png") if name in img]
    by_status = (None if tables.risk_by_status is None
                 else readable_risk_by_status(tables.risk_by_status))
    shown = [tables.risk_table(), by_status, tables.backtest_table()]
    return ReportSection("Churn risk", text=text, images=images,
                         tables=[t for t in shown if t is not None],
                         warnings=tables.churn_warnings)


def _data_section(data: DataSection) -> ReportSection:
    """The page's first section: what was read, left out (and why) and used."""
    text = [f"Order dates {data.first_day.date()} to {data.last_day.date()}."
            if data.first_day is not None and data.last_day is not None else "",
            f"Currency: {data.currency_text()}.",
            f"As of {data.as_of_text()}.",
            "Every order left out is counted below with its reason; nothing else was "
            "dropped."]
    return ReportSection("Data used", text=" ".join(t for t in text if t),
                         tables=[data.table()],
                         warnings=tuple(data.warnings) + tuple(data.notes))


def _cohort_section(tables: ReportTables, img: dict[str, bytes]) -> ReportSection:
    title = "Repurchase by first-order month (cohorts)"
    if "cohort_heatmap.png" not in img:
        return ReportSection(title, text="Not computed. " + tables.unavailable.get(
            "cohorts", "No cohort has a complete month yet."))
    return ReportSection(
        title,
        text="Share of each month's new customers who bought again within k months; the "
             "number of customers of each cohort is beside its row. Blank cells have not "
             f"fully elapsed yet. Cohorts of fewer than {tables.min_cohort_size} customers "
             "are hatched (too few for a rate) and left out of the curves. With many "
             "cohorts, a few are coloured, the rest grey, and the dashed line is all "
             "cohorts together.",
        images=[img["cohort_heatmap.png"], img["repurchase_curves.png"]],
    )


def _segment_section(tables: ReportTables, img: dict[str, bytes],
                     currency: str | None) -> ReportSection:
    if tables.n_segments == 0:
        return ReportSection("Customer segments", text="Not computed. " + tables.unavailable.get(
            "segments", "The customers could not be segmented."))
    text = (f"KMeans on recency, frequency and spend; {tables.n_segments} segments "
            "chosen by silhouette." if tables.n_segments_asked is None
            else f"{tables.n_segments} KMeans segments.")
    return ReportSection(
        "Customer segments", text=text,
        images=[img[n] for n in ("segment_profiles.png", "segment_sizes.png") if n in img],
        tables=[readable_segment_table(tables.segment_profiles, currency)])


def _sleeping_section(tables: ReportTables, img: dict[str, bytes]) -> ReportSection:
    counts = active_counts(tables.status_counts)
    text = (f"Active members ordered within the last {tables.sleep_after} days "
            f"({counts['active']:,}, the same count as the headline); "
            f"{counts['pre_sleep']:,} of them are pre-sleep: they fall asleep within days "
            "unless they order. A member sleeps after "
            f"{tables.sleep_after} days without an order ({counts['sleeping']:,} sleeping, "
            f"{counts['given_up']:,} of them given up).")
    return ReportSection("Sleeping members (沉睡会员)", text=text,
                         images=[img["member_status.png"], img["sleeping_flow.png"]])


def _board_section(tables: ReportTables, img: dict[str, bytes],
                   currency: str | None) -> ReportSection:
    """The shop's KPI board: the last quarters, each value with its change."""
    title = "KPI board (quarterly)"
    life = tables.shop.lifecycle
    if life is None or not len(life.board):
        return ReportSection(title, text="Not computed. " + tables.unavailable.get(
            "kpi_board", "No complete period."))
    text = (f"The last {min(BOARD_PERIODS_SHOWN, len(life.board))} quarters "
            "(kpi_board.csv holds every quarter). In brackets: the change on the previous "
            "quarter, relative for counts, money and averages, in percentage points (pts) "
            "for the rates and shares. Repurchase rate: "
            "the share of the quarter's customers with 2 or more orders in it (they are "
            "its repeat customers). A quarter still running is marked with the day it "
            "runs to.")
    return ReportSection(title, text=text,
                         images=[img[n] for n in ("kpi_board.png",) if n in img],
                         tables=[readable_board(life.board, currency)])


def _lifecycle_section(tables: ReportTables, img: dict[str, bytes]) -> ReportSection:
    """Customers per lifecycle stage each month; repurchase by first channel / category."""
    title = "Customer lifecycle (客户生命周期)"
    if "lifecycle.png" not in img:
        return ReportSection(title, text="Not computed. " + tables.unavailable.get(
            "lifecycle", "No customer yet."))
    text = ("Every customer who has ordered, in one stage at the end of each month: new "
            "(first order in the month), won back (ordered again after more than "
            f"{tables.sleep_after} days), repeat active, one-time active, sleeping (more "
            f"than {tables.sleep_after} days since the last order) and lost (more than "
            "365 days).")
    by = [n for n in img if n.startswith("repurchase_by_first_")]
    if by:
        text += (" Then the share of customers who bought again, by the channel and "
                 "category of their first order (small levels grouped as 'other').")
    return ReportSection(title, text=text, images=[img["lifecycle.png"], *(img[n] for n in by)],
                         warnings=tables.shop.notes.get("lifecycle", ()))


def _payment_section(tables: ReportTables, img: dict[str, bytes]) -> ReportSection | None:
    """When created orders get paid (催付); None when the orders have no payment times."""
    title = "Payment (催付)"
    rem = tables.shop.reminders
    if rem is None or rem.payment is None:
        if "payment" in tables.unavailable:
            return ReportSection(title, text="Not computed. " + tables.unavailable["payment"],
                                 warnings=tables.shop.notes.get("payment", ()))
        return None
    text = ("When created orders get paid, by the hour they were created: the share paid "
            "within each window, and the share paid at all. " + rem.payment.summary()
            + " Tables: payment_timing_by_hour.csv, payment_timing_by_weekday.csv.")
    return ReportSection(title, text=text,
                         images=[img[n] for n in ("payment_timing.png",) if n in img],
                         tables=[readable_payment(rem)],
                         warnings=tables.shop.notes.get("payment", ()))


def _replenishment_section(tables: ReportTables, img: dict[str, bytes]
                           ) -> ReportSection | None:
    """Repurchase cycles and the customers about to run out (追销); None without
    products and quantities."""
    title = "Replenishment (追销)"
    rem = tables.shop.reminders
    if rem is None or rem.cycles is None:
        if "replenishment" in tables.unavailable:
            return ReportSection(title, text="Not computed. "
                                 + tables.unavailable["replenishment"])
        return None
    cycles = rem.cycles
    with_cycle = int(cycles.table["cycle_days_per_unit"].notna().sum())
    text = (f"Repurchase cycle per unit of each {cycles.by}: the median days between two "
            f"purchases of it by the same customer, per unit bought in the earlier one "
            f"({with_cycle:,} of {len(cycles.table):,} {cycles.by} values bought again have "
            f"the {cycles.min_repeats} repeat purchases a cycle needs; "
            "repurchase_cycles.csv lists them all).")
    if rem.replenishment is not None:
        n = len(rem.replenishment)
        who = rem.replenishment["customer_id"].nunique() if n else 0
        text += (f" {n:,} purchases of {who:,} customers run out within {LEAD_DAYS} days "
                 f"of {cycles.as_of.date()} (last purchase + cycle x quantity, and not "
                 "bought again since): replenishment_list.csv lists them with the run-out "
                 "date and the customer's history, to contact them before.")
    shown = readable_cycles(rem)
    return ReportSection(title, text=text,
                         images=[img[n] for n in ("repurchase_cycles.png",) if n in img],
                         tables=[shown] if len(shown) else [],
                         warnings=tables.shop.notes.get("replenishment", ()))


def write_report_page(out: Path, tables: ReportTables, images: dict[str, bytes], *,
                      subtitle: str, headline: dict[str, str],
                      currency: str | None = None) -> Path:
    """``out / "report.html"``: the report's sections from its tables and chart PNGs.

    ``images`` maps chart file names (``cohort_heatmap.png`` ...) to PNG bytes; a
    section whose charts are absent says why it could not be computed. The data
    section comes first, then the KPI board, the headline cards and the sections
    (cohorts, lifecycle, segments, churn, value, sleeping, and payment and
    replenishment when the orders allow them). ``currency`` defaults to
    ``tables.currency``.
    """
    img = images
    currency = tables.currency if currency is None else currency
    ltv_title = f"Predicted {tables.horizon_months}-month customer value"
    if "ltv_distribution.png" in img:
        ltv = ReportSection(
            ltv_title,
            text=f"{tables.churn_model_name or 'Churn model'} + Gamma-Gamma, discounted "
                 f"{tables.monthly_discount_rate:.1%} per month.",
            images=[img["ltv_distribution.png"]], warnings=tables.spend_warnings)
    else:
        ltv = ReportSection(ltv_title, text="Not computed. " + tables.unavailable.get(
            "ltv", "No customer has a positive predicted value."),
            warnings=tables.spend_warnings)
    sections = [
        _cohort_section(tables, img),
        _lifecycle_section(tables, img),
        _segment_section(tables, img, currency),
        _churn_section(tables, img),
        ltv,
        _sleeping_section(tables, img),
        _payment_section(tables, img),
        _replenishment_section(tables, img),
    ]
    sections = [sec for sec in sections if sec is not None]
    said = set(tables.unavailable.values())
    notes = [n for n in tables.notes if n not in said]
    if notes:
        sections.insert(0, ReportSection("Notes", text=" ".join(notes)))
    return render_html(
        out / "report.html",
        title="Customer retention report / 客户复购与留存报告",
        subtitle=subtitle,
        headline=headline,
        sections=sections,
        lead=([_data_section(tables.data)] if tables.data is not None else [])
        + [_board_section(tables, img, currency)],
    )
