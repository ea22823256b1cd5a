"""A target file: what a voicemail server the harness does not run has, as its owner says.

The harness cannot configure a foreign server, so ``--target sip:HOST:PORT --target-file
target.yaml`` tells it what the server was configured with; a scenario whose set-up the server
does not have is skipped with the reason, instead of failing for a mismatch::

    mailboxes:                       # the server's voicemail.conf
      - {box: "2000", context: default, pin: "4321"}
    peers:                           # phones whose MWI it sends to the proxy (sip.conf)
      - {user: "2000", mailbox: "2000@default"}
    conventions: [x-voicemail, diversion]   # what its dialplan reads the mailbox from
    smdi: /dev/ttyUSB0               # the PBX end of its SMDI line, if it has one
    spool: /var/spool/asterisk/voicemail    # readable spool, for white-box steps
    reset: ./reset-voicemail.sh      # run before each scenario: empty spool, PINs back

Relative paths (``spool``, ``smdi``) and the reset command run from the file's directory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, Field, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.core.mailbox import MailboxId
from harness.scenario.fields import Frozen, MailboxRef, Pin, User, check_convention
from harness.scenario.model import Scenario
from harness.yaml_problems import describe_node, field_path, line_and_column, locate


class TargetFileError(ValueError):
    """A target file that cannot be read, each problem as ``file:line:column: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class TargetMailbox(Frozen):
    """A mailbox the server has."""

    box: str = Field(min_length=1)
    context: str = "default"
    pin: Pin

    @property
    def id(self) -> MailboxId:
        """This mailbox as ``box@context``."""
        return MailboxId(self.box, self.context)


class TargetPeer(Frozen):
    """A phone the server sends message-waiting NOTIFYs for, through the proxy."""

    user: User
    mailbox: MailboxRef


class _TargetFileFields(Frozen):
    mailboxes: tuple[TargetMailbox, ...] = ()
    peers: tuple[TargetPeer, ...] = ()
    conventions: tuple[Annotated[str, AfterValidator(check_convention)], ...] = ("x-voicemail",)
    smdi: Path | None = None
    spool: Path | None = None
    reset: str | None = Field(default=None, min_length=1)


@dataclass(frozen=True, slots=True)
class TargetFile:
    """What the external server has, read from ``path``."""

    path: Path
    mailboxes: tuple[TargetMailbox, ...]
    peers: tuple[TargetPeer, ...]
    conventions: tuple[str, ...]
    smdi: Path | None
    spool: Path | None
    reset: str | None

    def missing(self, scenario: Scenario, convention: str) -> str | None:
        """What the scenario (its proxy naming the mailbox by ``convention``) needs that the
        server does not have, as the reason to skip it; None when it has everything."""
        for problem in (
            self._convention(scenario, convention),
            self._mailboxes(scenario),
            self._peers(scenario),
        ):
            if problem is not None:
                return f"{problem} (target file {self.path})"
        if scenario.pbx is not None and self.smdi is None:
            return f"the target has no SMDI line (target file {self.path} names no smdi device)"
        return None

    def _convention(self, scenario: Scenario, convention: str) -> str | None:
        wanted = [convention, *(scenario.target.conventions or ())]
        for name in wanted:
            if name not in self.conventions:
                return (
                    f"the scenario's proxy names the mailbox by {name}; the target reads "
                    f"{', '.join(self.conventions)}"
                )
        return None

    def _mailboxes(self, scenario: Scenario) -> str | None:
        have = {entry.id: entry.pin for entry in self.mailboxes}
        for spec in scenario.every_mailbox:
            pin = have.get(spec.id)
            if pin is None:
                return f"the target has no mailbox {spec.id}"
            if pin != spec.pin:
                return (
                    f"mailbox {spec.id} has PIN {pin} at the target; the scenario needs {spec.pin}"
                )
        return None

    def _peers(self, scenario: Scenario) -> str | None:
        have = {peer.user: peer.mailbox for peer in self.peers}
        for spec in scenario.every_phone:
            owned = scenario.mailbox_of(spec)
            if owned is None:
                continue
            mailbox = have.get(spec.user)
            if mailbox is None:
                return f"the target has no peer for phone {spec.user}"
            if mailbox != owned.id:
                return (
                    f"phone {spec.user} shows mailbox {mailbox} at the target; the scenario "
                    f"needs {owned.id}"
                )
        return None


def load_target_file(path: Path) -> TargetFile:
    """Read a target file; TargetFileError naming each problem's line."""
    file = str(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8-sig"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError) as error:
        raise TargetFileError([f"{file}: cannot read the target file: {error}"]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark is not None else file
        raise TargetFileError([f"{where}: YAML syntax error: {error}"]) from None
    if not isinstance(root, MappingNode):
        got = "nothing" if root is None else describe_node(root)
        raise TargetFileError(
            [f"{file}:1:1: a target file is a mapping (mailboxes: ...), got {got}"]
        )
    try:
        fields = _TargetFileFields.model_validate(_plain(root))
    except ValidationError as error:
        problems = list(_problems(file, root, error.errors(include_url=False)))
        raise TargetFileError(problems) from None
    base = path.resolve().parent
    return TargetFile(
        path=path,
        mailboxes=fields.mailboxes,
        peers=fields.peers,
        conventions=fields.conventions,
        smdi=None if fields.smdi is None else base / fields.smdi,
        spool=None if fields.spool is None else base / fields.spool,
        reset=fields.reset,
    )


def _problems(file: str, root: Node, errors: Iterable[Any]) -> Iterable[str]:
    for detail in errors:
        loc = tuple(detail["loc"])
        unknown = detail["type"] == "extra_forbidden"
        where = locate(root, loc, at_key=unknown)
        line, column = where.line, where.column
        message = "unknown field" if unknown else detail["msg"]
        yield f"{file}:{line}:{column}: {field_path(loc)}: {message}"


def _plain(node: Node) -> Any:
    """The YAML as dicts, lists and text: ``0042`` stays text, only nulls become None."""
    if isinstance(node, ScalarNode):
        return None if node.tag.endswith(":null") else node.value
    if isinstance(node, SequenceNode):
        return [_plain(item) for item in node.value]
    assert isinstance(node, MappingNode)
    return {
        key.value if isinstance(key, ScalarNode) else str(line_and_column(key)): _plain(value)
        for key, value in node.value
    }
