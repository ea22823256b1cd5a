"""The ``msgNNNN.txt`` message information file, as app_voicemail writes it."""

from __future__ import annotations

import configparser
import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def origdate(unix_time: float) -> str:
    """``strftime("%a %b %e %r UTC %Y")`` in UTC, spelt out so it does not depend on the libc."""
    moment = datetime.fromtimestamp(int(unix_time), UTC)
    hour = moment.hour % 12 or 12
    meridian = "AM" if moment.hour < 12 else "PM"
    return (
        f"{_DAYS[moment.weekday()]} {_MONTHS[moment.month - 1]} {moment.day:2d} "
        f"{hour:02d}:{moment.minute:02d}:{moment.second:02d} {meridian} UTC {moment.year}"
    )


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """The ``[message]`` section, field for field, in the order Asterisk writes it."""

    origmailbox: str
    context: str
    exten: str
    rdnis: str
    callerid: str
    origtime: int
    msg_id: str
    duration: int
    callerchan: str = ""
    priority: int = 1
    category: str = ""
    flag: str = ""
    macrocontext: str = ""

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            # A line break in a value would end it early and forge the lines after it.
            if isinstance(value, str) and ("\n" in value or "\r" in value):
                raise ValueError(f"{item.name}={value!r}: a line break cannot be stored")

    @property
    def origdate(self) -> str:
        """The human-readable date line, always UTC."""
        return origdate(self.origtime)

    def to_text(self) -> str:
        """The file's text, comment header included."""
        lines = [
            ";",
            "; Message Information file",
            ";",
            "[message]",
            f"origmailbox={self.origmailbox}",
            f"context={self.context}",
            f"macrocontext={self.macrocontext}",
            f"exten={self.exten}",
            f"rdnis={self.rdnis}",
            f"priority={self.priority}",
            f"callerchan={self.callerchan}",
            f"callerid={self.callerid}",
            f"origdate={self.origdate}",
            f"origtime={self.origtime}",
            f"category={self.category}",
            f"msg_id={self.msg_id}",
            f"flag={self.flag}",
            f"duration={self.duration}",
        ]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_text(cls, text: str, source: str = "<message>") -> MessageInfo:
        """Read a message information file (ours or Asterisk's); ValueError names what is wrong."""
        parser = configparser.ConfigParser(interpolation=None, comment_prefixes=(";",))
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            parser.read_string(text, source)
        except configparser.Error as error:
            raise ValueError(f"{source}: not a message information file ({error})") from None
        if not parser.has_section("message"):
            raise ValueError(f"{source}: not a message information file (no [message] section)")
        section = parser["message"]
        fields = {item.name: item for item in dataclasses.fields(cls)}
        values: dict[str, object] = {}
        for name, item in fields.items():
            raw = section.get(name)
            if raw is None:
                continue
            if item.type in ("int", int):
                try:
                    values[name] = int(raw or 0)
                except ValueError:
                    raise ValueError(f"{source}: {name}={raw!r} is not a number") from None
            else:
                values[name] = raw
        missing = [
            name
            for name, item in fields.items()
            if name not in values and item.default is dataclasses.MISSING
        ]
        if missing:
            raise ValueError(f"{source}: missing {', '.join(missing)}")
        return cls(**values)  # type: ignore[arg-type]
