"""The standalone server's configuration: ``voicemail.conf``, ``sip.conf`` and ``smdi.conf``.

Each file is read with the Asterisk dialect of :mod:`harness.voicemail.conffile` and turned into
frozen settings carrying Asterisk's defaults. Where Asterisk quietly falls back to a default on a
bad value (``maxmsg=abc`` makes a greetings-only mailbox) this raises :class:`ConfigError` naming
file and line; what works but is probably a mistake comes back as :class:`ConfigWarning` values
on the result, never printed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Literal, overload

from harness.core.mailbox import MailboxId
from harness.voicemail.conffile import (
    ConfFile,
    ConfigError,
    ConfigWarning,
    Option,
    Section,
    read_conf,
)

__all__ = [
    "DEFAULT_SMDI_PORT",
    "DEFAULT_USERAGENT",
    "MAX_MESSAGES",
    "ConfigError",
    "ConfigWarning",
    "MailboxConfig",
    "ServerConfig",
    "SipConfig",
    "SipGeneral",
    "SipPeer",
    "SmdiConfig",
    "SmdiInterface",
    "SmdiMapping",
    "VoicemailConfig",
    "VoicemailGeneral",
    "ZoneMessage",
    "load_config",
    "load_sip_conf",
    "load_smdi_conf",
    "load_voicemail_conf",
]

#: Most messages one folder can hold: msg0000 … msg9999 (app_voicemail's MAXMSGLIMIT).
MAX_MESSAGES = 9999
#: The SMDI port app_voicemail uses when ``smdienable=yes`` names none.
DEFAULT_SMDI_PORT = "/dev/ttyS0"
#: ``User-Agent`` of the server's SIP requests unless sip.conf sets ``useragent``.
DEFAULT_USERAGENT = "vmharness"

_INTEGER = re.compile(r"[+-]?[0-9]+\Z")
_DTMF = re.compile(r"[0-9*#A-Da-d]+\Z")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?\Z")
_HOST_AND_PORT = re.compile(r"(.+):([0-9]+)\Z")
_STATION = re.compile(r"[0-9]{1,10}\Z")
_TRUE = frozenset({"yes", "true", "y", "t", "1", "on"})
_FALSE = frozenset({"no", "false", "n", "f", "0", "off"})


def _no_text() -> Mapping[str, str]:
    return MappingProxyType({})


def _no_options() -> Mapping[str, Option]:
    return MappingProxyType({})


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


class _BadValueError(ValueError):
    """A value of the wrong type; :class:`_At` adds file and line."""


class _At:
    """Turns a :class:`_BadValueError` raised inside the block into a ConfigError at ``option``."""

    def __init__(self, option: Option, prefix: str = "") -> None:
        self.option = option
        self.prefix = prefix

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(error, _BadValueError):
            raise ConfigError.at(self.option, f"{self.prefix}{error}") from None


def _to_bool(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise _BadValueError(f"{name}={value}: expected yes or no")


def _to_int(name: str, value: str, minimum: int = 0, maximum: int | None = None) -> int:
    if not _INTEGER.match(value.strip()):
        raise _BadValueError(f"{name}={value}: not a whole number")
    number = int(value)
    if number < minimum:
        raise _BadValueError(f"{name}={value}: less than {minimum}")
    if maximum is not None and number > maximum:
        raise _BadValueError(f"{name}={value}: more than {maximum}")
    return number


def _to_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    word = value.strip().lower()
    if word not in choices:
        raise _BadValueError(f"{name}={value}: expected {', '.join(choices[:-1])} or {choices[-1]}")
    return word


class _Fields:
    """Typed reads of one section's effective options, errors located at the option's line."""

    def __init__(self, section: Section | None) -> None:
        self.section = section

    def option(self, *names: str) -> Option | None:
        """The effective option among ``names`` (aliases of one setting): the last written."""
        if self.section is None:
            return None
        keys = {name.lower() for name in names}
        return next((o for o in reversed(self.section.options) if o.key in keys), None)

    def text(self, name: str) -> str | None:
        option = self.option(name)
        return None if option is None or not option.value else option.value

    def flag(self, name: str, default: bool) -> bool:
        option = self.option(name)
        if option is None:
            return default
        with _At(option):
            return _to_bool(option.name, option.value)

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        option = self.option(name)
        if option is None:
            return default
        with _At(option):
            return _to_int(option.name, option.value, minimum, maximum)

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        option = self.option(name)
        if option is None:
            return default
        with _At(option):
            return _to_choice(option.name, option.value, choices)

    def all_options(self) -> Mapping[str, Option]:
        if self.section is None:
            return _no_options()
        return MappingProxyType({option.key: option for option in self.section.options})


def _first_section(conf: ConfFile, name: str, warnings: list[ConfigWarning]) -> Section | None:
    """The first ``[name]``; later ones are ignored with a warning, as Asterisk reads only it."""
    found = conf.sections_named(name)
    for again in found[1:]:
        warnings.append(
            ConfigWarning(
                again.file,
                again.line,
                f"[{again.name}] appears again (first at {found[0].file}:{found[0].line}): "
                f"only the first is read, as in Asterisk; write [{again.name}](+) to add to it",
            )
        )
    return found[0] if found else None


def _unknown(options: Iterable[Option], known: frozenset[str], where: str) -> list[ConfigWarning]:
    return [
        ConfigWarning.at(option, f"unknown option '{option.name}' in {where}: ignored")
        for option in options
        if option.key not in known
    ]


def _unique(warnings: Iterable[ConfigWarning]) -> tuple[ConfigWarning, ...]:
    """Warnings without repeats: an inherited template line is met once per section using it."""
    return tuple(dict.fromkeys(warnings))


# --------------------------------------------------------------------------- voicemail.conf

# What app_voicemail reads but this server does not act on (email, IMAP/ODBC storage, ADSI…):
# accepted without a warning so a real Asterisk voicemail.conf loads cleanly.
_VM_GENERAL_ACCEPTED = _words(
    """
    attach attachfmt attachextrecs serveremail mailcmd emailsubject emailbody pagersubject
    pagerbody fromstring pagerfromstring emaildateformat pagerdateformat charset pbxskip adsifdn
    adsisec adsiver usedirectory directoryintro userscontext externpass externpassnotify
    externpasscheck volgain cidinternalcontexts forward_urgent_auto odbcstorage odbctable
    odbc_audio_on_disk imapserver imapport imapflags imapfolder imapparentfolder imapgreetings
    greetingfolder greetingsfolder imap_poll_logout imapreadtimeout imapwritetimeout
    imapopentimeout imapclosetimeout authuser authpassword expungeonhangup tps_queue_high
    tps_queue_low leaveurgent hidefromdir language
    """
)
_PROMPTS = (
    "vm-login",
    "vm-newuser",
    "vm-password",
    "vm-newpassword",
    "vm-invalid-password",
    "vm-passchanged",
    "vm-reenterpassword",
    "vm-mismatch",
    "vm-pls-try-again",
    "vm-prepend-timeout",
)
_LISTEN_KEYS = {
    "listen-control-forward-key": "#",
    "listen-control-reverse-key": "*",
    "listen-control-pause-key": "0",
    "listen-control-restart-key": "2",
    "listen-control-stop-key": "13456789",
}
_VM_INT_SETTINGS = {
    "maxmsg": (0, MAX_MESSAGES),
    "maxsecs": (0, None),
    "minsecs": (0, None),
    "saydurationm": (0, None),
}
_VM_BOOL_SETTINGS = _words(
    """
    moveheard envelope sayduration saycid review operator sendvoicemail nextaftercmd
    messagewrap forcename forcegreetings tempgreetwarn
    """
)
_VM_TEXT_SETTINGS = frozenset({"tz", "locale", "exitcontext", "callback", "dialout"})
_VM_GENERAL_KNOWN = (
    _VM_GENERAL_ACCEPTED
    | frozenset(_VM_INT_SETTINGS)
    | _VM_BOOL_SETTINGS
    | _VM_TEXT_SETTINGS
    | frozenset(_PROMPTS)
    | frozenset(_LISTEN_KEYS)
    | _words(
        """
        format maxmessage minmessage maxsilence silencethreshold maxgreet maxlogins minpassword
        skipms backupdeleted searchcontexts passwordlocation externnotify smdienable smdiport
        pollmailboxes pollfreq aliasescontext
        """
    )
)
# Per-mailbox options app_voicemail's apply_option() knows that this server does not act on.
_VM_BOX_ACCEPTED = _words(
    """
    attach attachfmt attachextrecs serveremail fromstring emailbody emailsubject language delete
    deletevoicemail volgain hidefromdir alias imapuser imapserver imapport imapflags imappassword
    imapsecret imapfolder imapvmshareid
    """
)
# File formats Asterisk can record voicemail in (format_* modules).
_AUDIO_FORMATS = _words(
    """
    wav wav16 wav49 gsm ulaw alaw pcm ul al mu au g722 g723 g723sf g726-16 g726-24 g726-32
    g726-40 g729 ilbc siren7 siren14 sln slin sln12 sln16 sln24 sln32 sln44 sln48 sln96 sln192
    vox ogg_vorbis ogg_speex ogg_opus mp3
    """
)

IntSetting = Literal["maxmsg", "maxsecs", "minsecs", "saydurationm", "backupdeleted"]
BoolSetting = Literal[
    "moveheard",
    "envelope",
    "sayduration",
    "saycid",
    "review",
    "operator",
    "sendvoicemail",
    "nextaftercmd",
    "messagewrap",
    "forcename",
    "forcegreetings",
    "tempgreetwarn",
]
TextSetting = Literal["tz", "locale", "exitcontext", "callback", "dialout"]


@dataclass(frozen=True, slots=True)
class VoicemailGeneral:
    """``[general]`` of voicemail.conf, with app_voicemail's defaults.

    Times are in seconds except ``skipms``; ``0`` means "no limit" for ``maxsecs``,
    ``maxgreet`` and ``maxsilence`` (silence detection off). ``options`` holds every option
    written in ``[general]`` (lower-case name → the line that takes effect), including those
    the server does not act on.
    """

    format: tuple[str, ...] = ("wav",)
    maxmsg: int = 100
    maxsecs: int = 0
    minsecs: int = 0
    maxsilence: int = 0
    silencethreshold: int = 128
    maxgreet: int = 0
    maxlogins: int = 3
    minpassword: int = 0
    skipms: int = 3000
    saydurationm: int = 2
    backupdeleted: int = 0
    moveheard: bool = True
    envelope: bool = True
    sayduration: bool = True
    saycid: bool = False
    review: bool = False
    operator: bool = False
    sendvoicemail: bool = False
    nextaftercmd: bool = False
    messagewrap: bool = False
    forcename: bool = False
    forcegreetings: bool = False
    tempgreetwarn: bool = False
    searchcontexts: bool = False
    passwordlocation: Literal["voicemailconf", "spooldir"] = "voicemailconf"
    tz: str | None = None
    locale: str | None = None
    exitcontext: str | None = None
    callback: str | None = None
    dialout: str | None = None
    externnotify: str | None = None
    smdienable: bool = False
    smdiport: str | None = None
    pollmailboxes: bool = False
    pollfreq: int = 30
    aliasescontext: str | None = None
    listen_control_forward_key: str = "#"
    listen_control_reverse_key: str = "*"
    listen_control_pause_key: str = "0"
    listen_control_restart_key: str = "2"
    listen_control_stop_key: str = "13456789"
    prompts: Mapping[str, str] = field(default_factory=_no_text, hash=False)
    options: Mapping[str, Option] = field(default_factory=_no_options, hash=False, repr=False)

    def prompt(self, name: str) -> str:
        """The sound file played for prompt ``name`` (``vm-login`` …), as configured."""
        return self.prompts.get(name, name)


_GENERAL_DEFAULTS = VoicemailGeneral()


@dataclass(frozen=True, slots=True)
class MailboxConfig:
    """One ``box => pin,full name,email,pager,opt=val|opt=val`` line of a voicemail context.

    ``options`` holds the per-box options as written (lower-case names); ``overrides`` the
    typed ones that replace a ``[general]`` setting, read through :meth:`effective`.
    """

    box: str
    context: str = "default"
    pin: str = ""
    full_name: str = ""
    email: str = ""
    pager: str = ""
    options: Mapping[str, str] = field(default_factory=_no_text, hash=False)
    overrides: Mapping[str, int | bool | str] = field(default_factory=_no_text, hash=False)
    general: VoicemailGeneral = field(
        default_factory=VoicemailGeneral, compare=False, repr=False, hash=False
    )
    file: str = ""
    line: int = 0

    @property
    def mailbox(self) -> MailboxId:
        """This mailbox's identity, ``box@context``."""
        return MailboxId(self.box, self.context)

    @property
    def login_pin(self) -> str | None:
        """The PIN to ask for at login, or None when none is asked (empty, or just ``-``).

        A leading ``-`` marks a PIN its owner may not change; it is not part of the PIN.
        """
        pin = self.pin.removeprefix("-")
        return pin or None

    @property
    def pin_changeable(self) -> bool:
        """Whether the owner may change the PIN from the mailbox options menu."""
        return not self.pin.startswith("-")

    @overload
    def effective(self, option: IntSetting) -> int: ...
    @overload
    def effective(self, option: BoolSetting) -> bool: ...
    @overload
    def effective(self, option: TextSetting) -> str | None: ...
    @overload
    def effective(self, option: Literal["passwordlocation"]) -> str: ...

    def effective(self, option: str) -> int | bool | str | None:
        """The value of a setting for this mailbox: its own override, else ``[general]``'s."""
        if option in self.overrides:
            return self.overrides[option]
        value: int | bool | str | None = getattr(self.general, option)
        return value


