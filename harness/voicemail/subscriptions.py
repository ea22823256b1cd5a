"""Subscribed message-waiting indication: the notifier side of RFC 6665 for ``message-summary``.

A phone (through the proxy) SUBSCRIBEs to its mailbox; :class:`Subscriptions` answers, keeps one
dialog per subscription and builds the in-dialog NOTIFYs: one right after every accepted
SUBSCRIBE or refresh, one whenever a covered mailbox changes, and a final
``terminated;reason=timeout`` one on unsubscribe or expiry, as chan_sip and res_pjsip do. Bodies
aggregate every mailbox of the subscription with :func:`harness.core.mwi.summary_for`.

Sans-IO: the caller resolves the subscribed resource to mailboxes, sends what is returned, feeds
back how each NOTIFY was answered and calls :meth:`Subscriptions.handle_timer` at
:meth:`Subscriptions.next_timer`. Times are the caller's clock in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.core.mailbox import MailboxId
from harness.core.mwi import CONTENT_TYPE, EVENT, Style, summary_for
from harness.sip.address import Address
from harness.sip.builder import format_host, make_response, new_branch, new_tag
from harness.sip.dialog import Dialog, DialogError, DialogId, dialog_id_of_request
from harness.sip.errors import SIPParseError
from harness.sip.message import Request, Response
from harness.sip.uri import URI, parse_params, quote_string
from harness.voicemail.notifier import CountsOf

#: Final responses to a NOTIFY that end the subscription (RFC 6665 §4.2.2, with 408 standing
#: for a transaction timeout); any other failure leaves it in place.
TERMINATING_STATUSES = frozenset({404, 405, 408, 410, 416, *range(480, 486), 489, 501, 604})

# RFC 3261 §20.19: larger Expires values are read as this.
_MAX_DELTA_SECONDS = 2**32 - 1

#: Seconds a subscriber refused for a full table is told to wait (Retry-After).
RETRY_AFTER = 60


@dataclass(frozen=True, slots=True)
class SubscribeOutcome:
    """What to send for one SUBSCRIBE: the response, then ``notify`` (None when refused)."""

    response: Response
    notify: Request | None


@dataclass(frozen=True, slots=True)
class SubscriptionInfo:
    """One live subscription, as a status page shows it."""

    #: The subscriber's address of record (From URI of its SUBSCRIBE).
    subscriber: str
    #: Where NOTIFYs are addressed (the subscriber's latest Contact).
    contact: str
    mailboxes: tuple[MailboxId, ...]
    expires_at: float
    dialog_id: DialogId


@dataclass(slots=True)
class _Subscription:
    dialog: Dialog
    subscriber: str
    mailboxes: tuple[MailboxId, ...]
    expires_at: float
    #: The Event value NOTIFYs carry: the package plus the SUBSCRIBE's ``id`` (RFC 6665 §8.2.1).
    event: str
    #: The Via branch every NOTIFY carries when branches are reused (None: a new one each).
    branch: str | None = None
    #: The address the SUBSCRIBE came from, which ``max_per_host`` counts.
    source: str = ""


class Subscriptions:
    """Every ``message-summary`` subscription of the server, keyed by dialog.

    ``local`` is the address NOTIFYs are sent from (Via and Contact); Message-Account is
    ``sip:asterisk@<account_host>``. SUBSCRIBEs without Expires get ``default_expires``;
    shorter than ``min_expires`` is refused with 423, longer than ``max_expires`` is cut down.
    ``user_agent`` goes into NOTIFYs as User-Agent and into responses as Server.
    """

    def __init__(
        self,
        *,
        local: tuple[str, int],
        account_host: str,
        default_expires: int = 3600,
        min_expires: int = 60,
        max_expires: int = 3600,
        style: Style = "asterisk",
        user_agent: str | None = None,
        max_per_mailbox: int | None = None,
        max_per_host: int | None = None,
        reuse_branch: bool = False,
    ) -> None:
        if not 0 < min_expires <= default_expires <= max_expires:
            raise ValueError(
                "subscription intervals must satisfy 0 < min_expires <= default_expires <="
                f" max_expires, got min_expires={min_expires!r},"
                f" default_expires={default_expires!r}, max_expires={max_expires!r}"
            )
        self.local = local
        self.account_host = account_host
        self.default_expires = default_expires
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.style: Style = style
        self.user_agent = user_agent
        #: The most subscriptions to one mailbox, and from one source address (then 503):
        #: every one costs a NOTIFY per change, so a stranger must not be able to pile them up.
        self.max_per_mailbox = max_per_mailbox
        self.max_per_host = max_per_host
        #: Send every NOTIFY of a subscription with one Via branch, as chan_sip does.
        self.reuse_branch = reuse_branch
        self._subscriptions: dict[DialogId, _Subscription] = {}

    # ------------------------------------------------------------------ SUBSCRIBE

    def subscribe(
        self,
        request: Request,
        mailboxes: tuple[MailboxId, ...] | None,
        counts_of: CountsOf,
        now: float,
        *,
        source: str | None = None,
    ) -> SubscribeOutcome:
        """Answer a SUBSCRIBE: a new subscription, a refresh, or an unsubscribe (Expires: 0).

        ``mailboxes`` is what the Request-URI resolves to (None: unknown, answered 404); a
        refresh keeps the mailboxes its subscription was set up with and ignores it. Refusals:
        489 for another event package, 406 when Accept leaves out the message-summary type,
        400 for a malformed Expires or a SUBSCRIBE that cannot make a dialog, 423 below
        ``min_expires``, 481 for a refresh of no (or an expired) subscription, 500 for a
        refresh out of CSeq order. A refused refresh leaves the subscription as it was.
        ``source`` is the address the SUBSCRIBE came from (the packet's, which a sender cannot
        vary as it can its Contact); ``max_per_host`` counts it, else the Contact's host.
        """
        if request.method != "SUBSCRIBE":
            raise ValueError(f"subscribe() takes a SUBSCRIBE, not a {request.method}")
        event = _event(request)
        if event is None or event[0].lower() != EVENT:
            found = "no Event header" if event is None else f"Event {event[0]!r}"
            return self._refuse(
                request, 489, headers=[("Allow-Events", EVENT)], warning=f"{found}: only {EVENT}"
            )
        event_value = EVENT if event[1] is None else f"{EVENT};id={event[1]}"
        if dialog_id_of_request(request)[1]:
            return self._refresh(request, event_value, counts_of, now)
        if mailboxes is None:
            return self._refuse(request, 404, warning=f"no mailbox for {request.uri}")
        granted = self._check(request)
        if isinstance(granted, Response):
            return SubscribeOutcome(granted, None)
        expires = granted
        response = make_response(
            request,
            200,
            to_tag=new_tag(),
            contact=self._contact(request),
            headers=[("Expires", str(expires)), *self._server()],
        )
        try:
            dialog = Dialog.from_uas(
                request, response, local=self.local, transport=_transport(request)
            )
        except DialogError as error:
            return self._refuse(request, 400, warning=str(error))
        subscription = _Subscription(
            dialog=dialog,
            subscriber=_subscriber(request),
            mailboxes=mailboxes,
            expires_at=now + expires,
            event=event_value,
            branch=new_branch() if self.reuse_branch else None,
            source=source or dialog.remote_target.host,
        )
        if expires == 0:
            # A fetch: the state once, and no subscription stays behind (RFC 6665 §4.4.3).
            return SubscribeOutcome(response, self._terminated(subscription, counts_of))
        crowded = self._crowded(subscription)
        if crowded is not None:
            return self._refuse(
                request, 503, headers=[("Retry-After", str(RETRY_AFTER))], warning=crowded
            )
        self._subscriptions[dialog.id] = subscription
        return SubscribeOutcome(response, self._active(subscription, counts_of, now))

    def _crowded(self, new: _Subscription) -> str | None:
        """Which bound a new subscription would pass, or None when it fits."""
        host = new.source
        per_mailbox = self.max_per_mailbox
        for mailbox in new.mailboxes:
            held = sum(mailbox in s.mailboxes for s in self._subscriptions.values())
            if per_mailbox is not None and held >= per_mailbox:
                return f"mailbox {mailbox} has {held} subscriptions, the most allowed"
        held = sum(s.source == host for s in self._subscriptions.values())
        if self.max_per_host is not None and held >= self.max_per_host:
            return f"host {host} has {held} subscriptions, the most allowed"
        return None

    def _refresh(
        self, request: Request, event: str, counts_of: CountsOf, now: float
    ) -> SubscribeOutcome:
        key = dialog_id_of_request(request)
        subscription = self._subscriptions.get(key)
        if subscription is not None and subscription.expires_at <= now:
            # Expired, its timer not handled yet: the 481 tells the subscriber it is over.
            del self._subscriptions[key]
            subscription = None
        if subscription is None:
            return self._refuse(request, 481, warning="no such subscription")
        if not subscription.dialog.receive_request(request):
            return self._refuse(request, 500, warning="CSeq lower than an earlier request's")
        granted = self._check(request)
        if isinstance(granted, Response):
            return SubscribeOutcome(granted, None)
        expires = granted
        subscription.event = event
        response = make_response(
            request,
            200,
            contact=subscription.dialog.local_target,
            headers=[("Expires", str(expires)), *self._server()],
        )
        if expires == 0:
            del self._subscriptions[key]
            return SubscribeOutcome(response, self._terminated(subscription, counts_of))
        subscription.expires_at = now + expires
        return SubscribeOutcome(response, self._active(subscription, counts_of, now))

    def _check(self, request: Request) -> Response | int:
        """The refusal of a SUBSCRIBE for its Accept or Expires, else the granted interval."""
        if not _accepts(request, CONTENT_TYPE):
            accept = ", ".join(request.header_values("Accept")) or "(empty)"
            return self._refuse(
                request, 406, warning=f"Accept {accept} leaves out {CONTENT_TYPE}"
            ).response
        value = request.header("Expires")
        if value is None:
            return self.default_expires
        if not value.isascii() or not value.isdigit():
            return self._refuse(
                request, 400, warning=f"Expires {value!r} is not a number of seconds"
            ).response
        expires = min(int(value), _MAX_DELTA_SECONDS)
        if 0 < expires < self.min_expires:
            return self._refuse(
                request,
                423,
                headers=[("Min-Expires", str(self.min_expires))],
                warning=f"Expires {expires} is below {self.min_expires}",
            ).response
        return min(expires, self.max_expires)

    def _refuse(
        self,
        request: Request,
        status: int,
        *,
        headers: list[tuple[str, str]] | None = None,
        warning: str,
    ) -> SubscribeOutcome:
        """A final error response; the Warning text names what was wrong (RFC 3261 §20.43)."""
        agent = f"{format_host(self.local[0])}:{self.local[1]}"
        lines = [
            *(headers or []),
            ("Warning", f"399 {agent} {quote_string(warning)}"),
            *self._server(),
        ]
        return SubscribeOutcome(make_response(request, status, headers=lines), None)

    def _contact(self, request: Request) -> Address:
        """Our Contact: the subscribed user at ``local``, so refreshes resolve as the first did."""
        try:
            user = URI.parse(request.uri).user
        except SIPParseError:
            user = None
        transport = _transport(request).lower()
        params: tuple[tuple[str, str | None], ...] = ()
        if transport != "udp":
            params = (("transport", transport),)
        host, port = self.local
        return Address(
            URI(scheme="sip", user=user, host=format_host(host), port=port, params=params)
        )

    def _server(self) -> list[tuple[str, str]]:
        return [] if self.user_agent is None else [("Server", self.user_agent)]

    # ------------------------------------------------------------------ NOTIFY

    def mailbox_changed(self, mailbox: MailboxId, counts_of: CountsOf, now: float) -> list[Request]:
        """A NOTIFY for every live subscription covering ``mailbox``, with fresh counts.

        Subscriptions already past their expiry are left to :meth:`handle_timer`.
        """
        return [
            self._active(subscription, counts_of, now)
            for subscription in self._subscriptions.values()
            if mailbox in subscription.mailboxes and subscription.expires_at > now
        ]

    def notify_answered(self, notify: Request, status: int | None, now: float) -> None:
        """Record how a NOTIFY was answered: a final status, or None when nothing answered.

        No answer, 408, 481 and the other failures of :data:`TERMINATING_STATUSES` end the
        subscription; 2xx and other failures (a 500 for a reordered NOTIFY, say) keep it. An
        answer for a subscription that is already gone is ignored. ``now`` is taken for
        symmetry with the other inputs; no outcome depends on it.
        """
        if status is not None and (status < 200 or status > 699):
            raise ValueError(f"a NOTIFY outcome is a final status (200-699) or None, not {status}")
        if status is None or status in TERMINATING_STATUSES:
            self._subscriptions.pop(_notify_dialog_id(notify), None)

    def next_timer(self) -> float | None:
        """When the next subscription expires, or None when there is none."""
        return min((s.expires_at for s in self._subscriptions.values()), default=None)

    def handle_timer(self, now: float) -> list[Request]:
        """End every subscription expired by ``now``: its ``terminated;reason=timeout`` NOTIFY.

        Nothing more is ever sent in those dialogs.
        """
        expired = [key for key, s in self._subscriptions.items() if s.expires_at <= now]
        return [self._terminated(self._subscriptions.pop(key), None) for key in expired]

    def active(self) -> list[SubscriptionInfo]:
        """The live subscriptions, soonest to expire first."""
        infos = [
            SubscriptionInfo(
                subscriber=s.subscriber,
                contact=str(s.dialog.remote_target),
                mailboxes=s.mailboxes,
                expires_at=s.expires_at,
                dialog_id=key,
            )
            for key, s in self._subscriptions.items()
        ]
        return sorted(infos, key=lambda info: info.expires_at)

    def destination(self, notify: Request) -> tuple[str, int]:
        """The next hop of an in-dialog request (RFC 3261 §12.2.1.1, §8.1.2).

        The first Route when it is a loose router; else the Request-URI, which under strict
        routing already holds the first route. Works after the subscription is gone, so the
        final NOTIFY can be sent too.
        """
        routes = notify.header_values("Route")
        try:
            first = Address.parse(routes[0]).uri if routes else None
            uri = (
                first
                if first is not None and first.param("lr") is not None
                else URI.parse(notify.uri)
            )
        except SIPParseError as error:
            raise ValueError(
                f"{notify.method} {notify.uri}: cannot find its next hop: {error}"
            ) from None
        if not uri.host:
            raise ValueError(f"{notify.method} {notify.uri}: next hop {uri} has no host")
        default_port = 5061 if uri.scheme.lower() == "sips" else 5060
        return uri.host.strip("[]"), uri.port or default_port

    def _active(self, subscription: _Subscription, counts_of: CountsOf, now: float) -> Request:
        # Rounded down but kept positive: an active subscription never says expires=0.
        remaining = max(1, math.floor(subscription.expires_at - now))
        return self._notify(subscription, f"active;expires={remaining}", counts_of)

    def _terminated(self, subscription: _Subscription, counts_of: CountsOf | None) -> Request:
        return self._notify(subscription, "terminated;reason=timeout", counts_of)

    def _notify(
        self, subscription: _Subscription, state: str, counts_of: CountsOf | None
    ) -> Request:
        """An in-dialog NOTIFY; without ``counts_of`` it carries no body (RFC 6665 §4.2.2)."""
        headers = [("Event", subscription.event), ("Subscription-State", state)]
        if self.user_agent is not None:
            headers.append(("User-Agent", self.user_agent))
        if counts_of is None:
            return subscription.dialog.create_request(
                "NOTIFY", headers=headers, branch=subscription.branch
            )
        summary = summary_for(
            (counts_of(box) for box in subscription.mailboxes),
            account=f"sip:asterisk@{self.account_host}",
        )
        return subscription.dialog.create_request(
            "NOTIFY",
            headers=headers,
            branch=subscription.branch,
            body=summary.to_body(self.style),
            content_type=CONTENT_TYPE,
        )


def _event(request: Request) -> tuple[str, str | None] | None:
    """(package, ``id`` parameter) of the Event header, or None when it is missing or empty."""
    value = request.header("Event")
    if value is None or not value.split(";", 1)[0].strip():
        return None
    package, _, rest = value.partition(";")
    try:
        params = parse_params(rest, escaped=False) if rest.strip() else ()
    except SIPParseError:
        params = ()
    event_id = next((v for name, v in params if name.lower() == "id" and v), None)
    return package.strip(), event_id


def _accepts(request: Request, content_type: str) -> bool:
    """Whether the SUBSCRIBE's Accept allows ``content_type``; no Accept allows it (§4.1.2.1).

    Wildcards count, a range with ``q=0`` refuses, and an empty Accept allows nothing.
    """
    if not request.has("Accept"):
        return True
    wanted_type, _, wanted_sub = content_type.partition("/")
    for item in request.header_values("Accept"):
        media, _, params = item.partition(";")
        kind, _, sub = media.strip().lower().partition("/")
        if kind not in ("*", wanted_type) or sub not in ("*", wanted_sub):
            continue
        if not _refused_by_q(params):
            return True
    return False


def _refused_by_q(params: str) -> bool:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip()) == 0
            except ValueError:
                return False
    return False


def _tag(message: Request, name: str) -> str | None:
    address = message.address(name)
    return None if address is None else address.tag


def _transport(request: Request) -> str:
    try:
        vias = request.vias()
    except SIPParseError:
        return "UDP"
    return vias[0].transport if vias else "UDP"


def _subscriber(request: Request) -> str:
    sender = request.address("From")
    return "" if sender is None else str(sender.uri)


def _notify_dialog_id(notify: Request) -> DialogId:
    """The dialog id of a NOTIFY we sent: (Call-ID, From tag, To tag)."""
    try:
        return notify.call_id, _tag(notify, "From") or "", _tag(notify, "To") or ""
    except SIPParseError as error:
        raise ValueError(f"NOTIFY {notify.uri}: unreadable From or To: {error}") from None
