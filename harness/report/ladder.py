"""The SIP ladder diagram of a scenario run, as inline SVG.

One column per party (phones, the proxy, the voicemail server, a PBX, or a bare address for a
peer the harness does not run), one arrow per message in the order sent, labelled with its
method or status and its time since the scenario started. Each step's messages sit on a band
naming the step; the failed step's band is red and states its time span, so a reader sees at
once which messages the failure is about. Every arrow links to the raw message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from harness.report.trace import Trace, TraceStep, Transmission

COLUMN = 180
ROW = 26
LEFT = 84
TOP = 58
RIGHT = 190
BOTTOM = 16
#: Roughly how wide one character of the 12 px label font is, to shorten labels that would
#: run past their arrow.
CHAR = 6.6

Linker = Callable[[int], str]


@dataclass(frozen=True, slots=True)
class _Row:
    time: float
    message: Transmission | None = None
    #: A step that exchanged no message gets a row of its own, so its band can still be seen.
    step: TraceStep | None = None


def message_anchor(number: int) -> str:
    """The in-page anchor of message ``number`` (the HTML report's message list uses it)."""
    return f"#msg-{number}"


def render_ladder(trace: Trace, link: Linker = message_anchor) -> str:
    """The ladder of ``trace`` as an ``<svg>`` element; ``link`` gives each message's href."""
    messages = trace.transmissions()
    parties = trace.parties()
    rows = _rows(trace, messages)
    width = LEFT + COLUMN * max(len(parties), 1) + RIGHT
    height = TOP + ROW * max(len(rows), 1) + BOTTOM
    center = {party: LEFT + COLUMN * i + COLUMN // 2 for i, party in enumerate(parties)}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ladder" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f"aria-label={quoteattr(f'SIP ladder of {trace.scenario}')} "
        'font-family="system-ui, sans-serif" font-size="12">',
        "<defs>",
        *(
            f'<marker id="arrow-{name}" viewBox="0 0 10 10" refX="10" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
            for name, colour in _COLOURS.items()
        ),
        "</defs>",
    ]
    out += _bands(trace, rows, width)
    for party, x in center.items():
        out.append(
            f'<line x1="{x}" y1="{TOP - 8}" x2="{x}" y2="{height - BOTTOM}" '
            'stroke="#9aa4b1" stroke-dasharray="4 4"/>'
        )
        box = min(COLUMN - 8, max(70, int(len(party) * 8) + 18))
        out.append(
            f'<rect x="{x - box / 2}" y="8" width="{box}" height="28" rx="5" '
            'fill="#eef2f7" stroke="#6b7785"/>'
            f'<text x="{x}" y="27" text-anchor="middle" font-weight="600" '
            f'fill="#1d2733">{escape(party)}</text>'
        )
    out.append(f'<text x="8" y="{TOP - 12}" fill="#5b6673" font-size="11">time (s)</text>')
    for position, row in enumerate(rows):
        if row.message is not None:
            y = TOP + ROW * position + ROW // 2 + 4
            out += _arrow(row.message, trace.started, center, y, link)
    out.append("</svg>")
    return "\n".join(out)


_COLOURS = {
    "request": "#1f4e8c",
    "provisional": "#6b7785",
    "success": "#11734b",
    "failure": "#b3261e",
}


def _kind(message: Transmission) -> str:
    label = message.label
    if label == "unparsable" or message.error:
        return "failure"
    head = label.split(" ", 1)[0]
    if not head.isdigit():
        return "request"
    status = int(head)
    if status < 200:
        return "provisional"
    return "success" if status < 300 else "failure"


def _rows(trace: Trace, messages: tuple[Transmission, ...]) -> list[_Row]:
    rows = [_Row(message.wall, message=message) for message in messages]
    for step in trace.steps:
        if step.status != "failed":
            continue
        if not any(step.started <= message.wall <= step.ended for message in messages):
            rows.append(_Row(step.started, step=step))
    # A message-less step's row goes before messages of the same instant.
    rows.sort(key=lambda row: (row.time, row.message is not None))
    return rows


def _bands(trace: Trace, rows: list[_Row], width: int) -> list[str]:
    out: list[str] = []
    shade = False
    for step in trace.steps:
        inside = [
            position
            for position, row in enumerate(rows)
            if row.step is step
            or (row.message is not None and step.started <= row.message.wall <= step.ended)
        ]
        if not inside:
            continue
        top = TOP + ROW * inside[0]
        height = ROW * (inside[-1] - inside[0] + 1)
        name = f"step {step.index + 1} · {step.kind}" if step.kind != "setup" else "setup"
        if step.status == "failed":
            span = f"{step.started - trace.started:.3f} to {step.ended - trace.started:.3f} s"
            out.append(
                f'<g class="failed-step"><rect x="2" y="{top}" width="{width - 4}" '
                f'height="{height}" fill="#fde8e7" stroke="#b3261e" stroke-width="1.5"/>'
                f'<rect x="2" y="{top}" width="5" height="{height}" fill="#b3261e"/>'
                f'<text x="{width - RIGHT + 12}" y="{top + 14}" fill="#b3261e" '
                f'font-weight="700">{escape(name)}</text>'
                f'<text x="{width - RIGHT + 12}" y="{top + 28}" fill="#b3261e">'
                f"FAILED · {escape(span)}</text></g>"
            )
            continue
        shade = not shade
        fill = "#f3f6f9" if shade else "#ffffff"
        out.append(
            f'<g class="step"><rect x="2" y="{top}" width="{width - 4}" height="{height}" '
            f'fill="{fill}" stroke="#dde3ea"/>'
            f'<text x="{width - RIGHT + 12}" y="{top + 16}" fill="#5b6673">'
            f"{escape(name)} · {escape(step.status)}</text></g>"
        )
    return out


def _arrow(
    message: Transmission,
    started: float,
    center: dict[str, int],
    y: int,
    link: Linker,
) -> list[str]:
    kind = _kind(message)
    colour = _COLOURS[kind]
    x1, x2 = center[message.sender], center[message.receiver]
    dash = ' stroke-dasharray="6 3"' if kind == "failure" and message.error else ""
    label = message.label if not message.error else f"unparsable: {message.error}"
    first_line = message.text.split("\r\n", 1)[0]
    title = f"#{message.number} {message.sender} → {message.receiver}: {first_line}"
    parts = [
        f'<a href={quoteattr(link(message.number))} class="msg" '
        f'data-number="{message.number}"><title>{escape(title)}</title>',
        f'<text x="8" y="{y + 4}" fill="#5b6673" font-variant-numeric="tabular-nums">'
        f"{message.wall - started:8.3f}</text>",
    ]
    if x1 == x2:
        # A party talking to itself: a small loop to the right of its lifeline.
        parts.append(
            f'<path d="M{x1},{y - 6} h28 v12 h-26" fill="none" stroke="{colour}" '
            f'stroke-width="1.6"{dash} marker-end="url(#arrow-{kind})"/>'
        )
        parts.append(f'<text x="{x1 + 34}" y="{y + 4}" fill="{colour}">{escape(label)}</text>')
    else:
        span = abs(x2 - x1)
        fitted = _fit(label, span - 12)
        parts.append(
            f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{colour}" '
            f'stroke-width="1.6"{dash} marker-end="url(#arrow-{kind})"/>'
        )
        # A wide transparent stroke makes the thin arrow easy to click.
        parts.append(
            f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="transparent" stroke-width="12"/>'
        )
        parts.append(
            f'<text x="{(x1 + x2) / 2}" y="{y - 5}" text-anchor="middle" fill="{colour}">'
            f"{escape(fitted)}</text>"
        )
    parts.append("</a>")
    return parts


def _fit(label: str, pixels: float) -> str:
    limit = max(4, int(pixels / CHAR))
    return label if len(label) <= limit else label[: limit - 1] + "…"
