"""The vocabulary of the sample data set: categories, amounts, merchants.

Kept apart from the generator so the numbers that make the data look real
(median amounts, spreads, how often each category occurs per account type)
can be read and tuned in one place. Amounts are log-normal around a median,
which gives the long right tail real spending has.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACCOUNT_KINDS",
    "CATEGORIES",
    "CURRENCIES",
    "DOMAINS",
    "FIRST_NAMES",
    "LAST_NAMES",
    "Category",
]


@dataclass(frozen=True)
class Category:
    """A spending or income category and how its amounts are distributed.

    Attributes:
        name: the value stored in ``transactions.category``.
        median: typical absolute amount.
        spread: sigma of the log-normal; larger means a longer tail.
        sign: +1 income, -1 spending, 0 either (transfers).
        merchants: descriptions to draw from (some deliberately non-ASCII).
    """

    name: str
    median: float
    spread: float
    sign: int
    merchants: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category("salary", 3200, 0.25, 1, ("Payroll ACME Corp", "Payroll Initech")),
    Category("rent", 1400, 0.25, -1, ("Rent — Maple Court", "Rent — Rue Lepic")),
    Category(
        "utilities",
        120,
        0.4,
        -1,
        ("City Water", "PG&E", "Stadtwerke München", "Comcast Internet"),
    ),
    Category(
        "groceries",
        65,
        0.6,
        -1,
        ("Whole Foods Market", "Trader Joe's", "Safeway", "Edeka Süd", "Lidl", ""),
    ),
    Category(
        "dining",
        38,
        0.6,
        -1,
        ("Café Müller", "Sushi 寿司 Bar", "Joe's Diner", "La Crêperie", "Pho Saigon"),
    ),
    Category("transport", 22, 0.8, -1, ("Uber", "BART", "Shell", "SNCF", "Lime")),
    Category(
        "entertainment", 45, 0.7, -1, ("Cinema Paradiso", "Steam", "Ticketmaster")
    ),
    Category(
        "health", 80, 0.9, -1, ("CVS Pharmacy", "Dr. Ødegaard Dental", "Apotheke")
    ),
    Category("travel", 420, 0.8, -1, ("Delta Air Lines", "Airbnb", "Hôtel du Nord")),
    Category("shopping", 75, 0.9, -1, ("Amazon", "IKEA", "Uniqlo ユニクロ", "Zara")),
    Category(
        "subscriptions", 14, 0.5, -1, ("Netflix", "Spotify", "iCloud+", "NYTimes")
    ),
    Category("interest", 12, 1.0, 1, ("Interest payment",)),
    Category("dividends", 60, 1.0, 1, ("Dividend VTI", "Dividend AAPL")),
    Category(
        "transfer", 500, 0.7, 0, ("Transfer", "Zelle transfer", "SEPA Überweisung")
    ),
    Category("refund", 40, 0.8, 1, ("Refund Amazon", "Refund Airbnb")),
)
"""Every category; ``transactions.category`` takes only these values."""

# How often each category occurs on each account type (relative weights),
# and how often that account type is used at all.
ACCOUNT_KINDS: dict[str, tuple[float, dict[str, float]]] = {
    "checking": (
        1.0,
        {
            "salary": 4,
            "rent": 4,
            "utilities": 8,
            "groceries": 30,
            "transport": 10,
            "health": 4,
            "transfer": 6,
            "refund": 2,
            "subscriptions": 4,
        },
    ),
    "credit": (
        1.2,
        {
            "groceries": 20,
            "dining": 25,
            "transport": 10,
            "entertainment": 10,
            "health": 4,
            "travel": 5,
            "shopping": 20,
            "subscriptions": 8,
            "refund": 3,
        },
    ),
    "savings": (0.08, {"interest": 6, "transfer": 10}),
    "brokerage": (0.05, {"dividends": 8, "transfer": 6}),
}
"""Account type -> (share of transactions, category weights)."""

INSTITUTIONS: dict[str, tuple[str, ...]] = {
    "checking": ("Northwind Bank", "First Federal", "Société Générale", "N26"),
    "credit": ("Chase Sapphire", "Amex", "Crédit Agricole Visa"),
    "savings": ("Ally Bank", "Marcus", "Monzo Savings"),
    "brokerage": ("Fidelity", "Vanguard", "Schwab"),
}
"""Account type -> institutions to draw from."""

CURRENCIES: tuple[tuple[str, float], ...] = (
    ("USD", 0.85),
    ("EUR", 0.10),
    ("GBP", 0.05),
)
"""Account currencies and their shares."""

FIRST_NAMES = (
    "ada", "alan", "grace", "linus", "margaret", "dennis", "barbara", "ken",
    "frances", "edsger", "radia", "tim", "hedy", "guido", "katherine", "niklaus",
)  # fmt: skip
LAST_NAMES = (
    "lovelace", "turing", "hopper", "torvalds", "hamilton", "ritchie", "liskov",
    "thompson", "allen", "dijkstra", "perlman", "berners-lee", "lamarr", "rossum",
)  # fmt: skip
DOMAINS = ("example.com", "example.org", "example.net")
"""Reserved documentation domains: no address can reach a real person."""

DELETE_REASONS = ("duplicate", "customer request", "bank correction")
"""Why a transaction was soft-deleted (shown in its audit entry)."""
