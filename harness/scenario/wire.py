"""What crossed each hop of a run: the wire log as messages between named parties.

Every party the harness runs records what it sends and receives. A message between two of them
is recorded twice (``out`` and ``in``, paired as in the trace); a message from or to a party the
harness does not run (a real proxy, a foreign voicemail server) is recorded once, and that
party is named by its address. Steps read hops from here (``proxy->voicemail``) and tell
failures in a vendor's words: what was sent, what arrived, what was answered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.report.records import Endpoint, echo_pairs
from harness.sip.errors import SIPParseError
from harness.sip.message import Request, Response, header_key, parse_message
from harness.sip.transaction import Peer
from harness.sip.transport import WireMessage

#: Headers that say which mailbox a forwarded call is for, or why it was forwarded.
ROUTING_HEADERS = (
    "X-Voicemail-Mailbox",
    "X-Voicemail-Context",
    "Diversion",
    "History-Info",
)


@dataclass(frozen=True, slots=True)
class Crossing:
    """One SIP message going from ``sender`` to ``receiver`` once."""

    #: Position in the wire log of the first record of it.
    index: int
    sender: str
    receiver: str
    message: Request | Response

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What a request's retransmissions and its responses share on this hop:
        Call-ID, CSeq, top Via branch, sender, receiver."""
        try:
            call_id = self.message.call_id
            number, method = self.message.cseq
            vias = self.message.vias()
        except SIPParseError:
            return str(self.index), "", "", self.sender, self.receiver
        branch = (vias[0].param("branch") or "") if vias else ""
        return call_id, f"{number} {method}", branch, self.sender, self.receiver


class WireView:
    """The wire log of a run (growing as the run goes), read as crossings between parties.

    ``parties`` names the addresses of parties the harness does not run (``{("127.0.0.1",
    5060): "proxy"}``).
    """

    def __init__(self, wire: Sequence[WireMessage], parties: Mapping[Peer, str]) -> None:
        self.wire = wire
        self.parties = {Endpoint(*peer): name for peer, name in parties.items()}
        self._parsed: dict[int, Request | Response | None] = {}

    def crossings(self, since: int = 0) -> list[Crossing]:
        """Every parsable message sent at or after wire position ``since``, in order."""
        wire = list(self.wire)
        echo_of = echo_pairs(wire)
        echoes = {sent: received for received, sent in echo_of.items()}
        owners = dict(self.parties)
        for stamped in wire:
            owners.setdefault(Endpoint(*stamped.local), stamped.party)
        found: list[Crossing] = []
        for index in range(since, len(wire)):
            if index in echo_of:
                continue
            message = self._parse(index, wire[index].data)
            if message is None:
                continue
            record = wire[index]
            remote = Endpoint(*record.remote)
            if record.direction == "out":
                echo = echoes.get(index)
                sender = record.party
                receiver = wire[echo].party if echo is not None else owners.get(remote, str(remote))
            else:
                sender = owners.get(remote, str(remote))
                receiver = record.party
            found.append(Crossing(index, sender, receiver, message))
        return found

    def position_at(self, at: float, until: int) -> int:
        """The wire position of the first message stamped at or after loop time ``at`` (at
        most ``until``)."""
        for index, record in enumerate(self.wire[:until]):
            if record.monotonic >= at:
                return index
        return until

    def request_story(self, mark: int, method: str) -> str:
        """Where a phone's ``method`` request since wire position ``mark`` went through the
        proxy, for a failure message."""
        crossings = self.crossings(mark)
        forwarded = [
            c
            for c in crossings
            if c.sender == "proxy"
            and c.receiver == "voicemail"
            and isinstance(c.message, Request)
            and c.message.method == method
        ]
        if not forwarded:
            return f". The proxy did not pass the {method} on to the voicemail server."
        answer = final_answer(forwarded[0], crossings)
        said = status_line(answer) if answer is not None else "nothing"
        assert isinstance(forwarded[0].message, Request)
        return (
            f". The {method} reached the voicemail server, which answered {said}; the proxy "
            f"sent: {summary(forwarded[0].message)}"
        )

    def _parse(self, index: int, data: bytes) -> Request | Response | None:
        if index not in self._parsed:
            try:
                self._parsed[index] = parse_message(data)
            except SIPParseError:
                self._parsed[index] = None
        return self._parsed[index]


def answers(request: Crossing, crossings: Iterable[Crossing]) -> list[Response]:
    """The responses to ``request`` on its hop (they travel it backwards), in order."""
    call_id, cseq, branch, sender, receiver = request.key
    found: list[Response] = []
    for crossing in crossings:
        message = crossing.message
        if (
            isinstance(message, Response)
            and crossing.sender == receiver
            and crossing.receiver == sender
            and crossing.key[:3] == (call_id, cseq, branch)
        ):
            found.append(message)
    return found


def final_answer(request: Crossing, crossings: Iterable[Crossing]) -> Response | None:
    """The first final response to ``request`` on its hop, if one came."""
    return next((r for r in answers(request, crossings) if r.status >= 200), None)


def distinct(requests: Iterable[Crossing]) -> list[tuple[Crossing, int]]:
    """Requests without their retransmissions: each first copy, and how often it was sent."""
    first: dict[tuple[str, str, str, str, str], Crossing] = {}
    copies: dict[tuple[str, str, str, str, str], int] = {}
    for request in requests:
        first.setdefault(request.key, request)
        copies[request.key] = copies.get(request.key, 0) + 1
    return [(request, copies[key]) for key, request in first.items()]


def describe(party: str) -> str:
    """A party as a sentence names it: ``the proxy``, ``the voicemail server``, ``phone 2000``."""
    return {"proxy": "the proxy", "voicemail": "the voicemail server"}.get(party, party)


def status_line(response: Response) -> str:
    """``404 Not Found``."""
    return f"{response.status} {response.reason}".strip()


def summary(request: Request, also: Iterable[str] = ()) -> str:
    """The request line, From, To and the headers that route a forwarded call (and ``also``),
    on one line, as a vendor needs to see them."""
    parts = [f"{request.method} {request.uri}"]
    wanted = ["From", "To", *ROUTING_HEADERS, *also]
    seen: set[str] = set()
    for name in wanted:
        key = header_key(name)
        if key in seen:
            continue
        seen.add(key)
        parts += [f"{name}: {value}" for value in request.header_values(name)]
    others = [
        f"{header.name}: {header.value}"
        for header in request.headers
        if header.key.startswith("x-") and header.key not in seen
    ]
    return " | ".join(parts + others)