@dataclass(frozen=True, slots=True)
class ZoneMessage:
    """A ``[zonemessages]`` entry: ``name = timezone|how the envelope says the time``."""

    name: str
    timezone: str
    format: str
    file: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class VoicemailConfig:
    """voicemail.conf: general settings, mailboxes by identity, zones and aliases."""

    general: VoicemailGeneral = field(default_factory=VoicemailGeneral)
    mailboxes: Mapping[MailboxId, MailboxConfig] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    zones: Mapping[str, ZoneMessage] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    aliases: Mapping[MailboxId, MailboxId] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    warnings: tuple[ConfigWarning, ...] = ()
    files: tuple[Path, ...] = ()

    def mailbox(self, mailbox: MailboxId) -> MailboxConfig | None:
        """The mailbox ``box@context``, or None when voicemail.conf does not define it."""
        return self.mailboxes.get(mailbox)

    @property
    def contexts(self) -> tuple[str, ...]:
        """The voicemail contexts that hold mailboxes, in file order."""
        return tuple(dict.fromkeys(config.context for config in self.mailboxes.values()))


def load_voicemail_conf(path: Path, *, root: Path | None = None) -> VoicemailConfig:
    """Read voicemail.conf (and its includes). Raises :class:`ConfigError`."""
    return _voicemail(read_conf(path, root=root))


