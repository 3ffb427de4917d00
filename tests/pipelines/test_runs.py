"""Runs as a user lives them: cancelling, automatic and manual retries, secrets, live logs.

Everything is real: dlt, the warehouse, HTTP servers and a TCP proxy on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import _admin
from tests.pipelines.helpers import (
    connection,
    logs,
    make_sqlite,
    org_dir,
    org_id,
    pipeline,
    query,
    run,
    wait,
)

FINISHED = ("succeeded", "failed", "cancelled")


# --- a paged JSON API on loopback ---------------------------------------------------------


class Api:
    """``pages`` pages of ``per_page`` records at /v1/items, linked by a `next` URL in the body.

    Counts the requests it gets; ``delay`` slows every page down; while ``reject`` is set it
    answers 401 to everyone. With credentials configured, wrong ones get 401 too."""

    def __init__(self, *, pages=3, per_page=5, delay=0.0, token=None, basic=None, api_key=None):
        self.pages, self.per_page, self.delay = pages, per_page, delay
        self.token, self.basic, self.api_key = token, basic, api_key
        self.reject = False
        self.requests = 0
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                api.answer(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def count(self) -> int:
        with self._lock:
            return self.requests

    def _authorized(self, h: BaseHTTPRequestHandler, query: dict) -> bool:
        auth = h.headers.get("Authorization")
        if self.token and auth != f"Bearer {self.token}":
            return False
        if self.basic:
            expected = base64.b64encode(":".join(self.basic).encode()).decode()
            if auth != f"Basic {expected}":
                return False
        if self.api_key:
            name, value = self.api_key
            if query.get(name) != [value]:
                return False
        return True

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests += 1
        parts = urlsplit(h.path)
        query = parse_qs(parts.query)
        if self.reject or not self._authorized(h, query):
            h.send_response(401)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        time.sleep(self.delay)  # a slow API, not a timing assertion
        page = int(query.get("page", ["1"])[0])
        first = (page - 1) * self.per_page
        items = [{"id": first + i, "name": f"item {first + i}"} for i in range(self.per_page)]
        nxt = f"http://{h.headers['Host']}/v1/items?page={page + 1}" if page < self.pages else None
        body = json.dumps({"data": items, "next": nxt}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def apis(settings):
    settings.allowed_private_networks = "127.0.0.0/8"
    made: list[Api] = []

    def make(**kwargs) -> Api:
        made.append(Api(**kwargs))
        return made[-1]

    yield make
    for api in made:
        api.close()


def rest_config(api: Api, **auth) -> dict:
    return {
        "base_url": api.url,
        "resources": "items",
        "data_selector": "data",
        "paginator": "json_link",
        **auth,
    }


def start(client, person, org: str, pipeline_id: str) -> dict:
    r = client.post(f"/api/v1/orgs/{org}/pipelines/{pipeline_id}/run", headers=person.h)
    assert r.status_code == 202, r.text
    return r.json()


def runs_of(client, person, org: str, target_id: str) -> list[dict]:
    r = client.get(f"/api/v1/orgs/{org}/runs", params={"target_id": target_id}, headers=person.h)
    assert r.status_code == 200, r.text
    return sorted(r.json()["items"], key=lambda item: item["attempt"])


def until(condition, *, timeout: float = 30, every: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)
    return value


def warehouse_tables(client, person, org: str) -> set[str]:
    r = client.get(f"/api/v1/orgs/{org}/warehouse", headers=person.h)
    assert r.status_code == 200, r.text
    return {t["name"] for t in r.json()["tables"]}


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- 1. cancel ----------------------------------------------------------------------------


def test_cancel_stops_a_running_load_and_a_manual_retry_loads_everything_once(client, world, apis):
    owner, editor = world.people["owner"], world.people["editor"]
    api = apis(pages=30, per_page=50, delay=0.2)
    source = connection(client, owner, world.a, "Slow API", "rest_api", rest_config(api))
    p = pipeline(client, editor, world.a, "Slow items", source, {"mode": "rest"})

    first = start(client, editor, world.a, p["id"])
    wait(client, editor, world.a, first["id"], until=lambda r: r["status"] != "queued")
    until(lambda: api.count() >= 3, what="a few pages to be served")

    # A second run of the same pipeline waits for the first: it is queued, and cancelling it
    # is immediate — it never starts.
    queued = start(client, editor, world.a, p["id"])
    r = client.post(f"/api/v1/orgs/{world.a}/runs/{queued['id']}/cancel", headers=editor.h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["started_at"] is None
    assert r.json()["finished_at"] is not None
    assert r.json()["error"] == "Cancelled before it started."

    r = client.post(f"/api/v1/orgs/{world.a}/runs/{first['id']}/cancel", headers=editor.h)
    asked_at_cancel = api.count()
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "running" and r.json()["cancel_requested"] is True

    done = wait(client, editor, world.a, first["id"], timeout=30)
    assert done["status"] == "cancelled", done
    assert done["rows_loaded"] == 0 and done["tables"] == {}
    text = logs(client, editor, world.a, first["id"])
    assert "Cancel requested" in text
    assert "Cancelled on request; nothing from this run was loaded." in text
    # Nothing was loaded: the warehouse has no such table.
    assert "items" not in warehouse_tables(client, editor, world.a)
    r = client.post(
        f"/api/v1/orgs/{world.a}/warehouse/query",
        json={"sql": "SELECT count(*) FROM raw.items"},
        headers=editor.h,
    )
    assert r.status_code != 200
    # The API stopped being asked for pages soon after the cancel.
    asked = api.count()
    assert asked - asked_at_cancel <= 8, (asked_at_cancel, asked)
    assert asked < 15

    # Finished runs cannot be cancelled.
    for finished in (first, queued):
        r = client.post(f"/api/v1/orgs/{world.a}/runs/{finished['id']}/cancel", headers=editor.h)
        assert r.status_code == 409, r.text
        assert "nothing to cancel" in r.json()["detail"]

    api.delay = 0
    r = client.post(f"/api/v1/orgs/{world.a}/runs/{first['id']}/retry", headers=editor.h)
    assert r.status_code == 202, r.text
    second = r.json()
    assert second["attempt"] == 2 and second["retry_of_id"] == first["id"]
    assert second["root_id"] == first["id"] and second["trigger"] == "manual"
    second = wait(client, editor, world.a, second["id"], timeout=60)
    assert second["status"] == "succeeded", second["error"]
    assert second["rows_loaded"] == 1500 and second["tables"]["items"]["rows"] == 1500
    assert query(
        client, editor, world.a, "SELECT count(*), count(DISTINCT id), max(id) FROM raw.items"
    ) == [[1500, 1500, 1499]]

    # The cancelled queued run never ran.
    history = client.get(f"/api/v1/orgs/{world.a}/runs/{queued['id']}", headers=editor.h).json()
    assert history["status"] == "cancelled" and history["started_at"] is None
    assert [r["status"] for r in runs_of(client, editor, world.a, p["id"])].count("succeeded") == 1


# --- 2. transient failures retried with backoff -------------------------------------------


class Proxy:
    """A TCP forwarder from a reserved loopback port to ``target``, listening only when told.

    The port is bound from the start (so nothing else takes it) but, until ``listen``, a
    connection to it is refused — a database that is down."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.closed = False

    def listen(self) -> None:
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                down, _ = self.sock.accept()
            except OSError:
                return
            up = socket.create_connection(self.target)
            self.conns += [down, up]
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.closed = True
        for s in [self.sock, *self.conns]:
            s.close()


