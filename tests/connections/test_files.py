"""Uploads into an organization's storage, and the files kind reading them as rows."""

from __future__ import annotations

import io

import duckdb


def _upload(client, person, org, name, content: bytes):
    return client.post(
        f"/api/v1/orgs/{org}/files", files={"file": (name, io.BytesIO(content))}, headers=person.h
    )


def test_csv_jsonl_and_parquet_uploads_are_read_as_rows(client, world, tmp_path):
    editor = world.people["editor"]
    r = _upload(client, editor, world.a, "orders-1.csv", b"id,total\n1,9.5\n2,3.0\n")
    assert r.status_code == 201 and r.json()["name"] == "uploads/orders-1.csv"
    _upload(client, editor, world.a, "orders-2.csv", b"id,total\n3,1.0\n")
    _upload(
        client,
        editor,
        world.a,
        "events.jsonl",
        b'{"id": 1, "kind": "view"}\n{"id": 2, "kind": "buy"}\n',
    )
    parquet = tmp_path / "p.parquet"
    duckdb.connect().execute(
        f"COPY (SELECT range AS id FROM range(5)) TO '{parquet}' (FORMAT parquet)"
    )
    _upload(client, editor, world.a, "ids.parquet", parquet.read_bytes())
    names = [
        f["name"]
        for f in client.get(
            f"/api/v1/orgs/{world.a}/files", headers=world.people["viewer"].h
        ).json()["items"]
    ]
    assert names == [
        "uploads/events.jsonl",
        "uploads/ids.parquet",
        "uploads/orders-1.csv",
        "uploads/orders-2.csv",
    ]

    def test(path, fmt="auto"):
        r = client.post(
            f"/api/v1/orgs/{world.a}/connections/test",
            json={"kind": "files", "config": {"path": path, "format": fmt}},
            headers=editor.h,
        )
        return r.json()

    orders = test("uploads/orders-*.csv")
    assert orders["ok"] is True
    assert orders["message"].startswith("2 file(s), 3 row(s); columns id, total")
    assert test("uploads/events.jsonl")["message"].startswith(
        "1 file(s), 2 row(s); columns id, kind"
    )
    assert test("uploads/ids.parquet")["message"].startswith("1 file(s), 5 row(s)")
    missing = test("uploads/nothing-*.csv")
    assert missing["ok"] is False and "no file" in missing["message"]


def test_uploads_are_limited_named_safely_and_kept_apart(client, world, settings):
    editor = world.people["editor"]
    settings.upload_max_bytes = 1024
    r = _upload(client, editor, world.a, "big.csv", b"x" * 5000)
    assert r.status_code == 413 and r.json()["errors"][0]["field"] == "file"
    for bad in ("../../etc/evil.csv", "run.sh", ".hidden.csv"):
        r = _upload(client, editor, world.a, bad, b"a\n1\n")
        if bad.startswith("../"):  # the path part is dropped: it lands as uploads/evil.csv
            assert r.status_code == 201 and r.json()["name"] == "uploads/evil.csv"
        else:
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    files = client.get(f"/api/v1/orgs/{world.a}/files", headers=editor.h).json()["items"]
    assert [f["name"] for f in files] == ["uploads/evil.csv"]  # nothing partial left behind
    assert (
        client.get(f"/api/v1/orgs/{world.b}/files", headers=world.b_owner.h).json()["items"] == []
    )
    assert _upload(client, world.people["viewer"], world.a, "v.csv", b"a\n").status_code == 403
    assert (
        client.delete(
            f"/api/v1/orgs/{world.a}/files/uploads/evil.csv", headers=editor.h
        ).status_code
        == 204
    )
    assert (
        client.delete(
            f"/api/v1/orgs/{world.a}/files/uploads/evil.csv", headers=editor.h
        ).status_code
        == 404
    )
    assert client.delete(
        f"/api/v1/orgs/{world.a}/files/../../../etc/passwd", headers=editor.h
    ).status_code in (404, 422)


def test_files_page_uploads_lists_and_deletes(client, world):
    from tests.web.test_pages import browser_login, form_token

    browser_login(client, "editor@a.example")
    page = f"/o/{world.a}/files"
    token = form_token(client, page)
    r = client.post(
        page,
        data={"csrf_token": token},
        files={"file": ("orders.csv", io.BytesIO(b"id\n1\n"))},
        follow_redirects=False,
    )
    assert r.status_code == 303
    listing = client.get(page).text
    assert "uploads/orders.csv" in listing and 'data-testid="upload-form"' in listing
    r = client.post(page, data={"csrf_token": token}, files={"file": ("evil.sh", io.BytesIO(b"x"))})
    assert r.status_code == 422 and "plain file name" in r.text
    r = client.post(
        f"{page}/delete",
        data={"csrf_token": token, "name": "uploads/orders.csv"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "No files yet" in client.get(page).text
    browser_login(client, "viewer@a.example")
    assert 'data-testid="upload-form"' not in client.get(page).text
