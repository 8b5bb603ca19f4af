"""Rule model, schema, templates and the configuration document."""

from __future__ import annotations

from jirahooks.rules.config import ConfigDocument, load_document, load_file, parse_rule
from jirahooks.rules.model import Checks, Conditions, Rule, Settings, Strategy, Target

__all__ = [
    "Checks",
    "Conditions",
    "ConfigDocument",
    "Rule",
    "Settings",
    "Strategy",
    "Target",
    "load_document",
    "load_file",
    "parse_rule",
]
