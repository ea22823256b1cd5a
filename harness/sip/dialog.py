"""SIP dialogs (RFC 3261 §12): the state two user agents share, and the requests sent in it.

A :class:`Dialog` is created by the UAC from a 2xx (or a 1xx with a To tag) to its INVITE or
SUBSCRIBE (:meth:`Dialog.from_uac`), or by the UAS from the request it answers
(:meth:`Dialog.from_uas`). It builds in-dialog requests with the right Request-URI, Route set,
CSeq, tags and Call-ID (:meth:`Dialog.create_request`, :meth:`Dialog.create_ack`), and checks
and learns from requests and responses received in it.

Retransmitted 2xx responses to an INVITE reach the TU as
:class:`harness.sip.transaction.StrayResponse`; the UAC answers each with the same ACK again
(``create_ack`` with the response's CSeq number, sent with ``send_stateless``). The UAS side's
2xx retransmission runs in the transaction layer.

The builders of messages outside a dialog live in :mod:`harness.sip.builder`; the commonest are
re-exported here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from harness.sip.address import Address
from harness.sip.builder import (
    HeaderPairs,
    as_address,
    body_headers,
    format_host,
    make_cancel,
    make_response,
    new_branch,
    new_call_id,
    new_request,
    new_tag,
    without_tag,
)
from harness.sip.errors import SIPParseError
from harness.sip.message import Header, Message, Request, Response
from harness.sip.uri import URI
from harness.sip.via import Via

__all__ = [
    "TARGET_REFRESH_METHODS",
    "Dialog",
    "DialogError",
    "DialogId",
    "dialog_id_of_request",
    "dialog_id_of_response",
    "make_cancel",
    "make_response",
    "new_branch",
    "new_call_id",
    "new_request",
    "new_tag",
]

#: Methods whose Contact replaces the remote target (RFC 3261 §12.2, RFC 3311, RFC 6665, RFC 3515).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})

#: (Call-ID, local tag, remote tag): a dialog as one side sees it (§12).
DialogId = tuple[str, str, str]

# URI parameters a Request-URI must not carry (§19.1.1, table 1), stripped under strict routing.
_NOT_IN_REQUEST_URI = frozenset({"method"})


class DialogError(ValueError):
    """A message cannot create or belong to a dialog; the message says what is missing."""


def dialog_id_of_request(request: Request) -> DialogId:
    """The dialog id of a received request, from the receiver's side: (Call-ID, To tag, From tag).

    Tags that are missing (or unparsable) count as ''.
    """
    return request.call_id, _tag_or_empty(request, "To"), _tag_or_empty(request, "From")


def dialog_id_of_response(response: Response) -> DialogId:
    """The dialog id of a received response, from the UAC's side: (Call-ID, From tag, To tag)."""
    return response.call_id, _tag_or_empty(response, "From"), _tag_or_empty(response, "To")


