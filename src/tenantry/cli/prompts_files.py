"""Files and arguments of `tenantry prompts`: prompt folders (YAML files plus a ``parts/``
folder), ``k=v`` inputs, and problems printed with their line numbers. No database here."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from tenantry.cli.common import fail

PROMPT_SUFFIXES = (".yml", ".yaml")
PART_SUFFIXES = (".j2", ".jinja", ".txt")
PARTS_DIR = "parts"


@dataclass
class Folder:
    """What a push reads: prompt files (path → text) and parts (name → (path, text))."""

    prompts: dict[Path, str] = field(default_factory=dict)
    parts: dict[str, tuple[Path, str]] = field(default_factory=dict)


def _parts_in(folder: Path) -> dict[str, tuple[Path, str]]:
    parts: dict[str, tuple[Path, str]] = {}
    if not folder.is_dir():
        return parts
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix not in PART_SUFFIXES:
            continue
        if path.stem in parts:
            fail(
                f"{path} and {parts[path.stem][0]} both define the part '{path.stem}'; "
                "keep one of them"
            )
        parts[path.stem] = (path, path.read_text())
    return parts


def read_source(source: Path) -> Folder:
    """A single prompt file, or a folder: its top-level .yml/.yaml files and ``parts/``."""
    if source.is_file():
        return Folder(prompts={source: source.read_text()})
    if not source.is_dir():
        fail(f"{source} is neither a file nor a folder")
    prompts = {
        p: p.read_text()
        for p in sorted(source.iterdir())
        if p.is_file() and p.suffix in PROMPT_SUFFIXES
    }
    return Folder(prompts=prompts, parts=_parts_in(source / PARTS_DIR))


def local_parts_for(path: Path) -> dict[str, str]:
    """The parts next to a prompt file (its folder's ``parts/``), for offline validation."""
    return {name: text for name, (_, text) in _parts_in(path.parent / PARTS_DIR).items()}


def part_path(folder: Path, name: str) -> Path:
    """Where a pulled part goes: over an existing file of that name whatever its suffix."""
    parts = folder / PARTS_DIR
    for suffix in PART_SUFFIXES:
        if (parts / f"{name}{suffix}").is_file():
            return parts / f"{name}{suffix}"
    return parts / f"{name}.j2"


def existing_prompt_files(folder: Path) -> dict[str, Path]:
    """The prompt files already in a folder, by the id they declare (whatever their name)."""
    import yaml

    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in PROMPT_SUFFIXES:
            try:
                data = yaml.safe_load(path.read_text())
            except (yaml.YAMLError, OSError, UnicodeDecodeError):
                continue
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                found.setdefault(data["id"], path)
    return found


def prompt_path(folder: Path, slug: str, existing: dict[str, Path] | None = None) -> Path:
    """Where a pulled prompt goes: over the file that already holds it, else <id>.yml."""
    if existing and slug in existing:
        return existing[slug]
    for suffix in PROMPT_SUFFIXES:
        if (folder / f"{slug}{suffix}").is_file():
            return folder / f"{slug}{suffix}"
    return folder / f"{slug}.yml"


def write_if_changed(path: Path, text: str) -> bool:
    if path.is_file() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


# --- inputs ------------------------------------------------------------------------------------


def parse_value(raw: str) -> Any:
    """JSON when it parses (numbers, booleans, lists, objects, quoted strings), else the text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_inputs(pairs: list[str] | None, inputs_json: str | None) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    if inputs_json:
        try:
            text = sys.stdin.read() if inputs_json == "-" else Path(inputs_json).read_text()
        except OSError as exc:
            fail(f"--inputs-json: cannot read {inputs_json}: {exc.strerror}")
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            fail(f"--inputs-json: not valid JSON ({exc})")
        if not isinstance(loaded, dict):
            fail("--inputs-json: must be a JSON object of input names to values")
        inputs.update(loaded)
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--input '{pair}': write it as name=value, e.g. --input customer=Ada")
        inputs[key.strip()] = parse_value(value)
    return inputs


# --- printing ----------------------------------------------------------------------------------


def problem_line(where: str, p: dict[str, Any], text: str | None = None) -> str:
    """``file:line: field: message``; a template's own line is placed in the file when the
    YAML text is at hand (else it is shown as the template's line)."""
    from tenantry.prompts.validate import template_line

    line, field_ = p.get("line"), p.get("where") or p.get("field") or ""
    location, inner = where, ""
    if line and p.get("kind") in (None, "yaml", "schema"):
        location = f"{where}:{line}"
    elif line:
        placed = template_line(text, field_, line) if text else None
        location = f"{where}:{placed}" if placed else where
        inner = "" if placed else f" line {line}"
    severity = p.get("severity", "error")
    prefix = f"{severity}: " if severity != "error" else ""
    named = f"{field_}{inner}: " if field_ else ""
    return f"{location}: {prefix}{named}{p.get('message', '')}"


def print_problems(where: str, problems: list[dict[str, Any]], text: str | None = None) -> None:
    for p in problems:
        colour = "red" if p.get("severity", "error") == "error" else "yellow"
        typer.secho(problem_line(where, p, text), fg=colour, err=True)


def _in_template(field_: str) -> bool:
    return field_ == "template" or (field_.startswith("messages[") and "content" in field_)


def errors_of(exc) -> list[dict[str, Any]]:
    """A ValidationFailed's errors as problems (each naming its field and line)."""
    if exc.errors:
        return [
            {
                "severity": "error",
                "kind": "template" if _in_template(e.get("field", "")) else None,
                "where": e.get("field", ""),
                "message": e.get("message", ""),
                "line": e.get("line"),
            }
            for e in exc.errors
        ]
    return [{"severity": "error", "where": "", "message": exc.detail}]


def print_rendered(rendered: dict[str, Any]) -> None:
    """Text prompts as they are; chat prompts one block per message, headed by the role."""
    if rendered.get("messages") is not None:
        for i, m in enumerate(rendered["messages"]):
            if i:
                typer.echo("")
            typer.secho(f"[{m['role']}]", bold=True)
            typer.echo(m["content"])
    else:
        typer.echo(rendered.get("text") or "")


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)
