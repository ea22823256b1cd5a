"""The scenario model: one scenario file, validated and frozen.

A scenario declares a topology (:mod:`harness.scenario.topology`: the proxy, the mailboxes, the
phones, optionally a PBX and the target) and a list of steps. Each step in YAML is a mapping
with exactly one key naming its kind::

    steps:
      - register: {phone: "2000"}
      - deposit: {to: "2000", from: "+15551230000", reason: user-busy, seconds: 4}
      - expect_notify: {phone: "2000", waiting: yes, voice: "1/0"}
      - expect_sip: {hop: "proxy->voicemail", method: INVITE, header: X-Voicemail-Mailbox}
      - wait: 1.5

and validates into the model its kind registered (:mod:`harness.scenario.registry`; the kinds
are the modules of :mod:`harness.scenario.steps`). ``parallel`` runs a list of steps at once;
``repeat`` runs a block several times, or once per value of a range bound to a variable, a
number of iterations at a time (load).

Variables: ``vars: {caller: "+15551230000"}`` at the top, and ``${caller}`` anywhere in a text
value (a variable may use the ones defined before it). A ``repeat`` binds its own variable
(``as: box``) inside its ``steps``. Ranges: ``"1000..1019"`` is every number from 1000 to 1019,
as text with the first number's width (``"0998..1001"`` keeps leading zeros).

Every reference a step declares (a phone, a mailbox, a hop, the PBX) must name something the
topology declares; mailbox references read as Asterisk reads them: ``box@context``, or a bare
``box`` in the ``default`` context.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, Self

from pydantic import Field, PrivateAttr, ValidationInfo, model_validator

# The step families register their kinds on import: the step union below needs them all.
import harness.scenario.steps  # noqa: F401
from harness.core.mailbox import MailboxId
from harness.scenario.fields import PARTIES, Frozen, VarName, located
from harness.scenario.registry import (
    STEPS,
    AnyStep,
    HopUse,
    MailboxUse,
    PbxUse,
    PhoneUse,
    Reference,
    Registry,
)
from harness.scenario.topology import (
    MailboxEntry,
    MailboxRange,
    MailboxSpec,
    PbxSpec,
    PhoneEntry,
    PhoneRange,
    PhoneSpec,
    ProxySpec,
    TargetSpec,
)
from harness.scenario.variables import Loc, fill


class Scenario(Frozen):
    """One scenario: a topology and the steps to run against it.

    ``mailboxes`` and ``phones`` are as declared (an entry may be a range); the mailboxes and
    phones they declare, one by one, are :attr:`every_mailbox` and :attr:`every_phone`.
    """

    name: str = Field(min_length=1)
    description: str | None = None
    tags: tuple[str, ...] = ()
    #: Text filled in wherever the scenario writes ``${name}``.
    vars: dict[VarName, str] = Field(default_factory=dict)
    proxy: ProxySpec = Field(default_factory=ProxySpec)
    #: The voicemail server under test when it is not the embedded one.
    target: TargetSpec = Field(default_factory=TargetSpec)
    mailboxes: tuple[MailboxEntry, ...] = Field(min_length=1)
    phones: tuple[PhoneEntry, ...] = ()
    #: Targets (``embedded``, ``asterisk``) this scenario is expected to fail against, each
    #: with the documented difference of that server that makes it fail.
    expect_failure: dict[Literal["embedded", "asterisk"], str] = Field(default_factory=dict)
    #: A legacy PBX on an SMDI line, for the ``smdi_send``/``expect_lamp``/``expect_smdi`` steps.
    pbx: PbxSpec | None = None
    steps: tuple[AnyStep, ...] = Field(min_length=1)

    _every_mailbox: tuple[MailboxSpec, ...] = PrivateAttr(default=())
    _every_phone: tuple[PhoneSpec, ...] = PrivateAttr(default=())
    # For each of every_mailbox and every_phone, the index of the entry that declared it.
    _mailbox_entry: tuple[int, ...] = PrivateAttr(default=())
    _phone_entry: tuple[int, ...] = PrivateAttr(default=())
    _mailbox_index: dict[MailboxId, MailboxSpec] = PrivateAttr(default_factory=dict)
    _phone_index: dict[str, PhoneSpec] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _fill_variables(cls, data: Any, info: ValidationInfo) -> Any:
        """Fill in ``vars``. Unbound references are errors, or, when the validation context
        has a ``variable_problems`` list, are left as written and listed there (so a loader
        can report them beside the problems they cause)."""
        if not isinstance(data, dict):
            return data
        problems: list[tuple[Loc, str]] = []
        bindings: dict[str, str] = {}
        written = data.get("vars")
        # A site's values replace the defaults of the variables a scenario declares.
        given = info.context.get("site_variables") if isinstance(info.context, dict) else None
        overrides: dict[str, str] = given if isinstance(given, dict) else {}
        if isinstance(written, dict):
            for name, written_value in written.items():
                value = overrides.get(name, written_value)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    value = str(value)
                if isinstance(name, str) and isinstance(value, str):
                    # A variable may use the ones before it, not itself or later ones.
                    text, found = fill(value, bindings, ("vars", name))
                    problems += found
                    bindings[name] = text
        rest, found = fill({key: value for key, value in data.items() if key != "vars"}, bindings)
        problems += found
        collector = (
            info.context.get("variable_problems") if isinstance(info.context, dict) else None
        )
        if isinstance(collector, list):
            collector += problems
        elif problems:
            raise located(problems)
        if "vars" in data:
            rest["vars"] = bindings if isinstance(written, dict) else written
        return rest

    @model_validator(mode="after")
    def _expand_and_check(self) -> Self:
        mailboxes: list[MailboxSpec] = []
        mailbox_entry: list[int] = []
        for index, entry in enumerate(self.mailboxes):
            expanded = entry.expand() if isinstance(entry, MailboxRange) else (entry,)
            mailboxes += expanded
            mailbox_entry += [index] * len(expanded)
        phones: list[PhoneSpec] = []
        phone_entry: list[int] = []
        for index, phone_entry_spec in enumerate(self.phones):
            declared = (
                phone_entry_spec.expand()
                if isinstance(phone_entry_spec, PhoneRange)
                else (phone_entry_spec,)
            )
            phones += declared
            phone_entry += [index] * len(declared)
        self._every_mailbox, self._mailbox_entry = tuple(mailboxes), tuple(mailbox_entry)
        self._every_phone, self._phone_entry = tuple(phones), tuple(phone_entry)
        self._mailbox_index = {}
        for mailbox in mailboxes:
            self._mailbox_index.setdefault(mailbox.id, mailbox)
        self._phone_index = {}
        for phone in phones:
            self._phone_index.setdefault(phone.user, phone)
        problems = self.reference_problems()
        if problems:
            raise located(problems)
        return self

    @property
    def every_mailbox(self) -> tuple[MailboxSpec, ...]:
        """Every mailbox declared, ranges expanded, in declaration order."""
        return self._every_mailbox

    @property
    def every_phone(self) -> tuple[PhoneSpec, ...]:
        """Every phone declared, ranges expanded, in declaration order."""
        return self._every_phone

    def mailbox(self, ref: MailboxId | str) -> MailboxSpec:
        """The declared mailbox ``ref`` names (``box`` or ``box@context``).

        KeyError when none is declared; ValueError when ``ref`` is not a mailbox at all.
        """
        wanted = ref if isinstance(ref, MailboxId) else MailboxId.parse(ref)
        try:
            return self._mailbox_index[wanted]
        except KeyError:
            raise KeyError(str(wanted)) from None

    def phone(self, user: str) -> PhoneSpec:
        """The declared phone registered as ``user``; KeyError if none."""
        return self._phone_index[user]

    def mailbox_of(self, phone: PhoneSpec) -> MailboxSpec | None:
        """The mailbox whose lamp ``phone`` shows: its ``mailbox``, else ``<user>@default``
        when declared, else None."""
        if phone.mailbox is not None:
            return self._mailbox_index[phone.mailbox]
        try:
            implied = MailboxId(phone.user)
        except ValueError:
            return None
        return self._mailbox_index.get(implied)

    def phone_party(self, name: str) -> str | None:
        """The declared phone a hop's party name means (``2000`` or ``phone 2000``), as its
        user; None when ``name`` names no declared phone."""
        user = name.removeprefix("phone ").strip()
        return user if user in self._phone_index else None

    def reference_problems(self) -> list[tuple[Loc, str]]:
        """Duplicate declarations and references to undeclared phones or mailboxes."""
        problems: list[tuple[Loc, str]] = []
        first_mailbox: dict[MailboxId, int] = {}
        for number, mailbox in enumerate(self._every_mailbox):
            index = self._mailbox_entry[number]
            first = first_mailbox.setdefault(mailbox.id, index)
            if first != index:
                field = "range" if isinstance(self.mailboxes[index], MailboxRange) else "box"
                problems.append(
                    (
                        ("mailboxes", index, field),
                        f'mailbox "{mailbox.id}" is already declared at mailboxes[{first}]',
                    )
                )
        first_phone: dict[str, int] = {}
        for number, phone in enumerate(self._every_phone):
            index = self._phone_entry[number]
            first = first_phone.setdefault(phone.user, index)
            if first != index:
                field = "range" if isinstance(self.phones[index], PhoneRange) else "user"
                problems.append(
                    (
                        ("phones", index, field),
                        f'phone "{phone.user}" is already declared at phones[{first}]',
                    )
                )
            if phone.mailbox is not None and phone.mailbox not in self._mailbox_index:
                field = "context" if isinstance(self.phones[index], PhoneRange) else "mailbox"
                problems.append(
                    (
                        ("phones", index, field),
                        _undeclared_mailbox(phone.mailbox, self._mailbox_index),
                    )
                )
        for loc, step, note in self.registry.walk(self.steps):
            for use in self.registry.references(step):
                problems += [((*loc, *field), message + note) for field, message in self._use(use)]
        problems += self._smdi_problems()
        return _first_per_place(problems)

    @property
    def registry(self) -> Registry:
        """The step kinds this scenario's steps are of."""
        return STEPS

    def _use(self, use: Reference) -> list[tuple[Loc, str]]:
        """What is wrong with one phone, mailbox or hop a step names, at the field naming it."""
        match use:
            case MailboxUse(field, mailbox) if mailbox not in self._mailbox_index:
                return [((field,), _undeclared_mailbox(mailbox, self._mailbox_index))]
            case PhoneUse(field, user) if user not in self._phone_index:
                declared = _listed(self._phone_index)
                return [((field,), f'no phone "{user}" declared (declared: {declared})')]
            case HopUse():
                return [((use.field,), problem) for problem in self._hop_problems(use)]
        return []

    def _hop_problems(self, use: HopUse) -> list[str]:
        problems: list[str] = []
        for name in (use.sender, use.receiver):
            if name not in PARTIES and self.phone_party(name) is None:
                problems.append(
                    f'no party "{name}": a hop names {", ".join(PARTIES)} or a declared phone '
                    f"(declared: {_listed(self._phone_index)})"
                )
        if use.sender == use.receiver:
            problems.append(f'a hop goes from one party to another, not "{use.hop}"')
        return problems

    def _smdi_problems(self) -> list[tuple[Loc, str]]:
        """SMDI steps without a PBX, station maps to undeclared mailboxes, calls without a DID."""
        problems: list[tuple[Loc, str]] = []
        if self.pbx is not None:
            for station, mailbox in self.pbx.stations.items():
                if mailbox not in self._mailbox_index:
                    problems.append(
                        (
                            ("pbx", "stations", station),
                            _undeclared_mailbox(mailbox, self._mailbox_index),
                        )
                    )
        for loc, step, note in self.registry.walk(self.steps):
            for use in self.registry.references(step):
                if isinstance(use, PbxUse):
                    problems += self._pbx_use(use, loc, step.kind, note)
        return problems

    def _pbx_use(self, use: PbxUse, loc: Loc, kind: str, note: str) -> list[tuple[Loc, str]]:
        if self.pbx is None:
            return [(loc, f"{kind} needs a pbx: in the topology")]
        if (
            use.station is not None
            and self.pbx.search == "station"
            and not use.station[self.pbx.msdstrip :]
        ):
            return [
                (
                    (*loc, "call"),
                    "the forwarding station is blank, so the call needs a did: "
                    "(or a pbx search by terminal or desk)" + note,
                )
            ]
        return []


def _first_per_place(problems: list[tuple[Loc, str]]) -> list[tuple[Loc, str]]:
    """One problem per place: the first (a repeat's iterations repeat theirs)."""
    seen: dict[Loc, str] = {}
    for loc, message in problems:
        seen.setdefault(loc, message)
    return list(seen.items())


def _listed(names: Iterable[object], most: int = 8) -> str:
    """``names`` for a message: the first ``most``, then how many more."""
    every = [str(name) for name in names]
    if not every:
        return "none"
    shown = ", ".join(every[:most])
    return shown if len(every) <= most else f"{shown} and {len(every) - most} more"


def _undeclared_mailbox(wanted: MailboxId, declared: Iterable[MailboxId]) -> str:
    return f'no mailbox "{wanted}" declared (declared: {_listed(declared)})'
