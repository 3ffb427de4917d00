"""Model prices and what a call cost.

Prices are USD per million tokens, which is also micro-USD per token, so a call's cost in
micro-USD is ``input_tokens * input + output_tokens * output``, rounded up. Shipped list prices
live in ``pricing.json`` next to this module; an organization's overrides win over them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources

from tenantry.llm.types import Usage


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float
    source: str = "list"  # "list" (shipped) or "organization" (an override)


@cache
def _load() -> tuple[str, dict[str, Price]]:
    raw = json.loads(resources.files("tenantry.llm").joinpath("pricing.json").read_text("utf-8"))
    prices = {
        name.lower(): Price(float(p["input"]), float(p["output"]), "list")
        for name, p in raw["models"].items()
    }
    return raw.get("as_of", ""), prices


def shipped() -> dict[str, Price]:
    """The shipped list prices by model name (a copy: callers may not change the cache)."""
    return dict(_load()[1])


def as_of() -> str:
    """The date the shipped prices were checked."""
    return _load()[0]


def _names(model: str) -> list[str]:
    # "openai/gpt-4o" and Gemini's own "models/gemini-2.5-pro" mean the part after the slash.
    name = model.strip().lower()
    return [name, name.rsplit("/", 1)[1]] if "/" in name else [name]


def lookup(model: str, overrides: dict[str, Price] | None = None) -> Price | None:
    """The price for ``model``: an exact override, an exact shipped entry, else the longest
    known name that ``model`` starts with followed by ``-`` (dated snapshots such as
    ``gpt-4o-2024-08-06``); on a tie in that length the override wins. Unknown: None."""
    table = _load()[1]
    own = {k.lower(): v for k, v in (overrides or {}).items()}
    names = _names(model)
    for source in (own, table):
        for name in names:
            if name in source:
                return source[name]
    best: tuple[int, int, Price] | None = None
    for rank, source in ((1, own), (0, table)):
        for key, price in source.items():
            if any(name.startswith(key + "-") for name in names):
                candidate = (len(key), rank, price)
                if best is None or candidate[:2] > best[:2]:
                    best = candidate
    return best[2] if best else None


def cost_micros(usage: Usage, price: Price | None) -> int | None:
    """Cost in micro-USD, rounded up; None when the price is unknown."""
    if price is None:
        return None
    # Decimal from the float's shortest repr: 1000 * 0.15 is 150, not 150.00000000000003.
    total = Decimal(usage.input_tokens) * Decimal(repr(price.input_per_mtok)) + Decimal(
        usage.output_tokens
    ) * Decimal(repr(price.output_per_mtok))
    return math.ceil(total)


def usd(micros: int | None) -> float | None:
    """Micro-USD as dollars (for display)."""
    return None if micros is None else micros / 1_000_000
