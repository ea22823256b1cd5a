"""VoiceMailMain's main menu over SIP and RTP: every key, as a phone calling *97 hears it.

Each test leaves its messages with a signature, logs phone 2000 in to its own mailbox (the PIN
is asked) and presses keys; what the phone hears, the spool and the lamp tell what happened.
The envelope is off unless a test is about it, so ``vm-received`` is only heard when asked for.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.core.mailbox import MailboxId
from harness.sim.phone import Call
from tests.voicemail.integration.conftest import Bed, BedFactory

GENERAL = {"envelope": "no"}
BOX = MailboxId("2000")


async def _bed_with(
    make_bed: BedFactory, *codes: str, general: dict[str, str] | None = None, **options: Any
) -> Bed:
    """A bed whose mailbox 2000 holds one message per code, in order, each from its own caller."""
    bed = await make_bed(general={**GENERAL, **(general or {})}, **options)
    for number, code in enumerate(codes):
        await bed.deposit("2000", 0.3, caller=f"55{number}", signature=code, skip_greeting=True)
    return bed


async def _lamp_now(bed: Bed, user: str, new: int) -> float:
    """Wait until phone ``user``'s lamp shows ``new`` new messages and no old; the time after."""
    check = await bed.lamp(user, new > 0, (new, 0), since=0.0)
    assert check.status == "met", check.detail
    return bed.now()


async def _press_now(call: Call, key: str) -> int:
    """Press ``key`` at once (cutting what plays); how many prompts were heard before it."""
    mark = len(call.heard_prompts())
    await call.send_dtmf(key)
    return mark


async def test_1_plays_the_first_message(make_bed: BedFactory) -> None:
    bed = await _bed_with(make_bed, "AAA")
    call = await bed.login("2000")
    intro = await bed.hear(call, "vm-helpexit")
    assert intro == [
        "vm-password",
        *("vm-youhave", "digits/1", "vm-INBOX", "vm-message"),
        *("vm-onefor", "vm-INBOX", "vm-messages", "vm-opts", "vm-helpexit"),
    ]
    await bed.press(call, "1")
    after = await bed.hear(call, "vm-advopts", after=len(intro))
    assert after[:3] == ["vm-first", "vm-message", "vm-advopts"], after
    assert await bed.codes(call, "AAA") == ["AAA"]
    await call.hangup()


async def test_2_changes_folder(make_bed: BedFactory) -> None:
    bed = await _bed_with(make_bed, "AAA")
    call = await bed.login("2000")
    await bed.hear(call, "vm-youhave")
    await call.send_dtmf("2")
    await bed.hear(call, "vm-changeto")
    mark = await _press_now(call, "1")  # Old
    changed = await bed.hear(call, "vm-helpexit", after=mark)
    # The menu names the folder now open; Old is empty, so there is nothing to listen to.
    assert changed == ["vm-Old", "vm-messages", "vm-opts", "vm-helpexit"], changed
    mark = await _press_now(call, "1")
    empty = await bed.hear(call, "vm-messages", after=mark)
    assert empty == ["vm-youhave", "vm-no", "vm-Old", "vm-messages"], empty
    mark = await _press_now(call, "2")
    await bed.hear(call, "vm-changeto", after=mark)
    mark = await _press_now(call, "0")  # back to INBOX, where the message still is
    back = await bed.hear(call, "vm-onefor", after=mark)
    assert back == ["vm-INBOX", "vm-messages", "vm-onefor"], back
    await call.send_dtmf("1")
    assert await bed.codes(call, "AAA") == ["AAA"]
    await call.hangup()


async def test_3_advanced_options_say_the_envelope(make_bed: BedFactory) -> None:
    bed = await _bed_with(make_bed, "AAA")
    call = await bed.login("2000")
    await bed.hear(call, "vm-youhave")
    await call.send_dtmf("1")
    assert await bed.codes(call, "AAA") == ["AAA"]
    await bed.hear(call, "vm-advopts")
    assert "vm-received" not in call.heard_prompts()
    mark = await _press_now(call, "3")
    advanced = await bed.hear(call, "vm-starmain", after=mark)
    assert advanced == ["vm-toreply", "vm-tohearenv", "vm-starmain"], advanced
    mark = await _press_now(call, "3")
    envelope = await bed.hear(call, "vm-advopts", after=mark)
    # 'vm-received' [day] 'digits/at' hour minutes am/pm, then who called (from 550).
    assert envelope[0] == "vm-received", envelope
    assert "digits/at" in envelope
    assert envelope[envelope.index("digits/at") + 1].startswith("digits/")
    caller = envelope.index("vm-from-phonenumber")
    assert envelope[caller + 1 : caller + 4] == ["digits/5", "digits/5", "digits/0"], envelope
    await call.hangup()


