"""The scenario model: one scenario file, validated and frozen.

A scenario declares a topology (the proxy, the mailboxes, the phones, optionally a PBX and the
target) and a list of steps. Each step in YAML is a mapping with exactly one key naming its
kind::

    steps:
      - register: {phone: "2000"}
      - deposit: {to: "2000", from: "+15551230000", reason: user-busy, seconds: 4}
      - expect_notify: {phone: "2000", waiting: yes, voice: "1/0"}
      - expect_sip: {hop: "proxy->voicemail", method: INVITE, header: X-Voicemail-Mailbox}
      - wait: 1.5

and validates into one of the ``*Step`` classes below (all subclasses of :class:`Step`), so a
runner dispatches with ``match step: case DepositStep(): ...``. ``parallel`` runs a list of
steps at once; ``repeat`` runs a block several times, or once per value of a range bound to a
variable, a number of iterations at a time (load).

A topology may add a legacy PBX on an SMDI serial line (``pbx:``); its steps ``smdi_send``,
``expect_lamp`` and ``expect_smdi`` write call details and watch lamp commands on that line.

Variables: ``vars: {caller: "+15551230000"}`` at the top, and ``${caller}`` anywhere in a text
value (a variable may use the ones defined before it). A ``repeat`` binds its own variable
(``as: box``) inside its ``steps``. Ranges: ``"1000..1019"`` is every number from 1000 to 1019,
as text with the first number's width (``"0998..1001"`` keeps leading zeros); a mailbox or phone
entry with ``range:`` instead of ``box:``/``user:`` declares one per number.

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
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from harness.core.mailbox import DEFAULT_CONTEXT, MailboxId
from harness.core.routing import CONVENTIONS, Reason
from harness.scenario.variables import Loc, check_name, fill, range_values, substitute
from harness.sim.profiles import (
    ProfileError,
    QuirkError,
    load_profile,
    parse_quirk,
    shipped_profiles,
)
from harness.smdi.link import BAUD_RATES, SerialSettings
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
_FRAMING_RE = re.compile(r"([78])([ENO])([12])\Z")
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


def _sip_uri(text: str) -> str:
    try:
        sip_peer(text)
    except ValueError as error:
        raise PydanticCustomError("sip_address", "{reason}", {"reason": str(error)}) from None
    return text.strip()


def _range(text: str) -> str:
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


def _method(text: str) -> str:
    if not _METHOD_RE.match(text):
        raise PydanticCustomError(
            "method", 'a SIP method is a word like INVITE or NOTIFY, got "{text}"', {"text": text}
        )
    return text.upper()


def _header_name(text: str) -> str:
    if not _HEADER_RE.match(text):
        raise PydanticCustomError(
            "header_name",
            'a header name is one token like X-Voicemail-Mailbox (no colon), got "{text}"',
            {"text": text},
        )
    return text


def _hop(text: str) -> str:
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
Station = Annotated[str, _digits(1, 10, "station")]
StationField = Annotated[str, _digits(0, 10, "station (or blank)")]
#: ``sip:HOST:PORT``, the address of a party the harness does not run.
SipAddress = Annotated[str, AfterValidator(_sip_uri)]
#: ``"FIRST..LAST"``: see :func:`harness.scenario.variables.range_values`.
NumberRange = Annotated[str, AfterValidator(_range)]
VarName = Annotated[str, AfterValidator(_var_name)]
#: How a phone sends keys (sip.conf ``dtmfmode`` of its peer on the voicemail server).
DtmfMode = Literal["rfc2833", "info", "inband"]


class _Frozen(BaseModel):
    """Base of every scenario model: unknown fields are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _quirk(spec: Any) -> Any:
    """A quirk as a profile writes it: a name, or ``{name: {option: value}}``."""
    if isinstance(spec, str | dict):
        try:
            parse_quirk(spec)
        except QuirkError as error:
            raise _located(error.problems) from None
    return spec


#: A quirk of the simulated proxy, with its options if any.
QuirkEntry = Annotated[str | dict[str, Any], BeforeValidator(_quirk)]


