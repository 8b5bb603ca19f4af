"""``evaluate(..., run_cpu=...)``: the CPU stages go through the runner the caller hands (the
server's thread pool), in the documented order, and the result is the same as inline."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from tests.engine.test_evaluation import jira, push, rule

from jirahooks.engine import evaluate

T = TypeVar("T")


def test_cpu_stages_run_through_the_runner_on_its_threads() -> None:
    rules = [
        rule(id="keys", checks={"key_present": True, "keys_valid": "ALL"}),
        rule(id="jql", targets=["BRANCH"], checks={"jql": 'status = "In Progress"'}),
    ]
    event = push("ABC-1 login", "ABC-2 docs", "no key")
    ran: list[tuple[str, str]] = []
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cpu-test")

    async def run_cpu(fn: Callable[..., T], /, *args: Any) -> T:
        def call() -> T:
            ran.append((fn.__name__, threading.current_thread().name))
            return fn(*args)

        return await asyncio.get_running_loop().run_in_executor(pool, call)

    try:
        resolver = jira()
        pooled = asyncio.run(evaluate(event, rules, resolver, run_cpu=run_cpu))
    finally:
        pool.shutdown()
    inline = asyncio.run(evaluate(event, rules, jira()))

    # planning, then judging with the "did you mean" hints of the failing rules (one job)
    assert [name for name, _ in ran] == ["_plan_all", "_judge_all"]
    assert all(thread.startswith("cpu-test") for _, thread in ran)
    pooled_doc, inline_doc = pooled.to_document(), inline.to_document()
    pooled_doc.pop("timestamp"), inline_doc.pop("timestamp")
    assert pooled_doc == inline_doc
    assert pooled.result == inline.result
    assert pooled.resolver_calls == inline.resolver_calls == 2
