"""The scenario model: one scenario file, validated and frozen.

A scenario declares a topology (the proxy's convention, the mailboxes, the phones) and a list of
steps. Each step in YAML is a mapping with exactly one key naming its kind::

    steps:
      - register: {phone: "2000"}
      - deposit: {to: "2000", from: "+15551230000", reason: user-busy, seconds: 4}
      - expect_notify: {phone: "2000", waiting: yes, voice: "1/0"}
      - wait: 1.5

A topology may add a legacy PBX on an SMDI serial line (``pbx:``); its steps ``smdi_send``,
``expect_lamp`` and ``expect_smdi`` write call details and watch lamp commands on that line.

and validates into one of the ``*Step`` classes below (all subclasses of :class:`Step`), so a
runner dispatches with ``match step: case DepositStep(): ...``.

Mailbox references (``deposit.to``, ``phones[].mailbox``, ``expect_spool.mailbox``) read as
Asterisk reads them: ``box@context``, or a bare ``box`` in the ``default`` context. Every
reference must name something the topology declares.

Errors are pydantic errors. Errors found after the fields validated (references, exclusive
options) carry a :data:`LOCATED` error whose context lists ``(loc, message)`` pairs relative to
the error's own location, so a loader can point at the exact field of each.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from harness.core.mailbox import DEFAULT_CONTEXT, MailboxId
from harness.core.routing import CONVENTIONS, Reason
from harness.smdi.link import BAUD_RATES, SerialSettings

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
_FRAMING_RE = re.compile(r"([78])([ENO])([12])\Z")

#: Where a value sits in a scenario: field names and list indexes, as pydantic's ``loc``.
Loc: TypeAlias = tuple[str | int, ...]


def closest_name(word: str, names: Iterable[str]) -> str | None:
    """The name in ``names`` most like ``word`` (a likely typo of it, any case), or None."""
    by_folded = {name.casefold(): name for name in names}
    matches = difflib.get_close_matches(word.casefold(), list(by_folded), n=1, cutoff=0.6)
    return by_folded[matches[0]] if matches else None


def _did_you_mean(word: str, names: Iterable[str]) -> str:
    guess = closest_name(word, names)
    return f' (did you mean "{guess}"?)' if guess else ""


def _located(problems: list[tuple[Loc, str]]) -> PydanticCustomError:
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


def _voice(text: str) -> str:
    if not _VOICE_RE.match(text):
        raise PydanticCustomError(
            "voice",
            'voice must be "new/old" message counts like "1/0", got "{text}"',
            {"text": text},
        )
    return text


def _convention(name: str) -> str:
    if name not in CONVENTIONS:
        raise PydanticCustomError(
            "convention",
            'unknown convention "{name}"{hint} (known: {known})',
            {
                "name": name,
                "hint": _did_you_mean(name, CONVENTIONS),
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


def _dtmf_keys(value: Any) -> Any:
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


def _digits(low: int, high: int, what: str) -> AfterValidator:
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


def _framing(text: str) -> str:
    if not _FRAMING_RE.match(text):
        raise PydanticCustomError(
            "framing",
            "framing is data bits (7 or 8), parity (E, O or N) and stop bits (1 or 2) like "
            '"7E1" or "8N1", got "{text}"',
            {"text": text},
        )
    return text


def _baud(rate: int) -> int:
    if rate not in BAUD_RATES:
        raise PydanticCustomError(
            "baud",
            "an SMDI line runs at {known} baud, got {rate}",
            {"known": ", ".join(map(str, BAUD_RATES)), "rate": rate},
        )
    return rate


#: A SIP user part as the phone registers it.
User = Annotated[str, AfterValidator(_user)]
#: A mailbox reference: ``box@context`` or ``box`` (default context); serialises as text.
MailboxRef = Annotated[MailboxId, PlainValidator(_mailbox_id), PlainSerializer(str)]
Pin = Annotated[str, AfterValidator(_pin)]
DtmfKey = Annotated[str, AfterValidator(_dtmf_key)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
#: An SMDI station number (1 to 10 digits) and the blank-or-station of MD fields.
Station = Annotated[str, _digits(1, 10, "station")]
StationField = Annotated[str, _digits(0, 10, "station (or blank)")]


class _Frozen(BaseModel):
    """Base of every scenario model: unknown fields are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProxySpec(_Frozen):
    """How the proxy in front of the voicemail server behaves."""

    #: Name of a header convention in :data:`harness.core.routing.CONVENTIONS`.
    convention: Annotated[str, AfterValidator(_convention)] = "x-voicemail"
    #: Behaviours of real proxies to reproduce; checked against the profile registry when run.
    quirks: tuple[str, ...] = ()
    #: A named shipped proxy profile.
    profile: str | None = None


