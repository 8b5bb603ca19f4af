"""What the git hooks cost: the client hooks against bare Python, and a 10,000-commit push.

Prints, in one run:

* medians of **interleaved** rounds — every round runs every command once, one after the
  other, so a slow moment of the shared machine hits them all alike — of the installed hook
  scripts (exactly what git runs), as wall time, CPU time (the hook and its git children) and
  ratios to a bare ``python -c pass`` from the same venv: commit-msg in remote mode against a
  running ``jirahooks serve`` (a stdlib stub without the server extra), in local format-only
  mode, in local mode with a Jira connection (a fake Jira on loopback); prepare-commit-msg in
  local and remote mode with its message form cached (a branch naming a key, a message that
  has one: the whole path runs, the file stays as it is); pre-push in remote mode
  with 1 and with 100 new commits; and ``gitlint --msg-filename`` installed into a temporary
  venv of this benchmark (skipped with a note when it cannot be installed);
* the server's own time for the two pre-push requests, from this already-warm process;
* the pre-receive hook on a push of 10,000 commits (1,000 distinct issue keys) to a local bare
  repository, with the fake Jira answering after 20 ms per request: wall time of ``git push``,
  the verdict, and the Jira requests made — for one ref, and for the same commits spread over
  three refs (one batched Jira pass either way).

Everything runs on 127.0.0.1 in a temporary directory. ``.pyc`` files are written and used, as
after a ``pip install`` (``PYTHONDONTWRITEBYTECODE`` is dropped for the hooks). Run:
``.venv/bin/python benchmarks/hooks.py [--rounds N] [--no-gitlint] [--no-pre-receive]``.
Figures depend on the machine; nothing is asserted.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fakes

from tests.fakes.fake_jira import FakeJira
from tests.fakes.loopback import LoopbackServer

PYTHON = sys.executable
COMMITS = 10_000
DISTINCT_KEYS = 1_000
LATENCY = 0.020

RULES_TOML = '[[rules]]\ntemplate = "commit-key-required"\n'
SERVER_DOCUMENT = """\
workspace: bench
repositories: [{slug: demo}]
rules: [{template: commit-key-required}]
validation_tokens: [{name: hooks, secret: "${BENCH_HOOK_SECRET}", repository: demo}]
"""
PRE_RECEIVE_DOCUMENT = """\
connections:
  - name: fake
    url: {url}
    deployment: cloud
    email: bot@example.com
    token: ${{BENCH_JIRA_TOKEN}}
rules:
  - template: commit-key-required
  - template: all-keys-valid
  - template: issue-in-progress
    targets: [COMMIT]
"""


def isolated_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "JIRAHOOKS_", "JHFB_"))}
    proxies = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
    for name in proxies:
        env.pop(name, None)
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", XDG_CONFIG_HOME=str(home / ".config"))
    # as installed: .pyc files are written once and used (a pip install compiles them)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["no_proxy"] = "*"
    return env


def run(
    args: list[str], cwd: Path, env: dict[str, str], **kwargs: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False, **kwargs
    )  # type: ignore[call-overload, no-any-return]


def must(args: list[str], cwd: Path, env: dict[str, str], **kwargs: object) -> str:
    proc = run(args, cwd, env, **kwargs)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr}{proc.stdout}")
    return proc.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def validation_server(base: Path, env: dict[str, str]) -> Iterator[tuple[str, str, str]]:
    """(endpoint, secret, kind): the real ``jirahooks serve`` when the server extra is
    installed, else a stdlib stub that answers PASS (so the client side is still measured)."""
    secret = "bench-" + os.urandom(8).hex()
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        yield from _stub_server(secret)
        return
    server_env = {**env, "BENCH_HOOK_SECRET": secret, "JIRAHOOKS_DEFAULT_WORKSPACE": "bench"}
    document = base / "server.yml"
    document.write_text(SERVER_DOCUMENT, encoding="utf-8")
    data = base / "server-data"
    must(
        [PYTHON, "-m", "jirahooks", "apply", str(document), "--data-dir", str(data)],
        base,
        server_env,
    )
    port = free_port()
    log = (base / "serve.log").open("wb")
    process = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "jirahooks",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=base,
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("jirahooks serve did not start; see serve.log") from None
                time.sleep(0.1)
        yield (
            f"http://127.0.0.1:{port}/api/validate/bench?repoSlug=demo",
            secret,
            "jirahooks serve (SQLite)",
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _stub_server(secret: str) -> Iterator[tuple[str, str, str]]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b'{"timestamp":0,"result":"PASS","ruleValidations":[],"errorValidations":[]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = LoopbackServer(Handler).start()
    try:
        yield (
            f"http://127.0.0.1:{server.port}/api/validate/bench?repoSlug=demo",
            secret,
            "stdlib stub",
        )
    finally:
        server.stop()


LOCAL_JIRA_TOML = """\
[[connections]]
name = "fake"
url = "{url}"
deployment = "cloud"
email = "bot@example.com"
token = "${{BENCH_JIRA_TOKEN}}"

