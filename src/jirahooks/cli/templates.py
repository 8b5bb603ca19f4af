"""``jirahooks templates list`` / ``jirahooks templates show NAME``: the built-in rule templates."""

from __future__ import annotations

import argparse

from jirahooks.errors import EXIT_OK, UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="one line per template")
    show = sub.add_parser("show", help="a template as YAML, ready to paste into rules:")
    show.add_argument("name", help="template name (see `jirahooks templates list`)")
    show.add_argument("--format", choices=("yaml", "toml", "json"), default="yaml")


def run(args: argparse.Namespace) -> int:
    from jirahooks import output
    from jirahooks.rules import templates

    if args.action == "list":
        width = max(len(t.name) for t in templates.TEMPLATES)
        for t in templates.TEMPLATES:
            output.out(f"{t.name:<{width}}  {t.summary}")
        return EXIT_OK
    template = templates.get(args.name)
    if template is None:
        from jirahooks.rules.schema import did_you_mean

        raise UsageError(
            f"unknown template '{args.name}'",
            hint=did_you_mean(args.name, templates.BY_NAME, "see `jirahooks templates list`"),
        )
    output.out(format_rules([dict(template.rule)], args.format))
    return EXIT_OK


def format_rules(rules: list[dict[str, object]], fmt: str) -> str:
    if fmt == "json":
        import json

        return json.dumps({"rules": rules}, indent=2)
    if fmt == "toml":
        return _toml_rules(rules)
    import yaml

    return str(yaml.safe_dump({"rules": rules}, sort_keys=False, allow_unicode=True)).rstrip()


def _toml_value(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def _toml_rules(rules: list[dict[str, object]]) -> str:
    lines: list[str] = []
    for rule in rules:
        lines.append("[[rules]]")
        tables = {k: v for k, v in rule.items() if isinstance(v, dict)}
        for key, value in rule.items():
            if key not in tables:
                lines.append(f"{key} = {_toml_value(value)}")
        for key, value in tables.items():
            lines.append(f"[rules.{key}]")
            assert isinstance(value, dict)
            for k, v in value.items():
                lines.append(f"{k} = {_toml_value(v)}")
        lines.append("")
    return "\n".join(lines).rstrip()