class KamailioSpec(_Frozen):
    """A Kamailio the harness starts for the run (``fixtures/proxies/kamailio/``)."""

    #: The config variant: how Kamailio names the mailbox (default: the proxy's convention).
    convention: Literal["x-voicemail", "diversion"] | None = None
    #: Seconds a registered phone rings before Kamailio sends the call to voicemail.
    ring: Seconds = 1.0


class ProxySpec(_Frozen):
    """The proxy in front of the voicemail server: the simulator (shaped by a profile and
    quirks), a Kamailio the harness runs (``kamailio:``), or a proxy under test (``external:``).
    """

    #: Name of a header convention in :data:`harness.core.routing.CONVENTIONS`.
    convention: Annotated[str, AfterValidator(_convention)] = "x-voicemail"
    #: Behaviours of real proxies for the simulator to reproduce, on top of the profile's
    #: (:data:`harness.sim.profiles.QUIRKS`): ``[compact-headers, {delay: {seconds: 0.5}}]``.
    quirks: tuple[QuirkEntry, ...] = ()
    #: A shipped proxy profile by name, or a profile file (relative to the scenario file).
    profile: str | None = None
    #: A real proxy under test, ``sip:HOST:PORT``; its configuration must route to the
    #: voicemail server (see ``vmharness run --voicemail-port``).
    external: SipAddress | None = None
    #: A Kamailio the harness starts for the run.
    kamailio: KamailioSpec | None = None

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, name: str | None, info: ValidationInfo) -> str | None:
        shipped = shipped_profiles()
        if name is None or name in shipped:
            return name
        base = info.context.get("base_dir") if isinstance(info.context, dict) else None
        path = Path(name) if base is None or Path(name).is_absolute() else Path(base) / name
        if not path.is_file():
            raise PydanticCustomError(
                "profile",
                'no proxy profile "{name}"{hint}: shipped ones are {shipped}, or give the path '
                "of a profile file",
                {
                    "name": name,
                    "hint": _did_you_mean(name, shipped),
                    "shipped": ", ".join(shipped),
                },
            )
        try:
            load_profile(path)
        except ProfileError as error:
            raise PydanticCustomError(
                "profile", "{problems}", {"problems": "; ".join(error.problems)}
            ) from None
        return str(path)

    @model_validator(mode="after")
    def _one_proxy(self) -> Self:
        problems: list[tuple[Loc, str]] = []
        if self.external is not None and self.kamailio is not None:
            problems.append((("kamailio",), "give either external or kamailio, not both"))
        real = "external" if self.external is not None else "kamailio" if self.kamailio else None
        if real is not None:
            for field in ("quirks", "profile"):
                if getattr(self, field):
                    problems.append(
                        (
                            (field,),
                            f"{field} shape the simulated proxy; a real proxy ({real}) behaves "
                            "as it is configured",
                        )
                    )
        if (
            self.kamailio is not None
            and self.kamailio.convention is not None
            and "convention" in self.model_fields_set
            and self.kamailio.convention != self.convention
        ):
            problems.append(
                (
                    ("kamailio", "convention"),
                    f"Kamailio would name the mailbox by {self.kamailio.convention}, the proxy by "
                    f"{self.convention}; give one convention",
                )
            )
        if (
            self.kamailio is not None
            and self.kamailio.convention is None
            and self.convention not in ("x-voicemail", "diversion")
        ):
            problems.append(
                (
                    ("convention",),
                    f"the Kamailio config has no {self.convention} variant "
                    "(it has x-voicemail and diversion)",
                )
            )
        if problems:
            raise _located(problems)
        return self

    @property
    def kind(self) -> Literal["simulator", "kamailio", "external"]:
        """Which kind of proxy the scenario asks for."""
        if self.external is not None:
            return "external"
        return "kamailio" if self.kamailio is not None else "simulator"

    @property
    def effective_convention(self) -> str:
        """How the proxy names the mailbox: Kamailio's variant when it is one, else
        ``convention``."""
        if self.kamailio is not None and self.kamailio.convention is not None:
            return self.kamailio.convention
        return self.convention


