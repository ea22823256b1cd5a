"""The HTML report from traces: matrix, pages per run, evidence files, nothing from elsewhere."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from harness.report.html import entries_for, load_run, write_report
from harness.report.records import LatencySample, RtpStream, SmdiFrame


def _traces(kit: Any) -> list[Any]:
    failed = kit.sample_trace()
    passed = kit.sample_trace(status="passed", steps=failed.steps[:1], convention="history-info")
    load = kit.sample_trace(
        scenario="forty deposits a second",
        path="scenarios/load/forty.yaml",
        status="passed",
        steps=failed.steps[:1],
        latency=tuple(LatencySample(kit.T0 + i / 10, 0.02 + i / 1000) for i in range(50)),
        rtp=(RtpStream("voicemail", "c1", None, None, 7, (8,), 0, 150, 0, 2, 1, 0.004, 0, 0),),
        smdi=(SmdiFrame("pbx", "MD", "out", b"MD0010001D2000\r\n", kit.T0 + 0.3),),
    )
    return [failed, passed, load]


def test_the_matrix_has_a_column_per_party_and_a_row_per_setup(kit: Any, tmp_path: Path) -> None:
    index = write_report(_traces(kit), tmp_path).read_text()
    headers = re.findall(r'<th class="col">([^<]*)<small>([^<]*)</small>', index)
    # One party (the embedded target behind the simulator), however many profiles ran.
    assert headers == [("embedded \u00d7 simulator", "Asterisk PBX 18.20.0")]
    matrix = index.split('id="matrix"')[1].split("</table>\n\n")[0]
    deposit, load = matrix.split('<tbody class="area"')[1:]
    assert 'id="area-deposit"' in deposit
    assert 'id="area-load"' in load
    # The scenario under two conventions is two rows; the failed one first, the passed folded.
    failed, folded = deposit.split("<details>")
    assert re.findall(r'class="cell (\w+)"', failed) == ["failed"]
    assert "diversion" in failed
    assert "step 2 (expect_notify): phone 2000 saw no NOTIFY" in failed
    assert re.findall(r'class="cell (\w+)"', folded) == ["passed"]
    assert "history-info" in folded
    assert "<summary>1 passed</summary>" in load
    assert "What failed" in index


def test_pages_and_evidence_per_run(kit: Any, tmp_path: Path) -> None:
    write_report(_traces(kit), tmp_path)
    slugs = [entry.slug for entry in load_run(tmp_path)]
    assert slugs == ["deposit-sample", "deposit-sample-2", "load-forty"]
    for slug in slugs:
        assert (tmp_path / "pcap" / f"{slug}.pcap").is_file()
        page = (tmp_path / "scenarios" / f"{slug}.html").read_text()
        # Self-contained: nothing is loaded from another host.
        assert not re.search(r'(src|href)="(https?:)?//', page)
    load = (tmp_path / "scenarios" / "load-forty.html").read_text()
    assert 'aria-label="Latency distribution"' in load
    assert 'aria-label="Latency over time"' in load
    assert '<table id="rtp">' in load
    assert "MD0010001D2000␍␊" in load


def test_a_new_report_replaces_the_old_one(kit: Any, tmp_path: Path) -> None:
    write_report(_traces(kit), tmp_path)
    write_report(_traces(kit)[:1], tmp_path)
    assert [entry.slug for entry in load_run(tmp_path)] == ["deposit-sample"]
    assert sorted(p.name for p in (tmp_path / "pcap").iterdir()) == ["deposit-sample.pcap"]
    assert sorted(p.name for p in (tmp_path / "scenarios").iterdir()) == ["deposit-sample.html"]


def test_slugs_come_from_the_path_below_scenarios_else_the_name(kit: Any) -> None:
    traces = [
        kit.sample_trace(path="/x/scenarios/mwi/lamp-on.yaml"),
        kit.sample_trace(path=None, scenario="Lamp: On!"),
        kit.sample_trace(path=None, scenario="Lamp: On!"),
    ]
    assert [entry.slug for entry in entries_for(traces)] == ["mwi-lamp-on", "lamp-on", "lamp-on-2"]


def test_findings_and_what_changed_since_a_baseline_head_the_report(
    kit: Any, tmp_path: Path
) -> None:
    before = [
        kit.sample_trace(status="passed", steps=kit.sample_trace().steps[:1]),
        kit.sample_trace(
            scenario="forty deposits a second",
            path="scenarios/load/forty.yaml",
            status="failed",
            latency=(LatencySample(kit.T0, 0.020), LatencySample(kit.T0 + 1, 0.022)),
        ),
    ]
    failed = kit.sample_trace()
    after = [
        dataclasses.replace(
            failed,
            steps=(
                *failed.steps[:1],
                dataclasses.replace(failed.steps[1], finding="notify-late"),
                dataclasses.replace(failed.steps[2], finding="notify-wrong-phone"),
            ),
        ),
        kit.sample_trace(
            scenario="forty deposits a second",
            path="scenarios/load/forty.yaml",
            status="passed",
            steps=kit.sample_trace().steps[:1],
            latency=(LatencySample(kit.T0, 0.030), LatencySample(kit.T0 + 1, 0.034)),
        ),
    ]
    index = write_report(after, tmp_path, ("last-night", before)).read_text()
    baseline = index.split('id="baseline"')[1].split("</section>")[0]
    assert "Compared with last-night: 1 newly failing, 1 fixed" in " ".join(baseline.split())
    newly = baseline.split('id="failed-since"')[1].split("</ul>")[0]
    assert "a call is recorded &amp; the &lt;lamp&gt; lights" in newly
    fixed = baseline.split('id="passed-since"')[1].split("</ul>")[0]
    assert "forty deposits a second" in fixed
    findings = index.split('id="findings"')[1].split("</ul>")[0]
    assert (
        "<strong>notify-late</strong> (NOTIFY relayed late): "
        "a call is recorded &amp; the &lt;lamp&gt; lights" in findings
    )
    assert "<strong>notify-wrong-phone</strong>" in findings
    assert index.index('id="findings"') < index.index('id="baseline"') < index.index('id="matrix"')
    # Median latency 21 ms -> 32 ms.
    assert re.search(r"21\.0 ms</td>\s*<td>32\.0 ms</td>\s*<td class=\"failed\">\+52 %", baseline)


def test_steps_and_messages_are_timed_from_the_scenario_start(kit: Any, tmp_path: Path) -> None:
    write_report(_traces(kit)[:1], tmp_path)
    page = (tmp_path / "scenarios" / "deposit-sample.html").read_text()
    steps = page.split('<table id="steps">')[1].split("</table>")[0]
    # Step 2 ran from 1 s to 2 s after the start (its dates are T0 + 1 and T0 + 2).
    assert re.findall('<td class="num">([\\d.]+)\u2013([\\d.]+)</td>', steps) == [
        ("0.050", "0.200"),
        ("1.000", "2.000"),
        ("2.000", "2.000"),
    ]
    times = re.findall(r'<td class="num">([\d.]+)</td>\s*<td>', page.split('id="messages"')[1])
    assert times
    assert all(0.0 <= float(time) < 10.0 for time in times)  # never a clock reading
