"""Where a caller at the retrieval menu is, and every move between those places."""

from __future__ import annotations

from enum import StrEnum


class RetrieveState(StrEnum):
    """A place in ``VoiceMailMain``: login, the main menu, a message, a sub-menu."""

    IDLE = "idle"
    LOGIN_LOAD = "login-load"
    LOGIN_MAILBOX = "login-mailbox"
    LOGIN_PIN = "login-pin"
    LOGIN_FAILED = "login-failed"
    MENU = "menu"
    MESSAGE = "message"
    PAUSED = "paused"
    FOLDER_SELECT = "folder-select"
    ADVANCED = "advanced"
    FORWARD_EXTENSION = "forward-extension"
    FORWARD_CHECK = "forward-check"
    FORWARD_OPTIONS = "forward-options"
    OPTIONS = "options"
    TEMP_GREETING = "temp-greeting"
    RECORD_GREETING = "record-greeting"
    RECORDING = "recording"
    GREETING_REVIEW = "greeting-review"
    PIN_NEW = "pin-new"
    PIN_REENTER = "pin-reenter"
    GOODBYE = "goodbye"
    DONE = "done"


_S = RetrieveState
# Where a main-menu key leads (from the menu, a message, or a pause).
_COMMANDS = frozenset(
    {
        _S.MENU,
        _S.MESSAGE,
        _S.FOLDER_SELECT,
        _S.ADVANCED,
        _S.FORWARD_EXTENSION,
        _S.OPTIONS,
        _S.GOODBYE,
    }
)
# A hang-up ends the call from anywhere.
_END = frozenset({_S.DONE})

#: Every move of the retrieval menu.
TRANSITIONS: dict[RetrieveState, frozenset[RetrieveState]] = {
    _S.IDLE: frozenset({_S.LOGIN_LOAD, _S.LOGIN_MAILBOX}) | _END,
    _S.LOGIN_LOAD: frozenset({_S.LOGIN_MAILBOX, _S.LOGIN_PIN, _S.LOGIN_FAILED, _S.MENU}) | _END,
    _S.LOGIN_MAILBOX: frozenset({_S.LOGIN_LOAD, _S.LOGIN_PIN}) | _END,
    _S.LOGIN_PIN: frozenset({_S.LOGIN_FAILED, _S.MENU}) | _END,
    _S.LOGIN_FAILED: frozenset({_S.LOGIN_PIN, _S.LOGIN_MAILBOX}) | _END,
    _S.MENU: _COMMANDS | _END,
    _S.MESSAGE: _COMMANDS | {_S.PAUSED} | _END,
    _S.PAUSED: _COMMANDS | _END,
    _S.FOLDER_SELECT: frozenset({_S.MENU, _S.MESSAGE}) | _END,
    _S.ADVANCED: frozenset({_S.MENU}) | _END,
    _S.FORWARD_EXTENSION: frozenset({_S.FORWARD_CHECK, _S.FORWARD_OPTIONS, _S.MENU}) | _END,
    _S.FORWARD_CHECK: frozenset({_S.FORWARD_EXTENSION, _S.FORWARD_OPTIONS}) | _END,
    _S.FORWARD_OPTIONS: frozenset({_S.MENU}) | _END,
    _S.OPTIONS: frozenset({_S.RECORD_GREETING, _S.TEMP_GREETING, _S.PIN_NEW, _S.MENU}) | _END,
    _S.TEMP_GREETING: frozenset({_S.RECORD_GREETING, _S.OPTIONS}) | _END,
    _S.RECORD_GREETING: frozenset({_S.RECORDING}) | _END,
    _S.RECORDING: frozenset({_S.GREETING_REVIEW}) | _END,
    _S.GREETING_REVIEW: frozenset({_S.RECORD_GREETING, _S.OPTIONS, _S.TEMP_GREETING}) | _END,
    _S.PIN_NEW: frozenset({_S.PIN_REENTER, _S.OPTIONS}) | _END,
    _S.PIN_REENTER: frozenset({_S.OPTIONS}) | _END,
    _S.GOODBYE: _END,
    _S.DONE: frozenset(),
}
