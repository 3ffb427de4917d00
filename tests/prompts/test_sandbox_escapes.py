"""Known Jinja2 sandbox-escape payloads: every one is refused with a clear error, never run."""

from __future__ import annotations

import pytest

from tenantry.core.errors import ValidationFailed
from tenantry.prompts.sandbox import render_text
from tenantry.prompts.validate import validate_yaml

# {CMD} is replaced by a command that would create a file: its absence proves nothing ran.
PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ x.__dict__ }}",
    "{{ x.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('{CMD}').read() }}",
    "{{ joiner.__init__.__globals__.os.popen('{CMD}').read() }}",
    "{{ namespace.__init__.__globals__.os.popen('{CMD}').read() }}",
    "{{ lipsum.__globals__['os'].popen('{CMD}').read() }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('{CMD}') }}",
    "{{ request.application.__globals__.__builtins__.__import__('os').popen('{CMD}') }}",
    "{{ config.items() }}",
    "{{ request }}",
    "{{ ''|attr('__class__') }}",
    "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ ''|attr('_' ~ '_class_' ~ '_') }}",
    "{{ ''|attr('%c%cclass%c%c'|format(95, 95, 95, 95)) }}",
    "{{ x['__class__'] }}",
    "{{ '{0.__class__}'.format(x) }}",
    "{{ ('{0._' ~ '_class__.__init__.__globals__}').format(cycler) }}",
    "{{ ('{a._' ~ '_class__}').format_map({'a': x}) }}",
    "{{ range(10**10)|list }}",
    "{{ 'a' * 10**9 }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '%0999999999d'|format(1) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ 'x'|center(999999999) }}",
    "{% set x = [].append %}",
    "{% set d = {} %}{{ d.update({'a': 1}) }}",
    "{{ dict.update(data, {'owned': 1}) }}",
    "{{ data.clear() }}",
    "{{ dict.mro() }}",
    "{{ namespace.mro() }}",
    "{{ (range(3)|map('string')).gi_frame.f_globals }}",
    "{% for i in [1] %}{{ loop.__class__ }}{% endfor %}",
    "{{ range.__self__ }}",
    "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}",
    "{% macro d(s, n) %}{% if n %}{% set t %}{{ s }}{{ s }}{% endset %}{{ d(t, n - 1) }}"
    "{% endif %}{% endmacro %}{{ d('ab', 40) }}",
    "{{ data['text'].replace('', data['text'] * 1000) }}",
    # Memory: a container holding one big string many times prints it many times.
    "{{ [data.text] * 2000 }}",
    "{% set t = data.text * 999 %}{{ [t, t] }}",
    "{% set t = data.text * 999 %}{{ '%s%s%s' % (t, t, t) }}",
    "{% set t = data.text * 999 %}{{ [[t, t]]|join }}",
    "{% set t = data.text * 999 %}{{ ''.join([1, 1, 1]|map('string')|map('replace', '1', t)) }}",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_is_refused_without_side_effects(payload, tmp_path):
    marker = tmp_path / "pwned"
    source = payload.replace("{CMD}", f"touch {marker}")
    data = {"text": "y" * 1000}
    with pytest.raises(ValidationFailed) as info:
        render_text(source, {"x": 1, "data": data})
    assert info.value.status == 422
    (error,) = info.value.errors
    assert error["field"] == "template"
    assert "is not allowed in templates (sandbox)" in error["message"], error["message"]
    assert not marker.exists()
    assert data == {"text": "y" * 1000}  # inputs were not mutated


# Names split across strings or computed are only caught when rendering (above).
@pytest.mark.parametrize(
    "payload", [p for p in PAYLOADS if "__" in p and "' ~ '" not in p and "%c" not in p]
)
def test_dunder_payloads_are_found_statically(payload):
    yaml = "id: p\ninputs: {x: integer, data: object}\ntemplate: " + repr(payload) + "\n"
    kinds = {p["kind"] for p in validate_yaml(yaml.replace("{CMD}", "id"), {})}
    assert "sandbox" in kinds


def test_framework_names_are_fine_when_they_are_real_inputs():
    assert render_text("{{ config.mode }}", {"config": {"mode": "fast"}}) == "fast"


def test_the_command_payload_is_real_outside_the_sandbox(tmp_path):
    """Control: plain Jinja2 does run it, so the absence of the file above means something."""
    import jinja2

    marker = tmp_path / "pwned"
    payload = "{{ cycler.__init__.__globals__.os.popen('{CMD}').read() }}"
    jinja2.Environment().from_string(payload.replace("{CMD}", f"touch {marker}")).render()
    assert marker.exists()
