"""Building blocks for tests: real sign-ups, organizations and invitations through the API."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi.testclient import TestClient

PASSWORD = "correct-horse-battery"


@dataclass
class Person:
    email: str
    access: str
    refresh: str

    @property
    def h(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


def signup(client: TestClient, email: str, password: str = PASSWORD, name: str = "") -> Person:
    r = client.post(
        "/api/v1/auth/signup", json={"email": email, "password": password, "name": name}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return Person(email, body["access_token"], body["refresh_token"])


def create_org(client: TestClient, owner: Person, name: str, slug: str | None = None) -> dict:
    r = client.post("/api/v1/orgs", json={"name": name, "slug": slug}, headers=owner.h)
    assert r.status_code == 201, r.text
    return r.json()


def invite_token(client: TestClient, by: Person, org: str, email: str, role: str) -> str:
    r = client.post(
        f"/api/v1/orgs/{org}/invitations", json={"email": email, "role": role}, headers=by.h
    )
    assert r.status_code == 201, r.text
    return r.json()["link"].rsplit("/", 1)[1]


def join(client: TestClient, by: Person, org: str, email: str, role: str) -> Person:
    token = invite_token(client, by, org, email, role)
    r = client.post(f"/api/v1/invitations/{token}/signup", json={"password": PASSWORD})
    assert r.status_code == 201, r.text
    return Person(email, r.json()["access_token"], r.json()["refresh_token"])


def api_key(client: TestClient, by: Person, org: str, scopes: list[str], name: str = "k") -> dict:
    r = client.post(
        f"/api/v1/orgs/{org}/api-keys", json={"name": name, "scopes": scopes}, headers=by.h
    )
    assert r.status_code == 201, r.text
    return r.json()


def member_id(client: TestClient, by: Person, org: str, email: str) -> str:
    r = client.get(f"/api/v1/orgs/{org}/members", headers=by.h)
    return next(m["id"] for m in r.json()["items"] if m["email"] == email)


@dataclass
class World:
    """Org A with one person per role, org B with its own owner."""

    a: str
    b: str
    people: dict[str, Person] = field(default_factory=dict)
    b_owner: Person | None = None


def build_world(client: TestClient) -> World:
    owner = signup(client, "owner@a.example")
    create_org(client, owner, "Org A", "org-a")
    world = World(a="org-a", b="org-b", people={"owner": owner})
    for role in ("admin", "editor", "viewer"):
        world.people[role] = join(client, owner, "org-a", f"{role}@a.example", role)
    world.b_owner = signup(client, "owner@b.example")
    create_org(client, world.b_owner, "Org B", "org-b")
    return world
