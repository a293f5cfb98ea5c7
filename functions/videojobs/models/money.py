"""Money as integer micro-dollars (millionths of a USD).

Sums, reservations and refunds are exact integers, so releasing what was reserved always
returns a budget to exactly where it was; USD floats appear only at the edges (API, events).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MICROS_PER_USD = 1_000_000


def micros_from_usd(value: float | str | Decimal) -> int:
    """``value`` USD in micro-dollars, rounded half up; ``ValueError`` if it is no number."""
    try:
        # Through str: a float like 0.1 is its short decimal form, not its binary expansion.
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount of USD: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not an amount of USD: {value!r}")
    return int((amount * MICROS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def usd(micros: int) -> float:
    """Micro-dollars as USD, rounded to the micro-dollar (what the API shows)."""
    return round(micros / MICROS_PER_USD, 6)


def format_usd(micros: int) -> str:
    """``$0.40``, ``$12.125``: at least cents, more digits only when they are not zero."""
    amount = Decimal(micros) / MICROS_PER_USD
    text = f"{amount:.6f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"