def _voicemail(conf: ConfFile) -> VoicemailConfig:
    warnings: list[ConfigWarning] = []
    general = _vm_general(_first_section(conf, "general", warnings), warnings)
    zones = _zones(_first_section(conf, "zonemessages", warnings))
    aliases: dict[MailboxId, tuple[MailboxId, Option]] = {}
    if general.aliasescontext is not None:
        alias_section = conf.section(general.aliasescontext)
        if alias_section is None:
            where = general.options["aliasescontext"]
            warnings.append(
                ConfigWarning.at(where, f"aliasescontext={where.value} names no section")
            )
        else:
            aliases = _aliases(alias_section)
    special = {"general", "zonemessages", (general.aliasescontext or "general").lower()}
    mailboxes: dict[MailboxId, MailboxConfig] = {}
    first_line: dict[str, Option] = {}  # box → its first line, when searchcontexts=yes
    for section in conf.instances():
        if section.name.lower() in special:
            continue
        for option in section.options:
            if option.key == "directoryintro":  # app_directory's per-context prompt, not a box
                continue
            config = _mailbox(option, section.name, general, warnings)
            earlier = mailboxes.get(config.mailbox) or (
                first_line.get(config.box) if general.searchcontexts else None
            )
            if earlier is not None:
                warnings.append(
                    ConfigWarning.at(
                        option,
                        f"mailbox {config.mailbox} is already defined at "
                        f"{earlier.file}:{earlier.line}: this line is ignored, as in Asterisk",
                    )
                )
                continue
            mailboxes[config.mailbox] = config
            first_line.setdefault(config.box, option)
    for config in mailboxes.values():
        tz = config.effective("tz")
        if tz is not None and tz not in zones and "tz" in config.overrides:
            warnings.append(
                ConfigWarning(
                    config.file,
                    config.line,
                    f"mailbox {config.mailbox}: tz={tz} is not in [zonemessages]",
                )
            )
    if general.tz is not None and general.tz not in zones:
        where = general.options["tz"]
        warnings.append(ConfigWarning.at(where, f"tz={general.tz} is not in [zonemessages]"))
    for alias, (target, option) in aliases.items():
        if target not in mailboxes:
            warnings.append(
                ConfigWarning.at(option, f"alias {alias} points to {target}, which is not defined")
            )
    return VoicemailConfig(
        general,
        MappingProxyType(mailboxes),
        MappingProxyType(zones),
        MappingProxyType({alias: target for alias, (target, _) in aliases.items()}),
        _unique(warnings),
        conf.files,
    )


def _vm_general(section: Section | None, warnings: list[ConfigWarning]) -> VoicemailGeneral:
    fields = _Fields(section)
    if section is not None:
        warnings.extend(_unknown(section.options, _VM_GENERAL_KNOWN, "[general]"))
    defaults = _GENERAL_DEFAULTS
    format_option = fields.option("format")
    backup = fields.option("backupdeleted")
    location = fields.option("passwordlocation")
    general = VoicemailGeneral(
        format=defaults.format if format_option is None else _formats(format_option, warnings),
        maxmsg=fields.integer("maxmsg", defaults.maxmsg, 0, MAX_MESSAGES),
        maxsecs=fields.integer(_renamed(fields, "maxsecs", warnings), defaults.maxsecs),
        minsecs=fields.integer(_renamed(fields, "minsecs", warnings), defaults.minsecs),
        maxsilence=fields.integer("maxsilence", defaults.maxsilence),
        silencethreshold=fields.integer("silencethreshold", defaults.silencethreshold),
        maxgreet=fields.integer("maxgreet", defaults.maxgreet),
        maxlogins=fields.integer("maxlogins", defaults.maxlogins, minimum=1),
        minpassword=fields.integer("minpassword", defaults.minpassword),
        skipms=fields.integer("skipms", defaults.skipms),
        saydurationm=fields.integer("saydurationm", defaults.saydurationm),
        backupdeleted=defaults.backupdeleted if backup is None else _backupdeleted_at(backup),
        moveheard=fields.flag("moveheard", defaults.moveheard),
        envelope=fields.flag("envelope", defaults.envelope),
        sayduration=fields.flag("sayduration", defaults.sayduration),
        saycid=fields.flag("saycid", defaults.saycid),
        review=fields.flag("review", defaults.review),
        operator=fields.flag("operator", defaults.operator),
        sendvoicemail=fields.flag("sendvoicemail", defaults.sendvoicemail),
        nextaftercmd=fields.flag("nextaftercmd", defaults.nextaftercmd),
        messagewrap=fields.flag("messagewrap", defaults.messagewrap),
        forcename=fields.flag("forcename", defaults.forcename),
        forcegreetings=fields.flag("forcegreetings", defaults.forcegreetings),
        tempgreetwarn=fields.flag("tempgreetwarn", defaults.tempgreetwarn),
        searchcontexts=fields.flag("searchcontexts", defaults.searchcontexts),
        passwordlocation=(
            defaults.passwordlocation if location is None else _password_location_at(location)
        ),
        tz=fields.text("tz"),
        locale=fields.text("locale"),
        exitcontext=fields.text("exitcontext"),
        callback=fields.text("callback"),
        dialout=fields.text("dialout"),
        externnotify=fields.text("externnotify"),
        smdienable=fields.flag("smdienable", defaults.smdienable),
        smdiport=fields.text("smdiport"),
        pollmailboxes=fields.flag("pollmailboxes", defaults.pollmailboxes),
        pollfreq=fields.integer("pollfreq", defaults.pollfreq, minimum=1),
        aliasescontext=fields.text("aliasescontext"),
        listen_control_forward_key=_keys(fields, "listen-control-forward-key", "#"),
        listen_control_reverse_key=_keys(fields, "listen-control-reverse-key", "*"),
        listen_control_pause_key=_keys(fields, "listen-control-pause-key", "0"),
        listen_control_restart_key=_keys(fields, "listen-control-restart-key", "2"),
        listen_control_stop_key=_keys(fields, "listen-control-stop-key", "13456789"),
        prompts=MappingProxyType(
            {name: text for name in _PROMPTS if (text := fields.text(name)) is not None}
        ),
        options=fields.all_options(),
    )
    minsecs = fields.option("minsecs", "minmessage")
    if minsecs is not None and 0 < general.minsecs <= general.maxsilence:
        warnings.append(
            ConfigWarning.at(
                minsecs,
                f"maxsilence ({general.maxsilence} s) should be less than minsecs "
                f"({general.minsecs} s), or a silent caller leaves an empty message",
            )
        )
    return general


