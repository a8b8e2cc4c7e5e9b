"""Currencies: which one a shop's amounts are in, and how money is written for people.

A shop's currency is an ISO 4217 code (``"CNY"``, ``"USD"``, ``"GBP"`` ...) or ``None``
when nobody said and the file does not show it. Money is then written without any
currency word: a wrong "yuan" on a pound shop is worse than none.
"""

from __future__ import annotations

import math

from crm_analytics._core.errors import CrmDataError

__all__ = ["CURRENCY_SYMBOLS", "check_currency", "currency_label", "format_money"]

#: Signs and words seen in amount cells, and the currency each one means. ``$`` alone is
#: read as USD (the Shopify default); a shop in another dollar should say so with
#: ``currency=``.
CURRENCY_SYMBOLS: dict[str, str] = {
    "¥": "CNY", "￥": "CNY", "元": "CNY", "RMB": "CNY", "CNY": "CNY",
    "$": "USD", "US$": "USD", "USD": "USD",
    "€": "EUR", "EUR": "EUR",
    "£": "GBP", "GBP": "GBP",
    "HK$": "HKD", "HKD": "HKD",
    "NT$": "TWD", "TWD": "TWD",
    "₩": "KRW", "KRW": "KRW",
    "JPY": "JPY",
}

# How each known currency is written before or after an amount.
_PREFIX = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "HKD": "HK$", "TWD": "NT$",
           "KRW": "₩", "JPY": "JP¥"}
_WORD = {"CNY": "yuan", "USD": "US dollars", "EUR": "euros", "GBP": "pounds",
         "HKD": "Hong Kong dollars", "TWD": "New Taiwan dollars", "KRW": "won", "JPY": "yen"}


def check_currency(currency: object, name: str = "currency") -> str | None:
    """A currency code in upper case, or None; refuse anything that is not 3 letters.

    Examples
    --------
    >>> check_currency("usd"), check_currency(None), check_currency("¥")
    ('USD', None, 'CNY')
    """
    if currency is None:
        return None
    if isinstance(currency, str):
        text = currency.strip()
        if text in CURRENCY_SYMBOLS:
            return CURRENCY_SYMBOLS[text]
        if len(text) == 3 and text.isascii() and text.isalpha():
            return text.upper()
    raise CrmDataError(
        f"The {name!r} parameter is a 3-letter currency code such as 'CNY', 'USD' or 'GBP' "
        f"(command line: --currency USD); got {currency!r}."
    )


def currency_label(currency: str | None) -> str:
    """The word for a currency in sentences and axis labels ('' when unknown).

    Examples
    --------
    >>> currency_label("CNY"), currency_label("CHF"), currency_label(None)
    ('yuan', 'CHF', '')
    """
    if currency is None:
        return ""
    return _WORD.get(currency, currency)


def format_money(value: float, currency: str | None = None, *, decimals: int = 0) -> str:
    """A money amount with thousands separators and its currency sign or code.

    Examples
    --------
    >>> format_money(8773647.2, "GBP"), format_money(12.5, None, decimals=2)
    ('£8,773,647', '12.50')
    >>> format_money(1200, "CHF")
    '1,200 CHF'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{abs(value):,.{decimals}f}"
    sign = "-" if value < 0 and float(text.replace(",", "")) != 0 else ""
    if currency is None:
        return sign + text
    if currency in _PREFIX:
        return f"{sign}{_PREFIX[currency]}{text}"
    return f"{sign}{text} {currency}"
