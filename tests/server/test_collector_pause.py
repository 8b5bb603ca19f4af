"""The garbage collector is paused while a big, signed push is evaluated and runs again after
(server/validation_request.py ``CollectorPause``, decision 0014): observed from inside the
engine's planning step, on a real app. Small pushes and unsigned bodies never pause it; nested
pauses resume it only when the last one ends, and never turn on a collector that was off.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Iterator
from typing import Any

import pytest
from tests.server.conftest import Server, compact
from tests.support.pushes import commits, push

from jirahooks.engine import core
from jirahooks.server.validation_request import PAUSE_COLLECTOR_ABOVE, CollectorPause, Pause


@pytest.fixture
def planning(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Whether the collector was enabled each time the engine planned an evaluation."""
    seen: list[bool] = []
    original = core._plan_all

    @functools.wraps(original)  # the stage timer reads the name
    def recording(*args: Any) -> Any:
        seen.append(gc.isenabled())
        return original(*args)

    monkeypatch.setattr(core, "_plan_all", recording)
    yield seen


@pytest.fixture
def ready(server: Server) -> tuple[Server, str]:
    server.add_repository("api")
    server.add_rule("commit-key-required")
    secret: str = server.validation_token("ci", "api")["secret"]
    return server, secret


def test_a_big_push_is_evaluated_with_the_collector_paused(
    ready: tuple[Server, str], planning: list[bool]
) -> None:
    server, secret = ready
    assert gc.isenabled()
    big = push(commits(1500))
    assert len(compact(big)) > PAUSE_COLLECTOR_ABOVE
    answer = server.validate(big, secret)
    assert answer.status_code == 200 and answer.json()["result"] == "PASS"
    small = server.validate(push(commits(3)), secret)
    assert small.json()["result"] == "PASS"
    assert planning == [False, True]
    assert gc.isenabled()  # running again once the answer is made


def test_an_unsigned_big_body_never_pauses_it(
    ready: tuple[Server, str], planning: list[bool]
) -> None:
    server, _ = ready
    answer = server.validate(push(commits(1500)), "not-the-secret")
    assert answer.status_code == 401
    assert planning == []
    assert gc.isenabled()


def test_pauses_nest_and_never_turn_on_a_collector_that_was_off() -> None:
    collector = CollectorPause()
    first, second = Pause(collector), Pause(collector)
    try:
        first.begin()
        first.begin()  # once per request
        second.begin()
        assert not gc.isenabled() and collector.holders == 2
        first.end()
        first.end()
        assert not gc.isenabled() and collector.holders == 1
        second.end()
        assert gc.isenabled() and collector.holders == 0
        gc.disable()
        first = Pause(collector)
        first.begin()
        first.end()
        assert not gc.isenabled()
    finally:
        gc.enable()
