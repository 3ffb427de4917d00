"""Cost limits of the sandbox: no filter, method, operator or global chain may build a value
beyond the value limit, or run in one uninterruptible step long past the deadline.

Payloads that said how much to build (``slice(n)``, widths, indents, ``round`` digits, a
lazy value drained by ``|list``) are refused by a rule before the work, in milliseconds;
payloads that are merely slow Python or quadratic C are stopped at the deadline. Both
batteries are also run in a fresh interpreter to check that memory stays flat.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tenantry.core.errors import ValidationFailed
from tenantry.prompts.sandbox import render_text

# Each is refused by a rule ("... is not allowed in templates (sandbox)"), before the work.
# Unguarded, the first alone ran ~3 s and reached ~560 MB; slice(10**8) would exhaust memory.
REFUSED = [
    # lazy filters whose size argument was never checked, drained in one C call
    "{{ [1]|slice(3000000)|list|length }}",
    "{{ [1]|slice(10**8)|list }}",
    "{{ [1]|slice(100000, data.text)|list }}",
    "{{ [1]|batch(10**9, 'x')|list }}",
    "{{ [1, 2]|batch(1000, data.text)|list }}",
    # lazy values that build a big item each, drained by whatever consumes them
    "{{ range(10000)|map('string')|map('center', 999999)|list }}",
    "{{ range(10000)|map('string')|map('center', 999999)|join }}",
    "{{ ''.join(range(10000)|map('string')|map('center', 999999)) }}",
    "{{ dict.fromkeys(range(10000)|map('string')|map('center', 999999)) }}",
    "{{ range(10000)|map('string')|map('center', 999999)|batch(2)|list }}",
    "{{ range(10000)|map('string')|map('center', 999999)|sort }}",
    "{{ range(10000)|map('string')|select|map('center', 999999)|unique|list }}",
    # numbers that print long
    "{{ [10**4000] * 1000 }}",
    "{{ 5|round(-10**8) }}",
    "{{ 1.5|round(10**8, 'ceil') }}",
    # indents and widths
    "{{ [1, 2, 3]|tojson(10**8) }}",
    "{{ 'x'|tojson(10**9) }}",
    "{{ data|json(indent=10**8) }}",
    "{{ ([[0] * 999] * 1000)|json(indent=32) }}",
    "{{ 5|center(10**9) }}",
    "{{ 5|indent(10**9) }}",
    "{{ 'x'.ljust(10**9) }}",
    "{{ 'x'.rjust(10**9) }}",
    "{{ 'x'.zfill(10**9) }}",
    "{{ 'x\\t'.expandtabs(10**9) }}",
    # format strings: every width counts, and so does a value's longest form
    "{{ '{:>1000000000}'.format(1) }}",
    "{{ ('{0:99999}' * 1000).format(1) }}",
    "{{ ('%(a)99999d' * 1000) % {'a': 1} }}",
    "{{ ('%(a)99999s' * 1000)|format(a=1) }}",
    "{{ ('{0:f}' * 100000).format(1e300) }}",
    "{{ ['%0999999999d']|format(1) }}",
    "{{ '%(a)0999999999d' % {'a': 1} }}",
    "{{ ('{a}' * 300000).format_map(namespace(a=data.text)) }}",
    "{{ ('%(a)s' * 150000) % namespace(a=data.text) }}",
    # replacement amplification
    "{{ data.text.translate({121: data.text * 2}) }}",
    "{{ (10**4000)|replace('', data.text) }}",
    "{{ data.text|replace(old='', new=data.text) }}",
    "{{ ('1' * 1000)|replace(1, data.text * 2) }}",
    # bytes get the same limits as str
    "{{ 'a'.encode() * 10**9 }}",
    "{{ 'a'.encode().center(10**9) }}",
    "{{ '%0999999999d'.encode() % 1 }}",
    "{{ data.text.encode().replace(''.encode(), data.text.encode()) }}",
    # slow Python filters: bounded work
    "{{ ('a' * 1000000)|wordwrap(1) }}",
    "{{ ('ab ' * 1000)|wordwrap(1, wrapstring=data.text) }}",
    "{{ ('a.co ' * 200000)|urlize }}",
    "{{ ('www.a.com ' * 1000)|urlize(target=data.text * 10) }}",
    "{{ 'www.a.com'|urlize(extra_schemes=['ab:'] * 200000) }}",
    "{{ ([0] * 1000000)|yaml }}",
    "{{ ([0] * 1000000)|pprint }}",
    "{{ ([0] * 1000000)|tojson(2) }}",
    "{{ ([0] * 1000000)|sort }}",
    "{{ ([0] * 1000000)|groupby('real') }}",
    "{{ dict.fromkeys((range(100000)|list) + (range(100000)|map('string')|list))|dictsort }}",
]

# Slow, but each step checks the deadline: stopped there, not seconds later.
DEADLINE = [
    "{{ ([[1]] * 100000)|sum(start=[])|length }}",  # quadratic list concatenation in C
    "{{ range(100000)|batch(1)|sum(start=[])|length }}",
    "{{ ([0] * 1000000)|select('odd')|list|length }}",
    "{{ ([0] * 1000000)|map('abs')|list|length }}",
    "{{ ([0] * 1000000)|max(attribute='real') }}",
    "{{ ([0] * 99999)|yaml|length }}",
    "{% set ns = namespace(a=none) %}{% set ns.a = ns %}"
    "{{ ([ns] * 1000)|map(attribute=('a.' * 400000) ~ 'a')|list|length }}",
]
DATA = {"text": "y" * 1000}


def failure(source: str, **kwargs) -> dict:
    with pytest.raises(ValidationFailed) as info:
        render_text(source, {"data": DATA}, **kwargs)
    assert info.value.status == 422
    (error,) = info.value.errors
    assert error["field"] == "template"
    return error


@pytest.mark.parametrize("payload", REFUSED)
def test_payload_is_refused_by_a_rule_before_the_work(payload):
    started = time.monotonic()
    error = failure(payload, timeout_seconds=30)  # only a rule can stop these in time
    assert "is not allowed in templates (sandbox)" in error["message"], error["message"]
    assert time.monotonic() - started < 5  # milliseconds when refused; minutes otherwise


@pytest.mark.parametrize("payload", DEADLINE)
def test_slow_payload_stops_at_the_deadline(payload):
    started = time.monotonic()
    error = failure(payload, timeout_seconds=0.1)
    assert "longer than 0.1 s" in error["message"], error["message"]
    assert time.monotonic() - started < 2


_BATTERY = """
import json, resource, sys
from tenantry.core.errors import ValidationFailed
from tenantry.prompts.sandbox import render_text

