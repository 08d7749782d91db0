"""HTTP throughput (issue 10): requests per second of the API's busiest paths, on SQLite and Postgres.

Starts `incidentcore serve --workers 1` (the real CLI, in a subprocess) on a temporary SQLite file and
on a throwaway Postgres database next to INCIDENTCORE_TEST_POSTGRES_URL's, and in the same run
bench/bare_litestar_app.py, a bare Litestar JSON endpoint under the same uvicorn options: the ceiling;
and, on Postgres, the same app reading one row by its key through psycopg alone (`GET /bare-row`): the
least any endpoint that reads the database costs, so the ceiling of the get-by-id goal; and two rows, one
after the other (`GET /bare-two-rows`): the least an authenticated read costs (the caller's credentials,
then the row).
Seeds each server through the API (an admin from `create-admin`, a team, a policy paging the admin at
once, an Elastic integration, users who open incidents, some incidents), drives every scenario with
wrk (a warm-up, then rounds; the median counts), and measures pgbench single-row INSERTs into a table
with a unique index for comparison. Prints requests/s, p99 latency, every non-2xx answer and socket
error, and the issue's goals.

    python bench/bench_http.py [--duration 6] [--rounds 2] [--only get --only bare] [--backend postgres]

Without Postgres (or pgbench) those parts are skipped, saying why. Without wrk (`apt-get install -y
wrk`) an asyncio httpx load generator stands in: it is Python on the same cores, so its figures are
lower and not comparable with wrk's. To see where a scenario's time goes, profile the server whose
pid is printed while the scenario runs: `py-spy record -p PID -d 10` (or `py-spy top -p PID`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "contract"))

from paging_load import fresh_database, psycopg_url

BENCH_DIR = Path(__file__).resolve().parent
BARE_APP = BENCH_DIR / "bare_litestar_app.py"

ADMIN_EMAIL = "admin@bench.example.com"
PASSWORD = "bench-password-123"
SERVER_ENVIRONMENT = {
    "ENVIRONMENT": "development",
    "SECRET_KEY": "bench-http-secret-key-0123456789-abcdefghijklmnop",
    "WORKER_ENABLED": "false",  # pages stay in the outbox: the API's own work is what is measured
    "BCRYPT_ROUNDS": "4",
    "LOG_LEVEL": "INFO",  # the default, access log included (the bare endpoint logs the same)
    "SIGNUP_ENABLED": "true",
    # As high as the settings allow: the bench opens thousands of incidents by hand within the window.
    "MANUAL_PAGES_PER_USER": "1000000",
    "MANUAL_ESCALATIONS_PER_INCIDENT": "1000000",
}

GOAL_GET_VS_BARE = 0.40
GOAL_WRITES_PER_SECOND = 500.0
GOAL_INGEST_VS_PGBENCH = 0.10


# --- what is measured ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """The request a scenario repeats. With several bearer tokens each request takes the next; with a
    `unique_marker`, that text in the body becomes an id no other request of the run carries."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    bearer_tokens: tuple[str, ...] = ()
    unique_marker: str | None = None


@dataclass(frozen=True)
class Seeded:
    """What the API scenarios need from a freshly seeded server."""

    admin_token: str
    creator_tokens: tuple[str, ...]
    integration_key: str
    incident_id: int


def elastic_alert(alert_id: str) -> str:
    """The Kibana webhook connector's body (see the README) for one alert of one rule."""
    return (
        '{"rule": {"id": "bench-rule", "name": "High error rate", "url": "https://kibana.example.com/r/1"}, '
        f'"alert": {{"id": "{alert_id}", "actionGroup": "threshold_met", "actionGroupName": "Threshold met"}}, '
        '"context": {"reason": "error rate 12% > 5%"}, "date": "2026-11-27T06:00:00Z"}'
    )


JSON = {"Content-Type": "application/json"}
NEW_ALERT_MARKER = "NEW-ALERT-ID"


@dataclass(frozen=True)
class Scenario:
    name: str  # for --only
    label: str
    needs_api: bool = True


