"""Server settings: declared once, loaded by a function from the environment and CLI options.

=============================  ================================================================
``JIRAHOOKS_DATA_DIR``         data directory (SQLite file, secret key file); default
                               ``.jirahooks-data``
``JIRAHOOKS_DATABASE_URL``     database URL; default SQLite in the data directory
``JIRAHOOKS_SECRET_KEY``       Fernet key(s), comma-separated; default the data dir's key file
``JIRAHOOKS_MAX_BODY_BYTES``   Validation API request size limit, on the wire and after gzip
                               decompression; default 128 MiB (a first push of 100,000 commits)
``JIRAHOOKS_WEBHOOK_MAX_BODY_BYTES`` Bitbucket and Jira webhook request size limit; default 1 MiB
``JIRAHOOKS_ADMIN_MAX_BODY_BYTES`` admin API and web UI request size limit; default 1 MiB
``JIRAHOOKS_DEFAULT_WORKSPACE`` slug of the workspace created on first start; default ``default``
``JIRAHOOKS_REDIS_URL``        Redis for the Jira cache shared by several server processes
                               (``redis://127.0.0.1:6379/0``); default an in-process cache
=============================  ================================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from jirahooks.errors import UsageError

DEFAULT_DATA_DIR = ".jirahooks-data"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# A first push of 100,000 commits with real-length messages (~1 KB of JSON each) is ~100 MB of
# JSON; the hook client sends it gzip-compressed, the published client as it is.
DEFAULT_VALIDATION_MAX_BODY_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    """Everything ``create_app`` needs; no field is read from the environment after loading."""

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    database_url: str = ""
    secret_key: str = ""
    max_body_bytes: int = DEFAULT_VALIDATION_MAX_BODY_BYTES
    webhook_max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    admin_max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    default_workspace: str = "default"
    upgrade: bool = False
    bootstrap: bool = True
    redis_url: str = ""
    # Seconds between fallback sweeps of the Jira cache (decision 0005); 0: none. ``jirahooks
    # serve`` defaults to 60 (JIRAHOOKS_JIRA_SWEEP_SECONDS).
    jira_sweep_seconds: float = 0.0

    @property
    def effective_database_url(self) -> str:
        from jirahooks.store.database import sqlite_url

        return self.database_url or sqlite_url(self.data_dir)

    def secret_environ(self) -> dict[str, str]:
        """The key source for ``jirahooks.crypto.load_box``."""
        return {"JIRAHOOKS_SECRET_KEY": self.secret_key} if self.secret_key else {}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> ServerSettings:
    """Settings from ``environ`` (default ``os.environ``), then explicit overrides (CLI options;
    ``None`` values are ignored)."""
    env = os.environ if environ is None else environ
    settings = ServerSettings(
        data_dir=Path(env.get("JIRAHOOKS_DATA_DIR") or DEFAULT_DATA_DIR),
        database_url=env.get("JIRAHOOKS_DATABASE_URL", ""),
        secret_key=env.get("JIRAHOOKS_SECRET_KEY", ""),
        default_workspace=env.get("JIRAHOOKS_DEFAULT_WORKSPACE") or "default",
        redis_url=env.get("JIRAHOOKS_REDIS_URL", ""),
    )
    raw_sweep = env.get("JIRAHOOKS_JIRA_SWEEP_SECONDS", "60")
    try:
        settings = replace(settings, jira_sweep_seconds=max(0.0, float(raw_sweep or 0)))
    except ValueError as exc:
        raise UsageError(
            f"JIRAHOOKS_JIRA_SWEEP_SECONDS={raw_sweep!r} is not a number of seconds",
            hint="e.g. JIRAHOOKS_JIRA_SWEEP_SECONDS=60, or 0 to switch the sweep off",
        ) from exc
    for variable, name in (
        ("JIRAHOOKS_MAX_BODY_BYTES", "max_body_bytes"),
        ("JIRAHOOKS_WEBHOOK_MAX_BODY_BYTES", "webhook_max_body_bytes"),
        ("JIRAHOOKS_ADMIN_MAX_BODY_BYTES", "admin_max_body_bytes"),
    ):
        raw_limit = env.get(variable, "")
        if raw_limit:
            try:
                limit = int(raw_limit)
            except ValueError as exc:
                raise UsageError(
                    f"{variable}={raw_limit!r} is not a number of bytes",
                    hint=f"e.g. {variable}=1048576",
                ) from exc
            limits: dict[str, Any] = {name: limit}
            settings = replace(settings, **limits)
    given: dict[str, Any] = {
        k: (Path(v) if k == "data_dir" else v) for k, v in overrides.items() if v is not None
    }
    return replace(settings, **given)
