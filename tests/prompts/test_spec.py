"""The prompt spec and its YAML: round trips, content hash, and errors that name field and line."""

from __future__ import annotations

import pytest

from tenantry.core.errors import ValidationFailed
from tenantry.prompts.spec import InputSpec, PromptSpec, dump_yaml, load_dict, load_yaml

FULL = """\
id: support-reply
description: |
  Replies to a customer question.
  Keeps the house style — ünïcode kept.
tags: [support, email]
model:
  provider: openai-main
  model: gpt-4o-mini
  temperature: 0.3
  max_tokens: 400
  seed: 7
inputs:
  customer:
    type: string
    description: The customer's first name
  tone:
    type: enum
    values: [friendly, formal]
    default: friendly
    description: How to sound
  topics: array<string>
  limits: {type: object, required: false}
template: |
  Hello {{ customer }},
  {% for t in topics %}- {{ t }}
  {% endfor %}
tools:
  - name: run_query
    description: Run a read-only SQL query
    parameters: {type: object, properties: {sql: {type: string}}}
metadata:
  owner: growth-team
  notes: "first line\\nsecond line"
"""


def errors_of(text: str) -> list[dict]:
    with pytest.raises(ValidationFailed) as info:
        load_yaml(text)
    assert info.value.status == 422
    return info.value.errors


def test_full_spec_round_trips_through_yaml_keeping_descriptions_and_unicode():
    spec = load_yaml(FULL)
    text = dump_yaml(spec)
    assert load_yaml(text) == spec
    assert "Keeps the house style — ünïcode kept." in text  # unicode as is, not escaped
    assert "description: |" in text and "template: |" in text  # readable literal blocks
    assert "The customer's first name" in text and "How to sound" in text
    assert "!!python" not in text and "&id" not in text
    assert spec.model.model_extra == {"seed": 7}  # provider extras kept
    assert "seed: 7" in text
    keys = [line.split(":")[0] for line in text.splitlines() if line and line[0] != " "]
    assert keys == ["id", "description", "tags", "model", "inputs", "template", "tools", "metadata"]


@pytest.mark.parametrize(
    "value",
    [
        "trailing spaces   \nnext line",
        "\tindented with a tab\nx",
        "  leading spaces\n  kept\n",
        "no trailing newline\nend",
        "many trailing newlines\n\n\n",
        "--- looks like a document marker\n...",
        "yes",
        "null",
        "007",
        "key: value # not a comment",
        "émoji 🎉 and 中文",
        "",
        "{{ jinja }} {% raw %}",
    ],
)
def test_any_text_round_trips(value):
    spec = PromptSpec(
        id="p", description=value, template=value or "x", metadata={"v": value, "n": None}
    )
    assert load_yaml(dump_yaml(spec)) == spec


def test_chat_spec_round_trips():
    spec = load_yaml(
        "id: chat\nmessages:\n  - role: system\n    content: |\n      You are terse.\n"
        "      Really.\n  - {role: user, content: '{{ q }}'}\ninputs: {q: string}\n"
    )
    assert [m.role for m in spec.messages] == ["system", "user"]
    assert load_yaml(dump_yaml(spec)) == spec


def test_to_dict_is_compact_but_keeps_what_is_set():
    spec = load_yaml("id: p\ntemplate: hi\ndescription: Greets\nmetadata: {a: null}\n")
    assert spec.to_dict() == {
        "id": "p", "description": "Greets", "template": "hi", "metadata": {"a": None},
    }  # fmt: skip
    assert PromptSpec.model_validate(spec.to_dict()) == spec


def test_array_shorthand_is_normalised():
    spec = load_yaml(
        "id: p\ntemplate: x\ninputs:\n  a: array<integer>\n"
        "  b: {type: 'array<enum>', values: [x, y]}\n"
    )
    assert spec.inputs["a"].type == "array" and spec.inputs["a"].items == InputSpec(type="integer")
    assert spec.inputs["b"].items.values == ["x", "y"]
    assert spec.to_dict()["inputs"]["a"] == {"type": "array<integer>"}


def test_content_hash_ignores_key_order_and_yaml_style():
    a = load_yaml("id: p\ntemplate: hi\nmodel: {temperature: 0.5, model: m}\ntags: [x]\n")
    b = load_yaml('tags:\n  - x\nmodel:\n  model: m\n  temperature: 0.5\ntemplate: "hi"\nid: p\n')
    assert a.content_hash() == b.content_hash()
    assert len(a.content_hash()) == 64
    c = load_yaml("id: p\ntemplate: hi\nmodel: {temperature: 0.6, model: m}\ntags: [x]\n")
    assert c.content_hash() != a.content_hash()
    d = load_yaml("id: p\ntemplate: hi\nmodel: {temperature: 0.5, model: m}\ntags: [x]\n"
                  "description: now described\n")  # fmt: skip
    assert d.content_hash() != a.content_hash()


