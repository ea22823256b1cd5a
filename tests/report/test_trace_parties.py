"""Traces of runs through a real proxy or against a foreign server: parties named, identities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.report.records import Endpoint
from harness.report.trace import Trace, pair_echoes
from harness.sip.transport import WireMessage


def kamailio_trace(kit: Any, **changes: object) -> Trace:
    """The sample run, plus Kamailio (not run by the harness) answering the phone."""
    data = kit.response(200, "OK", "REGISTER", server="kamailio (5.6.3 (x86_64/linux))")
    answer = WireMessage(
        "in", data, kit.PHONE[1], kit.EXTERNAL, "UDP", 2.0, kit.T0 + 2.0, "phone 2000"
    )
    trace: Trace = kit.sample_trace(sip=pair_echoes([*kit.sample_wire(), answer]), **changes)
    return trace


def test_a_party_the_harness_does_not_run_is_named_by_its_address(kit: Any) -> None:
    trace = kamailio_trace(kit, proxy="kamailio", external=((Endpoint(*kit.EXTERNAL), "proxy"),))

    last = trace.transmissions()[-1]
    assert (last.sender, last.receiver) == ("proxy", "phone 2000")
    assert "127.0.0.1:5999" not in trace.parties()


def test_behind_a_real_proxy_the_target_identity_names_both(kit: Any) -> None:
    simulated = kamailio_trace(kit)
    real = kamailio_trace(kit, proxy="kamailio", external=((Endpoint(*kit.EXTERNAL), "proxy"),))

    assert simulated.target_identity == "Asterisk PBX 18.20.0"
    assert simulated.proxy_identity == "simulator"
    # The first Server header the proxy party sent is the sample proxy's (none), then Kamailio's.
    assert real.proxy_identity == "kamailio (5.6.3 (x86_64/linux))"
    assert real.target_identity == "Asterisk PBX 18.20.0 via kamailio (5.6.3 (x86_64/linux))"


def test_the_proxy_and_external_parties_read_back(kit: Any, tmp_path: Path) -> None:
    trace = kamailio_trace(
        kit, proxy="sip:127.0.0.1:5999", external=((Endpoint(*kit.EXTERNAL), "proxy"),)
    )

    assert Trace.load(trace.save(tmp_path / "t.json")) == trace
    older = trace.to_json()
    del older["external"]
    del older["proxy"]["name"]
    assert Trace.from_json(older).proxy == "simulator"
