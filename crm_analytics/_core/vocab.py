"""Shared vocabularies: canonical columns and the statuses that are not purchases.

Every rule that both the pandas and the SQL paths apply reads its words from here.
"""

__all__ = [
    "DATE_OUTLIER_GAP_DAYS",
    "DATE_OUTLIER_MAX_SHARE",
    "EXCLUDED_STATUSES",
    "LINE_COLUMNS",
    "MAPPABLE_COLUMNS",
    "NULL_ID_MARKERS",
    "ORDER_COLUMNS",
    "REASON_AFTER_AS_OF",
    "REASON_CANCELLED",
    "REASON_DATE_OUTLIER",
    "REASON_NO_CUSTOMER",
    "REASON_REFUNDED",
    "REASON_REVERSED",
    "REASON_UNPAID",
    "REQUIRED_COLUMNS",
    "REVERSAL_PREFIX",
]

#: Canonical order columns; ``margin`` is optional.
ORDER_COLUMNS = ("customer_id", "order_id", "order_date", "amount", "margin")
REQUIRED_COLUMNS = ("customer_id", "order_id", "order_date", "amount")
#: Line-item columns: an order's amount is the sum of quantity x unit_price when the table
#: has no amount column.
LINE_COLUMNS = ("quantity", "unit_price")
#: Every canonical name ``columns=`` (``--columns``) can map: the order columns, the
#: line-item columns and the optional columns analyses read when present (payment times
#: for payment reminders, product and category for repurchase cycles, the order status).
MAPPABLE_COLUMNS = ORDER_COLUMNS + LINE_COLUMNS + (
    "created_at", "paid_at", "product", "category", "status")

#: Status values whose orders are excluded (lower-cased, stripped).
EXCLUDED_STATUSES = frozenset(
    {
        "cancelled", "canceled", "closed", "refunded", "voided", "void", "unpaid",
        "pending", "failed", "returned", "交易关闭", "已关闭", "已取消", "退款成功",
        "已退款", "全额退款", "等待买家付款", "未付款",
    }
)

#: Id texts that mean "no id", compared after stripping spaces and lower-casing: what a
#: missing value becomes when a table passes through text (CSV, Excel, ``astype(str)``),
#: and the placeholders spreadsheets and databases write for "nothing". Rows whose
#: customer id is one of these are guest or broken rows: excluded and reported.
NULL_ID_MARKERS = frozenset(
    {"", "nan", "none", "<na>", "na", "n/a", "#n/a", "null", "nil", "-", "--", "?"}
)

#: Order ids that start with this letter (followed by the id of a normal invoice) are
#: reversal invoices: returns and cancellations in line-item exports (e.g. ``C536379``).
REVERSAL_PREFIX = "C"

# Reasons an order is left out, one wording for every reader, both paths and the report.
REASON_NO_CUSTOMER = "no customer id (guest checkout or missing id)"
REASON_UNPAID = "never paid"
REASON_REFUNDED = "fully refunded"
REASON_CANCELLED = "cancelled or closed"
REASON_REVERSED = "reversed (returned or cancelled invoice)"
REASON_AFTER_AS_OF = "dated after the as-of day"
REASON_DATE_OUTLIER = "dated far after the rest of the data (a likely typo)"

#: Orders dated more than this many days after every other order (and few of them) are
#: date outliers: excluded and reported, and never used as the default as-of day.
DATE_OUTLIER_GAP_DAYS = 180
#: At most this share of the orders can be date outliers (so none in a table of fewer than
#: 100 orders).
DATE_OUTLIER_MAX_SHARE = 0.01