SCENARIOS = (
    Scenario("create", "POST /v1/incidents/"),
    Scenario("get", "GET /v1/incidents/{id}"),
    Scenario("list", "GET /v1/incidents/?limit=50"),
    Scenario("ingest-new", "POST /v1/alerts/elastic, new alert"),
    Scenario("ingest-repeat", "POST /v1/alerts/elastic, repeat"),
    Scenario("bare", "bare Litestar JSON endpoint", needs_api=False),
    Scenario("bare-row", "bare endpoint + one psycopg row read", needs_api=False),
    Scenario("bare-two-rows", "bare endpoint + two psycopg row reads", needs_api=False),
)
# The endpoints that read Postgres through psycopg alone, with what they stand for in the goals.
CEILINGS = {
    "bare-row": "the ceiling of a read",
    "bare-two-rows": "of an authenticated read",
}
# Reads first: the list's `total` counts every incident, so it runs before the writes add thousands.
API_ORDER = ("get", "list", "create", "ingest-new", "ingest-repeat")
PGBENCH = "pgbench"
BACKENDS = ("sqlite", "postgres")


def load_for(scenario: str, seeded: Seeded) -> Load:
    admin = {"Authorization": f"Bearer {seeded.admin_token}"}
    integration = {**JSON, "X-Integration-Key": seeded.integration_key}
    match scenario:
        case "create":
            # Several creators: each opening is checked against its creator's recent openings, and
            # one account opening thousands would measure that history rather than the request.
            body = '{"title": "checkout 5xx rate above threshold", "severity": "high"}'
            return Load("POST", "/v1/incidents/", JSON, body, bearer_tokens=seeded.creator_tokens)
        case "get":
            return Load("GET", f"/v1/incidents/{seeded.incident_id}", admin)
        case "list":
            return Load("GET", "/v1/incidents/?limit=50", admin)
        case "ingest-new":
            body = elastic_alert(NEW_ALERT_MARKER)
            return Load("POST", "/v1/alerts/elastic", integration, body, unique_marker=NEW_ALERT_MARKER)
        case "ingest-repeat":
            return Load("POST", "/v1/alerts/elastic", integration, elastic_alert("always-the-same"))
    raise ValueError(scenario)


# --- load generators -------------------------------------------------------------------------------


@dataclass
class LoadResult:
    requests_per_second: float
    p99_ms: float
    statuses: Counter[int]
    transport_errors: Counter[str]  # by kind (connect, read, write, timeout): no HTTP answer at all
    cpu_ms_per_answer: float | None = None  # the server process's CPU time over the answers it gave

    @property
    def failures(self) -> int:
        return self.transport_errors.total() + sum(n for s, n in self.statuses.items() if not 200 <= s < 300)


WRK_TIMEOUT_SECONDS = 30
SOCKET_ERROR_KINDS = ("connect", "read", "write", "timeout")
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


class WrkLoad:
    """wrk with a generated Lua script; a `response` hook counts the answers by status."""

    label = "wrk"

    def __init__(self, executable: str, threads: int) -> None:
        self.executable = executable
        self.threads = threads

    def run(self, base_url: str, load: Load, duration: float, connections: int) -> LoadResult:
        with tempfile.NamedTemporaryFile("w", prefix="bench_http_", suffix=".lua") as script:
            script.write(wrk_script(load))
            script.flush()
            return self._run(script.name, base_url, load, duration, connections)

    def _run(self, script: str, base_url: str, load: Load, duration: float, connections: int) -> LoadResult:
        run_tag = secrets.token_hex(6)  # new alert ids differ between runs against one database
        command = [
            self.executable,
            f"-t{min(self.threads, connections)}",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--latency",
            # wrk's default (2 s) counts a slow answer as a socket timeout; p99 shows slowness instead
            f"--timeout={WRK_TIMEOUT_SECONDS}s",
            "-s",
            script,
            base_url + load.path,
            "--",
            run_tag,
        ]
        finished = subprocess.run(command, capture_output=True, text=True, check=False, timeout=duration + 60)
        if finished.returncode != 0 or finished.stderr.strip():  # a Lua error goes to stderr, exit 0
            raise RuntimeError(f"wrk failed ({finished.returncode}): {finished.stderr or finished.stdout}")
        result = parse_wrk_output(finished.stdout)
        if not result.statuses:
            raise RuntimeError(
                f"wrk counted no answers (the Lua `response` hook did not run):\n{finished.stdout}"
            )
        return result


