"""JUnit XML: a case per scenario run, the failure in plain words, skips, counts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from harness.report.junit import junit_xml
from harness.report.trace import TraceStep


def test_cases_failures_and_skips(kit: Any) -> None:
    failed = kit.sample_trace()
    passed = kit.sample_trace(scenario="ok", status="passed", steps=(failed.steps[0],))
    skipped = kit.sample_trace(
        scenario="white-box",
        status="skipped",
        steps=(
            TraceStep(
                0, "expect_spool", "skipped", "the target's spool cannot be read", kit.T0, kit.T0
            ),
        ),
    )
    suite = ET.fromstring(junit_xml([failed, passed, skipped], {0: ["/r/traces/a.json"]}))
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [failed.scenario, "ok", "white-box"]
    assert cases[0].get("classname") == "vmharness.diversion"
    failure = cases[0].find("failure")
    assert failure is not None
    assert failure.get("message") == "step 2 (expect_notify): phone 2000 saw no NOTIFY"
    assert "3. [  2.000 s] expect_spool not run" in (failure.text or "")  # since the start
    assert "[[ATTACHMENT|/r/traces/a.json]]" in (cases[0].findtext("system-out") or "")
    assert cases[1].find("failure") is None
    skip = cases[2].find("skipped")
    assert skip is not None
    assert skip.get("message") == "the target's spool cannot be read"
    identity = cases[0].find("properties/property[@name='target.identity']")
    assert identity is not None
    assert identity.get("value") == "Asterisk PBX 18.20.0"
