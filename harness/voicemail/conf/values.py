"""Typed reads of settings from dialect sections, as app_voicemail, chan_sip and res_smdi read them.

Booleans, whole numbers and choices are parsed strictly: a value of the wrong type raises
:class:`~harness.voicemail.conf.dialect.ConfigError` naming the option's file and line. The
warnings every file shares (a repeated section, an unknown option) are built here too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType, TracebackType

from harness.voicemail.conf.dialect import ConfFile, ConfigError, ConfigWarning, Option, Section

__all__ = [
    "FALSE_WORDS",
    "INTEGER",
    "TRUE_WORDS",
    "BadValueError",
    "ErrorsAt",
    "Fields",
    "first_section",
    "no_options",
    "no_text",
    "to_bool",
    "to_choice",
    "to_int",
    "unique_warnings",
    "unknown_options",
    "words",
]

#: A whole number as the files write it, sign allowed.
INTEGER = re.compile(r"[+-]?[0-9]+\Z")
#: The words Asterisk's ``ast_true`` takes for yes …
TRUE_WORDS = frozenset({"yes", "true", "y", "t", "1", "on"})
#: … and ``ast_false`` for no.
FALSE_WORDS = frozenset({"no", "false", "n", "f", "0", "off"})


def no_text() -> Mapping[str, str]:
    """An empty read-only mapping of names to text (a dataclass field default)."""
    return MappingProxyType({})


def no_options() -> Mapping[str, Option]:
    """An empty read-only mapping of names to options (a dataclass field default)."""
    return MappingProxyType({})


def words(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text``: how option-name lists are written."""
    return frozenset(text.split())


class BadValueError(ValueError):
    """A value of the wrong type; :class:`ErrorsAt` adds file and line."""


class ErrorsAt:
    """Turns a :class:`BadValueError` raised inside the block into a ConfigError at ``option``."""

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
        if isinstance(error, BadValueError):
            raise ConfigError.at(self.option, f"{self.prefix}{error}") from None


def to_bool(name: str, value: str) -> bool:
    """``value`` of option ``name`` as yes or no. Raises :class:`BadValueError`."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise BadValueError(f"{name}={value}: expected yes or no")


def to_int(name: str, value: str, minimum: int = 0, maximum: int | None = None) -> int:
    """``value`` of option ``name`` as a whole number in bounds. Raises :class:`BadValueError`."""
    if not INTEGER.match(value.strip()):
        raise BadValueError(f"{name}={value}: not a whole number")
    number = int(value)
    if number < minimum:
        raise BadValueError(f"{name}={value}: less than {minimum}")
    if maximum is not None and number > maximum:
        raise BadValueError(f"{name}={value}: more than {maximum}")
    return number


def to_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` of option ``name`` as one of ``choices``. Raises :class:`BadValueError`."""
    word = value.strip().lower()
    if word not in choices:
        raise BadValueError(f"{name}={value}: expected {', '.join(choices[:-1])} or {choices[-1]}")
    return word


class Fields:
    """Typed reads of one section's effective options, errors located at the option's line."""

    def __init__(self, section: Section | None) -> None:
        self.section = section
        # The last line of each name and where it stands: ten thousand peers are read by
        # looking a name up, not by scanning each section's lines once per setting.
        self._last: dict[str, tuple[int, Option]] = {}
        if section is not None:
            for index, option in enumerate(section.options):
                self._last[option.key] = (index, option)

    def option(self, *names: str) -> Option | None:
        """The effective option among ``names`` (aliases of one setting): the last written."""
        if len(names) == 1:
            last = self._last.get(names[0].lower())
            return None if last is None else last[1]
        found = [self._last[key] for key in map(str.lower, names) if key in self._last]
        return max(found, key=lambda item: item[0])[1] if found else None

    def text(self, name: str) -> str | None:
        """The value of ``name``, or None when it is absent or empty."""
        option = self.option(name)
        return None if option is None or not option.value else option.value

    def flag(self, name: str, default: bool) -> bool:
        """``name`` as yes or no, ``default`` when absent."""
        option = self.option(name)
        if option is None:
            return default
        with ErrorsAt(option):
            return to_bool(option.name, option.value)

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        """``name`` as a whole number within bounds, ``default`` when absent."""
        option = self.option(name)
        if option is None:
            return default
        with ErrorsAt(option):
            return to_int(option.name, option.value, minimum, maximum)

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        """``name`` as one of ``choices``, ``default`` when absent."""
        option = self.option(name)
        if option is None:
            return default
        with ErrorsAt(option):
            return to_choice(option.name, option.value, choices)

    def all_options(self) -> Mapping[str, Option]:
        """Every option of the section by lower-case name, the last written winning."""
        if self.section is None:
            return no_options()
        return MappingProxyType({key: option for key, (_, option) in self._last.items()})


def first_section(conf: ConfFile, name: str, warnings: list[ConfigWarning]) -> Section | None:
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


def unknown_options(
    options: Iterable[Option], known: frozenset[str], where: str
) -> list[ConfigWarning]:
    """A warning for each of ``options`` whose name is not in ``known``."""
    return [
        ConfigWarning.at(option, f"unknown option '{option.name}' in {where}: ignored")
        for option in options
        if option.key not in known
    ]


def unique_warnings(warnings: Iterable[ConfigWarning]) -> tuple[ConfigWarning, ...]:
    """Warnings without repeats: an inherited template line is met once per section using it."""
    return tuple(dict.fromkeys(warnings))