[[rules]]
template = "commit-key-required"

[[rules]]
template = "all-keys-valid"
"""


@dataclass
class Case:
    """One command of the interleaved rounds."""

    label: str
    command: list[str]
    cwd: Path
    env: dict[str, str]
    stdin: str = ""
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    codes: set[int] = field(default_factory=set)

    def once(self) -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(
            self.command,
            cwd=self.cwd,
            env=self.env,
            input=self.stdin.encode(),
            capture_output=True,
            check=False,
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        self.wall.append(wall * 1000)
        self.cpu.append(cpu * 1000)
        self.codes.add(proc.returncode)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{self.label}: exit {proc.returncode}\n{proc.stderr.decode()}")


def interleaved(cases: list[Case], rounds: int) -> None:
    """Every round runs every command once, one after the other (the order rotating), so a
    slow moment of the shared machine hits all of them alike; medians are taken per command."""
    for case in cases:
        case.once()  # warm-up: page cache, .pyc files, the rule cache
        case.wall.clear()
        case.cpu.clear()
    for r in range(rounds):
        shift = r % len(cases)
        for case in cases[shift:] + cases[:shift]:
            case.once()


def gitlint_command(base: Path) -> list[str] | None:
    """gitlint installed into a temporary venv of this benchmark, when the index is reachable."""
    venv = base / "gitlint-venv"
    proc = subprocess.run(
        [PYTHON, "-m", "venv", str(venv)], capture_output=True, text=True, check=False
    )
    pip = venv / "bin" / "pip"
    if proc.returncode != 0 or not pip.exists():
        return None
    proc = subprocess.run(
        [str(pip), "install", "-q", "--disable-pip-version-check", "gitlint-core"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    gitlint = venv / "bin" / "gitlint"
    return [str(gitlint)] if proc.returncode == 0 and gitlint.exists() else None


def server_ms(endpoint: str, secret: str, body: bytes, runs: int) -> float:
    """The server's own time for one request (from this already-warm process), median."""
    import hashlib
    import hmac
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(endpoint)
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "x-hub-signature-256": signature}
    times = []
    for _ in range(runs + 1):
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        started = time.perf_counter()
        connection.request("POST", f"{parts.path}?{parts.query}", body, headers)
        connection.getresponse().read()
        times.append((time.perf_counter() - started) * 1000)
        connection.close()
    return statistics.median(times[1:])


def push_body(repo: Path, env: dict[str, str], branch: str) -> bytes:
    log = must(
        ["git", "log", "-z", "--format=%H%x1f%an%x1f%B", branch, "--not", "--remotes"], repo, env
    )
    commits = []
    for record in log.split("\0"):
        record = record.lstrip("\n")
        if record:
            sha, name, message = record.split("\x1f", 2)
            commits.append(
                {"hash": sha, "message": message.rstrip("\n"), "authorDisplayName": name}
            )
    document = {"triggerType": "PUSH", "branchName": branch, "commits": commits, "locale": "en-US"}
    return json.dumps(document, separators=(",", ":")).encode()


