"""The ladder: a column per party, an arrow per message linked to it, the failed step marked."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from harness.report.ladder import render_ladder
from harness.report.trace import TraceStep

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_one_column_per_party_in_order(kit: Any) -> None:
    root = _parse(render_ladder(kit.sample_trace()))
    headers = [t.text for t in root.iter(f"{SVG}text") if t.get("font-weight") == "600"]
    assert headers == ["phone 2000", "proxy", "voicemail"]


def test_each_message_is_an_arrow_linked_to_it(kit: Any) -> None:
    trace = kit.sample_trace()
    root = _parse(render_ladder(trace, link=lambda n: f"page.html#m{n}"))
    links = root.findall(f"{SVG}a")
    assert [a.get("href") for a in links] == [f"page.html#m{n}" for n in range(1, 8)]
    labels = [a.findall(f"{SVG}text")[-1].text for a in links]
    assert labels == [
        "INVITE",
        "100 Trying (INVITE)",
        "INVITE",
        "200 OK (INVITE)",
        "200 OK (INVITE)",
        "NOTIFY",
        "404 Not Found (NOTIFY)",
    ]
    times = [a.findall(f"{SVG}text")[0].text.strip() for a in links]  # type: ignore[union-attr]
    assert times[0] == "0.100"
    assert times[-1] == "1.510"


def test_arrows_point_from_sender_to_receiver(kit: Any) -> None:
    root = _parse(render_ladder(kit.sample_trace()))
    lines = [a.find(f"{SVG}line") for a in root.findall(f"{SVG}a")]
    x = [
        (float(line.get("x1", "")), float(line.get("x2", ""))) for line in lines if line is not None
    ]
    phone, proxy, voicemail = sorted({value for pair in x for value in pair})
    assert x[0] == (phone, proxy)
    assert x[1] == (proxy, phone)
    assert x[3] == (voicemail, proxy)


def test_the_failed_step_is_a_red_band_with_its_time_span(kit: Any) -> None:
    svg = render_ladder(kit.sample_trace())
    root = _parse(svg)
    failed = [g for g in root.iter(f"{SVG}g") if g.get("class") == "failed-step"]
    assert len(failed) == 1
    texts = [t.text for t in failed[0].iter(f"{SVG}text")]
    assert texts == ["step 2 · expect_notify", "FAILED · 1.000 to 2.000 s"]
    band = failed[0].find(f"{SVG}rect")
    assert band is not None
    # The band covers the NOTIFY and its 404, the two messages sent during the failed step.
    top, height = float(band.get("y", 0)), float(band.get("height", 0))
    rows = [float(a.find(f"{SVG}line").get("y1", "")) for a in root.findall(f"{SVG}a")]  # type: ignore[union-attr]
    inside = [n for n, y in enumerate(rows, 1) if top <= y <= top + height]
    assert inside == [6, 7]


def test_a_failed_step_without_messages_still_shows(kit: Any) -> None:
    trace = kit.sample_trace()
    steps = (
        trace.steps[0],
        TraceStep(1, "expect_spool", "failed", "0 messages", kit.T0 + 0.5, kit.T0 + 0.6),
    )
    svg = render_ladder(kit.sample_trace(steps=steps))
    assert 'class="failed-step"' in svg
    assert "step 2 · expect_spool" in svg


def test_text_is_escaped(kit: Any) -> None:
    svg = render_ladder(kit.sample_trace())
    _parse(svg)  # well-formed despite "&" and "<lamp>" in the scenario name
    assert "&lt;lamp&gt;" in svg
    assert re.search(
        r"<title>#1 phone 2000 → proxy: INVITE sip:2000@127.0.0.1 SIP/2.0</title>", svg
    )