def lua_string(text: str) -> str:
    level = "=" * 4
    assert f"]{level}]" not in text
    return f"[{level}[{text}]{level}]"


def wrk_script(load: Load) -> str:
    lines = [f"wrk.method = {lua_string(load.method)}"]
    # `[ [==[...]==] ]`, spaced: `t[[` would open a long string (a call of `t`), not an index
    lines += [f"wrk.headers[ {lua_string(k)} ] = {lua_string(v)}" for k, v in load.headers.items()]
    if load.body is not None:
        lines.append(f"wrk.body = {lua_string(load.body)}")
    per_request = len(load.bearer_tokens) > 1 or load.unique_marker is not None
    if len(load.bearer_tokens) == 1:
        lines.append(f'wrk.headers["Authorization"] = "Bearer " .. {lua_string(load.bearer_tokens[0])}')
    if per_request:
        tokens = ", ".join(lua_string(t) for t in load.bearer_tokens)
        head, tail = (load.body or "").split(load.unique_marker, 1) if load.unique_marker else ("", "")
        lines += [
            f"local tokens = {{{tokens}}}",
            f"local unique_body = {'true' if load.unique_marker else 'false'}",
            f"local body_head, body_tail = {lua_string(head)}, {lua_string(tail)}",
            "local tag, sent = '', 0",
            "function init(args) tag = args[1] .. '-' .. id end",
            "function request()",
            "  sent = sent + 1",
            "  local headers = {}",
            "  for name, value in pairs(wrk.headers) do headers[name] = value end",
            "  if #tokens > 0 then headers['Authorization'] = 'Bearer ' .. tokens[sent % #tokens + 1] end",
            "  local body = wrk.body",
            "  if unique_body then body = body_head .. tag .. '-' .. sent .. body_tail end",
            "  return wrk.format(nil, nil, headers, body)",
            "end",
        ]
    lines += [
        # Every thread has its own Lua state: `setup` (main state) keeps them, `done` adds them up.
        "local threads = {}",
        "function setup(thread) table.insert(threads, thread); thread:set('id', #threads) end",
        "statuses = {}",
        "function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end",
        "function done(summary, latency, requests)",
        "  for _, thread in ipairs(threads) do",
        "    for status, n in pairs(thread:get('statuses')) do io.write(string.format('status %d %d\\n', status, n)) end",
        "  end",
        "end",
    ]
    return "\n".join(lines) + "\n"


def parse_wrk_output(output: str) -> LoadResult:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rate is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{output}")
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    statuses: Counter[int] = Counter()
    for status, count in re.findall(r"^status (\d+) (\d+)$", output, re.MULTILINE):
        statuses[int(status)] += int(count)
    return LoadResult(
        requests_per_second=float(rate.group(1)),
        p99_ms=float(p99.group(1)) * UNIT_MS[p99.group(2)] if p99 else float("nan"),
        statuses=statuses,
        # unary + drops the kinds that did not happen
        transport_errors=+Counter(
            dict(zip(SOCKET_ERROR_KINDS, map(int, socket_errors.groups()), strict=True))
        )
        if socket_errors
        else Counter(),
    )


