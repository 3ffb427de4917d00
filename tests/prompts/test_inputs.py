"""Typed inputs: coercion of what callers send, defaults, and errors naming each input."""

from __future__ import annotations

import pytest

from tenantry.core.errors import ValidationFailed
from tenantry.prompts.inputs import coerce_inputs, extra_inputs
from tenantry.prompts.spec import InputSpec


def declared(**types) -> dict[str, InputSpec]:
    return {
        name: InputSpec.model_validate(t if isinstance(t, dict) else {"type": t})
        for name, t in types.items()
    }


def fails(decl, given, **kw) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as info:
        coerce_inputs(decl, given, **kw)
    assert info.value.status == 422
    return {e["field"]: e["message"] for e in info.value.errors}


@pytest.mark.parametrize(
    ("typ", "given", "expected"),
    [
        ("integer", "3", 3),
        ("integer", " -12 ", -12),
        ("integer", 4.0, 4),
        ("number", "2.5", 2.5),
        ("number", "7", 7),
        ("number", 1, 1),
        ("boolean", "true", True),
        ("boolean", "False", False),
        ("boolean", "yes", True),
        ("boolean", 0, False),
        ("boolean", 1, True),
        ("string", "hi", "hi"),
        ("string", 42, "42"),
        ("object", '{"a": [1]}', {"a": [1]}),
        ("object", {"a": 1}, {"a": 1}),
        ("array", '["x", 2]', ["x", 2]),
        ("array<integer>", ["1", 2, "3"], [1, 2, 3]),
        ("array<boolean>", '["true", 0]', [True, False]),
    ],
)
def test_values_are_coerced_to_the_declared_type(typ, given, expected):
    out = coerce_inputs(declared(x=typ), {"x": given})
    assert out == {"x": expected} and type(out["x"]) is type(expected)


@pytest.mark.parametrize(
    ("typ", "given", "words"),
    [
        ("integer", "3.5", "expected an integer"),
        ("integer", "three", "whole number"),
        ("integer", True, "expected an integer"),
        ("number", "nan", "expected a number"),
        ("number", [1], "expected a number"),
        ("boolean", "maybe", "true or false"),
        ("boolean", 2, "expected a boolean"),
        ("string", {"a": 1}, "expected a string"),
        ("string", False, "expected a string"),
        ("object", "[1, 2]", "expected an object"),
        ("object", "{not json", "valid JSON"),
        ("array", "a,b", "valid JSON"),
    ],
)
def test_wrong_values_are_refused_naming_the_input_and_the_fix(typ, given, words):
    errors = fails(declared(x=typ), {"x": given})
    assert list(errors) == ["inputs.x"] and words in errors["inputs.x"]


def test_enum_must_be_one_of_values():
    decl = declared(tone={"type": "enum", "values": ["friendly", "formal"]}, n={
        "type": "enum", "values": [1, 2, 3]})  # fmt: skip
    assert coerce_inputs(decl, {"tone": "formal", "n": "3"}) == {"tone": "formal", "n": 3}
    errors = fails(decl, {"tone": "rude", "n": 2})
    assert '"friendly", "formal"' in errors["inputs.tone"] and "rude" in errors["inputs.tone"]


def test_enum_of_booleans_and_numbers_keeps_types_apart():
    decl = declared(flag={"type": "enum", "values": [True, False]}, n={
        "type": "enum", "values": [0, 1]})  # fmt: skip
    assert coerce_inputs(decl, {"flag": "yes", "n": 1}) == {"flag": True, "n": 1}
    assert coerce_inputs(decl, {"flag": False, "n": "0"}) == {"flag": False, "n": 0}
    errors = fails(decl, {"flag": 1, "n": True})
    assert set(errors) == {"inputs.flag", "inputs.n"}


def test_array_elements_are_checked_with_their_index():
    errors = fails(declared(items="array<integer>"), {"items": [1, "2", "x", 4, "y"]})
    assert set(errors) == {"inputs.items[2]", "inputs.items[4]"}
    assert "expected an integer" in errors["inputs.items[2]"]


def test_every_bad_input_is_reported_at_once():
    decl = declared(a="integer", b="boolean", c="string")
    errors = fails(decl, {"a": "x", "b": "x"})
    assert set(errors) == {"inputs.a", "inputs.b", "inputs.c"}
    assert "is required" in errors["inputs.c"]


def test_defaults_apply_and_are_copies():
    decl = declared(
        tags={"type": "array<string>", "default": ["a"]},
        n={"type": "integer", "default": "5"},  # defaults are coerced when the spec is read
        note={"type": "string", "required": False},
    )
    out = coerce_inputs(decl, {})
    assert out == {"tags": ["a"], "n": 5, "note": None}
    out["tags"].append("mutated")
    assert decl["tags"].default == ["a"]
    assert coerce_inputs(decl, {"tags": None})["tags"] == ["a"]  # null means "not given"


def test_missing_required_input_is_refused():
    decl = declared(name={"type": "string", "description": "Customer first name"})
    errors = fails(decl, {})
    assert "is required" in errors["inputs.name"] and "Customer first name" in errors["inputs.name"]


def test_extra_inputs_are_refused_listing_the_declared_ones():
    decl = declared(name="string", tone="string")
    errors = fails(decl, {"name": "a", "tone": "b", "colour": "red"})
    assert list(errors) == ["inputs.colour"]
    assert "declared: name, tone" in errors["inputs.colour"]


def test_extra_inputs_can_be_allowed_and_are_dropped():
    decl = declared(name="string")
    given = {"name": "a", "colour": "red", "size": 2}
    assert coerce_inputs(decl, given, allow_extra=True) == {"name": "a"}
    assert extra_inputs(decl, given) == ["colour", "size"]


def test_limits():
    decl = declared(
        n={"type": "integer", "minimum": 1, "maximum": 10},
        s={"type": "string", "max_length": 3},
        a={"type": "array", "min_length": 1},
    )
    errors = fails(decl, {"n": 11, "s": "long", "a": []})
    assert "at most 10" in errors["inputs.n"] and "at most 3" in errors["inputs.s"]
    assert "at least 1" in errors["inputs.a"]


def test_inputs_must_be_an_object():
    errors = fails(declared(a="string"), ["a"])
    assert "inputs" in errors
