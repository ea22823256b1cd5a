"""Scenarios run end to end: what a failure says at which hop, blocks, and RTP statistics.

Each scenario here is short (the caller skips the greeting with #) and runs against the
embedded voicemail server through the simulated proxy, some with a profile of a misbehaving
proxy whose failure must be told in a vendor's words.
"""

from __future__ import annotations

from pathlib import Path

from harness.report.records import ScenarioOutcome
from harness.scenario.loader import load_scenario
from harness.scenario.plan import RunOptions
from harness.scenario.runner import run_scenario

LAMP = """\
name: a message lights the lamp
proxy: {convention: x-voicemail}
mailboxes: [{box: "2000", pin: "4321"}]
phones: [{user: "2000"}]
steps:
  - deposit: {to: "2000", from: "+15551230000", seconds: 1, keys: "#"}
  - expect_notify: {phone: "2000", waiting: yes, voice: "1/0", within: 3}
"""


async def run(tmp_path: Path, text: str, options: RunOptions | None = None) -> ScenarioOutcome:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return await run_scenario(load_scenario(path), path, options)


def failure_of(outcome: ScenarioOutcome) -> str:
    failure = outcome.failure
    assert failure is not None, [step.detail for step in outcome.steps]
    return f"step {failure.index + 1} ({failure.kind}): {failure.detail}"


async def test_a_proxy_that_strips_the_mailbox_header_is_told_at_the_voicemail_hop(
    tmp_path: Path,
) -> None:
    outcome = await run(tmp_path, LAMP, RunOptions(profile="strips-x-headers"))

    told = failure_of(outcome)
    assert told.startswith(
        "step 1 (deposit): the INVITE reached the voicemail server without X-Voicemail-Mailbox; "
        "the proxy sent: INVITE sip:2000@127.0.0.1:"
    )
    assert "| From: <sip:+15551230000@" in told
    assert outcome.quirks == ("strip-x-headers",)
    assert outcome.profile == "strips-x-headers"


async def test_a_server_that_finds_no_mailbox_is_shown_the_invite_it_received(
    tmp_path: Path,
) -> None:
    # Without X-Voicemail the server falls back to the Request-URI user: 2000@default, which
    # it does not have.
    text = LAMP.replace('{box: "2000", pin: "4321"}', '{box: "2000", context: sales, pin: "4321"}')
    text = text.replace('phones: [{user: "2000"}]', 'phones: [{user: "2000", mailbox: 2000@sales}]')
    text = text.replace('to: "2000"', 'to: "2000@sales"')

    outcome = await run(tmp_path, text, RunOptions(profile="strips-x-headers"))

    told = failure_of(outcome)
    # One sentence: what the proxy sent, and what the caller got for it; each fact once.
    assert told.startswith(
        "step 1 (deposit): the INVITE reached the voicemail server without X-Voicemail-Mailbox; "
        "the proxy sent: INVITE sip:2000@127.0.0.1:"
    )
    assert told.endswith("; the caller got 404 Not Found (no mailbox 2000@default)")
    assert told.count("404 Not Found") == 1
    assert outcome.findings == ("header-stripped",)


async def test_a_proxy_that_answers_notify_481_is_named_with_its_answer(tmp_path: Path) -> None:
    outcome = await run(tmp_path, LAMP, RunOptions(profile="notify-481"))

    told = failure_of(outcome)
    assert told.startswith(
        "step 2 (expect_notify): phone 2000 expected a NOTIFY with Messages-Waiting: yes, "
        "Voice-Message: 1/0 within 3 s;"
    )
    assert told.endswith(
        "The voicemail server sent 1 NOTIFY(s) for 2000 to the proxy, which answered 481 "
        "Call/Transaction Does Not Exist; the proxy relayed none to phone 2000."
    )


async def test_a_proxy_that_drops_notifies_is_seen_not_relaying(tmp_path: Path) -> None:
    outcome = await run(tmp_path, LAMP, RunOptions(profile="drops-notify"))

    told = failure_of(outcome)
    assert told.endswith(
        "The voicemail server sent 1 NOTIFY(s) for 2000 to the proxy, which answered 200 OK; "
        "the proxy relayed none to phone 2000."
    )


async def test_expect_sip_shows_what_the_hop_carried(tmp_path: Path) -> None:
    text = LAMP + (
        "  - expect_sip: {hop: proxy->voicemail, method: INVITE, header: X-Voicemail-Context, "
        "value: sales, within: 0.2}\n"
    )

    outcome = await run(tmp_path, text)

    told = failure_of(outcome)
    assert told.startswith(
        "step 3 (expect_sip): the INVITE reached the voicemail server with X-Voicemail-Context: "
        "default, expected sales; the proxy sent: INVITE sip:2000@"
    )
    absent = await run(
        tmp_path,
        LAMP + "  - expect_sip: {hop: voicemail->2000, method: NOTIFY, status: 200}\n",
        RunOptions(profile="notify-481"),
    )
    assert failure_of(absent).startswith("step 2 (expect_notify)")


async def test_expect_sip_matches_each_message_once(tmp_path: Path) -> None:
    text = LAMP + (
        "  - expect_sip: {hop: caller->proxy, method: INVITE}\n"
        "  - expect_sip: {hop: proxy->voicemail, method: NOTIFY, within: 0.2}\n"
        "  - expect_sip: {hop: voicemail->proxy, method: NOTIFY, status: 200}\n"
        "  - expect_sip: {hop: proxy->2000, method: NOTIFY, header: Event, contains: message}\n"
        "  - expect_sip: {hop: caller->proxy, method: INVITE, within: 0.2}\n"
    )

    outcome = await run(tmp_path, text)

    assert [step.status for step in outcome.steps] == ["passed"] * 3 + ["failed"] + ["not run"] * 3
    assert outcome.steps[3].detail == (
        "no NOTIFY went from the proxy to the voicemail server within 0.2 s (on that hop went: "
        "INVITE, ACK, BYE, 200 OK)"
    )
    # Without the wrong hop, the same INVITE does not match twice.
    text = text.replace(
        "  - expect_sip: {hop: proxy->voicemail, method: NOTIFY, within: 0.2}\n", ""
    )
    outcome = await run(tmp_path, text)
    assert [step.status for step in outcome.steps][2:] == ["passed"] * 3 + ["failed"]
    assert outcome.steps[-1].detail.startswith(
        "no INVITE went from a caller to the proxy within 0.2 s"
    )


