"""smdi.conf: res_smdi's serial interfaces (``[interfaces]``) and its lamp map (``[mailboxes]``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

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
    INTEGER,
    ErrorsAt,
    Fields,
    first_section,
    to_bool,
    to_choice,
    to_int,
    unique_warnings,
)

__all__ = [
    "SmdiConfig",
    "SmdiInterface",
    "SmdiMapping",
    "load_smdi_conf",
]

_STATION = re.compile(r"[0-9]{1,10}\Z")

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
    interfaces = _smdi_interfaces(first_section(conf, "interfaces", warnings), warnings)
    mailboxes = first_section(conf, "mailboxes", warnings)
    fields = Fields(mailboxes)
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
        unique_warnings(warnings),
        conf.files,
    )


def _smdi_interfaces(section: Section | None, warnings: list[ConfigWarning]) -> list[SmdiInterface]:
    """``[interfaces]``, read top to bottom: settings apply to the smdiport lines below them."""
    interfaces: list[SmdiInterface] = []
    settings = SmdiInterface("")
    unused: Option | None = None  # the first setting no smdiport line has used yet
    for option in () if section is None else section.options:
        name, value = option.key, option.value
        with ErrorsAt(option):
            settings = _with_setting(settings, option, warnings)
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


def _with_setting(
    settings: SmdiInterface, option: Option, warnings: list[ConfigWarning]
) -> SmdiInterface:
    """``settings`` changed by one line of ``[interfaces]`` (unchanged if it sets no setting).

    Raises :class:`~harness.voicemail.conf.values.BadValueError`.
    """
    name, value = option.key, option.value
    if name == "baudrate":
        rate = int(value) if INTEGER.match(value) else 0
        if rate not in _BAUD_RATES:
            warnings.append(
                ConfigWarning.at(
                    option,
                    f"baudrate={value} is not 1200, 2400, 4800 or 9600: "
                    "9600 is used, as in Asterisk",
                )
            )
            rate = 9600
        return replace(settings, baudrate=rate)
    if name == "charsize":
        return replace(settings, charsize=int(to_choice(name, value, ("7", "8"))))
    if name == "paritybit":
        parity = to_choice(name, value, ("even", "odd", "none"))
        return replace(settings, parity=_PARITIES[parity])
    if name == "twostopbits":
        return replace(settings, twostopbits=to_bool(name, value))
    if name == "msdstrip":
        return replace(settings, msdstrip=to_int(name, value, 0, 9))
    if name == "msgexpirytime":
        return replace(settings, msgexpirytime=to_int(name, value, 1))
    return settings