def bench_hooks(base: Path, env: dict[str, str], rounds: int, with_gitlint: bool) -> None:
    origin, repo = base / "origin.git", base / "work"
    must(["git", "init", "-q", "--bare", "-b", "main", str(origin)], base, env)
    must(["git", "init", "-q", "-b", "main", str(repo)], base, env)
    must(["git", "remote", "add", "origin", str(origin)], repo, env)
    must(["git", "commit", "-q", "--allow-empty", "-m", "ABC-1 base"], repo, env)
    must(["git", "push", "-q", "origin", "main"], repo, env)
    shas = {}
    for count in (1, 100):
        must(["git", "checkout", "-q", "-b", f"b{count}", "main"], repo, env)
        for i in range(count):
            must(
                ["git", "commit", "-q", "--allow-empty", "-m", f"ABC-{i + 1} change {i}"], repo, env
            )
        shas[count] = must(["git", "rev-parse", "HEAD"], repo, env).strip()
    must(["git", "checkout", "-q", "main"], repo, env)
    message = base / "COMMIT_EDITMSG"
    message.write_text(
        "ABC-123 Fix the login timeout\n\n# Please enter the commit message\n", encoding="utf-8"
    )
    hooks = repo / ".git" / "hooks"
    local_dir, jira_dir = base / "local-hooks", base / "jira-hooks"
    (repo / ".jirahooks.toml").write_text(RULES_TOML, encoding="utf-8")
    jira_config = base / "jira.toml"  # the fake Jira's URL goes in once it runs
    jira_config.write_text(LOCAL_JIRA_TOML.format(url="http://127.0.0.1:9"), encoding="utf-8")
    for directory, config in ((local_dir, None), (jira_dir, jira_config)):
        directory.mkdir()
        extra = ["--config", str(config)] if config else []
        must(["git", "config", "core.hooksPath", str(directory)], repo, env)
        must(
            [PYTHON, "-m", "jirahooks", "install", "commit-msg", "--mode", "local", *extra],
            repo,
            env,
        )
    must(["git", "config", "--unset", "core.hooksPath"], repo, env)
    must([PYTHON, "-m", "jirahooks", "install", "--mode", "remote"], repo, env)
    # prepare-commit-msg on a branch that names a key: the whole path (form, branch, message)
    # runs; the message names a key already, so the file is left as it is round after round
    keyed = base / "keyed"
    must(["git", "init", "-q", "-b", "feature/ABC-9-bench", str(keyed)], base, env)
    (keyed / ".jirahooks.toml").write_text(RULES_TOML, encoding="utf-8")
    prepare_local = base / "prepare-local"
    prepare_local.mkdir()
    must(["git", "config", "core.hooksPath", str(prepare_local)], keyed, env)
    must(
        [PYTHON, "-m", "jirahooks", "install", "prepare-commit-msg", "--mode", "local"], keyed, env
    )
    must(["git", "config", "--unset", "core.hooksPath"], keyed, env)
    must(
        [PYTHON, "-m", "jirahooks", "install", "prepare-commit-msg", "--mode", "remote"], keyed, env
    )
    prepared = base / "PREPARE_EDITMSG"
    prepared.write_text("ABC-9 Fix the login timeout\n", encoding="utf-8")

    cases = [Case("python -c pass (bare interpreter)", [PYTHON, "-c", "pass"], repo, env)]
    with validation_server(base, env) as (endpoint, secret, kind), FakeJira("cloud") as jira:
        jira.add_issues("ABC", 200, status="In Progress")
        jira_config.write_text(LOCAL_JIRA_TOML.format(url=jira.url), encoding="utf-8")
        remote_env = {**env, "JIRAHOOKS_ENDPOINT": endpoint, "JIRAHOOKS_SECRET": secret}
        cases += [
            Case(
                f"commit-msg, remote ({kind})",
                [str(hooks / "commit-msg"), str(message)],
                repo,
                remote_env,
            ),
            Case(
                "commit-msg, local format-only",
                [str(local_dir / "commit-msg"), str(message)],
                repo,
                env,
            ),
            Case(
                "commit-msg, local with Jira (fake, 0 ms)",
                [str(jira_dir / "commit-msg"), str(message)],
                repo,
                {**env, "BENCH_JIRA_TOKEN": jira.token},
            ),
        ]
        cases += [
            Case(
                "prepare-commit-msg, local (cached form)",
                [str(prepare_local / "prepare-commit-msg"), str(prepared), "message"],
                keyed,
                env,
            ),
            Case(
                "prepare-commit-msg, remote (form cached)",
                [str(keyed / ".git" / "hooks" / "prepare-commit-msg"), str(prepared), "message"],
                keyed,
                remote_env,
            ),
        ]
        for count in (1, 100):
            line = f"refs/heads/b{count} {shas[count]} refs/heads/b{count} {'0' * 40}\n"
            cases.append(
                Case(
                    f"pre-push, remote, {count} new commit{'s' if count > 1 else ''}",
                    [str(hooks / "pre-push"), "origin", str(origin)],
                    repo,
                    remote_env,
                    stdin=line,
                )
            )
        gitlint = gitlint_command(base) if with_gitlint else None
        if gitlint:
            cases.append(
                Case(
                    "gitlint --msg-filename", [*gitlint, "--msg-filename", str(message)], repo, env
                )
            )
        interleaved(cases, rounds)
        server = {
            count: server_ms(endpoint, secret, push_body(repo, env, f"b{count}"), 15)
            for count in (1, 100)
        }

    floor_wall = statistics.median(cases[0].wall)
    floor_cpu = statistics.median(cases[0].cpu)
    print(f"hooks: median of {rounds} interleaved rounds (the installed scripts, as git runs them)")
    print(f"  {'':<46} {'wall ms':>8} {'× bare':>7} {'cpu ms':>8} {'× bare':>7}  exit")
    for case in cases:
        wall, cpu = statistics.median(case.wall), statistics.median(case.cpu)
        codes = ",".join(str(c) for c in sorted(case.codes))
        print(
            f"  {case.label:<46} {wall:8.1f} {wall / floor_wall:6.1f}× {cpu:8.1f} {cpu / floor_cpu:6.1f}×  {codes}"
        )
    if not gitlint:
        print(
            "  gitlint: skipped ("
            + (
                "--no-gitlint"
                if not with_gitlint
                else "could not be installed into a temporary venv"
            )
            + ")"
        )
    for count, ms in server.items():
        print(
            f"  server's own time for the {count}-commit PUSH request (in-process client): {ms:.1f} ms"
        )
    print(
        "  (cpu: the hook process and its git children; the server's and fake Jira's CPU is not counted)"
    )


