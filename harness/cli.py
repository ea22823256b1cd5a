"""``vmharness``: run scenarios, validate them, rebuild or compare reports, or serve voicemail.

Exit codes: 0 everything passed, 1 a scenario failed (``report --compare``: a scenario newly
failed), 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import __version__
from harness.media.sounds import prompt_library
from harness.report.records import ScenarioOutcome
from harness.scenario.loader import ScenarioError, load_scenario, scenario_files, validate_paths
from harness.scenario.plan import RunOptions
from harness.scenario.runner import run_scenario
from harness.voicemail.conf.dialect import ConfigError
from harness.voicemail.conf.server_config import ServerConfig, load_config
from harness.voicemail.server import VoicemailServer

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler = {"run": _run, "validate": _validate, "report": _report, "serve": _serve}[args.command]
    return handler(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vmharness", description=__doc__)
    parser.add_argument("--version", action="version", version=f"vmharness {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log SIP and server events")
    commands = parser.add_subparsers(dest="command")

    _add_run(commands)
    validate = commands.add_parser("validate", help="check scenario files without running them")
    validate.add_argument("paths", nargs="*", type=Path, default=[Path("scenarios")])

    report = commands.add_parser(
        "report",
        help="rebuild a run's HTML report from its saved traces, or compare two runs",
        description="vmharness report RUN_DIR rebuilds RUN_DIR/index.html from RUN_DIR/traces; "
        "vmharness report --compare A B shows what changed from run A to run B.",
    )
    report.add_argument("run_dir", nargs="?", type=Path, help="a directory run --report wrote")
    report.add_argument(
        "--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"), help="two run directories"
    )
    report.add_argument(
        "--output", type=Path, help="where --compare writes its HTML page (AFTER/compare.html)"
    )

    _add_serve(commands)
    return parser


def _add_run(commands: Any) -> None:
    """``vmharness run``: scenarios, where results go, and what plays each party."""
    run = commands.add_parser(
        "run",
        help="run scenarios (by default against the embedded voicemail server and the "
        "simulated proxy)",
    )
    run.add_argument("paths", nargs="*", type=Path, default=[Path("scenarios")])
    run.add_argument(
        "--report", type=Path, help="write the HTML report, traces and pcaps into this directory"
    )
    run.add_argument("--junit", type=Path, help="write JUnit XML results to this file")
    parties = run.add_argument_group(
        "parties", "what plays the voicemail server and the proxy (default: as each scenario says)"
    )
    parties.add_argument(
        "--target",
        metavar="embedded|sip:HOST:PORT",
        help="the voicemail server under test: the embedded one, or any server at an address "
        "(configured by you to match the scenarios' mailboxes, PINs and phones)",
    )
    parties.add_argument(
        "--target-spool",
        type=Path,
        metavar="DIR",
        help="the external target's spool, for white-box steps (skipped without it)",
    )
    parties.add_argument(
        "--proxy",
        metavar="simulator|kamailio|sip:HOST:PORT",
        help="the proxy: the simulator, a Kamailio started for each scenario, or your proxy "
        "under test (it must route to the voicemail server: see --voicemail-port)",
    )
    parties.add_argument(
        "--proxy-profile",
        metavar="NAME|FILE",
        help="the simulated proxy's profile, instead of each scenario's",
    )
    parties.add_argument(
        "--voicemail-port",
        type=int,
        default=0,
        metavar="PORT",
        help="the embedded voicemail server's SIP port (default: any free), for a proxy "
        "configured to forward to it",
    )
    parties.add_argument(
        "--proxy-port",
        type=int,
        default=0,
        metavar="PORT",
        help="the simulated proxy's SIP port (default: any free), for an external target "
        "whose peers name it",
    )


def _add_serve(commands: Any) -> None:
    """``vmharness serve``: the standalone voicemail server."""
    serve = commands.add_parser("serve", help="run the standalone voicemail server")
    serve.add_argument("--config", type=Path, required=True, help="directory of voicemail.conf…")
    serve.add_argument("--spool", type=Path, required=True, help="voicemail spool directory")
    serve.add_argument("--host", default="127.0.0.1", help="SIP address to bind")
    serve.add_argument("--port", type=int, default=5060, help="SIP port to bind (0: any free)")
    serve.add_argument(
        "--status-port",
        type=int,
        help="serve read-only JSON status (GET /status) on this TCP port of --host (0: any free)",
    )
    serve.add_argument(
        "--prompts",
        choices=("sounds", "generated"),
        default="sounds",
        help="play Asterisk's installed sound files (its timing; the default when installed) "
        "or the generated prompts",
    )
    serve.add_argument("--sounds", type=Path, help="the sounds directory to play (with sounds)")


def _validate(args: argparse.Namespace) -> int:
    problems = validate_paths(args.paths)
    for problem in problems:
        print(problem)
    count = len(scenario_files(args.paths))
    print(f"{count} scenario file(s), {len(problems)} problem(s)")
    return EXIT_USAGE if problems or count == 0 else EXIT_OK


def _run(args: argparse.Namespace) -> int:
    try:
        options = RunOptions(
            target=args.target,
            target_spool=args.target_spool,
            proxy=args.proxy,
            profile=args.proxy_profile,
            voicemail_port=args.voicemail_port,
            proxy_port=args.proxy_port,
            log_dir=None if args.report is None else args.report / "kamailio",
        )
    except ValueError as error:
        print(f"vmharness run: {error}", file=sys.stderr)
        return EXIT_USAGE
    files = scenario_files(args.paths)
    if not files:
        print(f"no scenario files under {', '.join(map(str, args.paths))}", file=sys.stderr)
        return EXIT_USAGE
    scenarios = []
    problems = []
    for path in files:
        try:
            scenarios.append((path, load_scenario(path)))
        except ScenarioError as error:
            problems.extend(error.problems)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return EXIT_USAGE
    outcomes: list[ScenarioOutcome] = []
    for path, scenario in scenarios:
        outcome = asyncio.run(run_scenario(scenario, path, options))
        outcomes.append(outcome)
        seconds = outcome.ended - outcome.started
        print(f"{outcome.status.upper():7} {path}  {scenario.name} ({seconds:.1f} s)")
        failure = outcome.failure
        if failure is not None:
            print(f"        step {failure.index + 1} ({failure.kind}): {failure.detail}")
        elif outcome.status == "skipped":
            reasons = dict.fromkeys(step.detail for step in outcome.steps if step.detail)
            print(f"        {'; '.join(reasons) or 'every step was skipped'}")
    counts = {status: sum(o.status == status for o in outcomes) for status in ("passed", "failed")}
    skipped = len(outcomes) - counts["passed"] - counts["failed"]
    if args.report is not None or args.junit is not None:
        try:
            _write_results(outcomes, args.report, args.junit)
        except OSError as error:
            print(f"vmharness run: cannot write results: {error}", file=sys.stderr)
            return EXIT_USAGE
    print(f"{counts['passed']} passed, {counts['failed']} failed, {skipped} skipped")
    return EXIT_FAILED if counts["failed"] else EXIT_OK


def _write_results(
    outcomes: list[ScenarioOutcome],
    report: Path | None,
    junit: Path | None,
) -> None:
    # The report modules load scapy (half a second): only runs that write results pay for it.
    from harness.report.html import entries_for, write_report  # noqa: PLC0415
    from harness.report.junit import write_junit  # noqa: PLC0415
    from harness.report.trace import Trace  # noqa: PLC0415

    traces = [Trace.from_outcome(outcome) for outcome in outcomes]
    files: dict[int, list[str]] = {}
    if report is not None:
        index = write_report(traces, report)
        print(f"report: {index}")
        for number, entry in enumerate(entries_for(traces)):
            files[number] = [
                str((report / name).resolve()) for name in (entry.trace_file, entry.pcap_file)
            ]
    if junit is not None:
        print(f"junit: {write_junit(traces, junit, files)}")


def _report(args: argparse.Namespace) -> int:
    from harness.report.compare import compare_runs  # noqa: PLC0415
    from harness.report.html import load_run, rebuild_report, write_comparison  # noqa: PLC0415
    from harness.report.trace import TraceError  # noqa: PLC0415

    if (args.run_dir is None) == (args.compare is None):
        print("vmharness report: give either RUN_DIR or --compare BEFORE AFTER", file=sys.stderr)
        return EXIT_USAGE
    if args.output is not None and args.compare is None:
        print("vmharness report: --output goes with --compare", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.run_dir is not None:
            print(f"report: {rebuild_report(args.run_dir)}")
            return EXIT_OK
        before, after = args.compare
        old, new = load_run(before), load_run(after)
    except TraceError as error:
        print(f"vmharness report: {error}", file=sys.stderr)
        return EXIT_USAGE
    comparison = compare_runs([e.trace for e in old], [e.trace for e in new])
    print(comparison.text())
    page = write_comparison(comparison, args.output or after / "compare.html", before, after, new)
    print(f"comparison: {page}")
    return EXIT_FAILED if comparison.regressed else EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    logging.getLogger("harness").setLevel(logging.INFO)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"vmharness serve: {error}", file=sys.stderr)
        return EXIT_USAGE
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return asyncio.run(_serve_until_stopped(config, args))


async def _serve_until_stopped(config: ServerConfig, args: argparse.Namespace) -> int:
    server = VoicemailServer(
        config,
        args.spool,
        host=args.host,
        port=args.port,
        status_port=args.status_port,
        prompts=prompt_library(args.prompts, args.sounds),
    )
    try:
        await server.start()
    except OSError as error:
        print(f"vmharness serve: cannot bind {args.host}:{args.port}: {error}", file=sys.stderr)
        return EXIT_USAGE
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    host, port = server.address
    print(f"voicemail server listening on {host}:{port} (spool {args.spool})", flush=True)
    if server.status_port is not None:
        print(f"status on http://{host}:{server.status_port}/status", flush=True)
    await stop.wait()
    await server.close()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