async def test_repeat_and_parallel_run_their_steps_and_time_the_iterations(
    tmp_path: Path,
) -> None:
    text = """\
name: two at once, twice
proxy: {convention: x-voicemail}
vars: {caller: "+1555000"}
mailboxes: [{range: "3000..3001", pin: "1"}]
phones: [{range: "3000..3001"}]
steps:
  - repeat:
      over: "3000..3001"
      as: box
      concurrency: 2
      steps:
        - deposit: {to: "${box}", from: "${caller}${box}", seconds: 0.5, keys: "#"}
        - expect_notify: {phone: "${box}", waiting: yes, voice: "1/0"}
  - parallel:
      - expect_spool: {mailbox: "3000", count: 1, callerid: "+15550003000"}
      - expect_spool: {mailbox: "3001", count: 1, callerid: "+15550003001"}
"""

    outcome = await run(tmp_path, text)

    assert outcome.status == "passed", failure_of(outcome)
    repeat, parallel = outcome.steps
    assert repeat.detail.startswith("2 iterations, box 3000..3001, in ")
    assert ", 2 at a time; each took " in repeat.detail
    assert parallel.detail.startswith("2 steps at once: 1. expect_spool passed: 3000@default")
    assert len(outcome.latency) == 2
    assert all(sample.latency > 0.5 for sample in outcome.latency)


async def test_a_failing_iteration_is_named_with_its_value(tmp_path: Path) -> None:
    text = """\
name: the second box is not what the spool says
proxy: {convention: x-voicemail}
mailboxes: [{range: "3000..3002", pin: "1"}]
steps:
  - repeat:
      over: "3000..3002"
      as: box
      steps:
        - expect_spool: {mailbox: "${box}", count: 0}
        - parallel:
            - wait: 0.01
            - expect_spool: {mailbox: "3000", count: "${box}"}
"""

    outcome = await run(tmp_path, text)

    assert failure_of(outcome) == (
        "step 1 (repeat): iteration 1 of 3 (box=3000): step 2 (parallel) failed: 1 of 2 steps "
        "at once failed: 2. expect_spool failed: 3000@default INBOX holds 0 message(s); "
        "expected 3000 (1 did not fail)"
    )


async def test_every_call_leaves_its_rtp_statistics_in_the_outcome(tmp_path: Path) -> None:
    outcome = await run(tmp_path, LAMP)

    assert outcome.status == "passed", failure_of(outcome)
    by_party = {stream.party: stream for stream in outcome.rtp}
    assert set(by_party) == {"phone +15551230000", "voicemail"}
    caller, server = by_party["phone +15551230000"], by_party["voicemail"]
    assert caller.call_id == server.call_id
    # The caller heard the greeting and the beep; the server heard the message and the key.
    assert caller.received > 20
    assert server.received > 20
    assert server.packets_sent > 0
    assert [digit.digit for digit in server.dtmf] == ["#"]


async def test_a_subscription_lights_the_lamp_with_in_dialog_notifies(tmp_path: Path) -> None:
    text = """\
name: a phone that only subscribes
proxy: {convention: x-voicemail}
mailboxes: [{box: "2000", pin: "4321"}]
phones: [{user: "2000", registered: no}]
steps:
  - subscribe: {phone: "2000", expires: 60}
  - expect_notify: {phone: "2000", waiting: no, voice: "0/0"}
  - deposit: {to: "2000", from: "+15551230000", seconds: 0.5, keys: "#"}
  - expect_notify: {phone: "2000", waiting: yes, voice: "1/0"}
  - expect_sip: {hop: proxy->2000, method: NOTIFY, header: Subscription-State, contains: active}
  - unsubscribe: "2000"
  - expect_sip: {hop: 2000->proxy, method: SUBSCRIBE, header: Expires, value: "0", status: 200}
"""

    outcome = await run(tmp_path, text)

    assert outcome.status == "passed", failure_of(outcome)
    assert outcome.steps[0].detail == "phone 2000 subscribed to message-summary (expires 60)"


HEARD = """\
name: what the owner heard at login
proxy: {convention: x-voicemail}
mailboxes: [{box: "2000", pin: "5"}]
phones: [{user: "2000"}]
steps:
  - retrieve: {phone: "2000", pin: "5", keys: "#"}
  - expect_heard: {phone: "2000", prompts: [vm-password, vm-youhave, vm-goodbye]}
  - expect_heard: {phone: "2000", prompts: [vm-goodbye, vm-password]}
"""


async def test_expect_heard_checks_the_prompts_of_the_phone_s_last_call(tmp_path: Path) -> None:
    outcome = await run(tmp_path, HEARD)
    assert [step.status for step in outcome.steps] == ["passed", "passed", "failed"]
    assert outcome.steps[1].detail == (
        "phone 2000 heard vm-password, vm-youhave, vm-goodbye on its last call"
    )
    assert failure_of(outcome).startswith(
        "step 3 (expect_heard): phone 2000 expected to hear vm-goodbye, vm-password in that "
        "order; it heard vm-password, "
    )