def _renamed(fields: _Fields, name: str, warnings: list[ConfigWarning]) -> str:
    """``maxsecs``/``minsecs`` were ``maxmessage``/``minmessage`` before Asterisk 1.8."""
    old = {"maxsecs": "maxmessage", "minsecs": "minmessage"}[name]
    option = fields.option(old)
    if option is None or fields.option(name) is not None:
        return name
    warnings.append(ConfigWarning.at(option, f"'{old}' is the old name of '{name}'"))
    return old


def _keys(fields: _Fields, name: str, default: str) -> str:
    option = fields.option(name)
    if option is None:
        return default
    if not _DTMF.match(option.value):
        raise ConfigError.at(option, f"{option.name}={option.value}: not DTMF keys (0-9*#A-D)")
    return option.value


def _formats(option: Option, warnings: list[ConfigWarning]) -> tuple[str, ...]:
    names = [name.strip() for name in option.value.split("|")]
    if not all(names):
        raise ConfigError.at(option, f"format={option.value}: empty format name")
    for name in names:
        if name not in _AUDIO_FORMATS:
            warnings.append(ConfigWarning.at(option, f"format '{name}' is not an audio format"))
    return tuple(dict.fromkeys(names))


def _backupdeleted(value: str) -> int:
    word = value.strip().lower()
    if word in _TRUE:
        return 100
    if word in _FALSE:
        return 0
    return _to_int("backupdeleted", value, 0, MAX_MESSAGES)


def _backupdeleted_at(option: Option) -> int:
    with _At(option):
        return _backupdeleted(option.value)


def _password_location(value: str) -> Literal["voicemailconf", "spooldir"]:
    word = value.strip().lower()
    if word == "spooldir":
        return "spooldir"
    if word in ("voicemail.conf", "voicemailconf"):
        return "voicemailconf"
    raise _BadValueError(f"passwordlocation={value}: expected voicemail.conf or spooldir")


def _password_location_at(option: Option) -> Literal["voicemailconf", "spooldir"]:
    with _At(option):
        return _password_location(option.value)


def _zones(section: Section | None) -> dict[str, ZoneMessage]:
    zones: dict[str, ZoneMessage] = {}
    for option in () if section is None else section.options:
        parts = re.split(r"[|,]", option.value, maxsplit=1)
        if len(parts) < 2 or not parts[0].strip():
            raise ConfigError.at(
                option,
                f"zone {option.name}={option.value}: expected timezone|format, "
                "e.g. America/New_York|'vm-received' Q 'digits/at' IMp",
            )
        zones[option.name] = ZoneMessage(
            option.name, parts[0].strip(), parts[1].strip(), option.file, option.line
        )
    return zones


def _aliases(section: Section) -> dict[MailboxId, tuple[MailboxId, Option]]:
    """``alias => mailbox`` lines: each alias with its target and the line that set it."""
    aliases: dict[MailboxId, tuple[MailboxId, Option]] = {}
    for option in section.options:
        try:
            aliases[MailboxId.parse(option.name)] = (MailboxId.parse(option.value), option)
        except ValueError as error:
            raise ConfigError.at(option, f"alias in [{section.name}]: {error}") from None
    return aliases


def _mailbox(
    option: Option, context: str, general: VoicemailGeneral, warnings: list[ConfigWarning]
) -> MailboxConfig:
    try:
        mailbox = MailboxId(option.name, context)
    except ValueError as error:
        raise ConfigError.at(option, f"mailbox line in [{context}]: {error}") from None
    parts = [part.strip() for part in option.value.split(",", 4)]
    pin, full_name, email, pager, rest = parts + [""] * (5 - len(parts))
    prefix = f"mailbox {mailbox}: "
    options: dict[str, str] = {}
    overrides: dict[str, int | bool | str] = {}
    for item in rest.split("|"):
        if not item.strip():
            continue
        name, equals, value = item.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not equals or not name:
            warnings.append(
                ConfigWarning.at(option, f"{prefix}option {item.strip()!r} is not name=value")
            )
            continue
        options[name] = value
        with _At(option, prefix):
            typed = _box_option(name, value)
        if typed is None:
            if name not in _VM_BOX_ACCEPTED:
                warnings.append(ConfigWarning.at(option, f"{prefix}unknown option '{name}'"))
            continue
        if name == "maxmessage":
            warnings.append(
                ConfigWarning.at(option, f"{prefix}'maxmessage' is the old name of 'maxsecs'")
            )
        setting, setting_value = typed
        if setting == "maxsecs" and setting_value == 0:
            warnings.append(
                ConfigWarning.at(
                    option,
                    f"{prefix}{name}=0 does not lift the limit for one mailbox: "
                    "the [general] value applies, as in Asterisk",
                )
            )
            continue
        overrides[setting] = setting_value
    return MailboxConfig(
        mailbox.box,
        mailbox.context,
        pin,
        full_name,
        email,
        pager,
        MappingProxyType(options),
        MappingProxyType(overrides),
        general,
        option.file,
        option.line,
    )