@pytest.fixture
def pg_orders(requires_postgres):
    schema = "src_" + uuid.uuid4().hex[:8]
    asyncio.run(
        _admin(
            requires_postgres,
            f"CREATE SCHEMA {schema}",
            f"CREATE TABLE {schema}.orders (id int primary key, amount numeric(10,2))",
            f"INSERT INTO {schema}.orders SELECT g, g * 2.5 FROM generate_series(1, 40) g",
        )
    )
    yield requires_postgres, schema
    asyncio.run(_admin(requires_postgres, f"DROP SCHEMA {schema} CASCADE"))


def test_transient_failure_is_retried_after_the_backoff_and_terminal_is_not(
    client, settings, world, pg_orders
):
    url, schema = pg_orders
    parts = urlsplit(url)
    settings.allowed_private_networks = "127.0.0.0/8"
    owner, editor = world.people["owner"], world.people["editor"]
    proxy = Proxy((parts.hostname, parts.port or 5432))
    try:
        config = {
            "host": "127.0.0.1",
            "port": proxy.port,
            "database": parts.path.lstrip("/"),
            "user": parts.username or "postgres",
            "schema_name": schema,
            "sslmode": "disable",
        }
        if parts.password:
            config["password"] = parts.password
        direct = connection(
            client,
            owner,
            world.a,
            "Shop PG",
            "postgres",
            config | {"host": parts.hostname, "port": parts.port or 5432},
        )
        flaky = connection(client, owner, world.a, "Shop PG via proxy", "postgres", config)
        retry = {"max_attempts": 3, "backoff_seconds": 0.5}

        # A table that does not exist is terminal: one attempt, no retry.
        missing = pipeline(
            client,
            editor,
            world.a,
            "Missing",
            direct,
            {"mode": "table", "table": "no_such_table", "retry": retry},
        )
        terminal = run(client, editor, world.a, missing["id"])
        assert terminal["status"] == "failed" and terminal["error_class"] == "terminal"
        assert "no_such_table" in terminal["error"]
        assert "starts in" not in logs(client, editor, world.a, terminal["id"])

        p = pipeline(
            client,
            editor,
            world.a,
            "Orders",
            flaky,
            {"mode": "table", "table": "orders", "retry": retry},
        )
        first = start(client, editor, world.a, p["id"])

        def first_finished():
            body = client.get(f"/api/v1/orgs/{world.a}/runs/{first['id']}", headers=editor.h)
            return body.json()["status"] in FINISHED and body.json()

        first = until(first_finished, timeout=30, every=0.02, what="attempt 1")
        proxy.listen()  # the database is back, well within the 0.5 s backoff

        assert first["status"] == "failed" and first["error_class"] == "transient", first
        assert "could not reach a database" in first["error"], first["error"]
        assert first["attempt"] == 1 and first["max_attempts"] == 3
        assert "Transient error: attempt 2 starts in 0.5 s." in logs(
            client, editor, world.a, first["id"]
        )

        def second_finished():
            attempts = runs_of(client, editor, world.a, p["id"])
            return len(attempts) >= 2 and attempts[1]["status"] in FINISHED and attempts

        attempts = until(second_finished, timeout=30, every=0.1, what="attempt 2")
        second = attempts[1]
        assert [a["id"] for a in attempts[:1]] == [first["id"]] and len(attempts) == 2, attempts
        assert second["status"] == "succeeded", second["error"]
        assert second["attempt"] == 2 and second["trigger"] == "retry"
        assert second["root_id"] == first["id"] and second["retry_of_id"] == first["id"]
        backoff_until = at(first["finished_at"]) + timedelta(seconds=0.5)
        assert at(second["not_before"]) >= backoff_until
        assert at(second["started_at"]) >= at(second["not_before"])
        assert second["rows_loaded"] == 40
        assert query(
            client, editor, world.a, "SELECT count(*), count(DISTINCT id) FROM raw.orders"
        ) == [[40, 40]]
        assert "attempt 2 of 3" in logs(client, editor, world.a, second["id"])

        # Long after it failed, the terminal failure still has its single attempt.
        assert [r["id"] for r in runs_of(client, editor, world.a, missing["id"])] == [
            terminal["id"]
        ]
    finally:
        proxy.close()


