"""Message-waiting indication: ``application/simple-message-summary`` bodies and lamp state.

The body (RFC 3842) is built in the shapes real servers send (``asterisk`` for chan_sip and
res_pjsip, ``buggymwi`` for chan_sip with that option, ``rfc3842`` with real urgent counts) and
parsed tolerantly, or strictly when a test wants to prove a server conforms. A :class:`Lamp`
follows the summaries a phone receives and answers assertions such as "waiting=yes, voice 1/0
within 5 s". All of it is sans-IO: times are given by the caller.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

#: The body type of a message-summary NOTIFY.
CONTENT_TYPE = "application/simple-message-summary"
#: The ``Event`` header value of the message-summary event package.
EVENT = "message-summary"
#: The class whose counts drive a voicemail lamp.
VOICE = "voice-message"
#: Message-context classes of RFC 3458; others are kept too when they carry counts.
MESSAGE_CLASSES = (
    VOICE,
    "fax-message",
    "pager-message",
    "multimedia-message",
    "text-message",
    "none",
)

#: How :meth:`MessageSummary.to_body` writes count lines: ``asterisk`` always writes the urgent
#: part as ``(0/0)``; ``buggymwi`` leaves it out; ``rfc3842`` writes urgent counts when known.
Style = Literal["asterisk", "buggymwi", "rfc3842"]
STYLES: tuple[Style, ...] = ("asterisk", "buggymwi", "rfc3842")

_STATUS = "messages-waiting"
_ACCOUNT = "message-account"
_TOKEN_RE = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+\Z")
# RFC 822 field-name: printable ASCII except ':' and space.
_FIELD_NAME_RE = re.compile(r"[!-9;-~]+\Z")
# new/old [(new-urgent/old-urgent)], with the optional white space RFC 3261's SLASH and
# LPAREN/RPAREN allow; [0-9] rather than \d, which would accept any Unicode digit.
_COUNTS_RE = re.compile(
    r"([0-9]+)[ \t]*/[ \t]*([0-9]+)(?:[ \t]*\([ \t]*([0-9]+)[ \t]*/[ \t]*([0-9]+)[ \t]*\))?\Z"
)


class MwiError(ValueError):
    """A message-summary body (or count text) that cannot be read.

    ``line`` is the 1-based line number of the problem and ``text`` that line, when the problem
    lies on one line; ``reason`` says what is wrong.
    """

    def __init__(self, reason: str, line: int | None = None, text: str | None = None) -> None:
        where = "" if line is None else f" (line {line}: {text!r})"
        super().__init__(f"{reason}{where}")
        self.reason = reason
        self.line = line
        self.text = text


def _check_count(what: str, value: object) -> None:
    # bool is an int subclass, and True as a message count is a caller's mistake.
    if type(value) is not int or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")


@dataclass(frozen=True, slots=True)
class Counts:
    """Counts of one message class: ``new/old (new_urgent/old_urgent)``.

    The urgent counts come as a pair or not at all (``None``). As in Asterisk, ``new`` already
    includes the urgent new messages.
    """

    new: int
    old: int
    new_urgent: int | None = None
    old_urgent: int | None = None

    def __post_init__(self) -> None:
        _check_count("new count", self.new)
        _check_count("old count", self.old)
        if (self.new_urgent is None) != (self.old_urgent is None):
            raise ValueError(
                "urgent counts come as a pair: got "
                f"new_urgent={self.new_urgent!r}, old_urgent={self.old_urgent!r}"
            )
        if self.new_urgent is not None:
            _check_count("new urgent count", self.new_urgent)
            _check_count("old urgent count", self.old_urgent)

    @classmethod
    def parse(cls, text: str) -> Counts:
        """Parse ``1/0`` or ``1/0 (0/0)`` (spaces allowed around ``/`` and the parentheses)."""
        match = _COUNTS_RE.match(text.strip())
        if match is None:
            raise MwiError(f"bad message counts {text!r}: expected new/old or new/old (nu/ou)")
        new, old, new_urgent, old_urgent = match.groups()
        if new_urgent is None or old_urgent is None:
            return cls(int(new), int(old))
        return cls(int(new), int(old), int(new_urgent), int(old_urgent))

    def __str__(self) -> str:
        return self.format("rfc3842")

    def format(self, style: Style = "rfc3842") -> str:
        """The counts as a summary line writes them in ``style``."""
        if style == "asterisk":
            return f"{self.new}/{self.old} (0/0)"
        if style == "buggymwi" or self.new_urgent is None:
            return f"{self.new}/{self.old}"
        return f"{self.new}/{self.old} ({self.new_urgent}/{self.old_urgent})"

    def matches(self, actual: Counts | None) -> bool:
        """Whether ``actual`` meets these expected counts; unset urgent counts match any."""
        if actual is None or (actual.new, actual.old) != (self.new, self.old):
            return False
        return self.new_urgent is None or (actual.new_urgent, actual.old_urgent) == (
            self.new_urgent,
            self.old_urgent,
        )


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """One ``application/simple-message-summary`` body.

    ``classes`` holds ``(class name, counts)`` pairs in body order, names lower-cased
    (``voice-message``); ``headers`` the extra ``(name, value)`` headers after the blank line.
    """

    waiting: bool
    account: str | None = None
    classes: tuple[tuple[str, Counts], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if type(self.waiting) is not bool:
            raise ValueError(f"waiting must be True or False, got {self.waiting!r}")
        if self.account is not None and (
            not self.account
            or self.account != self.account.strip()
            or any(c in self.account for c in "\r\n")
        ):
            raise ValueError(
                f"bad Message-Account {self.account!r}: empty, padded or holding a line break"
            )
        classes = tuple((name.lower(), counts) for name, counts in self.classes)
        seen: set[str] = set()
        for name, counts in classes:
            if not _TOKEN_RE.match(name) or name in (_STATUS, _ACCOUNT):
                raise ValueError(f"bad message class name {name!r}")
            if name in seen:
                raise ValueError(f"message class {name!r} given twice")
            if not isinstance(counts, Counts):
                raise ValueError(f"counts of {name!r} must be Counts, got {counts!r}")
            seen.add(name)
        headers = tuple(self.headers)
        for name, value in headers:
            if not _FIELD_NAME_RE.match(name):
                raise ValueError(f"bad extra header name {name!r}")
            if value != value.strip() or any(c in value for c in "\r\n"):
                raise ValueError(f"bad value of extra header {name}: {value!r}")
        # Normalised copies: the dataclass is frozen, so set them the way dataclasses do.
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "headers", headers)

    @classmethod
    def of(
        cls,
        voice: Counts | None = None,
        *,
        account: str | None = None,
        waiting: bool | None = None,
        others: Mapping[str, Counts] | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> MessageSummary:
        """A summary with ``voice`` counts first, then ``others``.

        ``waiting`` defaults to whether any class has new messages.
        """
        classes = [(VOICE, voice)] if voice is not None else []
        classes.extend((others or {}).items())
        if waiting is None:
            waiting = any(counts.new > 0 for _, counts in classes)
        return cls(waiting, account, tuple(classes), tuple(headers))

    @property
    def voice(self) -> Counts | None:
        """The ``Voice-Message`` counts, or None when the body has none."""
        return self.counts(VOICE)

    def counts(self, message_class: str) -> Counts | None:
        """The counts of ``message_class`` (case-insensitive), or None when absent."""
        wanted = message_class.lower()
        return next((counts for name, counts in self.classes if name == wanted), None)

    def describe(self) -> str:
        """A one-line human summary, e.g. ``waiting=yes, voice-message 1/0 (0/0)``."""
        parts = [f"waiting={'yes' if self.waiting else 'no'}"]
        parts.extend(f"{name} {counts}" for name, counts in self.classes)
        return ", ".join(parts)

    def to_body(self, style: Style = "asterisk") -> bytes:
        """The body as ``style`` writes it: CRLF line ends, ending in CRLF."""
        if style not in STYLES:
            raise ValueError(f"unknown message-summary style {style!r}; expected one of {STYLES}")
        lines = [f"Messages-Waiting: {'yes' if self.waiting else 'no'}"]
        if self.account is not None:
            lines.append(f"Message-Account: {self.account}")
        lines.extend(f"{_title(name)}: {counts.format(style)}" for name, counts in self.classes)
        if self.headers:
            lines.append("")
            lines.extend(f"{name}: {value}" for name, value in self.headers)
        return "".join(f"{line}\r\n" for line in lines).encode()


def _title(name: str) -> str:
    """``voice-message`` -> ``Voice-Message``, the capitalisation servers write."""
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))


def build(
    voice: Counts | None = None,
    *,
    account: str | None = None,
    waiting: bool | None = None,
    others: Mapping[str, Counts] | None = None,
    headers: Iterable[tuple[str, str]] = (),
    style: Style = "asterisk",
) -> bytes:
    """The body bytes of :meth:`MessageSummary.of` written in ``style``."""
    summary = MessageSummary.of(
        voice, account=account, waiting=waiting, others=others, headers=headers
    )
    return summary.to_body(style)


def parse_summary(body: bytes | str, *, strict: bool = False) -> MessageSummary:
    """Read a message-summary body.

    Tolerant by default, as phones are: names in any case, white space around ``:`` and ``/``,
    LF or CRLF, no account, no urgent part, classes beyond voice, unknown lines ignored, and the
    last of repeated lines wins. ``strict=True`` instead demands RFC 3842: CRLF throughout,
    status line first, account right after it, nothing but count lines before the blank line.
    Either way a missing or bad ``Messages-Waiting`` and unreadable counts of a known class
    raise :class:`MwiError` naming the line.
    """
    text = _decode(body, strict)
    if strict:
        _check_line_ends(text)
    else:
        # A bare CR ends a line too, so no stray CR can reach a value.
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    reading = _SummaryReading(strict)
    for number, raw in enumerate(lines, start=1):
        reading.line(raw.removesuffix("\r"), number)
    if reading.waiting is None:
        raise MwiError("no Messages-Waiting line in the message-summary body")
    return MessageSummary(
        reading.waiting, reading.account, tuple(reading.classes.items()), tuple(reading.headers)
    )


@dataclass(slots=True)
class _SummaryReading:
    """A body read so far, line by line: the status and counts, then the extra headers."""

    strict: bool
    waiting: bool | None = None
    account: str | None = None
    classes: dict[str, Counts] = field(default_factory=dict)
    headers: list[tuple[str, str]] = field(default_factory=list)
    in_headers: bool = False

    def line(self, line: str, number: int) -> None:
        """Read line ``number`` (its line end removed)."""
        if self.in_headers:
            _read_header(self.headers, line, number, self.strict)
            return
        if not line.strip():
            if self.waiting is None and self.account is None and not self.classes:
                if self.strict:
                    raise MwiError("blank line before Messages-Waiting", number, line)
                return
            self.in_headers = True
            return
        name, colon, value = line.partition(":")
        key, value = name.strip().lower(), value.strip()
        if self.strict:
            _check_order(
                key, number, line, waiting=self.waiting, account=self.account, classes=self.classes
            )
        if colon and key == _STATUS:
            if value.lower() not in ("yes", "no"):
                raise MwiError("Messages-Waiting must be 'yes' or 'no'", number, line)
            self.waiting = value.lower() == "yes"
        elif colon and key == _ACCOUNT:
            if self.strict and not value:
                raise MwiError("empty Message-Account", number, line)
            self.account = value or None
        elif colon and _TOKEN_RE.match(key):
            self.counts(name.strip(), key, value, number, line)
        elif self.strict:
            raise MwiError("not a message-summary line", number, line)

    def counts(self, name: str, key: str, value: str, number: int, line: str) -> None:
        """A ``Class: new/old (urgent new/urgent old)`` line; unreadable counts of a class
        this module does not know are skipped unless strict."""
        if _COUNTS_RE.match(value) is not None:
            self.classes[key] = Counts.parse(value)
        elif self.strict or key in MESSAGE_CLASSES:
            raise MwiError(
                f"bad {name} counts: expected new/old or new/old (nu/ou)",
                number,
                line,
            )


def _decode(body: bytes | str, strict: bool) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode()
    except UnicodeDecodeError as error:
        if strict:
            raise MwiError(f"body is not UTF-8 (byte {error.start})") from None
        # Latin-1 never fails, so a stray byte in an extra header cannot hide the counts.
        return body.decode("latin-1")


def _check_line_ends(text: str) -> None:
    """Strict line ends: CRLF after every line, including the last."""
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if "\r" in line.removesuffix("\r"):
            raise MwiError("bare CR in the body", number, line)
        if number < len(lines) and not line.endswith("\r"):
            raise MwiError("line ends in LF, not CRLF", number, line)
    if lines[-1]:
        raise MwiError("body does not end with CRLF", len(lines), lines[-1])


def _check_order(
    key: str,
    number: int,
    line: str,
    *,
    waiting: bool | None,
    account: str | None,
    classes: Mapping[str, Counts],
) -> None:
    """Strict RFC 3842 order: status line once and first, account once and right after it."""
    if key == _STATUS:
        if waiting is not None or number != 1:
            raise MwiError("Messages-Waiting must be the first line, once", number, line)
    elif waiting is None:
        raise MwiError("the first line must be Messages-Waiting", number, line)
    elif key == _ACCOUNT:
        if account is not None or classes:
            raise MwiError(
                "Message-Account must come once, right after Messages-Waiting", number, line
            )
    elif key in classes:
        raise MwiError("message class given twice", number, line)


def _read_header(headers: list[tuple[str, str]], line: str, number: int, strict: bool) -> None:
    """Add one line after the blank line to ``headers``: a header or a folded continuation."""
    if line[:1] in (" ", "\t") and headers and not strict:
        name, value = headers[-1]
        headers[-1] = (name, f"{value} {line.strip()}".strip())
        return
    name, colon, value = line.partition(":")
    if colon and _FIELD_NAME_RE.match(name.strip()):
        headers.append((name.strip(), value.strip()))
    elif strict:
        raise MwiError("not a header line", number, line)


@dataclass(frozen=True, slots=True)
class MailboxCounts:
    """What one mailbox holds: ``new`` (INBOX), ``old`` and ``urgent`` (new urgent) messages."""

    new: int = 0
    old: int = 0
    urgent: int = 0

    def __post_init__(self) -> None:
        _check_count("new count", self.new)
        _check_count("old count", self.old)
        _check_count("urgent count", self.urgent)

    @property
    def waiting(self) -> bool:
        """Whether this mailbox lights the lamp: urgent messages count as new."""
        return self.new + self.urgent > 0


def summary_for(counts: Iterable[MailboxCounts], *, account: str | None = None) -> MessageSummary:
    """One summary for several mailboxes, summed as sip.conf ``mailbox=a@x,b@y`` aggregates.

    Voice new = sum of new + urgent (as app_voicemail publishes it), old = sum of old; the
    urgent pair is (sum of urgent, 0) since urgent messages are only tracked while new.
    ``Messages-Waiting`` is ``yes`` iff the new total is above zero.
    """
    boxes = tuple(counts)
    new = sum(box.new + box.urgent for box in boxes)
    old = sum(box.old for box in boxes)
    urgent = sum(box.urgent for box in boxes)
    return MessageSummary.of(Counts(new, old, urgent, 0), account=account, waiting=new > 0)


@dataclass(frozen=True, slots=True)
class LampState:
    """A summary as a lamp received it, ``at`` the caller's clock (seconds)."""

    at: float
    summary: MessageSummary

    @property
    def on(self) -> bool:
        """Whether this summary turns the lamp on."""
        return self.summary.waiting

    @property
    def voice(self) -> Counts | None:
        """The voice counts this summary carried."""
        return self.summary.voice


