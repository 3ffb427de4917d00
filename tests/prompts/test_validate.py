"""Static validation: problems are returned (never raised), each saying what, where and line."""

from __future__ import annotations

from tenantry.prompts.spec import load_yaml
from tenantry.prompts.validate import validate, validate_part, validate_yaml


def by_kind(problems: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for p in problems:
        assert set(p) == {"severity", "kind", "where", "line", "message"}
        out.setdefault(p["kind"], []).append(p)
    return out


def test_a_clean_prompt_has_no_problems():
    spec = load_yaml(
        "id: p\ninputs: {name: string, items: array<string>}\ntemplate: |\n"
        "  {% include 'hi' %}{% for i in items %}{{ i }}{% endfor %}\n"
    )
    assert validate(spec, {"hi": "Hello {{ name }}"}) == []


def test_yaml_and_schema_errors_come_back_as_problems():
    (p,) = validate_yaml("id: p\ntemplate: [unclosed\n", {})
    assert p["kind"] == "yaml" and p["severity"] == "error" and p["line"] == 3
    (p,) = validate_yaml("id: p\ntemplate: x\ninputs:\n  t: {type: enum}\n", {})
    assert (p["kind"], p["where"], p["line"]) == ("schema", "inputs.t.values", 4)


def test_syntax_errors_have_where_and_line():
    text = (
        "id: p\nmessages:\n  - {role: system, content: ok}\n"
        '  - {role: user, content: "a\\nb\\n{% if %}"}\n'
    )
    (p,) = validate_yaml(text, {})
    assert (p["kind"], p["where"], p["line"]) == ("syntax", "messages[1].content", 3)


def test_undeclared_and_unused_inputs():
    text = "id: p\ninputs: {name: string, spare: string}\ntemplate: |\n  {{ name }}\n  {{ nmae }}\n"
    kinds = by_kind(validate_yaml(text, {}))
    (undeclared,) = kinds["undeclared"]
    assert undeclared["severity"] == "error" and undeclared["line"] == 2
    assert "`nmae`" in undeclared["message"]
    (unused,) = kinds["unused"]
    assert unused["severity"] == "warning" and unused["where"] == "inputs.spare"


def test_locals_are_not_inputs():
    text = (
        "id: p\ninputs: {rows: array}\ntemplate: |\n  {% set title = 'T' %}{{ title }}\n"
        "  {% for r in rows %}{% include 'row' %}{% endfor %}\n"
        "  {% macro m(a) %}{{ a }}{% endmacro %}{{ m(1) }}\n"
    )
    assert validate_yaml(text, {"row": "{{ r }} of {{ title }}"}) == []


def test_unknown_parts_list_the_known_ones():
    text = "id: p\ntemplate: |\n  x\n  {% include 'foter' %}\n"
    (p,) = validate_yaml(text, {"footer": "f", "header": "h"})
    assert (p["kind"], p["where"], p["line"]) == ("unknown_part", "template", 2)
    assert "'foter'" in p["message"] and "known parts: footer, header" in p["message"]


def test_problems_inside_parts_name_the_part():
    parts = {"outer": "{% include 'inner' %}{{ who }}", "inner": "ok\n{% for %}"}
    kinds = by_kind(validate_yaml("id: p\ntemplate: \"{% include 'outer' %}\"\n", parts))
    (syntax,) = kinds["syntax"]
    assert (syntax["where"], syntax["line"]) == ("inner", 2)
    (undeclared,) = kinds["undeclared"]
    assert undeclared["where"] == "outer" and "`who`" in undeclared["message"]


def test_include_cycles_are_errors():
    parts = {"a": "{% include 'b' %}", "b": "{% include 'a' %}"}
    kinds = by_kind(validate_yaml("id: p\ntemplate: \"{% include 'a' %}\"\n", parts))
    assert "a → b → a" in kinds["cycle"][0]["message"]


def test_computed_part_names_are_warned_about():
    text = 'id: p\ninputs: {which: string}\ntemplate: "{% include which %}"\n'
    (p,) = validate_yaml(text, {"a": ""})
    assert p["severity"] == "warning" and p["kind"] == "unknown_part"


def test_forbidden_attribute_access_is_a_sandbox_error():
    text = "id: p\ninputs: {x: string}\ntemplate: |\n  {{ x }}\n  {{ x.__class__ }}{{ request }}\n"
    sandbox = by_kind(validate_yaml(text, {}))["sandbox"]
    assert {p["line"] for p in sandbox} == {2}
    assert all("not allowed in templates (sandbox)" in p["message"] for p in sandbox)


def test_validate_part():
    assert validate_part("sig", "Regards, {{ name }}", {}) == []
    kinds = by_kind(validate_part("sig", "{% include 'sig' %}{% include 'nope' %}", {"x": ""}))
    assert set(kinds) == {"cycle", "unknown_part"}


def test_unknown_filters_are_syntax_errors():
    (p,) = validate_yaml("id: p\ntemplate: |\n  x\n  {{ 'a'|uper }}\n", {})
    assert (p["kind"], p["line"]) == ("syntax", 2) and "uper" in p["message"]
