"""Server-side SVG charts for the compliance dashboard: no JavaScript, no external library.

Each function returns safe markup (labels escaped) styled by classes in ``app.css``; every
chart has a ``<title>`` and ``role="img"`` with an ``aria-label`` summarising it, and the page
shows the same figures as a table for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from jirahooks.server.web.i18n import _


@dataclass(frozen=True)
class DayCounts:
    day: str  # YYYY-MM-DD
    passed: int = 0
    blocked: int = 0
    warned: int = 0
    other: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.blocked + self.warned + self.other


def _nice_max(value: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step * 4:
            return step * 4 if value > 0 else 4
    return value


def over_time(days: Sequence[DayCounts], *, width: int = 720, height: int = 220) -> Markup:
    """Stacked bars per day: pass, warning, block, other (skip/ignore)."""
    left, bottom, top, right = 36, 28, 10, 8
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_max(max((d.total for d in days), default=0))
    n = max(len(days), 1)
    slot = plot_w / n
    bar = max(min(slot * 0.7, 28), 2)
    total = sum(d.total for d in days)
    blocked = sum(d.blocked for d in days)
    label = _(
        "Evaluations per day: %(total)s in total, %(blocked)s blocked", total=total, blocked=blocked
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}">',
        f"<title>{escape(_('Pass and block over time'))}</title>",
    ]
    for i in range(5):
        value = peak * i // 4
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f'<line class="axis" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>')
    label_every = max(1, n // 8)
    for i, d in enumerate(days):
        x = left + slot * i + (slot - bar) / 2
        y = top + plot_h
        for count, css in (
            (d.passed, "bar-pass"),
            (d.warned, "bar-warn"),
            (d.blocked, "bar-block"),
            (d.other, "bar-other"),
        ):
            if not count:
                continue
            h = plot_h * count / peak
            y -= h
            parts.append(
                f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}">'
                f"<title>{escape(d.day)}: {count} {css[4:]}</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 8}" text-anchor="middle">'
                f"{escape(d.day[5:])}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def horizontal_bars(
    items: Sequence[tuple[str, float, str]],
    *,
    title: str,
    css: str,
    maximum: float | None = None,
    width: int = 520,
    percent: bool = False,
) -> Markup:
    """One labelled bar per item: (label, value, value text)."""
    row, label_w, pad = 26, 220, 6
    height = max(len(items), 1) * row + pad * 2
    peak = maximum if maximum is not None else max((v for _, v, _ in items), default=1) or 1
    bar_w = width - label_w - 84  # room for the value text ("1 blockiert")
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value, text) in enumerate(items):
        y = pad + i * row
        short = label if len(label) <= 28 else label[:27] + "…"
        w = bar_w * (value / peak) if peak else 0
        parts.append(
            f'<text class="bar-label" x="{label_w - 8}" y="{y + 16}" text-anchor="end">'
            f"{escape(short)}</text>"
        )
        if percent:
            parts.append(
                f'<rect class="track" x="{label_w}" y="{y + 4}" width="{bar_w}" height="16"/>'
            )
        parts.append(
            f'<rect class="{css}" x="{label_w}" y="{y + 4}" width="{max(w, 1):.1f}" height="16">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
        )
        parts.append(
            f'<text x="{label_w + (bar_w if percent else w) + 6:.1f}" y="{y + 16}">'
            f"{escape(text)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class RuleTrial:
    """One rule in ``warn`` or ``evaluate`` mode: per day, how many changes it would have
    blocked (``blocked``) out of the evaluations it ran in (``ran``)."""

    rule_id: str
    title: str
    mode: str
    blocked: tuple[int, ...]
    ran: tuple[int, ...]

    @property
    def total_blocked(self) -> int:
        return sum(self.blocked)

    @property
    def total_ran(self) -> int:
        return sum(self.ran)


def would_have_blocked(
    trials: Sequence[RuleTrial], days: Sequence[str], *, width: int = 720
) -> Markup:
    """One row per rule: a bar per day of the changes it would have blocked (dark) over the
    evaluations it ran in (light track), and the totals — flat at zero means safe to enforce."""
    row, label_w, right, pad = 34, 200, 150, 6
    height = max(len(trials), 1) * row + pad * 2 + 16
    plot_w = width - label_w - right
    n = max(len(days), 1)
    slot = plot_w / n
    bar = max(min(slot * 0.7, 16), 1.5)
    peak = max((r for t in trials for r in t.ran), default=0) or 1
    label = _(
        "Changes each rule in evaluate or warn mode would have blocked, per day, %(n)s rules",
        n=len(trials),
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}">',
        f"<title>{escape(_('Would have blocked, per rule'))}</title>",
    ]
    for i, trial in enumerate(trials):
        y0 = pad + i * row
        base = y0 + row - 8
        inner = row - 12
        name = trial.title or trial.rule_id
        short = name if len(name) <= 26 else name[:25] + "…"
        parts.append(
            f'<text class="bar-label" x="{label_w - 8}" y="{y0 + row / 2 + 4:.1f}" '
            f'text-anchor="end">{escape(short)}</text>'
        )
        for d, (blocked, ran) in enumerate(zip(trial.blocked, trial.ran, strict=True)):
            x = label_w + slot * d + (slot - bar) / 2
            if ran:
                h = inner * ran / peak
                parts.append(
                    f'<rect class="track" x="{x:.1f}" y="{base - h:.1f}" width="{bar:.1f}" '
                    f'height="{h:.1f}"/>'
                )
            if blocked:
                h = max(inner * blocked / peak, 1.5)
                tip = _("%(day)s: %(n)s would have blocked", day=days[d], n=blocked)
                parts.append(
                    f'<rect class="bar-block" x="{x:.1f}" y="{base - h:.1f}" width="{bar:.1f}" '
                    f'height="{h:.1f}"><title>{escape(tip)}</title></rect>'
                )
        parts.append(
            f'<line class="axis" x1="{label_w}" x2="{label_w + plot_w}" y1="{base}" y2="{base}"/>'
        )
        text = _(
            "%(blocked)s of %(ran)s (%(mode)s)",
            blocked=trial.total_blocked,
            ran=trial.total_ran,
            mode=trial.mode,
        )
        parts.append(
            f'<text x="{label_w + plot_w + 8}" y="{y0 + row / 2 + 4:.1f}">{escape(text)}</text>'
        )
    label_every = max(1, n // 6)
    for d in range(0, n, label_every):
        x = label_w + slot * d + slot / 2
        parts.append(
            f'<text x="{x:.1f}" y="{height - 4}" text-anchor="middle">{escape(days[d][5:])}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