def test_yaml_syntax_error_names_line_and_column():
    (e,) = errors_of("id: p\ntemplate: hi\n  bad: : indent\n")
    assert e["field"] == "yaml" and e["line"] == 3 and "line 3, column" in e["message"]


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string\n"])
def test_non_mapping_documents_are_refused(text):
    (e,) = errors_of(text)
    assert e["field"] == "yaml" and "mapping" in e["message"]


def test_duplicate_keys_are_refused_with_both_lines():
    (e,) = errors_of("id: p\ntemplate: a\ntemplate: b\n")
    assert (
        e["line"] == 3 and "duplicate key 'template'" in e["message"] and "line 2" in e["message"]
    )


def test_alias_explosion_is_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
              f"*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 9)]  # fmt: skip
    text = "id: p\ntemplate: x\nmetadata:\n" + "\n".join("  " + line for line in lines) + "\n"
    (e,) = errors_of(text)
    assert "too large" in e["message"]


def test_deep_nesting_is_refused():
    (e,) = errors_of("id: p\ntemplate: x\nmetadata: {a: " + "[" * 5000 + "]" * 5000 + "}\n")
    assert "nested too deeply" in e["message"]


def test_python_tags_are_not_constructed():
    (e,) = errors_of("id: p\ntemplate: !!python/object/apply:os.system ['true']\n")
    assert e["field"] == "yaml"


@pytest.mark.parametrize(
    ("text", "field", "line", "words"),
    [
        ("id: Bad Id\ntemplate: x\n", "id", 1, "lowercase"),
        ("id: p\n", "template", 1, "messages"),
        ("id: p\ntemplate: x\nmessages: [{role: user, content: y}]\n", "template", 2, "messages"),
        ("id: p\ntemplate: x\ninputs:\n  tone:\n    type: enum\n", "inputs.tone.values", 4,
         "values"),
        ("id: p\ntemplate: x\ninputs:\n  tone:\n    type: string\n    valuse: [a]\n",
         "inputs.tone.valuse", 6, "did you mean 'values'"),
        ("id: p\ntemplate: x\ninputs:\n  n: {type: int}\n", "inputs.n.type", 4, "integer"),
        ("id: p\ntemplate: x\ninputs:\n  n: {type: integer, default: many}\n",
         "inputs.n.default", 4, "whole number"),
        ("id: p\ntemplate: x\ninputs:\n  n: {type: string, values: [a]}\n", "inputs.n.values", 4,
         "enum"),
        ("id: p\ntemplate: x\ninputs:\n  first-name: string\n", "inputs.first-name", 4,
         "identifiers"),
        ("id: p\ntemplate: x\ninputs:\n  loop: string\n", "inputs.loop", 4, "reserved"),
        ("id: p\nmessages:\n  - role: user\n    content: a\n  - role: bot\n    content: b\n",
         "messages[1].role", 5, "assistant"),
        ("id: p\ntemplate: x\nmodel: {temperature: 5}\n", "model.temperature", 3, "2"),
        ("id: p\ntemplate: x\ntitle: oops\n", "title", 3, "Allowed"),
        ("id: p\ntemplate: x\ninputs:\n  a: {type: array<array<string>>}\n", "inputs.a.type", 4,
         "not supported"),
    ],
)  # fmt: skip
def test_schema_errors_name_the_field_and_line(text, field, line, words):
    errors = errors_of(text)
    assert any(e["field"] == field for e in errors), errors
    e = next(e for e in errors if e["field"] == field)
    assert e["line"] == line and words in e["message"]


def test_exactly_one_of_template_or_messages_names_both_and_the_fix():
    (e,) = errors_of("id: p\ndescription: nothing\n")
    assert "`template`" in e["message"] and "`messages`" in e["message"]
    assert "exactly one" in e["message"]


def test_input_required_follows_default():
    spec = load_yaml("id: p\ntemplate: x\ninputs:\n  a: string\n  b: {default: hi}\n  "
                     "c: {required: false}\n")  # fmt: skip
    assert spec.inputs["a"].is_required and not spec.inputs["b"].is_required
    assert not spec.inputs["c"].is_required


def test_load_dict_names_fields():
    with pytest.raises(ValidationFailed) as info:
        load_dict({"id": "p", "template": "x", "inputs": {"t": {"type": "enum"}}})
    assert info.value.errors[0]["field"] == "inputs.t.values"
