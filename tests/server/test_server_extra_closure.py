"""The server runs on what ``make run`` installs (``jirahooks[server,postgres]``) and nothing more.

The test venv holds the dev stack too, which brings packages the server may come to rely on
without saying so (``greenlet`` came with the test tools, so ``make run`` on a fresh machine
failed with "SQLAlchemy asyncio requires greenlet"). Here a child process may import only the
distributions in the dependency closure of jirahooks' base requirements plus the ``server`` and
``postgres`` extras (read from the installed metadata, markers evaluated) and the standard
library; it then starts the app (lifespan included) and serves the pages a newcomer opens
first."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import importlib.metadata as md
    import re
    import sys

    from packaging.requirements import Requirement

    def closure(extras):
        seen, todo = set(), [("jirahooks", frozenset(extras))]
        while todo:
            name, wanted = todo.pop()
            key = re.sub(r"[-_.]+", "-", name).lower()
            if (key, wanted) in seen:
                continue
            seen.add((key, wanted))
            for line in md.requires(name) or ():
                req = Requirement(line)
                envs = [{"extra": e} for e in wanted] or [{"extra": ""}]
                if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                    todo.append((req.name, frozenset(req.extras)))
        return {key for key, _ in seen}

    allowed = closure({"server", "postgres"})
    owners = md.packages_distributions()

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            dists = owners.get(top)
            if not dists or top in sys.stdlib_module_names:
                return None  # the standard library, or this checkout's own modules
            if any(re.sub(r"[-_.]+", "-", d).lower() in allowed for d in dists):
                return None
            raise ImportError(f"{name} ({', '.join(dists)}) is not in jirahooks[server,postgres]")

    # packaging is only the test's tool: drop it before the app imports anything
    for mod in [m for m in sys.modules if m == "packaging" or m.startswith("packaging.")]:
        del sys.modules[mod]
    sys.meta_path.insert(0, Blocker())

    from fastapi.testclient import TestClient

    from jirahooks.server.app import create_app
    from jirahooks.server.settings import ServerSettings

    settings = ServerSettings(data_dir=sys.argv[1])
    with TestClient(create_app(settings)) as client:
        for path in ("/healthz", "/readyz", "/ui/login", "/docs", "/openapi.json"):
            answer = client.get(path)
            print(path, answer.status_code)
    """
)


def test_the_server_starts_with_only_the_server_extras(tmp_path: Path) -> None:
    child = tmp_path / "child.py"
    child.write_text(CHILD, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(child), str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[:5] == [
        "/healthz 200",
        "/readyz 200",
        "/ui/login 200",
        "/docs 200",
        "/openapi.json 200",
    ], done.stdout
