"""Hearing back the prompts in a recording of what a phone heard."""

import numpy as np

from harness.media.hearing import describe_heard, heard_prompts
from harness.media.prompts import GeneratedPrompts
from harness.media.signal import speech_like
from harness.media.signature import FrameKind, encode_frame, message_signature


def test_heard_prompts_skips_other_frames_and_marks_unknown_codes() -> None:
    library = GeneratedPrompts()
    pcm = np.concatenate(
        [
            library.audio("vm-youhave"),
            message_signature("XY12"),
            speech_like(0.5, 3),
            encode_frame(FrameKind.PROMPT, (60000).to_bytes(2, "big")),
            library.audio("digits/2"),
        ]
    )
    assert heard_prompts(pcm) == ["vm-youhave", "?60000", "digits/2"]


def test_describe_heard_shows_frames_and_the_first_difference() -> None:
    library = GeneratedPrompts()
    pcm = np.concatenate(
        [library.audio("vm-login"), message_signature("AB7"), library.audio("vm-incorrect")]
    )
    text = describe_heard(pcm, ["vm-login", "vm-password"])
    assert "3 signature frame(s)" in text
    assert "message  AB7" in text
    assert "heard prompts:    vm-login, vm-incorrect" in text
    assert "first difference at prompt 2: expected 'vm-password', heard 'vm-incorrect'" in text
    matching = describe_heard(pcm, ["vm-login", "vm-incorrect"])
    assert "the prompts heard are the ones expected" in matching
    assert "expected nothing" in describe_heard(pcm, ["vm-login"])
