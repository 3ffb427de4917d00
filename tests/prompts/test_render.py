"""Rendering prompts: text and chat, parts, filters, limits, and errors that say where."""

from __future__ import annotations

import time

import pytest

from tenantry.core.errors import ValidationFailed
from tenantry.prompts.inputs import coerce_inputs
from tenantry.prompts.sandbox import (
    Rendered,
    parts_used,
    referenced_parts,
    render,
    render_text,
    variables_used,
)
from tenantry.prompts.spec import load_yaml


def failure(fn, *args, **kwargs) -> dict:
    with pytest.raises(ValidationFailed) as info:
        fn(*args, **kwargs)
    assert info.value.status == 422
    (error,) = info.value.errors
    return error


def test_text_prompt_renders_with_coerced_inputs():
    spec = load_yaml(
        "id: p\ninputs:\n  name: string\n  n: {type: integer, default: 2}\n"
        "template: |\n  Hi {{ name }}{% for i in range(n) %}!{% endfor %}\n"
    )
    out = render(spec, coerce_inputs(spec.inputs, {"name": "Ann"}))
    assert out == Rendered(text="Hi Ann!!\n")  # trailing newline kept
    assert out.to_dict() == {"text": "Hi Ann!!\n", "messages": None}


def test_chat_prompt_renders_every_message():
    spec = load_yaml(
        "id: p\ninputs: {q: string, lang: string}\nmessages:\n"
        "  - {role: system, content: 'Answer in {{ lang }}.'}\n"
        "  - {role: user, content: '{{ q|upper }}'}\n"
    )
    out = render(spec, {"q": "why?", "lang": "French"})
    assert out.text is None
    assert out.messages == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "WHY?"},
    ]


def test_parts_are_included_nested_and_see_the_inputs():
    parts = {
        "header": "[{% include 'brand' %}] for {{ name }}",
        "brand": "Acme",
        "macros": "{% macro bullet(x) %}* {{ x }}{% endmacro %}",
    }
    text = "{% include 'header' %}\n{% import 'macros' as m %}{{ m.bullet(name) }}"
    assert render_text(text, {"name": "Ann"}, parts) == "[Acme] for Ann\n* Ann"
    assert render_text("{% from 'macros' import bullet %}{{ bullet(1) }}", {}, parts) == "* 1"


def test_pinned_part_versions_render_their_own_content():
    spec = load_yaml("id: p\ntemplate: \"{% include 'sig' %} - {{ 'x' }}\"\n")
    v1 = render(spec, {}, {"sig": "Regards, v1"})
    v2 = render(spec, {}, {"sig": "Cheers, v2"})
    assert (v1.text, v2.text) == ("Regards, v1 - x", "Cheers, v2 - x")
    assert render(spec, {}, {"sig": "Regards, v1"}).text == v1.text  # cache keyed by content


def test_unknown_part_names_it_and_lists_the_known_ones():
    e = failure(render_text, "ok\n{% include 'footr' %}", {}, {"footer": "", "header": ""})
    assert e["field"] == "template" and e["line"] == 2
    assert "unknown part 'footr'" in e["message"] and "known parts: footer, header" in e["message"]


def test_syntax_error_in_a_part_names_the_part_and_line():
    e = failure(render_text, "{% include 'p' %}", {}, {"p": "fine\n{% if %}"})
    assert e["part"] == "p" and e["line"] == 2 and "syntax error" in e["message"]


def test_syntax_error_names_where_and_line():
    spec = load_yaml("id: p\nmessages:\n  - {role: system, content: ok}\n"
                     "  - {role: user, content: \"a\\n{{ x + }}\"}\n")  # fmt: skip
    e = failure(render, spec, {"x": 1})
    assert e["field"] == "messages[1].content" and e["line"] == 2 and "syntax error" in e["message"]


def test_undefined_variable_is_named_with_where_and_line():
    spec = load_yaml("id: p\nmessages:\n  - {role: system, content: ok}\n"
                     "  - {role: user, content: \"line one\\n{{ custmer }}\"}\n")  # fmt: skip
    e = failure(render, spec, {"customer": "Ann"})
    assert e["field"] == "messages[1].content" and e["line"] == 2
    assert "`custmer`" in e["message"] and "inputs.custmer" in e["message"]


