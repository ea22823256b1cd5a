"""Where ``vmharness serve`` listens: sip.conf's ``bindaddr``, ``bindport``, ``tcpenable`` and
``tlsenable``, unless the command line names the address or port.

chan_sip listens on UDP ``bindaddr:bindport``, on TCP at the same address when
``tcpenable=yes``, and on TLS at ``tlsbindaddr`` (port 5061 by default) when ``tlsenable=yes``.
Without ``bindaddr`` the server keeps to loopback, as it always did, rather than chan_sip's
0.0.0.0: exposing it is a choice sip.conf or ``--host`` makes.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from harness.voicemail.conf.server_config import ServerConfig
from harness.voicemail.tls import server_context

#: The address served when neither sip.conf nor the command line names one.
DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Listening:
    """The sockets to open: UDP (and TCP) on ``host:port``, TLS on ``tls_host:tls_port``."""

    host: str
    port: int
    tcp: bool
    tls: ssl.SSLContext | None = None
    tls_host: str = DEFAULT_HOST
    tls_port: int = 5061


def listening(config: ServerConfig, host: str | None, port: int | None) -> Listening:
    """What to listen on; ``host``/``port`` from the command line win over sip.conf.

    Raises ConfigError when TLS is on and its certificate cannot be loaded."""
    general = config.sip.general
    named = general.options
    if host is None:
        host = general.bindaddr if ("bindaddr" in named or "udpbindaddr" in named) else DEFAULT_HOST
    if port is None:
        port = general.bindport
    return Listening(
        host=host,
        port=port,
        tcp=general.tcpenable,
        tls=server_context(config),
        tls_host=general.tlsbindaddr or host,
        tls_port=general.tlsport,
    )
