"""Write an organization's dbt project from the store: project file, models, schema files,
sources, snapshots. Profiles (credentials) are written separately, per command (``runner``).

Files are rewritten only when their content changes, so dbt's partial parsing stays valid
between runs and a run's start costs little.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenantry.transforms.schemas import TransformSpec

PROJECT_NAME = "tenantry"
PROFILE_NAME = "tenantry"
# dlt stamps every row with the load's id, a Unix time: the default freshness clock.
DEFAULT_LOADED_AT = "to_timestamp(cast(_dlt_load_id as double precision))"
DLT_TABLES = ("_dlt_loads", "_dlt_pipeline_state", "_dlt_version")

# A model's schema is the organization's physical schema as is, not dbt's "<target>_<custom>".
SCHEMA_MACRO = """{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
"""


@dataclass(frozen=True)
class ModelDef:
    name: str
    kind: str  # model | snapshot
    sql: str
    description: str
    spec: TransformSpec


@dataclass
class SourceDef:
    dataset: str  # raw | staging | marts
    schema: str  # physical
    tables: dict[str, list[str]] = field(default_factory=dict)  # table → column names
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # table → SourceSettings


def _json_yaml(data: Any) -> str:
    # JSON is YAML: no quoting rules to get wrong with user text.
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _test_entry(test) -> Any:
    config = {"severity": test.severity} if test.severity != "error" else None
    if test.type in ("not_null", "unique"):
        return {test.type: {"config": config}} if config else test.type
    if test.type == "accepted_values":
        args = {"values": test.values}
    else:
        args = {"to": f"ref('{test.to}')", "field": test.field}
    entry: dict[str, Any] = {"arguments": args}
    if config:
        entry["config"] = config
    return {test.type: entry}


def _columns(spec: TransformSpec) -> list[dict[str, Any]]:
    out = []
    for c in spec.columns:
        col: dict[str, Any] = {"name": c.name}
        if c.description:
            col["description"] = c.description
        if c.tests:
            col["data_tests"] = [_test_entry(t) for t in c.tests]
        out.append(col)
    return out


def _model_config(m: ModelDef, datasets: dict[str, str]) -> dict[str, Any]:
    spec = m.spec
    config: dict[str, Any] = {"schema": datasets[spec.schema_]}
    if spec.tags:
        config["tags"] = spec.tags
    if m.kind == "snapshot":
        snap = spec.snapshot
        assert snap is not None
        keys = spec.unique_key
        config |= {"unique_key": keys[0] if len(keys) == 1 else keys, "strategy": snap.strategy}
        if snap.strategy == "timestamp":
            config["updated_at"] = snap.updated_at
        else:
            config["check_cols"] = snap.check_cols
        return config
    config["materialized"] = spec.materialization
    if spec.materialization == "incremental":
        if spec.unique_key:
            config["unique_key"] = spec.unique_key
        if spec.incremental_strategy:
            config["incremental_strategy"] = spec.incremental_strategy
    return config


def loaded_at_field(configured: str | None, columns: list[str]) -> str | None:
    """The freshness clock: the user's, else dlt's load id when the table has it (tables dlt
    loads from Arrow do not), else none (no freshness check for that table)."""
    if configured:
        return configured
    return DEFAULT_LOADED_AT if "_dlt_load_id" in columns else None


def _sources(sources: list[SourceDef]) -> list[dict[str, Any]]:
    out = []
    for src in sources:
        tables = []
        for table, columns in sorted(src.tables.items()):
            settings = src.settings.get(table) or {}
            entry: dict[str, Any] = {"name": table}
            if settings.get("description"):
                entry["description"] = settings["description"]
            loaded_at = loaded_at_field(settings.get("loaded_at_field"), columns)
            freshness = {k: settings[k] for k in ("warn_after", "error_after") if settings.get(k)}
            if loaded_at:
                entry["config"] = {"loaded_at_field": loaded_at, "freshness": freshness or None}
            entry["columns"] = [{"name": c} for c in columns]
            tables.append(entry)
        out.append({"name": src.dataset, "schema": src.schema, "tables": tables})
    return out


def files(
    models: list[ModelDef], sources: list[SourceDef], datasets: dict[str, str]
) -> dict[str, str]:
    """Every file of the project, by relative path."""
    out = {
        "dbt_project.yml": _json_yaml(
            {
                "name": PROJECT_NAME,
                "version": "1.0.0",
                "config-version": 2,
                "profile": PROFILE_NAME,
                "model-paths": ["models"],
                "snapshot-paths": ["snapshots"],
                "macro-paths": ["macros"],
                "test-paths": ["tests"],
                "clean-targets": ["target"],
                "flags": {"send_anonymous_usage_stats": False, "use_colors": False},
            }
        ),
        "macros/generate_schema_name.sql": SCHEMA_MACRO,
    }
    yml_models, yml_snapshots = [], []
    for m in sorted(models, key=lambda m: m.name):
        entry: dict[str, Any] = {"name": m.name, "config": _model_config(m, datasets)}
        if m.description:
            entry["description"] = m.description
        if m.spec.columns:
            entry["columns"] = _columns(m.spec)
        if m.kind == "snapshot":
            # On the first line, so dbt's line numbers are the editor's.
            body = f"{{% snapshot {m.name} %}}{m.sql.rstrip()}\n{{% endsnapshot %}}\n"
            out[f"snapshots/{m.name}.sql"] = body
            yml_snapshots.append(entry)
        else:
            out[f"models/{m.name}.sql"] = m.sql.rstrip() + "\n"
            yml_models.append(entry)
    out["models/_models.yml"] = _json_yaml({"version": 2, "models": yml_models})
    out["models/_sources.yml"] = _json_yaml({"version": 2, "sources": _sources(sources)})
    out["snapshots/_snapshots.yml"] = _json_yaml({"version": 2, "snapshots": yml_snapshots})
    return out


def write(project_dir: Path, wanted: dict[str, str]) -> bool:
    """Make ``project_dir`` hold exactly ``wanted`` (target/ and logs/ aside); True if changed."""
    changed = False
    project_dir.mkdir(parents=True, exist_ok=True)
    for rel, content in wanted.items():
        path = project_dir / rel
        if path.exists() and path.read_text() == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        changed = True
    for sub in ("models", "snapshots", "macros", "tests"):
        for path in (project_dir / sub).rglob("*") if (project_dir / sub).exists() else []:
            if path.is_file() and str(path.relative_to(project_dir)) not in wanted:
                path.unlink()
                changed = True
    return changed