# --- 3. secrets ---------------------------------------------------------------------------


def _files_under(root) -> dict[str, bytes]:
    """Every file's bytes, gzip-compressed ones (by content, whatever their name) decompressed."""
    out = {}
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        out[str(path)] = data
        if data[:2] == b"\x1f\x8b":
            out[str(path) + " (decompressed)"] = gzip.decompress(data)
    return out


def assert_no_secret_in_files(root, secrets) -> dict[str, bytes]:
    files = _files_under(root)
    for name, data in files.items():
        for s in secrets:
            assert s.encode() not in data, f"{s[:8]}… is in {name}"
    return files


def test_no_secret_reaches_logs_errors_api_audit_or_the_dlt_working_directory(
    client, settings, world, apis
):
    owner, editor = world.people["owner"], world.people["editor"]
    token = "tok-" + uuid.uuid4().hex
    password = "pw-" + uuid.uuid4().hex
    key = "key-" + uuid.uuid4().hex
    cases = [
        (apis(token=token), {"auth": "bearer", "token": token}),
        (apis(basic=("ada", password)), {"auth": "basic", "username": "ada", "password": password}),
        (
            apis(api_key=("access_key", key)),
            {"auth": "api_key", "api_key_location": "query", "api_key_name": "access_key"}
            | {"api_key": key},
        ),
    ]
    secrets = {token, password, key, base64.b64encode(f"ada:{password}".encode()).decode()}
    seen: list[str] = []  # every API response body fetched

    def get(path: str, person=editor) -> dict:
        r = client.get(f"/api/v1/orgs/{world.a}{path}", headers=person.h)
        assert r.status_code == 200, r.text
        seen.append(r.text)
        return r.json()

    pipelines = []  # (api, connection id, pipeline)
    for n, (api, auth) in enumerate(cases):
        config = rest_config(api, **auth)
        source = connection(client, owner, world.a, f"API {n}", "rest_api", config)
        spec = {"mode": "rest", "table_prefix": f"p{n}_"}
        pipelines.append((api, source, pipeline(client, editor, world.a, f"P{n}", source, spec)))

    for api, _, _ in pipelines:
        api.reject = True  # the API refuses everyone: the credentials "are wrong"
    failed = [run(client, editor, world.a, p["id"]) for _, _, p in pipelines]
    for done in failed:
        assert done["status"] == "failed" and done["error_class"] == "terminal", done
        assert "HTTP 401" in done["error"] and "credentials" in done["error"]
    # The failing URL is shown, with the API key in its query string masked.
    assert "/v1/items?access_key=********;" in failed[2]["error"], failed[2]["error"]

    root = settings.data_dir / "orgs" / org_id(client, owner, world.a) / "pipelines"
    files = assert_no_secret_in_files(root, secrets)  # what the failed runs left behind
    assert sum(name.endswith("/state.json") for name in files) == len(pipelines), sorted(files)

    for api, _, _ in pipelines:
        api.reject = False
    succeeded = [run(client, editor, world.a, p["id"]) for _, _, p in pipelines]
    for n, done in enumerate(succeeded):
        assert done["status"] == "succeeded", done["error"]
        assert done["tables"][f"p{n}_items"]["rows"] == 15

    for _, source, p in pipelines:
        get(f"/runs?target_id={p['id']}")
        get(f"/pipelines/{p['id']}")
        get(f"/connections/{source}")
    get("/pipelines")
    get("/connections")
    for done in failed + succeeded:
        body = get(f"/runs/{done['id']}")
        assert body["status"] == done["status"]
        lines = get(f"/runs/{done['id']}/logs")["lines"]
        assert lines, done
        for line in lines:
            assert not any(s in line["message"] for s in secrets), line
        for s in secrets:
            assert s not in (body["error"] or "")
    audit = get("/audit?size=100", person=owner)
    assert audit["total"] <= 100, "not every audit event was read"
    actions = {e["action"] for e in audit["items"]}
    assert {"connection.create", "pipeline.run"} <= actions, actions
    for text in seen:
        for s in secrets:
            assert s not in text

    files = assert_no_secret_in_files(root, secrets)
    # The scan saw the loaded rows themselves, in dlt's compressed job files.
    assert any(b"item 14" in data for name, data in files.items() if "(decompressed)" in name)