def history(count: int, refs: int) -> str:
    """A fast-import stream: ``count`` commits split over ``refs`` branches (b0, b1, …)."""
    lines: list[str] = []
    per_ref = -(-count // refs)
    mark = 0
    for r in range(refs):
        first = True
        for i in range(r * per_ref, min(count, (r + 1) * per_ref)):
            mark += 1
            msg = f"ABC-{i % DISTINCT_KEYS + 1} change number {i}".encode()
            lines += [
                f"commit refs/heads/b{r}",
                f"mark :{mark}",
                f"committer Bench <bench@example.com> {1767268800 + i} +0000",
                f"data {len(msg)}",
                msg.decode(),
            ]
            if not first:
                lines.append(f"from :{mark - 1}")
            first = False
            lines += ["M 644 inline f.txt", f"data {len(str(i)) + 1}", str(i), ""]
    return "\n".join(lines) + "\n"


def bench_pre_receive(base: Path, env: dict[str, str]) -> None:
    print(
        f"\npre-receive hook: push of {COMMITS:,} new commits ({DISTINCT_KEYS:,} distinct keys), "
        f"fake Jira Cloud at {LATENCY * 1000:.0f} ms per request, default 5 s budget"
    )
    with FakeJira("cloud", latency=LATENCY) as jira:
        jira.add_issues("ABC", DISTINCT_KEYS, status="In Progress")
        jira_env = {**env, "BENCH_JIRA_TOKEN": jira.token}
        for refs in (1, 3):
            case = base / f"push-{refs}"
            case.mkdir()
            config = case / "jirahooks.yml"
            config.write_text(PRE_RECEIVE_DOCUMENT.format(url=jira.url), encoding="utf-8")
            server, client = case / "server.git", case / "client"
            must(["git", "init", "-q", "--bare", "-b", "main", str(server)], case, env)
            must(
                [PYTHON, "-m", "jirahooks", "install", "pre-receive", "--config", str(config)],
                server,
                env,
            )
            must(["git", "init", "-q", "-b", "main", str(client)], case, env)
            must(["git", "fast-import", "--quiet"], client, env, input=history(COMMITS, refs))
            must(["git", "remote", "add", "origin", str(server)], client, env)
            jira.reset_log()
            started = time.perf_counter()
            push = run(["git", "push", "origin", *[f"b{r}" for r in range(refs)]], client, jira_env)
            elapsed = time.perf_counter() - started
            paths = collections.Counter(jira.paths())
            verdict = "accepted" if push.returncode == 0 else "REJECTED"
            detail = ", ".join(
                f"{p.rsplit('/', 2)[-2]}/{p.rsplit('/', 1)[-1]} {n}"
                for p, n in sorted(paths.items())
            )
            label = f"{refs} ref{'s' if refs > 1 else ''} ({COMMITS // refs:,}{'+' if COMMITS % refs else ''} commits each)"
            print(
                f"  {label:<34} git push {elapsed:6.2f} s   {verdict}   "
                f"Jira requests {sum(paths.values())} ({detail})"
            )
            if push.returncode != 0:
                print("    " + "\n    ".join(push.stderr.splitlines()[:12]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds")
    parser.add_argument("--no-gitlint", action="store_true", help="do not install gitlint")
    parser.add_argument("--no-pre-receive", action="store_true", help="skip the 10,000-commit push")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jirahooks-bench-") as tmp:
        base = Path(tmp)
        env = isolated_env(base / "home")
        bench_hooks(base, env, args.rounds, not args.no_gitlint)
        if not args.no_pre_receive:
            bench_pre_receive(base, env)


if __name__ == "__main__":
    main()