def _box_option(name: str, value: str) -> tuple[str, int | bool | str] | None:
    """The setting a per-box option overrides and its typed value, or None if it overrides none."""
    if name == "maxmessage":
        name = "maxsecs"
    if name in _VM_INT_SETTINGS:
        minimum, maximum = _VM_INT_SETTINGS[name]
        return name, _to_int(name, value, minimum, maximum)
    if name == "backupdeleted":
        return name, _backupdeleted(value)
    if name in _VM_BOOL_SETTINGS:
        return name, _to_bool(name, value)
    if name == "passwordlocation":
        return name, _password_location(value)
    if name in _VM_TEXT_SETTINGS:
        return name, value
    return None


# --------------------------------------------------------------------------- sip.conf

_TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")
_DTMF_MODES = ("rfc2833", "info", "shortinfo", "inband", "auto")
_PEER_TYPES = ("peer", "friend", "user")
_SIP_NOT_PEERS = frozenset({"general", "authentication"})
# chan_sip options this server does not act on, accepted so a real sip.conf loads cleanly.
_SIP_COMMON_ACCEPTED = _words(
    """
    allow disallow allowoverlap allowtransfer autoframing callerid canreinvite compactheaders
    directmedia directrtpsetup encryption avpf force_avp icesupport faxdetect fromdomainport
    g726nonstandard ignoresdpversion insecure language maxcallbitrate maxforwards mohinterpret
    mohsuggest nat outboundproxy parkinglot preferred_codec_only progressinband promiscredir
    qualify qualifyfreq keepalive relaxdtmf rfc2833compensate rpid_immediate rpid_update
    rtp_engine rtpholdtimeout rtpkeepalive rtptimeout sdpowner sdpsession send_diversion sendrpid
    session-expires session-minse session-refresher session-timers snom_aoc_enabled t38pt_udptl
    t38pt_usertpsource textsupport timerb timert1 tonezone trustrpid use_q850_reason usereqphone
    videosupport permit deny acl contactpermit contactdeny contactacl accountcode amaflags
    callgroup pickupgroup namedcallgroup namedpickupgroup setvar callcounter busylevel call-limit
    outofcall_message_context allowsubscribe notifymimetype dtlsenable dtlsverify dtlsrekey
    dtlscertfile dtlsprivatekey dtlscipher dtlscafile dtlscapath dtlssetup dtlsfingerprint
    cc_agent_policy cc_monitor_policy cc_offer_timer ccnr_available_timer ccbs_available_timer
    cc_recall_timer cc_max_agents cc_max_monitors cc_callback_macro cc_callback_sub
    cc_agent_dialstring
    """
)
_SIP_GENERAL_KNOWN = _SIP_COMMON_ACCEPTED | _words(
    """
    context bindaddr udpbindaddr bindport realm useragent vmexten mwi_from fromdomain buggymwi
    dtmfmode transport subscribecontext defaultexpiry minexpiry maxexpiry subminexpiry
    submaxexpiry allowguest match_auth_username domainsasrealm recordonfeature recordofffeature
    rtpbindaddr disallowed_methods tcpenable tcpbindaddr tlsenable tlsbindaddr tcpauthtimeout
    tcpauthlimit websocket_enabled websocket_write_timeout srvlookup pedantic tos_sip tos_audio
    tos_video tos_text cos_sip cos_audio cos_video cos_text mwiexpiry qualifygap qualifypeers
    alwaysauthreject auth_options_requests accept_outofcall_message auth_message_requests
    matchexternaddrlocally dynamic_exclude_static rtsavepath notifyringing notifyhold notifycid
    t1min registertimeout registerattempts register callevents authfailureevents externip
    externaddr externhost externrefresh externtcpport externtlsport localnet media_address
    stunaddr jbenable jbforce jbmaxsize jbresyncthreshold jbimpl jblog jbtargetextra tlscertfile
    tlsprivatekey tlscipher tlscafile tlscapath tlsverifyclient tlsdontverifyserver
    tlsclientmethod hash_user hash_peer hash_dialog regcontext regextenonqualify
    legacy_useroption_parsing shrinkcallerid storesipcause autocreatepeer rtcachefriends
    rtsavesysname rtupdate rtautoclear ignoreregexpire domain autodomain allowexternaldomains
    sipdebug recordhistory dumphistory limitonpeers fromuser prematuremedia
    subscribe_network_change_event
    """
)
_SIP_PEER_KNOWN = _SIP_COMMON_ACCEPTED | _words(
    """
    type host port defaultuser username mailbox context subscribecontext vmexten mwi_from
    fromuser fromdomain subscribemwi buggymwi dtmfmode transport secret md5secret remotesecret
    defaultip fullname cid_number trunkname directmediapermit directmediadeny directmediaacl
    regexten description unsolicited_mailbox hasvoicemail auth useclientcode constantssrc
    discard_remote_hold_retrieval callbackextension
    """
)


@dataclass(frozen=True, slots=True)
class SipGeneral:
    """``[general]`` of sip.conf: the server's own SIP settings and the defaults of every peer."""

    context: str = "default"
    bindaddr: str = "0.0.0.0"
    bindport: int = 5060
    realm: str = "asterisk"
    useragent: str = DEFAULT_USERAGENT
    vmexten: str = "asterisk"
    mwi_from: str | None = None
    fromdomain: str | None = None
    buggymwi: bool = False
    dtmfmode: str = "rfc2833"
    transport: tuple[str, ...] = ("udp",)
    subscribecontext: str | None = None
    allowsubscribe: bool = True
    notifymimetype: str = "application/simple-message-summary"
    defaultexpiry: int = 120
    minexpiry: int = 60
    maxexpiry: int = 3600
    subminexpiry: int = 60
    submaxexpiry: int = 3600
    #: RFC 3261 T1 in milliseconds; retransmission and transaction timeouts scale with it.
    timert1: int = 500
    options: Mapping[str, Option] = field(default_factory=_no_options, hash=False, repr=False)


_SIP_DEFAULTS = SipGeneral()


@dataclass(frozen=True, slots=True)
class SipPeer:
    """A sip.conf peer (templates and ``[general]`` defaults applied).

    In the standalone layout ``host`` is the proxy and ``defaultuser`` the phone's user, so an
    unsolicited NOTIFY for ``mailboxes`` goes to ``sip:<defaultuser>@<host>:<port>`` and the
    proxy relays it. ``options`` holds every option that took effect, with its file and line.
    """

    name: str
    type: str = "peer"
    host: str | None = None
    port: int = 5060
    defaultuser: str | None = None
    mailboxes: tuple[MailboxId, ...] = ()
    context: str = "default"
    subscribecontext: str | None = None
    vmexten: str = "asterisk"
    mwi_from: str | None = None
    fromuser: str | None = None
    fromdomain: str | None = None
    subscribemwi: bool = False
    buggymwi: bool = False
    dtmfmode: str = "rfc2833"
    transport: tuple[str, ...] = ("udp",)
    secret: str | None = None
    options: Mapping[str, Option] = field(default_factory=_no_options, hash=False, repr=False)
    file: str = ""
    line: int = 0

    @property
    def dynamic(self) -> bool:
        """Whether the peer's address is learned from REGISTER (``host=dynamic``)."""
        return self.host == "dynamic"

    @property
    def gets_mwi(self) -> bool:
        """Whether chan_sip would send this peer MWI: a peer or friend with mailboxes."""
        return self.type != "user" and bool(self.mailboxes)


