"""``vmharness``: run scenarios, validate them, rebuild or compare reports, or serve voicemail.

Exit codes: 0 everything passed, 1 a scenario failed (``report --compare``, ``run --baseline``:
a scenario newly failed), 2 a usage or configuration error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harness import __version__
from harness.library import copy_library, library_files, library_path
from harness.load.command import add_load_command, run_load_command
from harness.media import event_loop
from harness.media.playback_link import PlaybackLink
from harness.media.session import use_playback_process
from harness.media.sounds import prompt_library
from harness.report.progress import Item
from harness.report.records import ScenarioOutcome
from harness.scenario.batch import (
    BatchResult,
    load_durations,
    make_progress,
    parse_jobs,
    plan_batch,
    run_batch,
    save_durations,
    shown,
)
from harness.scenario.loader import ScenarioError, load_scenario, scenario_files, validate_paths
from harness.scenario.model import Scenario
from harness.scenario.plan import RunOptions
from harness.scenario.site import STARTER, SiteError, load_site
from harness.scenario.target_file import load_target_file
from harness.scenario.workers import LogSetup
from harness.voicemail.conf.dialect import ConfigError
from harness.voicemail.conf.server_config import ServerConfig, load_config
from harness.voicemail.listening import Listening, listening
from harness.voicemail.overload import OverloadPolicy
from harness.voicemail.server import VoicemailServer

if TYPE_CHECKING:
    from harness.report.html import Entry
    from harness.report.matrix import PreviousRun

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: Ctrl-C or SIGTERM (a cancelled CI job), as a shell reports an interrupted command.
EXIT_INTERRUPTED = 130


#: NOTIFYs per second a served server sends at most: a resync of 10,000 peers takes 50 s
#: instead of arriving at the proxy all at once.
DEFAULT_MWI_RATE = 200.0
#: Seconds of event-loop lag past which `serve` refuses new calls: five 20 ms frames late.
DEFAULT_MAX_LOOP_LAG = 0.1


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
    handler = {
        "run": _run,
        "validate": _validate,
        "report": _report,
        "serve": _serve,
        "library": _library,
        "site": _site,
        "reload": _reload,
        "load": run_load_command,
    }[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        print(f"vmharness {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


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
    report.add_argument(
        "--across-targets",
        action="store_true",
        help="with --compare: two runs against different voicemail servers, shown scenario by "
        "scenario where the servers differ (AFTER/differential.html)",
    )

    _add_serve(commands)
    _add_library(commands)
    _add_site(commands)
    _add_reload(commands)
    add_load_command(commands)
    return parser


def _add_site(commands: Any) -> None:
    """``vmharness site init``: a commented starting site file."""
    site = commands.add_parser("site", help="describe the deployment under test (site file)")
    actions = site.add_subparsers(dest="site_command", required=True)
    init = actions.add_parser("init", help="write a commented starting site file")
    init.add_argument("file", nargs="?", type=Path, default=Path("site.yaml"))


def _add_run(commands: Any) -> None:
    """``vmharness run``: scenarios, where results go, and what plays each party."""
    run = commands.add_parser(
        "run",
        help="run scenarios (by default against the embedded voicemail server and the "
        "simulated proxy)",
    )
    run.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="scenario files or folders (default: scenarios, or all of --library)",
    )
    run.add_argument(
        "--library",
        action="store_true",
        help="run the scenario library shipped with vmharness; PATHS are then inside it",
    )
    run.add_argument(
        "--report", type=Path, help="write the HTML report, traces and pcaps into this directory"
    )
    run.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="a previous run's report directory: the report shows what newly failed, what was "
        "fixed and how latency moved, and the run fails only on a newly failing scenario",
    )
    run.add_argument("--junit", type=Path, help="write JUnit XML results to this file")
    run.add_argument(
        "--site",
        type=Path,
        metavar="FILE",
        help="the deployment under test (vmharness site init writes one): its proxy and "
        "voicemail server, with the scenarios that do not apply to it skipped",
    )
    run.add_argument(
        "-j",
        "--jobs",
        default="auto",
        metavar="N|auto",
        help="scenarios to run at once, each with its own server, simulator and ports "
        "(default auto: six per core); scenarios sharing a real party run together only "
        "with disjoint phones and mailboxes",
    )
    run.add_argument(
        "--progress",
        choices=("auto", "live", "plain"),
        default="auto",
        help="live: a panel of running scenarios (default on a terminal outside CI); "
        "plain: one line per result",
    )
    parties = run.add_argument_group(
        "parties", "what plays the voicemail server and the proxy (default: as each scenario says)"
    )
    parties.add_argument(
        "--target",
        metavar="embedded|asterisk|sip:HOST:PORT",
        help="the voicemail server under test: the embedded one, a real Asterisk the harness "
        "configures and starts for each scenario, or any server at an address (configured by "
        "you to match the scenarios' mailboxes, PINs and phones)",
    )
    parties.add_argument(
        "--asterisk",
        type=Path,
        metavar="PATH",
        help="the asterisk binary of --target asterisk (default: on PATH, else the build "
        "`python -m harness.peers.asterisk_build` cached)",
    )
    parties.add_argument(
        "--target-file",
        type=Path,
        metavar="YAML",
        help="what the --target sip:HOST:PORT server has (mailboxes, PINs, peers, conventions, "
        "SMDI line, spool) and how to reset it; scenarios it cannot serve are skipped",
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
        "--realtime",
        choices=("sqlite",),
        help="the embedded server reads its mailboxes and peers from a database of this kind "
        "(static realtime rows), whatever the scenarios say",
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
    serve.add_argument(
        "--host", help="SIP address to bind (default: sip.conf's bindaddr, else 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, help="SIP port to bind, 0: any free (default: sip.conf's bindport)"
    )
    serve.add_argument(
        "--no-sip-conf",
        action="store_true",
        help="start without a sip.conf (no peers: no unsolicited MWI is sent to anyone)",
    )
    serve.add_argument(
        "--status-port",
        type=int,
        help="serve read-only JSON status (GET /status) on this TCP port of --host (0: any free)",
    )
    serve.add_argument(
        "--mwi-rate",
        type=float,
        default=DEFAULT_MWI_RATE,
        help="unsolicited MWI NOTIFYs per second at most, so the start-up resync of many peers "
        f"does not flood the proxy (default {DEFAULT_MWI_RATE:g}; 0: unpaced)",
    )
    serve.add_argument(
        "--max-loop-lag",
        type=float,
        default=DEFAULT_MAX_LOOP_LAG,
        help="refuse new calls (503, Retry-After) while the event loop has run timers this "
        "many seconds late more than once within the last second (a lone pause is not "
        "overload), so calls under way keep their audio "
        f"(default {DEFAULT_MAX_LOOP_LAG:g}; 0: never)",
    )
    serve.add_argument(
        "--prompts",
        choices=("sounds", "generated"),
        default="sounds",
        help="play Asterisk's installed sound files (its timing; the default when installed) "
        "or the generated prompts",
    )
    serve.add_argument("--sounds", type=Path, help="the sounds directory to play (with sounds)")
    serve.add_argument(
        "--playback-process",
        choices=("auto", "on", "off"),
        default="auto",
        help="pace prompts and read the callers' RTP in a second process, on another core "
        "(auto: when the machine has more than one)",
    )


def _add_reload(commands: Any) -> None:
    """``vmharness reload``: a running server reads its configuration again."""
    reload = commands.add_parser(
        "reload",
        help="make a running server read its configuration (files or database) again",
        description="Asks the server's status endpoint (serve --status-port) to reload; "
        "kill -HUP <pid> does the same. A configuration that fails keeps the running one.",
    )
    reload.add_argument("--host", default="127.0.0.1", help="the server's --host")
    reload.add_argument("--status-port", type=int, required=True, help="the server's status port")


def _reload(args: argparse.Namespace) -> int:
    url = f"http://{args.host}:{args.status_port}/reload"
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            outcome = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        outcome = json.loads(error.read() or b"{}")
    except (OSError, ValueError) as error:
        print(f"vmharness reload: no answer from {url}: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(outcome.get("message", outcome))
    return EXIT_OK if outcome.get("ok") else EXIT_FAILED


def _add_library(commands: Any) -> None:
    """``vmharness library``: the scenario library shipped with the package."""
    library = commands.add_parser(
        "library", help="list the scenario library shipped with vmharness, or copy it to edit"
    )
    actions = library.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="the library's folder and its scenario files")
    copy = actions.add_parser("copy", help="copy the library into a new directory")
    copy.add_argument("directory", type=Path, help="a new or empty directory")


def _library(args: argparse.Namespace) -> int:
    try:
        if args.action == "copy":
            print(f"scenario library copied to {copy_library(args.directory)}")
            return EXIT_OK
        files = library_files()
    except OSError as error:
        print(f"vmharness library: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{library_path()}: {len(files)} scenario files")
    for file in files:
        print(f"  {file.as_posix()}")
    return EXIT_OK


def _run_paths(args: argparse.Namespace) -> list[Path]:
    """The paths ``run`` was given, inside the shipped library with ``--library``."""
    if not args.library:
        return args.paths or [Path("scenarios")]
    root = library_path()
    return [root / path for path in args.paths] or [root]


def _validate(args: argparse.Namespace) -> int:
    problems = validate_paths(args.paths)
    for problem in problems:
        print(problem)
    count = len(scenario_files(args.paths))
    print(f"{count} scenario file(s), {len(problems)} problem(s)")
    return EXIT_USAGE if problems or count == 0 else EXIT_OK


def _run_options(args: argparse.Namespace) -> RunOptions:
    """The run's options from the command line; ValueError saying what is wrong (a target
    file's problems each on its line)."""
    described = None if args.target_file is None else load_target_file(args.target_file)
    return RunOptions(
        target=args.target,
        target_spool=args.target_spool,
        proxy=args.proxy,
        profile=args.proxy_profile,
        voicemail_port=args.voicemail_port,
        proxy_port=args.proxy_port,
        log_dir=None if args.report is None else args.report / "kamailio",
        asterisk=args.asterisk,
        asterisk_log_dir=None if args.report is None else args.report / "asterisk",
        target_file=described,
        realtime=args.realtime,
    )