@dataclass(slots=True)
class Dialog:
    """One side of a dialog (§12.1): its identifiers, route set, sequence numbers and targets.

    ``local_address``/``remote_address`` are From/To as this side writes them, without tags;
    ``via`` is the template of the top Via of requests sent in the dialog (a new branch is
    added each time); ``local_target`` is this side's Contact, written into target refresh
    requests. ``local_cseq``/``remote_cseq`` are None while empty.
    """

    call_id: str
    local_tag: str
    remote_tag: str
    local_address: Address
    remote_address: Address
    remote_target: URI
    route_set: tuple[Address, ...]
    local_cseq: int | None
    remote_cseq: int | None
    secure: bool
    via: Via
    local_target: Address | None = None
    early: bool = False
    #: CSeq number of the latest INVITE this side sent in the dialog (what an ACK carries).
    invite_cseq: int | None = None

    @property
    def id(self) -> DialogId:
        """(Call-ID, local tag, remote tag)."""
        return self.call_id, self.local_tag, self.remote_tag

    @property
    def local_uri(self) -> URI:
        """The local URI (From of the requests this side sends)."""
        return self.local_address.uri

    @property
    def remote_uri(self) -> URI:
        """The remote URI (To of the requests this side sends)."""
        return self.remote_address.uri

    @classmethod
    def from_uac(cls, request: Request, response: Response) -> Dialog:
        """The UAC's dialog from the request it sent and a 2xx or 1xx response with a To tag.

        Route set: the response's Record-Route reversed; remote target: its Contact (§12.1.2).
        A 1xx makes an early dialog, confirmed later by :meth:`receive_response` with the 2xx.
        """
        what = f"{response.status} to {request.method}"
        if not 101 <= response.status < 300:
            raise DialogError(f"a {what} does not create a dialog (only 101-299 do)")
        via = _parse_via(request, "request sent")
        local = _parse_address(request, "From", "request sent")
        if local.tag is None:
            raise DialogError(f"request sent ({request.method}) has no From tag")
        remote = _parse_address(response, "To", what)
        if remote.tag is None:
            raise DialogError(f"{what} has no To tag: it creates no dialog (§12.1.2)")
        number, _ = _cseq(request, "request sent")
        contact = _contact(response, what)
        return cls(
            call_id=request.call_id,
            local_tag=local.tag,
            remote_tag=remote.tag,
            local_address=without_tag(local),
            remote_address=without_tag(remote),
            remote_target=contact.uri,
            route_set=tuple(reversed(_record_route(response, what))),
            local_cseq=number,
            remote_cseq=None,
            secure=_is_secure(request.uri, via),
            via=_via_template(via),
            local_target=_optional_contact(request, "request sent"),
            early=response.status < 200,
            invite_cseq=number if request.method == "INVITE" else None,
        )

    @classmethod
    def from_uas(
        cls,
        request: Request,
        response: Response,
        *,
        local: tuple[str, int],
        transport: str = "UDP",
    ) -> Dialog:
        """The UAS's dialog from the request it received and the 2xx or 1xx it answers with.

        ``response`` must carry the To tag (the local tag) and normally this side's Contact.
        Route set: the request's Record-Route in order; remote target: its Contact (§12.1.1).
        ``local`` and ``transport`` give the sent-by of requests this side sends in the dialog.
        """
        what = f"received {request.method}"
        if not 101 <= response.status < 300:
            raise DialogError(f"a {response.status} does not create a dialog (only 101-299 do)")
        via = _parse_via(request, what)
        remote = _parse_address(request, "From", what)
        local_address = _parse_address(response, "To", f"{response.status} response")
        if local_address.tag is None:
            raise DialogError(f"{response.status} response has no To tag (the local tag)")
        number, _ = _cseq(request, what)
        contact = _contact(request, what)
        return cls(
            call_id=request.call_id,
            local_tag=local_address.tag,
            remote_tag=remote.tag or "",
            local_address=without_tag(local_address),
            remote_address=without_tag(remote),
            remote_target=contact.uri,
            route_set=_record_route(request, what),
            local_cseq=None,
            remote_cseq=number,
            secure=_is_secure(request.uri, via),
            via=Via(
                transport=transport.upper(),
                host=format_host(local[0]),
                port=local[1],
                params=(("rport", None),),
            ),
            local_target=_optional_contact(response, f"{response.status} response"),
            early=response.status < 200,
        )

    def create_request(
        self,
        method: str,
        *,
        headers: HeaderPairs = (),
        body: bytes = b"",
        content_type: str | None = None,
        branch: str | None = None,
        max_forwards: int = 70,
    ) -> Request:
        """A new request in this dialog (§12.2.1.1); the local CSeq goes up by one.

        Request-URI and Route follow the route set: loose routing (first route has ``lr``)
        keeps the remote target as Request-URI and the whole set as Route; strict routing puts
        the first route in the Request-URI and the remote target last in Route. Target refresh
        requests carry the local Contact.
        """
        if method in ("ACK", "CANCEL"):
            raise DialogError(
                f"{method} is not built by create_request: use create_ack for the ACK of a 2xx"
                " and make_cancel for a CANCEL"
            )
        self.local_cseq = 1 if self.local_cseq is None else self.local_cseq + 1
        if method == "INVITE":
            self.invite_cseq = self.local_cseq
        contact = self.local_target if method in TARGET_REFRESH_METHODS else None
        return self._build(
            method,
            self.local_cseq,
            branch=branch,
            max_forwards=max_forwards,
            contact=contact,
            headers=headers,
            body=body,
            content_type=content_type,
        )

    def create_ack(
        self,
        cseq: int | None = None,
        *,
        headers: HeaderPairs = (),
        body: bytes = b"",
        content_type: str | None = None,
        branch: str | None = None,
    ) -> Request:
        """The ACK of a 2xx to an INVITE (§13.2.2.4): an in-dialog request with the INVITE's
        CSeq number (``cseq``, by default the latest INVITE this side sent) and a new branch."""
        number = cseq if cseq is not None else self.invite_cseq
        if number is None:
            raise DialogError(f"dialog {self.id}: no INVITE was sent in it, pass cseq=")
        return self._build(
            "ACK",
            number,
            branch=branch,
            max_forwards=70,
            contact=None,
            headers=headers,
            body=body,
            content_type=content_type,
        )

    def matches(self, request: Request) -> bool:
        """Whether a received ``request`` belongs here: same Call-ID and both tags (§12.2.2)."""
        return dialog_id_of_request(request) == self.id

    def receive_request(self, request: Request) -> bool:
        """Check and learn from a request received in this dialog (§12.2.2).

        Returns False when its CSeq is lower than the remote CSeq: the request is out of order
        and the caller answers 500. Otherwise the remote CSeq is updated, and a target refresh
        request with a Contact replaces the remote target. Raises :class:`DialogError` when the
        request does not belong to this dialog.
        """
        if dialog_id_of_request(request) != self.id:
            raise DialogError(
                f"{request.method} with dialog id {dialog_id_of_request(request)} does not"
                f" belong to dialog {self.id}"
            )
        number, method = _cseq(request, f"received {request.method}")
        if method in ("ACK", "CANCEL"):
            # They carry the INVITE's number and do not advance the sequence.
            return True
        if self.remote_cseq is not None and number < self.remote_cseq:
            return False
        self.remote_cseq = number
        if method in TARGET_REFRESH_METHODS:
            target = _optional_contact(request, f"received {method}")
            if target is not None:
                self.remote_target = target.uri
        return True

    def receive_response(self, response: Response) -> None:
        """Learn from a response to a request this side sent in the dialog.

        A 2xx to a target refresh request replaces the remote target with its Contact
        (§12.2.1.2); a 2xx to the INVITE of an early dialog confirms it and recomputes the route
        set from its Record-Route (§13.2.2.4).
        """
        if dialog_id_of_response(response) != self.id:
            raise DialogError(
                f"{response.status} with dialog id {dialog_id_of_response(response)} does not"
                f" belong to dialog {self.id}"
            )
        if not 200 <= response.status < 300:
            return
        what = f"{response.status} response"
        _, method = _cseq(response, what)
        if method in TARGET_REFRESH_METHODS:
            target = _optional_contact(response, what)
            if target is not None:
                self.remote_target = target.uri
        if self.early and method == "INVITE":
            self.early = False
            self.route_set = tuple(reversed(_record_route(response, what)))

    def next_hop(self) -> tuple[str, int]:
        """Where in-dialog requests go: the first route, else the remote target (§12.2.1.1)."""
        uri = self.route_set[0].uri if self.route_set else self.remote_target
        return uri.host.strip("[]"), uri.port or 5060

    def confirm(self) -> None:
        """Mark an early dialog confirmed (the UAS has sent its 2xx)."""
        self.early = False

    def _build(
        self,
        method: str,
        number: int,
        *,
        branch: str | None,
        max_forwards: int,
        contact: Address | None,
        headers: HeaderPairs,
        body: bytes,
        content_type: str | None,
    ) -> Request:
        uri, routes = self._target_and_routes()
        via = dataclasses.replace(
            self.via, params=(("branch", branch or new_branch()), *self.via.params), raw=None
        )
        to_address = self.remote_address
        if self.remote_tag:
            to_address = to_address.with_params(tag=self.remote_tag)
        lines = [
            Header("Via", str(via)),
            Header("Max-Forwards", str(max_forwards)),
            *(Header("Route", route) for route in routes),
            Header("From", str(self.local_address.with_params(tag=self.local_tag))),
            Header("To", str(to_address)),
            Header("Call-ID", self.call_id),
            Header("CSeq", f"{number} {method}"),
        ]
        if contact is not None:
            lines.append(Header("Contact", str(contact)))
        lines.extend(Header(name, value) for name, value in headers)
        lines.extend(body_headers(body, content_type))
        return Request(method=method, uri=uri, headers=tuple(lines), body=body)

    def _target_and_routes(self) -> tuple[str, list[str]]:
        """Request-URI and Route values for the route set (§12.2.1.1)."""
        if not self.route_set:
            return str(self.remote_target), []
        first = self.route_set[0]
        if first.uri.param("lr") is not None:
            return str(self.remote_target), [str(route) for route in self.route_set]
        # Strict routing: the next hop is the Request-URI, the remote target rides last.
        params = tuple(
            item for item in first.uri.params if item[0].lower() not in _NOT_IN_REQUEST_URI
        )
        request_uri = dataclasses.replace(first.uri, params=params, headers=(), raw=None)
        routes = [str(route) for route in self.route_set[1:]]
        routes.append(str(Address(uri=self.remote_target)))
        return str(request_uri), routes