class TargetSpec(_Frozen):
    """The voicemail server under test, when it is not the embedded one.

    A foreign server cannot be configured by the harness: its mailboxes, PINs and peers must
    match the scenario's. White-box steps (``expect_spool``) read ``spool`` when given, and
    are skipped otherwise.
    """

    #: ``sip:HOST:PORT`` of a voicemail server the harness does not run.
    external: SipAddress | None = None
    #: The server's spool directory, Asterisk's layout (relative to the scenario file).
    spool: Path | None = None
    #: The embedded server's routing chain, in order (default: the server's own). A server
    #: behind a proxy that names the mailbox only in To must be configured to read it.
    conventions: tuple[Annotated[str, AfterValidator(_convention)], ...] | None = None

    @field_validator("spool")
    @classmethod
    def _resolve_spool(cls, spool: Path | None, info: ValidationInfo) -> Path | None:
        base = info.context.get("base_dir") if isinstance(info.context, dict) else None
        if spool is None or base is None or spool.is_absolute():
            return spool
        return Path(base) / spool


def _check_box(box: str) -> str:
    try:
        return MailboxId(box).box
    except ValueError as error:
        raise PydanticCustomError("box", "{reason}", {"reason": str(error)}) from None


def _check_context(context: str) -> str:
    try:  # MailboxId knows what a context may hold; "0" only stands in for a box
        return MailboxId("0", context).context
    except ValueError as error:
        raise PydanticCustomError("context", "{reason}", {"reason": str(error)}) from None


Box = Annotated[str, AfterValidator(_check_box)]
Context = Annotated[str, AfterValidator(_check_context)]


class MailboxSpec(_Frozen):
    """A mailbox the voicemail server must have."""

    box: Box
    context: Context = DEFAULT_CONTEXT
    pin: Pin
    #: The owner's full name, as voicemail.conf writes it.
    name: str | None = None

    @property
    def id(self) -> MailboxId:
        """This mailbox as ``box@context``."""
        return MailboxId(self.box, self.context)


class MailboxRange(_Frozen):
    """Many mailboxes with one PIN: ``{range: "1000..1019", pin: "1234"}``."""

    range: NumberRange
    context: Context = DEFAULT_CONTEXT
    pin: Pin

    def expand(self) -> tuple[MailboxSpec, ...]:
        """One mailbox per number of the range."""
        return tuple(
            MailboxSpec(box=box, context=self.context, pin=self.pin)
            for box in range_values(self.range)
        )


class PhoneSpec(_Frozen):
    """A simulated phone registered through the proxy."""

    user: User
    #: The mailbox whose lamp this phone shows; None means ``<user>@default`` when that mailbox is
    #: declared, else no mailbox (see :meth:`Scenario.mailbox_of`).
    mailbox: MailboxRef | None = None
    #: How the phone sends keys (sip.conf ``dtmfmode`` of its peer on the voicemail server).
    dtmf: DtmfMode = "rfc2833"
    #: The digest password the phone answers a 401/407 to its REGISTER with.
    password: str | None = None
    #: Whether the phone is registered before the first step (no: only at a ``register`` step).
    registered: bool = True


class PhoneRange(_Frozen):
    """Many phones, one per user of the range: ``{range: "1000..1019"}``.

    Each shows the mailbox of its own number: in ``context`` when given (that mailbox must be
    declared), else ``<user>@default`` when declared.
    """

    range: NumberRange
    context: Context | None = None
    dtmf: DtmfMode = "rfc2833"
    password: str | None = None
    registered: bool = True

    def expand(self) -> tuple[PhoneSpec, ...]:
        """One phone per number of the range."""
        return tuple(
            PhoneSpec(
                user=user,
                mailbox=None if self.context is None else MailboxId(user, self.context),
                dtmf=self.dtmf,
                password=self.password,
                registered=self.registered,
            )
            for user in range_values(self.range)
        )


def _one_or_range(single: type[BaseModel], many: type[BaseModel]) -> BeforeValidator:
    """A list item that is ``single``, or ``many`` when it has a ``range`` key.

    Choosing by the key (rather than trying both) gives the errors of the one meant.
    """

    def validate(value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, single | many):
            return value
        model = many if isinstance(value, dict) and "range" in value else single
        return model.model_validate(value, context=info.context)

    return BeforeValidator(validate)