def _site(args: argparse.Namespace) -> int:
    file: Path = args.file
    if file.exists():
        print(f"vmharness site init: {file} exists; not overwriting it", file=sys.stderr)
        return EXIT_USAGE
    file.write_text(STARTER)
    print(f"wrote {file}: edit it, then: vmharness run scenarios --site {file} --report out/")
    return EXIT_OK


def _site_options(args: argparse.Namespace) -> RunOptions | None:
    """The run options of ``--site``; None after printing why the site cannot be used."""
    given = [
        option
        for option, value in (("--target", args.target), ("--proxy", args.proxy))
        if value is not None
    ]
    if given:
        print(
            f"vmharness run: the site file names the proxy and voicemail server; drop "
            f"{' and '.join(given)}",
            file=sys.stderr,
        )
        return None
    try:
        site = load_site(args.site)
    except SiteError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return None
    log_dir = None if args.report is None else args.report / "kamailio"
    return RunOptions.for_site(site, log_dir)


def _options(args: argparse.Namespace) -> RunOptions | None:
    """The run's options, from ``--site`` or the party options; None after printing why not."""
    if args.site is not None:
        return _site_options(args)
    try:
        return _run_options(args)
    except ValueError as error:
        print(f"vmharness run: {error}", file=sys.stderr)
        return None


