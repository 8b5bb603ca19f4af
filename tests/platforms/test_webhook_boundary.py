"""Bitbucket webhooks at the trust boundary (issue 10, section 2), over real HTTP on SQLite and
PostgreSQL: a signed delivery holding text that cannot be stored (a lone surrogate, NUL), not
UTF-8, or nested absurdly deep is answered 400 ``WEBHOOK_INVALID`` and nothing is stored; the
next good delivery is processed as usual."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.platforms.harness import (
    SECRET,
    WS,
    Guardian,
    LiveServer,
    live_guardian,
)
from tests.platforms.payloads import headers as webhook_headers
from tests.platforms.payloads import pull_request_body

from jirahooks.store.deliveries import DeliveryRow


@pytest.fixture
def guardian(tmp_path: Path, database_url: str) -> Iterator[Guardian]:
    with live_guardian(tmp_path, database_url) as made:
        yield made


def stored(server: LiveServer) -> int:
    async def read() -> int:
        async with server.state.database.session() as session:
            return int(await session.scalar(select(func.count()).select_from(DeliveryRow)) or 0)

    result: int = server.run(read())
    return result


def post(g: Guardian, body: bytes) -> Any:
    headers = webhook_headers("pullrequest:created", body, secret=SECRET)
    return g.http.post(f"/webhooks/bitbucket/{WS}", content=body, headers=headers)


def test_bad_text_in_a_delivery_is_400_and_nothing_is_stored(guardian: Guardian) -> None:
    g = guardian
    pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1 x"])
    payload = pull_request_body(g.bitbucket, g.repo, pr)
    bad_bodies = []
    for title in ("ABC-1 bad \ud800 title", "ABC-1 nul \x00 title"):
        changed = json.loads(json.dumps(payload))
        changed["pullrequest"]["title"] = title
        bad_bodies.append(json.dumps(changed).encode("ascii"))  # \uXXXX escapes
    bad_bodies.append(json.dumps(payload).encode().replace(b"ABC-1 Login", b"ABC-1 \xff\xfe"))
    bad_bodies.append(b'{"pullrequest": ' + b"[" * 10_000 + b"]" * 10_000 + b"}")
    before = stored(g.server)
    for body in bad_bodies:
        response = post(g, body)
        assert response.status_code == 400, response.text
        answer = response.json()
        assert answer["code"] == "WEBHOOK_INVALID" and answer["message"] and answer["hint"]
    assert stored(g.server) == before
    good = post(g, json.dumps(payload).encode())
    assert good.status_code == 202, good.text
    assert g.final_status(pr.head)["state"] == "SUCCESSFUL"