MailboxEntry = Annotated[MailboxSpec | MailboxRange, _one_or_range(MailboxSpec, MailboxRange)]
PhoneEntry = Annotated[PhoneSpec | PhoneRange, _one_or_range(PhoneSpec, PhoneRange)]


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
    """The phone registers with the proxy (``expires: 0`` removes its binding).

    A 401 or 407 is answered with digest credentials: ``password``, else the phone's own.
    """

    kind: ClassVar[str] = "register"
    phone: User
    password: str | None = None
    expires: int = Field(default=3600, ge=0)
    #: The final response the REGISTER must get (after any digest challenge).
    expect_status: int = Field(default=200, ge=200, le=699)


class SubscribeStep(Step):
    """The phone subscribes to its mailbox's ``message-summary`` through the proxy.

    The NOTIFYs of the subscription light its lamp like unsolicited ones (``expect_notify``).
    """

    kind: ClassVar[str] = "subscribe"
    phone: User
    expires: int = Field(default=3600, ge=1)
    #: The final response the SUBSCRIBE must get.
    expect_status: int = Field(default=200, ge=200, le=699)


class UnsubscribeStep(Step):
    """The phone ends its subscription (a SUBSCRIBE with ``Expires: 0`` in its dialog).

    In YAML: ``- unsubscribe: {phone: "2000"}`` or ``- unsubscribe: "2000"``.
    """

    kind: ClassVar[str] = "unsubscribe"
    phone: User

    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"phone": data} if isinstance(data, str) else data


#: How a depositing caller ends the call: ``bye`` after speaking (the default), ``before-beep``
#: during the greeting (no message is left), ``hash``: press ``#`` after speaking and let the
#: server end the call.
Hangup = Literal["bye", "before-beep", "hash"]


class DepositStep(Step):
    """A caller's call is forwarded by the proxy to the mailbox and leaves a message.

    The message is ``seconds`` of generated audio, or the WAV file ``audio`` (a path relative to
    the scenario file; the loader resolves it and checks it exists). Neither given means 3 s.
    ``keys`` are pressed once the greeting starts (``#`` skips to the beep, ``*`` and ``0``
    leave); ``hangup`` says how the caller ends the call.
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
    hangup: Hangup = "bye"
    #: Keys pressed when the greeting starts.
    keys: Annotated[tuple[DtmfKey, ...], BeforeValidator(_dtmf_keys)] = ()
    #: How the caller sends keys.
    dtmf: DtmfMode = "rfc2833"
    #: Prompt names the caller must hear, in order; None leaves prompts unchecked.
    expect_prompts: tuple[str, ...] | None = None

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
    """White-box: the spool folder of the mailbox must hold ``count`` messages.

    A server files a message as its call ends: the embedded one is waited for until no call
    is in progress, then the folder is looked at until it holds ``count`` or ``within``
    seconds pass.
    """

    kind: ClassVar[str] = "expect_spool"
    mailbox: MailboxRef
    folder: Folder = "INBOX"
    count: int = Field(ge=0)
    #: The ``callerid=`` the newest message of the folder must carry; None leaves it unchecked.
    callerid: str | None = None
    within: Seconds = 5.0


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


class ExpectSipStep(Step):
    """A SIP message must cross ``hop`` within ``within`` seconds, as described.

    ``hop`` is ``"SENDER->RECEIVER"``, each one of ``proxy``, ``voicemail``, ``caller`` (any
    calling phone that is not declared: depositing callers, the PBX's trunk) or a declared phone
    (``"2000"`` or ``"phone 2000"``). A request (of
    ``method``, if given) must cross it carrying ``header`` (equal to ``value``, or containing
    ``contains``; with ``absent: yes``, not carrying it at all), and with ``status`` it must be
    answered with that status (the answer crosses the hop backwards), or a response with that
    status (to ``method``) must cross the hop itself: ``{hop: voicemail->proxy, status: 404}``
    is the server refusing what the proxy sent. Messages an earlier ``expect_sip`` matched are
    not matched again; traffic before the first step is not looked at.
    """

    kind: ClassVar[str] = "expect_sip"
    hop: Annotated[str, AfterValidator(_hop)]
    method: Annotated[str, AfterValidator(_method)] | None = None
    status: int | None = Field(default=None, ge=100, le=699)
    header: Annotated[str, AfterValidator(_header_name)] | None = None
    value: str | None = None
    contains: str | None = None
    absent: bool = False
    within: Seconds = 5.0

    @model_validator(mode="after")
    def _something_to_see(self) -> Self:
        problems: list[tuple[Loc, str]] = []
        if self.method is None and self.status is None and self.header is None:
            problems.append(((), "say what to look for: a method, a status or a header"))
        for field in ("value", "contains"):
            if getattr(self, field) is not None and self.header is None:
                problems.append(((field,), f"{field} goes with header: name the header"))
        if self.value is not None and self.contains is not None:
            problems.append((("contains",), "give either value or contains, not both"))
        if self.absent and self.header is None:
            problems.append((("absent",), "absent says a header is not there: name the header"))
        if self.absent and (self.value is not None or self.contains is not None):
            problems.append((("absent",), "absent: yes checks the header is not there at all"))
        if problems:
            raise _located(problems)
        return self

    @property
    def sender(self) -> str:
        """The hop's sending party, as written."""
        return self.hop.split("->")[0]

    @property
    def receiver(self) -> str:
        """The hop's receiving party, as written."""
        return self.hop.split("->")[1]


class ParallelStep(Step):
    """Steps run at the same time; it passes when every one of them passes.

    In YAML: ``- parallel: [{deposit: {...}}, {deposit: {...}}]``.
    """

    kind: ClassVar[str] = "parallel"
    steps: tuple[AnyStep, ...] = Field(min_length=1)

    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"steps": data} if isinstance(data, list | tuple) else data


