"""The Asterisk ``.conf`` dialect: sections, templates, options, comments and ``#include``.

What it reads, as Asterisk's ``main/config.c`` does:

- ``[name]`` opens a section; ``[name](!)`` a template (kept, but not an instance);
  ``[name](t1,t2)`` copies the options of the sections named, in order, before its own lines,
  so later lines override; ``[name](!,t1)`` a template built on another; ``[name](+)`` adds
  lines to a section defined above.
- ``key = value`` and ``key => value``; ``key += more`` appends to the last ``key`` of the
  section. A repeated key keeps every line, in order. A key may start with ``\\`` to escape
  a leading ``[`` or ``#``.
- ``;`` starts a comment, ``\\;`` is a literal ``;``; ``;--`` opens a block comment (they nest)
  that ``--;`` closes. ``;---`` is an ordinary comment, so ruler lines stay harmless.
- ``#include "file"``, ``#include <file>`` or ``#include file`` (relative to the including file,
  wildcards allowed), ``#tryinclude`` (a missing file is skipped). The including file's current
  section carries on into the included one and back, as in Asterisk.

Unlike Asterisk, which logs and carries on, every malformed line raises :class:`ConfigError`
naming file and line: a silently dropped line in a voicemail server's configuration is a
mailbox that quietly does not exist.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

_GLOB_MAGIC = re.compile(r"[*?[]")


class ConfigError(ValueError):
    """A configuration file that cannot be used; ``file:line: reason``.

    ``file`` is the name as shown to the user (relative to the configuration directory where
    possible); ``line`` is None when the problem is the file as a whole.
    """

    def __init__(self, file: str, line: int | None, reason: str) -> None:
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason

    @classmethod
    def at(cls, option: Option, reason: str) -> ConfigError:
        """An error about ``option``, located at its line."""
        return cls(option.file, option.line, reason)


@dataclass(frozen=True, slots=True)
class ConfigWarning:
    """Something a configuration does that works but is probably not what was meant."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"

    @classmethod
    def at(cls, option: Option, message: str) -> ConfigWarning:
        """A warning about ``option``, located at its line."""
        return cls(option.file, option.line, message)