async def test_4_goes_back_to_the_previous_message(make_bed: BedFactory) -> None:
    bed = await _bed_with(make_bed, "AAA", "BBB")
    call = await bed.login("2000")
    await bed.hear(call, "vm-youhave")
    await call.send_dtmf("6")  # from the start, 6 plays the second message
    assert await bed.codes(call, "BBB") == ["BBB"]
    mark = await _press_now(call, "4")  # a menu key cuts the message short
    assert await bed.codes(call, "AAA") == ["BBB", "AAA"]
    heard = call.heard_prompts()
    assert heard[mark : mark + 2] == ["vm-first", "vm-message"], heard
    assert "vm-last" in heard[:mark]
    await call.hangup()


async def test_5_repeats_the_message(make_bed: BedFactory) -> None:
    bed = await _bed_with(make_bed, "AAA")
    call = await bed.login("2000")
    await bed.hear(call, "vm-youhave")
    await call.send_dtmf("1")
    assert await bed.codes(call, "AAA") == ["AAA"]
    await bed.hear(call, "vm-advopts")
    await call.send_dtmf("5")
    assert await bed.codes(call, "AAA", times=2) == ["AAA", "AAA"]
    await call.hangup()


async def test_6_plays_the_next_message(make_bed: BedFactory) -> None:
    bed = await _bed_with(make_bed, "AAA", "BBB")
    call = await bed.login("2000")
    intro = await bed.hear(call, "vm-onefor")
    assert intro[1:5] == ["vm-youhave", "digits/2", "vm-INBOX", "vm-messages"], intro
    mark = await _press_now(call, "1")
    assert await bed.codes(call, "AAA") == ["AAA"]
    menu = await bed.hear(call, "vm-next", after=mark)
    assert menu == ["vm-first", "vm-message", "vm-advopts", "vm-repeat", "vm-next"], menu
    mark = await _press_now(call, "6")
    assert await bed.codes(call, "BBB") == ["AAA", "BBB"]
    announced = call.heard_prompts()[mark:]
    assert announced[:2] == ["vm-last", "vm-message"], announced
    await call.hangup()


async def test_7_deletes_on_exit_and_renumbers(make_bed: BedFactory) -> None:
    bed = await _bed_with(make_bed, "AAA", "BBB")
    since = await _lamp_now(bed, "2000", 2)
    call = await bed.login("2000")
    await bed.hear(call, "vm-youhave")
    await call.send_dtmf("1")
    assert await bed.codes(call, "AAA") == ["AAA"]
    await call.send_dtmf("7")
    assert "vm-deleted" in await bed.hear(call, "vm-deleted")
    assert bed.server.spool.numbers(BOX) == [0, 1], "deleted before the caller left"
    await call.send_dtmf("#")
    assert "vm-goodbye" in await bed.hear(call, "vm-goodbye")
    await bed.finish(call)
    messages = bed.server.spool.messages(BOX)
    assert [m.name for m in messages] == ["msg0000"]
    assert messages[0].info.callerid == "551", messages[0].info.callerid
    assert bed.count("2000", "Old") == 0
    check = await bed.lamp("2000", True, (1, 0), since=since)
    assert check.status == "met", check.detail


async def test_8_forwards_to_another_mailbox(make_bed: BedFactory) -> None:
    bed = await _bed_with(
        make_bed, "AAA", mailboxes={"2000": "4321", "2001": "1234"}, phones=["2000", "2001"]
    )
    since = await _lamp_now(bed, "2001", 0)
    call = await bed.login("2000")
    await bed.hear(call, "vm-youhave")
    await call.send_dtmf("8")
    await bed.hear(call, "vm-extension")
    mark = len(call.heard_prompts())
    await bed.press(call, "2001#")
    recipient = await bed.hear(call, "vm-forwardoptions", after=mark)
    # The recipient, by number (it has no recorded name), then what to do with the copy.
    assert recipient[:5] == ["digits/2", "digits/0", "digits/0", "digits/1", "vm-forwardoptions"]
    await call.send_dtmf("2")
    assert "vm-msgforwarded" in await bed.hear(call, "vm-msgforwarded", after=mark)
    check = await bed.lamp("2001", True, (1, 0), since=since)
    assert check.status == "met", check.detail
    assert bed.count("2001") == 1
    assert bed.count("2000") == 1, "the forwarded message stays where it was"
    await call.hangup()
    await bed.server.wait_idle()
    # The owner of 2001 hears the forwarded message.
    other = await bed.login("2001", "1234")
    await bed.hear(other, "vm-youhave")
    await other.send_dtmf("1")
    assert await bed.codes(other, "AAA") == ["AAA"]
    await other.hangup()