def _values(value: Any) -> str | tuple[str, ...]:
    """A range as written, or a list of values as text."""
    if isinstance(value, str):
        return _range(value)
    if isinstance(value, list | tuple) and value:
        if not all(isinstance(item, str | int) and not isinstance(item, bool) for item in value):
            raise PydanticCustomError(
                "values", "over lists values as text or numbers", {"text": str(value)}
            )
        return tuple(str(item) for item in value)
    raise PydanticCustomError(
        "values",
        'over is a range like "1000..1019" or a non-empty list of values',
        {},
    )


class RepeatStep(Step):
    """``steps`` again and again: ``times`` times, or once per value ``over`` a range or list.

    ``as`` names a variable that holds the iteration's value inside ``steps`` (with ``times``:
    1, 2, ...). ``concurrency`` iterations run at once, each one's steps in order (a load).
    The step fails at the first iteration that fails; the rest are not started.
    """

    model_config = ConfigDict(validate_by_name=True)

    kind: ClassVar[str] = "repeat"
    times: int | None = Field(default=None, ge=1, le=MAX_ITERATIONS)
    over: Annotated[str | tuple[str, ...], PlainValidator(_values)] | None = None
    var: VarName | None = Field(default=None, validation_alias="as", serialization_alias="as")
    concurrency: int = Field(default=1, ge=1, le=MAX_ITERATIONS)
    #: The steps as written (``${var}`` not yet filled in); see :attr:`iterations`.
    steps: tuple[Any, ...] = Field(min_length=1)
    _iterations: tuple[tuple[Step, ...], ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _expand(self, info: ValidationInfo) -> Self:
        if (self.times is None) == (self.over is None):
            raise _located(
                [(("times",), "give either times or over (a range or a list of values)")]
            )
        values = self.values
        if len(values) > MAX_ITERATIONS:
            raise _located(
                [(("over",), f"{len(values)} iterations; at most {MAX_ITERATIONS} are allowed")]
            )
        if self.var is None:
            body = _Body.model_validate({"steps": list(self.steps)}, context=info.context).steps
            self._iterations = tuple(body for _ in values)
            return self
        # Each iteration is validated with its value in place, so a value that makes a step
        # wrong (a mailbox not declared) is found here, at the step's own line.
        self._iterations = tuple(
            _Body.model_validate(
                {"steps": substitute(list(self.steps), {self.var: value})}, context=info.context
            ).steps
            for value in values
        )
        return self

    @property
    def values(self) -> tuple[str, ...]:
        """The value of each iteration."""
        if self.over is None:
            return tuple(str(number) for number in range(1, (self.times or 0) + 1))
        return range_values(self.over) if isinstance(self.over, str) else self.over

    @property
    def iterations(self) -> tuple[tuple[Step, ...], ...]:
        """Each iteration's steps, its value filled in."""
        return self._iterations


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
        SubscribeStep,
        UnsubscribeStep,
        ExpectSipStep,
        ParallelStep,
        RepeatStep,
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
    | Annotated[ExpectSmdiStep, Tag(ExpectSmdiStep.kind)]
    | Annotated[SubscribeStep, Tag(SubscribeStep.kind)]
    | Annotated[UnsubscribeStep, Tag(UnsubscribeStep.kind)]
    | Annotated[ExpectSipStep, Tag(ExpectSipStep.kind)]
    | Annotated[ParallelStep, Tag(ParallelStep.kind)]
    | Annotated[RepeatStep, Tag(RepeatStep.kind)],
    Discriminator(_step_tag),
    BeforeValidator(_check_step_shape),
]