def _tag_or_empty(message: Message, name: str) -> str:
    value = message.header(name)
    if value is None:
        return ""
    try:
        return Address.parse(value).tag or ""
    except SIPParseError:
        return ""


def _parse_address(message: Message, name: str, what: str) -> Address:
    value = message.header(name)
    if value is None:
        raise DialogError(f"{what} has no {name} header")
    try:
        return as_address(value, name)
    except ValueError as error:
        raise DialogError(f"{what}: {error}") from None


def _parse_via(message: Message, what: str) -> Via:
    value = message.header("Via")
    if value is None:
        raise DialogError(f"{what} has no Via header")
    try:
        return Via.parse(value)
    except SIPParseError as error:
        raise DialogError(f"{what}: {error}") from None


def _cseq(message: Message, what: str) -> tuple[int, str]:
    try:
        return message.cseq
    except SIPParseError as error:
        raise DialogError(f"{what}: {error.reason}") from None


def _contact(message: Message, what: str) -> Address:
    contact = _optional_contact(message, what)
    if contact is None:
        raise DialogError(f"{what} has no Contact: the dialog would have no remote target")
    return contact


def _optional_contact(message: Message, what: str) -> Address | None:
    if not message.has("Contact"):
        return None
    return _parse_address(message, "Contact", what)


def _record_route(message: Message, what: str) -> tuple[Address, ...]:
    routes: list[Address] = []
    for value in message.header_values("Record-Route"):
        try:
            routes.append(as_address(value, "Record-Route"))
        except ValueError as error:
            raise DialogError(f"{what}: {error}") from None
    return tuple(routes)


def _is_secure(request_uri: str, via: Via) -> bool:
    """§12.1.1/§12.1.2: secure when the request went over TLS to a SIPS Request-URI."""
    return request_uri.lower().startswith("sips:") and via.transport.upper() == "TLS"


def _via_template(via: Via) -> Via:
    """Our own top Via minus what is per request (branch) or stamped by others."""
    drop = {"branch", "received", "rport"}
    params = tuple(item for item in via.params if item[0].lower() not in drop)
    if via.param("rport") is not None:
        params = (*params, ("rport", None))
    return Via(
        transport=via.transport, host=via.host, port=via.port, params=params, protocol=via.protocol
    )
