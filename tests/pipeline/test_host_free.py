"""The pipeline knows no host: none of its modules imports a host's module, and every host it
can serve comes from the registry (ADR 0017)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import jirahooks.pipeline
from jirahooks import platforms
from jirahooks.platforms import registry
from jirahooks.platforms.registry import Host

PIPELINE = Path(jirahooks.pipeline.__file__).parent
HOST_PREFIXES = tuple(
    f"jirahooks.platforms.{name}" for name in ("bitbucket", "github", "gitlab")
)  # bitbucket_cloud, bitbucket_cloud_host, bitbucket_dc, bitbucket_client, github_client, …


def imported_names(path: Path) -> list[tuple[int, str]]:
    """Every module an import statement anywhere in ``path`` names — at module level, in
    functions, under TYPE_CHECKING — with its line; ``from a import b`` gives ``a.b`` too."""
    names: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names.append((node.lineno, base))
            names += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return names


def test_the_check_sees_a_host_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def later():\n    from jirahooks.platforms import bitbucket_cloud\n"
        "from jirahooks.platforms.gitlab_hooks import PLATFORM\n"
    )
    found = {name for _, name in imported_names(sample) if name.startswith(HOST_PREFIXES)}
    assert found == {
        "jirahooks.platforms.bitbucket_cloud",  # in a function
        "jirahooks.platforms.gitlab_hooks",
        "jirahooks.platforms.gitlab_hooks.PLATFORM",
    }


def test_no_pipeline_module_imports_a_host_module() -> None:
    modules = sorted(PIPELINE.rglob("*.py"))
    assert {p.stem for p in modules} >= {"intake", "worker", "processing", "leader", "queue"}
    offenders = [
        f"{path.relative_to(PIPELINE.parent)}:{line}: {name}"
        for path in modules
        for line, name in imported_names(path)
        if name.startswith(HOST_PREFIXES)
    ]
    assert offenders == []


def test_every_registered_host_loads_and_is_a_documented_platform() -> None:
    names = registry.names()
    assert names and len(set(names)) == len(names)
    documented = {info.id for info in platforms.PLATFORMS}
    for name in names:
        host = registry.host(name)
        assert isinstance(host, Host) and host.name == name
        assert name in documented  # platforms.PLATFORMS: title, docs page, webhook path
        assert host.settings_path and host.title and host.stage
    assert registry.host("no-such-host") is None


def test_a_table_entry_whose_module_has_another_host_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(registry.HOSTS, "other", "jirahooks.platforms.bitbucket_cloud_host")
    with pytest.raises(LookupError, match="no HOST named 'other'"):
        registry.host("other")
