"""Named findings: the common mistakes a proxy makes in front of a voicemail server.

A failing step may name the finding it proves (``StepOutcome.finding``), so a report can list a
run's findings by name and a vendor can look each one up here: what it is, in one sentence.
The names are stable: reports, tests and nightly comparisons key on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Finding:
    """One kind of proxy mistake: its stable name and what it means, in a vendor's words."""

    name: str
    title: str
    meaning: str


_FINDINGS = (
    Finding(
        "mailbox-is-caller",
        "mailbox named for the caller",
        "The proxy named the caller's number as the mailbox of a forwarded call, not the called "
        "party's.",
    ),
    Finding(
        "wrong-mailbox",
        "wrong mailbox named",
        "The proxy named a mailbox other than the called party's on a forwarded call.",
    ),
    Finding(
        "wrong-context",
        "wrong voicemail context",
        "The proxy named the right mailbox in a voicemail context the site does not use.",
    ),
    Finding(
        "header-stripped",
        "mailbox header missing",
        "The forwarded INVITE reached the voicemail server without the header the site's "
        "convention names the mailbox with.",
    ),
    Finding(
        "header-renamed",
        "mailbox header renamed",
        "The forwarded INVITE carried the mailbox in a header of another name than the site's "
        "convention uses.",
    ),
    Finding(
        "outcome-not-forwarded",
        "call outcome not forwarded",
        "A call outcome the site forwards to voicemail (busy, no answer, unavailable) reached "
        "the caller instead of the voicemail server.",
    ),
    Finding(
        "outcome-forwarded",
        "call outcome forwarded against the site's rules",
        "A call outcome the site says is not forwarded to voicemail was forwarded.",
    ),
    Finding(
        "retrieval-without-mailbox",
        "retrieval call without a mailbox",
        "The call to the voicemail access code reached the voicemail server without naming the "
        "caller's mailbox.",
    ),
    Finding(
        "notify-not-relayed",
        "NOTIFY not relayed",
        "The voicemail server's message-waiting NOTIFY never reached the subscriber's phone.",
    ),
    Finding(
        "notify-wrong-phone",
        "NOTIFY relayed to the wrong phone",
        "A message-waiting NOTIFY for one mailbox reached a phone registered as another user.",
    ),
    Finding(
        "notify-refused",
        "NOTIFY answered with an error",
        "The proxy answered the voicemail server's message-waiting NOTIFY with an error instead "
        "of relaying it.",
    ),
    Finding(
        "lamp-not-resent-on-register",
        "lamp state not sent when the phone registered",
        "A phone that was away registered, and no message-waiting NOTIFY followed: the proxy "
        "did not tell the voicemail server (a copy of the REGISTER), or the server did not "
        "send the state again.",
    ),
    Finding(
        "notify-late",
        "NOTIFY relayed late",
        "The proxy relayed a message-waiting NOTIFY later than the site's latency budget allows.",
    ),
)

#: Every finding the harness can name, by name.
FINDINGS: Mapping[str, Finding] = MappingProxyType({finding.name: finding for finding in _FINDINGS})


def finding(name: str) -> Finding:
    """The finding called ``name``; KeyError naming the known ones otherwise."""
    try:
        return FINDINGS[name]
    except KeyError:
        raise KeyError(f"no finding {name!r} (known: {', '.join(FINDINGS)})") from None