class MailboxSpec(_Frozen):
    """A mailbox the voicemail server must have."""

    box: str
    context: str = DEFAULT_CONTEXT
    pin: Pin
    #: The owner's full name, as voicemail.conf writes it.
    name: str | None = None

    @field_validator("box")
    @classmethod
    def _check_box(cls, box: str) -> str:
        try:
            return MailboxId(box).box
        except ValueError as error:
            raise PydanticCustomError("box", "{reason}", {"reason": str(error)}) from None

    @field_validator("context")
    @classmethod
    def _check_context(cls, context: str) -> str:
        try:  # MailboxId knows what a context may hold; "0" only stands in for a box
            return MailboxId("0", context).context
        except ValueError as error:
            raise PydanticCustomError("context", "{reason}", {"reason": str(error)}) from None

    @property
    def id(self) -> MailboxId:
        """This mailbox as ``box@context``."""
        return MailboxId(self.box, self.context)


class PhoneSpec(_Frozen):
    """A simulated phone registered through the proxy."""

    user: User
    #: The mailbox whose lamp this phone shows; None means ``<user>@default`` when that mailbox is
    #: declared, else no mailbox (see :meth:`Scenario.mailbox_of`).
    mailbox: MailboxRef | None = None
    #: How the phone sends keys (sip.conf ``dtmfmode`` of its peer on the voicemail server).
    dtmf: Literal["rfc2833", "info", "inband"] = "rfc2833"


class PbxSpec(_Frozen):
    """A legacy PBX on an SMDI serial line to the voicemail server (a pty pair in the harness).

    The server gets smdi.conf with these line settings and ``smdienable=yes``; the PBX sends its
    calls through the proxy (give the proxy the ``request-uri`` convention so the call carries
    no mailbox header and the server looks the MD message up).
    """

    #: Data bits, parity and stop bits: ``7E1`` (SMDI's usual), ``8N1``…
    framing: Annotated[str, AfterValidator(_framing)] = "7E1"
    baud: Annotated[int, AfterValidator(_baud)] = 9600
    #: Whether both ends write no faster than the baud rate carries (a pty would not).
    pacing: bool = True
    #: smdi.conf ``msdstrip``: digits the server drops from stations, zeros it prepends.
    msdstrip: int = Field(default=0, ge=0, le=9)
    #: What the server matches the Request-URI user against: forwarding station, terminal, desk.
    search: Literal["station", "terminal", "desk"] = "station"
    #: smdi.conf ``msgexpirytime``, in milliseconds.
    msgexpirytime: int = Field(default=30000, ge=1)
    #: How long the server waits for a call's MD message, in milliseconds.
    timeout: int = Field(default=3000, ge=0)
    #: smdi.conf ``[mailboxes]``: SMDI station -> mailbox (others are ``<station>@default``).
    stations: dict[Station, MailboxRef] = Field(default_factory=dict)
    #: Stations whose lamp commands the PBX answers with an MWI-error instead.
    errors: dict[Station, Literal["INV", "BLK"]] = Field(default_factory=dict)

    @property
    def settings(self) -> SerialSettings:
        """The line settings."""
        match = _FRAMING_RE.match(self.framing)
        assert match is not None
        bits, parity, stop = match.groups()
        return SerialSettings(
            self.baud,
            int(bits),
            "even" if parity == "E" else "odd" if parity == "O" else "none",
            int(stop),
        )


