"""A replay's report as one self-contained HTML page: inline CSS, charts as inline SVG, no
script, no font, no image and no stylesheet from anywhere else — it opens offline, from a CI
artefact or an e-mail attachment, and shows the same everywhere.

Charts: verdicts per rule (stacked bars), changes that would be blocked per day (or per week
when the history spans more than 120 days), and the authors with the most blocked changes.
Everything others wrote (commit messages, names, branch names) is escaped.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from html import escape
from typing import Any

from jirahooks.replay.report import UNITS

_COLOURS = {"BLOCK": "#c62828", "WARNING": "#ef8f00", "PASS": "#2e7d32", "SKIP": "#9e9e9e"}
_LABELS = {"BLOCK": "would block", "WARNING": "warn", "PASS": "pass", "SKIP": "skip / n.a."}
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:72rem;padding:0 1rem;color:#1d1d1f}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem}
.sub{color:#555;margin-top:0}.cards{display:flex;flex-wrap:wrap;gap:.8rem}
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;min-width:8rem}
.card b{display:block;font-size:1.5rem}.block b{color:#c62828}.warn b{color:#ef8f00}
.pass b{color:#2e7d32}table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border-bottom:1px solid #e5e5e5;padding:.3rem .5rem;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.92em}
.reason{color:#444;margin:.1rem 0 .1rem 1rem}.legend span{margin-right:1rem}
.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-1px}
svg text{font:12px system-ui,sans-serif;fill:#333}.note{color:#555}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def page(data: dict[str, Any], *, title: str = "") -> str:
    """The report (``report.to_data``) as one HTML document."""
    totals = data["totals"]
    heading = (
        title or f"jirahooks replay — {data.get('repository') or data.get('branch') or 'HEAD'}"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(heading)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(heading)}</h1>",
        f'<p class="sub">{totals["changes"]} change(s), {_e(UNITS.get(data["unit"], data["unit"]))}, over '
        f"{totals['commits']} commit(s) of <code>{_e(data.get('branch') or 'HEAD')}</code>; "
        f"rules from {_e(data['rulesFrom'])}; jirahooks {_e(data['version'])}</p>",
        '<div class="cards">',
        _card("block", "would block", totals["BLOCK"]),
        _card("warn", "warn", totals["WARNING"]),
        _card("pass", "pass", totals["PASS"]),
        _card("", "skip / n.a.", totals["SKIP"] + totals["IGNORE"]),
        _card("", "distinct keys", data["jira"]["distinctKeys"])
        if data["jira"]["mode"] == "asked"
        else "",
        "</div>",
        _jira(data),
        _legend(),
        "<h2>Per rule</h2>",
        _rules_chart(data["rules"]),
        _table(
            ["rule", "would block", "warn", "pass", "skip"],
            [
                [r["title"], r["BLOCK"], r["WARNING"], r["PASS"], r["SKIP"] + r["IGNORE"]]
                for r in data["rules"]
            ],
        ),
        "<h2>Blocked over time</h2>",
        _timeline(data["days"]),
        "<h2>Per author</h2>",
        _authors_chart(data["authors"]),
        _table(
            ["author", "changes", "would block", "warn"],
            [[a["name"], a["changes"], a["BLOCK"], a["WARNING"]] for a in data["authors"]],
        ),
    ]
    if len(data["branches"]) > 1:
        parts += [
            "<h2>Per branch</h2>",
            _table(
                ["branch", "changes", "would block", "warn"],
                [[b["name"], b["changes"], b["BLOCK"], b["WARNING"]] for b in data["branches"]],
            ),
        ]
    parts.append(_failures(data["failures"]))
    parts.append(f'<p class="note">Replayed in {data["seconds"]:.1f} s.</p></body></html>')
    return "\n".join(p for p in parts if p)


def _card(kind: str, label: str, value: int) -> str:
    return f'<div class="card {kind}"><b>{value}</b>{_e(label)}</div>'


def _jira(data: dict[str, Any]) -> str:
    jira = data["jira"]
    if jira["mode"] != "asked":
        text = "Jira was not asked: format checks only; Jira checks say they did not run."
    else:
        text = (
            f"Jira: {jira['distinctKeys']} distinct key(s) resolved in "
            f"{jira['resolverCalls']} batched call(s)."
        )
    notes = [text, *jira["problems"], *data.get("notes", [])]
    if data["totals"].get("notJudged"):
        notes.append(
            f"{data['totals']['notJudged']} first-parent commit(s) are no merged pull "
            "request: not judged."
        )
    return "".join(f'<p class="note">{_e(n)}</p>' for n in notes)


def _legend() -> str:
    items = "".join(
        f'<span><i style="background:{_COLOURS[k]}"></i>{_e(v)}</span>' for k, v in _LABELS.items()
    )
    return f'<p class="legend">{items}</p>'


def _table(header: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return '<p class="note">Nothing to show.</p>'
    head = "".join(
        f'<th class="n">{_e(h)}</th>' if i else f"<th>{_e(h)}</th>" for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_e(c)}</td>' if i else f"<td>{_e(c)}</td>" for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _rules_chart(rules: list[dict[str, Any]]) -> str:
    """One stacked bar per rule: would block, warn, pass, skip (shares of the changes)."""
    if not rules:
        return ""
    width, label_w, bar_h, gap = 720, 260, 18, 8
    height = len(rules) * (bar_h + gap) + gap
    out = [_svg_open(width, height, "Verdicts per rule")]
    for i, rule in enumerate(rules):
        y = gap + i * (bar_h + gap)
        counts = {
            "BLOCK": rule["BLOCK"],
            "WARNING": rule["WARNING"],
            "PASS": rule["PASS"],
            "SKIP": rule["SKIP"] + rule["IGNORE"],
        }
        total = sum(counts.values()) or 1
        out.append(f'<text x="0" y="{y + 13}">{_e(_clip(rule["title"], 38))}</text>')
        x = float(label_w)
        for status, count in counts.items():
            w = (width - label_w - 10) * count / total
            if w > 0:
                out.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                    f'fill="{_COLOURS[status]}"><title>{_e(_LABELS[status])}: {count}</title></rect>'
                )
            x += w
    out.append("</svg>")
    return "".join(out)


def _timeline(days: list[dict[str, Any]]) -> str:
    """Blocked changes per day (per week past 120 days), with the day's other changes in grey."""
    dated = [d for d in days if _day(d["day"]) is not None]
    if not dated:
        return '<p class="note">No dated changes.</p>'
    first, last = _day(dated[0]["day"]), _day(dated[-1]["day"])
    assert first is not None and last is not None
    weekly = (last - first).days > 120
    buckets: dict[date, Counter[str]] = {}
    for d in dated:
        day = _day(d["day"])
        assert day is not None
        key = day - timedelta(days=day.weekday()) if weekly else day
        bucket = buckets.setdefault(key, Counter())
        for status in ("BLOCK", "WARNING", "PASS", "SKIP", "IGNORE"):
            bucket[status] += d[status]
    start = min(buckets)
    step = 7 if weekly else 1
    count = (max(buckets) - start).days // step + 1
    width, height, bottom = 720, 180, 24
    top = max(sum(b.values()) for b in buckets.values()) or 1
    bar = (width - 40) / count
    out = [_svg_open(width, height, "Changes per " + ("week" if weekly else "day"))]
    for key, bucket in sorted(buckets.items()):
        x = 40 + (key - start).days // step * bar
        total = sum(bucket.values())
        h_all = (height - bottom - 10) * total / top
        h_block = (height - bottom - 10) * bucket["BLOCK"] / top
        w = max(bar - 1, 1)
        label = f"{key.isoformat()}: {bucket['BLOCK']} would block of {total}"
        out.append(
            f'<rect x="{x:.1f}" y="{height - bottom - h_all:.1f}" width="{w:.1f}" '
            f'height="{h_all:.1f}" fill="#d9d9d9"><title>{_e(label)}</title></rect>'
        )
        if h_block:
            out.append(
                f'<rect x="{x:.1f}" y="{height - bottom - h_block:.1f}" width="{w:.1f}" '
                f'height="{h_block:.1f}" fill="{_COLOURS["BLOCK"]}"><title>{_e(label)}</title></rect>'
            )
    out.append(f'<text x="0" y="14">{top}</text><text x="0" y="{height - bottom}">0</text>')
    out.append(f'<text x="40" y="{height - 6}">{start.isoformat()}</text>')
    out.append(
        f'<text x="{width - 4}" y="{height - 6}" text-anchor="end">{max(buckets).isoformat()}</text>'
    )
    out.append("</svg>")
    return "".join(out)


