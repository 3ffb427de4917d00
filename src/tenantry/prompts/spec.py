"""The prompt spec: what one saved prompt version is, and its YAML form.

A spec is plain data (no database): ``load_yaml``/``dump_yaml`` convert it, ``to_dict`` is the
stored form and ``content_hash`` identifies its content. Errors name the field path and, from
YAML, the line, so an editor can point at the problem.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
from difflib import get_close_matches
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tenantry.core.errors import ValidationFailed
from tenantry.prompts.inputs import InputError, coerce_value

SCALAR_TYPES = ("string", "number", "integer", "boolean")
INPUT_TYPES = (*SCALAR_TYPES, "enum", "object", "array")
# Names templates already use: an input named like them would shadow a global or a keyword.
RESERVED_NAMES = frozenset(
    {"loop", "self", "range", "dict", "namespace", "cycler", "joiner", "caller", "varargs"}
    | {"kwargs", "true", "false", "none", "True", "False", "None"}
)
_TYPE_HINTS = {"str": "string", "text": "string", "int": "integer", "float": "number"}
_TYPE_HINTS |= {"bool": "boolean", "list": "array", "dict": "object", "choice": "enum"}
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_MODEL_KEYS = frozenset(
    {
        "n",
        "best_of",
        "max_completion_tokens",
        "max_output_tokens",
        "max_tokens_to_sample",
        "generationConfig",
        "generation_config",
        "stream",
        "stream_options",
        "model",
        "messages",
        "tools",
        "tool_choice",
        "functions",
        "system",
        "contents",
        "systemInstruction",
    }
)
# Names the registry's own pages and routes use next to a prompt's id.
RESERVED_IDS = frozenset({"new", "parts", "executions", "settings", "validate", "preview"})
TOOL_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class InputSpec(BaseModel):
    """One declared input. ``type: array<string>`` is shorthand for ``type: array`` with
    ``items: {type: string}``; a bare string (``tone: string``) is shorthand for the type."""

    model_config = ConfigDict(extra="forbid")

    type: str = "string"
    description: str = ""
    required: bool | None = None
    default: Any = None
    values: list[Any] | None = None
    items: InputSpec | None = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=0)
    minimum: float | None = None
    maximum: float | None = None

    @property
    def is_required(self) -> bool:
        return self.required if self.required is not None else self.default is None

    def to_dict(self) -> dict[str, Any]:
        """Compact form; ``type`` is always written, and arrays of plain elements use the
        ``array<T>`` shorthand so YAML stays readable."""
        out: dict[str, Any] = {"type": self.type, **self.model_dump(exclude_defaults=True)}
        if self.items is not None:
            items = self.items.to_dict()
            if set(items) == {"type"}:
                out["type"] = f"array<{items['type']}>"
                del out["items"]
            else:
                out["items"] = items
        return out

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if data is None:
            return {}
        if isinstance(data, str):
            data = {"type": data}
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return data
        typ = data["type"].strip()
        m = re.fullmatch(r"array\s*<\s*(.+?)\s*>", typ)
        if not m:
            return data
        inner = m.group(1)
        if inner not in (*SCALAR_TYPES, "object", "enum"):
            raise ValueError(
                f"type: array<{inner}> is not supported; the element type must be one of "
                f"{', '.join((*SCALAR_TYPES, 'object', 'enum'))}"
            )
        if "items" in data:
            raise ValueError("items: give either `type: array<T>` or `items`, not both")
        data = dict(data, type="array", items={"type": inner})
        if inner == "enum" and "values" in data:  # array<enum>: the choices belong to items
            data["items"]["values"] = data.pop("values")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> InputSpec:
        if self.type not in INPUT_TYPES:
            close = get_close_matches(self.type.lower(), INPUT_TYPES, n=1)
            hint = _TYPE_HINTS.get(self.type.lower()) or (close[0] if close else None)
            fix = f"did you mean '{hint}'? " if hint else ""
            raise ValueError(
                f"type: unknown type '{self.type}'; {fix}use one of {', '.join(INPUT_TYPES)} "
                "or array<T>"
            )
        if self.type == "enum" and not self.values:
            raise ValueError("values: an enum input needs `values`, the list of allowed choices")
        if self.type != "enum" and self.values is not None:
            raise ValueError(
                "values: only enum inputs take `values`; set `type: enum` or remove it"
            )
        if self.type != "array" and self.items is not None:
            raise ValueError(
                "items: only array inputs take `items`; set `type: array` or remove it"
            )
        for lo, hi in (("min_length", "max_length"), ("minimum", "maximum")):
            a, b = getattr(self, lo), getattr(self, hi)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{lo}: {lo} ({a}) is greater than {hi} ({b})")
        if self.required and self.default is not None:
            raise ValueError(
                "required: an input with a default is optional; remove `required: true` "
                "or the default"
            )
        if self.default is not None:
            try:  # a default must itself be a valid value; stored in its coerced form
                self.default = coerce_value(self, self.default, "default")
            except InputError as exc:
                raise ValueError(f"{exc.field}: {exc.message}") from None
        return self


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class ModelConfig(BaseModel):
    """Provider settings; keys beyond these are kept and passed to the provider as they are."""

    model_config = ConfigDict(extra="allow")

    provider: str | None = None
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0, le=10_000_000)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: list[str] | None = None

    @model_validator(mode="after")
    def _no_overriding_extras(self) -> ModelConfig:
        # Extras go to the provider as they are: none may change what the call is (the model,
        # the messages, streaming) or how much it may produce (quotas reserve max_tokens).
        taken = sorted(set(self.model_extra or {}) & RESERVED_MODEL_KEYS)
        if taken:
            raise ValueError(
                f"{taken[0]}: is set by Tenantry; use max_tokens for the output size (one "
                "answer per call), and the prompt's messages and tools for the rest"
            )
        return self


class ToolSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not TOOL_NAME_RE.match(v):
            raise ValueError("use 1-64 letters, digits, '_' or '-' (e.g. run_query)")
        return v


class PromptSpec(BaseModel):
    """One prompt version's content. Field order is the YAML/``to_dict`` key order."""

    model_config = ConfigDict(extra="forbid")

    id: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    model: ModelConfig = Field(default_factory=ModelConfig)
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    template: str | None = None
    messages: list[ChatMessage] | None = None
    tools: list[ToolSpec] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG_RE.match(v):
            raise ValueError(
                f"'{v}' is not a valid id; use lowercase letters, digits, '-' and '_', starting "
                "with a letter or digit, up to 100 characters (e.g. support-reply)"
            )
        if v in RESERVED_IDS:
            raise ValueError(f"'{v}' is reserved; choose another id (e.g. {v}-prompt)")
        return v

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, v: dict[str, InputSpec]) -> dict[str, InputSpec]:
        for name in v:
            where = f"{name}: " if re.fullmatch(r"[\w.\-\[\]]+", name) else f"input '{name}': "
            if not IDENT_RE.match(name) or keyword.iskeyword(name):
                raise ValueError(
                    f"{where}input names must be identifiers (letters, digits and '_', not "
                    "starting with a digit) so templates can use them; e.g. customer_name"
                )
            if name in RESERVED_NAMES:
                raise ValueError(f"{where}'{name}' is reserved in templates; rename the input")
        return v

    @model_validator(mode="after")
    def _one_body(self) -> PromptSpec:
        if (self.template is None) == (self.messages is None):
            has = "both" if self.template is not None else "neither"
            raise ValueError(
                f"template: give exactly one of `template` (one text prompt) or `messages` "
                f"(a chat prompt: a list of {{role, content}}); this prompt has {has}"
            )
        if self.messages is not None and not self.messages:
            raise ValueError("messages: a chat prompt needs at least one message")
        names = [t.name for t in self.tools]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"tools: tool names must be unique; repeated: {', '.join(dupes)}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The canonical stored form: fields left at their defaults are omitted; anything set
        (descriptions, metadata, extra model keys) is kept."""
        out = self.model_dump(mode="python", exclude_defaults=True)
        if self.inputs:
            out["inputs"] = {name: spec.to_dict() for name, spec in self.inputs.items()}
        return out

    def content_hash(self) -> str:
        canonical = json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


# --- errors: pydantic → ValidationFailed with field paths and YAML lines -------------------

_ALLOWED = {
    "": PromptSpec,
    "inputs.*": InputSpec,
    "messages.*": ChatMessage,
    "tools.*": ToolSpec,
}


def _loc_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Which model an (extra-field) location sits in, to list its allowed fields."""
    key = ""
    i = 0
    while i < len(loc):
        head = loc[i]
        if key == "" and head in ("inputs", "messages", "tools") and i + 1 < len(loc):
            key, i = f"{head}.*", i + 2
        elif key == "inputs.*" and head == "items":
            i += 1
        else:
            break
    return _ALLOWED.get(key) if i == len(loc) else None


