"""``jirahooks serve``: the server (Validation API + admin API) on uvicorn."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from jirahooks.server.commands import add_store_options

    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes sharing the port (default 1); more than one needs PostgreSQL "
        "(--database-url), see docs/operations.md",
    )
    add_store_options(parser)
    parser.add_argument(
        "--redis-url",
        metavar="URL",
        help="share the Jira cache between server processes through Redis, e.g. "
        "redis://127.0.0.1:6379/0 (default $JIRAHOOKS_REDIS_URL or an in-process cache)",
    )
    parser.add_argument(
        "--upgrade",
        action="store_true",
        help="migrate an out-of-date database schema before starting",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    parser.add_argument(
        "--no-access-log", dest="access_log", action="store_false", help="do not log every request"
    )


def run(args: argparse.Namespace) -> int:
    from jirahooks.server.commands import serve

    return serve(args)