if sys.platform.startswith("linux"):  # a regression fails with MemoryError, not the machine
    pages = int(open("/proc/self/statm").read().split()[0])
    cap = pages * resource.getpagesize() + (1 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
payloads, data = json.load(sys.stdin)
render_text("{{ x|map('string')|list }}", {"x": [1]})  # imports and first-use caches
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
messages = []
for source, timeout in payloads:
    try:
        render_text(source, {"data": data}, timeout_seconds=timeout)
        messages.append("rendered")
    except ValidationFailed as exc:
        messages.append(exc.errors[0]["message"])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere
print(json.dumps({"grew": (after - before) * scale, "messages": messages}))
"""


def test_memory_stays_flat_across_both_batteries():
    """Peak RSS of a fresh interpreter, so earlier tests can't hide a spike."""
    payloads = [(p, 30) for p in REFUSED] + [(p, 0.1) for p in DEADLINE]
    run = subprocess.run(
        [sys.executable, "-c", _BATTERY],
        input=json.dumps([payloads, DATA]),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(run.stdout)
    for (payload, _), message in zip(payloads, result["messages"], strict=True):
        assert "not allowed" in message or "longer than" in message, (payload, message)
    assert result["grew"] < 100 * 2**20, f"peak RSS grew {result['grew'] / 2**20:.0f} MB"


def test_a_for_loop_over_a_lazy_value_keeps_nothing_so_counts_nothing():
    # 2 MB flow through the loop one item at a time; draining them into a list is refused.
    lazy = "range(1000)|map('string')|map('center', 2000)"
    assert render_text(f"{{% for x in {lazy} %}}{{% endfor %}}ok", {}) == "ok"
    assert "is not allowed" in failure(f"{{{{ {lazy}|list }}}}")["message"]


def test_lazy_values_print_and_refuse_their_internals_as_in_plain_jinja():
    assert render_text("{{ x|map('string') }}", {"x": [1]}).startswith("<generator object")
    e = failure("{{ (range(3)|map('string')).gi_frame }}")
    assert "`gi_frame`" in e["message"] and "(sandbox)" in e["message"]


def test_limits_at_their_edge_are_allowed():
    ok = {
        "{{ [1]|slice(100000)|list|length }}": "100000",
        "{{ (range(3)|batch(100000, 0)|first)|length }}": "100000",
        "{{ 1.23456|round(1000) }}": "1.23456",
        "{{ ('{0:99999}' * 9).format(1)|length }}": "899991",
        "{{ ([0] * 1000)|yaml|length }}": "3999",
        "{{ 'aaa'.translate({97: 'xy'}) }}": "xyxyxy",
    }
    for source, want in ok.items():
        assert render_text(source, {}, max_chars=10**6) == want, source


_PLAIN = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
_VALUES = {"x": list(range(100)), "d": [{"a": i % 3, "b": str(i)} for i in range(60)]}


@pytest.mark.parametrize(
    "source",
    [
        "{{ x|sum }} {{ x|sum(start=5) }} {{ d|sum(attribute='a') }}"
        " {{ [[1], [2]]|sum(start=[]) }}",
        "{{ x|max }} {{ x|min }} {{ d|max(attribute='a') }} {{ d|min(attribute='b') }}",
        "{{ x|unique|list|length }} {{ d|unique(attribute='a')|list|length }}",
        "{{ x|select('odd')|list }} {{ x|reject('odd')|list|length }}"
        " {{ d|selectattr('a', 'eq', 1)|list|length }} {{ d|rejectattr('a')|list|length }}",
        "{{ d|sort(attribute='b')|map(attribute='b')|join(',') }} {{ 'cab'|sort|join }}",
        "{% for g, items in d|groupby('a') %}{{ g }}:{{ items|length }} {% endfor %}",
        "{{ x|batch(7, 'f')|list|last }} {{ x|slice(7, 'f')|list|last }}"
        " {{ 'abcdef'|batch(4)|list }}",
        "{{ x|map('string')|join('-')|length }} {{ x|reverse|list|first }} {{ 'abc'|reverse }}",
        "{% for a in x|map('string')|select('ne', '3') %}{{ a }}{% endfor %}",
        "{% for a in x|batch(40) %}{{ loop.index }}/{{ loop.length }} {% endfor %}",
        "{{ {'b': 1, 'a': 2}|dictsort }} {{ {'b': 1, 'a': 2}|items|list }}"
        " {{ none|map('e')|list }}",
        "{{ x|tojson(2)|length }} {{ d[:2]|tojson }} {{ d[:3]|pprint }}",
        "{{ 'Hello World, this is a long line of text'|wordwrap(10) }}",
        "{{ 'visit www.example.com or http://x.org'|urlize(target='_blank', rel='nofollow') }}",
        "{{ '%-5s|%05.1f|%x'|format('ab', 3.14159, 255) }} {{ '%(a)s!' % {'a': 1} }}",
        "{{ '{0:>6}|{1:.3f}|{0:^7}|{2:,}'.format('ab', 2.5, 1234567) }}",
        "{{ 'ab\\tc'.expandtabs(8) }}{{ 'x'.ljust(5, '.') }}{{ '7'.zfill(4) }}{{ 'ab'.center(6) }}",
        "{{ 'one two'|replace('o', '0') }} {{ 'one two'|replace('o', '0', 1) }}"
        " {{ 'a\nb'|indent }}",
        "{{ 12.345|round(1) }} {{ 12.345|round(1, 'floor') }} {{ 17|round(-1) }}",
        "{{ x|first }} {{ x|last }} {{ x|length }} {{ 'a,b'.split(',')|join('+') }}",
        "{{ dict(x[:6]|batch(2)) }} {{ '-'.join(x[:5]|map('string')) }} {{ 2 ** 100 }}",
        "{{ 'x'.encode() * 3 }} {{ 'abc' * 3 }} {{ [1, 2] * 2 }} {{ '%s=%d' % ('a', 3) }}",
    ],
)
def test_filters_render_as_in_plain_jinja(source):
    assert render_text(source, _VALUES) == _PLAIN.from_string(source).render(**_VALUES)
