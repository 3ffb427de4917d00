"""Model prices: matching a model name to a price, and turning usage into micro-USD."""

from __future__ import annotations

import json
from importlib import resources

from tenantry.llm.pricing import Price, as_of, cost_micros, lookup, shipped, usd
from tenantry.llm.types import Usage

REQUIRED = [
    "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o4-mini",
    "claude-sonnet-4", "claude-opus-4", "claude-3-5-haiku", "claude-3-7-sonnet",
    "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash",
]  # fmt: skip


def test_the_price_list_ships_inside_the_package():
    raw = json.loads(resources.files("tenantry.llm").joinpath("pricing.json").read_text())
    assert raw["as_of"] == as_of()
    prices = shipped()
    for model in REQUIRED:
        price = prices[model]
        assert price.input_per_mtok > 0 and price.output_per_mtok >= price.input_per_mtok
        assert price.source == "list"


def test_exact_name():
    assert lookup("gpt-4o") == Price(2.5, 10.0, "list")
    assert lookup("GPT-4o") == Price(2.5, 10.0, "list")


def test_dated_snapshots_take_the_longest_matching_name():
    assert lookup("gpt-4o-2024-08-06") == shipped()["gpt-4o"]
    assert lookup("gpt-4o-mini-2024-07-18") == shipped()["gpt-4o-mini"]
    assert lookup("claude-sonnet-4-20250514") == shipped()["claude-sonnet-4"]
    assert lookup("claude-3-5-haiku-latest") == shipped()["claude-3-5-haiku"]


def test_a_prefix_counts_only_up_to_a_dash():
    assert lookup("gpt-4omega") is None
    assert lookup("o3x") is None


def test_provider_prefix_is_tolerated():
    assert lookup("openai/gpt-4o") == shipped()["gpt-4o"]
    assert lookup("models/gemini-2.5-flash") == shipped()["gemini-2.5-flash"]
    assert lookup("anthropic/claude-opus-4-20250514") == shipped()["claude-opus-4"]


def test_organization_override_wins():
    own = {"gpt-4o": Price(1.0, 2.0, "organization"), "my-llama": Price(0.1, 0.1, "organization")}
    assert lookup("gpt-4o", own) == own["gpt-4o"]
    assert lookup("gpt-4o-2024-08-06", own) == own["gpt-4o"]
    assert lookup("openai/gpt-4o", own) == own["gpt-4o"]
    assert lookup("my-llama", own) == own["my-llama"]
    # A more specific shipped name still beats a shorter override.
    assert lookup("gpt-4o-mini-2024-07-18", own) == shipped()["gpt-4o-mini"]


def test_unknown_model_has_no_price():
    assert lookup("llama3.1:8b") is None
    assert cost_micros(Usage(100, 100), None) is None


def test_cost_is_micro_usd_rounded_up():
    gpt4o = shipped()["gpt-4o"]
    # 1M input tokens at $2.50 and 1M output tokens at $10 = $12.50.
    assert cost_micros(Usage(1_000_000, 1_000_000), gpt4o) == 12_500_000
    # 0.15 is not exact in binary; the cost is still exactly 150, not 151.
    assert cost_micros(Usage(1000, 0), Price(0.15, 0.6)) == 150
    # One token at $0.075 per million is 0.075 micro-USD: rounded up to 1.
    assert cost_micros(Usage(1, 0), Price(0.075, 0.3)) == 1
    assert cost_micros(Usage(0, 0), gpt4o) == 0
    assert usd(12_500_000) == 12.5
