"""Proxy profiles: how a simulated proxy names the mailbox, and the quirks of real proxies."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.core.routing import RETRIEVAL_USERS
from harness.core.routing import convention as lookup_convention

#: Quirks the simulated proxy knows how to reproduce.
KNOWN_QUIRKS: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ProxyProfile:
    """A convention plus the behaviour of one kind of proxy."""

    name: str = "generic"
    convention: str = "x-voicemail"
    quirks: tuple[str, ...] = ()
    #: Seconds a registered phone may ring before the call goes to voicemail.
    no_answer_timeout: float = 0.5
    #: Users whose calls go straight to voicemail (call forward unconditional).
    forward_unconditional: frozenset[str] = field(default_factory=frozenset)
    #: Numbers a phone dials to reach its voicemail menu.
    retrieval_users: frozenset[str] = RETRIEVAL_USERS
    #: Whether a phone's REGISTER is copied to the voicemail server (third-party
    #: registration), so it resends MWI to a phone that comes back.
    replicate_register: bool = True

    def __post_init__(self) -> None:
        lookup_convention(self.convention)
        unknown = sorted(set(self.quirks) - KNOWN_QUIRKS)
        if unknown:
            known = ", ".join(sorted(KNOWN_QUIRKS)) or "none yet"
            raise ValueError(f"unknown proxy quirk(s) {', '.join(unknown)} (known: {known})")