class Step(_Frozen):
    """One step of a scenario. In YAML it is written ``- <kind>: {fields}``."""

    #: The YAML key naming this kind of step.
    kind: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        if isinstance(data, dict) and len(data) == 1 and cls.kind in data:
            data = data[cls.kind]
        return cls._shorthand(data)

    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """Turn a step's short YAML form into its fields; the full form passes through."""
        return data


class RegisterStep(Step):
    """The phone registers with the proxy (and subscribes to message-waiting)."""

    kind: ClassVar[str] = "register"
    phone: User


class DepositStep(Step):
    """A caller's call is forwarded by the proxy to the mailbox and leaves a message.

    The message is ``seconds`` of generated audio, or the WAV file ``audio`` (a path relative to
    the scenario file; the loader resolves it and checks it exists). Neither given means 3 s.
    """

    model_config = ConfigDict(validate_by_name=True)

    kind: ClassVar[str] = "deposit"
    to: MailboxRef
    from_: str = Field(validation_alias="from", serialization_alias="from", min_length=1)
    reason: Reason = Reason.NO_ANSWER
    seconds: Seconds | None = None
    audio: Path | None = None
    #: A code embedded in the audio, to recognise this message when it is played back.
    signature: str | None = None
    #: The final response the caller must get.
    expect_status: int = Field(default=200, ge=100, le=699)

    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and "seconds" not in data and "audio" not in data:
            return {**data, "seconds": 3.0}
        return data

    @field_validator("audio")
    @classmethod
    def _resolve_audio(cls, audio: Path | None, info: ValidationInfo) -> Path | None:
        base = info.context.get("base_dir") if isinstance(info.context, dict) else None
        if audio is None or base is None:
            return audio
        path = audio if audio.is_absolute() else Path(base) / audio
        if not path.is_file():
            raise PydanticCustomError(
                "audio_missing", 'no audio file "{path}"', {"path": str(path)}
            )
        return path

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.seconds is not None and self.audio is not None:
            raise _located([(("audio",), "give either seconds or audio, not both")])
        if self.seconds is None and self.audio is None:
            raise _located([(("seconds",), "give seconds or audio")])
        return self


class ExpectNotifyStep(Step):
    """The phone must receive a message-summary NOTIFY with this state within ``within`` s."""

    kind: ClassVar[str] = "expect_notify"
    phone: User
    waiting: bool
    #: ``"new/old"`` voice-message counts; None leaves the counts unchecked.
    voice: Annotated[str, AfterValidator(_voice)] | None = None
    within: Seconds = 5.0

    @property
    def voice_counts(self) -> tuple[int, int] | None:
        """``voice`` as ``(new, old)``."""
        if self.voice is None:
            return None
        new, old = self.voice.split("/")
        return int(new), int(old)


class ExpectNoNotifyStep(Step):
    """The phone must receive no message-summary NOTIFY for ``within`` seconds."""

    kind: ClassVar[str] = "expect_no_notify"
    phone: User
    within: Seconds = 2.0


class RetrieveStep(Step):
    """The phone calls the voicemail menu, logs in with ``pin`` and presses ``keys``.

    In YAML ``keys`` is a string of keys separated by spaces (quote it: an unquoted ``#`` after a
    space starts a YAML comment) or a list of keys.
    """

    kind: ClassVar[str] = "retrieve"
    phone: User
    pin: Pin
    keys: Annotated[tuple[DtmfKey, ...], BeforeValidator(_dtmf_keys)]
    #: Prompt names the phone must hear, in order; None leaves prompts unchecked.
    expect_prompts: tuple[str, ...] | None = None


class ExpectSpoolStep(Step):
    """White-box: the spool folder of the mailbox must hold ``count`` messages."""

    kind: ClassVar[str] = "expect_spool"
    mailbox: MailboxRef
    folder: Folder = "INBOX"
    count: int = Field(ge=0)
    #: The ``callerid=`` the newest message of the folder must carry; None leaves it unchecked.
    callerid: str | None = None