@dataclass(frozen=True, slots=True)
class LampExpectation:
    """What a lamp should show ``within`` seconds: ``waiting`` and/or ``voice`` counts.

    None means "any"; voice counts without urgent counts match any urgent part.
    """

    waiting: bool | None = None
    voice: Counts | None = None
    within: float = 5.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.within) or self.within < 0:
            raise ValueError(
                f"within must be a non-negative number of seconds, not {self.within!r}"
            )

    def matches(self, summary: MessageSummary) -> bool:
        """Whether ``summary`` shows what is expected."""
        if self.waiting is not None and summary.waiting != self.waiting:
            return False
        return self.voice is None or self.voice.matches(summary.voice)

    def __str__(self) -> str:
        parts = [] if self.waiting is None else [f"waiting={'yes' if self.waiting else 'no'}"]
        if self.voice is not None:
            parts.append(f"voice {self.voice}")
        return f"{', '.join(parts) or 'any summary'} within {self.within:g} s"


@dataclass(frozen=True, slots=True)
class LampCheck:
    """The verdict of :meth:`Lamp.check`.

    ``status`` is ``met``, ``pending`` (ask again by ``deadline``) or ``failed``; ``state`` the
    latest summary received in the window, if any; ``detail`` says what was seen.
    """

    status: Literal["met", "pending", "failed"]
    deadline: float
    state: LampState | None
    detail: str