def _run(args: argparse.Namespace) -> int:
    options = _options(args)
    if options is None:
        return EXIT_USAGE
    try:
        paths = _run_paths(args)
    except FileNotFoundError as error:
        print(f"vmharness run: {error}", file=sys.stderr)
        return EXIT_USAGE
    scenarios = _load_all(paths, None if options.site is None else options.site.variables())
    if scenarios is None:
        return EXIT_USAGE
    baseline = _baseline(args)
    if baseline is False:
        return EXIT_USAGE
    result = _run_scenarios(args, options, scenarios)
    if result is None:
        return EXIT_USAGE
    outcomes = result.outcomes
    counts = {status: sum(o.status == status for o in outcomes) for status in ("passed", "failed")}
    skipped = len(outcomes) - counts["passed"] - counts["failed"]
    if args.report is not None or args.junit is not None:
        try:
            _write_results(outcomes, args.report, args.junit, baseline or None)
            if args.report is not None:
                save_durations(args.report, outcomes)
        except OSError as error:
            print(f"vmharness run: cannot write results: {error}", file=sys.stderr)
            return EXIT_USAGE
    print(f"{counts['passed']} passed, {counts['failed']} failed, {skipped} skipped")
    found = dict.fromkeys(name for outcome in outcomes for name in outcome.findings)
    if found:
        print(f"findings: {', '.join(found)}")
    print(f"took {result.cost()}")
    if baseline:
        return _against_baseline(baseline, outcomes)
    return EXIT_FAILED if counts["failed"] else EXIT_OK