def test_default_filter_treats_empty_values_as_missing():
    text = "{{ a|default('A') }},{{ b|default('B') }},{{ c|default('C') }},{{ d|default('D') }},"
    text += "{{ e|default('E') }},{{ z|default(0) }},{{ f|default('F', false) }},{{ zero|d(9) }}"
    out = render_text(text, {"a": None, "b": "", "c": [], "d": {}, "e": "set", "f": "", "zero": 0})
    assert out == "A,B,C,D,set,0,,0"


def test_json_and_yaml_filters():
    data = {"name": "Zoë", "tags": ["a", "b"], "n": 1.5}
    assert (
        render_text("{{ d|json }}", {"d": data}) == '{"name": "Zoë", "tags": ["a", "b"], "n": 1.5}'
    )
    assert render_text("{{ d|json(indent=2) }}", {"d": [1]}) == "[\n  1\n]"
    assert render_text("{{ d|yaml }}", {"d": data}) == "name: Zoë\ntags:\n  - a\n  - b\nn: 1.5"
    assert render_text("{{ 'plain'|yaml }}", {}) == "plain"
    e = failure(render_text, "{{ nope|json }}", {})
    assert "`nope`" in e["message"]


def test_loops_namespace_and_globals_work():
    text = (
        "{% set ns = namespace(total=0) %}{% for x in xs %}{{ loop.index }}{{ x }}"
        "{% set ns.total = ns.total + x %}{% endfor %}={{ ns.total }} {{ dict(a=1)|json }}"
        "{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}"
    )
    assert render_text(text, {"xs": [5, 6]}) == '1526=11 {"a": 1}ab'


def test_output_size_limit_stops_the_render():
    e = failure(render_text, "{% for i in range(100000) %}0123456789{% endfor %}", {},
                max_chars=1000)  # fmt: skip
    assert e["field"] == "template" and "1,000 characters" in e["message"]
    assert render_text("x" * 1000, {}, max_chars=1000) == "x" * 1000


def test_output_size_limit_counts_all_messages():
    spec = load_yaml("id: p\nmessages:\n  - {role: system, content: '{{ a }}'}\n"
                     "  - {role: user, content: '{{ a }}'}\n")  # fmt: skip
    assert render(spec, {"a": "x" * 60}, max_chars=120).messages[1]["content"] == "x" * 60
    e = failure(render, spec, {"a": "x" * 70}, max_chars=120)
    assert e["field"] == "messages[1].content"


def test_time_limit_holds_for_nested_loops_that_print_nothing():
    text = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
    started = time.monotonic()
    e = failure(render_text, text, {}, timeout_seconds=0.3)
    assert time.monotonic() - started < 2
    assert e["field"] == "template" and "longer than 0.3 s; simplify loops" in e["message"]


def test_time_limit_holds_for_exponential_macros():
    text = (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}"
    )
    e = failure(render_text, text, {}, timeout_seconds=0.3)
    assert "longer than 0.3 s" in e["message"]


def test_runaway_recursion_is_a_clear_error():
    e = failure(render_text, "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", {})
    assert "recurse" in e["message"]


def test_referenced_parts_and_transitive_parts_used():
    assert referenced_parts("{% include 'a' %}{% import 'm' as m %}{% from 'f' import g %}") == {
        "a", "m", "f",
    }  # fmt: skip
    store = {"a": "{% include 'b' %}", "b": "{% include 'c' %}{% include 'a' %}", "c": "c"}
    spec = load_yaml("id: p\nmessages:\n  - {role: user, content: \"{% include 'a' %}\"}\n"
                     "  - {role: user, content: \"{% include 'ghost' %}\"}\n")  # fmt: skip
    assert parts_used(spec, store.get) == {"a", "b", "c"}


def test_variables_used():
    src = "{% for x in items %}{{ x }}{{ loop.index }}{% endfor %}{{ range(2) }}{{ name|upper }}"
    assert variables_used(src) == {"items", "name"}
