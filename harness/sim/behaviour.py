"""What a proxy profile makes the simulated proxy do, resolved once into typed fields.

A :class:`~harness.sim.profiles.ProxyProfile` is what a user writes: a convention and a list of
quirks by name. :meth:`ProxyBehaviour.of` reads it once (as h2 reads an ``H2Configuration``), so
the proxy's parts ask plain questions (``behaviour.b2bua``, ``behaviour.delay_for("INVITE")``)
instead of looking quirks up by name on every request. A new quirk is one field here and the
branch that reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.core.routing import Convention
from harness.sim.profiles import (
    B2bua,
    CompactHeaders,
    Delay,
    DigestChallengeNotify,
    DigestChallengeRegister,
    DropFirst,
    FoldedHeaders,
    Fork,
    LowerCaseHeaders,
    NotifyDrop,
    NotifyReject,
    NotifyUnregistered,
    ProxyProfile,
    Reliable100rel,
    RewriteRequestUri,
    SessionTimer,
    StripXHeaders,
    TcpToVoicemail,
)
from harness.sip.transport import TransportName, WireStyle


@dataclass(frozen=True, slots=True)
class ProxyBehaviour:
    """Everything the simulated proxy does differently from a plain RFC 3261 proxy."""

    #: How the forwarded INVITE names the mailbox.
    convention: Convention = Convention.X_VOICEMAIL
    #: How every message the proxy sends is written.
    wire: WireStyle = field(default_factory=WireStyle)
    #: Whether the proxy record-routes, so in-dialog requests pass it.
    record_route: bool = True
    #: Whether the proxy stands in calls to the voicemail server as a B2BUA.
    b2bua: bool = False
    #: The transport of requests towards the voicemail server.
    voicemail_transport: TransportName = "UDP"
    #: Whether every live contact of a user rings (and gets NOTIFYs), not only the latest.
    fork: bool = False
    #: Whether the caller hears a reliable 180 of the proxy's own (RFC 3262) instead of the
    #: provisional responses from further on.
    reliable_ringing: bool = False
    #: Refreshes of bridged calls (RFC 4028); None: none.
    session_timer: SessionTimer | None = None
    #: X- headers removed from forwarded requests; None: all kept.
    strip_x_headers: StripXHeaders | None = None
    #: The Request-URI user of calls redirected to voicemail; None: the convention's.
    pilot_user: str | None = None
    #: The challenge a REGISTER must answer; None: none.
    register_challenge: DigestChallengeRegister | None = None
    #: The challenge a NOTIFY for relay must answer; None: none.
    notify_challenge: DigestChallengeNotify | None = None
    #: The status of a NOTIFY for a user with no registered phone.
    notify_unregistered: int = 404
    #: How NOTIFYs for relay are refused; None: they are relayed.
    notify_reject: NotifyReject | None = None
    #: How NOTIFYs for relay are swallowed; None: they are relayed.
    notify_drop: NotifyDrop | None = None
    #: The first requests lost on arrival; None: none.
    drop_first: DropFirst | None = None
    #: The wait before forwarding requests; None: none.
    delay: Delay | None = None
    #: Seconds a registered phone may ring before the call goes to voicemail.
    no_answer_timeout: float = 0.5
    #: Numbers a phone dials to reach its voicemail menu.
    retrieval_users: frozenset[str] = frozenset()
    #: Whether a phone's REGISTER is copied to the voicemail server.
    replicate_register: bool = False

    @classmethod
    def of(cls, profile: ProxyProfile) -> ProxyBehaviour:
        """The behaviour ``profile`` describes."""
        folded = profile.quirk(FoldedHeaders)
        rewrite = profile.quirk(RewriteRequestUri)
        unregistered = profile.quirk(NotifyUnregistered)
        return cls(
            convention=profile.convention,
            wire=WireStyle(
                compact=profile.has(CompactHeaders.name),
                header_case="lower" if profile.has(LowerCaseHeaders.name) else "keep",
                fold_at=None if folded is None else folded.width,
            ),
            record_route=profile.record_route,
            b2bua=profile.has(B2bua.name),
            voicemail_transport="TCP" if profile.has(TcpToVoicemail.name) else "UDP",
            fork=profile.has(Fork.name),
            reliable_ringing=profile.has(Reliable100rel.name),
            session_timer=profile.quirk(SessionTimer),
            strip_x_headers=profile.quirk(StripXHeaders),
            pilot_user=None if rewrite is None else rewrite.user,
            register_challenge=profile.quirk(DigestChallengeRegister),
            notify_challenge=profile.quirk(DigestChallengeNotify),
            notify_unregistered=404 if unregistered is None else unregistered.status,
            notify_reject=profile.quirk(NotifyReject),
            notify_drop=profile.quirk(NotifyDrop),
            drop_first=profile.quirk(DropFirst),
            delay=profile.quirk(Delay),
            no_answer_timeout=profile.no_answer_timeout,
            retrieval_users=profile.retrieval_users,
            replicate_register=profile.replicate_register,
        )

    def delay_for(self, method: str) -> float:
        """Seconds to wait before forwarding a request of ``method`` (0: none)."""
        if self.delay is not None and self.delay.applies(method):
            return self.delay.seconds
        return 0.0

    def strips(self, header: str) -> bool:
        """Whether the header called ``header`` is removed from what the proxy passes on."""
        return self.strip_x_headers is not None and self.strip_x_headers.strips(header)
