"""Uploaded files and a REST API (a real HTTP server on loopback) loaded into the warehouse."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest

from tests.pipelines.helpers import connection, logs, pipeline, query, run, upload

TOKEN = "rest-token-d0n7-l34k"


def test_csv_jsonl_and_parquet_uploads_become_rows(client, settings, world, tmp_path):
    owner, editor = world.people["owner"], world.people["editor"]
    upload(client, editor, world.a, "orders-1.csv", b"id,total\n1,9.5\n2,3.0\n")
    upload(client, editor, world.a, "orders-2.csv", b"id,total\n3,1.0\n")
    upload(client, editor, world.a, "events.jsonl", b'{"id": 1, "kind": "view"}\n{"id": 2}\n')
    parquet = tmp_path / "ids.parquet"
    duckdb.connect().execute(f"COPY (SELECT range AS id FROM range(5)) TO '{parquet}'")
    upload(client, editor, world.a, "ids.parquet", parquet.read_bytes())
    cases = [
        ("uploads/orders-*.csv", "orders", 3, "SELECT count(*), sum(total) FROM raw.orders", 13.5),
        ("uploads/events.jsonl", "events", 2, "SELECT count(*), count(kind) FROM raw.events", 1),
        ("uploads/ids.parquet", "ids", 5, "SELECT count(*), sum(id) FROM raw.ids", 10),
    ]
    for path, table, rows, sql, second in cases:
        source = connection(client, owner, world.a, f"Files {table}", "files", {"path": path})
        p = pipeline(
            client,
            editor,
            world.a,
            f"Load {table}",
            source,
            {"mode": "files", "table_name": table, "write_disposition": "replace"},
        )
        done = run(client, editor, world.a, p["id"])
        assert done["status"] == "succeeded", done["error"]
        assert done["tables"][table]["rows"] == rows
        assert query(client, editor, world.a, sql) == [[rows, second]]


class PagedApi(BaseHTTPRequestHandler):
    """Three pages of customers behind bearer auth, linked by a `next` URL in the body."""

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_response(401)
            self.end_headers()
            return
        parts = urlsplit(self.path)
        page = int(parse_qs(parts.query).get("page", ["1"])[0])
        items = [{"id": page * 10 + i, "name": f"n{page}{i}"} for i in range(4)]
        host = self.headers["Host"]
        nxt = f"http://{host}/v1/customers?page={page + 1}" if page < 3 else None
        body = json.dumps({"data": items, "next": nxt}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def paged_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), PagedApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_rest_source_with_pagination_and_auth(client, settings, world, paged_api):
    settings.allowed_private_networks = "127.0.0.0/8"
    owner, editor = world.people["owner"], world.people["editor"]
    config = {
        "base_url": paged_api,
        "resources": "customers",
        "data_selector": "data",
        "paginator": "json_link",
        "auth": "bearer",
        "token": TOKEN,
    }
    source = connection(client, owner, world.a, "CRM", "rest_api", config)
    p = pipeline(client, editor, world.a, "CRM customers", source, {"mode": "rest"})
    done = run(client, editor, world.a, p["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["tables"]["customers"]["rows"] == 12
    assert query(client, editor, world.a, "SELECT count(*), min(id) FROM raw.customers") == [
        [12, 10]
    ]
    assert TOKEN not in logs(client, editor, world.a, done["id"])


def test_rest_source_refused_by_the_network_guard_at_run_time(client, settings, world, paged_api):
    settings.allowed_private_networks = "127.0.0.0/8"
    owner, editor = world.people["owner"], world.people["editor"]
    config = {"base_url": paged_api, "resources": "customers", "auth": "bearer", "token": TOKEN}
    source = connection(client, owner, world.a, "CRM", "rest_api", config)
    p = pipeline(client, editor, world.a, "CRM", source, {"mode": "rest"})
    settings.allowed_private_networks = None  # the operator withdrew the exemption
    done = run(client, editor, world.a, p["id"])
    assert done["status"] == "failed" and done["error_class"] == "terminal"
    assert "loopback" in done["error"] or "refused" in done["error"]
