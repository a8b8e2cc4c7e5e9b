"""Shared vocabularies: canonical columns and the statuses that are not purchases.

Every rule that both the pandas and the SQL paths apply reads its words from here.
"""

__all__ = ["EXCLUDED_STATUSES", "ORDER_COLUMNS", "REQUIRED_COLUMNS"]

#: Canonical order columns; ``margin`` is optional.
ORDER_COLUMNS = ("customer_id", "order_id", "order_date", "amount", "margin")
REQUIRED_COLUMNS = ("customer_id", "order_id", "order_date", "amount")

#: Status values whose orders are excluded (lower-cased, stripped).
EXCLUDED_STATUSES = frozenset(
    {
        "cancelled", "canceled", "closed", "refunded", "voided", "void", "unpaid",
        "pending", "failed", "returned", "交易关闭", "已关闭", "已取消", "退款成功",
        "已退款", "全额退款", "等待买家付款", "未付款",
    }
)
