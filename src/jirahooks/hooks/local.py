"""Running the engine inside a hook (local mode, pre-receive): one batched Jira pass per push.

A push can update several refs, and PUSH rules have branch conditions on the pushed branch, so
each ref is its own event. Asking Jira per ref would multiply round trips, so the events are
evaluated in three steps:

1. **record** — every event is evaluated against a ``RecordingResolver`` that answers without
   I/O (every key "found", every JQL "matching") and writes down what the engine asked for.
   The engine's planning decides which keys matter (conditions, skipped commits, escapes,
   ignored keys), so nothing of it is duplicated here; it is pure CPU and cheap;
2. **fetch** — the real resolver is asked once: ``projects()`` if any rule ignores unknown
   projects (asked *before* recording, so the recording sees the real project set and keys of
   unknown projects are not looked up), ``resolve()`` with the union of all keys, and
   ``match_jql()`` once per distinct JQL with the union of its keys — within the time budget,
   which counts the time spent waiting for Jira;
3. **judge** — every event is evaluated again against a ``PrefetchedResolver`` that answers
   from step 2.

So a push costs at most ``2 + distinct JQLs`` Jira calls whatever the number of refs and
commits (the engine's own guarantee, kept across refs). Past the time budget every key not
yet answered is *undetermined* and the Jira-unreachable policy of the settings decides.

A hook first evaluates without an event loop (``run_batch_sync``): steps 1 and 3 never wait,
so the engine's coroutines run to their end at once, and ``asyncio``, ``httpx`` and the Jira
client are not even imported — for format checks only, and also with a Jira connection when
nothing in the change needs Jira (no key to resolve, no project list to ask). Only when step 2
has something to ask is the evaluation run again, in ``asyncio.run``, with the real resolver.

The rules file's parsed data is kept under ``.git/jirahooks/``, named by the file's path and
holding its bytes and the jirahooks version (``read_rules_cached``): an unchanged file is not
parsed again (no YAML, no TOML import); a missing, corrupt or foreign entry is ignored and
rewritten; writes go to a temporary file renamed into place. The entry also keeps the rules
compiled for commit-msg (``jirahooks.hooks.compiled``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from jirahooks.engine import evaluate
from jirahooks.engine.facts import Evaluation
from jirahooks.engine.resolver import (
    ConnectionProblem,
    IssueData,
    JqlResult,
    OfflineResolver,
    ProjectSet,
    Resolution,
    Resolver,
)
from jirahooks.errors import ConfigError
from jirahooks.event import Event
from jirahooks.hooks.compiled import cache_entry, siblings
from jirahooks.hooks.entry import CACHE_DIR, CONFIG_NAMES, find_config
from jirahooks.hooks.setup import LocalSetup as LocalSetup
from jirahooks.rules.config import ConnectionConfig, load_document, read_file
from jirahooks.rules.model import Rule, Settings

T = TypeVar("T")
__all__ = ["CACHE_DIR", "CONFIG_NAMES", "find_config"]  # their home is the light entry module


class JiraNeeded(Exception):
    """A loop-less first attempt (``run_batch_sync``) has to ask Jira after all."""


class RecordingResolver:
    """Answers without I/O and records what the engine asked for (step 1)."""

    offline = False

    def __init__(self, projects: ProjectSet | None = None, *, probe: bool = False) -> None:
        self._projects = projects or ProjectSet(None)
        self._probe = probe  # raise JiraNeeded at the first key or JQL instead of recording
        self.projects_asked = False
        self.keys: dict[str, None] = {}
        self.jql: dict[str, dict[str, None]] = {}

    async def projects(self) -> ProjectSet:
        self.projects_asked = True
        return self._projects

    async def resolve(self, keys: Collection[str]) -> Resolution:
        if self._probe and keys:
            raise JiraNeeded
        self.keys.update(dict.fromkeys(keys))
        return Resolution({k: IssueData(k) for k in keys})

    async def match_jql(
        self, jql: str, keys: Collection[str], *, max_age: float | None = None
    ) -> JqlResult:
        if self._probe and keys:
            raise JiraNeeded
        self.jql.setdefault(jql, {}).update(dict.fromkeys(keys))
        return JqlResult(frozenset(keys))


@dataclass
class Prefetched:
    """What Jira answered for a whole push (step 2)."""

    projects: ProjectSet = field(default_factory=ProjectSet)
    resolution: Resolution = field(default_factory=Resolution)
    jql: dict[str, JqlResult] = field(default_factory=dict)
    calls: int = 0


class PrefetchedResolver:
    """Answers the engine from a ``Prefetched`` (step 3); never does I/O."""

    offline = False

    def __init__(self, data: Prefetched) -> None:
        self._data = data

    async def projects(self) -> ProjectSet:
        return self._data.projects

    async def resolve(self, keys: Collection[str]) -> Resolution:
        res = self._data.resolution
        issues = {k: res.issues[k] for k in keys if k in res.issues}
        undetermined = frozenset(k for k in keys if k in res.undetermined)
        return Resolution(issues, undetermined, res.problems)

    async def match_jql(
        self, jql: str, keys: Collection[str], *, max_age: float | None = None
    ) -> JqlResult:
        result = self._data.jql.get(jql)
        if result is None:  # not recorded: cannot happen unless the engine changes its mind
            return JqlResult(undetermined=frozenset(keys))
        wanted = frozenset(keys)
        return JqlResult(result.matching & wanted, result.undetermined & wanted, result.problems)


def _timeout_problem(budget: float) -> ConnectionProblem:
    return ConnectionProblem(
        "jira",
        "JIRA_TIMEOUT",
        f"Jira did not answer within the hook's time budget of {budget:g} s",
        "raise settings.time_budget_seconds (or --timeout), or check the Jira connection",
    )


async def _record(
    events: Sequence[Event],
    rules: Sequence[Rule],
    settings: Settings,
    projects: ProjectSet | None,
    *,
    probe: bool = False,
) -> RecordingResolver:
    recorder = RecordingResolver(projects, probe=probe)
    for event in events:
        await evaluate(event, rules, recorder, settings=settings)
    return recorder


class NotAsked:
    """The Jira resolver of a loop-less first attempt: asking it raises ``JiraNeeded``."""

    offline = False

    async def projects(self) -> ProjectSet:
        raise JiraNeeded

    async def resolve(self, keys: Collection[str]) -> Resolution:
        raise JiraNeeded

    async def match_jql(
        self, jql: str, keys: Collection[str], *, max_age: float | None = None
    ) -> JqlResult:
        raise JiraNeeded


class _Clock:
    """The time budget counts time spent waiting for Jira, not the CPU time of planning."""

    def __init__(self, budget: float | None, *, live: bool = True) -> None:
        self.budget = budget
        self.spent = 0.0
        self.live = live

    async def wait(self, call: Awaitable[T]) -> T:
        if not self.live:
            close = getattr(call, "close", None)
            if close is not None:
                close()  # never awaited
            raise JiraNeeded
        import asyncio

        remaining = None if self.budget is None else max(self.budget - self.spent, 0.001)
        started = time.perf_counter()
        try:
            return await asyncio.wait_for(call, timeout=remaining)
        finally:
            self.spent += time.perf_counter() - started


async def evaluate_batch(
    events: Sequence[Event],
    rules: Sequence[Rule],
    resolver: Resolver,
    *,
    settings: Settings,
    budget: float | None = None,
) -> tuple[list[Evaluation], int]:
    """Evaluate ``events`` with one batched Jira pass; returns the evaluations and the number
    of resolver calls made."""
    if not events:
        return [], 0
    if resolver.offline:
        return [await evaluate(e, rules, resolver, settings=settings) for e in events], 0
    data = Prefetched()
    # the resolver has its own deadline, a little shorter: a hard stop
    clock = _Clock(budget, live=not isinstance(resolver, NotAsked))
    recorder: RecordingResolver | None = None
    try:
        # Projects first when some rule ignores unknown projects, so that one recording pass
        # sees the real project set (the engine would ask for it anyway).
        if not clock.live:
            # a loop-less attempt stops (JiraNeeded) at the first key or JQL to ask about; the
            # project list only narrows the keys, so without any there is nothing to ask Jira
            recorder = await _record(events, rules, settings, None, probe=True)
        elif any(r.enabled and r.checks.ignore_unknown_projects for r in rules):
            data.projects = await clock.wait(resolver.projects())
            data.calls += 1
        if recorder is None:
            known = data.projects if data.projects.projects is not None else None
            recorder = await _record(events, rules, settings, known)
        if recorder.keys:
            data.resolution = await clock.wait(resolver.resolve(list(recorder.keys)))
            data.calls += 1
        for jql, keys in recorder.jql.items():
            found = [k for k in keys if k in data.resolution.issues]
            if found:
                data.jql[jql] = await clock.wait(resolver.match_jql(jql, found))
                data.calls += 1
            else:
                data.jql[jql] = JqlResult()
    except TimeoutError:
        if recorder is None:
            recorder = await _record(events, rules, settings, None)
        problem = _timeout_problem(budget or 0)
        issues = dict(data.resolution.issues)
        data.resolution = Resolution(
            issues,
            frozenset(k for k in recorder.keys if k not in issues),
            (*data.resolution.problems, problem),
        )
        for jql, keys in recorder.jql.items():
            if jql not in data.jql:
                data.jql[jql] = JqlResult(undetermined=frozenset(keys), problems=(problem,))
    cached = PrefetchedResolver(data)
    evaluations = [await evaluate(e, rules, cached, settings=settings) for e in events]
    return evaluations, data.calls


def read_rules_cached(path: Path, cache_dir: Path | None) -> object:
    """The rules file's plain data, from the cache in ``cache_dir`` when the file is unchanged.

    Only data that survives a JSON round trip unchanged is cached (a YAML date would not), so a
    cached read is exactly a fresh one. Errors of the file itself (missing, unreadable, invalid)
    come from ``read_file`` as before; the cache never hides them."""
    try:
        raw = path.read_bytes()
    except OSError:
        return read_file(path)  # reports the problem as a ConfigError
    if cache_dir is None:
        return read_file(path)
    name, key = cache_entry(path, raw)
    entry = cache_dir / name
    try:
        cached = json.loads(entry.read_text(encoding="utf-8"))
        if isinstance(cached, dict) and cached.get("key") == key and "data" in cached:
            return cached["data"]
    except (OSError, ValueError):
        pass  # missing or corrupt: parse and rewrite
    data = read_file(path)
    try:
        text = json.dumps({"key": key, "source": str(path), "data": data})
        if json.loads(text)["data"] != data:
            return data
    except (TypeError, ValueError):
        return data  # not JSON data (a date, say): not cached
    write_atomically(entry, text, siblings=siblings(name))
    return data


def write_atomically(entry: Path, text: str, *, siblings: str) -> None:
    """Temp file + rename: a concurrent reader sees the old entry or the new one, never half;
    the other entries matching ``siblings`` (older contents of the same rules file) are
    removed. A failure only means no cache."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, entry)
        for old in entry.parent.glob(siblings):
            if old != entry:
                old.unlink(missing_ok=True)
    except OSError:
        pass


