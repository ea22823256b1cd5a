"""A load call's state machine, driven with a fake clock."""

from __future__ import annotations

import numpy as np

from harness.load.call import Ack, Bye, CallPlan, Finished, Invite, Keys, LoadCall, Talk
from harness.load.stream import FRAME, is_beep_frame
from harness.media import g711


def _heard_until(call: LoadCall, start: float, end: float, *, beep: bool = False) -> None:
    """The server speaks from ``start`` to ``end``, a packet every 20 ms (the beep at the end
    if ``beep``)."""
    moment = start
    while moment <= end:
        call.heard(moment, beep=beep and moment + 0.02 > end)
        assert call.tick(moment) == []
        moment += 0.02


def test_a_deposit_talks_once_the_greeting_falls_quiet_and_hangs_up_after_talking() -> None:
    call = LoadCall(CallPlan("deposit", "2000", talk=2.0, quiet=0.3))
    assert call.start(0.0) == [Invite()]
    assert call.answered(200, 0.05) == [Ack()]
    _heard_until(call, 0.1, 4.6, beep=True)
    assert call.tick(4.7) == []  # quiet for 0.1 s only
    assert call.tick(4.9) == [Talk(6.9)]
    assert call.tick(6.0) == []
    assert call.tick(6.9) == [Bye()]
    assert call.bye_answered(200) == [Finished(None)]
    assert call.setup_latency == 0.05


def test_a_pause_before_the_beep_is_not_taken_for_its_end() -> None:
    call = LoadCall(CallPlan("deposit", "2000", talk=1.0, quiet=0.3, unheard_beep_quiet=2.0))
    call.start(0.0)
    call.answered(200, 0.0)
    _heard_until(call, 0.0, 2.0)  # the greeting, then the server stalls for a second
    assert call.tick(3.0) == []
    _heard_until(call, 3.0, 4.0, beep=True)
    assert call.tick(4.3) == [Talk(5.3)]


def test_a_server_without_a_known_beep_is_waited_for_longer() -> None:
    call = LoadCall(CallPlan("deposit", "2000", talk=1.0, unheard_beep_quiet=2.0))
    call.start(0.0)
    call.answered(200, 0.0)
    _heard_until(call, 0.0, 2.0)
    assert call.tick(3.9) == []
    assert call.tick(4.0) == [Talk(5.0)]


def test_a_fixed_greeting_time_ignores_the_audio() -> None:
    call = LoadCall(CallPlan("deposit", "2000", talk=1.0, greeting=2.0))
    call.start(0.0)
    call.answered(200, 0.0)
    assert call.tick(1.9) == []
    assert call.tick(2.0) == [Talk(3.0)]


def test_skipping_the_greeting_presses_hash_at_once() -> None:
    call = LoadCall(CallPlan("deposit", "2000", skip_greeting=True))
    call.start(0.0)
    assert call.answered(200, 0.1) == [Ack(), Keys("#")]


def test_a_refused_call_fails_with_its_status() -> None:
    call = LoadCall(CallPlan("deposit", "2000"))
    call.start(0.0)
    assert call.answered(503, 0.2) == [Finished("invite-503")]


def test_a_server_that_never_falls_quiet_is_given_up_on() -> None:
    call = LoadCall(CallPlan("deposit", "2000", patience=5.0))
    call.start(0.0)
    call.answered(200, 0.0)
    _heard_until(call, 0.0, 4.9)
    assert call.tick(5.0) == [Bye()]
    assert call.bye_answered(200) == [Finished("server-never-fell-quiet")]


def test_a_retrieval_logs_in_plays_the_first_message_and_hangs_up_after_it() -> None:
    call = LoadCall(CallPlan("retrieval", "2000", pin="4321", quiet=0.3, listen_quiet=1.5))
    call.start(0.0)
    call.answered(200, 0.0)
    _heard_until(call, 0.0, 1.0)  # "password"
    assert call.tick(1.3) == [Keys("4321#")]
    _heard_until(call, 1.5, 3.0)  # "you have one new message…"
    assert call.tick(3.3) == [Keys("1")]
    _heard_until(call, 3.5, 4.0)  # "first message, received today…"
    # Asterisk falls silent between the envelope's sound files: the message has not played yet.
    assert call.tick(4.6) == []
    _heard_until(call, 4.6, 6.0)  # the message
    assert call.tick(7.0) == []
    assert call.tick(7.5) == [Bye()]
    assert call.bye_answered(200) == [Finished(None)]


def test_a_retrieval_leaves_once_the_message_has_had_time_to_play() -> None:
    """Asterisk goes from the message straight on to its menu and never falls quiet: the
    caller hangs up once the envelope and the message have had their time."""
    call = LoadCall(CallPlan("retrieval", "2000", pin="4321", talk=2.0, envelope=8.0))
    call.start(0.0)
    call.answered(200, 0.0)
    _heard_until(call, 0.0, 1.0)
    assert call.tick(1.3) == [Keys("4321#")]
    _heard_until(call, 1.5, 3.0)
    assert call.tick(3.3) == [Keys("1")]
    _heard_until(call, 3.4, 13.2)  # envelope, message, then the menu on and on
    assert call.tick(13.3) == [Bye()]
    assert call.bye_answered(200) == [Finished(None)]


def test_a_server_hanging_up_mid_deposit_is_a_failure() -> None:
    call = LoadCall(CallPlan("deposit", "2000", greeting=0.0))
    call.start(0.0)
    call.answered(200, 0.0)
    call.tick(0.0)
    assert call.remote_hangup() == [Finished("hung-up-by-server-while-talking")]


def test_the_beep_tone_is_told_from_speech_and_silence() -> None:
    time = np.arange(FRAME) / 8000
    beep = g711.ulaw_encode((8000 * np.sin(2 * np.pi * 700 * time)).astype(np.int16))
    other = g711.ulaw_encode((8000 * np.sin(2 * np.pi * 1700 * time)).astype(np.int16))
    assert is_beep_frame(beep)
    assert not is_beep_frame(other)
    assert not is_beep_frame(b"\xff" * FRAME)