class _Body(_Frozen):
    """The steps of one iteration of a ``repeat``, validated where they sit in the file."""

    steps: tuple[AnyStep, ...]


ParallelStep.model_rebuild()


class Scenario(_Frozen):
    """One scenario: a topology and the steps to run against it.

    ``mailboxes`` and ``phones`` are as declared (an entry may be a range); the mailboxes and
    phones they declare, one by one, are :attr:`every_mailbox` and :attr:`every_phone`.
    """

    name: str = Field(min_length=1)
    description: str | None = None
    tags: tuple[str, ...] = ()
    #: Text filled in wherever the scenario writes ``${name}``.
    vars: dict[VarName, str] = Field(default_factory=dict)
    proxy: ProxySpec = Field(default_factory=ProxySpec)
    #: The voicemail server under test when it is not the embedded one.
    target: TargetSpec = Field(default_factory=TargetSpec)
    mailboxes: tuple[MailboxEntry, ...] = Field(min_length=1)
    phones: tuple[PhoneEntry, ...] = ()
    #: A legacy PBX on an SMDI line, for the ``smdi_send``/``expect_lamp``/``expect_smdi`` steps.
    pbx: PbxSpec | None = None
    steps: tuple[AnyStep, ...] = Field(min_length=1)

    _every_mailbox: tuple[MailboxSpec, ...] = PrivateAttr(default=())
    _every_phone: tuple[PhoneSpec, ...] = PrivateAttr(default=())
    # For each of every_mailbox and every_phone, the index of the entry that declared it.
    _mailbox_entry: tuple[int, ...] = PrivateAttr(default=())
    _phone_entry: tuple[int, ...] = PrivateAttr(default=())
    _mailbox_index: dict[MailboxId, MailboxSpec] = PrivateAttr(default_factory=dict)
    _phone_index: dict[str, PhoneSpec] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _fill_variables(cls, data: Any, info: ValidationInfo) -> Any:
        """Fill in ``vars``. Unbound references are errors, or, when the validation context
        has a ``variable_problems`` list, are left as written and listed there (so a loader
        can report them beside the problems they cause)."""
        if not isinstance(data, dict):
            return data
        problems: list[tuple[Loc, str]] = []
        bindings: dict[str, str] = {}
        written = data.get("vars")
        if isinstance(written, dict):
            for name, written_value in written.items():
                value = written_value
                if isinstance(value, int | float) and not isinstance(value, bool):
                    value = str(value)
                if isinstance(name, str) and isinstance(value, str):
                    # A variable may use the ones before it, not itself or later ones.
                    text, found = fill(value, bindings, ("vars", name))
                    problems += found
                    bindings[name] = text
        rest, found = fill({key: value for key, value in data.items() if key != "vars"}, bindings)
        problems += found
        collector = (
            info.context.get("variable_problems") if isinstance(info.context, dict) else None
        )
        if isinstance(collector, list):
            collector += problems
        elif problems:
            raise _located(problems)
        if "vars" in data:
            rest["vars"] = bindings if isinstance(written, dict) else written
        return rest

    @model_validator(mode="after")
    def _expand_and_check(self) -> Self:
        mailboxes: list[MailboxSpec] = []
        mailbox_entry: list[int] = []
        for index, entry in enumerate(self.mailboxes):
            expanded = entry.expand() if isinstance(entry, MailboxRange) else (entry,)
            mailboxes += expanded
            mailbox_entry += [index] * len(expanded)
        phones: list[PhoneSpec] = []
        phone_entry: list[int] = []
        for index, phone_entry_spec in enumerate(self.phones):
            declared = (
                phone_entry_spec.expand()
                if isinstance(phone_entry_spec, PhoneRange)
                else (phone_entry_spec,)
            )
            phones += declared
            phone_entry += [index] * len(declared)
        self._every_mailbox, self._mailbox_entry = tuple(mailboxes), tuple(mailbox_entry)
        self._every_phone, self._phone_entry = tuple(phones), tuple(phone_entry)
        self._mailbox_index = {}
        for mailbox in mailboxes:
            self._mailbox_index.setdefault(mailbox.id, mailbox)
        self._phone_index = {}
        for phone in phones:
            self._phone_index.setdefault(phone.user, phone)
        problems = self.reference_problems()
        if problems:
            raise _located(problems)
        return self

    @property
    def every_mailbox(self) -> tuple[MailboxSpec, ...]:
        """Every mailbox declared, ranges expanded, in declaration order."""
        return self._every_mailbox

    @property
    def every_phone(self) -> tuple[PhoneSpec, ...]:
        """Every phone declared, ranges expanded, in declaration order."""
        return self._every_phone

    def mailbox(self, ref: MailboxId | str) -> MailboxSpec:
        """The declared mailbox ``ref`` names (``box`` or ``box@context``).

        KeyError when none is declared; ValueError when ``ref`` is not a mailbox at all.
        """
        wanted = ref if isinstance(ref, MailboxId) else MailboxId.parse(ref)
        try:
            return self._mailbox_index[wanted]
        except KeyError:
            raise KeyError(str(wanted)) from None

    def phone(self, user: str) -> PhoneSpec:
        """The declared phone registered as ``user``; KeyError if none."""
        return self._phone_index[user]

    def mailbox_of(self, phone: PhoneSpec) -> MailboxSpec | None:
        """The mailbox whose lamp ``phone`` shows: its ``mailbox``, else ``<user>@default``
        when declared, else None."""
        if phone.mailbox is not None:
            return self._mailbox_index[phone.mailbox]
        try:
            implied = MailboxId(phone.user)
        except ValueError:
            return None
        return self._mailbox_index.get(implied)

    def phone_party(self, name: str) -> str | None:
        """The declared phone a hop's party name means (``2000`` or ``phone 2000``), as its
        user; None when ``name`` names no declared phone."""
        user = name.removeprefix("phone ").strip()
        return user if user in self._phone_index else None

    def reference_problems(self) -> list[tuple[Loc, str]]:
        """Duplicate declarations and references to undeclared phones or mailboxes."""
        problems: list[tuple[Loc, str]] = []
        first_mailbox: dict[MailboxId, int] = {}
        for number, mailbox in enumerate(self._every_mailbox):
            index = self._mailbox_entry[number]
            first = first_mailbox.setdefault(mailbox.id, index)
            if first != index:
                field = "range" if isinstance(self.mailboxes[index], MailboxRange) else "box"
                problems.append(
                    (
                        ("mailboxes", index, field),
                        f'mailbox "{mailbox.id}" is already declared at mailboxes[{first}]',
                    )
                )
        first_phone: dict[str, int] = {}
        for number, phone in enumerate(self._every_phone):
            index = self._phone_entry[number]
            first = first_phone.setdefault(phone.user, index)
            if first != index:
                field = "range" if isinstance(self.phones[index], PhoneRange) else "user"
                problems.append(
                    (
                        ("phones", index, field),
                        f'phone "{phone.user}" is already declared at phones[{first}]',
                    )
                )
            if phone.mailbox is not None and phone.mailbox not in self._mailbox_index:
                field = "context" if isinstance(self.phones[index], PhoneRange) else "mailbox"
                problems.append(
                    (
                        ("phones", index, field),
                        _undeclared_mailbox(phone.mailbox, self._mailbox_index),
                    )
                )
        for loc, step, note in walk_steps(self.steps):
            for field, value in _references(step):
                if isinstance(value, MailboxId):
                    if value not in self._mailbox_index:
                        message = _undeclared_mailbox(value, self._mailbox_index)
                        problems.append(((*loc, field), message + note))
                elif value not in self._phone_index:
                    declared = _listed(self._phone_index)
                    problems.append(
                        ((*loc, field), f'no phone "{value}" declared (declared: {declared}){note}')
                    )
            if isinstance(step, ExpectSipStep):
                problems += [
                    ((*loc, "hop"), problem + note) for problem in self._hop_problems(step)
                ]
        problems += self._smdi_problems()
        return _first_per_place(problems)

    def _hop_problems(self, step: ExpectSipStep) -> list[str]:
        problems: list[str] = []
        for name in (step.sender, step.receiver):
            if name not in PARTIES and self.phone_party(name) is None:
                problems.append(
                    f'no party "{name}": a hop names {", ".join(PARTIES)} or a declared phone '
                    f"(declared: {_listed(self._phone_index)})"
                )
        if step.sender == step.receiver:
            problems.append(f'a hop goes from one party to another, not "{step.hop}"')
        return problems

    def _smdi_problems(self) -> list[tuple[Loc, str]]:
        """SMDI steps without a PBX, station maps to undeclared mailboxes, calls without a DID."""
        problems: list[tuple[Loc, str]] = []
        if self.pbx is not None:
            for station, mailbox in self.pbx.stations.items():
                if mailbox not in self._mailbox_index:
                    problems.append(
                        (
                            ("pbx", "stations", station),
                            _undeclared_mailbox(mailbox, self._mailbox_index),
                        )
                    )
        for loc, step, note in walk_steps(self.steps):
            if not isinstance(step, SmdiSendStep | ExpectLampStep | ExpectSmdiStep):
                continue
            if self.pbx is None:
                problems.append((loc, f"{step.kind} needs a pbx: in the topology"))
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
                        (*loc, "call"),
                        "the forwarding station is blank, so the call needs a did: "
                        "(or a pbx search by terminal or desk)" + note,
                    )
                )
        return problems