class HttpxLoad:
    """Stand-in when wrk is missing: `connections` asyncio clients in one Python process."""

    label = "httpx fallback (lower than wrk: the load generator shares the cores and is Python)"

    def run(self, base_url: str, load: Load, duration: float, connections: int) -> LoadResult:
        return asyncio.run(self._run(base_url, load, duration, connections))

    async def _run(self, base_url: str, load: Load, duration: float, connections: int) -> LoadResult:
        statuses: Counter[int] = Counter()
        latencies: list[float] = []
        transport_errors: Counter[str] = Counter()
        run_tag = secrets.token_hex(6)
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
            deadline = time.perf_counter() + duration

            async def client_loop(number: int) -> None:
                sent = 0
                while time.perf_counter() < deadline:
                    sent += 1
                    headers = dict(load.headers)
                    if load.bearer_tokens:
                        headers["Authorization"] = (
                            f"Bearer {load.bearer_tokens[sent % len(load.bearer_tokens)]}"
                        )
                    body = load.body
                    if body is not None and load.unique_marker:
                        body = body.replace(load.unique_marker, f"{run_tag}-{number}-{sent}")
                    started = time.perf_counter()
                    try:
                        response = await client.request(load.method, load.path, headers=headers, content=body)
                    except httpx.TransportError as error:
                        transport_errors[type(error).__name__] += 1
                        continue
                    latencies.append(time.perf_counter() - started)
                    statuses[response.status_code] += 1

            started = time.perf_counter()
            await asyncio.gather(*(client_loop(n) for n in range(connections)))
            elapsed = time.perf_counter() - started
        p99 = statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) >= 2 else float("nan")
        return LoadResult(sum(statuses.values()) / elapsed, p99, statuses, transport_errors)


LoadGenerator = WrkLoad | HttpxLoad


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user + system) process `pid` has used so far; None where /proc cannot tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def measure(
    generator: LoadGenerator, server: RunningServer, load: Load, args: argparse.Namespace, where: str
) -> LoadResult:
    """A warm-up (pool, caches), then `rounds` rounds: the median rate, all rounds' answers counted.

    Each round also reports the server's own CPU time per answer: on a machine shared with noisy
    neighbours it moves far less than requests/s, so it is the figure to compare changes by."""
    generator.run(server.base_url, load, args.warmup, args.connections)
    rounds = []
    for number in range(1, args.rounds + 1):
        cpu_before = cpu_seconds(server.pid)
        result = generator.run(server.base_url, load, args.duration, args.connections)
        cpu_after = cpu_seconds(server.pid)
        answers = result.statuses.total()
        if cpu_before is not None and cpu_after is not None and answers:
            result.cpu_ms_per_answer = 1000 * (cpu_after - cpu_before) / answers
        rounds.append(result)
        # The 1-minute load average includes this bench's own two busy cores.
        print(
            f"    {where:<24} round {number}: {result.requests_per_second:9.1f} req/s, "
            f"p99 {result.p99_ms:7.1f} ms, server CPU {cpu_ms(result)} ms/answer, "
            f"{describe_answers(result)} (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
    statuses: Counter[int] = Counter()
    for result in rounds:
        statuses.update(result.statuses)
    cpu = [r.cpu_ms_per_answer for r in rounds if r.cpu_ms_per_answer is not None]
    return LoadResult(
        requests_per_second=statistics.median(r.requests_per_second for r in rounds),
        p99_ms=statistics.median(r.p99_ms for r in rounds),
        statuses=statuses,
        transport_errors=sum((r.transport_errors for r in rounds), Counter()),
        cpu_ms_per_answer=statistics.median(cpu) if cpu else None,
    )


def cpu_ms(result: LoadResult | None) -> str:
    return "-" if result is None or result.cpu_ms_per_answer is None else f"{result.cpu_ms_per_answer:.2f}"


def describe_answers(result: LoadResult) -> str:
    answers = ", ".join(f"{count} x {status}" for status, count in sorted(result.statuses.items()))
    for kind, count in sorted(result.transport_errors.items()):
        answers += f", {count} x socket {kind} error"
    return answers or "no answers"


# --- servers ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    pid: int


@contextlib.contextmanager
def running_server(
    command: list[str], env: dict[str, str], workdir: Path, ready_path: str
) -> Iterator[RunningServer]:
    """Starts `command` (given `--port N` here), waits until `ready_path` answers 200, stops it after
    (SIGTERM: uvicorn's graceful shutdown). Its output goes to a log in `workdir`, shown if it dies."""
    port = free_port()
    log_path = workdir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(process, base_url + ready_path, log_path)
        yield RunningServer(base_url, process.pid)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_ready(process: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}):\n{log_tail(log_path)}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer {url} within {timeout:.0f} s:\n{log_tail(log_path)}")


