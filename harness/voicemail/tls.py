"""The TLS side of sip.conf: the server's certificate, as ``tlscertfile``/``tlsprivatekey`` say.

Relative paths are taken from the configuration directory. A file that cannot be read, or a key
that does not match the certificate, is a :class:`ConfigError` naming the sip.conf line.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from harness.voicemail.conf.dialect import ConfigError
from harness.voicemail.conf.server_config import ServerConfig


def server_context(config: ServerConfig) -> ssl.SSLContext | None:
    """The TLS context of ``tlsenable=yes`` (None when TLS is off). Raises ConfigError."""
    general = config.sip.general
    if not general.tlsenable or general.tlscertfile is None:
        return None
    certificate = _located(config.directory, general.tlscertfile)
    key = _located(config.directory, general.tlsprivatekey or general.tlscertfile)
    option = general.options.get("tlsprivatekey") or general.options["tlscertfile"]
    for path, name in ((certificate, "tlscertfile"), (key, "tlsprivatekey")):
        if not path.is_file():
            where = general.options.get(name) or general.options["tlscertfile"]
            raise ConfigError.at(where, f"{name}: no such file {path}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certificate, key)
    except (ssl.SSLError, OSError) as error:
        problem = f"TLS certificate {certificate} with key {key}: {error}"
        raise ConfigError.at(option, problem) from None
    return context


def _located(directory: Path, path: Path) -> Path:
    return path if path.is_absolute() else directory / path
