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

from crm_analytics.report.churn_story import risk_vs_sleeping_sentence
from crm_analytics.report.sections import ReportTables

__all__ = ["ReportSection", "figure_to_png", "render_html", "write_report_page"]

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
) -> Path:
    """Write the report page to ``path`` (UTF-8) and return the path.

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
    body = []
    for sec in sections:
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
        body.append("".join(parts))
    page = (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{esc(title)}</h1><p class="sub">{esc(subtitle)}</p>'
        f'<div class="cards">{cards}</div>{"".join(body)}</body></html>'
    )
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


def _churn_section(tables: ReportTables, img: dict[str, bytes]) -> ReportSection:
    """Churn risk: the model and why, its warnings, risk x sleeping status, the backtest."""
    if tables.risk_counts is None:
        return ReportSection("Churn risk", text="No churn model (see the notes).")
    text = " ".join(t for t in (
        f"Model: {tables.churn_model_name}. Churn risk (low / medium / high) bands the "
        "model's chance of no order in the next 90 days.",
        tables.churn_choice, tables.churn_rule_text,
        risk_vs_sleeping_sentence(tables.sleep_after)) if t)
    images = [img[name] for name in ("churn_risk.png", "churn_backtest.png") if name in img]
    shown = [tables.risk_table(), tables.risk_by_status, tables.backtest_table()]
    return ReportSection("Churn risk", text=text, images=images,
                         tables=[t for t in shown if t is not None],
                         warnings=tables.churn_warnings)


def write_report_page(out: Path, tables: ReportTables, images: dict[str, bytes], *,
                      subtitle: str, headline: dict[str, str]) -> Path:
    """``out / "report.html"``: the report's sections from its tables and chart PNGs.

    ``images`` maps chart file names (``cohort_heatmap.png`` ...) to PNG bytes; the
    churn-risk and LTV charts are left out when absent.
    """
    img = images
    sections = [
        ReportSection(
            "Repurchase by first-order month (cohorts)",
            text="Share of each month's new customers who bought again within k months. "
                 "Blank cells have not fully elapsed yet.",
            images=[img["cohort_heatmap.png"], img["repurchase_curves.png"]],
        ),
        ReportSection(
            "Customer segments",
            text=f"KMeans on recency, frequency and spend; {tables.n_segments} segments "
                 "chosen by silhouette." if tables.n_segments_asked is None
            else f"{tables.n_segments} KMeans segments.",
            images=[img["segment_profiles.png"], img["segment_sizes.png"]],
            tables=[tables.segment_profiles],
        ),
        _churn_section(tables, img),
        ReportSection(
            f"Predicted {tables.horizon_months}-month customer value",
            text=f"{tables.churn_model_name or 'Churn model'} + Gamma-Gamma, discounted "
                 f"{tables.monthly_discount_rate:.1%} per month.",
            images=[img["ltv_distribution.png"]] if "ltv_distribution.png" in img else [],
            warnings=tables.spend_warnings,
        ),
        ReportSection(
            "Sleeping members (沉睡会员)",
            text=f"A member sleeps after {tables.sleep_after} days without an order.",
            images=[img["member_status.png"], img["sleeping_flow.png"]],
        ),
    ]
    if tables.notes:
        sections.insert(0, ReportSection("Notes", text=" ".join(tables.notes)))
    return render_html(
        out / "report.html",
        title="Customer retention report / 客户复购与留存报告",
        subtitle=subtitle,
        headline=headline,
        sections=sections,
    )