@pytest.mark.parametrize(("key", "folder"), [("2", "Work"), ("3", "Family")])
async def test_9_saves_to_a_folder(make_bed: BedFactory, key: str, folder: str) -> None:
    bed = await _bed_with(make_bed, "AAA")
    since = await _lamp_now(bed, "2000", 1)
    (message,) = bed.server.spool.messages(BOX)
    call = await bed.login("2000")
    await bed.hear(call, "vm-youhave")
    await call.send_dtmf("9")
    await bed.hear(call, "vm-savefolder")
    mark = await _press_now(call, key)
    said = await bed.hear(call, "vm-helpexit", after=mark)
    assert said[:6] == [
        *("vm-message", "digits/1", "vm-savedto", f"vm-{folder}", "vm-messages"),
        "vm-onefor",
    ], said
    assert bed.count("2000") == 1, "moved before the caller left the folder"
    await call.send_dtmf("#")
    await bed.finish(call)
    (saved,) = bed.server.spool.messages(BOX, folder)
    assert saved.msg_id == message.msg_id
    assert bed.count("2000") == 0
    check = await bed.lamp("2000", False, (0, 0), since=since)
    assert check.status == "met", check.detail


async def test_star_gives_help(make_bed: BedFactory) -> None:
    bed = await _bed_with(make_bed, "AAA")
    call = await bed.login("2000")
    await bed.hear(call, "vm-youhave")
    await call.send_dtmf("1")
    assert await bed.codes(call, "AAA") == ["AAA"]
    await bed.hear(call, "vm-advopts")
    mark = await _press_now(call, "*")
    helped = await bed.hear(call, "vm-repeat", after=mark)
    # The long form: which folder, what its keys do in full, and no shortcut to the
    # advanced options between them.
    assert helped == [
        *("vm-onefor", "vm-INBOX", "vm-messages", "vm-opts"),
        *("vm-onefor-full", "vm-INBOX", "vm-messages", "vm-opts-full", "vm-repeat"),
    ], helped
    await call.hangup()


async def test_0_opens_the_mailbox_options(make_bed: BedFactory) -> None:
    bed = await _bed_with(make_bed)
    call = await bed.login("2000")
    intro = await bed.hear(call, "vm-helpexit")
    assert intro == ["vm-password", "vm-youhave", "vm-no", "vm-messages", "vm-opts", "vm-helpexit"]
    await call.send_dtmf("0")
    options = await bed.hear(call, "vm-options", after=len(intro))
    assert options == ["vm-options"], options
    await bed.press(call, "*")  # back to the main menu
    back = await bed.hear(call, "vm-helpexit", after=len(intro) + 1)
    assert back == ["vm-opts", "vm-helpexit"], back
    await call.hangup()


@pytest.mark.parametrize(
    ("moveheard", "folder", "lamp"),
    [("yes", "Old", (False, (0, 1))), ("no", "INBOX", (True, (1, 0)))],
)
async def test_pound_says_goodbye_and_settles_the_mailbox(
    make_bed: BedFactory, moveheard: str, folder: str, lamp: tuple[bool, tuple[int, int]]
) -> None:
    bed = await _bed_with(make_bed, "AAA", general={"moveheard": moveheard})
    since = await _lamp_now(bed, "2000", 1)
    call = await bed.login("2000")
    await bed.hear(call, "vm-youhave")
    await call.send_dtmf("1")
    assert await bed.codes(call, "AAA") == ["AAA"]
    await bed.hear(call, "vm-advopts")
    mark = await _press_now(call, "#")
    assert await bed.hung_up_by_server(call), call.heard_prompts()
    assert call.heard_prompts()[mark:] == ["vm-goodbye"]
    await bed.finish(call)
    assert bed.count("2000", folder) == 1
    assert sum(bed.count("2000", name) for name in ("INBOX", "Old")) == 1
    waiting, voice = lamp
    check = await bed.lamp("2000", waiting, voice, since=since)
    assert check.status == "met", check.detail


async def test_logging_in_creates_old_and_urgent_as_asterisk_does(make_bed: BedFactory) -> None:
    # Tools that read an Asterisk spool expect Old/ and Urgent/ once the owner has logged in.
    bed = await _bed_with(make_bed, "AAA")
    spool = bed.server.spool
    assert not spool.folder(BOX, "Old").exists()
    call = await bed.login("2000")
    await bed.hear(call, "vm-youhave")
    assert [f for f in ("INBOX", "Old", "Urgent") if spool.folder(BOX, f).is_dir()] == [
        "INBOX",
        "Old",
        "Urgent",
    ]
    await call.hangup()
