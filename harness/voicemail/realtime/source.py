"""A configuration file read from the database extconfig.conf maps it to.

A static-rows table is the whole file. A voicemail or peers table holds the mailboxes or peers
only: the file on the disk, when there is one, still gives ``[general]`` (and whatever else it
holds), read first, so a mailbox or peer in both keeps the file's definition with a warning.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from harness.voicemail.conf.dialect import ConfFile, ConfigError, read_conf
from harness.voicemail.conf.extconfig import Mapping
from harness.voicemail.realtime.connection import open_driver
from harness.voicemail.realtime.driver import RealtimeError
from harness.voicemail.realtime.tables import read_table

__all__ = ["read_mapped"]


def read_mapped(mapping: Mapping, directory: Path) -> ConfFile:
    """The file ``mapping`` stands in for, from its table (and the disk, see above). Raises
    ConfigError naming the mapping's line when the database cannot be read."""
    try:
        driver = open_driver(mapping, directory)
        with contextlib.closing(driver):
            table = read_table(driver, mapping)
    except RealtimeError as error:
        raise ConfigError(mapping.file, mapping.line, f"{mapping.name}: {error}") from None
    disk = directory / mapping.name
    if table.layout == "static" or not disk.exists():
        return ConfFile(disk, mapping.where, table.sections, ())
    on_disk = read_conf(disk, root=directory)
    return ConfFile(disk, on_disk.name, (*on_disk.sections, *table.sections), on_disk.files)
