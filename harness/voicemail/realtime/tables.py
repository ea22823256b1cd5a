"""A realtime table's rows as the sections of the configuration file they stand in for.

Three table layouts are read; which one a table has is told by its columns:

- **static rows**, Asterisk's ``ast_config`` shape (``id``, ``cat_metric``, ``var_metric``,
  ``commented``, ``filename``, ``category``, ``var_name``, ``var_val``): one row per line of the
  file, so a dump from an Asterisk database loads as it is. Rows of ``filename`` with
  ``commented = 0`` are read in the order Asterisk's driver reads them: ``cat_metric`` ascending
  with ``sqlite3``, descending with ``pgsql`` (res_config_pgsql's order), then ``var_metric``;
  a new section starts when ``category`` or ``cat_metric`` changes, as in Asterisk.
- **voicemail** (for voicemail.conf), Asterisk's realtime ``voicemail`` table: one row per
  mailbox, ``context``, ``mailbox``, ``password``, ``fullname``, ``email``, ``pager`` and any
  per-mailbox option as a column of its own name (``attach``, ``tz``, ``maxmsg``…); NULL or
  empty columns are not set. ``[general]`` and ``[zonemessages]`` stay in voicemail.conf.
- **peers** (for sip.conf), Asterisk's ``sippeers`` table: one row per peer, ``name`` and every
  sip.conf option as a column (``type``, ``host``, ``defaultuser``, ``mailbox``…). ``[general]``
  stays in sip.conf.

Rows are located in messages as ``driver:database/table:id`` (the row's ``id`` or ``uniqueid``
column, else its position), the way file lines are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from harness.voicemail.conf.dialect import ConfigError, Option, Section
from harness.voicemail.conf.extconfig import Mapping
from harness.voicemail.realtime.driver import RealtimeDriver, RealtimeError, Value

__all__ = [
    "PEER_COLUMNS",
    "STATIC_COLUMNS",
    "VOICEMAIL_COLUMNS",
    "Layout",
    "Table",
    "layout_of",
    "read_table",
]

Layout = Literal["static", "voicemail", "peers"]
#: The columns of Asterisk's static realtime table (``id`` is optional).
STATIC_COLUMNS = (
    "cat_metric",
    "var_metric",
    "commented",
    "filename",
    "category",
    "var_name",
    "var_val",
)
#: The columns a voicemail table needs; the rest are optional.
VOICEMAIL_COLUMNS = ("context", "mailbox", "password")
#: The columns a peers table needs.
PEER_COLUMNS = ("name", "type")
# Columns of the voicemail table that are not mailbox options.
_VOICEMAIL_NOT_OPTIONS = frozenset(
    {
        "uniqueid",
        "customer_id",
        "context",
        "mailbox",
        "password",
        "fullname",
        "email",
        "pager",
        "stamp",
    }
)
# Columns of sippeers chan_sip writes at run time (where the phone registered from), and keys.
_PEER_NOT_OPTIONS = frozenset(
    {"id", "name", "ipaddr", "regseconds", "fullcontact", "lastms", "useragent", "regserver"}
)
_MAILBOX_FIELDS = ("password", "fullname", "email", "pager")


@dataclass(frozen=True, slots=True)
class Table:
    """What a mapped table held: its layout and the sections its rows make."""

    layout: Layout
    sections: tuple[Section, ...]


def layout_of(columns: Sequence[str], mapping: Mapping) -> Layout:
    """Which layout a table with ``columns`` has, for the file ``mapping`` stands in for."""
    present = set(columns)
    if present.issuperset(STATIC_COLUMNS):
        return "static"
    if mapping.name.lower() == "voicemail.conf" and present.issuperset(VOICEMAIL_COLUMNS):
        return "voicemail"
    if mapping.name.lower() == "sip.conf" and present.issuperset(PEER_COLUMNS):
        return "peers"
    wanted = VOICEMAIL_COLUMNS if mapping.name.lower() == "voicemail.conf" else PEER_COLUMNS
    raise RealtimeError(
        f"table {mapping.table} has neither the static realtime "
        f"columns ({', '.join(STATIC_COLUMNS)}) nor those of a "
        f"{'voicemail' if wanted is VOICEMAIL_COLUMNS else 'peers'} table ({', '.join(wanted)})"
    )


def read_table(driver: RealtimeDriver, mapping: Mapping) -> Table:
    """The sections the table of ``mapping`` holds. Raises RealtimeError or ConfigError."""
    columns = driver.columns(mapping.table)
    layout = layout_of(columns, mapping)
    if layout == "static":
        return Table(layout, _static_sections(driver, mapping, "id" in columns))
    rows = driver.select(mapping.table, columns, {}, _row_order(columns, layout))
    if layout == "voicemail":
        return Table(layout, _voicemail_sections(columns, rows, mapping))
    return Table(layout, _peer_sections(columns, rows, mapping))


def _row_order(columns: Sequence[str], layout: Layout) -> tuple[str, ...]:
    key = "uniqueid" if layout == "voicemail" else "id"
    if key in columns:
        return (key,)
    return ("context", "mailbox") if layout == "voicemail" else ("name",)


def _row_id(value: Value, position: int) -> int:
    return value if isinstance(value, int) else position


def _static_sections(driver: RealtimeDriver, mapping: Mapping, has_id: bool) -> tuple[Section, ...]:
    wanted = ["cat_metric", "category", "var_name", "var_val", *(["id"] if has_id else [])]
    rows = driver.select(
        mapping.table,
        wanted,
        {"filename": mapping.name, "commented": 0},
        (
            "-cat_metric" if mapping.driver == "pgsql" else "cat_metric",
            "var_metric",
            *(["id"] if has_id else []),
        ),
    )
    sections: list[Section] = []
    options: list[Option] = []
    current: tuple[object, str] | None = None
    for position, row in enumerate(rows, start=1):
        cat_metric, category, name, value = row[:4]
        line = _row_id(row[4] if has_id else None, position)
        category, name = str(category or ""), str(name or "")
        if name.startswith("#"):
            raise ConfigError(
                mapping.where, line, f"{name} in a realtime row is not supported: write the rows"
            )
        if current != (cat_metric, category):
            if sections:
                sections[-1] = _with_options(sections[-1], options)
            sections.append(Section(category, mapping.where, line))
            options, current = [], (cat_metric, category)
        options.append(
            Option(name, "" if value is None else str(value), mapping.where, line, category)
        )
    if sections:
        sections[-1] = _with_options(sections[-1], options)
    return tuple(sections)


def _with_options(section: Section, options: list[Option]) -> Section:
    return Section(section.name, section.file, section.line, tuple(options))


def _voicemail_sections(
    columns: Sequence[str], rows: list[tuple[Value, ...]], mapping: Mapping
) -> tuple[Section, ...]:
    """One ``box => pin,name,email,pager,opt=val|…`` option per row, in a section per context."""
    index = {name: number for number, name in enumerate(columns)}
    extra = [name for name in columns if name not in _VOICEMAIL_NOT_OPTIONS]
    by_context: dict[str, list[Option]] = {}
    first_line: dict[str, int] = {}
    for position, row in enumerate(rows, start=1):
        line = _row_id(row[index["uniqueid"]] if "uniqueid" in index else None, position)
        context = _text(row[index["context"]]) or "default"
        fields = [_text(row[index[name]]) if name in index else "" for name in _MAILBOX_FIELDS]
        options = [f"{name}={_text(row[index[name]])}" for name in extra if _text(row[index[name]])]
        _check_separators(fields, options, mapping, line)
        value = ",".join([*fields, "|".join(options)]).rstrip(",")
        box = _text(row[index["mailbox"]])
        by_context.setdefault(context, []).append(Option(box, value, mapping.where, line, context))
        first_line.setdefault(context, line)
    return tuple(
        Section(context, mapping.where, first_line[context], tuple(options))
        for context, options in by_context.items()
    )


def _check_separators(fields: list[str], options: list[str], mapping: Mapping, line: int) -> None:
    """A ``,`` in a field or ``|`` in an option would move what follows into the next field."""
    for name, value in zip(_MAILBOX_FIELDS, fields, strict=True):
        if "," in value:
            raise ConfigError(
                mapping.where, line, f"{name} {value!r}: a mailbox field holds no ','"
            )
    for option in options:
        if "|" in option:
            raise ConfigError(mapping.where, line, f"{option!r}: a mailbox option holds no '|'")


def _peer_sections(
    columns: Sequence[str], rows: list[tuple[Value, ...]], mapping: Mapping
) -> tuple[Section, ...]:
    """One section per row, named by ``name``, with an option per non-empty column."""
    index = {name: number for number, name in enumerate(columns)}
    settings = [name for name in columns if name not in _PEER_NOT_OPTIONS]
    sections: list[Section] = []
    for position, row in enumerate(rows, start=1):
        line = _row_id(row[index["id"]] if "id" in index else None, position)
        name = _text(row[index["name"]])
        if not name:
            raise ConfigError(mapping.where, line, "peer row with an empty name")
        options = tuple(
            Option(column, _text(row[index[column]]), mapping.where, line, name)
            for column in settings
            if _text(row[index[column]])
        )
        sections.append(Section(name, mapping.where, line, options))
    return tuple(sections)


def _text(value: Value) -> str:
    return "" if value is None else str(value).strip()
