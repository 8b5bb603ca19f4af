"""Helpers shared by CLI commands: finding and loading the configuration document."""

from __future__ import annotations

import argparse
from pathlib import Path

from jirahooks.errors import ConfigError, ConfigProblem
from jirahooks.rules.config import ConfigDocument, load_file

CONFIG_NAMES = (
    ".jirahooks.toml",
    ".jirahooks.yml",
    ".jirahooks.yaml",
    "jirahooks.toml",
    "jirahooks.yml",
)


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="configuration document or rules file (YAML, TOML or JSON); default: "
        ".jirahooks.toml / .jirahooks.yml at the repository root",
    )


def find_config(explicit: str | None, *, cwd: Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    from jirahooks.gitio import repo_root

    base = cwd or Path.cwd()
    for directory in dict.fromkeys([repo_root(cwd=base) or base, base]):
        found = [directory / name for name in CONFIG_NAMES if (directory / name).is_file()]
        if len(found) > 1:
            raise ambiguous_config(found)
        if found:
            return found[0]
    raise ConfigError(
        [
            ConfigProblem(
                "--config",
                "no configuration file given and none found",
                "pass --config FILE, or add .jirahooks.toml at the repository root "
                "(`jirahooks templates show commit-key-required` prints a rule to start from)",
            )
        ]
    )


def ambiguous_config(paths: list[Path]) -> ConfigError:
    """Two configuration files side by side: which one is meant is not for jirahooks to guess."""
    names = " and ".join(str(p) for p in paths)
    return ConfigError(
        [
            ConfigProblem(
                "--config",
                f"more than one configuration file: {names}",
                f"keep one of them (e.g. remove {paths[-1].name}), or pass --config FILE",
            )
        ]
    )


def load_config(explicit: str | None) -> tuple[Path, ConfigDocument]:
    path = find_config(explicit)
    return path, load_file(path)