@dataclass(frozen=True, slots=True)
class SipConfig:
    """sip.conf: general settings and peers, in file order."""

    general: SipGeneral = field(default_factory=SipGeneral)
    peers: tuple[SipPeer, ...] = ()
    warnings: tuple[ConfigWarning, ...] = ()
    files: tuple[Path, ...] = ()

    def peer(self, name: str) -> SipPeer | None:
        """The peer called ``name``."""
        return next((peer for peer in self.peers if peer.name == name), None)

    def peers_for(self, *mailboxes: MailboxId) -> list[SipPeer]:
        """The peers that get MWI for any of ``mailboxes`` (their ``mailbox=`` names one)."""
        wanted = set(mailboxes)
        return [p for p in self.peers if p.gets_mwi and wanted.intersection(p.mailboxes)]


def load_sip_conf(path: Path, *, root: Path | None = None) -> SipConfig:
    """Read sip.conf (and its includes). Raises :class:`ConfigError`."""
    return _sip(read_conf(path, root=root))


def _sip(conf: ConfFile) -> SipConfig:
    warnings: list[ConfigWarning] = []
    general_section = _first_section(conf, "general", warnings)
    if general_section is not None:
        warnings.extend(_unknown(general_section.options, _SIP_GENERAL_KNOWN, "[general]"))
    general = _sip_general(general_section)
    for section in conf.sections:
        if section.name.lower() not in _SIP_NOT_PEERS:
            where = f"[{section.name}]"
            warnings.extend(_unknown(section.own_options(), _SIP_PEER_KNOWN, where))
    groups: dict[str, list[Section]] = {}
    for section in conf.instances():
        if section.name.lower() not in _SIP_NOT_PEERS:
            groups.setdefault(section.name.lower(), []).append(section)
    peers: list[SipPeer] = []
    for sections in groups.values():
        first = sections[0]
        for again in sections[1:]:
            warnings.append(
                ConfigWarning(
                    again.file,
                    again.line,
                    f"peer [{again.name}] is defined again (first at {first.file}:{first.line}): "
                    "its options are added to the first, as chan_sip does",
                )
            )
        options = tuple(option for section in sections for option in section.options)
        peer = _peer(Section(first.name, first.file, first.line, options), general, warnings)
        if peer is not None:
            peers.append(peer)
    return SipConfig(general, tuple(peers), _unique(warnings), conf.files)


def _sip_general(section: Section | None) -> SipGeneral:
    fields = _Fields(section)
    defaults = _SIP_DEFAULTS
    bindaddr, bindport = defaults.bindaddr, fields.integer("bindport", defaults.bindport, 1, 65535)
    bind = fields.option("bindaddr", "udpbindaddr")
    if bind is not None:
        bindaddr, port = _bind_address(bind)
        bindport = bindport if port is None else port
    transport = fields.option("transport")
    return SipGeneral(
        context=fields.text("context") or defaults.context,
        bindaddr=bindaddr,
        bindport=bindport,
        realm=fields.text("realm") or defaults.realm,
        useragent=fields.text("useragent") or defaults.useragent,
        vmexten=fields.text("vmexten") or defaults.vmexten,
        mwi_from=fields.text("mwi_from"),
        fromdomain=fields.text("fromdomain"),
        buggymwi=fields.flag("buggymwi", defaults.buggymwi),
        dtmfmode=fields.choice("dtmfmode", defaults.dtmfmode, _DTMF_MODES),
        transport=defaults.transport if transport is None else _transports(transport),
        subscribecontext=fields.text("subscribecontext"),
        allowsubscribe=fields.flag("allowsubscribe", defaults.allowsubscribe),
        notifymimetype=fields.text("notifymimetype") or defaults.notifymimetype,
        defaultexpiry=fields.integer("defaultexpiry", defaults.defaultexpiry, 1),
        minexpiry=fields.integer("minexpiry", defaults.minexpiry, 1),
        maxexpiry=fields.integer("maxexpiry", defaults.maxexpiry, 1),
        subminexpiry=fields.integer("subminexpiry", defaults.subminexpiry, 1),
        submaxexpiry=fields.integer("submaxexpiry", defaults.submaxexpiry, 1),
        timert1=fields.integer("timert1", defaults.timert1, 1),
        options=fields.all_options(),
    )


def _bind_address(option: Option) -> tuple[str, int | None]:
    """``bindaddr=`` as address and optional port: ``0.0.0.0``, ``::``, ``[::1]:5062``…"""
    text = option.value.strip()
    address, port = text, None
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ConfigError.at(option, f"bindaddr={text}: expected [address]:port")
            with _At(option):
                port = _to_int("port", rest[1:], 1, 65535)
    elif text.count(":") == 1:
        address, port_text = text.split(":")
        with _At(option):
            port = _to_int("port", port_text, 1, 65535)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError.at(option, f"bindaddr={text}: not an IP address") from None
    return address, port


def _transports(option: Option) -> tuple[str, ...]:
    names = [name.strip().lower() for name in option.value.split(",")]
    for name in names:
        if name not in _TRANSPORTS:
            raise ConfigError.at(
                option, f"transport={option.value}: '{name}' is not one of {', '.join(_TRANSPORTS)}"
            )
    return tuple(dict.fromkeys(names))


def _host(option: Option) -> str:
    text = option.value.strip()
    if text.lower() == "dynamic":
        return "dynamic"
    bare = text.removeprefix("[").removesuffix("]")
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        pass
    else:
        return bare  # IPv6 without brackets: whoever builds a URI adds them
    if _HOSTNAME.match(text):
        return text
    with_port = _HOST_AND_PORT.match(text)
    if with_port is not None:
        raise ConfigError.at(
            option,
            f"host={text}: host= takes no port; "
            f"write host={with_port.group(1)} and port={with_port.group(2)}",
        )
    raise ConfigError.at(option, f"host={text}: not a host name, an IP address or 'dynamic'")


