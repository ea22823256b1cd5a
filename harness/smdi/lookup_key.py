"""What of a SIP call is matched against SMDI MD messages to find the call's details.

An Asterisk dialplan chooses the key itself (``SMDI_MSG_RETRIEVE(port,${EXTEN})``,
``${CALLERID(num)}`` or ``${SIP_HEADER(NAME)}``); the voicemail server and the scenario schema
accept the same three forms, spelled ``request-uri``, ``caller-id`` and ``header:NAME``.
"""

from __future__ import annotations


def check_lookup_key(key: str) -> str:
    """Return ``key`` if it is a lookup key; raise ValueError naming the accepted forms."""
    if key in ("request-uri", "caller-id"):
        return key
    if key.startswith("header:") and key[len("header:") :].strip():
        return key
    raise ValueError(f"SMDI lookup key {key!r}: expected request-uri, caller-id or header:NAME")
