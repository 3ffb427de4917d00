"""The prompt registry: render cost in process and over HTTP, and the client's prompt cache.

Every figure is measured in the same run as its baseline:

  1. In-process render  the registry's path for a template with three part includes and ten
                        inputs (``coerce_inputs`` of the declared types, then ``sandbox.render``
                        with the parts: limits, timeout and output budget included) against a
                        plain ``jinja2.Environment().from_string(...)`` of the same text with the
                        includes inlined, compiled once and rendered with the same values.
                        Interleaved chunks, p50 over --iterations. Goal: <= 2x plain Jinja2.
  2. /render over HTTP  ``tenantry serve`` (uvicorn, its own process, a fresh data dir, SQLite)
                        on 127.0.0.1; ``POST /api/v1/orgs/{org}/prompts/{id}/render`` with an API
                        key holding only ``prompts:render``, from one keep-alive httpx client.
                        p50 and p95, with ``GET /healthz`` on the same connection for reference.
  3. Client cache       ``Tenantry.prompts.get`` served from the client's cache against the same
                        call with ``cache_ttl=0`` (a server round trip every time), interleaved.
                        Goal: cached >= 100x faster (p50).

Prints a table of each figure, its goal and PASS/MISS. Exits 0 either way (tests assert; this
reports). Times are of this machine; compare them only within one run.

    .venv/bin/python benchmarks/prompts.py [--iterations 5000] [--requests 1000]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

GOAL_RENDER_RATIO = 2.0
GOAL_CACHE_RATIO = 100.0

PARTS = {
    "intro": "You are Acme Shop's assistant. Answer in {{ language }}.\n",
    "rules": "Rules: be {{ tone }}; use at most {{ max_words }} words; never invent numbers.\n",
    "sign_off": "{% if urgent %}Flag this as urgent.{% endif %} Reply by {{ channel }}.\n",
}
BODY = """{% include "intro" %}
Customer: {{ customer }} <{{ email }}>, {{ tier }} tier since {{ since }}.
{% include "rules" %}
Orders ({{ orders | length }}):
{% for o in orders %}- #{{ o.id }}: {{ o.status }}, {{ o.amount }} EUR
{% endfor %}
Summarise them for {{ customer }}.
{% include "sign_off" %}"""
SPEC_YAML = """id: bench-summary
description: Three includes, ten inputs
inputs:
  customer: string
  email: string
  tier: {type: enum, values: [bronze, silver, gold]}
  since: string
  orders: array<object>
  tone: {type: enum, values: [friendly, formal], default: friendly}
  language: {type: string, default: English}
  max_words: {type: integer, default: 120}
  channel: {type: enum, values: [email, chat]}
  urgent: {type: boolean, default: false}
