"""What numbers, dates, digits and callers sound like in English, as Asterisk's ``say.c``.

The prompts a flow plays to say a count, a message's date, a caller's number or a folder.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from harness.voicemail.flows.callflow import Prompt


def say_number(number: int) -> list[Prompt]:
    """``number`` as ``ast_say_number()`` says it: ``digits/0``-``digits/20``, tens + units,
    ``digits/hundred``, ``digits/thousand``, ``digits/million`` (no "and")."""
    if not 0 <= number < 1_000_000_000:
        raise ValueError(f"cannot say {number!r}: only 0 to 999999999")
    if number == 0:
        return [Prompt("digits/0")]
    said: list[Prompt] = []
    while number:
        if number < 20:
            said.append(Prompt(f"digits/{number}"))
            number = 0
        elif number < 100:
            said.append(Prompt(f"digits/{number // 10 * 10}"))
            number %= 10
        elif number < 1000:
            said += [Prompt(f"digits/{number // 100}"), Prompt("digits/hundred")]
            number %= 100
        elif number < 1_000_000:
            said += [*say_number(number // 1000), Prompt("digits/thousand")]
            number %= 1000
        else:
            said += [*say_number(number // 1_000_000), Prompt("digits/million")]
            number %= 1_000_000
    return said


def say_ordinal(number: int) -> list[Prompt]:
    """``number`` (1-99) as ``ast_say_enumeration()`` says it: ``digits/h-1``… ``digits/h-20``,
    ``digits/20`` + ``digits/h-1``, ``digits/h-30``…"""
    if not 1 <= number < 100:
        raise ValueError(f"cannot say ordinal {number!r}: only 1 to 99")
    if number <= 20 or number % 10 == 0:
        return [Prompt(f"digits/h-{number}")]
    return [Prompt(f"digits/{number // 10 * 10}"), Prompt(f"digits/h-{number % 10}")]


def say_digits(text: str) -> list[Prompt]:
    """``text`` digit by digit, as ``ast_say_digit_str()``: ``*`` and ``#`` are ``digits/star``
    and ``digits/pound``; other characters are skipped."""
    names = {"*": "digits/star", "#": "digits/pound"}
    return [
        Prompt(names.get(char, f"digits/{char}"))
        for char in text
        if char.isdigit() or char in names
    ]


def say_box(box: str) -> tuple[Prompt, ...]:
    """A mailbox number as ``leave_voicemail()``'s invented greeting says it: one
    ``digits/N`` per ASCII digit (``ast_say_digit_str``); other characters are silent."""
    return tuple(Prompt(f"digits/{char}") for char in box if char in "0123456789")


def _say_year(year: int) -> list[Prompt]:
    if year >= 2000:
        return say_number(year)
    if year <= 1900:
        return []  # Asterisk stays silent about such years
    if year <= 1909:
        return [Prompt("digits/19"), Prompt("digits/oh"), Prompt(f"digits/{year - 1900}")]
    if year <= 1920:
        return [Prompt("digits/19"), Prompt(f"digits/{year - 1900}")]
    return [Prompt("digits/19"), *say_number(year - 1900)]


def _say_minute(minute: int) -> list[Prompt]:
    if minute == 0:
        return [Prompt("digits/oclock")]
    if minute < 10:
        return [Prompt("digits/oh"), Prompt(f"digits/{minute}")]
    return say_number(minute)


def say_received(origtime: int, now: float | None, timezone: tzinfo) -> list[Prompt]:
    """When a message came, as app_voicemail's envelope says it in English: the format
    ``'vm-received' q 'digits/at' IMp``.

    ``q`` says nothing for today, ``digits/yesterday``, the weekday within the last six days,
    else weekday, month, day and year; with ``now`` unknown the full date is always said.
    """
    when = datetime.fromtimestamp(origtime, timezone)
    full = [
        Prompt(f"digits/day-{(when.weekday() + 1) % 7}"),
        Prompt(f"digits/mon-{when.month - 1}"),
        *say_ordinal(when.day),
        *_say_year(when.year),
    ]
    said: list[Prompt] = [Prompt("vm-received")]
    if now is None:
        said += full
    else:
        today = datetime.fromtimestamp(now, timezone)
        midnight = now - (today.hour * 3600 + today.minute * 60 + today.second)
        if midnight < origtime:
            pass
        elif midnight - 86400 < origtime:
            said.append(Prompt("digits/yesterday"))
        elif midnight - 86400 * 6 < origtime:
            said.append(full[0])
        else:
            said += full
    hour = when.hour % 12 or 12
    said += [Prompt("digits/at"), Prompt(f"digits/{hour}"), *_say_minute(when.minute)]
    said.append(Prompt("digits/p-m" if when.hour > 11 else "digits/a-m"))
    return said


def caller_number(callerid: str) -> str:
    """The number in a ``callerid=`` value, as ``ast_callerid_parse()`` finds it: inside
    ``<…>``, or the whole value when it is a phone number; ``""`` when there is none."""
    text = callerid.strip()
    if "<" in text and ">" in text.partition("<")[2]:
        return text.partition("<")[2].partition(">")[0].strip()
    shrunk = "".join(char for char in text if char not in " -().")
    if shrunk and all(char.isdigit() or char in "*#+" for char in shrunk):
        return shrunk
    return ""


def say_caller(callerid: str) -> list[Prompt]:
    """Who left a message: ``vm-from-phonenumber`` + its digits, or ``vm-unknown-caller``."""
    number = caller_number(callerid)
    if not number or number == "Unknown":
        return [Prompt("vm-unknown-caller")]
    return [Prompt("vm-from-phonenumber"), *say_digits(number)]


def folder_name(folder: str) -> list[Prompt]:
    """A folder as the menus name it: ``vm-<Folder>`` ``vm-messages``."""
    return [Prompt(f"vm-{folder}"), Prompt("vm-messages")]


def messages_word(count: int) -> Prompt:
    """``vm-message`` for one, ``vm-messages`` for any other count."""
    return Prompt("vm-message" if count == 1 else "vm-messages")
