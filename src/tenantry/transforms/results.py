"""dbt's artifacts (``run_results.json``, ``sources.json``) as per-node results."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

FAILED = ("error", "fail", "runtime error")


@dataclass
class NodeResult:
    unique_id: str
    resource_type: str  # model | snapshot | test | seed | source
    name: str
    status: str  # success | error | fail | pass | warn | skipped | runtime error
    seconds: float
    rows_affected: int | None = None
    failures: int | None = None
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILED

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _name(unique_id: str) -> tuple[str, str]:
    parts = unique_id.split(".")
    kind = parts[0]
    if kind == "source" and len(parts) >= 4:
        return kind, f"{parts[-2]}.{parts[-1]}"
    if kind == "test":
        # test.<project>.<test_name>.<hash>
        return kind, parts[2] if len(parts) > 2 else unique_id
    return kind, parts[-1]


def _load(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    try:
        return json.loads(path.read_text()).get("results") or []
    except (OSError, ValueError):
        return []


def parse_run_results(path: Path) -> list[NodeResult]:
    out = []
    for r in _load(path):
        kind, name = _name(r.get("unique_id", ""))
        response = r.get("adapter_response") or {}
        rows = response.get("rows_affected")
        out.append(
            NodeResult(
                unique_id=r.get("unique_id", ""),
                resource_type=kind,
                name=name,
                status=str(r.get("status", "")),
                seconds=round(float(r.get("execution_time") or 0.0), 3),
                rows_affected=rows if isinstance(rows, int) and rows >= 0 else None,
                failures=r.get("failures"),
                message=(r.get("message") or "").strip(),
            )
        )
    return out


def parse_freshness(path: Path) -> list[NodeResult]:
    out = []
    for r in _load(path):
        _, name = _name(r.get("unique_id", ""))
        age = r.get("max_loaded_at_time_ago_in_s")
        message = r.get("error") or (
            f"last loaded {age / 3600:.1f} h ago (at {r.get('max_loaded_at')})"
            if isinstance(age, int | float)
            else ""
        )
        out.append(
            NodeResult(
                unique_id=r.get("unique_id", ""),
                resource_type="source",
                name=name,
                status=str(r.get("status", "")),
                seconds=round(float(r.get("execution_time") or 0.0), 3),
                message=message,
            )
        )
    return out


def failure_message(results: list[NodeResult]) -> str:
    """Which nodes failed and why, first the models (their tests were skipped after them)."""
    failed = sorted(
        (r for r in results if r.failed), key=lambda r: (r.resource_type == "test", r.name)
    )
    parts = []
    for r in failed[:5]:
        what = "test" if r.resource_type == "test" else r.resource_type
        detail = r.message.splitlines()
        text = " ".join(line.strip() for line in detail if line.strip())[:600]
        parts.append(f"{what} '{r.name}' {r.status}: {text}")
    more = len(failed) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