@dataclass(frozen=True, slots=True)
class Option:
    """One ``key = value`` line. ``section`` names the section it was written in, which differs
    from the section holding it when it was inherited from a template."""

    name: str
    value: str
    file: str
    line: int
    section: str
    object: bool = False  # written with ``=>``

    @property
    def key(self) -> str:
        """The name compared case-insensitively, as Asterisk compares option names."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Section:
    """A ``[name]`` section: its options in effective order (inherited first, then its own)."""

    name: str
    file: str
    line: int
    options: tuple[Option, ...] = ()
    template: bool = False
    bases: tuple[str, ...] = ()

    def get(self, name: str) -> Option | None:
        """The option that takes effect for ``name``: the last one (case-insensitive)."""
        key = name.lower()
        for option in reversed(self.options):
            if option.key == key:
                return option
        return None

    def get_all(self, name: str) -> tuple[Option, ...]:
        """Every ``name`` line, in order (for options that repeat)."""
        key = name.lower()
        return tuple(option for option in self.options if option.key == key)

    def value(self, name: str, default: str | None = None) -> str | None:
        """The effective value of ``name``, or ``default`` when it is not set."""
        option = self.get(name)
        return default if option is None else option.value

    def own_options(self) -> tuple[Option, ...]:
        """The options written in this section itself (not inherited)."""
        key = self.name.lower()
        return tuple(option for option in self.options if option.section.lower() == key)


@dataclass(frozen=True, slots=True)
class ConfFile:
    """A parsed configuration file with everything it includes."""

    path: Path
    name: str
    sections: tuple[Section, ...]
    files: tuple[Path, ...]  # every file read, the top one first

    def instances(self) -> tuple[Section, ...]:
        """The sections that are not templates, in file order."""
        return tuple(section for section in self.sections if not section.template)

    def sections_named(self, name: str) -> tuple[Section, ...]:
        """Every non-template section called ``name`` (case-insensitive), in file order."""
        key = name.lower()
        return tuple(section for section in self.instances() if section.name.lower() == key)

    def section(self, name: str) -> Section | None:
        """The first non-template section called ``name``: the one Asterisk reads."""
        found = self.sections_named(name)
        return found[0] if found else None


def read_conf(path: Path, *, root: Path | None = None) -> ConfFile:
    """Read ``path`` and its includes. Names in messages are relative to ``root``
    (default: the directory of ``path``)."""
    reader = _Reader(path.parent if root is None else root)
    reader.read_file(path, None)
    return reader.result(path)


def parse_conf(text: str, path: Path, *, root: Path | None = None) -> ConfFile:
    """Parse ``text`` as if read from ``path`` (which names it and anchors its includes)."""
    reader = _Reader(path.parent if root is None else root)
    reader.read_text(text, path)
    return reader.result(path)


@dataclass(slots=True)
class _Builder:
    name: str
    file: str
    line: int
    template: bool = False
    bases: list[str] = dataclasses.field(default_factory=list)
    options: list[Option] = dataclasses.field(default_factory=list)

    def freeze(self) -> Section:
        return Section(
            self.name, self.file, self.line, tuple(self.options), self.template, tuple(self.bases)
        )


class _Reader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.sections: list[_Builder] = []
        self.current: _Builder | None = None
        self.stack: list[Path] = []  # resolved paths of the files being read, for cycles
        self.files: list[Path] = []

    def result(self, path: Path) -> ConfFile:
        return ConfFile(
            path,
            self.display(path),
            tuple(builder.freeze() for builder in self.sections),
            tuple(self.files),
        )

    def display(self, path: Path) -> str:
        normal = Path(os.path.normpath(path))
        try:
            return normal.relative_to(os.path.normpath(self.root)).as_posix()
        except ValueError:
            return str(normal)

    def read_file(self, path: Path, included_at: tuple[str, int] | None) -> None:
        file, line = included_at if included_at is not None else (self.display(path), None)
        if path.resolve() in self.stack:
            chain = " -> ".join([*(self.display(p) for p in self.stack), self.display(path)])
            raise ConfigError(file, line, f"#include cycle: {chain}")
        if not path.is_file():
            what = "not found" if not path.exists() else "not a regular file"
            if included_at is None:
                raise ConfigError(file, None, what)
            raise ConfigError(file, line, f"#include {self.display(path)}: {what}")
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ConfigError(file, line, f"cannot read {self.display(path)}: {error}") from error
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # Older installations write names in Latin-1; every byte decodes, nothing is lost.
            text = data.decode("latin-1")
        self.read_text(text, path)

    def read_text(self, text: str, path: Path) -> None:
        file = self.display(path)
        self.files.append(path)
        self.stack.append(path.resolve())
        opened: list[int] = []  # line numbers of the open ';--' block comments
        for number, raw in enumerate(text.split("\n"), start=1):
            content = _strip_comments(raw.rstrip("\r"), number, opened)
            if content:
                self.line(content, path, file, number)
        if opened:
            raise ConfigError(file, opened[0], "block comment ';--' is never closed by '--;'")
        self.stack.pop()

    def line(self, text: str, path: Path, file: str, number: int) -> None:
        if text.startswith("["):
            self.section_header(text, file, number)
        elif text.startswith("#"):
            self.directive(text, path, file, number)
        else:
            self.option(text, file, number)

    def find(self, name: str) -> _Builder | None:
        key = name.lower()
        return next((b for b in self.sections if b.name.lower() == key), None)

    def section_header(self, text: str, file: str, number: int) -> None:
        name, items = _header(text, file, number)
        builder = _Builder(name, file, number)
        target, is_new = builder, True
        for item in items:
            if not item:
                raise ConfigError(file, number, f"empty name in the (...) of [{name}]")
            if item == "!":
                target.template = True
            elif item.startswith("+"):
                target = self.add_to_existing(builder, item, file, number)
                is_new = False
            else:
                base = self.find(item)
                if base is None:
                    raise ConfigError(
                        file, number, f"[{name}] inherits from [{item}], which is not defined above"
                    )
                target.bases.append(base.name)
                target.options.extend(base.options)
        if is_new:
            self.sections.append(builder)
        self.current = target

    def add_to_existing(self, builder: _Builder, item: str, file: str, number: int) -> _Builder:
        """``[name](+)``: the section defined above, given what ``builder`` has gathered."""
        name = builder.name
        if item != "+":
            raise ConfigError(file, number, f"'{item}' in [{name}](...) is not supported")
        existing = self.find(name)
        if existing is None or existing is builder:
            raise ConfigError(
                file, number, f"[{name}](+) adds to [{name}], which is not defined above"
            )
        existing.template |= builder.template
        existing.options.extend(builder.options)
        return existing

    def directive(self, text: str, path: Path, file: str, number: int) -> None:
        body = text[1:]
        end = next((i for i, char in enumerate(body) if char.isspace()), len(body))
        word, argument = body[:end], body[end:].strip()
        kind = word.lower()
        if kind == "exec":
            raise ConfigError(
                file,
                number,
                "#exec is not supported: this server runs no programs from its configuration",
            )
        if kind not in ("include", "tryinclude"):
            raise ConfigError(
                file, number, f"unknown directive '#{word}' (expected #include or #tryinclude)"
            )
        if len(argument) >= 2 and (
            (argument[0] == '"' and argument[-1] == '"')
            or (argument[0] == "<" and argument[-1] == ">")
        ):
            argument = argument[1:-1].strip()
        if not argument:
            raise ConfigError(file, number, f"#{word} needs a file name")
        target = Path(argument)
        if not target.is_absolute():
            target = path.parent / target
        optional = kind == "tryinclude"
        if _GLOB_MAGIC.search(argument):
            matches = sorted(glob.glob(str(target)))
            if not matches and not optional:
                raise ConfigError(file, number, f"#include {argument}: no file matches")
            for match in matches:
                self.read_file(Path(match), (file, number))
        elif optional and not target.exists():
            return
        else:
            self.read_file(target, (file, number))

    def option(self, text: str, file: str, number: int) -> None:
        if self.current is None:
            raise ConfigError(
                file,
                number,
                f"option outside any section (a [section] line must come first): {text!r}",
            )
        escaped = text.startswith("\\")
        body = text[1:] if escaped else text
        if escaped and (not body or body[0] <= " "):
            raise ConfigError(
                file, number, f"'\\' at the start of a line escapes nothing: {text!r}"
            )
        equals = body.find("=", 1 if escaped else 0)
        if equals < 0:
            raise ConfigError(
                file, number, f"line is neither a section, an option nor a directive: {text!r}"
            )
        section = self.current
        if equals > (1 if escaped else 0) and body[equals - 1] == "+":
            name, more = body[: equals - 1].strip(), body[equals + 1 :]
            if not name:
                raise ConfigError(file, number, f"option without a name: {text!r}")
            for index in range(len(section.options) - 1, -1, -1):
                previous = section.options[index]
                if previous.name == name:
                    value = (previous.value + more).strip()
                    section.options[index] = dataclasses.replace(
                        previous, value=value, file=file, line=number
                    )
                    return
            section.options.append(Option(name, more.strip(), file, number, section.name))
            return
        name, value = body[:equals].strip(), body[equals + 1 :]
        is_object = value.startswith(">")
        if is_object:
            value = value[1:]
        if not name:
            raise ConfigError(file, number, f"option without a name: {text!r}")
        section.options.append(Option(name, value.strip(), file, number, section.name, is_object))


def _header(text: str, file: str, number: int) -> tuple[str, list[str]]:
    """A ``[name]`` or ``[name](item,…)`` line as the name and the items in parentheses."""
    close = text.find("]")
    if close < 0:
        raise ConfigError(file, number, f"section header has no closing ']': {text!r}")
    name, rest = text[1:close], text[close + 1 :]
    if not name.strip():
        raise ConfigError(file, number, "section with an empty name: '[]'")
    if name != name.strip():
        raise ConfigError(file, number, f"space inside the brackets of [{name}]")
    if rest.startswith("("):
        end = rest.find(")")
        if end < 0:
            raise ConfigError(file, number, f"no closing ')' after [{name}]: {text!r}")
        if rest[end + 1 :].strip():
            trailing = rest[end + 1 :].strip()
            raise ConfigError(file, number, f"unexpected text after [{name}](...): {trailing!r}")
        return name, [item.strip() for item in rest[1:end].split(",")]
    if rest.lstrip().startswith("("):
        raise ConfigError(
            file,
            number,
            f"write [{name}]{rest.strip()} without the space: "
            "Asterisk ignores what follows a space after ']'",
        )
    if rest.strip():
        raise ConfigError(file, number, f"unexpected text after [{name}]: {rest.strip()!r}")
    return name, []


def _strip_comments(line: str, number: int, opened: list[int]) -> str:
    """The text of ``line`` outside comments, stripped; updates the block-comment stack."""
    if not opened and ";" not in line:
        return line.strip()  # most lines: nothing to scan for
    kept: list[str] = []
    start = 0  # where scanning resumed after the last block-comment mark, as in Asterisk
    index = 0
    while index < len(line):
        char = line[index]
        if char != ";":
            if not opened:
                kept.append(char)
            index += 1
            continue
        if index > start and line[index - 1] == "\\":
            if not opened:
                kept[-1] = ";"
            index += 1
        elif line.startswith("--", index + 1) and not line.startswith("---", index + 1):
            opened.append(number)
            index += 3
            start = index
        elif opened and index >= start + 2 and line[index - 2 : index] == "--":
            opened.pop()
            index += 1
            start = index
        elif not opened:
            break
        else:
            index += 1
    return "".join(kept).strip()
