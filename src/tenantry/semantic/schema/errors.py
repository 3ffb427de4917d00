"""Model errors name the file, the cube (or view), the member and the line."""

from __future__ import annotations

from dataclasses import dataclass

from tenantry.core.errors import ValidationFailed


@dataclass(frozen=True)
class ModelError:
    file: str
    message: str
    cube: str | None = None
    member: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f", line {self.line}"
        if self.cube:
            where += f", {self.cube}" + (f".{self.member}" if self.member else "")
        return f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "cube": self.cube,
            "member": self.member,
            "line": self.line,
            "message": self.message,
        }


class ModelInvalid(ValidationFailed):
    """A save that fails validation changes nothing; every problem is listed at once."""

    def __init__(self, problems: list[ModelError]):
        self.problems = problems
        head = str(problems[0]) if problems else "the data model is invalid"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        errors = [{"field": p.file, "message": str(p), **p.as_dict()} for p in problems]
        super().__init__(head + more, errors=errors)
