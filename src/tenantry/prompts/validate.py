"""Static checks of a prompt or part, for the editor and before saving.

Nothing is rendered: templates are parsed, and the problems found are returned (never raised)
as ``{severity, kind, where, line, message}`` so a UI can list them all at once.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
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


# --- lines in the YAML document ------------------------------------------------------------


_PATH = re.compile(r"([A-Za-z_][\w-]*)|\[(\d+)\]")


def _node_at(root: yaml.Node, where: str) -> tuple[yaml.Node | None, int | None]:
    """The YAML node a problem's path (``messages[1].content``) names, and its key's line."""
    node, line = root, None
    for name, index in _PATH.findall(where):
        if name and isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if getattr(k, "value", None) == name]
            if not found:
                return None, None
            line, node = found[0][0].start_mark.line + 1, found[0][1]
        elif index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
            node = node.value[int(index)]
            line = node.start_mark.line + 1
        else:
            return None, None
    return node, line


def _scalar_line(node: yaml.ScalarNode, line: int) -> int:
    block = 1 if node.style in ("|", ">") else 0  # the text starts below "key: |"
    return node.start_mark.line + block + line


def template_line(text: str, where: str, line: int) -> int | None:
    """The line in the YAML text of line ``line`` of the template at ``where``
    (``template``, ``messages[1].content``), or None when it can't be placed."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    node, _ = _node_at(root, where) if root is not None else (None, None)
    return _scalar_line(node, line) if isinstance(node, yaml.ScalarNode) else None


def document_lines(text: str, problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Template problems count lines inside their template (or part); the editor marks lines
    of the whole YAML, so they are moved there. YAML and schema problems already are."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return problems
    out = []
    for p in problems:
        if p.get("kind") in ("yaml", "schema") or root is None:
            out.append(p)
            continue
        node, key_line = _node_at(root, p.get("where") or "")
        if node is None:  # in a part: its own line
            part_line = f" (line {p['line']} of the part)" if p.get("line") else ""
            out.append(p | {"line": None, "message": p["message"] + part_line})
        elif p.get("line") and isinstance(node, yaml.ScalarNode):
            out.append(p | {"line": _scalar_line(node, p["line"])})
        else:
            out.append(p | {"line": key_line})
    return out
