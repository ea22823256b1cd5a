"""What a real caller says into a voicemail box: speech around a message signature.

A test that makes a third-party peer (SIPp, PJSUA2) leave a message gives it this audio, then
finds the code again in the stored message or in what a phone heard on retrieval with
:func:`harness.media.signature.find_message_codes`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from harness.media.signal import speech_like
from harness.media.signature import message_signature


def signed_speech(code: str, *, speech_seconds: float = 0.5) -> npt.NDArray[np.int16]:
    """``speech_seconds`` of speech, the signature frame of ``code``, then as much speech again.

    8 kHz. The speech on both sides stands for a real message and keeps the frame away from
    where a recording starts or ends; it is seeded by ``code``, so the same code gives the
    same audio.
    """
    if not speech_seconds > 0:
        raise ValueError(f"speech_seconds must be positive, not {speech_seconds!r}")
    before = speech_like(speech_seconds, f"{code}-before")
    after = speech_like(speech_seconds, f"{code}-after")
    return np.concatenate((before, message_signature(code), after))