def load_setup(path: Path, repository: str | None, *, cache_dir: Path | None = None) -> LocalSetup:
    data = read_rules_cached(path, cache_dir)
    if isinstance(data, list):
        data = {"rules": data}
    document = load_document(data, source=str(path))
    connections = document.connections_for(repository)
    usable: list[ConnectionConfig] = []
    notes: list[str] = []
    for connection in connections:
        try:
            connection.secret()
        except ConfigError as exc:
            notes.append(
                f"Jira connection '{connection.name}' not used: "
                f"{exc.problems[0].message if exc.problems else exc.message}"
            )
            continue
        usable.append(connection)
    if connections and not usable:
        notes.append("format checks only: no Jira connection has its token in the environment")
    return LocalSetup(
        document,
        document.rules_for(repository),
        document.settings_for(repository),
        usable,
        tuple(notes),
    )


def time_budget(setup: LocalSetup, repository: str | None, default: float) -> float:
    """``settings.time_budget_seconds`` when the document sets it, else ``default``."""
    raw = dict(setup.document.settings_raw)
    repo = setup.document.repository(repository) if repository else None
    if repo is not None:
        raw.update(repo.settings_overrides)
    return setup.settings.time_budget_seconds if "time_budget_seconds" in raw else default


def build_resolver(connections: Sequence[ConnectionConfig], budget: float | None) -> Resolver:
    if not connections:
        return OfflineResolver()
    from jirahooks.jira import build_resolver as build

    return build(connections, deadline_seconds=budget * 0.9 if budget else None)


