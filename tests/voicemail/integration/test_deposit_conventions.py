"""Deposits through every routing convention: the right mailbox, greeting, rdnis — or a 404."""

from __future__ import annotations

import pytest

from harness.core.mailbox import MailboxId
from harness.core.routing import DEFAULT_CHAIN
from harness.media.signature import find_message_codes
from harness.media.wav import read_wav
from harness.sim.phone import CallFailed
from tests.voicemail.integration.conftest import Bed, BedFactory, coded_greeting

#: Conventions whose headers say why the call was redirected (busy or not).
WITH_REASON = ("diversion", "history-info", "rfc4458")
#: Conventions that only name the mailbox.
WITHOUT_REASON = ("x-voicemail", "request-uri", "to")


async def two_boxes(make_bed: BedFactory, convention: str) -> Bed:
    """Mailboxes 2000 and 2001 with phones, each with recorded greetings that say whose they are.

    The server's default chain does not read To, so a proxy using it is paired with a server
    whose chain does, as an administrator would configure it.
    """
    chain = (*DEFAULT_CHAIN, "to") if convention == "to" else None
    bed = await make_bed(
        {"2000": "4321", "2001": "4321"},
        phones=["2000", "2001"],
        convention=convention,
        chain=chain,
    )
    for box in ("2000", "2001"):
        bed.put_greeting(box, "unavail", coded_greeting(f"U{box}"))
        bed.put_greeting(box, "busy", coded_greeting(f"B{box}"))
    return bed


def message_text(bed: Bed, box: str) -> dict[str, str]:
    """White-box: the ``[message]`` lines of the only message in ``box``'s INBOX."""
    messages = bed.server.spool.messages(MailboxId(box))
    assert len(messages) == 1, [m.name for m in messages]
    lines = messages[0].text.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith(";"))


@pytest.mark.parametrize("convention", [*WITH_REASON, *WITHOUT_REASON])
async def test_a_message_lands_in_the_mailbox_the_convention_names(
    make_bed: BedFactory, convention: str
) -> None:
    bed = await two_boxes(make_bed, convention)
    call = await bed.deposit("2001", 0.5, signature="HELLO")
    assert find_message_codes(call.heard()) == ["U2001"], call.heard_prompts()
    assert (bed.count("2001"), bed.count("2000")) == (1, 0)
    stored = bed.server.spool.messages(MailboxId("2001"))[0]
    assert find_message_codes(read_wav(stored.audio)[0]) == ["HELLO"]
    text = message_text(bed, "2001")
    assert text["origmailbox"] == "2001"
    # Redirect information names who forwarded the call; the others carry none.
    assert text["rdnis"] == ("2001" if convention in WITH_REASON else "unknown")


@pytest.mark.parametrize("convention", WITH_REASON)
async def test_a_busy_callee_gets_the_busy_greeting_when_the_convention_says_so(
    make_bed: BedFactory, convention: str
) -> None:
    bed = await two_boxes(make_bed, convention)
    bed.phones["2001"].answer_mode = "busy"
    call = await bed.deposit("2001", 0.5)
    assert find_message_codes(call.heard()) == ["B2001"], call.heard_prompts()
    assert bed.count("2001") == 1
    assert message_text(bed, "2001")["rdnis"] == "2001"


@pytest.mark.parametrize("convention", WITHOUT_REASON)
async def test_a_busy_callee_gets_the_unavailable_greeting_when_no_reason_travels(
    make_bed: BedFactory, convention: str
) -> None:
    bed = await two_boxes(make_bed, convention)
    bed.phones["2001"].answer_mode = "busy"
    call = await bed.deposit("2001", 0.5)
    assert find_message_codes(call.heard()) == ["U2001"], call.heard_prompts()
    assert bed.count("2001") == 1


async def test_a_mailbox_voicemail_conf_lacks_is_refused_with_404(make_bed: BedFactory) -> None:
    bed = await make_bed(phones=["2000"])
    caller = await bed.caller()
    with pytest.raises(CallFailed) as failed:
        await caller.dial("2999")
    assert failed.value.response.status == 404
    assert "2999" in failed.value.response.reason
    assert not (bed.target.spool / "default" / "2999").exists()
    assert not bed.server.status()["calls"]


async def test_a_request_naming_no_mailbox_is_refused_with_404_naming_the_tried_conventions(
    make_bed: BedFactory,
) -> None:
    # This proxy names the mailbox only in To, which the server's default chain does not read.
    bed = await make_bed(phones=["2000"], convention="to")
    caller = await bed.caller()
    with pytest.raises(CallFailed) as failed:
        await caller.dial("2000")
    response = failed.value.response
    assert response.status == 404
    for name in DEFAULT_CHAIN:
        assert name in response.reason, response.reason
    assert bed.count("2000") == 0
    assert not (bed.target.spool / "default" / "2000").exists()
