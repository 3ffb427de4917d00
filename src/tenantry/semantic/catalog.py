"""Model templates the operator provides: folders of YAML an organization can enable and extend.

Built-in ones ship in ``semantic/model_templates/``; an operator adds or overrides them with
folders in ``TENANTRY_SEMANTIC_TEMPLATES_DIR``. Each folder holds ``template.yml`` (title,
description) and model files. Enabled templates are part of a model version, under
``templates/<name>/<file>``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

BUILTIN = Path(__file__).parent / "model_templates"
PREFIX = "templates/"


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    description: str
    files: dict[str, str]  # file name → YAML

    def prefixed(self) -> dict[str, str]:
        return {f"{PREFIX}{self.name}/{f}": text for f, text in self.files.items()}


def _read(folder: Path) -> Template:
    about = yaml.safe_load((folder / "template.yml").read_text()) or {}
    files = {
        p.name: p.read_text()
        for p in sorted(folder.iterdir())
        if p.suffix in (".yml", ".yaml") and p.name != "template.yml"
    }
    return Template(
        name=folder.name,
        title=str(about.get("title") or folder.name),
        description=str(about.get("description") or "").strip(),
        files=files,
    )


@functools.lru_cache(maxsize=8)
def _load(extra: str | None) -> dict[str, Template]:
    found: dict[str, Template] = {}
    for root in (BUILTIN, Path(extra) if extra else None):
        if root is None or not root.is_dir():
            continue
        for folder in sorted(root.iterdir()):
            if (folder / "template.yml").is_file():
                found[folder.name] = _read(folder)
    return found


def available(extra_dir: Path | None = None) -> dict[str, Template]:
    return _load(str(extra_dir) if extra_dir else None)


def expand(templates: list[str], extra_dir: Path | None = None) -> dict[str, str]:
    """The files of the enabled templates; an unknown name raises KeyError."""
    catalog = available(extra_dir)
    files: dict[str, str] = {}
    for name in templates:
        files.update(catalog[name].prefixed())
    return files
