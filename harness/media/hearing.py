"""What a phone heard: the generated prompts in a recording, decoded from their signature frames."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from harness.media.prompts import CATALOGUE
from harness.media.signature import RATE, FrameKind, decode_frames


def _prompt_of(payload: bytes) -> str:
    """The prompt name a frame's payload codes; ``?<code>`` for a code not in the catalogue."""
    code = int.from_bytes(payload, "big")
    if len(payload) == 2 and code < len(CATALOGUE):
        return CATALOGUE[code]
    return f"?{code}"


def heard_prompts(pcm: npt.ArrayLike) -> list[str]:
    """The prompts in a recording of what a phone heard, in order.

    Only prompts rendered by :class:`~harness.media.prompts.GeneratedPrompts` can be heard. A
    code this catalogue does not have (a newer catalogue's) appears as ``?<code>``.
    """
    return [
        _prompt_of(frame.payload) for frame in decode_frames(pcm) if frame.kind is FrameKind.PROMPT
    ]


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