def run_batch_sync(
    events: Sequence[Event], setup: LocalSetup, *, budget: float | None, loopless_first: bool = True
) -> tuple[list[Evaluation], int]:
    """``run_batch`` from synchronous code: first without an event loop (see the module
    docstring), then — only if Jira has to be asked — in ``asyncio.run``.

    The first attempt plans the first event that names a key twice (once there, once for
    real): nothing for a commit, but server hooks, whose pushes are large and nearly always
    need Jira, pass ``loopless_first=False`` when connections are usable."""
    if loopless_first or not setup.connections:
        resolver = NotAsked() if setup.connections else OfflineResolver()
        attempt = evaluate_batch(
            events, setup.rules, resolver, settings=setup.settings, budget=budget
        )
        try:
            attempt.send(None)
        except StopIteration as finished:
            result: tuple[list[Evaluation], int] = finished.value
            return result
        except JiraNeeded:
            pass
        else:
            attempt.close()  # it waited on something after all: run it properly
    import asyncio

    return asyncio.run(run_batch(events, setup, budget=budget))


async def run_batch(
    events: Sequence[Event], setup: LocalSetup, *, budget: float | None
) -> tuple[list[Evaluation], int]:
    """Build the resolver, evaluate the events in one batch, close the resolver."""
    resolver = build_resolver(setup.connections, budget)
    try:
        return await evaluate_batch(
            events, setup.rules, resolver, settings=setup.settings, budget=budget
        )
    finally:
        close = getattr(resolver, "aclose", None)
        if close is not None:
            await close()
