"""The jirahooks server: app factory, Validation API, admin API. Never imported on the hook path."""

from __future__ import annotations

from jirahooks.server.app import create_app
from jirahooks.server.settings import ServerSettings, load_settings

__all__ = ["ServerSettings", "create_app", "load_settings"]
