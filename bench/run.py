"""The benchmark: the key mobile calls under load, each beside its floors, on one machine in one run.

Run (after bench/generate.py has filled the database):

    .venv/bin/python bench/run.py --database clinic_bench

It starts gunicorn with bench.settings (production settings, plain HTTP on 127.0.0.1) against the database,
logs in one nurse per virtual user, and drives each call at each concurrency (default 1, 8 and 32) for
--duration seconds with an aiohttp client, after a short warm-up. For each call and concurrency it prints
requests/s, p50/p95/p99 latency, SQL statements per request (the X-Bench-Queries header of
bench.querycount), the peak resident memory of the busiest gunicorn worker, and the CPU time per request of
the gunicorn workers and of the PostgreSQL backends (from /proc: on a busy machine the one figure that does
not include waiting for a core); then the same work:

- `bare`: a bare Django view in the same gunicorn (bench.floor) returning the same JSON with the same SQL,
  without DRF, authentication, scoping or audit;
- `raw`: the same SQL straight through psycopg (one connection per virtual user), no HTTP at all;

and the ratio API / bare. The bare view's JSON is compared with the API's before measuring.

Results go to bench/results/<database>.json and .md (the tables RESULTS.md quotes). The client runs on the
same 2 cores as the server and the database, like the peer figures it is compared with (wrk on the host).
"""

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import argon2
import psycopg

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.generate import database_url  # noqa: E402

# The floor SQL is shared with the bare views; importing bench.floor needs Django, so load it lazily.
CALLS = [
    "login",
    "patient_search",
    "patient_detail",
    "episode_detail",
    "observation_create",
    "check_in_create",
    "alerts_open",
    "sync_page",
]
UNAVAILABLE: dict[str, str] = {}
PEER_CALLS = {"patient_detail": "GET a patient by id", "observation_create": "POST a score observation"}
PEER_CALLS["patient_search"] = "search patients by family name (page of 20)"
# Medplum (one process + Redis), 1,000 patients, wrk on the same host, 20 s at concurrency 8.
PEER = {"patient_detail": (1170, 13.5), "observation_create": (215, 50.0), "patient_search": (480, 24.0)}
COWS_ITEMS = [
    "pulse",
    "sweating",
    "restlessness",
    "pupils",
    "aches",
    "rhinorrhea",
    "gi_upset",
    "tremor",
    "yawning",
    "anxiety",
    "gooseflesh",
]
# Mild to moderate rounds: recorded every few hours during detox, none raising an alert.
COWS_ROUNDS = [
    dict.fromkeys(COWS_ITEMS, 0),
    {**dict.fromkeys(COWS_ITEMS, 1), "restlessness": 1, "gooseflesh": 0},
    {**dict.fromkeys(COWS_ITEMS, 2), "restlessness": 3, "pupils": 2, "gi_upset": 2, "gooseflesh": 3},
]


@dataclass
class VirtualUser:
    username: str
    user_id: int
    facility_id: str
    token: str = ""


@dataclass
class Samples:
    """Ids and names to ask for, per facility."""

    facilities: list[str]
    last_names: dict = field(default_factory=dict)
    patients: dict = field(default_factory=dict)
    episodes: dict = field(default_factory=dict)
    open_episodes: dict = field(default_factory=dict)


@dataclass
class Measure:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list = field(default_factory=list)
    queries: list = field(default_factory=list)
    peak_rss_mib: float | None = None
    error_sample: str = ""
    app_cpu_s: float | None = None  # CPU seconds the gunicorn workers used during the measured phase
    db_cpu_s: float | None = None  # CPU seconds the database's backends used during the measured phase

    def summary(self) -> dict:
        lat = sorted(self.latencies_ms)

        def pct(p: float):
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else None

        return {
            "requests": self.requests,
            "errors": self.errors,
            "rps": round(self.requests / self.seconds, 1) if self.seconds else 0,
            "p50": pct(0.50),
            "p95": pct(0.95),
            "p99": pct(0.99),
            "queries": statistics.median(self.queries) if self.queries else None,
            "queries_max": max(self.queries) if self.queries else None,
            "peak_rss_mib": self.peak_rss_mib,
            "app_cpu_ms": round(1000 * self.app_cpu_s / self.requests, 2) if self.app_cpu_s and self.requests else None,
            "db_cpu_ms": round(1000 * self.db_cpu_s / self.requests, 2) if self.db_cpu_s and self.requests else None,
            "error_sample": self.error_sample,
        }