def log_tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def incidentcore_command() -> list[str]:
    """The `incidentcore` console script of this Python's environment (the one nox installed)."""
    beside_python = shutil.which("incidentcore", path=str(Path(sys.executable).parent))
    script = beside_python or shutil.which("incidentcore")
    if script is None:
        raise RuntimeError("no `incidentcore` command: install the project (pip install -e .)")
    return [script]


def server_environment(database_url: str) -> dict[str, str]:
    return {**os.environ, **SERVER_ENVIRONMENT, "DATABASE_URL": database_url}


@contextlib.contextmanager
def incidentcore_server(database_url: str, workdir: Path) -> Iterator[RunningServer]:
    """`create-admin`, then `serve --workers 1`, both through the CLI, in `workdir` (no stray .env)."""
    env = server_environment(database_url)
    command = incidentcore_command()
    create_admin = [*command, "create-admin", "--email", ADMIN_EMAIL, "--password", PASSWORD]
    finished = subprocess.run(create_admin, env=env, cwd=workdir, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"incidentcore create-admin failed ({finished.returncode}):\n{finished.stderr}")
    serve = [*command, "serve", "--host", "127.0.0.1", "--workers", "1"]
    with running_server(serve, env, workdir, "/health") as server:
        yield server


@contextlib.contextmanager
def bare_server(workdir: Path, database_url: str | None = None) -> Iterator[RunningServer]:
    command = [sys.executable, str(BARE_APP), *(["--database-url", database_url] if database_url else [])]
    with running_server(command, dict(os.environ), workdir, "/bare") as server:
        yield server


# --- seeding through the API -----------------------------------------------------------------------


def checked(response: httpx.Response) -> httpx.Response:
    if not response.is_success:
        raise RuntimeError(
            f"seeding: {response.request.method} {response.request.url} -> {response.status_code}: {response.text}"
        )
    return response


def log_in(client: httpx.Client, email: str) -> str:
    response = checked(
        client.post("/v1/auth/login/access-token", data={"username": email, "password": PASSWORD})
    )
    token: str = response.json()["access_token"]
    return token


