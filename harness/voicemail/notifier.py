"""Which peers need a message-waiting NOTIFY, and what it says (sans-IO).

Every sip.conf peer whose ``mailbox=`` covers a changed mailbox gets a NOTIFY with the aggregated
counts of all its mailboxes. Per peer, only the latest state is ever pending: a change while a
NOTIFY is in flight, or while the proxy is unreachable and a retry waits, replaces what will be
sent next, so the lamp always ends in the right state and never replays stale counts. A peer
that answers 4xx (not registered, say) or 6xx is not retried, as Asterisk does; silence, 408 and
5xx are retried with exponential backoff.

With ``rate`` set, NOTIFYs leave at most ``rate`` per second (bursts of ``burst``), so the
start-up resync of ten thousand peers does not flood the proxy; peers wait their turn in the
order they were queued.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from harness.core.mailbox import MailboxId
from harness.core.mwi import MailboxCounts, MessageSummary, Style, summary_for
from harness.sip.auth import AuthError, Challenge, with_credentials
from harness.sip.builder import new_request
from harness.sip.message import Request, Response
from harness.sip.transaction import Peer
from harness.sip.uri import URI
from harness.sip.via import Via

CountsOf = Callable[[MailboxId], MailboxCounts]


@dataclass(frozen=True, slots=True)
class MwiTarget:
    """One peer that receives NOTIFYs: a static sip.conf peer, ``host=`` the proxy."""

    name: str
    mailboxes: tuple[MailboxId, ...]
    #: Request-URI and To: ``sip:<defaultuser>@<host>:<port>``.
    uri: URI
    destination: Peer
    style: Style = "asterisk"
    #: User part of Message-Account (sip.conf ``vmexten``).
    vmexten: str = "asterisk"
    #: Digest credentials for a proxy that challenges the NOTIFY (sip.conf ``secret=``, with
    #: ``defaultuser``, else ``fromuser``, else the peer name as username); None: no answer.
    username: str | None = None
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class NotifyDue:
    """A NOTIFY to send now."""

    target: MwiTarget
    summary: MessageSummary
    attempt: int


@dataclass(slots=True)
class _PeerState:
    pending: MessageSummary | None = None
    in_flight: MessageSummary | None = None
    retry_at: float | None = None
    attempt: int = 0


@dataclass(slots=True)
class Notifier:
    """Coalescing, retrying, optionally paced scheduler of unsolicited MWI NOTIFYs."""

    targets: tuple[MwiTarget, ...]
    account_host: str
    retry_base: float = 1.0
    retry_max: float = 60.0
    #: At most this many NOTIFYs per second (None: as fast as they come).
    rate: float | None = None
    #: How many may leave at once when the pace allows (default: a tenth of a second's worth).
    burst: int | None = None
    _state: dict[str, _PeerState] = field(default_factory=dict)
    # Peers with a NOTIFY waiting to be sent (not in flight), in the order they were queued.
    _waiting: dict[str, None] = field(default_factory=dict)
    _by_name: dict[str, MwiTarget] = field(default_factory=dict)
    _by_mailbox: dict[MailboxId, list[MwiTarget]] = field(default_factory=dict)
    _tokens: float = 0.0
    _tokens_at: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.retry_base <= self.retry_max:
            raise ValueError(
                f"retry delays must satisfy 0 < retry_base <= retry_max, "
                f"got retry_base={self.retry_base!r}, retry_max={self.retry_max!r}"
            )
        if self.rate is not None and self.rate <= 0:
            raise ValueError(f"rate must be above 0 NOTIFYs per second, got {self.rate!r}")
        if self.burst is not None and self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {self.burst!r}")
        self._index()

    def _index(self) -> None:
        self._by_name = {target.name: target for target in self.targets}
        self._by_mailbox = {}
        for target in self.targets:
            for mailbox in target.mailboxes:
                self._by_mailbox.setdefault(mailbox, []).append(target)

    @property
    def _burst(self) -> float:
        assert self.rate is not None
        return float(self.burst if self.burst is not None else max(1, round(self.rate / 10)))

    def targets_of(self, mailbox: MailboxId) -> list[MwiTarget]:
        """The peers whose mailbox list covers ``mailbox``."""
        return list(self._by_mailbox.get(mailbox, ()))

    def summary(self, target: MwiTarget, counts_of: CountsOf) -> MessageSummary:
        """The aggregated summary ``target`` should see now."""
        account = f"sip:{target.vmexten}@{self.account_host}"
        return summary_for((counts_of(box) for box in target.mailboxes), account=account)

    def mailbox_changed(self, mailbox: MailboxId, counts_of: CountsOf, now: float) -> None:
        """Queue a NOTIFY for every peer covering ``mailbox``."""
        self._queue(self.targets_of(mailbox), counts_of, now)

    def resync(self, counts_of: CountsOf, now: float) -> None:
        """Queue a NOTIFY for every peer (start-up, or on demand)."""
        self._queue(self.targets, counts_of, now)

    def refresh(self, name: str, counts_of: CountsOf, now: float) -> None:
        """Queue a NOTIFY for one peer (it registered again, say)."""
        target = self._by_name.get(name)
        self._queue(() if target is None else (target,), counts_of, now)

    def replace_targets(
        self, targets: tuple[MwiTarget, ...], counts_of: CountsOf, now: float
    ) -> list[MwiTarget]:
        """Send to ``targets`` from now on (a reload): a peer that is new, or whose mailboxes or
        address changed, gets its lamp state; a peer no longer there is forgotten (an answer
        still on its way for it is ignored). Returns the peers queued."""
        before = self._by_name
        self.targets = targets
        self._index()
        for name in [name for name in self._state if name not in self._by_name]:
            del self._state[name]
            self._waiting.pop(name, None)
        changed = [target for target in targets if before.get(target.name) != target]
        self._queue(changed, counts_of, now)
        return changed

    def _queue(self, targets: Iterable[MwiTarget], counts_of: CountsOf, now: float) -> None:
        for target in targets:
            state = self._state.setdefault(target.name, _PeerState())
            state.pending = self.summary(target, counts_of)
            if state.retry_at is None and state.in_flight is None:
                state.retry_at = now
            if state.in_flight is None:
                self._waiting[target.name] = None

    def _allowance(self, now: float) -> float:
        """How many NOTIFYs the pace lets leave now (whole ones)."""
        if self.rate is None:
            return math.inf
        if self._tokens_at is None:
            self._tokens = self._burst
        else:
            elapsed = max(0.0, now - self._tokens_at)
            self._tokens = min(self._burst, self._tokens + elapsed * self.rate)
        self._tokens_at = now
        return math.floor(self._tokens)

    def due(self, now: float) -> list[NotifyDue]:
        """The NOTIFYs to send now; each is in flight until :meth:`answered`."""
        out: list[NotifyDue] = []
        allowance = self._allowance(now)
        for name in list(self._waiting):
            if len(out) >= allowance:
                break
            state = self._state.get(name)
            target = self._by_name.get(name)
            if state is None or target is None or state.pending is None:
                del self._waiting[name]
                continue
            if state.retry_at is None or state.retry_at > now:
                continue
            del self._waiting[name]
            state.in_flight, state.pending, state.retry_at = state.pending, None, None
            state.attempt += 1
            out.append(NotifyDue(target, state.in_flight, state.attempt))
        if self.rate is not None:
            self._tokens -= len(out)
        return out

    def answered(self, target: MwiTarget, status: int | None, now: float) -> None:
        """Record the outcome of a NOTIFY: a final status, or None when nothing answered.

        An outcome for a peer with nothing in flight (a late or repeated answer) is ignored.
        """
        state = self._state.get(target.name)
        if state is None or state.in_flight is None:
            return
        sent, state.in_flight = state.in_flight, None
        retry = status is None or status == 408 or 500 <= status <= 599
        if retry and state.pending is None:
            state.pending = sent
        if retry:
            state.retry_at = now + self._backoff(state.attempt)
            self._waiting[target.name] = None
            return
        state.attempt = 0
        state.retry_at = now if state.pending is not None else None
        if state.pending is not None:
            self._waiting[target.name] = None

    def _backoff(self, attempt: int) -> float:
        """Delay after failed attempt number ``attempt``: base, 2 base, 4 base… up to the cap."""
        # The exponent is bounded so a peer that stays down for days cannot overflow a float.
        doublings = min(max(attempt - 1, 0), 63)
        return float(min(self.retry_max, self.retry_base * 2**doublings))

    def next_timer(self) -> float | None:
        """When :meth:`due` next has something, or None."""
        earliest: float | None = None
        for name in self._waiting:
            state = self._state.get(name)
            if state is None or state.retry_at is None or state.pending is None:
                continue
            if earliest is None or state.retry_at < earliest:
                earliest = state.retry_at
            if self._tokens_at is not None and earliest <= self._tokens_at:
                break  # one is due already: only the pace can hold it back
        if earliest is None or self.rate is None or self._tokens_at is None:
            return earliest
        # The time the pace next allows one NOTIFY out.
        paced = self._tokens_at + max(0.0, 1 - self._tokens) / self.rate
        return max(earliest, paced)

    def pending(self) -> int:
        """How many peers have a NOTIFY waiting or in flight."""
        return sum(
            1 for s in self._state.values() if s.pending is not None or s.in_flight is not None
        )


def build_notify(
    target: MwiTarget,
    summary: MessageSummary,
    local: Peer,
    *,
    subscription_state: str | None = None,
    user_agent: str | None = None,
) -> Request:
    """The unsolicited NOTIFY chan_sip sends: a new dialog each time.

    PJSIP also sends ``Subscription-State: active``; pass it as ``subscription_state``.
    """
    host, port = local
    headers: list[tuple[str, str]] = [("Event", "message-summary")]
    if subscription_state is not None:
        headers.append(("Subscription-State", subscription_state))
    if user_agent is not None:
        headers.append(("User-Agent", user_agent))
    return new_request(
        "NOTIFY",
        target.uri,
        from_address=f'"asterisk" <sip:asterisk@{host}:{port}>',
        to_address=f"<{target.uri}>",
        local=local,
        cseq=102,
        headers=headers,
        body=summary.to_body(target.style),
        content_type="application/simple-message-summary",
    )


def authorized_notify(
    notify: Request, response: Response, target: MwiTarget, via: Via
) -> Request | None:
    """``notify`` again, answering the digest challenge of its 401/407 ``response`` with the
    target's credentials, in a new transaction (top Via ``via``); None when there is nothing to
    answer or nothing to answer it with."""
    if response.status not in (401, 407) or target.secret is None:
        return None
    try:
        challenge = Challenge.from_response(response)
    except AuthError:
        return None
    username = target.username or target.name
    answered = with_credentials(notify, challenge, username, target.secret)
    return answered.replace_header("Via", str(via))
