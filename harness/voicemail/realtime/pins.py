"""A PIN changed from the menu, written back into the database row the mailbox came from.

As app_voicemail does with realtime: a ``voicemail`` table gets its ``password`` column set; a
static-rows table gets the first field of the mailbox's ``var_val`` replaced, the rest of the
value kept as it was. The row must still say what was loaded (same PIN), or nothing is written:
a row changed in the database meanwhile is the operator's, and a reload shows it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from harness.voicemail.conf.extconfig import Mapping
from harness.voicemail.conf.voicemail_conf import MailboxConfig
from harness.voicemail.realtime.connection import open_driver
from harness.voicemail.realtime.driver import RealtimeDriver, RealtimeError, Value
from harness.voicemail.realtime.tables import layout_of

__all__ = ["write_pin"]


def write_pin(mapping: Mapping, config: MailboxConfig, pin: str, directory: Path) -> None:
    """Make ``pin`` the PIN of the row ``config`` was loaded from. Raises RealtimeError."""
    try:
        changed = _write(mapping, config, pin, directory)
    except RealtimeError as error:
        raise RealtimeError(f"{mapping.where}:{config.line}: {error}") from None
    if changed != 1:
        raise RealtimeError(
            f"{mapping.where}:{config.line}: mailbox {config.mailbox} no longer has the PIN "
            "it was loaded with; reload the configuration"
        )


def _write(mapping: Mapping, config: MailboxConfig, pin: str, directory: Path) -> int:
    driver = open_driver(mapping, directory)
    with contextlib.closing(driver):
        columns = driver.columns(mapping.table)
        if layout_of(columns, mapping) == "voicemail":
            changed = driver.update(
                mapping.table,
                {"password": pin},
                {"context": config.context, "mailbox": config.box, "password": config.pin},
            )
        else:
            changed = _write_static(driver, mapping, config, pin, "id" in columns)
    return changed


def _write_static(
    driver: RealtimeDriver, mapping: Mapping, config: MailboxConfig, pin: str, has_id: bool
) -> int:
    """Replace the PIN field of the mailbox's ``var_val``; the number of rows changed."""
    where: dict[str, Value] = {
        "filename": mapping.name,
        "commented": 0,
        "category": config.context,
        "var_name": config.box,
    }
    if has_id:
        where["id"] = config.line
    rows = driver.select(mapping.table, ["var_val"], where, ())
    if len(rows) != 1:
        return 0
    value = str(rows[0][0] or "")
    first, comma, rest = value.partition(",")
    if first.strip() != config.pin:
        return 0
    return driver.update(
        mapping.table, {"var_val": f"{pin}{comma}{rest}"}, {**where, "var_val": value}
    )
