"""The topology of a scenario: its proxy, target, mailboxes, phones and PBX.

Mailbox references (``phones[].mailbox``) read as Asterisk reads them: ``box@context``, or a
bare ``box`` in the ``default`` context. A mailbox or phone entry with ``range:`` instead of
``box:``/``user:`` declares one per number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from harness.core.mailbox import DEFAULT_CONTEXT, MailboxId
from harness.core.routing import Convention
from harness.media.sounds import PromptChoice
from harness.scenario.fields import (
    FRAMING_RE,
    DtmfMode,
    Frozen,
    MailboxRef,
    NumberRange,
    Pin,
    Seconds,
    SipAddress,
    Station,
    User,
    check_baud,
    check_convention,
    check_framing,
    did_you_mean,
    located,
)
from harness.scenario.variables import Loc, range_values
from harness.sim.profiles import (
    ProfileError,
    QuirkError,
    load_profile,
    parse_quirk,
    shipped_profiles,
)
from harness.smdi.link import SerialSettings
from harness.smdi.lookup_key import check_lookup_key


def _quirk(spec: Any) -> Any:
    """A quirk as a profile writes it: a name, or ``{name: {option: value}}``."""
    if isinstance(spec, str | dict):
        try:
            parse_quirk(spec)
        except QuirkError as error:
            raise located(error.problems) from None
    return spec


#: A quirk of the simulated proxy, with its options if any.
QuirkEntry = Annotated[str | dict[str, Any], BeforeValidator(_quirk)]


class KamailioSpec(Frozen):
    """A Kamailio the harness starts for the run (``fixtures/proxies/kamailio/``)."""

    #: The config variant: how Kamailio names the mailbox (default: the proxy's convention).
    convention: Literal["x-voicemail", "diversion"] | None = None
    #: Seconds a registered phone rings before Kamailio sends the call to voicemail.
    ring: Seconds = 1.0


class ProxySpec(Frozen):
    """The proxy in front of the voicemail server: the simulator (shaped by a profile and
    quirks), a Kamailio the harness runs (``kamailio:``), or a proxy under test (``external:``).
    """

    #: Name of a header convention in :data:`harness.core.routing.CONVENTIONS`.
    convention: Annotated[str, AfterValidator(check_convention)] = "x-voicemail"
    #: Behaviours of real proxies for the simulator to reproduce, on top of the profile's
    #: (:data:`harness.sim.profiles.QUIRKS`): ``[compact-headers, {delay: {seconds: 0.5}}]``.
    quirks: tuple[QuirkEntry, ...] = ()
    #: A shipped proxy profile by name, or a profile file (relative to the scenario file).
    profile: str | None = None
    #: Whether the simulator copies phones' REGISTERs to the voicemail server (None: as the
    #: profile says; off unless it says otherwise, as chan_sip is never sent them).
    replicate_register: bool | None = None
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
                    "hint": did_you_mean(name, shipped),
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
            raise located(problems)
        return self

    @property
    def kind(self) -> Literal["simulator", "kamailio", "external"]:
        """Which kind of proxy the scenario asks for."""
        if self.external is not None:
            return "external"
        return "kamailio" if self.kamailio is not None else "simulator"

    @property
    def effective_convention(self) -> Convention:
        """How the proxy names the mailbox: Kamailio's variant when it is one, else
        ``convention``."""
        if self.kamailio is not None and self.kamailio.convention is not None:
            return Convention(self.kamailio.convention)
        return Convention(self.convention)


def _check_smdi_key(key: str) -> str:
    try:
        check_lookup_key(key)
    except ValueError as error:
        raise PydanticCustomError("smdi_key", "{reason}", {"reason": str(error)}) from None
    return key


class TargetSpec(Frozen):
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
    conventions: tuple[Annotated[str, AfterValidator(check_convention)], ...] | None = None
    #: What the embedded server plays: its generated prompts (fast, the default) or Asterisk's
    #: sound files when installed (Asterisk's timing; generated prompts when they are not).
    prompts: PromptChoice = "generated"
    #: How the embedded server's in-dialog NOTIFYs get their Via branch: ``fresh`` (RFC 3261)
    #: or ``reuse`` (the subscription's first branch for all, as chan_sip does).
    mwi_notify_branch: Literal["fresh", "reuse"] = "fresh"
    #: How the embedded server answers a REGISTER the proxy copies to it: ``accept`` (200 and
    #: the phone's lamp state) or ``challenge`` (401 and nothing, as chan_sip does).
    register_static_peer: Literal["accept", "challenge"] = "accept"
    #: What of a call the server looks its SMDI MD message up by: ``request-uri`` (its user),
    #: ``caller-id`` (the From user) or ``header:NAME`` (a header the PBX sets), as a
    #: dialplan's ``SMDI_MSG_RETRIEVE`` of ``${EXTEN}``, ``${CALLERID(num)}`` or
    #: ``${SIP_HEADER(NAME)}``.
    smdi_key: Annotated[str, AfterValidator(_check_smdi_key)] = "request-uri"
    #: ``sqlite``: the embedded server reads its mailboxes and peers from an SQLite database
    #: (static realtime rows, mapped by extconfig.conf) instead of voicemail.conf and sip.conf.
    realtime: Literal["sqlite"] | None = None

    @model_validator(mode="after")
    def _realtime_is_embedded(self) -> Self:
        if self.realtime is not None and self.external is not None:
            raise PydanticCustomError(
                "realtime",
                "realtime configures the embedded server; an external server ({external}) "
                "reads its own database",
                {"external": self.external},
            )
        return self

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


class MailboxSpec(Frozen):
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


class MailboxRange(Frozen):
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


class PhoneSpec(Frozen):
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


class PhoneRange(Frozen):
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


class PbxSpec(Frozen):
    """A legacy PBX on an SMDI serial line to the voicemail server (a pty pair in the harness).

    The server gets smdi.conf with these line settings and ``smdienable=yes``; the PBX sends its
    calls through the proxy (give the proxy the ``request-uri`` convention so the call carries
    no mailbox header and the server looks the MD message up).
    """

    #: Data bits, parity and stop bits: ``7E1`` (SMDI's usual), ``8N1``…
    framing: Annotated[str, AfterValidator(check_framing)] = "7E1"
    baud: Annotated[int, AfterValidator(check_baud)] = 9600
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
        match = FRAMING_RE.match(self.framing)
        assert match is not None
        bits, parity, stop = match.groups()
        return SerialSettings(
            self.baud,
            int(bits),
            "even" if parity == "E" else "odd" if parity == "O" else "none",
            int(stop),
        )