class WaitStep(Step):
    """Let time pass. In YAML: ``- wait: 1.5``."""

    kind: ClassVar[str] = "wait"
    seconds: Seconds

    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return data if isinstance(data, dict) else {"seconds": data}


def _call_type(letter: str) -> str:
    if len(letter) != 1 or letter not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        raise PydanticCustomError(
            "call_type",
            "an MD call type is one capital letter (D direct, A all, B busy, N no answer, "
            'U unknown, or a vendor letter), got "{text}"',
            {"text": letter},
        )
    return letter


def _line_bytes(text: str) -> str:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError as error:
        raise PydanticCustomError(
            "line_bytes",
            "an SMDI line carries bytes: character {char} at {at} is beyond \\xff",
            {"char": repr(text[error.start]), "at": error.start},
        ) from None
    return text


class SmdiCallSpec(_Frozen):
    """The SIP call the PBX places through the proxy for its MD message.

    A deposit (speak ``seconds`` after the beep, hang up) unless ``pin`` is given or the MD
    message is of type D: then a session at the menu (log in with ``pin``, press ``keys``; with
    no ``pin``, listen until the menu waits, then hang up).
    """

    #: The Request-URI user dialled; by default the MD message's search key (the forwarding
    #: station after ``msdstrip``, the terminal, or the desk number, per ``pbx.search``).
    did: User | None = None
    seconds: Seconds = 2.0
    #: Press ``#`` as the greeting starts, straight to the beep (for scenarios about the line).
    skip_greeting: bool = False
    pin: Pin | None = None
    keys: Annotated[tuple[DtmfKey, ...], BeforeValidator(_dtmf_keys)] = ()
    #: Place the call first and write the MD message this many seconds later.
    md_delay: Seconds | None = None
    #: The final response the call must get.
    expect_status: int = Field(default=200, ge=100, le=699)
    #: Prompt names the call must hear, in order; None leaves prompts unchecked.
    expect_prompts: tuple[str, ...] | None = None


class SmdiSendStep(Step):
    """The PBX writes an MD message on the SMDI line, then places its ``call``, if given.

    ``noise`` is written on the line before the message, as given (double-quoted YAML takes
    escapes such as ``"\\r\\n\\x19"``); ``forwarding`` and ``calling`` may be blank (``""``).
    """

    model_config = ConfigDict(validate_by_name=True)

    kind: ClassVar[str] = "smdi_send"
    desk: Annotated[str, _digits(3, 3, "message desk number")] = "001"
    terminal: Annotated[str, _digits(4, 4, "message desk terminal")] = "0001"
    call_type: Annotated[str, AfterValidator(_call_type)] = Field(
        default="N", validation_alias="type", serialization_alias="type"
    )
    forwarding: StationField = ""
    calling: StationField = ""
    noise: Annotated[str, AfterValidator(_line_bytes)] | None = None
    call: SmdiCallSpec | None = None


class ExpectLampStep(Step):
    """The PBX's lamp of ``station`` must be on (or off) within ``within`` seconds.

    A lamp never commanded is off; a lamp already in that state passes at once.
    """

    kind: ClassVar[str] = "expect_lamp"
    station: Station
    on: bool
    within: Seconds = 5.0


class ExpectSmdiStep(Step):
    """A message must cross the SMDI line within ``within`` seconds.

    ``line`` is its text without framing: a lamp command as the voicemail server wrote it
    (``OP:MWI 2000!``, msdstrip zeros included) or an MWI-error as the PBX answered
    (``MWI2000 INV``). It is looked for after the message the previous ``expect_smdi`` matched.
    """

    kind: ClassVar[str] = "expect_smdi"
    line: str = Field(min_length=1)
    within: Seconds = 5.0


#: Every step class by its YAML kind.
STEP_TYPES: dict[str, type[Step]] = {
    cls.kind: cls
    for cls in (
        RegisterStep,
        DepositStep,
        ExpectNotifyStep,
        ExpectNoNotifyStep,
        RetrieveStep,
        ExpectSpoolStep,
        WaitStep,
        SmdiSendStep,
        ExpectLampStep,
        ExpectSmdiStep,
    )
}


