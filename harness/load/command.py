"""``vmharness load``: the command line of a load run.

Prints the report as JSON on stdout (and to ``--json``), a progress display meanwhile; exits 0
when every call succeeded and the lamps converged, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from harness.load.display import LoadDisplay
from harness.load.generator import LoadOptions
from harness.load.runner import Topology, run_load
from harness.media import event_loop


def add_load_command(commands: Any) -> None:
    """Add the ``load`` subcommand to the CLI's subparsers."""
    load = commands.add_parser(
        "load",
        help="drive deposits and retrievals at a rate and check every lamp afterwards",
        description="Offer calls at --rate through the proxy into the voicemail server, with "
        "--mailboxes subscribers registered; report setup and NOTIFY latencies, RTP loss and "
        "whether every phone's lamp ended equal to its mailbox.",
    )
    load.add_argument("--rate", type=float, default=10.0, help="calls started per second")
    load.add_argument("--calls", type=int, default=200, help="calls to start in all")
    load.add_argument("--concurrency", type=int, default=50, help="most calls at once")
    load.add_argument("--mailboxes", type=int, default=500, help="subscribers (mailboxes)")
    load.add_argument(
        "--duration", "--talk", dest="talk", type=float, default=3.0,
        help="seconds each deposit talks after the beep",
    )  # fmt: skip
    load.add_argument(
        "--greeting", type=float, default=None,
        help="wait this many seconds before talking (default: until the server falls quiet)",
    )  # fmt: skip
    load.add_argument(
        "--skip-greeting", action="store_true",
        help="press # as soon as the call is up, straight to the beep",
    )  # fmt: skip
    load.add_argument(
        "--retrievals", type=float, default=0.0, help="share of calls that are retrievals (0-1)"
    )
    load.add_argument("--first-box", type=int, default=10000, help="number of the first mailbox")
    load.add_argument("--pin", default="1234", help="every subscriber's PIN")
    load.add_argument("--target", default="embedded", help="embedded or sip:HOST:PORT")
    load.add_argument(
        "--proxy", default="sim",
        help="sim, sip:HOST:PORT, or none (straight to the target with X-Voicemail headers)",
    )  # fmt: skip
    load.add_argument("--agents", type=int, default=0, help="local agent processes (execnet)")
    load.add_argument(
        "--gateway", action="append", default=[], metavar="SPEC",
        help="an agent on another host, as an execnet spec (ssh=host); repeatable",
    )  # fmt: skip
    load.add_argument(
        "--subscribe", action="store_true",
        help="phones SUBSCRIBE to their mailbox (default: unsolicited NOTIFYs via the proxy)",
    )  # fmt: skip
    load.add_argument("--host", default="127.0.0.1", help="address the generator binds")
    load.add_argument(
        "--settle", type=float, default=15.0, help="seconds to wait for the lamps at the end"
    )
    load.add_argument("--json", type=Path, help="also write the report here")


def run_load_command(args: argparse.Namespace) -> int:
    """Run ``vmharness load``; 0 when every call succeeded and the lamps converged."""
    try:
        options = LoadOptions(
            rate=args.rate,
            calls=args.calls,
            concurrency=args.concurrency,
            mailboxes=args.mailboxes,
            talk=args.talk,
            greeting=args.greeting,
            skip_greeting=args.skip_greeting,
            retrievals=args.retrievals,
            first_box=args.first_box,
            pin=args.pin,
            host=args.host,
            settle=args.settle,
            subscribe=args.subscribe,
            direct="x-voicemail" if args.proxy == "none" else None,
        )
        if args.agents < 0:
            raise ValueError(f"--agents must be 0 or more, got {args.agents}")
        gateways = ("popen",) * args.agents + tuple(args.gateway)
        topology = Topology(args.target, args.proxy, gateways)
    except ValueError as error:
        print(f"vmharness load: {error}", file=sys.stderr)
        return 2
    with LoadDisplay(options.calls, sys.stderr) as display:
        result = event_loop.run(run_load(options, topology, display.update))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0 if result["converged"] and not result["failed"] else 1