# --- 4. the live log stream ---------------------------------------------------------------


def _events(response) -> list[dict]:
    """Parse a text/event-stream body into [{id, event, data}]."""
    events, current = [], {}
    for line in response.iter_lines():
        if not line:
            if current:
                events.append(current)
            current = {}
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(": ")
            current[name] = json.loads(value) if name == "data" else value
    if current:
        events.append(current)
    return events


def test_log_stream_sends_lines_status_and_the_finished_run_and_resumes(client, settings, world):
    owner, editor = world.people["owner"], world.people["editor"]
    rows = [(i, f"c{i}", float(i), "2024-01-01") for i in range(1, 51)]
    make_sqlite(org_dir(client, settings, owner, world.a) / "shop.sqlite", rows)
    source = connection(client, owner, world.a, "Shop", "sqlite", {"path": "shop.sqlite"})
    p = pipeline(client, editor, world.a, "Orders", source, {"mode": "table", "table": "orders"})
    started = start(client, editor, world.a, p["id"])
    stream = f"/api/v1/orgs/{world.a}/runs/{started['id']}/logs/stream"

    with client.stream("GET", stream, headers=editor.h) as r:  # from the start, live
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = _events(r)

    final = client.get(f"/api/v1/orgs/{world.a}/runs/{started['id']}", headers=editor.h).json()
    assert final["status"] == "succeeded", final["error"]
    stored = client.get(
        f"/api/v1/orgs/{world.a}/runs/{started['id']}/logs", headers=editor.h
    ).json()["lines"]
    lines = [e for e in events if e["event"] == "log"]
    assert [int(e["id"]) for e in lines] == list(range(1, len(stored) + 1))
    assert [e["data"]["message"] for e in lines] == [line["message"] for line in stored]
    assert "Succeeded: 50 rows" in lines[-1]["data"]["message"]
    statuses = [e["data"]["status"] for e in events if e["event"] == "status"]
    assert statuses[-1] == "succeeded" and len(statuses) == len(set(statuses))
    assert events[-1]["event"] == "end" and "id" not in events[-1]
    end = events[-1]["data"]
    assert end["id"] == final["id"] and end["status"] == "succeeded"
    assert end["rows_loaded"] == 50 and end["finished_at"] is not None

    # A reconnecting client resumes after the last event it saw.
    with client.stream("GET", stream, headers=editor.h | {"Last-Event-ID": "3"}) as r:
        resumed = _events(r)
    resumed_lines = [e for e in resumed if e["event"] == "log"]
    assert [int(e["id"]) for e in resumed_lines] == list(range(4, len(stored) + 1))
    assert [e["event"] for e in resumed if e["event"] != "log"] == ["status", "end"]
    assert resumed[-1]["data"]["status"] == "succeeded"
