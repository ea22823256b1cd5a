"""voicemail.conf: ``[general]``, mailbox lines per context, ``[zonemessages]`` and aliases.

Read as app_voicemail reads it, with its defaults. Where Asterisk quietly falls back to a default
on a bad value (``maxmsg=abc`` makes a greetings-only mailbox) this raises
:class:`~harness.voicemail.conf.dialect.ConfigError` naming file and line; what works but is
probably a mistake comes back as warnings on the result, never printed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, overload

from harness.core.mailbox import MailboxId
from harness.voicemail.conf.dialect import (
    ConfFile,
    ConfigError,
    ConfigWarning,
    Option,
    Section,
    read_conf,
)
from harness.voicemail.conf.values import (
    FALSE_WORDS,
    TRUE_WORDS,
    BadValueError,
    ErrorsAt,
    Fields,
    first_section,
    no_options,
    no_text,
    to_bool,
    to_int,
    unique_warnings,
    unknown_options,
    words,
)

__all__ = [
    "MAX_MESSAGES",
    "MailboxConfig",
    "VoicemailConfig",
    "VoicemailGeneral",
    "ZoneMessage",
    "load_voicemail_conf",
    "voicemail_from_conf",
]

#: Most messages one folder can hold: msg0000 … msg9999 (app_voicemail's MAXMSGLIMIT).
MAX_MESSAGES = 9999

_DTMF = re.compile(r"[0-9*#A-Da-d]+\Z")

# What app_voicemail reads but this server does not act on (email, IMAP/ODBC storage, ADSI…):
# accepted without a warning so a real Asterisk voicemail.conf loads cleanly.
_VM_GENERAL_ACCEPTED = words(
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
_VM_BOOL_SETTINGS = words(
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
    | words(
        """
        format maxmessage minmessage maxsilence silencethreshold maxgreet maxlogins minpassword
        skipms backupdeleted searchcontexts passwordlocation externnotify smdienable smdiport
        smdi_lookup_key pollmailboxes pollfreq aliasescontext lockoutlogins lockoutsecs
        allowemptypin
        """
    )
)
# Per-mailbox options app_voicemail's apply_option() knows that this server does not act on.
_VM_BOX_ACCEPTED = words(
    """
    attach attachfmt attachextrecs serveremail fromstring emailbody emailsubject language delete
    deletevoicemail volgain hidefromdir alias imapuser imapserver imapport imapflags imappassword
    imapsecret imapfolder imapvmshareid
    """
)
# File formats Asterisk can record voicemail in (format_* modules).
_AUDIO_FORMATS = words(
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
    #: Failed logins of one mailbox, over every call, that lock it for ``lockoutsecs`` (0: never).
    lockoutlogins: int = 10
    lockoutsecs: int = 300
    #: Whether a mailbox line with no PIN may load (anyone then gets into its menu).
    allowemptypin: bool = False
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
    #: The embedded server's own option: what of a call it looks its MD message up by:
    #: ``request-uri`` (its user), ``caller-id`` (the From user, as a dialplan's
    #: ``SMDI_MSG_RETRIEVE(port,${CALLERID(num)})``) or ``header:NAME`` (``${SIP_HEADER(NAME)}``).
    smdi_lookup_key: str = "request-uri"
    pollmailboxes: bool = False
    pollfreq: int = 30
    aliasescontext: str | None = None
    listen_control_forward_key: str = "#"
    listen_control_reverse_key: str = "*"
    listen_control_pause_key: str = "0"
    listen_control_restart_key: str = "2"
    listen_control_stop_key: str = "13456789"
    prompts: Mapping[str, str] = field(default_factory=no_text, hash=False)
    options: Mapping[str, Option] = field(default_factory=no_options, hash=False, repr=False)

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
    options: Mapping[str, str] = field(default_factory=no_text, hash=False)
    overrides: Mapping[str, int | bool | str] = field(default_factory=no_text, hash=False)
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


def voicemail_from_conf(conf: ConfFile) -> VoicemailConfig:
    """voicemail.conf from sections already read (from a database, say)."""
    return _voicemail(conf)


def _voicemail(conf: ConfFile) -> VoicemailConfig:
    warnings: list[ConfigWarning] = []
    general = _vm_general(first_section(conf, "general", warnings), warnings)
    zones = _zones(first_section(conf, "zonemessages", warnings))
    aliases = _alias_section(conf, general, warnings)
    mailboxes = _mailboxes(conf, general, warnings)
    warnings.extend(_zone_warnings(general, mailboxes, zones))
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
        unique_warnings(warnings),
        conf.files,
    )


def _alias_section(
    conf: ConfFile, general: VoicemailGeneral, warnings: list[ConfigWarning]
) -> dict[MailboxId, tuple[MailboxId, Option]]:
    """The aliases of the section ``aliasescontext`` names, if it names one."""
    if general.aliasescontext is None:
        return {}
    alias_section = conf.section(general.aliasescontext)
    if alias_section is None:
        where = general.options["aliasescontext"]
        warnings.append(ConfigWarning.at(where, f"aliasescontext={where.value} names no section"))
        return {}
    return _aliases(alias_section)


def _mailboxes(
    conf: ConfFile, general: VoicemailGeneral, warnings: list[ConfigWarning]
) -> dict[MailboxId, MailboxConfig]:
    """The mailbox lines of every context section; a repeated mailbox keeps its first line."""
    special = {"general", "zonemessages", (general.aliasescontext or "general").lower()}
    mailboxes: dict[MailboxId, MailboxConfig] = {}
    first_line: dict[str, Option] = {}  # box → its first line, when searchcontexts=yes
    for section in conf.instances():
        if section.name.lower() in special:
            continue
        for option in section.options:
            if option.key == "directoryintro":  # app_directory's per-context prompt, not a box
                continue
            if "@" in option.name:
                warnings.append(_alias_outside_aliases(option, section.name))
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
    return mailboxes


def _zone_warnings(
    general: VoicemailGeneral,
    mailboxes: Mapping[MailboxId, MailboxConfig],
    zones: Mapping[str, ZoneMessage],
) -> list[ConfigWarning]:
    """A ``tz=`` naming no ``[zonemessages]`` entry, per mailbox and in ``[general]``."""
    warnings: list[ConfigWarning] = []
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
    return warnings


def _vm_general(section: Section | None, warnings: list[ConfigWarning]) -> VoicemailGeneral:
    fields = Fields(section)
    if section is not None:
        warnings.extend(unknown_options(section.options, _VM_GENERAL_KNOWN, "[general]"))
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
        lockoutlogins=fields.integer("lockoutlogins", defaults.lockoutlogins),
        lockoutsecs=fields.integer("lockoutsecs", defaults.lockoutsecs, minimum=1),
        allowemptypin=fields.flag("allowemptypin", defaults.allowemptypin),
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
        smdi_lookup_key=_smdi_lookup_key(fields, defaults.smdi_lookup_key),
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


def _renamed(fields: Fields, name: str, warnings: list[ConfigWarning]) -> str:
    """``maxsecs``/``minsecs`` were ``maxmessage``/``minmessage`` before Asterisk 1.8."""
    old = {"maxsecs": "maxmessage", "minsecs": "minmessage"}[name]
    option = fields.option(old)
    if option is None or fields.option(name) is not None:
        return name
    warnings.append(ConfigWarning.at(option, f"'{old}' is the old name of '{name}'"))
    return old


def _smdi_lookup_key(fields: Fields, default: str) -> str:
    option = fields.option("smdi_lookup_key")
    if option is None:
        return default
    value = option.value.strip()
    header = value[len("header:") :].strip() if value.lower().startswith("header:") else None
    if value.lower() in ("request-uri", "caller-id"):
        return value.lower()
    if header:
        return f"header:{header}"
    raise ConfigError.at(
        option, f"smdi_lookup_key={option.value}: expected request-uri, caller-id or header:NAME"
    )


def _keys(fields: Fields, name: str, default: str) -> str:
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
    if word in TRUE_WORDS:
        return 100
    if word in FALSE_WORDS:
        return 0
    return to_int("backupdeleted", value, 0, MAX_MESSAGES)


def _backupdeleted_at(option: Option) -> int:
    with ErrorsAt(option):
        return _backupdeleted(option.value)


def _password_location(value: str) -> Literal["voicemailconf", "spooldir"]:
    word = value.strip().lower()
    if word == "spooldir":
        return "spooldir"
    if word in ("voicemail.conf", "voicemailconf"):
        return "voicemailconf"
    raise BadValueError(f"passwordlocation={value}: expected voicemail.conf or spooldir")


def _password_location_at(option: Option) -> Literal["voicemailconf", "spooldir"]:
    with ErrorsAt(option):
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


def _alias_outside_aliases(option: Option, context: str) -> ConfigWarning:
    """An ``alias => mailbox`` line in a section ``aliasescontext`` does not name, as in
    Asterisk's own ``voicemail.conf.sample`` (its ``[myaliases]``, with the option commented
    out): Asterisk makes a mailbox of it that no caller reaches, so it is left out here."""
    return ConfigWarning.at(
        option,
        f"{option.name} => {option.value} in [{context}] is an alias line, but aliasescontext "
        f"does not name [{context}]: ignored (set aliasescontext={context} to use it)",
    )


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
        with ErrorsAt(option, prefix):
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
        return name, to_int(name, value, minimum, maximum)
    if name == "backupdeleted":
        return name, _backupdeleted(value)
    if name in _VM_BOOL_SETTINGS:
        return name, to_bool(name, value)
    if name == "passwordlocation":
        return name, _password_location(value)
    if name in _VM_TEXT_SETTINGS:
        return name, value
    return None