def _authors_chart(authors: list[dict[str, Any]]) -> str:
    """The ten authors with the most changes that would be blocked."""
    top = [a for a in authors if a["BLOCK"]][:10]
    if not top:
        return '<p class="note">No author has a change that would be blocked.</p>'
    width, label_w, bar_h, gap = 720, 260, 16, 6
    height = len(top) * (bar_h + gap) + gap
    most = max(a["BLOCK"] for a in top)
    out = [_svg_open(width, height, "Authors with the most blocked changes")]
    for i, author in enumerate(top):
        y = gap + i * (bar_h + gap)
        w = (width - label_w - 50) * author["BLOCK"] / most
        out.append(f'<text x="0" y="{y + 12}">{_e(_clip(author["name"], 38))}</text>')
        out.append(
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" '
            f'fill="{_COLOURS["BLOCK"]}"></rect>'
        )
        out.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 12}">{author["BLOCK"]}</text>')
    out.append("</svg>")
    return "".join(out)


def _failures(failures: list[dict[str, Any]]) -> str:
    blocked = [f for f in failures if f["status"] == "BLOCK"]
    if not blocked:
        return '<h2>Would block</h2><p class="note">Nothing: every change passes.</p>'
    rows = []
    for f in blocked:
        reasons = []
        for rule in f["rules"]:
            if rule["status"] != "BLOCK":
                continue
            reasons.append(f"<div><b>{_e(rule['title'])}</b></div>")
            for reason in rule["reasons"]:
                where = (
                    f"<code>{_e(reason['commit'][:12])}</code> "
                    if reason["commit"] and reason["commit"] != f["ref"]
                    else ""
                )
                reasons.append(f'<div class="reason">{where}{_e(reason["message"])}</div>')
        ref = f["ref"] if f["ref"].startswith("#") else f["ref"][:12]
        rows.append(
            f"<tr><td><code>{_e(ref)}</code></td><td>{_e(f['date'][:10])}</td>"
            f"<td>{_e(f['author'])}</td><td>{_e(f['branch'])}</td>"
            f"<td>{_e(f['title'])}{''.join(reasons)}</td></tr>"
        )
    return (
        f"<h2>Would block ({len(blocked)})</h2><table><thead><tr><th>change</th><th>date</th>"
        "<th>author</th><th>branch</th><th>what and why</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _svg_open(width: int, height: int, label: str) -> str:
    return (
        f'<svg role="img" aria-label="{_e(label)}" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width:{width}px"><title>{_e(label)}</title>'
    )


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None
