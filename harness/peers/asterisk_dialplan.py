"""The extensions.conf an Asterisk voicemail server gets: the embedded server's routing, in
Asterisk's own dialplan.

One subroutine per header convention reads the mailbox (and why the call was forwarded) from the
forwarded INVITE the way :mod:`harness.core.routing` does: ``X-Voicemail-Mailbox``/``-Context``,
the topmost ``Diversion``, the ``History-Info`` entry retargeted from with an RFC 4458
``cause``, the ``target=`` of an RFC 4458 Request-URI, the Request-URI user, the ``To`` user.
The main context calls them in the server's chain order: the first that names a mailbox wins,
and the reason comes from it or, when it has none, from the first later one that gives one (an
X-Voicemail header names the box, a Diversion from the same proxy says it was busy).

Then, as the embedded server does: a user calling their own mailbox reaches ``VoiceMailMain``;
a busy forward plays the busy greeting (``VoiceMail(box,b)``), anything else the unavailable one;
the retrieval number reaches ``VoiceMailMain`` for the X-Voicemail mailbox or the caller's own.
With an SMDI line, a call that no header names a mailbox for (none, or only the Request-URI or
To) is looked up on the line with ``SMDI_MSG_RETRIEVE`` by its Request-URI user (or its caller
ID, or a header, as the scenario's ``target: {smdi_key: …}`` says): type ``D``
retrieves the calling station's mailbox (a blank one logs in), ``B`` deposits with the busy
greeting, the rest with the unavailable one, each station mapped through the same table as
smdi.conf's ``[mailboxes]``. A mailbox voicemail.conf lacks is answered 404.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from harness.core.mailbox import MailboxId
from harness.core.routing import DEFAULT_CHAIN, RETRIEVAL_USERS, Convention

#: The context calls from the proxy land in (sip.conf ``context=``).
ENTRY_CONTEXT = "vmharness"

#: Every Request-URI user (a mailbox number, ``voicemail``, ``s``): one character, then any.
FORWARDED_PATTERN = "_[0-9a-zA-Z*#+]!"

#: The user part of a SIP URI inside a header value, for an expression's ``:`` (a POSIX extended
#: regular expression anchored at the start whose group is the result; extensions.conf reads
#: ``\;`` as ``;``, where a bare one would start a comment).
_URI_USER = r'".*sips*:([^@%\;>]*)[@%]"'

#: A dialplan step: an application, or ``(label, application)`` for a step jumped to.
Priority = str | tuple[str, str]


_SUBROUTINES: dict[Convention, tuple[Priority, ...]] = {
    Convention.X_VOICEMAIL: (
        "Set(F_BOX=${SIP_HEADER(X-Voicemail-Mailbox)})",
        "Set(F_CTX=${SIP_HEADER(X-Voicemail-Context)})",
    ),
    Convention.DIVERSION: (
        "Set(D=${SIP_HEADER(Diversion)})",
        'GotoIf($["${D}" = ""]?done)',
        f'Set(F_BOX=$["${{D}}" : {_URI_USER}])',
        'Set(F_REASON=$["${D}" : ".*reason=([a-z-]*)"])',
    ),
    Convention.HISTORY_INFO: (
        "Set(I=1)",
        "Set(PREV=)",
        ("loop", "Set(H=${SIP_HEADER(History-Info,${I})})"),
        'GotoIf($["${H}" = "" | ${I} > 20]?done)',
        'Set(C=$["${H}" : ".*\\;cause=([0-9]*)"])',
        'GotoIf($["${C}" = "" | "${PREV}" = ""]?next)',
        f'Set(F_BOX=$["${{PREV}}" : {_URI_USER}])',
        'Set(F_REASON=${IF($["${C}" = "486"]?user-busy:cause-${C})})',
        ("next", "Set(PREV=${H})"),
        "Set(I=$[${I} + 1])",
        "Goto(loop)",
    ),
    Convention.RFC4458: (
        "Set(R=${CHANNEL(ruri)})",
        'Set(T=$["${R}" : ".*\\;target=([^\\;>]*)"])',
        'GotoIf($["${T}" = ""]?done)',
        f'Set(F_BOX=$["${{T}}" : {_URI_USER}])',
        'Set(C=$["${R}" : ".*\\;cause=([0-9]*)"])',
        'Set(F_REASON=${IF($["${C}" = "486"]?user-busy:cause-${C})})',
    ),
    # Not ${EXTEN}: chan_sip makes a Request-URI without a user "s".
    Convention.REQUEST_URI: ('Set(F_BOX=$["${CHANNEL(ruri)}" : "sips*:([^@\\;>]*)@"])',),
    Convention.TO: (f'Set(F_BOX=$["${{SIP_HEADER(To)}}" : {_URI_USER}])',),
}


@dataclass(frozen=True, slots=True)
class SmdiRouting:
    """How calls are looked up on the SMDI line: the port, which MD field the Request-URI user
    is matched against, how long a call waits for its MD message, and the station map."""

    port: str
    search: Literal["station", "terminal", "desk"] = "station"
    timeout_ms: int = 3000
    stations: tuple[tuple[str, MailboxId], ...] = ()
    #: What of the call is looked up: ``request-uri``, ``caller-id`` or ``header:NAME``.
    key: str = "request-uri"

    @property
    def lookup(self) -> str:
        """The dialplan expression of :attr:`key`."""
        if self.key == "caller-id":
            return "${CALLERID(num)}"
        if self.key.startswith("header:"):
            return f"${{SIP_HEADER({self.key[len('header:') :]})}}"
        return "${EXTEN}"


def _lines(name: str, priorities: Iterable[Priority]) -> list[str]:
    """``exten => name,1,…`` then ``same => n,…``, labelled where a step is jumped to."""
    lines: list[str] = []
    for priority in priorities:
        label, application = ("", priority) if isinstance(priority, str) else priority
        number = "1" if not lines else "n"
        tag = f"({label})" if label else ""
        head = f"exten => {name}," if not lines else " same => "
        lines.append(f"{head}{number}{tag},{application}")
    return lines


def _subroutine(convention: Convention) -> list[str]:
    """``[route-<name>]``: sets F_BOX, F_CTX and F_REASON (empty when it names nothing)."""
    body: tuple[Priority, ...] = (
        "Set(F_BOX=)",
        "Set(F_CTX=)",
        "Set(F_REASON=)",
        *_SUBROUTINES[convention],
        ("done", "Return()"),
    )
    return [f"[route-{convention.value}]", *_lines("s", body), ""]


_TAKE = (
    # The first convention that names a mailbox wins; its reason, else the next one's.
    "[route-take]",
    *_lines(
        "s",
        (
            'GotoIf($["${BOX}" != "" | "${F_BOX}" = ""]?reason)',
            "Set(BOX=${F_BOX})",
            "Set(CTX=${F_CTX})",
            "Set(WINNER=${ARG1})",
            ("reason", 'ExecIf($["${REASON}" = ""]?Set(REASON=${F_REASON}))'),
            "Return()",
        ),
    ),
    "",
)


_KNOWN = (
    # KNOWN=1 when voicemail.conf has the (first) mailbox named: VoiceMail() would answer and
    # hang up for one it lacks, where the embedded server answers 404.
    "[route-known]",
    *_lines(
        "s",
        (
            "Set(KNOWN=0)",
            'GotoIf($["${BOX}" = ""]?done)',
            "Set(FIRST=${CUT(BOX,&,1)})",
            'Set(FIRST=${IF($["${FIRST}" : ".*@"]?${FIRST}:${FIRST}@${CTX})})',
            "Set(KNOWN=${VM_INFO(${FIRST},exists)})",
            ("done", "Return()"),
        ),
    ),
    "",
)


def _smdi_lookup(smdi: SmdiRouting) -> list[Priority]:
    """The MD lookup of a call no header names a configured mailbox for."""
    option = {"station": "", "terminal": "t", "desk": "n"}[smdi.search]
    return [
        'GotoIf($["${KNOWN}" = "1" & "${WINNER}" != "request-uri" & "${WINNER}" != "to"]?routed)',
        f"Set(MD=${{SMDI_MSG_RETRIEVE({smdi.port},{smdi.lookup},{smdi.timeout_ms},{option})}})",
        'GotoIf($["${MD}" = ""]?routed)',
        "Set(CALLER=${SMDI_MSG(${MD},callerid)})",
        'Set(CALLERID(num)=${IF($["${CALLER}" = ""]?Unknown:${CALLER})})',
        'GotoIf($["${SMDI_MSG(${MD},type)}" = "D"]?smdi-own)',
        "Set(ST=${SMDI_MSG(${MD},station)})",
        'GotoIf($["${ST}" = ""]?routed)',
        'Set(BOX=${IF($["${SMDI_BOX_${ST}}" = ""]?${ST}:${SMDI_BOX_${ST}})})',
        'Set(CTX=${IF($["${SMDI_CTX_${ST}}" = ""]?default:${SMDI_CTX_${ST}})})',
        'Set(REASON=${IF($["${SMDI_MSG(${MD},type)}" = "B"]?user-busy:smdi)})',
        "Goto(routed)",
        # A direct call from a blank station: the menu asks for the mailbox.
        ("smdi-own", 'GotoIf($["${CALLER}" = ""]?login)'),
        'Set(BOX=${IF($["${SMDI_BOX_${CALLER}}" = ""]?${CALLER}:${SMDI_BOX_${CALLER}})})',
        'Set(CTX=${IF($["${SMDI_CTX_${CALLER}}" = ""]?default:${SMDI_CTX_${CALLER}})})',
        "Goto(own)",
    ]


def _forwarded(chain: Sequence[Convention], smdi: SmdiRouting | None) -> list[str]:
    """The pattern every forwarded call matches: route, then deposit or retrieve."""
    body: list[Priority] = [
        "Set(BOX=)",
        "Set(CTX=)",
        "Set(REASON=)",
        "Set(WINNER=)",
    ]
    for convention in chain:
        body += [f"Gosub(route-{convention.value},s,1)", f"Gosub(route-take,s,1({convention}))"]
    body += ['Set(CTX=${IF($["${CTX}" = ""]?default:${CTX})})', "Gosub(route-known,s,1)"]
    if smdi is not None:
        body += _smdi_lookup(smdi)
    body += [
        ("routed", "Gosub(route-known,s,1)"),
        'GotoIf($["${KNOWN}" != "1"]?nobox)',
        'GotoIf($["${CALLERID(num)}" = "${BOX}"]?own)',
        # a&b leaves a copy in each: VoiceMail wants the context on every box.
        'Set(BOXES=${IF($["${BOX}" : ".*@"]?${BOX}:${STRREPLACE(BOX,&,@${CTX}&)}@${CTX})})',
        'VoiceMail(${BOXES},${IF($["${REASON}" = "user-busy"]?b:u)})',
        "Hangup()",
        ("own", "VoiceMailMain(${BOX}@${CTX})"),
        "Hangup()",
        ("login", "VoiceMailMain()"),
        "Hangup()",
        # No configured mailbox named: unallocated number (404), as the embedded server answers.
        ("nobox", "Hangup(1)"),
    ]
    return _lines(FORWARDED_PATTERN, body)


def _retrieval(user: str) -> list[str]:
    return _lines(
        user,
        (
            "Answer()",
            "Set(BOX=${SIP_HEADER(X-Voicemail-Mailbox)})",
            "Set(CTX=${SIP_HEADER(X-Voicemail-Context)})",
            'ExecIf($["${BOX}" = ""]?Set(BOX=${CALLERID(num)}))',
            'ExecIf($["${CTX}" = ""]?Set(CTX=default))',
            "VoiceMailMain(${BOX}@${CTX})",
            "Hangup()",
        ),
    )


def render_extensions_conf(
    chain: Sequence[Convention] = DEFAULT_CHAIN,
    *,
    retrieval_users: Iterable[str] = RETRIEVAL_USERS,
    smdi: SmdiRouting | None = None,
) -> str:
    """extensions.conf text routing as the embedded server with ``chain`` does."""
    lines = ["[general]", "static=yes", "writeprotect=yes", "", "[globals]"]
    if smdi is not None:
        for station, mailbox in smdi.stations:
            lines += [f"SMDI_BOX_{station}={mailbox.box}", f"SMDI_CTX_{station}={mailbox.context}"]
    lines.append("")
    for convention in dict.fromkeys(chain):
        lines += _subroutine(convention)
    lines += [*_TAKE, *_KNOWN, f"[{ENTRY_CONTEXT}]", "exten => h,1,Hangup()"]
    for user in sorted(retrieval_users):
        lines += _retrieval(user)
    lines += _forwarded(chain, smdi)
    return "\n".join(lines) + "\n"