def _baseline(args: argparse.Namespace) -> PreviousRun | Literal[False] | None:
    """The ``--baseline`` run's traces (None: no baseline, or none there yet; False: a usage
    error, printed)."""
    from harness.report.html import load_run  # noqa: PLC0415
    from harness.report.trace import TraceError  # noqa: PLC0415

    if args.baseline is None:
        return None
    if args.report is not None and args.baseline.resolve() == args.report.resolve():
        print("vmharness run: --baseline must be another directory than --report", file=sys.stderr)
        return False
    if not args.baseline.exists():
        print(f"no baseline at {args.baseline} yet: every failure counts", flush=True)
        return None
    try:
        return (str(args.baseline), [entry.trace for entry in load_run(args.baseline)])
    except TraceError as error:
        print(f"vmharness run: --baseline: {error}", file=sys.stderr)
        return False


def _against_baseline(baseline: PreviousRun, outcomes: list[ScenarioOutcome]) -> int:
    """Print what changed since the baseline; failed only for a newly failing scenario."""
    from harness.report.compare import compare_runs  # noqa: PLC0415
    from harness.report.trace import Trace  # noqa: PLC0415

    comparison = compare_runs(baseline[1], [Trace.from_outcome(o) for o in outcomes])
    print(f"since {baseline[0]}:")
    print(comparison.text())
    return EXIT_FAILED if comparison.regressed else EXIT_OK


def _load_all(
    paths: list[Path], variables: dict[str, str] | None
) -> list[tuple[Path, Scenario]] | None:
    """Every scenario under ``paths`` (``variables`` overriding each one's ``vars:``); None
    (the problems printed) when one does not load."""
    files = scenario_files(paths)
    if not files:
        print(f"no scenario files under {', '.join(map(str, paths))}", file=sys.stderr)
        return None
    scenarios = []
    problems = []
    for path in files:
        try:
            scenarios.append((path, load_scenario(path, variables)))
        except ScenarioError as error:
            problems.extend(error.problems)
    for problem in problems:
        print(problem, file=sys.stderr)
    return None if problems else scenarios


def _run_scenarios(
    args: argparse.Namespace, options: RunOptions, scenarios: list[tuple[Path, Scenario]]
) -> BatchResult | None:
    """Run ``scenarios`` as many at once as ``-j`` and the parties allow, with progress."""
    try:
        jobs = parse_jobs(args.jobs)
    except ValueError as error:
        print(f"vmharness run: {error}", file=sys.stderr)
        return None
    batch = plan_batch(scenarios, options, jobs, load_durations(args.report))
    if batch.note is not None:
        print(f"{batch.slots} at once: {batch.note}", flush=True)
    items = [
        Item(shown(path), job.expected)
        for (path, _), job in zip(scenarios, batch.jobs, strict=True)
    ]
    progress = make_progress(args.progress, items, batch.slots, verbose=args.verbose)
    log = None if args.report is None else args.report / "run.log"
    return run_batch(scenarios, options, batch, progress, LogSetup(log, args.verbose))


def _write_results(
    outcomes: list[ScenarioOutcome],
    report: Path | None,
    junit: Path | None,
    baseline: PreviousRun | None = None,
) -> None:
    # The report modules load scapy (half a second): only runs that write results pay for it.
    from harness.report.html import entries_for, write_report  # noqa: PLC0415
    from harness.report.junit import write_junit  # noqa: PLC0415
    from harness.report.trace import Trace  # noqa: PLC0415

    traces = [Trace.from_outcome(outcome) for outcome in outcomes]
    files: dict[int, list[str]] = {}
    if report is not None:
        index = write_report(traces, report, baseline)
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
    for given, option in ((args.output, "--output"), (args.across_targets, "--across-targets")):
        if given and args.compare is None:
            print(f"vmharness report: {option} goes with --compare", file=sys.stderr)
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
    if args.across_targets:
        return _differential(old, new, args.output or after / "differential.html")
    comparison = compare_runs([e.trace for e in old], [e.trace for e in new])
    print(comparison.text())
    page = write_comparison(comparison, args.output or after / "compare.html", before, after, new)
    print(f"comparison: {page}")
    return EXIT_FAILED if comparison.regressed else EXIT_OK


