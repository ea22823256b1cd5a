"""Mailbox identity: ``box@context``, as app_voicemail and sip.conf write it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

#: The context a mailbox belongs to when none is written, as in app_voicemail.
DEFAULT_CONTEXT = "default"

_BOX_RE = re.compile(r"[A-Za-z0-9_.-]+\Z")
# An RFC 3261 token: it keeps '@', ',', '&' and white space out, which delimit mailbox lists.
_CONTEXT_RE = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+\Z")


@dataclass(frozen=True, slots=True, order=True)
class MailboxId:
    """One mailbox: ``box`` (letters, digits, ``-_.``) inside a voicemail ``context`` (a token).

    Construction validates both parts and raises :class:`ValueError` naming the bad text.
    """

    box: str
    context: str = DEFAULT_CONTEXT

    def __post_init__(self) -> None:
        problem = _problem(self.box, self.context)
        if problem is not None:
            raise ValueError(f"bad mailbox: {problem}")

    def __str__(self) -> str:
        return f"{self.box}@{self.context}"

    @classmethod
    def parse(cls, text: str, default_context: str = DEFAULT_CONTEXT) -> MailboxId:
        """Parse ``box`` or ``box@context``; surrounding white space is ignored."""
        box, context = _split(text, default_context)
        problem = _problem(box, context)
        if problem is not None:
            raise ValueError(f"bad mailbox {text!r}: {problem}")
        return cls(box, context)

    @classmethod
    def parse_list(
        cls,
        text: str,
        separator: Literal[",", "&"] = ",",
        default_context: str = DEFAULT_CONTEXT,
    ) -> tuple[MailboxId, ...]:
        """Parse a mailbox list: sip.conf ``mailbox=1000@a,1001@b`` or VoiceMail's ``1000&1001@b``.

        Each item has its own context (``1000`` above is in the default context).

        Empty items are skipped and a repeated mailbox is kept once (first place wins), as
        chan_sip does, so blank text gives ``()`` and aggregated counts never count a box twice.
        """
        mailboxes: list[MailboxId] = []
        for index, item in enumerate(text.split(separator), start=1):
            if not item.strip():
                continue
            box, context = _split(item, default_context)
            problem = _problem(box, context)
            if problem is not None:
                raise ValueError(f"bad mailbox {item!r} (item {index} of {text!r}): {problem}")
            mailbox = cls(box, context)
            if mailbox not in mailboxes:
                mailboxes.append(mailbox)
        return tuple(mailboxes)


def _split(text: str, default_context: str) -> tuple[str, str]:
    box, at, context = text.strip().partition("@")
    return box, (context if at else default_context)


def _problem(box: object, context: object) -> str | None:
    """What is wrong with a box and a context, or None when both are valid."""
    if not isinstance(box, str):
        return f"box {box!r} is not text"
    if not box:
        return "empty box"
    if not _BOX_RE.match(box):
        return f"box {box!r} may hold only letters, digits, '-', '_' and '.'"
    if not isinstance(context, str):
        return f"context {context!r} is not text"
    if not context:
        return "empty context"
    if not _CONTEXT_RE.match(context):
        return f"context {context!r} is not a token (no '@', ',', '&' or white space)"
    return None