def walk_steps(
    steps: Iterable[Step], prefix: Loc = ("steps",), note: str = ""
) -> Iterator[tuple[Loc, Step, str]]:
    """Every step that does something, inside ``parallel`` and ``repeat`` too, with its place
    (``("steps", 2, "repeat", "steps", 0, "deposit")``) and, inside a ``repeat`` with a
    variable, a note naming the iteration's value."""
    for index, step in enumerate(steps):
        loc: Loc = (*prefix, index, step.kind)
        if isinstance(step, ParallelStep):
            yield from walk_steps(step.steps, (*loc, "steps"), note)
        elif isinstance(step, RepeatStep):
            if step.var is None:
                # Without a variable every iteration is the same steps.
                yield from walk_steps(step.iterations[0], (*loc, "steps"), note)
                continue
            for value, iteration in zip(step.values, step.iterations, strict=True):
                inner = note + f' (when {step.var} is "{value}")'
                yield from walk_steps(iteration, (*loc, "steps"), inner)
        else:
            yield loc, step, note


def _references(step: Step) -> list[tuple[str, str | MailboxId]]:
    """The fields of ``step`` that name a phone (text) or a mailbox."""
    match step:
        case (
            RegisterStep()
            | ExpectNotifyStep()
            | ExpectNoNotifyStep()
            | RetrieveStep()
            | SubscribeStep()
            | UnsubscribeStep()
        ):
            return [("phone", step.phone)]
        case DepositStep():
            return [("to", step.to)]
        case ExpectSpoolStep():
            return [("mailbox", step.mailbox)]
    return []


def _first_per_place(problems: list[tuple[Loc, str]]) -> list[tuple[Loc, str]]:
    """One problem per place: the first (a repeat's iterations repeat theirs)."""
    seen: dict[Loc, str] = {}
    for loc, message in problems:
        seen.setdefault(loc, message)
    return list(seen.items())


def _listed(names: Iterable[object], most: int = 8) -> str:
    """``names`` for a message: the first ``most``, then how many more."""
    every = [str(name) for name in names]
    if not every:
        return "none"
    shown = ", ".join(every[:most])
    return shown if len(every) <= most else f"{shown} and {len(every) - most} more"


def _undeclared_mailbox(wanted: MailboxId, declared: Iterable[MailboxId]) -> str:
    return f'no mailbox "{wanted}" declared (declared: {_listed(declared)})'
