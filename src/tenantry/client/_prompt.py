"""A fetched prompt version, rendered locally by the same sandbox the server uses (imported
only when rendering), and the fallbacks an application ships for when the server is down."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tenantry.client._errors import ValidationError


@dataclass
class Prompt:
    """One prompt version as the server returned it (``GET …/prompts/{id}``)."""

    id: str
    version: int | None
    label: str | None
    labels: dict[str, int]
    spec: dict[str, Any]
    part_contents: dict[str, str] = field(default_factory=dict)
    parts: dict[str, int] = field(default_factory=dict)
    yaml: str | None = None
    message: str = ""
    is_fallback: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    _parsed: Any = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_response(cls, body: dict[str, Any]) -> Prompt:
        return cls(
            id=body["slug"],
            version=body.get("version"),
            label=body.get("label"),
            labels=dict(body.get("labels") or {}),
            spec=dict(body.get("spec") or {}),
            part_contents=dict(body.get("part_contents") or {}),
            parts=dict(body.get("parts") or {}),
            yaml=body.get("yaml"),
            message=body.get("message") or "",
            raw=body,
        )

    # --- what the spec says --------------------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        """The model configuration: provider, model, temperature, max_tokens, …"""
        return dict(self.spec.get("model") or {})

    @property
    def inputs(self) -> dict[str, Any]:
        return dict(self.spec.get("inputs") or {})

    @property
    def tools(self) -> list[dict[str, Any]]:
        return list(self.spec.get("tools") or [])

    @property
    def template(self) -> str | None:
        return self.spec.get("template")

    @property
    def description(self) -> str:
        return self.spec.get("description") or ""

    # --- rendering ---------------------------------------------------------------------------

    def _spec(self):
        if self._parsed is None:
            from tenantry.prompts.spec import load_dict

            self._parsed = load_dict(self.spec)
        return self._parsed

    def render(self, **inputs: Any):
        """Render here, without a request: the same sandbox, input coercion and pinned parts as
        the server's ``/render``. Returns an object with ``text`` (a template prompt) or
        ``messages`` (a chat prompt) and ``to_dict()``. Bad inputs raise ValidationError."""
        from tenantry.core.errors import ValidationFailed
        from tenantry.prompts.inputs import coerce_inputs
        from tenantry.prompts.sandbox import render

        try:
            spec = self._spec()
            values = coerce_inputs(spec.inputs, inputs, allow_extra=self.is_fallback)
            if self.is_fallback:  # a bare-template fallback declares nothing: pass inputs through
                values = {k: v for k, v in inputs.items() if k not in spec.inputs} | values
            return render(spec, values, self.part_contents)
        except ValidationFailed as exc:
            raise ValidationError(
                f"{exc.detail} (rendering prompt '{self.id}' locally)",
                status=None,
                detail=exc.detail,
                problem={"detail": exc.detail, "errors": exc.errors},
            ) from None

    def messages(self, **inputs: Any) -> list[dict[str, str]]:
        """The chat messages to send: a template prompt becomes one user message."""
        rendered = self.render(**inputs)
        if rendered.messages is not None:
            return rendered.messages
        return [{"role": "user", "content": rendered.text or ""}]


def fallback_prompt(prompt_id: str, fallback: Any, label: str | None) -> Prompt:
    """A Prompt from what the application shipped: a YAML spec, a spec dict, or a plain
    template string (a string that is not a YAML mapping with ``template``/``messages``)."""
    spec: dict[str, Any]
    if isinstance(fallback, dict):
        spec = dict(fallback)
    elif isinstance(fallback, str):
        spec = _from_text(fallback)
    else:
        raise TypeError("fallback must be a YAML string, a spec dict or a template string")
    spec.setdefault("id", prompt_id)
    try:
        from tenantry.core.errors import ValidationFailed
        from tenantry.prompts.spec import load_dict

        parsed = load_dict(spec)
    except ValidationFailed as exc:
        raise ValidationError(
            f"The fallback for prompt '{prompt_id}' is not a valid prompt: {exc.detail}",
            detail=exc.detail,
            problem={"detail": exc.detail, "errors": exc.errors},
        ) from None
    p = Prompt(
        id=prompt_id,
        version=None,
        label=label,
        labels={},
        spec=parsed.to_dict(),
        is_fallback=True,
    )
    p._parsed = parsed
    return p


def _from_text(text: str) -> dict[str, Any]:
    import yaml

    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        loaded = None
    if isinstance(loaded, dict) and ("template" in loaded or "messages" in loaded):
        return loaded
    return {"template": text}