def _peer(section: Section, general: SipGeneral, warnings: list[ConfigWarning]) -> SipPeer | None:
    fields = _Fields(section)
    name = section.name
    type_option = fields.option("type")
    if type_option is None:
        warnings.append(
            ConfigWarning(
                section.file,
                section.line,
                f"[{name}] has no type= and is ignored, as chan_sip does "
                "(write type=peer, or type=friend)",
            )
        )
        return None
    peer_type = fields.choice("type", "peer", _PEER_TYPES)
    transport_option = fields.option("transport")
    transport = general.transport if transport_option is None else _transports(transport_option)
    host_option = fields.option("host")
    host = None if host_option is None or not host_option.value else _host(host_option)
    user_option = fields.option("defaultuser", "username")
    mailboxes: list[MailboxId] = []
    for option in section.get_all("mailbox"):
        for item in option.value.split(","):
            if not item.strip():
                continue
            if "@" not in item:
                warnings.append(
                    ConfigWarning.at(
                        option,
                        f"mailbox {item.strip()} has no @context: 'default' is assumed "
                        "(app_voicemail boxes must be written with @context)",
                    )
                )
            try:
                mailbox = MailboxId.parse(item)
            except ValueError as error:
                raise ConfigError.at(option, f"mailbox= of [{name}]: {error}") from None
            if mailbox not in mailboxes:
                mailboxes.append(mailbox)
    peer = SipPeer(
        name=name,
        type=peer_type,
        host=host,
        port=fields.integer("port", 5061 if transport[0] == "tls" else 5060, 1, 65535),
        defaultuser=None if user_option is None or not user_option.value else user_option.value,
        mailboxes=tuple(mailboxes),
        context=fields.text("context") or general.context,
        subscribecontext=fields.text("subscribecontext") or general.subscribecontext,
        vmexten=fields.text("vmexten") or general.vmexten,
        mwi_from=fields.text("mwi_from") or general.mwi_from,
        fromuser=fields.text("fromuser"),
        fromdomain=fields.text("fromdomain") or general.fromdomain,
        subscribemwi=fields.flag("subscribemwi", False),
        buggymwi=fields.flag("buggymwi", general.buggymwi),
        dtmfmode=fields.choice("dtmfmode", general.dtmfmode, _DTMF_MODES),
        transport=transport,
        secret=fields.text("secret"),
        options=fields.all_options(),
        file=section.file,
        line=section.line,
    )
    warnings.extend(_peer_warnings(peer, type_option, host_option))
    return peer


def _peer_warnings(
    peer: SipPeer, type_option: Option, host_option: Option | None
) -> list[ConfigWarning]:
    """What keeps a peer with mailboxes from getting its NOTIFYs through the proxy."""
    if not peer.mailboxes:
        return []
    if peer.type == "user":
        return [
            ConfigWarning.at(
                type_option,
                "type=user gets no MWI NOTIFY (chan_sip sends MWI to peers only): "
                "write type=peer or type=friend",
            )
        ]
    if host_option is not None and peer.dynamic:
        return [
            ConfigWarning.at(
                host_option,
                "a dynamic peer gets no unsolicited MWI until it registers; "
                "the standalone layout wants host= the proxy",
            )
        ]
    where = (peer.file, peer.line)
    if peer.host is None:
        return [
            ConfigWarning(
                *where, f"peer [{peer.name}] has mailbox= but no host=: its NOTIFYs go nowhere"
            )
        ]
    if peer.defaultuser is None:
        return [
            ConfigWarning(
                *where,
                f"peer [{peer.name}] has mailbox= but no defaultuser=: its NOTIFYs would go to "
                f"sip:{peer.host} with no user part, which the proxy cannot route to a phone",
            )
        ]
    return []


# --------------------------------------------------------------------------- smdi.conf

_BAUD_RATES = (1200, 2400, 4800, 9600)
_PARITIES: Mapping[str, Literal["even", "odd", "none"]] = {
    "even": "even",
    "odd": "odd",
    "none": "none",
}
_SMDI_SETTINGS = frozenset(
    {"baudrate", "charsize", "paritybit", "twostopbits", "msdstrip", "msgexpirytime"}
)


@dataclass(frozen=True, slots=True)
class SmdiInterface:
    """One ``smdiport`` of ``[interfaces]``: a serial device and its line settings.

    ``msdstrip`` leading digits are dropped from incoming station numbers and as many zeros
    prepended to outgoing ones; MD messages older than ``msgexpirytime`` ms are discarded.
    """

    port: str
    baudrate: int = 9600
    charsize: int = 7
    parity: Literal["even", "odd", "none"] = "even"
    twostopbits: bool = False
    msdstrip: int = 0
    msgexpirytime: int = 30000
    file: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class SmdiMapping:
    """A ``[mailboxes]`` line: the lamp of SMDI ``station`` on ``port`` shows ``mailbox``."""

    station: str
    mailbox: MailboxId
    port: str
    file: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class SmdiConfig:
    """smdi.conf: the serial interfaces and res_smdi's own lamp poller (``[mailboxes]``)."""

    interfaces: tuple[SmdiInterface, ...] = ()
    mappings: tuple[SmdiMapping, ...] = ()
    pollinginterval: int = 10
    warnings: tuple[ConfigWarning, ...] = ()
    files: tuple[Path, ...] = ()

    def interface(self, port: str) -> SmdiInterface | None:
        """The interface on device ``port``."""
        return next((iface for iface in self.interfaces if iface.port == port), None)


def load_smdi_conf(path: Path, *, root: Path | None = None) -> SmdiConfig:
    """Read smdi.conf (and its includes). Raises :class:`ConfigError`."""
    return _smdi(read_conf(path, root=root))


def _smdi(conf: ConfFile) -> SmdiConfig:
    warnings: list[ConfigWarning] = []
    for section in conf.instances():
        if section.name.lower() not in ("interfaces", "mailboxes"):
            warnings.append(
                ConfigWarning(
                    section.file,
                    section.line,
                    f"unknown section [{section.name}] (smdi.conf has [interfaces] and "
                    "[mailboxes]): ignored",
                )
            )
    interfaces = _smdi_interfaces(_first_section(conf, "interfaces", warnings), warnings)
    mailboxes = _first_section(conf, "mailboxes", warnings)
    fields = _Fields(mailboxes)
    mappings: list[SmdiMapping] = []
    current: SmdiInterface | None = None
    after_bad_port = False
    for option in () if mailboxes is None else mailboxes.options:
        if option.key == "smdiport":
            current = next((i for i in interfaces if i.port == option.value), None)
            after_bad_port = current is None
            if current is None:
                warnings.append(
                    ConfigWarning.at(
                        option,
                        f"smdiport={option.value} is not an interface of [interfaces]: "
                        "the mappings below it are ignored",
                    )
                )
        elif option.key == "pollinginterval":
            continue
        elif current is None:
            if not after_bad_port:
                warnings.append(
                    ConfigWarning.at(
                        option,
                        f"mapping {option.name}={option.value} is ignored: "
                        "no smdiport= line above it selects an interface",
                    )
                )
        else:
            if not _STATION.match(option.name):
                warnings.append(
                    ConfigWarning.at(option, f"SMDI station '{option.name}' is not 1 to 10 digits")
                )
            try:
                mailbox = MailboxId.parse(option.value)
            except ValueError as error:
                raise ConfigError.at(option, f"station {option.name}: {error}") from None
            mappings.append(
                SmdiMapping(option.name, mailbox, current.port, option.file, option.line)
            )
    return SmdiConfig(
        tuple(interfaces),
        tuple(mappings),
        fields.integer("pollinginterval", 10, minimum=1),
        _unique(warnings),
        conf.files,
    )


