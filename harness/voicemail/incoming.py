"""An INVITE as the voicemail server reads it: parsed once, then only looked up.

Every part of the server that needs to know about a new call — routing, the deposit's
information file, the retrieval menu's caller, the DTMF mode, the urgent flag, the media
answer — reads :class:`IncomingCall` instead of parsing the request's headers again.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.sip import sdp
from harness.sip.address import Address
from harness.sip.errors import SIPParseError
from harness.sip.message import Request
from harness.sip.uri import URI


def caller_id(sender: Address | None) -> str:
    """The caller as app_voicemail writes ``callerid=`` (``ast_callerid_merge``).

    ``"Name" <number>`` with both, the bare number or the bare name with one, else ``Unknown``
    (also without a readable From).
    """
    if sender is None:
        return "Unknown"
    number = sender.uri.user or ""
    name = sender.display_name or ""
    if name and number:
        return f'"{name}" <{number}>'
    return name or number or "Unknown"


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """What an INVITE tells the server, read once.

    ``caller``: the From user (the caller's number), None without a readable From.
    ``callerid``: the caller as ``callerid=`` is written. ``request_user``: the Request-URI
    user (``${EXTEN}``), None when it has none or cannot be read. ``in_dialog``: the To header
    carries a tag (a re-INVITE). ``urgent``: a ``Priority`` of ``urgent`` or ``emergency``.
    ``offer``: the SDP offer, or None with ``offer_problem`` saying why it could not be read.
    ``request``: the request itself, for the routing chain and the answer.
    """

    request: Request
    call_id: str
    in_dialog: bool
    caller: str | None
    callerid: str
    request_user: str | None
    urgent: bool
    offer: sdp.SessionDescription | None
    offer_problem: str | None = None

    @classmethod
    def parse(cls, request: Request) -> IncomingCall:
        """Read ``request`` (an INVITE); never raises: what cannot be read is None."""
        sender = _address(request.header("From"))
        receiver = _address(request.header("To"))
        try:
            request_user = URI.parse(request.uri).user or None
        except SIPParseError:
            request_user = None
        priority = (request.header("Priority") or "").strip().lower()
        offer: sdp.SessionDescription | None = None
        problem: str | None = None
        try:
            offer = sdp.parse(request.body)
        except sdp.SdpError as error:
            problem = str(error)
        return cls(
            request=request,
            call_id=request.call_id,
            in_dialog=receiver is not None and receiver.tag is not None,
            caller=sender.uri.user if sender is not None else None,
            callerid=caller_id(sender),
            request_user=request_user,
            urgent=priority in ("urgent", "emergency"),
            offer=offer,
            offer_problem=problem,
        )


def _address(text: str | None) -> Address | None:
    if text is None:
        return None
    try:
        return Address.parse(text)
    except SIPParseError:
        return None
