"""Diffs between prompt versions: paths a user recognises, unified text for multi-line fields."""

from __future__ import annotations

from tenantry.prompts.diff import diff_parts, diff_specs, side_by_side
from tenantry.prompts.spec import load_yaml

A = """\
id: p
description: Replies.
tags: [a]
model: {temperature: 0.2, model: m1}
inputs:
  tone: {type: enum, values: [warm, cool], default: warm}
  name: string
template: |
  Hello {{ name }}
  Be {{ tone }}.
  Bye
metadata: {owner: x}
"""

B = """\
id: p
description: Replies.
tags: [a, b]
model: {temperature: 0.7, model: m1, top_p: 0.9}
inputs:
  tone: {type: enum, values: [warm, cool], default: cool}
  lang: string
template: |
  Hello {{ name }}
  Be very {{ tone }}.
  Bye
metadata: {owner: y, team: z}
"""


def changes(a: str, b: str) -> dict[str, dict]:
    return {c["path"]: c for c in diff_specs(load_yaml(a).to_dict(), load_yaml(b).to_dict())}


def test_identical_specs_have_no_changes():
    assert diff_specs(load_yaml(A).to_dict(), load_yaml(A).to_dict()) == []


def test_changes_are_named_by_path():
    c = changes(A, B)
    assert set(c) == {
        "tags", "model.temperature", "model.top_p", "inputs.tone.default", "inputs.name",
        "inputs.lang", "template", "metadata.owner", "metadata.team",
    }  # fmt: skip
    assert c["model.temperature"] | {} == {
        "path": "model.temperature", "change": "changed", "before": 0.2, "after": 0.7,
        "unified": None,
    }  # fmt: skip
    assert c["model.top_p"]["change"] == "added" and c["model.top_p"]["before"] is None
    assert c["inputs.name"]["change"] == "removed" and c["inputs.name"]["after"] is None
    assert c["inputs.tone.default"]["before"] == "warm"
    assert c["tags"]["after"] == ["a", "b"]


def test_multiline_text_gets_a_unified_diff():
    unified = changes(A, B)["template"]["unified"]
    assert "--- a/template" in unified and "+++ b/template" in unified
    assert "-Be {{ tone }}." in unified and "+Be very {{ tone }}." in unified
    assert " Hello {{ name }}" in unified


def test_chat_messages_are_aligned():
    a = "id: p\nmessages:\n  - {role: system, content: S}\n  - {role: user, content: U}\n"
    b = (
        "id: p\nmessages:\n  - {role: system, content: S}\n  - {role: assistant, content: X}\n"
        '  - {role: user, content: "U\\nmore"}\n'
    )
    c = changes(a, b)
    assert c["messages[1].role"]["after"] == "assistant"
    assert c["messages[1].content"]["before"] == "U"
    assert c["messages[2]"]["change"] == "added"
    inserted = changes(
        a, a.replace("  - {role: user", "  - {role: user, content: new}\n  - {role: user")
    )
    assert list(inserted) == ["messages[1]"] and inserted["messages[1]"]["change"] == "added"
    removed = changes(a, "id: p\nmessages:\n  - {role: user, content: U}\n")
    assert list(removed) == ["messages[0]"] and removed["messages[0]"]["change"] == "removed"


def test_switching_template_for_messages():
    c = changes("id: p\ntemplate: hi\n", "id: p\nmessages: [{role: user, content: hi}]\n")
    assert c["template"]["change"] == "removed" and c["messages"]["change"] == "added"


def test_part_pins():
    out = diff_parts({"header": 1, "footer": 2}, {"header": 3, "sig": 1})
    assert [(c["path"], c["change"], c["before"], c["after"]) for c in out] == [
        ("parts.footer", "removed", 2, None),
        ("parts.header", "changed", 1, 3),
        ("parts.sig", "added", None, 1),
    ]


def test_side_by_side_rows():
    rows = side_by_side("a\nb\nc\nd", "a\nB\nc\ne\nf")
    assert rows == [
        ("equal", "a", "a"),
        ("replace", "b", "B"),
        ("equal", "c", "c"),
        ("replace", "d", "e"),
        ("replace", None, "f"),
    ]
    assert side_by_side("", "x") == [("insert", None, "x")]
    assert side_by_side("x\ny", "y") == [("delete", "x", None), ("equal", "y", "y")]
