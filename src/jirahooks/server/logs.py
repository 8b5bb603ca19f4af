"""The server's logs: ``--log-format text`` (the default) or ``json``, one object per line.

A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``event`` (a short name such
as ``http.request`` or ``evaluation``, else the message's template, so lines of one kind share
it), ``message``, and from the current trace (``jirahooks.tracing``) ``request_id``,
``workspace``, ``repository``, ``evaluation_id`` and ``delivery_id``, plus what the call site
adds (``duration_ms``, ``status``, ``route``, ``result`` …).

What never appears: secrets, tokens, commit messages. Call sites log ids and route templates,
not bodies or query strings; the access event replaces uvicorn's access line (which prints the
raw path with its query) in JSON mode; the loggers that print bound SQL parameters at DEBUG
(aiosqlite, SQLAlchemy) stay above it whatever ``--log-level`` says; and as a last line of
defence every line is scrubbed of what looks like a credential (``Bearer …``, ``Basic …``,
jirahooks tokens, Fernet tokens).

:func:`logging_config` is one ``logging.config.dictConfig`` document for the server process and
for uvicorn, so worker processes (``--workers N``) log the same way.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from jirahooks import tracing

FORMATS = ("text", "json")
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"

# What looks like a credential, wherever it comes from (an exception text, a URL).
_SCRUB = re.compile(
    r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|\bjh[a-z]?_[A-Za-z0-9_-]{12,}"
    r"|\bgAAAAA[A-Za-z0-9_=-]{20,}"
    r"|(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"
)

# LogRecord attributes that are not "extra" fields.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


_DROPPED = frozenset({"event", "color_message"})


def scrub(text: str) -> str:
    """``text`` with anything that looks like a credential replaced by ``[redacted]``."""

    def replace(match: re.Match[str]) -> str:
        scheme = match.group(1)
        return f"{scheme} [redacted]" if scheme else "[redacted]"

    return _SCRUB.sub(replace, text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", None) or _template(record),
            "message": message,
        }
        trace = tracing.current()
        if trace is not None:
            out.update(trace.fields())
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in _DROPPED and not key.startswith("_"):
                out[key] = value
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            # uvicorn's access record: client, method, path (with the query), version, status
            out["event"] = "http.access"
            out["message"] = "uvicorn access line (see http.request)"
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return scrub(json.dumps(out, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """The plain format, with the request id when there is one, scrubbed like JSON lines."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = tracing.request_id()
        if request_id and record.name != "uvicorn.access":
            text = f"{text} [request {request_id}]"
        return scrub(text)


def _template(record: logging.LogRecord) -> str:
    return str(record.msg)[:200] if isinstance(record.msg, str) else type(record.msg).__name__


def logging_config(log_format: str, level: str, *, access_log: bool = True) -> dict[str, Any]:
    """A ``dictConfig`` document for the server and uvicorn (``uvicorn.Config(log_config=…)``).

    Text keeps uvicorn's own access line; JSON replaces it by our ``http.request`` event (route
    template, status, duration, request id — no query string)."""
    if log_format not in FORMATS:
        raise ValueError(f"unknown log format {log_format!r}")
    level = level.upper()
    formatter: dict[str, Any] = (
        {"()": "jirahooks.server.logs.JsonFormatter"}
        if log_format == "json"
        else {"()": "jirahooks.server.logs.TextFormatter", "format": TEXT_FORMAT}
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "stream": "ext://sys.stderr",
    }
    loggers: dict[str, Any] = {
        "uvicorn": {"level": level},
        "uvicorn.error": {"level": level},
        "uvicorn.asgi": {"level": level},
        "alembic": {"level": "WARNING"},
        # at DEBUG these print bound SQL parameters: commit messages, token hashes, ciphertexts
        "aiosqlite": {"level": "INFO"},
        "sqlalchemy": {"level": "WARNING"},
        # one line per evaluation: JSON (and text at DEBUG); text at INFO stays as it was
        "jirahooks.evaluations": {
            "level": level if log_format == "json" or level == "DEBUG" else "WARNING",
        },
        # our access event: JSON only (text keeps uvicorn's line)
        "jirahooks.access": {
            "level": "INFO" if access_log and log_format == "json" else "CRITICAL",
        },
        "uvicorn.access": {
            "level": "INFO" if access_log and log_format == "text" else "CRITICAL",
        },
    }
    formatters: dict[str, Any] = {"default": formatter}
    handlers: dict[str, Any] = {"default": handler}
    if log_format == "text":
        # uvicorn's access line as uvicorn writes it
        formatters["access"] = {
            "()": "uvicorn.logging.AccessFormatter",
            "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
        }
        handlers["access"] = {**handler, "formatter": "access"}
        loggers["uvicorn.access"].update(handlers=["access"], propagate=False)
        # uvicorn's own lines as uvicorn writes them ("INFO:     Started server process")
        formatters["uvicorn"] = {
            "()": "uvicorn.logging.DefaultFormatter",
            "fmt": "%(levelprefix)s %(message)s",
        }
        handlers["uvicorn"] = {**handler, "formatter": "uvicorn"}
        loggers["uvicorn"].update(handlers=["uvicorn"], propagate=False)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "handlers": handlers,
        "root": {"level": level, "handlers": ["default"]},
        "loggers": loggers,
    }


def configure(log_format: str, level: str, *, access_log: bool = True) -> dict[str, Any]:
    """Configure this process's logging; returns the document for uvicorn's ``log_config``."""
    import logging.config

    document = logging_config(log_format, level, access_log=access_log)
    logging.config.dictConfig(document)
    return document
