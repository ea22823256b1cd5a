"""extconfig.conf: which configuration files come from a database instead of the disk.

Read as Asterisk's ``main/config.c`` reads it. ``[settings]`` holds two kinds of mapping:

- *static* realtime, ``voicemail.conf => sqlite3,asterisk,ast_config``: the whole file is read
  from a table at load (and reload), as if it were on the disk. This server honours static
  mappings for ``voicemail.conf`` and ``sip.conf``.
- *dynamic* realtime, ``sippeers => pgsql,asterisk,sippeers``: Asterisk looks a peer up only
  when it calls or registers. A voicemail server behind a proxy must know every peer before
  it calls, or the peer never gets its message-waiting NOTIFY, so ``sippeers`` (and
  ``sipusers``) mapped dynamically are refused at load with that reason.

The value is ``driver,database[,table]``; the table defaults to the family name, as in Asterisk
(``ast_config`` would be ``voicemail.conf``, which no database accepts, so static mappings
must name one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from harness.voicemail.conf.dialect import ConfigError, ConfigWarning, Option, read_conf
from harness.voicemail.conf.values import unique_warnings

__all__ = [
    "DRIVERS",
    "STATIC_FILES",
    "ExtConfig",
    "Mapping",
    "load_extconfig",
]

Driver = Literal["sqlite3", "pgsql"]
#: The database drivers this server speaks (Asterisk's ``res_config_<driver>`` names).
DRIVERS: tuple[Driver, ...] = ("sqlite3", "pgsql")
#: The files a static mapping may stand in for.
STATIC_FILES = ("voicemail.conf", "sip.conf")
# Dynamic families whose peers would be unknown until they call: no MWI could reach them.
_PEER_FAMILIES = frozenset({"sippeers", "sipusers", "sipregs", "ps_endpoints", "ps_aors"})
_DYNAMIC_REFUSAL = (
    "{family} is mapped for dynamic realtime, which loads a peer only when it calls or "
    "registers; a voicemail server sends MWI to phones through the proxy, so a peer it has not "
    "loaded never gets its message-waiting NOTIFY: map sip.conf statically instead "
    "(sip.conf => {driver},{database},<table>)"
)


@dataclass(frozen=True, slots=True)
class Mapping:
    """One ``name => driver,database,table`` line of ``[settings]``."""

    name: str
    driver: Driver
    database: str
    table: str
    file: str
    line: int

    @property
    def where(self) -> str:
        """The mapping as a place to name in messages: ``driver:database/table``."""
        return f"{self.driver}:{self.database}/{self.table}"


@dataclass(frozen=True, slots=True)
class ExtConfig:
    """The static mappings of extconfig.conf this server uses, by the file they replace."""

    static: MappingProxyType[str, Mapping] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    warnings: tuple[ConfigWarning, ...] = ()
    files: tuple[Path, ...] = ()

    def mapping(self, filename: str) -> Mapping | None:
        """The static mapping standing in for ``filename``, or None when it is read from disk."""
        return self.static.get(filename)


def load_extconfig(path: Path, *, root: Path | None = None) -> ExtConfig:
    """Read extconfig.conf. Raises :class:`ConfigError` for a malformed mapping, an unknown
    driver, or ``sippeers`` mapped for dynamic realtime."""
    conf = read_conf(path, root=root)
    warnings: list[ConfigWarning] = []
    static: dict[str, Mapping] = {}
    for section in conf.instances():
        if section.name.lower() != "settings":
            warnings.append(
                ConfigWarning(
                    section.file,
                    section.line,
                    f"[{section.name}] is not read: mappings go in [settings]",
                )
            )
            continue
        for option in section.options:
            mapping = _mapping(option)
            if mapping.name.endswith(".conf"):
                _static(mapping, option, static, warnings)
            else:
                _dynamic(mapping, option, warnings)
    return ExtConfig(MappingProxyType(static), unique_warnings(warnings), conf.files)


def _mapping(option: Option) -> Mapping:
    parts = [part.strip() for part in option.value.split(",")]
    name = option.name.strip()
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ConfigError.at(option, f"{name} => {option.value}: expected driver,database[,table]")
    if len(parts) > 3:
        raise ConfigError.at(
            option,
            f"{name} => {option.value}: expected driver,database[,table] "
            "(failover to a second database is not supported)",
        )
    driver = parts[0].lower()
    if driver not in DRIVERS:
        raise ConfigError.at(
            option,
            f"{name} => {option.value}: driver {parts[0]!r} is not one of {', '.join(DRIVERS)}",
        )
    table = parts[2] if len(parts) == 3 and parts[2] else name
    return Mapping(name, driver, parts[1], table, option.file, option.line)


def _static(
    mapping: Mapping, option: Option, static: dict[str, Mapping], warnings: list[ConfigWarning]
) -> None:
    filename = mapping.name.lower()
    if filename not in STATIC_FILES:
        warnings.append(
            ConfigWarning.at(
                option,
                f"{mapping.name} is not read by this server: only "
                f"{' and '.join(STATIC_FILES)} may come from a database",
            )
        )
        return
    if mapping.table == mapping.name:
        raise ConfigError.at(option, f"{mapping.name} => {option.value}: name the table")
    if filename in static:
        first = static[filename]
        raise ConfigError.at(
            option, f"{mapping.name} is already mapped at {first.file}:{first.line}"
        )
    static[filename] = mapping


def _dynamic(mapping: Mapping, option: Option, warnings: list[ConfigWarning]) -> None:
    family = mapping.name.lower()
    if family in _PEER_FAMILIES:
        raise ConfigError.at(
            option,
            _DYNAMIC_REFUSAL.format(
                family=mapping.name, driver=mapping.driver, database=mapping.database
            ),
        )
    warnings.append(
        ConfigWarning.at(
            option,
            f"{mapping.name} is mapped for dynamic realtime, which this server does not use: "
            "it loads everything at start and on reload (map voicemail.conf or sip.conf)",
        )
    )
