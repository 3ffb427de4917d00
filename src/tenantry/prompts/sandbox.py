"""Rendering user templates safely: Jinja2's immutable sandbox plus limits.

Templates are tenant-written code. The sandbox blocks Python internals; on top of it every
for-loop, call and filter checks a deadline (so loops that print nothing still stop), every
intermediate string is size-checked (so memory can't explode before the output limit is hit),
and any refusal becomes a ValidationFailed naming where (``template``, ``messages[1].content``)
and the line. Parts (reusable snippets) are passed per render, so a prompt version renders
with exactly the part versions it pinned.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator, optimizeconst
from jinja2.exceptions import (
    SecurityError,
    TemplateNotFound,
    TemplatesNotFound,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.loaders import BaseLoader
from jinja2.parser import Parser
from jinja2.runtime import StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Cycler, Joiner, Namespace

from tenantry.core.errors import ValidationFailed
from tenantry.prompts import sandbox_checks as checks
from tenantry.prompts import sandbox_limits as limits
from tenantry.prompts.sandbox_filters import FILTERS, ITER
from tenantry.prompts.sandbox_limits import Refused
from tenantry.prompts.spec import PromptSpec

# Names from web frameworks and Python that templates can't reach; named in the error so
# "{{ config }}"-style probes get a clear answer rather than a plain undefined variable.
FORBIDDEN_NAMES = frozenset(
    {"request", "config", "session", "g", "url_for", "lipsum", "os", "sys", "subprocess"}
    | {"__builtins__", "__import__", "builtins", "eval", "exec", "open", "getattr", "globals"}
)
GLOBAL_NAMES = frozenset({"range", "dict", "namespace", "cycler", "joiner"})
_DUNDER = re.compile(r"(?:^|[.\[])__\w+__")


# --- the environment ------------------------------------------------------------------------


class _CodeGen(CodeGenerator):
    def buffer(self, frame: Any) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.tenantry_buffer()")

    # {{ expression }} output: one call to limits.text (it checks what finalize did) instead of
    # str(environment.finalize(...)). Autoescape blocks keep Jinja's code.
    def _output_child_pre(self, node: nodes.Expr, frame: Any, finalize: Any) -> None:
        if frame.eval_ctx.volatile or frame.eval_ctx.autoescape:
            return super()._output_child_pre(node, frame, finalize)
        self.write("environment.tenantry_text(")

    def _output_child_post(self, node: nodes.Expr, frame: Any, finalize: Any) -> None:
        if frame.eval_ctx.volatile or frame.eval_ctx.autoescape:
            return super()._output_child_post(node, frame, finalize)
        self.write(")")

    def visit_Include(self, node: nodes.Include, frame: Any) -> None:
        # As Jinja's, but delegating with ``yield from`` (in C) instead of re-yielding every
        # chunk of the part from a Python loop; ``yield from`` closes the part's generator too.
        # Other forms (ignore missing, without context, inside a macro or set block) as Jinja.
        if frame.buffer is not None or node.ignore_missing or not node.with_context:
            super().visit_Include(node, frame)
            return
        literal = isinstance(node.template, nodes.Const) and isinstance(node.template.value, str)
        func = "get_template" if literal else "get_or_select_template"
        self.writeline(f"template = environment.{func}(", node)
        self.visit(node.template, frame)
        self.write(f", {self.name!r})")
        self.writeline(
            "yield from template.root_render_func(template.new_context(context.get_all(), True,"
            f" {self.dump_local_context(frame)}))"
        )

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Any) -> None:
        self.write("environment.tenantry_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _PartsLoader(BaseLoader):
    def __init__(self, parts: dict[str, str]):
        self.parts = parts

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Callable[[], bool]]:
        if template not in self.parts:
            raise TemplateNotFound(template)
        return self.parts[template], f"<part:{template}>", lambda: True


def sandbox_problems(tree: nodes.Template) -> list[tuple[int, str]]:
    """Obviously forbidden attribute access, found without running anything."""
    found = []
    for node in tree.find_all((nodes.Getattr, nodes.Const)):
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            found.append((node.lineno, f"attribute `{node.attr}`"))
        elif isinstance(node, nodes.Const) and _DUNDER.search(str(node.value)):
            found.append((node.lineno, f"'{str(node.value)[:60]}'"))
    return [(line, f"{what} is not allowed in templates (sandbox)") for line, what in found]


class _Env(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGen
    intercepted_binops = frozenset({"+", "*", "**", "%"})
    tenantry_buffer = staticmethod(limits.Buffer)
    tenantry_concat = staticmethod(limits.concat)
    tenantry_text = staticmethod(limits.text)

    def __init__(self, parts: dict[str, str]):
        super().__init__(
            loader=_PartsLoader(parts),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            finalize=limits.finalize,
            auto_reload=False,  # parts of one environment never change
        )
        self.filters = dict(FILTERS)
        self.globals = {
            "range": checks.safe_range, "dict": dict, "namespace": Namespace, "cycler": Cycler,
            "joiner": Joiner,
        }  # fmt: skip
        self._loaded: dict[str, Any] = {}  # part name -> its template; see get_template

    def make_globals(self, d: Any) -> dict[str, Any]:
        # A plain dict, not Jinja's ChainMap over the environment's globals: every render and
        # include copies the globals into a new context, and iterating a ChainMap is slow
        # Python. The globals never change after __init__, so nothing is lost.
        return {**self.globals, **(d or {})}

    def get_template(self, name: Any, parent: str | None = None, globals: Any = None) -> Any:
        # Memoised in a plain dict (Jinja's LRU cache takes a lock, builds a weakref per call):
        # the parts of an environment never change, and only names that exist get in.
        # join_path is not overridden, so ``parent`` never changes which part a name means.
        found = self._loaded.get(name) if globals is None and isinstance(name, str) else None
        if found is None:
            found = super().get_template(name, parent, globals)
            if globals is None and isinstance(name, str):
                self._loaded[name] = found
        return found

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for lineno, message in sandbox_problems(tree):
            raise Refused(message, lineno=lineno, name=name)
        for loop in tree.find_all(nodes.For):  # every loop ticks the deadline
            loop.iter = nodes.Filter(loop.iter, ITER, [], [], None, None, lineno=loop.lineno)
        return tree

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # Unbound methods of classes (dict.update(x, ...)) would bypass the immutable sandbox.
        if isinstance(obj, type):
            return attr == "fromkeys" and obj is dict
        return super().is_safe_attribute(obj, attr, value)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # Raise at once: an Undefined would only fail if used, and could go unnoticed.
        raise SecurityError(f"access to attribute `{attribute}` of a {type(obj).__name__} value")

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        limits.tick()
        target = getattr(obj, "__wrapped__", obj)  # str.format arrives wrapped by the sandbox
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str | bytes | bytearray):
            args = checks.check_method(getattr(target, "__name__", ""), owner, args, kwargs)
        return limits.sized(super().call(context, obj, *args, **kwargs))

    def getitem(self, obj: Any, argument: Any) -> Any:
        # Also what filters' attribute= arguments (sort, groupby, map, sum...) go through, once
        # per item and per dotted part: Python loops that would otherwise never tick.
        limits.tick()
        return super().getitem(obj, argument)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        checks.check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)


# --- compile cache --------------------------------------------------------------------------


@dataclass
class _Compiled:
    template: Any
    forbidden: frozenset[str]  # FORBIDDEN_NAMES it reads: refused unless given as variables


_lock = threading.Lock()
_envs: OrderedDict[tuple[tuple[str, str], ...], _Env] = OrderedDict()
_compiled: OrderedDict[tuple[Any, str], _Compiled] = OrderedDict()
_ENV_CACHE, _TEMPLATE_CACHE = 64, 512
_PLAIN = _Env({})  # for parsing only (validation, meta)


def _lru_get(cache: OrderedDict, key: Any) -> Any:
    with _lock:
        value = cache.get(key)
        if value is not None:
            cache.move_to_end(key)
        return value


def _lru_put(cache: OrderedDict, key: Any, value: Any, size: int) -> None:
    with _lock:
        cache[key] = value
        while len(cache) > size:
            cache.popitem(last=False)


def _parts_key(parts: dict[str, str]) -> tuple[tuple[str, str], ...]:
    # The parts' content, not their names: pinned versions with different text must never
    # share a compiled include. Computed once per render call, not once per message.
    return tuple(sorted(parts.items()))


def _compile(source: str, parts: dict[str, str], parts_key: tuple) -> _Compiled:
    key = (parts_key, source)
    found = _lru_get(_compiled, key)
    if found is not None:
        return found
    env = _lru_get(_envs, parts_key)
    if env is None:
        env = _Env(dict(parts))
        _lru_put(_envs, parts_key, env, _ENV_CACHE)
    tree = env._parse(source, None, "<prompt>")
    used = meta.find_undeclared_variables(tree)
    code = env.compile(tree, filename="<prompt>")
    template = env.template_class.from_code(env, code, env.make_globals(None), None)
    found = _Compiled(template, frozenset(used & FORBIDDEN_NAMES))
    _lru_put(_compiled, key, found, _TEMPLATE_CACHE)
    return found


# --- rendering ------------------------------------------------------------------------------


@dataclass
class Rendered:
    text: str | None = None
    messages: list[dict[str, str]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "messages": self.messages}


def _location(exc: BaseException) -> tuple[str | None, int | None]:
    """(part name or None for the rendered source, template line) of the innermost template
    frame in the traceback."""
    part, line = None, None
    tb = exc.__traceback__
    while tb is not None:
        tmpl = tb.tb_frame.f_globals.get("__jinja_template__")
        if tmpl is not None:
            part, line = tmpl.name, tmpl.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return part, line


def _failure(exc: Exception, where: str, parts: dict[str, str]) -> ValidationFailed:
    part, line = _location(exc)
    if isinstance(exc, Refused | TemplateSyntaxError) and exc.lineno:
        part, line = exc.name, exc.lineno
    if isinstance(exc, Refused):
        message = exc.message
    elif isinstance(exc, SecurityError):
        message = f"{str(exc).removesuffix(' is unsafe.')} is not allowed in templates (sandbox)"
    elif isinstance(exc, TemplateSyntaxError):
        message = f"syntax error: {exc.message}"
    elif isinstance(exc, TemplatesNotFound | TemplateNotFound):
        names = getattr(exc, "templates", None) or [exc.name]
        known = ", ".join(sorted(parts)) or "none"
        message = f"unknown part '{names[-1]}' (known parts: {known}); create it or fix the name"
    elif isinstance(exc, UndefinedError):
        m = re.fullmatch(r"'([^']+)' is undefined", str(exc))
        message = (
            f"undefined variable `{m[1]}`; declare it under inputs (inputs.{m[1]}) or pass it"
            if m
            else f"undefined value: {exc}"
        )
    elif isinstance(exc, RecursionError):
        message = "templates may not recurse this deep (a macro calling itself?)"
    elif isinstance(exc, MemoryError):
        message = "rendering ran out of memory; simplify the template"
    else:
        message = f"rendering failed: {type(exc).__name__}: {exc}"
    at = f" (part '{part}', line {line})" if part else f" (line {line})" if line else ""
    error = {"field": where, "message": message + at, "line": line}
    if part:
        error["part"] = part
    return ValidationFailed(f"{where}: {message}{at}", errors=[error])


def _render(
    source: str,
    variables: dict[str, Any],
    parts: dict[str, str],
    parts_key: tuple,
    where: str,
    budget: Any,
) -> str:
    token = limits.BUDGET.set(budget)
    try:
        compiled = _compile(source, parts, parts_key)
        for name in compiled.forbidden:
            if name not in variables:
                raise Refused(f"`{name}` is not allowed in templates (sandbox)")
        tmpl = compiled.template
        out, remaining = [], budget.remaining
        stream = tmpl.root_render_func(tmpl.new_context(variables))
        try:
            for chunk in stream:
                remaining -= len(chunk)
                if remaining < 0:
                    raise Refused(
                        f"the rendered output is longer than the limit of {budget.max_chars:,}"
                        " characters; shorten the template or its inputs"
                    )
                out.append(chunk)
        finally:
            stream.close()
        budget.remaining = remaining
        return "".join(out)
    except ValidationFailed:
        raise
    except Exception as exc:
        raise _failure(exc, where, parts) from None
    finally:
        limits.BUDGET.reset(token)


def render_text(
    source: str,
    variables: dict[str, Any],
    parts: dict[str, str] | None = None,
    *,
    where: str = "template",
    max_chars: int = 100_000,
    timeout_seconds: float = 2.0,
) -> str:
    parts = parts or {}
    budget = limits.start(max_chars, timeout_seconds)
    return _render(source, variables, parts, _parts_key(parts), where, budget)


def render(
    spec: PromptSpec,
    inputs: dict[str, Any],
    parts: dict[str, str] | None = None,
    *,
    max_chars: int = 100_000,
    timeout_seconds: float = 2.0,
) -> Rendered:
    """Render a prompt with already-coerced inputs; limits apply to the prompt as a whole."""
    parts = parts or {}
    key, budget = _parts_key(parts), limits.start(max_chars, timeout_seconds)
    if spec.template is not None:
        return Rendered(text=_render(spec.template, inputs, parts, key, "template", budget))
    messages = []
    for i, m in enumerate(spec.messages or []):
        text = _render(m.content, inputs, parts, key, f"messages[{i}].content", budget)
        messages.append({"role": m.role, "content": text})
    return Rendered(messages=messages)


# --- static analysis ------------------------------------------------------------------------


def parse(source: str, name: str | None = None) -> nodes.Template:
    """The untransformed AST; raises TemplateSyntaxError, also for what only code generation
    finds (an unknown filter or test)."""
    tree = Parser(_PLAIN, source, name, None).parse()
    _PLAIN._generate(tree, name, None)
    return tree


def _syntax_failed(exc: TemplateSyntaxError, where: str) -> ValidationFailed:
    message = f"syntax error at line {exc.lineno}: {exc.message}"
    return ValidationFailed(
        f"{where}: {message}", errors=[{"field": where, "message": message, "line": exc.lineno}]
    )


def referenced_parts(source: str) -> set[str]:
    """Part names a source includes/imports by a literal name (dynamic names can't be known)."""
    try:
        tree = parse(source)
    except TemplateSyntaxError as exc:
        raise _syntax_failed(exc, "template") from None
    return {name for name in meta.find_referenced_templates(tree) if name is not None}


def variables_used(source: str) -> set[str]:
    try:
        tree = parse(source)
    except TemplateSyntaxError as exc:
        raise _syntax_failed(exc, "template") from None
    return set(meta.find_undeclared_variables(tree)) - GLOBAL_NAMES


def spec_sources(spec: PromptSpec) -> list[tuple[str, str]]:
    """(where, source) of every template text in a spec."""
    if spec.template is not None:
        return [("template", spec.template)]
    return [(f"messages[{i}].content", m.content) for i, m in enumerate(spec.messages or [])]


def parts_used(spec: PromptSpec, parts_lookup: Callable[[str], str | None]) -> set[str]:
    """Every existing part the spec includes, transitively: the set to pin at save time.
    Unknown or unparsable parts are skipped (validation reports them)."""
    found: set[str] = set()
    todo = [source for _, source in spec_sources(spec)]
    while todo:
        try:
            names = referenced_parts(todo.pop())
        except ValidationFailed:
            continue
        for name in names - found:
            content = parts_lookup(name)
            if content is not None:
                found.add(name)
                todo.append(content)
    return found