class Lamp:
    """The message-waiting lamp of one phone, fed with the summaries it receives.

    Duplicates and redundant NOTIFYs are harmless: the latest summary decides the state,
    and the full history stays available for reports.
    """

    def __init__(self, origin: float = 0.0) -> None:
        #: The clock reading the lamp's verdicts count from (a scenario's start), so that a
        #: person reads "at 3.21 s" rather than the value of an internal clock.
        self.origin = origin
        self._history: list[LampState] = []

    def _at(self, moment: float) -> str:
        return f"{moment - self.origin:.2f} s"

    def receive(self, body: MessageSummary | bytes | str, now: float) -> LampState:
        """Record a summary (or a body, parsed tolerantly) that arrived at ``now``.

        Raises :class:`MwiError` for an unreadable body and ValueError if time runs backwards.
        """
        if self._history and now < self._history[-1].at:
            raise ValueError(
                f"summary received at t={now} before the previous one (t={self._history[-1].at})"
            )
        summary = body if isinstance(body, MessageSummary) else parse_summary(body)
        state = LampState(now, summary)
        self._history.append(state)
        return state

    @property
    def latest(self) -> LampState | None:
        """The last summary received, or None before the first."""
        return self._history[-1] if self._history else None

    @property
    def on(self) -> bool:
        """Whether the lamp is lit: the latest summary said ``Messages-Waiting: yes``."""
        return self._history[-1].on if self._history else False

    @property
    def voice(self) -> Counts | None:
        """The latest voice counts, or None before any summary (or if it had none)."""
        return self._history[-1].voice if self._history else None

    @property
    def history(self) -> tuple[LampState, ...]:
        """Every summary received, in arrival order, duplicates included."""
        return tuple(self._history)

    def changes(self) -> tuple[LampState, ...]:
        """The summaries that changed what the lamp shows; repeats of the same body dropped."""
        changes: list[LampState] = []
        for state in self._history:
            if not changes or changes[-1].summary != state.summary:
                changes.append(state)
        return tuple(changes)

    def check(
        self,
        expect: LampExpectation,
        since: float,
        now: float,
        *,
        start: float | None = None,
    ) -> LampCheck:
        """Judge ``expect`` for summaries received from ``since`` until ``start + within``.

        ``start`` (when the expectation began to be waited for) defaults to ``since``. Met
        when the latest summary in that window matches; pending while the window is open;
        failed once it has closed. Summaries from before ``since`` do not count, so an
        expectation always needs a fresh NOTIFY.
        """
        deadline = (since if start is None else max(since, start)) + expect.within
        window = [s for s in self._history if since <= s.at <= min(now, deadline)]
        state = window[-1] if window else None
        if state is not None and expect.matches(state.summary):
            return LampCheck(
                "met", deadline, state, f"{state.summary.describe()} at {self._at(state.at)}"
            )
        seen = (
            f"latest at {self._at(state.at)}: {state.summary.describe()}"
            if state is not None
            else "no summary received"
        )
        if now < deadline:
            return LampCheck("pending", deadline, state, f"expecting {expect}; {seen}")
        late = next(
            (s for s in self._history if s.at > deadline and expect.matches(s.summary)), None
        )
        if late is not None:
            seen += f"; a matching summary came late, at {self._at(late.at)}"
        detail = f"expected {expect} of {self._at(since)}; {seen}"
        return LampCheck("failed", deadline, state, detail)
