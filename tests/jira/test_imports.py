"""The hook path stays light: only jirahooks.jira's modules import httpx, and only when used."""

from __future__ import annotations

import subprocess
import sys


def test_engine_keys_rules_and_the_jira_package_do_not_import_httpx() -> None:
    code = (
        "import sys, jirahooks.keys, jirahooks.rules.config, jirahooks.engine.resolver, "
        "jirahooks.jira, jirahooks.cli.connections\n"
        "from jirahooks.jira import build_resolver\n"
        "assert build_resolver([]).offline\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'redis')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_client_module_does_import_httpx() -> None:
    code = "import sys, jirahooks.jira.chain; print('httpx' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "True"