def _smdi_interfaces(section: Section | None, warnings: list[ConfigWarning]) -> list[SmdiInterface]:
    """``[interfaces]``, read top to bottom: settings apply to the smdiport lines below them."""
    interfaces: list[SmdiInterface] = []
    settings = SmdiInterface("")
    unused: Option | None = None  # the first setting no smdiport line has used yet
    for option in () if section is None else section.options:
        name, value = option.key, option.value
        with _At(option):
            if name == "baudrate":
                rate = int(value) if _INTEGER.match(value) else 0
                if rate not in _BAUD_RATES:
                    warnings.append(
                        ConfigWarning.at(
                            option,
                            f"baudrate={value} is not 1200, 2400, 4800 or 9600: "
                            "9600 is used, as in Asterisk",
                        )
                    )
                    rate = 9600
                settings = replace(settings, baudrate=rate)
            elif name == "charsize":
                settings = replace(settings, charsize=int(_to_choice(name, value, ("7", "8"))))
            elif name == "paritybit":
                parity = _to_choice(name, value, ("even", "odd", "none"))
                settings = replace(settings, parity=_PARITIES[parity])
            elif name == "twostopbits":
                settings = replace(settings, twostopbits=_to_bool(name, value))
            elif name == "msdstrip":
                settings = replace(settings, msdstrip=_to_int(name, value, 0, 9))
            elif name == "msgexpirytime":
                settings = replace(settings, msgexpirytime=_to_int(name, value, 1))
        if name in _SMDI_SETTINGS:
            unused = unused or option
        elif name == "smdiport":
            unused = None
            if not value:
                raise ConfigError.at(option, "smdiport= needs a device path")
            first = next((i for i in interfaces if i.port == value), None)
            if first is not None:
                warnings.append(
                    ConfigWarning.at(
                        option,
                        f"smdiport={value} is already defined at {first.file}:{first.line}: "
                        "this line is ignored",
                    )
                )
                continue
            interfaces.append(replace(settings, port=value, file=option.file, line=option.line))
        else:
            warnings.append(
                ConfigWarning.at(option, f"unknown option '{option.name}' in [interfaces]: ignored")
            )
    if unused is not None:
        warnings.append(
            ConfigWarning.at(
                unused,
                f"{unused.name}= applies to no interface: settings in [interfaces] apply to "
                "the smdiport= lines below them",
            )
        )
    return interfaces


# --------------------------------------------------------------------------- the server


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything the standalone server reads from its configuration directory.

    ``smdi_notify`` is the interface app_voicemail-style lamp commands go out on: set when
    ``smdienable=yes`` and smdi.conf defines the port, else None. ``warnings`` gathers those of
    every file plus the cross-checks between them.
    """

    directory: Path
    voicemail: VoicemailConfig = field(default_factory=VoicemailConfig)
    sip: SipConfig = field(default_factory=SipConfig)
    smdi: SmdiConfig | None = None
    smdi_notify: SmdiInterface | None = None
    warnings: tuple[ConfigWarning, ...] = ()

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file read, includes too (what a reload watches)."""
        smdi_files = () if self.smdi is None else self.smdi.files
        return (*self.voicemail.files, *self.sip.files, *smdi_files)

    def mailbox(self, mailbox: MailboxId) -> MailboxConfig | None:
        """The mailbox ``box@context`` of voicemail.conf, or None."""
        return self.voicemail.mailbox(mailbox)

    def peers_for(self, mailbox: MailboxId) -> list[SipPeer]:
        """The peers to NOTIFY when ``mailbox`` changes: those whose ``mailbox=`` names it or
        one of its aliases (``aliasescontext``), as Asterisk republishes MWI for aliases."""
        aliases = [alias for alias, target in self.voicemail.aliases.items() if target == mailbox]
        return self.sip.peers_for(mailbox, *aliases)


def load_config(directory: Path) -> ServerConfig:
    """Read ``voicemail.conf`` (required), ``sip.conf`` and ``smdi.conf`` (optional) from
    ``directory`` and cross-check them. Raises :class:`ConfigError`."""
    if not directory.is_dir():
        raise ConfigError(str(directory), None, "configuration directory not found")
    voicemail_path = directory / "voicemail.conf"
    if not voicemail_path.exists():
        raise ConfigError("voicemail.conf", None, f"not found in {directory}; the server needs it")
    voicemail = load_voicemail_conf(voicemail_path, root=directory)
    sip_path, smdi_path = directory / "sip.conf", directory / "smdi.conf"
    sip = load_sip_conf(sip_path, root=directory) if sip_path.exists() else SipConfig()
    smdi = load_smdi_conf(smdi_path, root=directory) if smdi_path.exists() else None
    warnings = [*voicemail.warnings, *sip.warnings, *(() if smdi is None else smdi.warnings)]
    known = set(voicemail.mailboxes) | set(voicemail.aliases)
    for peer in sip.peers:
        for mailbox in peer.mailboxes:
            if mailbox not in known:
                warnings.append(
                    ConfigWarning(
                        peer.file,
                        peer.line,
                        f"peer [{peer.name}] names mailbox {mailbox}, "
                        "which voicemail.conf does not define",
                    )
                )
    for mapping in () if smdi is None else smdi.mappings:
        if mapping.mailbox not in known:
            warnings.append(
                ConfigWarning(
                    mapping.file,
                    mapping.line,
                    f"station {mapping.station} shows mailbox {mapping.mailbox}, "
                    "which voicemail.conf does not define",
                )
            )
    general = voicemail.general
    smdi_notify = None
    if general.smdienable:
        port = general.smdiport or DEFAULT_SMDI_PORT
        smdi_notify = None if smdi is None else smdi.interface(port)
        if smdi_notify is None:
            where = general.options.get("smdiport") or general.options["smdienable"]
            missing = (
                f"there is no smdi.conf to define interface {port}"
                if smdi is None
                else f"smdi.conf defines no interface {port}"
            )
            warnings.append(
                ConfigWarning.at(
                    where,
                    f"smdienable=yes but {missing}: SMDI lamp notification is disabled "
                    "(Asterisk logs an error and does the same)",
                )
            )
    return ServerConfig(directory, voicemail, sip, smdi, smdi_notify, _unique(warnings))
