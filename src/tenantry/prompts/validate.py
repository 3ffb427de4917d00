"""Static checks of a prompt or part, for the editor and before saving.

Nothing is rendered: templates are parsed, and the problems found are returned (never raised)
as ``{severity, kind, where, line, message}`` so a UI can list them all at once.
"""

from __future__ import annotations

from typing import Any

from jinja2 import meta, nodes
from jinja2.exceptions import TemplateSyntaxError

from tenantry.core.errors import ValidationFailed
from tenantry.prompts.sandbox import (
    FORBIDDEN_NAMES,
    GLOBAL_NAMES,
    parse,
    sandbox_problems,
    spec_sources,
)
from tenantry.prompts.spec import PromptSpec, load_yaml


def _problem(severity: str, kind: str, where: str, line: int | None, message: str) -> dict:
    return {"severity": severity, "kind": kind, "where": where, "line": line, "message": message}


def _first_line(tree: nodes.Template, name: str) -> int | None:
    lines = [n.lineno for n in tree.find_all(nodes.Name) if n.name == name and n.ctx == "load"]
    return min(lines) if lines else None


class _Checker:
    """Walks sources and the parts they reach, each part once."""

    def __init__(self, parts: dict[str, str]):
        self.parts = parts
        self.problems: list[dict[str, Any]] = []
        self.used: dict[str, tuple[str, int | None, bool]] = {}  # name → where, line, in part
        self.locals: set[str] = set()
        self.checked: set[str] = set()

    def source(self, where: str, text: str, *, part: bool = False, chain: tuple = ()) -> None:
        try:
            tree = parse(text, where if part else None)
        except TemplateSyntaxError as exc:
            self.problems.append(
                _problem("error", "syntax", where, exc.lineno, f"syntax error: {exc.message}")
            )
            return
        for line, message in sandbox_problems(tree):
            self.problems.append(_problem("error", "sandbox", where, line, message))
        for name in sorted(meta.find_undeclared_variables(tree) - GLOBAL_NAMES):
            self.used.setdefault(name, (where, _first_line(tree, name), part))
        self.locals |= {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
        for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            self._reference(where, node, chain)

    def _reference(self, where: str, node: Any, chain: tuple) -> None:
        target = node.template
        names = [target.value] if isinstance(target, nodes.Const) else None
        if isinstance(target, nodes.List | nodes.Tuple) and all(
            isinstance(i, nodes.Const) for i in target.items
        ):
            names = [i.value for i in target.items][:1]  # include ["a", "b"]: the first found
        if not names or not isinstance(names[0], str):
            self.problems.append(_problem(
                "warning", "unknown_part", where, node.lineno,
                "the part name is computed, so it can't be checked or pinned to a version; "
                "write the name as a literal string",
            ))  # fmt: skip
            return
        name = names[0]
        if name in chain:
            loop = " → ".join((*chain, name))
            self.problems.append(_problem(
                "error", "cycle", where, node.lineno, f"parts include each other: {loop}"
            ))  # fmt: skip
            return
        if name not in self.parts:
            known = ", ".join(sorted(self.parts)) or "none"
            self.problems.append(_problem(
                "error", "unknown_part", where, node.lineno,
                f"unknown part '{name}' (known parts: {known}); create it or fix the name",
            ))  # fmt: skip
            return
        if name not in self.checked:
            self.checked.add(name)
            # Depth-first with the chain: a part seen before can't close a loop (a finished
            # node never reaches the current chain), so each part is parsed once.
            self.source(name, self.parts[name], part=True, chain=(*chain, name))


def validate(spec: PromptSpec, parts: dict[str, str]) -> list[dict[str, Any]]:
    """Problems of a parsed spec against the organization's parts (name → content)."""
    checker = _Checker(parts)
    for where, text in spec_sources(spec):
        checker.source(where, text)
    problems = checker.problems
    declared = set(spec.inputs)
    for name, (where, line, in_part) in sorted(checker.used.items()):
        if name in declared or (in_part and name in checker.locals):
            continue
        if name in FORBIDDEN_NAMES:
            message = f"`{name}` is not allowed in templates (sandbox)"
            problems.append(_problem("error", "sandbox", where, line, message))
            continue
        problems.append(_problem(
            "error", "undeclared", where, line,
            f"`{name}` is used but not declared; add it under inputs (inputs.{name}: "
            "{type: string}) or fix the name",
        ))  # fmt: skip
    for name in spec.inputs:
        if name not in checker.used:
            problems.append(_problem(
                "warning", "unused", f"inputs.{name}", None,
                f"input `{name}` is declared but no template uses it; use it or remove it",
            ))  # fmt: skip
    return problems


def validate_yaml(text: str, parts: dict[str, str]) -> list[dict[str, Any]]:
    """Problems of YAML text: YAML syntax and schema errors (with lines), then ``validate``."""
    try:
        spec = load_yaml(text)
    except ValidationFailed as exc:
        return [
            _problem(
                "error",
                "yaml" if e["field"] == "yaml" else "schema",
                e["field"],
                e.get("line"),
                e["message"],
            )  # fmt: skip
            for e in exc.errors
        ]
    return validate(spec, parts)


def validate_part(name: str, content: str, others: dict[str, str]) -> list[dict[str, Any]]:
    """Problems of one part's content: syntax, sandbox, parts it includes (unknown, broken,
    or including it back). ``others`` are the organization's other parts."""
    checker = _Checker({**others, name: content})
    checker.checked.add(name)
    checker.source(name, content, part=True, chain=(name,))
    return checker.problems