def pydantic_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """One ``{field, message, loc}`` per problem; a validator's "sub.field: …" message is
    moved into the path so every error names the exact field."""
    errors = []
    for e in exc.errors():
        loc = tuple(e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        m = re.match(r"^([\w\-]+(?:\.[\w\-]+|\[\d+\])*): (.+)$", msg, re.S)
        if e["type"] == "value_error" and m:
            loc = loc + tuple(int(x) if x.isdigit() else x for x in re.findall(r"[\w\-]+", m[1]))
            msg = m[2]
        elif e["type"] == "extra_forbidden":
            model = _model_at(loc[:-1])
            allowed = list(model.model_fields) if model else []
            close = get_close_matches(str(loc[-1]), allowed, n=1)
            msg = f"unknown field '{loc[-1]}'" + (f"; did you mean '{close[0]}'?" if close else "")
            if allowed:
                msg += f" Allowed: {', '.join(allowed)}"
        elif e["type"] == "missing":
            msg = "is required"
        errors.append({"field": _loc_path(loc) or "spec", "message": msg, "loc": loc})
    return errors


def _failed(errors: list[dict[str, Any]]) -> ValidationFailed:
    def where(e: dict[str, Any]) -> str:
        return f"{e['field']} (line {e['line']})" if e.get("line") else e["field"]

    return ValidationFailed("; ".join(f"{where(e)}: {e['message']}" for e in errors), errors=errors)


def load_dict(data: Any) -> PromptSpec:
    """A spec from a dict (e.g. a JSON body), raising ValidationFailed naming each field."""
    try:
        return PromptSpec.model_validate(data)
    except ValidationError as exc:
        errors = pydantic_errors(exc)
        for e in errors:
            e.pop("loc")
        raise _failed(errors) from None


# --- YAML -----------------------------------------------------------------------------------

MAX_YAML_NODES = 100_000  # aliases can expand a small file into a huge value ("billion laughs")


def _yaml_error(exc: yaml.YAMLError) -> ValidationFailed:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    cmark = getattr(exc, "context_mark", None)
    if context and cmark is not None and mark is not None and cmark.line != mark.line:
        context = f"{context} (line {cmark.line + 1})"
    text = f"{context}, {problem}" if context else problem
    if mark is not None:
        line, col = mark.line + 1, mark.column + 1
        message = f"YAML syntax error at line {line}, column {col}: {text}"
        return _failed([{"field": "yaml", "message": message, "line": line, "column": col}])
    return _failed([{"field": "yaml", "message": f"YAML syntax error: {text}"}])


def _check_nodes(root: yaml.Node) -> None:
    """Refuse duplicate keys (YAML silently keeps the last one) and alias explosions."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = 1  # guards recursive aliases
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    if k.value in seen:
                        line = k.start_mark.line + 1
                        raise _failed([{
                            "field": "yaml", "line": line,
                            "message": f"duplicate key '{k.value}' at line {line} (first at line "
                            f"{seen[k.value]}); remove one of them",
                        }])  # fmt: skip
                    seen[k.value] = k.start_mark.line + 1
                total += size(k) + size(v)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(v) for v in node.value)
        if total > MAX_YAML_NODES:
            raise _failed([{"field": "yaml", "message": "the document is too large (aliases?)"}])
        sizes[id(node)] = total
        return total

    size(root)


def _line_of(root: yaml.Node, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest node on the path: a mapping key's own line, so a missing or
    wrong child still points at its parent."""
    node, line = root, root.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if getattr(k, "value", None) == str(part)]
            if not match:
                break
            key, node = match[0]
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def load_yaml(text: str) -> PromptSpec:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_nodes(root)
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        raise _yaml_error(exc) from None
    except RecursionError:
        raise _failed([{"field": "yaml", "message": "the document is nested too deeply"}]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        what = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
        raise _failed([{
            "field": "yaml", "line": root.start_mark.line + 1 if root is not None else None,
            "message": f"the document is {what}; a prompt is a mapping with at least `id` "
            "and `template` (or `messages`)",
        }])  # fmt: skip
    try:
        return PromptSpec.model_validate(data)
    except ValidationError as exc:
        errors = pydantic_errors(exc)
        for e in errors:
            e["line"] = _line_of(root, e.pop("loc"))
        raise _failed(errors) from None


class _Dumper(yaml.SafeDumper):
    """Block style, indented lists, ``|`` blocks for multi-line text, never aliases."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # PyYAML falls back to a quoted style by itself when a block can't hold the text exactly.
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(spec: PromptSpec) -> str:
    return yaml.dump(
        spec.to_dict(),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


def yaml_value(value: Any) -> str:
    """Any plain value as block YAML (used by the templates' ``yaml`` filter)."""
    text = yaml.dump(
        value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    return text.removesuffix("\n...\n").removesuffix("\n")