# --- The server ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(args, env: dict, port: int) -> subprocess.Popen:
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "clinic.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--threads",
        str(args.threads),
        "--backlog",
        "512",
        "--log-level",
        "warning",
        "--timeout",
        "60",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
        if server.poll() is not None:
            raise SystemExit("gunicorn exited while starting")
    server.terminate()
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


def stop(server: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def worker_pids(master: int) -> list[int]:
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return []
    return [int(pid) for pid in children]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_by_pid(pids) -> dict[int, tuple[int, float]]:
    """pid -> (start time, user + system CPU seconds so far); processes that are gone are left out."""
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime and starttime are fields 14, 15 and 22 of proc(5)
        found[pid] = (int(fields[19]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return found


def cpu_used(before: dict, pids) -> float:
    """CPU seconds used since `before` by the processes in it that still run (the same process: a reused pid
    has another start time)."""
    after = cpu_by_pid(pids)
    return sum(
        after[pid][1] - seconds for pid, (started, seconds) in before.items() if after.get(pid, (None,))[0] == started
    )


class DatabaseCPU:
    """CPU time of the server processes serving one database (PostgreSQL on this machine), from /proc."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.name = dsn.rsplit("/", 1)[1]

    def now(self) -> dict:
        with psycopg.connect(self.dsn, autocommit=True) as db:
            rows = db.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [self.name]
            ).fetchall()
        return cpu_by_pid(pid for (pid,) in rows)


def rss_mib(pid: int, key: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# --- Data to ask for -----------------------------------------------------------------------------------


def load_samples(dsn: str, per_facility: int = 200) -> tuple[Samples, dict]:
    with psycopg.connect(dsn) as db:
        facilities = [str(f) for (f,) in db.execute("SELECT id FROM accounts_facility ORDER BY name")]
        samples = Samples(facilities=facilities)
        for fid in facilities:
            rows = db.execute(
                "SELECT id, last_name FROM patients_patient WHERE facility_id = %s ORDER BY random() LIMIT %s",
                [fid, per_facility],
            ).fetchall()
            samples.patients[fid] = [str(pid) for pid, _ in rows]
            samples.last_names[fid] = [name for _, name in rows]
            episodes = db.execute(
                "SELECT e.id, e.closed_at IS NULL FROM treatment_episode e"
                " JOIN patients_patient p ON p.id = e.patient_id WHERE p.facility_id = %s ORDER BY random() LIMIT %s",
                [fid, per_facility],
            ).fetchall()
            samples.episodes[fid] = [str(eid) for eid, _ in episodes]
            samples.open_episodes[fid] = [str(eid) for eid, is_open in episodes if is_open]
        counts = {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed names
            for table in (
                "patients_patient",
                "treatment_episode",
                "treatment_observation",
                "treatment_alert",
                "notifications_reminder",
                "audit_auditevent",
            )
        }
        patients = db.execute(  # patients with an app login and an episode in aftercare, for check-ins
            "SELECT u.id, u.username, p.facility_id FROM accounts_user u JOIN patients_patient p ON p.user_id = u.id"
            " JOIN treatment_episode e ON e.patient_id = p.id AND e.closed_at IS NULL AND e.stage = 'aftercare'"
            " ORDER BY u.username LIMIT 64"
        ).fetchall()
        nurses = db.execute(
            "SELECT u.id, u.username, uf.facility_id FROM accounts_user u"
            " JOIN accounts_user_facilities uf ON uf.user_id = u.id WHERE u.role = 'nurse' ORDER BY u.username"
        ).fetchall()
    return samples, {
        "counts": counts,
        "nurses": [(uid, name, str(fid)) for uid, name, fid in nurses],
        "patients": [VirtualUser(name, uid, str(fid)) for uid, name, fid in patients],
    }


def virtual_users(nurses: list, samples: Samples, count: int) -> list[VirtualUser]:
    """`count` nurses spread over the facilities: f01-nurse-01, f02-nurse-01, ..., f01-nurse-02, ..."""
    by_facility: dict = {}
    for uid, name, fid in nurses:
        by_facility.setdefault(fid, []).append(VirtualUser(name, uid, fid))
    users, rank = [], 0
    while len(users) < count:
        for fid in samples.facilities:
            if rank < len(by_facility.get(fid, [])) and len(users) < count:
                users.append(by_facility[fid][rank])
        rank += 1
    return users


# --- What each call sends ------------------------------------------------------------------------------


class Calls:
    """Per call: the API request, the bare view's request, and the raw SQL with its parameters."""

    def __init__(self, samples: Samples, password: str, since: dt.datetime) -> None:
        self.samples = samples
        self.password = password
        self.since = since.isoformat().replace("+00:00", "Z")
        self.rng = random.Random(7)

    def _pick(self, mapping: dict, vu: VirtualUser) -> str:
        return self.rng.choice(mapping[vu.facility_id])

    def api(self, call: str, vu: VirtualUser) -> tuple[str, str, dict | None]:
        if call == "login":
            return "POST", "/api/v1/auth/token/", {"username": vu.username, "password": self.password}
        if call == "patient_search":
            return "GET", f"/api/v1/patients/?search={self._pick(self.samples.last_names, vu)}&page_size=20", None
        if call == "patient_detail":
            return "GET", f"/api/v1/patients/{self._pick(self.samples.patients, vu)}/", None
        if call == "episode_detail":
            return "GET", f"/api/v1/episodes/{self._pick(self.samples.episodes, vu)}/", None
        if call == "observation_create":
            body = {
                "episode": self._pick(self.samples.open_episodes, vu),
                "instrument": "cows",
                "responses": self.rng.choice(COWS_ROUNDS),
            }
            return "POST", "/api/v1/observations/", body
        if call == "check_in_create":
            body = {"craving": self.rng.randrange(0, 6), "mood": self.rng.randrange(4, 10), "used": False}
            return "POST", "/api/v1/check-ins/", {**body, "triggers": [], "note": ""}
        if call == "alerts_open":
            return "GET", "/api/v1/alerts/?acknowledged=false", None
        if call == "sync_page":
            return "GET", f"/api/v1/observations/?updated_since={self.since}", None
        raise ValueError(call)

    def bare(self, call: str, vu: VirtualUser, *, audit: bool = False) -> tuple[str, str, dict | None]:
        method, url, body = self.api(call, vu)
        url = url.replace("/api/v1/", "/bench/floor/")
        if call == "alerts_open":
            url = "/bench/floor/alerts/"
        if call != "login":
            url += ("&" if "?" in url else "?") + f"facility={vu.facility_id}" + ("&audit=1" if audit else "")
        if call == "observation_create":
            body = {**body, "recorded_by": vu.user_id}
        if call == "check_in_create":
            body = {**body, "user": vu.user_id}
        return method, url, body

    def raw(self, call: str, vu: VirtualUser) -> list[tuple[str, dict]]:
        from bench.floor import observation_row

        fid = vu.facility_id
        if call == "login":
            return [("login", {"username": vu.username})]
        if call == "patient_search":
            word = self._pick(self.samples.last_names, vu)
            return [("patient_search", {"facilities": [fid], "pattern": f"%{word}%", "word": word, "limit": 20})]
        if call == "patient_detail":
            return [("patient_detail", {"id": self._pick(self.samples.patients, vu)})]
        if call == "episode_detail":
            episode = self._pick(self.samples.episodes, vu)
            return [("episode_detail", {"id": episode}), ("episode_transitions", {"id": episode})]
        if call == "observation_create":
            _, _, body = self.api(call, vu)
            return [("observation_create", observation_row(body, recorded_by=vu.user_id))]
        if call == "check_in_create":
            from bench.floor import check_in_row

            _, _, body = self.api(call, vu)
            return [("check_in_create", check_in_row(body, user=vu.user_id))]
        if call == "alerts_open":
            return [("alerts_open", {"facilities": [fid], "limit": 50})]
        if call == "sync_page":
            return [("sync_page", {"facilities": [fid], "since": self.since, "limit": 50})]
        raise ValueError(call)


# --- Load ----------------------------------------------------------------------------------------------


async def drive_http(
    base: str, calls: Calls, call: str, users, concurrency, seconds, *, floor="", master=None, db_cpu=None
) -> Measure:
    """Drive `call` against the API (floor "") or a bare view (floor "bare" or "bare_audit")."""
    measure = Measure()
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as session:

        async def one(vu: VirtualUser) -> None:
            if floor:
                method, url, body = calls.bare(call, vu, audit=floor == "bare_audit")
            else:
                method, url, body = calls.api(call, vu)
            headers = {} if floor or call == "login" else {"Authorization": f"Bearer {vu.token}"}
            started = time.perf_counter()
            async with session.request(method, url, json=body, headers=headers) as response:
                content = await response.read()
            measure.latencies_ms.append((time.perf_counter() - started) * 1000)
            measure.requests += 1
            if response.status >= 400:
                measure.errors += 1
                measure.error_sample = measure.error_sample or f"{response.status} {content[:200]!r}"
            if "X-Bench-Queries" in response.headers:
                measure.queries.append(int(response.headers["X-Bench-Queries"]))

        async def user(vu: VirtualUser, deadline: float) -> None:
            while loop.time() < deadline:
                await one(vu)

        async def sample_memory(stop: asyncio.Event) -> None:
            peak = 0.0
            while not stop.is_set():
                for pid in worker_pids(master):
                    peak = max(peak, rss_mib(pid))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.25)
            measure.peak_rss_mib = round(peak, 1)

        warm = loop.time() + min(2.0, seconds / 5)
        await asyncio.gather(*(user(users[i % len(users)], warm) for i in range(concurrency)))
        measure.__init__()
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(sample_memory(stop_sampling)) if master else None
        app_before = cpu_by_pid(worker_pids(master)) if master else {}
        db_before = db_cpu.now() if db_cpu else {}
        started = loop.time()
        await asyncio.gather(*(user(users[i % len(users)], started + seconds) for i in range(concurrency)))
        measure.seconds = loop.time() - started
        if master:
            measure.app_cpu_s = cpu_used(app_before, app_before)
        if db_cpu:
            measure.db_cpu_s = cpu_used(db_before, db_before)
        stop_sampling.set()
        if sampler:
            await sampler
    return measure


async def drive_raw(dsn: str, calls: Calls, call: str, users, concurrency: int, seconds: float) -> Measure:
    db_cpu = DatabaseCPU(dsn)
    from bench.floor import QUERIES

    measure = Measure()
    hasher = argon2.PasswordHasher()
    loop = asyncio.get_running_loop()
    connections = [await psycopg.AsyncConnection.connect(dsn, autocommit=True) for _ in range(concurrency)]

    async def user(vu: VirtualUser, db, deadline: float) -> None:
        while loop.time() < deadline:
            steps = calls.raw(call, vu)
            started = time.perf_counter()
            for name, params in steps:
                cursor = await db.execute(QUERIES[name], params)
                rows = await cursor.fetchall()
            if call == "login":  # the password check is part of the least work a login does
                encoded = rows[0][1]
                with contextlib.suppress(argon2.exceptions.VerifyMismatchError):
                    await asyncio.to_thread(hasher.verify, encoded.removeprefix("argon2"), calls.password)
            measure.latencies_ms.append((time.perf_counter() - started) * 1000)
            measure.requests += 1

    try:
        warm = loop.time() + min(1.0, seconds / 5)
        await asyncio.gather(*(user(users[i % len(users)], connections[i], warm) for i in range(concurrency)))
        measure.__init__()
        db_before = db_cpu.now()
        started = loop.time()
        deadline = started + seconds
        await asyncio.gather(*(user(users[i % len(users)], connections[i], deadline) for i in range(concurrency)))
        measure.seconds = loop.time() - started
        measure.db_cpu_s = cpu_used(db_before, db_before)
    finally:
        for db in connections:
            await db.close()
    return measure


async def login_all(base: str, users: list[VirtualUser], password: str) -> None:
    async with aiohttp.ClientSession(base) as session:
        for vu in users:
            async with session.post("/api/v1/auth/token/", json={"username": vu.username, "password": password}) as r:
                body = await r.json()
                if r.status != 200:
                    raise SystemExit(f"login of {vu.username} failed: {r.status} {body}")
                vu.token = body["access"]


async def compare_json(base: str, calls: Calls, users: list[VirtualUser]) -> list[str]:
    """Differences between the API's JSON and the bare view's for one request of each GET call."""
    problems = []
    vu = users[0]
    async with aiohttp.ClientSession(base) as session:
        for call in ("patient_search", "patient_detail", "episode_detail", "alerts_open", "sync_page"):
            calls.rng.seed(call)
            _, api_url, _ = calls.api(call, vu)
            calls.rng.seed(call)
            _, bare_url, _ = calls.bare(call, vu)
            async with session.get(api_url, headers={"Authorization": f"Bearer {vu.token}"}) as r:
                api = await r.json()
            async with session.get(bare_url) as r:
                bare = await r.json()
            if "results" in api:
                api, bare = api["results"], bare["results"]
            if api != bare:
                problems.append(f"{call}: the bare view's JSON differs from the API's")
    return problems


# --- Report --------------------------------------------------------------------------------------------


def _cell(measure: dict | None) -> str:
    return f"{measure['rps']} | {measure['p50']} / {measure['p95']}" if measure else "- | -"


def _cpu(measure: dict | None) -> str:
    if not measure:
        return "-"
    return f"{measure.get('app_cpu_ms') or '-'} + {measure.get('db_cpu_ms') or '-'}"


def _times(api: dict, floor: dict | None) -> str:
    """How many times the API's time per request is the floor's, from throughput (floor req/s / API req/s)."""
    return f"{floor['rps'] / api['rps']:.1f}x" if floor and api["rps"] else "-"


def _rows(results: dict, concurrencies: list[int]):
    for call in CALLS:
        for c in concurrencies:
            r = results.get(call, {}).get(str(c))
            if r:
                yield call, c, r


def table(results: dict, concurrencies: list[int]) -> str:
    """The API's figures, then the floors beside them."""
    lines = [
        "| call | c | req/s | p50 / p95 / p99 ms | SQL/req | peak RSS/worker MiB | CPU ms/req app + db |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for call, reason in UNAVAILABLE.items():
        lines.append(f"| {call} | | n/a: {reason} | | | | |")
    for call, c, r in _rows(results, concurrencies):
        api = r["api"]
        errors = f" ({api['errors']} errors)" if api["errors"] else ""
        lines.append(
            f"| {call} | {c} | {api['rps']}{errors} | {api['p50']} / {api['p95']} / {api['p99']} | "
            f"{api['queries']} | {api['peak_rss_mib']} | {_cpu(api)} |"
        )
    lines += [
        "",
        "| call | c | bare req/s | bare p50 / p95 | bare CPU app + db | bare+audit req/s | bare+audit p50 / p95 "
        "| raw SQL req/s | raw p50 / p95 | raw db CPU | API vs bare | API vs bare+audit |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for call, c, r in _rows(results, concurrencies):
        api, raw = r["api"], r.get("raw")
        lines.append(
            f"| {call} | {c} | {_cell(r.get('bare'))} | {_cpu(r.get('bare'))} | {_cell(r.get('bare_audit'))} | "
            f"{_cell(raw)} | {raw.get('db_cpu_ms') if raw else '-'} | {_times(api, r.get('bare'))} | "
            f"{_times(api, r.get('bare_audit'))} |"
        )
    return "\n".join(lines)


def peer_table(results: dict) -> str:
    lines = [
        "| call (concurrency 8) | ours req/s | ours p95 ms | Medplum req/s | Medplum p95 ms |",
        "|---|--:|--:|--:|--:|",
    ]
    for call, label in PEER_CALLS.items():
        r = results.get(call, {}).get("8", {}).get("api")
        if r:
            rps, p95 = PEER[call]
            lines.append(f"| {label} | {r['rps']} | {r['p95']} | {rps} | {p95} |")
    return "\n".join(lines)


async def main_async(args) -> dict:
    dsn = database_url(args.database)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    wanted = [c for c in (args.only.split(",") if args.only else CALLS) if c not in UNAVAILABLE]
    samples, facts = load_samples(dsn)
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": dsn,
        "REDIS_URL": args.redis_url,
        "BENCH_QUERY_COUNT": "1",
        # One key for every worker (bench.settings would draw one per process) so any worker accepts any token.
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
    }
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL")})
    import django

    django.setup()  # for bench.floor's SQL and scoring in this process (the raw floor)

    load_before = os.getloadavg()
    server = start_gunicorn(args, env, port)
    base = f"http://127.0.0.1:{port}"
    results: dict = {}
    try:
        users = virtual_users(facts["nurses"], samples, max(concurrencies))
        await login_all(base, users, args.password)
        patient_users = facts["patients"][: max(concurrencies)]
        if "check_in_create" in wanted:
            await login_all(base, patient_users, args.password)
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=args.sync_days)
        calls = Calls(samples, args.password, since)
        mismatches = await compare_json(base, calls, users)
        for problem in mismatches:
            print("WARNING:", problem)
        for call in wanted:
            for c in concurrencies:
                row = results.setdefault(call, {}).setdefault(str(c), {})
                vus = patient_users if call == "check_in_create" else users
                api = await drive_http(
                    base, calls, call, vus, c, args.duration, master=server.pid, db_cpu=DatabaseCPU(dsn)
                )
                row["api"] = api.summary()
                if not args.skip_floors:
                    for floor in ("bare", "bare_audit") if call != "login" else ("bare",):
                        measured = await drive_http(
                            base,
                            calls,
                            call,
                            vus,
                            c,
                            args.duration,
                            floor=floor,
                            master=server.pid,
                            db_cpu=DatabaseCPU(dsn),
                        )
                        row[floor] = measured.summary()
                    raw = await drive_raw(dsn, calls, call, vus, c, args.raw_duration)
                    row["raw"] = raw.summary()
                a, b = row["api"], row.get("bare", {})
                print(
                    f"{call:20s} c={c:<3d} API {a['rps']:7.1f}/s p50 {a['p50']} p95 {a['p95']} p99 {a['p99']} "
                    f"sql {a['queries']} rss {a['peak_rss_mib']} err {a['errors']}"
                    + (f" | bare {b['rps']}/s p50 {b['p50']} p95 {b['p95']}" if b else "")
                    + (f" | raw {row['raw']['rps']}/s p50 {row['raw']['p50']}" if "raw" in row else ""),
                    flush=True,
                )
                if a["errors"]:
                    print("   first error:", a["error_sample"])
        peaks = {pid: round(rss_mib(pid, "VmHWM"), 1) for pid in worker_pids(server.pid)}
    finally:
        stop(server)
    return {
        "database": args.database,
        "command": "bench/run.py " + " ".join(sys.argv[1:]),
        "started_at": dt.datetime.now(dt.UTC).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        },
        "server": {"workers": args.workers, "worker_class": args.worker_class, "threads": args.threads},
        "rows": facts["counts"],
        "duration_s": args.duration,
        "json_mismatches": mismatches,
        "worker_peak_rss_mib": list(peaks.values()),
        "results": results,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="clinic_bench")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5"))
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per call and concurrency (API, bare)")
    parser.add_argument("--raw-duration", type=float, default=5.0, help="seconds per raw SQL floor")
    parser.add_argument("--only", help="comma-separated calls, e.g. patient_detail,patient_search")
    parser.add_argument("--skip-floors", action="store_true")
    parser.add_argument("--sync-days", type=float, default=2.0, help="updated_since = now minus this many days")
    parser.add_argument("--password", default="bench-pass-123456")
    parser.add_argument("--out", help="results file stem (default bench/results/<database>)")
    args = parser.parse_args(argv)

    report = asyncio.run(main_async(args))
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    text = [
        f"### {args.database}: {report['rows']['patients_patient']:,} patients, "
        f"{report['rows']['treatment_observation']:,} observations, "
        f"{report['rows']['notifications_reminder']:,} reminders",
        "",
        f"`.venv/bin/python {report['command']}` — gunicorn {args.workers} x {args.worker_class}"
        f"{f' ({args.threads} threads)' if args.threads > 1 else ''}, {args.duration:g} s per cell; load average "
        f"before {report['machine']['load_before'][0]}, after {report['machine']['load_after'][0]}.",
        "",
        table(report["results"], concurrencies),
        "",
        peer_table(report["results"]),
        "",
        f"Peak RSS per worker over the run (VmHWM): {report['worker_peak_rss_mib']} MiB.",
    ]
    if report["json_mismatches"]:
        text += ["", "JSON differences between API and bare view: " + "; ".join(report["json_mismatches"])]
    print("\n".join(text))
    stem = Path(args.out) if args.out else BENCH / "results" / args.database
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps({**report, "args": vars(args)}, indent=2, default=str) + "\n")
    stem.with_suffix(".md").write_text("\n".join(text) + "\n")
    print(f"\nWrote {stem.with_suffix('.json')} and {stem.with_suffix('.md')}")


if __name__ == "__main__":
    main()
