"""Start ``jirahooks serve`` in its own process for a benchmark (the client must not share the
server's GIL): a free port, a fresh secret key, the first-start admin token read from its output,
and ``/healthz`` answering. Shared by the benchmarks that time a real server; imported as
``_serve`` by scripts run as ``python benchmarks/<name>.py``."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import httpx

from jirahooks.crypto import generate_key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(
    data_dir: str, env: dict[str, str], *extra: str, port: int = 0, wait: float = 60
) -> tuple[subprocess.Popen[str], str, str]:
    """``jirahooks serve --data-dir data_dir *extra`` with ``env`` (plus a new
    ``JIRAHOOKS_SECRET_KEY``): the process, its base URL and the first-start admin token, once
    ``/healthz`` answers 200. Exits the benchmark, saying so, when it does not start in ``wait``
    seconds."""
    port = port or free_port()
    command = [sys.executable, "-m", "jirahooks", "serve", "--data-dir", data_dir]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log", *extra]
    env = {**env, "JIRAHOOKS_SECRET_KEY": generate_key()}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    token = ""
    deadline = time.monotonic() + wait
    for line in process.stdout:
        found = re.search(r"Authorization: Bearer ([^'\s]+)", line)
        if found:
            token = found.group(1)
            break
        if time.monotonic() > deadline:
            break
    base = f"http://127.0.0.1:{port}"
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base, token
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"the server ({' '.join(extra) or 'defaults'}) did not start")