def seed(base_url: str, creators: int, incidents: int) -> Seeded:
    """A team, a global policy whose first step pages the admin at once (every incident pages), an
    Elastic integration, `creators` users who open incidents, and `incidents` incidents."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        admin_token = log_in(client, ADMIN_EMAIL)
        client.headers["Authorization"] = f"Bearer {admin_token}"
        admin_id = checked(client.get("/v1/users/me")).json()["id"]
        team_id = checked(client.post("/v1/teams/", json={"name": "bench responders"})).json()["id"]
        policy = {
            "name": "page the admin",
            "steps": [{"delay_minutes": 0, "targets": [{"type": "user", "id": admin_id}]}],
        }
        checked(client.post("/v1/escalation/policies/", json=policy))
        integration = {"name": "bench elastic", "team_id": team_id}
        integration_key = checked(client.post("/v1/integrations/", json=integration)).json()["key"]
        creator_tokens = []
        for n in range(creators):
            email = f"creator{n}@bench.example.com"
            user = {"email": email, "password": PASSWORD, "full_name": f"Creator {n}", "team_id": team_id}
            checked(client.post("/v1/users/", json={**user, "role": "oncall_engineer"}))
            creator_tokens.append(log_in(client, email))
        incident_ids = []
        for n in range(incidents):
            headers = {"Authorization": f"Bearer {creator_tokens[n % creators]}"}
            body = {"title": f"seeded incident {n}", "team_id": team_id}
            incident_ids.append(
                checked(client.post("/v1/incidents/", json=body, headers=headers)).json()["id"]
            )
    return Seeded(admin_token, tuple(creator_tokens), integration_key, incident_ids[len(incident_ids) // 2])


# --- pgbench ---------------------------------------------------------------------------------------


def pgbench_insert_tps(base_url: str, args: argparse.Namespace, workdir: Path) -> float:
    """Single-row INSERTs into a table with a unique text key (like a dedup key), the median TPS."""
    with fresh_database(base_url, "incidentcore_bench_pgbench") as url:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(
                "CREATE TABLE alerts (id bigserial PRIMARY KEY, dedup_key text NOT NULL UNIQUE, "
                "created_at timestamptz NOT NULL DEFAULT now())"
            )
        script = workdir / "pgbench_insert.sql"
        script.write_text("INSERT INTO alerts (dedup_key) VALUES ('bench-rule:' || gen_random_uuid());\n")
        rates = []
        for number in range(args.rounds):
            threads = min(args.threads, args.connections)
            command = ["pgbench", "-n", "-c", str(args.connections), "-j", str(threads)]
            command += ["-T", str(max(1, round(args.duration))), "-f", str(script), url]
            finished = subprocess.run(
                command, capture_output=True, text=True, check=False, timeout=args.duration + 60
            )
            tps = re.search(r"^tps = ([\d.]+)", finished.stdout, re.MULTILINE)
            if finished.returncode != 0 or tps is None:
                raise RuntimeError(
                    f"pgbench failed ({finished.returncode}): {finished.stderr or finished.stdout}"
                )
            rates.append(float(tps.group(1)))
            print(f"    {'pgbench INSERT':<24} round {number + 1}: {rates[-1]:9.1f} TPS", flush=True)
        return statistics.median(rates)


# --- reporting -------------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def print_machine(generator: LoadGenerator, postgres_version: str | None) -> None:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {cpus} CPUs ({cpu_model()}), Python {platform.python_version()}, {platform.system()}")
    print(f"postgres: {postgres_version or 'not used'}; load generator: {generator.label}")
    print(f"date: {date.today().isoformat()}; load average (1, 5, 15 min) at start: {load_average()}")


def rate(result: LoadResult | None) -> str:
    return f"{result.requests_per_second:,.0f}" if result else "-"


def p99(result: LoadResult | None) -> str:
    return f"{result.p99_ms:,.1f}" if result else "-"


def failures(result: LoadResult | None) -> str:
    return f"{result.failures:,}" if result else "-"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def print_report(
    results: dict[tuple[str, str], LoadResult],
    bare: LoadResult | None,
    ceilings: dict[str, LoadResult],
    pgbench_tps: float | None,
) -> None:
    print()
    header = (
        f"{'scenario':<36} {'SQLite req/s':>12} {'p99 ms':>8} {'CPU ms':>7} {'errors':>7}   "
        f"{'Postgres req/s':>14} {'p99 ms':>8} {'CPU ms':>7} {'errors':>7}"
    )
    print(header)
    print("-" * len(header))
    for scenario in SCENARIOS:
        if scenario.needs_api:
            sqlite, postgres = (
                results.get((scenario.name, "sqlite")),
                results.get((scenario.name, "postgres")),
            )
            if sqlite or postgres:
                print(
                    f"{scenario.label:<36} {rate(sqlite):>12} {p99(sqlite):>8} {cpu_ms(sqlite):>7} "
                    f"{failures(sqlite):>7}   {rate(postgres):>14} {p99(postgres):>8} {cpu_ms(postgres):>7} "
                    f"{failures(postgres):>7}"
                )
    if bare:
        print(
            f"{'bare Litestar JSON endpoint (no db)':<36} {rate(bare):>12} {p99(bare):>8} {cpu_ms(bare):>7} "
            f"{failures(bare):>7}"
        )
    blank = f"{'':>12} {'':>8} {'':>7} {'':>7}"
    for scenario in SCENARIOS:
        if (result := ceilings.get(scenario.name)) is not None:
            print(
                f"{scenario.label:<36} {blank}   "
                f"{rate(result):>14} {p99(result):>8} {cpu_ms(result):>7} {failures(result):>7}"
            )
    if pgbench_tps:
        print(f"{'pgbench INSERT, unique index (TPS)':<36} {blank}   {pgbench_tps:>14,.0f}")
    print("(CPU ms: the server process's CPU time per answer, steadier than req/s on a shared machine)")

    def req_s(scenario: str, backend: str) -> float | None:
        result = results.get((scenario, backend))
        return result.requests_per_second if result else None

    bare_rate = bare.requests_per_second if bare else None
    print("\ngoals (issue 10; each shown when its scenarios ran):")
    for backend in ("sqlite", "postgres"):
        goal_line(
            "GET /v1/incidents/{id} / bare endpoint",
            backend,
            ratio(req_s("get", backend), bare_rate),
            GOAL_GET_VS_BARE,
            "{:.3f}",
        )
    # What the first goal asks of an endpoint that reads the database, measured on the least ones.
    for name, meaning in CEILINGS.items():
        ceiling_rate = ceilings[name].requests_per_second if name in ceilings else None
        ceiling = ratio(ceiling_rate, bare_rate)
        if ceiling is None:
            continue
        print(f"  {f'{name} / bare':<40} {'postgres':<9} {ceiling:>10.3f}   {meaning}")
        get_vs_ceiling = ratio(req_s("get", "postgres"), ceiling_rate)
        if get_vs_ceiling is not None:
            print(f"  {f'GET /v1/incidents/{{id}} / {name}':<40} {'postgres':<9} {get_vs_ceiling:>10.3f}")
    for name in ("create", "ingest-new", "ingest-repeat"):
        label = next(s.label for s in SCENARIOS if s.name == name)
        goal_line(label, "postgres", req_s(name, "postgres"), GOAL_WRITES_PER_SECOND, "{:,.0f}/s")
    for name in ("ingest-new", "ingest-repeat"):
        label = f"{name} / pgbench INSERT"
        goal_line(
            label,
            "postgres",
            ratio(req_s(name, "postgres"), pgbench_tps),
            GOAL_INGEST_VS_PGBENCH,
            "{:.3f}",
        )
    print(f"\nload average (1, 5, 15 min) at the end: {load_average()}")


def goal_line(label: str, backend: str, value: float | None, goal: float, shown: str) -> None:
    if value is None:
        return
    verdict = "met" if value >= goal else "missed"
    print(f"  {label:<40} {backend:<9} {shown.format(value):>10}   goal >= {shown.format(goal)}: {verdict}")


def report_failures(
    results: dict[tuple[str, str], LoadResult], bare: LoadResult | None, ceilings: dict[str, LoadResult]
) -> None:
    """A benchmark of error answers measures nothing: say which scenario got which."""
    failing = {key: r for key, r in results.items() if r.failures}
    if bare and bare.failures:
        failing[("bare", "-")] = bare
    failing |= {(name, "postgres"): r for name, r in ceilings.items() if r.failures}
    if failing:
        print("\nNON-2xx ANSWERS OR SOCKET ERRORS (these figures do not measure the scenario):")
        for (scenario, backend), result in failing.items():
            print(f"  {scenario} on {backend}: {describe_answers(result)}")


# --- main ------------------------------------------------------------------------------------------


def postgres_available(url: str | None) -> tuple[str | None, str]:
    """(server version, "") when Postgres answers at `url`; (None, why not) otherwise."""
    if not url:
        return None, "INCIDENTCORE_TEST_POSTGRES_URL (or --postgres-url) is not set"
    try:
        with psycopg.connect(psycopg_url(url), connect_timeout=5) as connection:
            row = connection.execute("SHOW server_version").fetchone()
    except psycopg.Error as error:
        return None, f"cannot connect to {make_url(url).render_as_string(hide_password=True)}: {error}"
    return (str(row[0]) if row else "unknown"), ""


def load_generator(threads: int) -> LoadGenerator:
    executable = shutil.which("wrk")
    if executable:
        return WrkLoad(executable, threads)
    print("wrk is not installed (Debian/Ubuntu: apt-get install -y wrk; macOS: brew install wrk).")
    print("Falling back to an asyncio httpx load generator: its figures are LOWER than wrk's.\n")
    return HttpxLoad()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    scenarios = [s.name for s in SCENARIOS] + [PGBENCH]
    add = parser.add_argument
    add("--duration", type=float, default=6, help="seconds per round (default 6)")
    add("--warmup", type=float, default=2, help="seconds of warm-up per scenario (default 2)")
    add("--rounds", type=int, default=2, help="rounds per scenario; the median counts (default 2)")
    add("--connections", type=int, default=32, help="concurrent connections (default 32)")
    add("--threads", type=int, default=2, help="wrk and pgbench threads (default 2)")
    add("--only", action="append", choices=scenarios, help="run only this scenario (repeatable)")
    add("--backend", action="append", choices=BACKENDS, help="serve only on this database (repeatable)")
    add("--creators", type=int, default=200, help="users who open incidents (default 200)")
    add("--incidents", type=int, default=200, help="incidents seeded for get and list (default 200)")
    add("--postgres-url", default=os.environ.get("INCIDENTCORE_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    numbers = ("duration", "warmup", "rounds", "connections", "threads", "creators", "incidents")
    if any(getattr(args, name) <= 0 for name in numbers):
        parser.error(f"--{', --'.join(numbers)} must be positive")
    return args


def database_for(
    backend: str, args: argparse.Namespace, workdir: Path
) -> contextlib.AbstractContextManager[str]:
    if backend == "sqlite":
        return contextlib.nullcontext(f"sqlite:///{workdir / 'bench.db'}")
    return fresh_database(args.postgres_url, "incidentcore_bench_http")


def measure_api(
    backend: str, scenarios: list[str], generator: LoadGenerator, args: argparse.Namespace, workdir: Path
) -> dict[tuple[str, str], LoadResult]:
    """Every API scenario against one `incidentcore serve` on `backend`, seeded first."""
    results = {}
    with database_for(backend, args, workdir) as url, incidentcore_server(url, workdir) as server:
        print(f"incidentcore serve on {backend}: pid {server.pid}, {server.base_url}", flush=True)
        seeded = seed(server.base_url, args.creators, args.incidents)
        for scenario in scenarios:
            load = load_for(scenario, seeded)
            where = f"{backend} {scenario}"
            results[(scenario, backend)] = measure(generator, server, load, args, where)
    return results


def main() -> None:
    args = parse_args()
    selected = set(args.only or [*(s.name for s in SCENARIOS), PGBENCH])
    api_scenarios = [name for name in API_ORDER if name in selected]
    backends = [b for b in BACKENDS if b in (args.backend or BACKENDS)]
    postgres_version, no_postgres = postgres_available(args.postgres_url)
    generator = load_generator(args.threads)
    print_machine(generator, postgres_version)
    print(
        f"{args.connections} connections, {args.warmup:g} s warm-up + {args.rounds} x {args.duration:g} s each\n"
    )
    if no_postgres:
        print(f"Postgres skipped: {no_postgres}")
        backends = [b for b in backends if b != "postgres"]
    run_pgbench = PGBENCH in selected and postgres_version is not None
    if run_pgbench and not shutil.which("pgbench"):
        print("pgbench skipped: not installed (Debian/Ubuntu: apt-get install -y postgresql-client)")
        run_pgbench = False

    results: dict[tuple[str, str], LoadResult] = {}
    bare = None
    ceilings: dict[str, LoadResult] = {}
    pgbench_tps = None
    with tempfile.TemporaryDirectory(prefix="bench_http_") as temp:
        workdir = Path(temp)
        for backend in backends if api_scenarios else []:
            results |= measure_api(backend, api_scenarios, generator, args, workdir)
        if "bare" in selected:
            with bare_server(workdir) as server:
                print(f"bare Litestar endpoint: pid {server.pid}, {server.base_url}", flush=True)
                bare = measure(generator, server, Load("GET", "/bare"), args, "bare")
        ceiling_scenarios = [name for name in CEILINGS if name in selected]
        if ceiling_scenarios and postgres_version is not None:
            with (
                fresh_database(args.postgres_url, "incidentcore_bench_bare_row") as url,
                bare_server(workdir, psycopg_url(url)) as server,
            ):
                print(f"bare endpoint reading rows: pid {server.pid}, {server.base_url}", flush=True)
                for name in ceiling_scenarios:
                    ceilings[name] = measure(generator, server, Load("GET", f"/{name}"), args, name)
        if run_pgbench:
            try:
                pgbench_tps = pgbench_insert_tps(args.postgres_url, args, workdir)
            except RuntimeError as error:
                print(f"pgbench skipped: {error}")
    print_report(results, bare, ceilings, pgbench_tps)
    report_failures(results, bare, ceilings)


if __name__ == "__main__":
    main()
