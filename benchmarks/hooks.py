"""What the git hooks cost: commit-msg latency, and a 10,000-commit push through pre-receive.

Prints, side by side:

* the median wall time of the installed commit-msg hook script (exactly what git runs) in
  remote mode against a local jirahooks server, and in local format-only mode, next to a bare
  ``python -c pass`` — the floor any Python hook pays;
* the pre-receive hook on a push of 10,000 commits (1,000 distinct issue keys) to a local bare
  repository, with the fake Jira answering after 20 ms per request: wall time of ``git push``,
  the verdict, and the Jira requests made — for one ref, and for the same commits spread over
  three refs (one batched Jira pass either way).

Everything runs on 127.0.0.1 in a temporary directory. Run: ``.venv/bin/python
benchmarks/hooks.py [--runs N]``. Figures depend on the machine; nothing is asserted.
"""

from __future__ import annotations

import argparse
import collections
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


def median_ms(command: list[str], cwd: Path, env: dict[str, str], runs: int) -> tuple[float, int]:
    times = []
    code = 0
    run(command, cwd, env)  # warm the page cache and .pyc files
    for _ in range(runs):
        started = time.perf_counter()
        code = run(command, cwd, env).returncode
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), code


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


def bench_commit_msg(base: Path, env: dict[str, str], runs: int) -> None:
    repo = base / "work"
    must(["git", "init", "-q", "-b", "main", str(repo)], base, env)
    (repo / ".jirahooks.toml").write_text(RULES_TOML, encoding="utf-8")
    message = base / "COMMIT_EDITMSG"
    message.write_text(
        "ABC-123 Fix the login timeout\n\n# Please enter the commit message\n", encoding="utf-8"
    )
    hooks = repo / ".git" / "hooks"
    floor, _ = median_ms([PYTHON, "-c", "pass"], repo, env, runs)
    floor_isolated, _ = median_ms([PYTHON, "-I", "-S", "-c", "pass"], repo, env, runs)

    must([PYTHON, "-m", "jirahooks", "install", "commit-msg", "--mode", "local"], repo, env)
    local, local_code = median_ms([str(hooks / "commit-msg"), str(message)], repo, env, runs)

    with validation_server(base, env) as (endpoint, secret, kind):
        must([PYTHON, "-m", "jirahooks", "install", "commit-msg", "--mode", "remote"], repo, env)
        remote_env = {**env, "JIRAHOOKS_ENDPOINT": endpoint, "JIRAHOOKS_SECRET": secret}
        remote, remote_code = median_ms(
            [str(hooks / "commit-msg"), str(message)], repo, remote_env, runs
        )

    with contextmanager(_stub_server)("stub") as (endpoint, secret, _):
        stub_env = {**env, "JIRAHOOKS_ENDPOINT": endpoint, "JIRAHOOKS_SECRET": secret}
        client, _ = median_ms([str(hooks / "commit-msg"), str(message)], repo, stub_env, runs)

    print(f"commit-msg hook, median of {runs} runs (the installed script, as git runs it)")
    print(f"  {'python -c pass (bare interpreter)':<48} {floor:8.1f} ms")
    print(f"  {'python -I -S -c pass (no site)':<48} {floor_isolated:8.1f} ms")
    print(
        f"  {'local mode, format-only (.jirahooks.toml)':<48} {local:8.1f} ms   exit {local_code}"
    )
    print(f"  {'remote mode, ' + kind:<48} {remote:8.1f} ms   exit {remote_code}")
    print(f"  {'remote mode, stdlib stub server (client side only)':<48} {client:8.1f} ms")
    print(
        f"  {'  overhead over bare python (local / remote)':<48} {local - floor:8.1f} / {remote - floor:.1f} ms"
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
    parser.add_argument("--runs", type=int, default=15, help="runs per commit-msg measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jirahooks-bench-") as tmp:
        base = Path(tmp)
        env = isolated_env(base / "home")
        bench_commit_msg(base, env, args.runs)
        bench_pre_receive(base, env)


if __name__ == "__main__":
    main()
