"""What a phone heard: the prompts in a recording, in order.

Generated prompts are decoded from their signature frames; recorded ones (Asterisk's sound
files) are recognised by their fingerprints and the beep by its tone
(:mod:`harness.media.recognition`). :class:`Hearing` does both for one call, so the same
listener serves a server playing either.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from harness.media.fingerprint import FingerprintIndex
from harness.media.prompts import CATALOGUE
from harness.media.recognition import Listener
from harness.media.signature import RATE, FrameKind, decode_frames

#: A generated ``beep`` prompt is its frame (0.48 s), a pad and the tone: a tone starting
#: this soon after the frame starts is that same beep.
_SAME_BEEP = 1.2


def _prompt_of(payload: bytes) -> str:
    """The prompt name a frame's payload codes; ``?<code>`` for a code not in the catalogue."""
    code = int.from_bytes(payload, "big")
    if len(payload) == 2 and code < len(CATALOGUE):
        return CATALOGUE[code]
    return f"?{code}"


def heard_prompts(pcm: npt.ArrayLike, index: FingerprintIndex | None = None) -> list[str]:
    """The prompts in a whole recording of what a phone heard, in order.

    Generated prompts (:class:`~harness.media.prompts.GeneratedPrompts`) are always heard; a
    code this catalogue does not have (a newer catalogue's) appears as ``?<code>``. Recorded
    prompts are heard when ``index`` has them; the beep always is.
    """
    return Hearing(index).prompts(pcm, final=True)


class Hearing:
    """What one call heard so far: generated prompts, recorded prompts of ``index``, beeps.

    Feed it the call's whole received audio each time (it only grows); what was analysed is
    not analysed again.
    """

    def __init__(self, index: FingerprintIndex | None = None) -> None:
        self._listener = Listener(index)

    def prompts(self, pcm: npt.ArrayLike, *, final: bool = False) -> list[str]:
        """The prompt names heard, in order. ``final``: the call is over, decide the rest."""
        signal = np.asarray(pcm)
        timed = [
            (frame.start_sample / RATE, _prompt_of(frame.payload))
            for frame in decode_frames(signal)
            if frame.kind is FrameKind.PROMPT
        ]
        generated_beeps = [start for start, name in timed if name == "beep"]
        for heard in self._listener.hear(signal, final=final):
            if heard.name == "beep" and any(
                0 <= heard.start - start <= _SAME_BEEP for start in generated_beeps
            ):
                continue
            timed.append((heard.start, heard.name))
        timed.sort(key=lambda item: item[0])
        return [name for _, name in timed]


def describe_heard(pcm: npt.ArrayLike, expected: Sequence[str] | None = None) -> str:
    """A readable account of the frames in a recording, for a failure message.

    One line per frame (time, kind, what it says); with ``expected`` prompt names, both
    prompt sequences and where they first differ.
    """
    signal = np.asarray(pcm)
    frames = decode_frames(signal)
    lines = [f"{len(frames)} signature frame(s) in {signal.size / RATE:.2f} s of audio"]
    for frame in frames:
        if frame.kind is FrameKind.PROMPT:
            what = _prompt_of(frame.payload)
        else:
            what = frame.payload.decode("ascii", "backslashreplace")
        lines.append(f"  {frame.start_sample / RATE:7.2f} s  {frame.kind.value:<7}  {what}")
    if expected is not None:
        heard = [_prompt_of(f.payload) for f in frames if f.kind is FrameKind.PROMPT]
        lines.append(f"expected prompts: {', '.join(expected) or '(none)'}")
        lines.append(f"heard prompts:    {', '.join(heard) or '(none)'}")
        for index in range(max(len(expected), len(heard))):
            want = expected[index] if index < len(expected) else None
            got = heard[index] if index < len(heard) else None
            if want != got:
                lines.append(
                    f"first difference at prompt {index + 1}: expected "
                    f"{'nothing' if want is None else repr(want)}, heard "
                    f"{'nothing' if got is None else repr(got)}"
                )
                break
        else:
            lines.append("the prompts heard are the ones expected")
    return "\n".join(lines)
