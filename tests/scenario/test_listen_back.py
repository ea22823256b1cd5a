"""A message listened to through retrieval is found by its signature and timed to the prompt
after it; one missing or cut short fails the deposit's check."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core.mailbox import MailboxId
from harness.media.prompts import GeneratedPrompts
from harness.media.signal import speech_like
from harness.media.signature import message_signature
from harness.scenario.listen_back import Deposited, check_heard
from harness.scenario.step import StepFailed

BOX = MailboxId("2000")


def _heard(message_seconds: float) -> np.ndarray:
    prompts = GeneratedPrompts()
    silence = np.zeros(4000, dtype=np.int16)
    message = np.concatenate((message_signature("LB1"), speech_like(message_seconds, "caller")))
    before = [prompts.audio("vm-first"), prompts.audio("vm-message"), silence]
    after = [silence, prompts.audio("vm-advopts"), prompts.audio("vm-repeat")]
    return np.concatenate([*before, message, *after])


def test_the_message_is_timed_from_its_signature_to_the_prompt_after_it() -> None:
    detail = check_heard(_heard(2.0), Deposited(BOX, "LB1", 2.6))
    assert detail.startswith("2000@default plays LB1 for ")


def test_a_message_shorter_than_what_the_caller_said_fails() -> None:
    with pytest.raises(StepFailed, match=r"plays for 0\.\d+ s when listened to; the caller"):
        check_heard(_heard(0.2), Deposited(BOX, "LB1", 3.6))


def test_a_message_never_heard_fails_naming_its_signature() -> None:
    with pytest.raises(StepFailed, match="never heard the message signed 'LB2'"):
        check_heard(_heard(2.0), Deposited(BOX, "LB2", 2.6))
