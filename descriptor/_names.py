"""Atlassian's naming rule for an app: what its name may say about Atlassian's products.

Sources: the brand guidelines for Marketplace partners ("Do not start with an Atlassian product
name. Use 'Time Tracker for Jira', not 'Jira Time Tracker'"; "Do not use 'Atlassian'":
developer.atlassian.com/platform/marketplace/atlassian-brand-guidelines-for-marketplace-vendors/
#app-names, and .../marketplace-app-listing-principles/), and the Connect Security Requirements
Tester, which fails an app whose name starts with a product name or contains "premium"
(github.com/atlassian-labs/connect-security-req-tester, analyzers/branding_analyzer.py).
"""

from __future__ import annotations

import re

__all__ = ["NAMING_RULE", "PRODUCT_NAMES", "name_problem"]

PRODUCT_NAMES = ("Atlassian", "Jira", "Confluence", "Bitbucket", "Trello", "Statuspage", "Opsgenie")
NAMING_RULE = (
    "a name may not start with an Atlassian product name (Jira, Confluence, ...), "
    'nor contain one except in the form "... for Jira"'
)
_FOR = re.compile(r"\bfor\b", re.IGNORECASE)
_DENIED_WORDS = ("premium",)  # the tester's own list, beside the product names


def name_problem(name: str) -> str | None:
    """Why `name` breaks the naming rule (e.g. "it starts with Jira"), or None if it keeps it."""
    text = name.strip()
    lower = text.lower()
    for product in PRODUCT_NAMES:
        if lower.startswith(product.lower()):
            return f"it starts with {product}"
    for word in _DENIED_WORDS:
        if word in lower:
            return f"it contains {word!r}"
    if re.search(r"\batlassian\b", lower):
        return "it names Atlassian"
    before_for = _FOR.split(text, maxsplit=1)[0]
    for product in PRODUCT_NAMES:
        if re.search(rf"\b{product}\b", before_for, re.IGNORECASE):
            return f'it names {product} other than as "... for {product}"'
    return None
