"""Load runs against the embedded server through the simulated proxy, on loopback.

The short run is the one ``make test`` carries: 200 deposits at 10/s into 500 mailboxes, every
lamp checked against the spool afterwards (~25 s wall, most of it the offered rate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.mailbox import MailboxId
from harness.load.agents import drive
from harness.load.generator import LoadOptions
from harness.load.runner import Topology, run_load, subscribers
from harness.media.signature import find_message_codes
from harness.media.wav import read_wav
from harness.sim.profiles import ProxyProfile
from harness.targets import EmbeddedTarget, MailboxEntry, PeerEntry, SimulatedProxy


async def test_200_deposits_at_10_per_second_into_500_mailboxes_converge() -> None:
    options = LoadOptions(
        rate=10, calls=200, concurrency=60, mailboxes=500, talk=1.0, skip_greeting=True
    )
    result = await run_load(options, Topology())
    assert result["failed"] == {}, result
    assert result["succeeded"] == 200
    assert result["converged"], result["convergence_faults"]
    assert result["rtp_loss"] < 0.01
    assert result["rate_achieved"] == pytest.approx(10, rel=0.1)
    assert result["setup_latency_ms"]["p50"] is not None
    assert result["notify_latency_ms"]["max"] is not None


async def test_each_deposit_is_stored_with_its_audio_and_signature() -> None:
    options = LoadOptions(rate=5, calls=3, mailboxes=3, talk=1.5, first_box=3000)
    people = subscribers(options)
    proxy = SimulatedProxy(ProxyProfile(), {s.user: s.mailbox for s in people})
    target = EmbeddedTarget(
        [MailboxEntry(s.mailbox, s.pin) for s in people],
        [PeerEntry(s.user, s.mailbox) for s in people],
    )
    try:
        address = await proxy.bind()
        await proxy.start(await target.start(address))
        for subscriber in people:
            proxy.forward_unconditionally(subscriber.user)
        tally, states = await drive(options, address, people)
        await target.wait_idle(10)
        assert target.server is not None
        assert tally.succeeded == 3
        for subscriber in people:
            (message,) = target.server.spool.messages(subscriber.mailbox)
            audio, _ = read_wav(message.audio)
            # Talking starts once the server falls quiet after the beep: all of it is kept.
            assert len(audio) / 8000 == pytest.approx(1.5, abs=0.15)
            assert find_message_codes(audio) == [subscriber.user]
            assert states[subscriber.mailbox].lamp == (1, 0)
    finally:
        await target.close()
        await proxy.close()


def test_the_command_runs_two_local_agents_of_subscribed_phones_and_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "load.json"
    status = main(
        [
            "load", "--rate", "10", "--calls", "20", "--mailboxes", "20", "--talk", "0.5",
            "--skip-greeting", "--subscribe", "--agents", "2", "--json", str(out),
        ]
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert status == 0, (result["failed"], result["convergence_faults"])
    assert result["agents"] == 2
    assert result["succeeded"] == 20
    assert result["converged"]
    assert json.loads(capsys.readouterr().out) == result


async def test_without_a_proxy_deposits_go_straight_to_the_server_with_its_headers() -> None:
    options = LoadOptions(rate=10, calls=10, mailboxes=10, talk=0.5, skip_greeting=True)
    result = await run_load(options, Topology(proxy="none"))
    assert result["succeeded"] == 10, result["failed"]
    assert result["converged"], result["convergence_faults"]


def test_without_a_proxy_there_are_no_phones_to_retrieve_with() -> None:
    with pytest.raises(ValueError, match="no retrievals"):
        LoadOptions(direct="x-voicemail", retrievals=0.2)


def test_a_bad_target_is_named() -> None:
    with pytest.raises(ValueError, match="--target"):
        Topology(target="kamailio")
    assert MailboxId("10000") == subscribers(LoadOptions(mailboxes=1))[0].mailbox
