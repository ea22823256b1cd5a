"""Where a mailbox's PIN is kept, and how a new one is written, as app_voicemail does it.

``passwordlocation=voicemailconf`` (the default): the first field of the mailbox's line in
voicemail.conf. A change rewrites only that field of that one line; the rest of the line
(name, e-mail, options, comment) and every other line stay byte for byte.

``passwordlocation=spooldir``: ``<spool>/<context>/<box>/secret.conf``, ``[general]`` then
``password=1234``. When the file exists its password replaces the one in voicemail.conf.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from pathlib import Path

from harness.voicemail.conf.dialect import read_conf
from harness.voicemail.conf.extconfig import ExtConfig, Mapping
from harness.voicemail.conf.voicemail_conf import MailboxConfig
from harness.voicemail.store import write_atomic

#: The file in the mailbox's spool directory holding its PIN with ``passwordlocation=spooldir``.
SECRET_FILE = "secret.conf"
LOCATIONS = ("voicemailconf", "spooldir")

# What a caller can key: the digits, * and A-D (# ends the entry).
_PIN = re.compile(r"[0-9*A-D]+\Z")
_SECTION = re.compile(r"\s*\[([^\]]*)\]")
# One read-modify-write of voicemail.conf at a time: two boxes changing PINs at once would
# otherwise each write the file as it read it, losing the other's change.
_CONF_LOCK = threading.Lock()


class PinChangeError(Exception):
    """A PIN cannot be changed: the reason names the file, line or mailbox."""


def read_spool_pin(box_dir: Path) -> str | None:
    """``password`` of ``[general]`` in ``<box_dir>/secret.conf``; None without file or key.

    Raises ConfigError naming the file when it is not a readable configuration file.
    """
    path = box_dir / SECRET_FILE
    if not path.is_file():
        return None
    general = read_conf(path, root=box_dir).section("general")
    return None if general is None else general.value("password")


def stored_pin(config: MailboxConfig, spool_box_dir: Path) -> str:
    """The mailbox's PIN as written (``-`` prefix included): ``secret.conf``'s when the
    mailbox's ``passwordlocation`` is ``spooldir`` and the file gives one, else voicemail.conf's."""
    if config.effective("passwordlocation") == "spooldir":
        pin = read_spool_pin(spool_box_dir)
        if pin is not None:
            return pin
    return config.pin


def change_pin(
    config: MailboxConfig,
    pin: str,
    spool_box_dir: Path,
    location: str,
    *,
    config_dir: Path | None = None,
    extconfig: ExtConfig | None = None,
) -> None:
    """Make ``pin`` the mailbox's PIN where ``location`` keeps it, atomically.

    ``location``: ``voicemailconf`` rewrites the line ``config`` was loaded from (``config.file``
    relative to ``config_dir``, the configuration directory); ``spooldir`` writes
    ``<spool_box_dir>/secret.conf``. Raises PinChangeError for a PIN that is not keys, a PIN
    marked unchangeable (leading ``-``), or a line that no longer says what was loaded; the
    caller reloads the configuration after a change, as ``config`` then holds the old PIN.
    A mailbox loaded from a database (``extconfig``'s voicemail.conf mapping) has its row
    changed instead of a line.
    """
    if not _PIN.match(pin):
        raise PinChangeError(
            f"mailbox {config.mailbox}: new PIN {pin!r} must be keys 0-9, * or A-D"
        )
    if location == "spooldir":
        if not stored_pin(config, spool_box_dir).startswith("-"):
            _write_spool_pin(spool_box_dir, pin)
            return
    elif location == "voicemailconf":
        if config.pin_changeable:
            mapping = None if extconfig is None else extconfig.mapping("voicemail.conf")
            if mapping is not None and config.file == mapping.where:
                _write_row(mapping, config, pin, config_dir)
            else:
                _rewrite_conf_line(config, pin, config_dir)
            return
    else:
        raise ValueError(f"passwordlocation {location!r}: expected one of {', '.join(LOCATIONS)}")
    raise PinChangeError(
        f"mailbox {config.mailbox}: the PIN starts with '-', so its owner may not change it"
    )


def _write_row(mapping: Mapping, config: MailboxConfig, pin: str, config_dir: Path | None) -> None:
    # Only a server configured from a database loads the database drivers.
    from harness.voicemail.realtime.driver import RealtimeError  # noqa: PLC0415
    from harness.voicemail.realtime.pins import write_pin  # noqa: PLC0415

    if config_dir is None:
        raise ValueError(f"{mapping.where}: the database is found from config_dir")
    try:
        write_pin(mapping, config, pin, config_dir)
    except RealtimeError as error:
        raise PinChangeError(str(error)) from error


def _write_spool_pin(box_dir: Path, pin: str) -> None:
    staging = box_dir / "tmp"
    staging.mkdir(parents=True, exist_ok=True)
    # Only the server's user needs to read a PIN.
    text = f"[general]\npassword={pin}\n"
    write_atomic(staging, box_dir / SECRET_FILE, text.encode(), mode=0o600)


def _rewrite_conf_line(config: MailboxConfig, pin: str, config_dir: Path | None) -> None:
    where = f"{config.file}:{config.line}"
    path = Path(config.file)
    if not path.is_absolute():
        if config_dir is None:
            raise ValueError(f"{where}: a relative file name needs config_dir to be found")
        path = config_dir / path
    # Write through a symbolic link, not over it.
    path = path.resolve()
    with _CONF_LOCK:
        try:
            data = path.read_bytes()
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError as error:
            raise PinChangeError(f"{where}: cannot read: {error.strerror}") from error
        try:
            data.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "latin-1"  # as the configuration reader falls back to
        lines = data.split(b"\n")
        if not 1 <= config.line <= len(lines):
            raise PinChangeError(f"{where}: the file has only {len(lines)} lines now")
        raw = lines[config.line - 1]
        ending = b"\r" if raw.endswith(b"\r") else b""
        text = raw[: len(raw) - len(ending)].decode(encoding)
        _check_section(config, lines[: config.line - 1], encoding)
        start, end = _pin_span(config, text)
        lines[config.line - 1] = (text[:start] + pin + text[end:]).encode(encoding) + ending
        write_atomic(path.parent, path, b"\n".join(lines), mode=mode)


def _pin_span(config: MailboxConfig, text: str) -> tuple[int, int]:
    """Where the PIN is in ``box => pin,name,...``; PinChangeError unless the line is the one
    ``config`` was loaded from."""
    where = f"{config.file}:{config.line}"
    changed = PinChangeError(
        f"{where}: the line changed since it was loaded (it no longer defines mailbox "
        f"{config.box} as read); reload the configuration"
    )
    equals = text.find("=")
    if equals < 0 or text[:equals].strip() != config.box:
        raise changed
    if text[equals - 1] == "+":
        raise PinChangeError(f"{where}: mailbox {config.box} is continued with '+=': edit by hand")
    start = equals + 1
    if text.startswith(">", start):
        start += 1
    comment = next(
        (i for i in range(start, len(text)) if text[i] == ";" and text[i - 1] != "\\"),
        len(text),
    )
    if "--;" in text[comment:] or ";--" in text.replace(";---", ""):
        raise PinChangeError(f"{where}: a block comment on the mailbox line: edit by hand")
    value = text[start:comment].replace("\\;", ";")
    fields = [field.strip() for field in value.split(",", 4)]
    fields += [""] * (4 - len(fields))
    if fields[:4] != [config.pin, config.full_name, config.email, config.pager]:
        raise changed
    while start < comment and text[start].isspace():
        start += 1
    end = start + len(config.pin)
    if text[start:end] != config.pin:
        raise PinChangeError(f"{where}: the PIN is written with escapes: edit by hand")
    return start, end


def _check_section(config: MailboxConfig, before: list[bytes], encoding: str) -> None:
    """Refuse a line written in a template: changing it would change every box built on it."""
    for raw in reversed(before):
        match = _SECTION.match(raw.decode(encoding))
        if match:
            name = match.group(1)
            if name.lower() != config.context.lower():
                raise PinChangeError(
                    f"{config.file}:{config.line}: mailbox {config.mailbox} is written in "
                    f"[{name}], which other contexts may share: edit by hand"
                )
            return


__all__ = [
    "LOCATIONS",
    "SECRET_FILE",
    "PinChangeError",
    "change_pin",
    "read_spool_pin",
    "stored_pin",
]