template: |-
"""
SPEC_YAML += "".join(f"  {line}\n" if line else "\n" for line in BODY.splitlines())
INPUTS = {
    "customer": "Ada Lovelace",
    "email": "ada@example.com",
    "tier": "gold",
    "since": "2021-03-01",
    "orders": [
        {"id": 1000 + i, "status": ("shipped", "paid")[i % 2], "amount": 12.5 * i} for i in range(5)
    ],
    "tone": "formal",
    "language": "English",
    "max_words": "150",  # as a form or query string sends it: coerced to 150
    "channel": "email",
    "urgent": "true",
}


class Results:
    def __init__(self):
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, figure: str, value: str, goal: str = "", passed: bool | None = None) -> None:
        verdict = "" if passed is None else ("PASS" if passed else "MISS")
        self.rows.append((figure, value, goal, verdict))
        print(f"  {figure}: {value}" + (f"  (goal {goal}: {verdict})" if goal else ""))

    def table(self) -> str:
        heads = ("figure", "measured", "goal", "")
        widths = [max(len(r[i]) for r in [heads, *self.rows]) for i in range(4)]
        out = [
            "  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip(),
            "  ".join("-" * w for w in widths),
        ]
        out += [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in self.rows
        ]
        return "\n".join(out)


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 20 else max(values)


def interleaved(cases: dict, iterations: int, chunk: int = 100) -> dict[str, list[float]]:
    """Run each case ``iterations`` times in alternating chunks; per-call durations."""
    out: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm-up: compile caches, connections
        for _ in range(min(chunk, 20)):
            fn()
    done = 0
    while done < iterations:
        n = min(chunk, iterations - done)
        for name, fn in cases.items():
            for _ in range(n):
                began = time.perf_counter()
                fn()
                out[name].append(time.perf_counter() - began)
        done += n
    return out


# -- 1. in-process render --------------------------------------------------------------------------


def in_process(res: Results, iterations: int) -> None:
    import jinja2

    from tenantry.prompts.inputs import coerce_inputs
    from tenantry.prompts.sandbox import render
    from tenantry.prompts.spec import load_yaml

    print("1. In-process render: three includes, ten inputs")
    spec = load_yaml(SPEC_YAML)
    assert spec.template is not None and len(spec.inputs) == 10

    def registry():
        return render(spec, coerce_inputs(spec.inputs, INPUTS), PARTS).text

    inlined = BODY
    for name, text in PARTS.items():
        inlined = inlined.replace('{% include "' + name + '" %}', text)
    plain_template = jinja2.Environment(keep_trailing_newline=True).from_string(inlined)
    typed = coerce_inputs(spec.inputs, INPUTS)  # the same values, typed once, outside the timing

    def plain():
        return plain_template.render(**typed)

    ours, theirs = registry(), plain()
    if ours != theirs:
        sys.exit(f"the two renders differ:\n{ours!r}\n{theirs!r}")
    cases = {
        "registry": registry,
        "plain": plain,
        "coerce": lambda: coerce_inputs(spec.inputs, INPUTS),
        "sandbox": lambda: render(spec, typed, PARTS),
    }
    timings = interleaved(cases, iterations)
    reg, base = statistics.median(timings["registry"]), statistics.median(timings["plain"])
    res.add("render p50, registry (coerce + sandbox + parts)", us(reg))
    res.add("  of which coerce_inputs alone", us(statistics.median(timings["coerce"])))
    res.add(
        "  of which sandbox.render alone (typed inputs)", us(statistics.median(timings["sandbox"]))
    )
    res.add("render p50, plain Jinja2 (includes inlined)", us(base))
    ratio = reg / base
    res.add("render: registry / plain Jinja2", f"{ratio:.2f}x", f"<= {GOAL_RENDER_RATIO:.0f}x",
            ratio <= GOAL_RENDER_RATIO)  # fmt: skip


# -- 2 and 3. over HTTP ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ok(r: httpx.Response) -> httpx.Response:
    if r.status_code >= 300:
        sys.exit(f"{r.request.method} {r.request.url.path} → {r.status_code}: {r.text}")
    return r


def start_server(data_dir: str, port: int, log) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
    env.update(
        TENANTRY_DATA_DIR=data_dir,
        TENANTRY_SECRET_KEY="bench-" + uuid.uuid4().hex * 2,
        TENANTRY_BCRYPT_ROUNDS="4",
        TENANTRY_LOG_LEVEL="WARNING",
        TENANTRY_SCHEDULER_ENABLED="false",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenantry", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/readyz").status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    sys.exit("server did not become ready")


def setup(base: str) -> tuple[str, str, str]:
    """An owner, an organization, the parts and the prompt; keys to render and to read."""
    with httpx.Client(base_url=base) as c:
        r = ok(c.post("/api/v1/auth/signup", json={"email": "bench@example.com",
                                                    "password": "bench-password"}))  # fmt: skip
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        ok(c.post("/api/v1/orgs", json={"name": "Bench", "slug": "bench"}, headers=h))
        org = "/api/v1/orgs/bench"
        for name, content in PARTS.items():
            ok(c.post(f"{org}/prompt-parts", json={"name": name, "content": content}, headers=h))
        body = {"yaml": SPEC_YAML, "labels": ["production"]}
        ok(c.post(f"{org}/prompts", json=body, headers=h))
        keys = []
        for scope in ("prompts:render", "prompts:read"):
            r = ok(c.post(f"{org}/api-keys", json={"name": scope, "scopes": [scope]}, headers=h))
            keys.append(r.json()["key"])
    return "bench", keys[0], keys[1]


def over_http(res: Results, base: str, org: str, render_key: str, requests: int) -> None:
    print("2. POST …/render over HTTP (uvicorn on loopback, keep-alive)")
    path = f"/api/v1/orgs/{org}/prompts/bench-summary/render"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {render_key}"}) as c:
        expected = ok(c.post(path, json={"inputs": INPUTS})).json()["rendered"]["text"]
        assert "Ada Lovelace" in expected

        def render_call():
            r = c.post(path, json={"inputs": INPUTS})
            if r.status_code != 200:
                raise RuntimeError(r.text)

        def healthz():
            c.get("/healthz")

        timings = interleaved({"render": render_call, "healthz": healthz}, requests, chunk=50)
    render_p50 = statistics.median(timings["render"])
    res.add("/render p50 over HTTP", ms(render_p50))
    res.add("/render p95 over HTTP", ms(p95(timings["render"])))
    res.add("/healthz p50 on the same connection", ms(statistics.median(timings["healthz"])))


def client_cache(res: Results, base: str, org: str, read_key: str, requests: int) -> None:
    from tenantry.client import Tenantry

    print("3. Client: cached get against a server round trip")
    tn = Tenantry(base, read_key, org=org, cache_ttl=3600)
    try:
        first = tn.prompts.get("bench-summary")
        assert first.version == 1 and not first.is_fallback
        local = first.render(**INPUTS).text
        server = tn.prompts.get("bench-summary", cache_ttl=0)
        assert server.spec == first.spec and "Ada Lovelace" in local
        timings = interleaved(
            {
                "cached": lambda: tn.prompts.get("bench-summary"),
                "uncached": lambda: tn.prompts.get("bench-summary", cache_ttl=0),
            },
            requests,
            chunk=50,
        )
        render_local = interleaved({"render": lambda: first.render(**INPUTS)}, requests)["render"]
    finally:
        tn.close()
    cached, uncached = (statistics.median(timings[k]) for k in ("cached", "uncached"))
    res.add("client get p50, cached", us(cached))
    res.add("client get p50, uncached (round trip)", ms(uncached))
    ratio = uncached / cached
    res.add("client get: uncached / cached", f"{ratio:,.0f}x", f">= {GOAL_CACHE_RATIO:.0f}x",
            ratio >= GOAL_CACHE_RATIO)  # fmt: skip
    res.add("client local render p50 (p.render)", us(statistics.median(render_local)))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--iterations", type=int, default=5000, help="in-process renders per case")
    ap.add_argument("--requests", type=int, default=1000, help="HTTP requests per case")
    args = ap.parse_args()
    res = Results()
    in_process(res, args.iterations)
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log_path = Path(data_dir) / "server.log"
        with open(log_path, "w+b") as log:
            proc = start_server(data_dir, port, log)
            try:
                org, render_key, read_key = setup(base)
                over_http(res, base, org, render_key, args.requests)
                client_cache(res, base, org, read_key, args.requests)
            except (SystemExit, Exception):
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace")[-4000:])
                raise
            finally:
                proc.terminate()
                proc.wait(10)
    print()
    print(res.table())


if __name__ == "__main__":
    main()
