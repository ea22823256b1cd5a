"""How the retrieval menu behaves, and the limits and folders every part of it shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, tzinfo

from harness.core.mailbox import DEFAULT_CONTEXT, MailboxId
from harness.voicemail.flows.engine import ANY_KEY

#: The folders behind keys 0-9 of the folder menus, as app_voicemail numbers them.
FOLDERS = ("INBOX", "Old", "Work", "Family", "Friends", "Cust1", "Cust2", "Cust3", "Cust4", "Cust5")
URGENT = "Urgent"
INBOX = "INBOX"
OLD = "Old"

#: Seconds the menus wait for a key after their prompts (``ast_waitfordigit(chan, 6000)``).
MENU_WAIT = 6.0
#: How many times the main menu is played before an unanswered call is ended.
MENU_PLAYS = 3
#: Unanswered rounds a sub-menu allows before it gives up (Asterisk's ``retries > 3``).
SUBMENU_TIMEOUTS = 3
#: The folder list: a pause after each folder, the wait after ``vm-tocancel``, and how many
#: times it is recited before the choice counts as cancelled.
FOLDER_GAP = 0.5
FOLDER_WAIT = 4.0
FOLDER_ROUNDS = 3
#: How many times ``vm-extension`` is asked when forwarding before giving up.
FORWARD_ATTEMPTS = 4
#: Longest digit entry read (Asterisk's buffers hold 79 characters).
MAX_ENTRY = 79

_DTMF = frozenset(ANY_KEY)


@dataclass(frozen=True, slots=True)
class RetrieveOptions:
    """How the retrieval menu behaves: voicemail.conf settings and ``VoiceMailMain`` options.

    Defaults are app_voicemail's. ``skip_password`` is option ``s`` (no PIN for a mailbox
    known from the request). ``saycid`` says the caller in the envelope; ``saydurationm`` is
    the shortest duration, in minutes, worth saying. ``maxgreet``/``maxsilence`` (seconds, 0
    no limit) and ``silencethreshold`` shape greeting recordings. ``timezone`` is the one the
    envelope's date is said in. The ``*_key``/``stop_keys`` fields are voicemail.conf's
    ``listen-control-*-key`` settings for a message playing.
    """

    maxlogins: int = 3
    skip_password: bool = False
    moveheard: bool = True
    skipms: int = 3000
    envelope: bool = True
    sayduration: bool = True
    saydurationm: int = 2
    saycid: bool = False
    nextaftercmd: bool = False
    messagewrap: bool = False
    minpassword: int = 0
    maxgreet: float = 0
    maxsilence: float = 0
    silencethreshold: int = 128
    tempgreetwarn: bool = False
    first_digit_timeout: float = 10.0
    digit_timeout: float = 2.0
    default_context: str = DEFAULT_CONTEXT
    timezone: tzinfo = UTC
    forward_key: str = "#"
    reverse_key: str = "*"
    pause_key: str = "0"
    restart_key: str = "2"
    stop_keys: str = "13456789"

    def __post_init__(self) -> None:
        if not self.maxlogins >= 1:
            raise ValueError(f"RetrieveOptions.maxlogins must be 1 or more, not {self.maxlogins!r}")
        for name in ("skipms", "saydurationm", "minpassword", "maxgreet", "maxsilence"):
            value = getattr(self, name)
            # ``not >=`` also refuses NaN.
            if not value >= 0:
                raise ValueError(f"RetrieveOptions.{name} must be 0 or more, not {value!r}")
        for name in ("first_digit_timeout", "digit_timeout"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"RetrieveOptions.{name} must be more than 0, not {value!r}")
        for name in ("forward_key", "reverse_key", "pause_key", "restart_key"):
            value = getattr(self, name)
            if len(value) != 1 or value not in _DTMF:
                raise ValueError(f"RetrieveOptions.{name} must be one DTMF key, not {value!r}")
        if not set(self.stop_keys) <= _DTMF:
            raise ValueError(f"RetrieveOptions.stop_keys must be DTMF keys, not {self.stop_keys!r}")
        try:
            MailboxId("0", self.default_context)
        except ValueError as error:
            raise ValueError(f"RetrieveOptions.default_context: {error}") from None

    @property
    def listen_keys(self) -> str:
        """The keys that act while a message plays."""
        keys = self.forward_key + self.reverse_key + self.pause_key + self.restart_key
        return keys + self.stop_keys
