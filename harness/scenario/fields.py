"""The field types of a scenario file: validated text, numbers and references.

Each type validates one kind of value a scenario writes (a SIP user, a PIN, a mailbox reference,
a hop, a range of numbers) and fails with a sentence naming what was expected. Errors found
after the fields validated (references, exclusive options) carry a :data:`LOCATED` error whose
context lists ``(loc, message)`` pairs relative to the error's own location, so a loader can
point at the exact field of each.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
)
from pydantic_core import PydanticCustomError

from harness.core.mailbox import MailboxId
from harness.core.routing import CONVENTIONS
from harness.scenario.variables import Loc, check_name, range_values
from harness.smdi.link import BAUD_RATES
from harness.targets import sip_peer

#: Error type of a model-level error that names sub-locations; its context holds ``problems``,
#: a tuple of ``(loc, message)`` pairs, each ``loc`` relative to the error's own ``loc``.
LOCATED = "located"

#: Asterisk's voicemail folders, as its spool names them.
Folder = Literal[
    "INBOX",
    "Old",
    "Work",
    "Family",
    "Friends",
    "Urgent",
    "Cust1",
    "Cust2",
    "Cust3",
    "Cust4",
    "Cust5",
]

_VOICE_RE = re.compile(r"(\d+)/(\d+)\Z")
_PIN_RE = re.compile(r"[0-9]+\Z")
_DTMF_RE = re.compile(r"[0-9*#A-D]\Z")
FRAMING_RE = re.compile(r"([78])([ENO])([12])\Z")
_METHOD_RE = re.compile(r"[A-Za-z]+\Z")
_HEADER_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")

#: The parties a hop of ``expect_sip`` may name besides the declared phones.
PARTIES = ("proxy", "voicemail", "caller")
#: The most iterations one ``repeat`` may run.
MAX_ITERATIONS = 100_000


def closest_name(word: str, names: Iterable[str]) -> str | None:
    """The name in ``names`` most like ``word`` (a likely typo of it, any case), or None."""
    by_folded = {name.casefold(): name for name in names}
    matches = difflib.get_close_matches(word.casefold(), list(by_folded), n=1, cutoff=0.6)
    return by_folded[matches[0]] if matches else None


def did_you_mean(word: str, names: Iterable[str]) -> str:
    """`` (did you mean "x"?)`` when ``word`` looks like a typo of one of ``names``."""
    guess = closest_name(word, names)
    return f' (did you mean "{guess}"?)' if guess else ""


def located(problems: list[tuple[Loc, str]]) -> PydanticCustomError:
    """A :data:`LOCATED` error listing ``(loc, message)`` problems, each at its own field."""
    return PydanticCustomError(
        LOCATED,
        "{summary}",
        {"summary": "; ".join(message for _, message in problems), "problems": tuple(problems)},
    )


def _user(text: str) -> str:
    if not text or any(ch.isspace() for ch in text) or "@" in text:
        raise PydanticCustomError(
            "user",
            'a SIP user must be non-empty, without spaces or "@", got "{text}"',
            {"text": text},
        )
    return text


def _pin(text: str) -> str:
    if not _PIN_RE.match(text):
        raise PydanticCustomError("pin", 'a PIN is digits only, got "{text}"', {"text": text})
    return text


def check_voice(text: str) -> str:
    """``new/old`` message counts, as ``voice:`` writes them."""
    if not _VOICE_RE.match(text):
        raise PydanticCustomError(
            "voice",
            'voice must be "new/old" message counts like "1/0", got "{text}"',
            {"text": text},
        )
    return text


def check_convention(name: str) -> str:
    """A header convention the routing core knows."""
    if name not in CONVENTIONS:
        raise PydanticCustomError(
            "convention",
            'unknown convention "{name}"{hint} (known: {known})',
            {
                "name": name,
                "hint": did_you_mean(name, CONVENTIONS),
                "known": ", ".join(CONVENTIONS),
            },
        )
    return name


def _mailbox_id(value: Any) -> MailboxId:
    if isinstance(value, MailboxId):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "mailbox_ref",
            'expected a mailbox as "box" or "box@context", got {got}',
            {"got": "nothing" if value is None else type(value).__name__},
        )
    try:
        return MailboxId.parse(value)
    except ValueError as error:
        raise PydanticCustomError("mailbox_ref", "{reason}", {"reason": str(error)}) from None


def split_keys(value: Any) -> Any:
    """Split ``"1 7 #"`` into keys; a YAML list of keys passes through."""
    return value.split() if isinstance(value, str) else value


def _dtmf_key(key: str) -> str:
    key = key.upper()
    if not _DTMF_RE.match(key):
        raise PydanticCustomError(
            "dtmf_key",
            '"{key}" is not one DTMF key (0-9, *, #, A-D); separate keys with spaces',
            {"key": key},
        )
    return key


def check_digits(low: int, high: int, what: str) -> AfterValidator:
    """A validator for ``low`` to ``high`` digits, naming ``what`` in its error."""

    def check(text: str) -> str:
        if not (low <= len(text) <= high and all(c in "0123456789" for c in text)):
            size = f"exactly {low}" if low == high else f"{low} to {high}"
            raise PydanticCustomError(
                "digits",
                'a {what} is {size} digits, got "{text}"',
                {"what": what, "size": size, "text": text},
            )
        return text

    return AfterValidator(check)


def check_framing(text: str) -> str:
    """Serial framing like ``7E1``."""
    if not FRAMING_RE.match(text):
        raise PydanticCustomError(
            "framing",
            "framing is data bits (7 or 8), parity (E, O or N) and stop bits (1 or 2) like "
            '"7E1" or "8N1", got "{text}"',
            {"text": text},
        )
    return text


def check_baud(rate: int) -> int:
    """A baud rate an SMDI line runs at."""
    if rate not in BAUD_RATES:
        raise PydanticCustomError(
            "baud",
            "an SMDI line runs at {known} baud, got {rate}",
            {"known": ", ".join(map(str, BAUD_RATES)), "rate": rate},
        )
    return rate


def _sip_uri(text: str) -> str:
    try:
        sip_peer(text)
    except ValueError as error:
        raise PydanticCustomError("sip_address", "{reason}", {"reason": str(error)}) from None
    return text.strip()


def check_range(text: str) -> str:
    """A range of numbers like ``1000..1019``."""
    try:
        range_values(text)
    except ValueError as error:
        raise PydanticCustomError("range", "{reason}", {"reason": str(error)}) from None
    return text.strip()


def _var_name(name: str) -> str:
    try:
        return check_name(name)
    except ValueError as error:
        raise PydanticCustomError("var_name", "{reason}", {"reason": str(error)}) from None


def check_method(text: str) -> str:
    """A SIP method, upper-cased."""
    if not _METHOD_RE.match(text):
        raise PydanticCustomError(
            "method", 'a SIP method is a word like INVITE or NOTIFY, got "{text}"', {"text": text}
        )
    return text.upper()


def check_header_name(text: str) -> str:
    """One header name token."""
    if not _HEADER_RE.match(text):
        raise PydanticCustomError(
            "header_name",
            'a header name is one token like X-Voicemail-Mailbox (no colon), got "{text}"',
            {"text": text},
        )
    return text


def check_hop(text: str) -> str:
    """``SENDER->RECEIVER``, spaces around the names removed."""
    sender, arrow, receiver = text.partition("->")
    if not arrow or not sender.strip() or not receiver.strip() or "->" in receiver:
        raise PydanticCustomError(
            "hop",
            'a hop is "SENDER->RECEIVER" like "proxy->voicemail" or "voicemail->proxy", '
            'got "{text}"',
            {"text": text},
        )
    return f"{sender.strip()}->{receiver.strip()}"


#: A SIP user part as the phone registers it.
User = Annotated[str, AfterValidator(_user)]
#: A mailbox reference: ``box@context`` or ``box`` (default context); serialises as text.
MailboxRef = Annotated[MailboxId, PlainValidator(_mailbox_id), PlainSerializer(str)]
Pin = Annotated[str, AfterValidator(_pin)]
DtmfKey = Annotated[str, AfterValidator(_dtmf_key)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
#: An SMDI station number (1 to 10 digits) and the blank-or-station of MD fields.
Station = Annotated[str, check_digits(1, 10, "station")]
StationField = Annotated[str, check_digits(0, 10, "station (or blank)")]
#: ``sip:HOST:PORT``, the address of a party the harness does not run.
SipAddress = Annotated[str, AfterValidator(_sip_uri)]
#: ``"FIRST..LAST"``: see :func:`harness.scenario.variables.range_values`.
NumberRange = Annotated[str, AfterValidator(check_range)]
VarName = Annotated[str, AfterValidator(_var_name)]
#: How a phone sends keys (sip.conf ``dtmfmode`` of its peer on the voicemail server).
DtmfMode = Literal["rfc2833", "info", "inband"]


class Frozen(BaseModel):
    """Base of every scenario model: unknown fields are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