def _differential(old: Sequence[Entry], new: Sequence[Entry], output: Path) -> int:
    """Print and write where the servers of two runs differ; exit 1 when they do."""
    from harness.report.differential import differential  # noqa: PLC0415
    from harness.report.html import write_differential  # noqa: PLC0415

    result = differential([e.trace for e in old], [e.trace for e in new])
    print(result.text())
    print(f"differential: {write_differential(result, output)}")
    return EXIT_FAILED if result.differing else EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    logging.getLogger("harness").setLevel(logging.INFO)
    try:
        config = load_config(args.config)
        listen = listening(config, args.host, args.port)
    except ConfigError as error:
        print(f"vmharness serve: {error}", file=sys.stderr)
        return EXIT_USAGE
    # sip.conf on disk, or its rows in a database (extconfig.conf), names the peers MWI goes to.
    has_sip_conf = (args.config / "sip.conf").exists() or "sip.conf" in config.extconfig.static
    if args.config.is_dir() and not has_sip_conf and not args.no_sip_conf:
        print(
            f"vmharness serve: sip.conf: not found in {args.config}; without peers no MWI is "
            "sent (give --no-sip-conf to run without one)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    # uvloop when installed (the ``fast`` extra): the server's media timing runs on the loop.
    return event_loop.run(_serve_until_stopped(config, args, listen))


async def _serve_until_stopped(
    config: ServerConfig, args: argparse.Namespace, listen: Listening
) -> int:
    server = VoicemailServer(
        config,
        args.spool,
        host=listen.host,
        port=listen.port,
        status_port=args.status_port,
        tcp=listen.tcp,
        mwi_rate=args.mwi_rate or None,
        prompts=prompt_library(args.prompts, args.sounds),
        overload=OverloadPolicy(args.max_loop_lag) if args.max_loop_lag > 0 else None,
    )
    try:
        await server.start()
    except OSError as error:
        print(f"vmharness serve: cannot bind {listen.host}:{listen.port}: {error}", file=sys.stderr)
        return EXIT_USAGE
    playback = await _start_playback_process(args.playback_process)
    try:
        return await _serve_started(server, args, listen, playback)
    finally:
        if playback is not None:
            use_playback_process(None)
            await playback.close()


async def _start_playback_process(choice: str) -> PlaybackLink | None:
    """The playback process ``--playback-process`` asks for, started and in use (or None)."""
    if choice == "off" or (choice == "auto" and (os.cpu_count() or 1) < 2):
        return None
    link = await PlaybackLink.start()
    use_playback_process(link)
    return link


async def _serve_started(
    server: VoicemailServer,
    args: argparse.Namespace,
    listen: Listening,
    playback: PlaybackLink | None,
) -> int:
    """Serve until SIGINT or SIGTERM, then stop the server."""
    tls_port = listen.tls_port
    if listen.tls is not None:
        try:
            tls_port = await server.transport.listen_tls(listen.tls, listen.tls_host, tls_port)
        except OSError as error:
            await server.close()
            where = f"{listen.tls_host}:{tls_port}"
            print(f"vmharness serve: cannot bind TLS {where}: {error}", file=sys.stderr)
            return EXIT_USAGE
    _settle_collector()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    reloads: set[asyncio.Task[object]] = set()
    loop.add_signal_handler(signal.SIGHUP, _reload_on_signal, server, reloads)
    host, port = server.address
    print(f"voicemail server listening on {host}:{port} (spool {args.spool})", flush=True)
    if server.status_port is not None:
        print(f"status on http://{host}:{server.status_port}/status", flush=True)
    if listen.tcp:
        print(f"SIP over TCP on {host}:{port}", flush=True)
    if listen.tls is not None:
        print(f"SIP over TLS on {listen.tls_host}:{tls_port}", flush=True)
    if playback is not None:
        print(
            f"prompts paced and RTP read by the playback process (pid {playback.pid})", flush=True
        )
    await stop.wait()
    await server.close()
    return EXIT_OK


def _settle_collector() -> None:
    """Keep the cyclic garbage collector off what start-up built, for good.

    Configuration, prompts and the spool index live as long as the server; frozen
    (``gc.freeze``), no later full collection walks them again. A full collection holds the
    event loop for as long as it walks, and past ``--max-loop-lag`` calls are refused 503.
    The thresholds stay Python's: at 300 calls/s a first generation of 10,000 saved no CPU
    measurably and made the young collections' pauses ten times longer.
    """
    gc.collect()
    gc.freeze()


def _reload_on_signal(server: VoicemailServer, reloads: set[asyncio.Task[object]]) -> None:
    """SIGHUP: reload in the background (the outcome is logged), keeping the task referenced."""
    task: asyncio.Task[object] = asyncio.ensure_future(server.reload())
    reloads.add(task)
    task.add_done_callback(reloads.discard)


if __name__ == "__main__":
    sys.exit(main())
