"""The fake Bitbucket Cloud and the fake Jira of a PR-webhook benchmark in a process of their own
(benchmarks/pr_webhooks.py): the senders' threads and the fakes' request threads must not share
one GIL, or the fakes' queue shows up as jirahooks' latency.

``FakesProcess()`` starts a child (``multiprocessing``, spawn) that runs both fakes
(tests/fakes/fake_bitbucket.py, fake_jira.py, real HTTP servers on 127.0.0.1) and answers a few
calls over a pipe: configure a server through its admin API, make PRs (returned as their heads
and signed ``pullrequest:created`` deliveries, ready to send), when each head got its final
status, the request count, clearing the request log. Times are ``time.monotonic()`` in the
child: on Linux one clock for every process of the machine, so they compare with the senders'.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import traceback
from multiprocessing.connection import Connection
from types import SimpleNamespace
from typing import Any

Delivery = tuple[str, dict[str, str], bytes]  # head, headers, body


class FakesProcess:
    """The child process and the calls it answers (see the module docstring)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        child.close()
        self.bitbucket_url: str = self._call("url")

    def _call(self, name: str, *args: Any) -> Any:
        self._conn.send((name, args))
        ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"the fakes' process failed in {name}: {value}")
        return value

    def configure(self, server_url: str, admin_token: str) -> None:
        """The workspace of tests/platforms/harness.py's ``configure`` on that server."""
        self._call("configure", server_url, admin_token)

    def make_prs(self, count: int) -> list[Delivery]:
        """``count`` passing PRs of 3 commits (tests/platforms/processes.py's ``make_prs``),
        each as its signed ``pullrequest:created`` delivery."""
        deliveries: list[Delivery] = self._call("make_prs", count)
        return deliveries

    def finals(self, heads: list[str]) -> dict[str, list[float]]:
        """Per head, when the fake received a final (SUCCESSFUL / FAILED) build status."""
        done: dict[str, list[float]] = self._call("finals", heads)
        return done

    def request_count(self) -> int:
        return int(self._call("request_count"))

    def reset_log(self) -> None:
        self._call("reset_log")

    def close(self) -> None:
        with contextlib.suppress(EOFError, OSError, RuntimeError):
            self._call("stop")
        self._conn.close()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()

    def __enter__(self) -> FakesProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _serve(conn: Connection) -> None:
    """The child: both fakes, and the calls of :class:`FakesProcess`, one at a time."""
    from tests.fakes.fake_bitbucket import FakeBitbucket
    from tests.fakes.fake_jira import FakeJira
    from tests.platforms.harness import SECRET, configure
    from tests.platforms.payloads import pull_request_event
    from tests.platforms.processes import final_statuses, make_prs

    with FakeBitbucket() as bitbucket, FakeJira() as jira:
        state: dict[str, Any] = {}

        def do_configure(url: str, token: str) -> None:
            server: Any = SimpleNamespace(url=url)  # only its url is used
            guardian = configure(server, bitbucket, jira, admin_token=token)
            guardian.http.close()
            state["repo"] = guardian.repo

        def do_make_prs(count: int) -> list[Delivery]:
            repo = state["repo"]
            out: list[Delivery] = []
            for pr in make_prs(bitbucket, repo, count):
                headers, body = pull_request_event(
                    bitbucket, repo, pr, secret=SECRET, request_id=f"burst-{repo.slug}-{pr.id}"
                )
                out.append((pr.head, headers, body))
            return out

        calls: dict[str, Any] = {
            "url": lambda: bitbucket.url,
            "configure": do_configure,
            "make_prs": do_make_prs,
            "finals": lambda heads: final_statuses(bitbucket, heads),
            "request_count": lambda: len(bitbucket.requests),
            "reset_log": bitbucket.reset_log,
        }
        while True:
            try:
                name, args = conn.recv()
            except EOFError:
                return
            if name == "stop":
                conn.send((True, None))
                return
            try:
                conn.send((True, calls[name](*args)))
            except Exception:
                conn.send((False, traceback.format_exc(limit=5)[-2000:]))