def _step_tag(value: Any) -> str | None:
    if isinstance(value, Step):
        return value.kind
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    return None


def _check_step_shape(value: Any) -> Any:
    """A step is a Step, or a mapping with exactly one key that names a known kind."""
    if isinstance(value, Step):
        return value
    known = ", ".join(STEP_TYPES)
    if not isinstance(value, dict):
        raise PydanticCustomError(
            "step_shape",
            "a step is a mapping with one key naming its kind ({known})",
            {"known": known},
        )
    if not value:
        raise PydanticCustomError(
            "step_shape", "empty step; known kinds: {known}", {"known": known}
        )
    keys = [str(key) for key in value]
    kinds = [key for key in keys if key in STEP_TYPES]
    if len(keys) == 1 and not kinds:
        raise PydanticCustomError(
            "step_kind",
            'unknown step kind "{kind}"{hint}; known kinds: {known}',
            {"kind": keys[0], "hint": _did_you_mean(keys[0], STEP_TYPES), "known": known},
        )
    if len(keys) > 1:
        others = [key for key in keys if key not in STEP_TYPES]
        if len(kinds) == 1:
            raise PydanticCustomError(
                "step_shape",
                'step "{kind}" has other keys beside it ({others}); indent them under "{kind}:"',
                {"kind": kinds[0], "others": ", ".join(others)},
            )
        raise PydanticCustomError(
            "step_shape",
            "a step has exactly one kind, got {count} keys ({keys}); known kinds: {known}",
            {"count": len(keys), "keys": ", ".join(keys), "known": known},
        )
    return value


#: Any step; validates from ``{kind: fields}`` or passes a :class:`Step` through.
AnyStep = Annotated[
    Annotated[RegisterStep, Tag(RegisterStep.kind)]
    | Annotated[DepositStep, Tag(DepositStep.kind)]
    | Annotated[ExpectNotifyStep, Tag(ExpectNotifyStep.kind)]
    | Annotated[ExpectNoNotifyStep, Tag(ExpectNoNotifyStep.kind)]
    | Annotated[RetrieveStep, Tag(RetrieveStep.kind)]
    | Annotated[ExpectSpoolStep, Tag(ExpectSpoolStep.kind)]
    | Annotated[WaitStep, Tag(WaitStep.kind)]
    | Annotated[SmdiSendStep, Tag(SmdiSendStep.kind)]
    | Annotated[ExpectLampStep, Tag(ExpectLampStep.kind)]
    | Annotated[ExpectSmdiStep, Tag(ExpectSmdiStep.kind)],
    Discriminator(_step_tag),
    BeforeValidator(_check_step_shape),
]


