"""``kill -9`` of ``vmharness serve`` at random moments of deposits and retrievals.

Each round starts the server on the same spool, runs one call (two deposits for one retrieval),
and kills the process after a random delay drawn from a seeded generator, so a failing run is
replayed with the same ``RELIABILITY_SEED``. A deposit counts as confirmed when the caller heard
the thank-you and then the server's BYE (the message was stored before the BYE). After the last
round the server starts once more: every confirmed message must be in the spool, no file may be
half written or left in a ``tmp/``, and the owner's lamp must show the spool's counts.

``make test`` runs RELIABILITY_KILLS=6 rounds (about 40 s); ``make soak`` runs 100.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from pathlib import Path

from harness.core.mailbox import MailboxId
from harness.core.mwi import Counts, LampExpectation
from harness.media.signal import speech_like
from harness.media.wav import read_wav
from harness.sim.phone import Call, Phone
from harness.sim.proxy import SimProxy
from harness.voicemail.store import FOLDERS, Spool
from tests.reliability.summary import record, tracebacks
from tests.voicemail.integration.test_serve import (
    VOICEMAIL_CONF,
    Serve,
    Served,
    serve,
    sound_heard,
    write_config,
)

__all__ = ["serve"]  # the fixture, used by name

BOX = MailboxId("2000")
PIN = "4321"

#: Room for every deposit of a 100-round soak: with the usual ``maxmsg=10`` the box fills after
#: a dozen rounds and later deposits are refused "mailbox full", storing nothing to lose.
ROOMY_BOX = VOICEMAIL_CONF.replace("maxmsg=10", "maxmsg=200")


async def _deposit(caller: Phone, seconds: float) -> bool:
    """Leave a message of ``seconds``; whether the caller heard it confirmed."""
    call = await caller.dial("2000")
    if not await sound_heard(call):
        return False
    await call.send_dtmf("#")  # skips the greeting and the instructions
    if not await call.wait_for_prompt("beep"):
        return False
    await call.wait_quiet(0.2)
    await call.play(speech_like(seconds, f"kill-{seconds}"))
    await call.send_dtmf("#")
    await asyncio.wait_for(call.ended.wait(), 15)
    return "auth-thankyou" in call.heard_prompts()


async def _retrieve(owner: Phone) -> bool:
    """Log in and listen to the first message (heard messages move to Old at the end)."""
    call: Call = await owner.dial("*97")
    if not await call.wait_for_prompt("vm-password"):
        return False
    await call.wait_quiet()
    await call.send_dtmf(PIN + "#")
    await call.wait_quiet()
    await call.send_dtmf("1")
    await call.wait_quiet(1.0)
    await call.hangup()
    return True


def _spool_state(spool: Path) -> tuple[int, int, int, int]:
    """(messages, half-written messages, files left in tmp/, new messages) of the mailbox."""
    store = Spool(spool)
    half = 0
    messages = 0
    for folder in FOLDERS:
        directory = store.folder(BOX, folder)
        if not directory.is_dir():
            continue
        texts = {p.stem for p in directory.glob("msg*.txt")}
        audio = {p.stem for p in directory.glob("msg*.wav")}
        half += len(texts ^ audio)
        for stem in texts & audio:
            try:
                read_wav(directory / f"{stem}.wav")
            except ValueError:
                half += 1
        messages += len(texts)
    staging = store.mailbox_dir(BOX) / "tmp"
    stale = len(list(staging.iterdir())) if staging.is_dir() else 0
    return messages, half, stale, len(list(store.folder(BOX, "INBOX").glob("msg*.txt")))


async def _round(
    number: int, rng: random.Random, served: Served, owner: Phone, proxy: SimProxy
) -> dict[str, object]:
    """One call, killed after a random delay (or as soon as it ends, if sooner)."""
    kind = "retrieval" if number % 3 == 2 else "deposit"
    delay = rng.uniform(1.0, 9.0)
    caller = Phone(f"+1555000{number:04d}", proxy.address)
    await caller.start()
    if kind == "deposit":
        call = asyncio.ensure_future(_deposit(caller, rng.uniform(1.0, 3.0)))
    else:
        call = asyncio.ensure_future(_retrieve(owner))
    done, _ = await asyncio.wait({call}, timeout=delay)
    served.process.kill()
    await served.process.wait()
    completed = bool(done) and call.exception() is None and call.result()
    call.cancel()
    with contextlib.suppress(BaseException):
        await call
    with contextlib.suppress(Exception):
        await asyncio.wait_for(caller.close(), 2)
    return {"round": number, "kind": kind, "kill_after_s": round(delay, 2), "completed": completed}


async def test_kill_9_at_random_moments_loses_no_confirmed_message(
    tmp_path: Path, serve: Serve
) -> None:
    seed = int(os.environ.get("RELIABILITY_SEED", "13"))
    rounds = int(os.environ.get("RELIABILITY_KILLS", "6"))
    rng = random.Random(seed)
    proxy = SimProxy(("127.0.0.1", 9))
    await proxy.start()
    owner = Phone("2000", proxy.address)
    await owner.start()
    spool = tmp_path / "spool"
    config = write_config(tmp_path / "etc", proxy.address, {"voicemail.conf": ROOMY_BOX})
    confirmed = 0
    logs: list[Path] = []
    outcomes: list[dict[str, object]] = []
    try:
        assert (await owner.register()).status == 200
        floor = 0  # messages the spool must hold at least: nothing in these rounds deletes
        for number in range(rounds):
            served = await serve(config, spool)
            logs.append(served.log)
            # Start-up has recovered what the last kill left; no round may have lost a message
            # (a retrieval killed while moving one, say), recovered ones included.
            present = _spool_state(spool)[0]
            assert present >= floor, (seed, number, present, floor, outcomes)
            floor = present
            proxy.voicemail = served.address
            outcome = await _round(number, rng, served, owner, proxy)
            heard = outcome["kind"] == "deposit" and bool(outcome["completed"])
            confirmed += heard
            floor += heard
            outcomes.append(outcome)
        # The owner's phone refreshes its registration, as a real one does before it expires:
        # 100 rounds outlast it, and the proxy would then have nowhere to relay the lamp.
        assert (await owner.register()).status == 200
        loop = asyncio.get_running_loop()
        since = loop.time()
        served = await serve(config, spool)
        # The resync leaves before the server says it listens, so summaries count from the
        # launch, but the 5 s from when it listens: on a busy machine the process took 23 s
        # to start, which says nothing about the lamp.
        listening = loop.time()
        logs.append(served.log)
        proxy.voicemail = served.address
        messages, half, stale, new = _spool_state(spool)
        assert messages >= floor, (seed, messages, floor, outcomes)
        old = messages - new
        lamp = await owner.wait_lamp(
            LampExpectation(messages > 0, Counts(new, old), within=5.0), since, start=listening
        )
        await served.stop()
    finally:
        with contextlib.suppress(Exception):
            await owner.close()
        await proxy.close()
    lost = max(0, confirmed - messages)
    exceptions = tracebacks(*logs)
    record(
        "kill -9",
        {
            "seed": seed,
            "kills": rounds,
            "rounds": outcomes,
            "deposits_confirmed": confirmed,
            "messages_in_spool": messages,
            # Kept although the caller never heard them confirmed: killed while recording.
            "recovered_from_journals": max(0, messages - confirmed),
            "messages_lost": lost,
            "half_files": half,
            "stale_temp_files": stale,
            "lamp_after_restart": lamp.status,
            "last_start_up_s": round(listening - since, 2),
            "exceptions_logged": exceptions,
        },
    )
    assert (lost, half, stale, exceptions) == (0, 0, 0, 0), (seed, outcomes)
    assert lamp.status == "met", lamp.detail


async def test_kill_9_while_recording_keeps_what_was_flushed(tmp_path: Path, serve: Serve) -> None:
    proxy = SimProxy(("127.0.0.1", 9))
    await proxy.start()
    caller = Phone("+15551230000", proxy.address)
    await caller.start()
    spool = tmp_path / "spool"
    config = write_config(tmp_path / "etc", proxy.address)
    try:
        served = await serve(config, spool)
        proxy.voicemail = served.address
        call = await caller.dial("2000")
        assert await sound_heard(call), "no greeting was heard"
        await call.send_dtmf("#")
        assert await call.wait_for_prompt("beep"), call.heard_prompts()
        await call.wait_quiet(0.2)
        await call.play(speech_like(3.0, "killed while speaking"))
        await asyncio.sleep(1.2)  # a flush happens at least once a second
        served.process.kill()
        await served.process.wait()
        restarted = await serve(config, spool)
        await restarted.stop()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(caller.close(), 2)
        await proxy.close()
    (message,) = Spool(spool).messages(BOX)
    assert message.info.duration >= 2, message.info
    assert (
        message.info.callerid.endswith("<+15551230000>") or "+15551230000" in message.info.callerid
    )
    assert _spool_state(spool)[1:3] == (0, 0)
    assert tracebacks(served.log, restarted.log) == 0
