"""What authentication + tenancy resolution cost per request, against /healthz in the same run.

Starts one uvicorn process (`tenantry serve`) on loopback, signs up a user, creates an
organization and an API key, then drives three endpoints with the same concurrent client,
interleaved in rounds so machine noise hits all three alike:

  /healthz                      no auth, no database
  GET /api/v1/orgs/{org}  JWT   verify the JWT, resolve org + membership (one query)
  GET /api/v1/orgs/{org}  key   HMAC the key, resolve key + org (one query)

Prints requests/s and p50 latency for each, and the ratios. Goal: ratio <= 1.5.

    .venv/bin/python benchmarks/api_overhead.py [--requests 2000] [--concurrency 8]
    TENANTRY_DATABASE_URL=postgresql://… .venv/bin/python benchmarks/api_overhead.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import httpx

CLK_TCK = os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the server process: its cost, whatever the client costs."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_ready(base: str, proc: subprocess.Popen) -> None:
    async with httpx.AsyncClient() as c:
        for _ in range(300):
            if proc.poll() is not None:
                sys.exit(f"server exited with {proc.returncode}")
            try:
                if (await c.get(base + "/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    sys.exit("server did not become ready")


async def setup(base: str) -> tuple[dict, dict, str]:
    run = uuid.uuid4().hex[:8]  # a reused PostgreSQL database keeps earlier runs' data
    async with httpx.AsyncClient(base_url=base) as c:
        r = await c.post(
            "/api/v1/auth/signup",
            json={"email": f"bench-{run}@example.com", "password": "bench-password"},
        )
        r.raise_for_status()
        jwt_h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        slug = f"bench-{run}"
        (
            await c.post("/api/v1/orgs", json={"name": "Bench", "slug": slug}, headers=jwt_h)
        ).raise_for_status()
        r = await c.post(
            f"/api/v1/orgs/{slug}/api-keys",
            json={"name": "bench", "scopes": ["read"]},
            headers=jwt_h,
        )
        r.raise_for_status()
        key_h = {"Authorization": f"Bearer {r.json()['key']}"}
    return jwt_h, key_h, f"/api/v1/orgs/{slug}"


async def drive(
    client: httpx.AsyncClient, path: str, headers: dict, n: int, concurrency: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    remaining = n

    async def worker():
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            r = await client.get(path, headers=headers)
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise RuntimeError(f"{path} → {r.status_code} {r.text}")

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


async def bench(base: str, pid: int, total: int, concurrency: int, rounds: int) -> dict[str, dict]:
    jwt_h, key_h, org_path = await setup(base)
    cases = {
        "healthz": ("/healthz", {}),
        "org GET (JWT)": (org_path, jwt_h),
        "org GET (API key)": (org_path, key_h),
    }
    results = {name: {"time": 0.0, "lat": [], "n": 0, "cpu": 0.0} for name in cases}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits) as client:
        for path, h in cases.values():  # warm-up: connections, caches, code paths
            await drive(client, path, h, concurrency * 20, concurrency)
        per_round = max(1, total // rounds)
        for _ in range(rounds):
            for name, (path, h) in cases.items():
                cpu0 = server_cpu_seconds(pid)
                elapsed, lat = await drive(client, path, h, per_round, concurrency)
                results[name]["cpu"] += server_cpu_seconds(pid) - cpu0
                results[name]["time"] += elapsed
                results[name]["lat"] += lat
                results[name]["n"] += per_round
    return results


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--requests", type=int, default=3000, help="requests per endpoint")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument(
        "--log-level",
        default="WARNING",
        help="server log level; INFO adds the access log, which /healthz (a probe) skips",
    )
    args = ap.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        env = dict(
            os.environ,
            TENANTRY_DATA_DIR=data_dir,
            TENANTRY_BCRYPT_ROUNDS="4",
            TENANTRY_LOG_LEVEL=args.log_level,
        )
        log = open(os.path.join(data_dir, "server.log"), "w+b")  # noqa: SIM115
        if os.environ.get("TENANTRY_DATABASE_URL"):  # a shared database is migrated explicitly
            subprocess.run([sys.executable, "-m", "tenantry", "db", "upgrade"], env=env, check=True)
        proc = subprocess.Popen(
            [sys.executable, "-m", "tenantry", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            asyncio.run(wait_ready(base, proc))
            results = asyncio.run(
                bench(base, proc.pid, args.requests, args.concurrency, args.rounds)
            )
        except (SystemExit, Exception):
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-4000:])
            raise
        finally:
            proc.terminate()
            proc.wait(10)
            log.close()

    store = "PostgreSQL" if os.environ.get("TENANTRY_DATABASE_URL") else "SQLite"
    print(
        f"one uvicorn process, metadata store {store}, log level {args.log_level}, "
        f"concurrency {args.concurrency}, "
        f"{args.requests} requests per endpoint in {args.rounds} interleaved rounds\n"
    )
    print(f"{'endpoint':<20} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'server CPU us/req':>18}")
    summary = {}
    for name, r in results.items():
        rps = r["n"] / r["time"]
        lat = sorted(r["lat"])
        p50 = statistics.median(lat) * 1000
        p95 = lat[int(len(lat) * 0.95)] * 1000
        cpu = r["cpu"] / r["n"] * 1e6
        summary[name] = (rps, p50, cpu)
        print(f"{name:<20} {rps:>8.0f} {p50:>8.2f} {p95:>8.2f} {cpu:>18.0f}")
    base_rps, base_p50, base_cpu = summary["healthz"]
    print()
    worst, worst_cpu = 0.0, 0.0
    for name in ("org GET (JWT)", "org GET (API key)"):
        rps, p50, cpu = summary[name]
        ratios = (base_rps / rps, p50 / base_p50, cpu / base_cpu)
        worst, worst_cpu = max(worst, ratios[0], ratios[1]), max(worst_cpu, ratios[2])
        print(
            f"{name:<20} throughput {ratios[0]:.2f}x   p50 {ratios[1]:.2f}x   "
            f"server CPU/request {ratios[2]:.2f}x   (vs /healthz)"
        )
    verdict = "met" if worst <= 1.5 else "NOT met"
    print(f"\nthroughput and p50 ratio, worst {worst:.2f} (goal <= 1.5: {verdict})")
    print(
        f"server CPU per request, worst {worst_cpu:.2f}x: the whole request (routing, dependency "
        "resolution, serialization) against the cheapest route, not authentication alone"
    )


if __name__ == "__main__":
    main()