class Scenario(_Frozen):
    """One scenario: a topology and the steps to run against it."""

    name: str = Field(min_length=1)
    description: str | None = None
    tags: tuple[str, ...] = ()
    proxy: ProxySpec = Field(default_factory=ProxySpec)
    mailboxes: tuple[MailboxSpec, ...] = Field(min_length=1)
    phones: tuple[PhoneSpec, ...] = ()
    #: A legacy PBX on an SMDI line, for the ``smdi_send``/``expect_lamp``/``expect_smdi`` steps.
    pbx: PbxSpec | None = None
    steps: tuple[AnyStep, ...] = Field(min_length=1)

    def mailbox(self, ref: MailboxId | str) -> MailboxSpec:
        """The declared mailbox ``ref`` names (``box`` or ``box@context``).

        KeyError when none is declared; ValueError when ``ref`` is not a mailbox at all.
        """
        wanted = ref if isinstance(ref, MailboxId) else MailboxId.parse(ref)
        for mailbox in self.mailboxes:
            if mailbox.id == wanted:
                return mailbox
        raise KeyError(str(wanted))

    def phone(self, user: str) -> PhoneSpec:
        """The declared phone registered as ``user``; KeyError if none."""
        for phone in self.phones:
            if phone.user == user:
                return phone
        raise KeyError(user)

    def mailbox_of(self, phone: PhoneSpec) -> MailboxSpec | None:
        """The mailbox whose lamp ``phone`` shows: its ``mailbox``, else ``<user>@default``
        when declared, else None."""
        declared = {mailbox.id: mailbox for mailbox in self.mailboxes}
        if phone.mailbox is not None:
            return declared[phone.mailbox]
        try:
            implied = MailboxId(phone.user)
        except ValueError:
            return None
        return declared.get(implied)

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        problems = self.reference_problems()
        if problems:
            raise _located(problems)
        return self

    def reference_problems(self) -> list[tuple[Loc, str]]:
        """Duplicate declarations and references to undeclared phones or mailboxes."""
        problems: list[tuple[Loc, str]] = []
        mailboxes: dict[MailboxId, int] = {}
        for index, mailbox in enumerate(self.mailboxes):
            first = mailboxes.setdefault(mailbox.id, index)
            if first != index:
                problems.append(
                    (
                        ("mailboxes", index, "box"),
                        f'mailbox "{mailbox.id}" is already declared at mailboxes[{first}]',
                    )
                )
        phones: dict[str, int] = {}
        for index, phone in enumerate(self.phones):
            first = phones.setdefault(phone.user, index)
            if first != index:
                problems.append(
                    (
                        ("phones", index, "user"),
                        f'phone "{phone.user}" is already declared at phones[{first}]',
                    )
                )
            if phone.mailbox is not None and phone.mailbox not in mailboxes:
                problems.append(
                    (("phones", index, "mailbox"), _undeclared_mailbox(phone.mailbox, mailboxes))
                )
        for index, step in enumerate(self.steps):
            for field, value in _references(step):
                loc: Loc = ("steps", index, step.kind, field)
                if isinstance(value, MailboxId):
                    if value not in mailboxes:
                        problems.append((loc, _undeclared_mailbox(value, mailboxes)))
                elif value not in phones:
                    declared = ", ".join(phones) or "none"
                    problems.append((loc, f'no phone "{value}" declared (declared: {declared})'))
        problems += self._smdi_problems(mailboxes)
        return problems

    def _smdi_problems(self, mailboxes: dict[MailboxId, int]) -> list[tuple[Loc, str]]:
        """SMDI steps without a PBX, station maps to undeclared mailboxes, calls without a DID."""
        problems: list[tuple[Loc, str]] = []
        if self.pbx is not None:
            for station, mailbox in self.pbx.stations.items():
                if mailbox not in mailboxes:
                    problems.append(
                        (("pbx", "stations", station), _undeclared_mailbox(mailbox, mailboxes))
                    )
        for index, step in enumerate(self.steps):
            if not isinstance(step, SmdiSendStep | ExpectLampStep | ExpectSmdiStep):
                continue
            if self.pbx is None:
                problems.append(
                    (("steps", index, step.kind), f"{step.kind} needs a pbx: in the topology")
                )
                continue
            if (
                isinstance(step, SmdiSendStep)
                and step.call is not None
                and step.call.did is None
                and self.pbx.search == "station"
                and not step.forwarding[self.pbx.msdstrip :]
            ):
                problems.append(
                    (
                        ("steps", index, step.kind, "call"),
                        "the forwarding station is blank, so the call needs a did: "
                        "(or a pbx search by terminal or desk)",
                    )
                )
        return problems


def _references(step: Step) -> list[tuple[str, str | MailboxId]]:
    """The fields of ``step`` that name a phone (text) or a mailbox."""
    match step:
        case RegisterStep() | ExpectNotifyStep() | ExpectNoNotifyStep() | RetrieveStep():
            return [("phone", step.phone)]
        case DepositStep():
            return [("to", step.to)]
        case ExpectSpoolStep():
            return [("mailbox", step.mailbox)]
    return []


def _undeclared_mailbox(wanted: MailboxId, declared: Iterable[MailboxId]) -> str:
    names = ", ".join(str(mailbox) for mailbox in declared) or "none"
    return f'no mailbox "{wanted}" declared (declared: {names})'
