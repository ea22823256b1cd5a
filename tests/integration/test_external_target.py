"""``vmharness run --target sip:HOST:PORT`` against a voicemail server the harness does not run.

The "foreign" server is a second embedded server started by hand (``vmharness serve`` in a
process of its own) with the configuration its administrator would write for the scenarios:
the mailboxes and PINs they use, and one peer per phone whose ``host=`` is the simulated proxy
the harness runs on ``--proxy-port``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.mailbox import MailboxId
from harness.peers.kamailio import free_port
from harness.report.trace import Trace
from harness.targets import (
    MailboxEntry,
    PeerEntry,
    SmdiEntry,
    render_sip_conf,
    render_smdi_conf,
    render_voicemail_conf,
)

BOX = MailboxId("2000")

BLACK_AND_WHITE = """\
name: a message left on a foreign server lights the lamp
proxy: {convention: x-voicemail}
mailboxes: [{box: "2000", pin: "4321"}]
phones: [{user: "2000"}]
steps:
  - deposit: {to: "2000", from: "+15551230000", seconds: 1, keys: "#"}
  - expect_sip: {hop: proxy->voicemail, method: INVITE, header: X-Voicemail-Mailbox, value: "2000"}
  - expect_notify: {phone: "2000", waiting: yes, voice: "1/0"}
  - expect_sip: {hop: voicemail->proxy, method: NOTIFY, status: 200}
  - expect_spool: {mailbox: "2000", count: 1, callerid: "+15551230000"}
"""

SMDI = """\
name: the PBX line needs the embedded server
proxy: {convention: request-uri}
mailboxes: [{box: "2000", pin: "4321"}]
pbx: {}
steps:
  - smdi_send: {type: B, forwarding: "2000", calling: "3500"}
"""


@dataclass
class Foreign:
    """A voicemail server in a process of its own, and the proxy port its peers name."""

    address: str
    spool: Path
    proxy_port: int


def _serve(tmp_path: Path, smdi_port: Path | None = None) -> Generator[Foreign]:
    """``vmharness serve`` for mailbox 2000 and phone 2000 (on an SMDI line, if given)."""
    proxy_port = free_port("127.0.0.1")
    config = tmp_path / "etc"
    config.mkdir(parents=True)
    general = {"format": "wav"}
    if smdi_port is not None:
        general.update(smdienable="yes", smdiport=str(smdi_port))
        (config / "smdi.conf").write_text(render_smdi_conf(SmdiEntry(str(smdi_port))))
    (config / "voicemail.conf").write_text(
        render_voicemail_conf([MailboxEntry(BOX, "4321")], general)
    )
    (config / "sip.conf").write_text(
        render_sip_conf([PeerEntry("2000", BOX)], ("127.0.0.1", proxy_port))
    )
    spool = tmp_path / "spool"
    command = [sys.executable, "-m", "harness.cli", "serve", "--config", str(config)]
    server = subprocess.Popen(
        [*command, "--spool", str(spool), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("voicemail server listening on "), line
        host, port = line.split()[-3].rsplit(":", 1)
        yield Foreign(f"sip:{host}:{port}", spool, proxy_port)
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def foreign(tmp_path: Path) -> Iterator[Foreign]:
    yield from _serve(tmp_path)


def run(tmp_path: Path, text: str, *options: str) -> tuple[int, Trace]:
    path = tmp_path / "scenarios" / "s.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    report = tmp_path / "report"
    code = main(["run", str(path), "--report", str(report), *options])
    [trace_file] = (report / "traces").glob("*.json")
    return code, Trace.from_json(json.loads(trace_file.read_text()))


def test_black_box_steps_pass_and_white_box_ones_skip_with_the_reason(
    tmp_path: Path, foreign: Foreign, capsys: pytest.CaptureFixture[str]
) -> None:
    code, trace = run(
        tmp_path,
        BLACK_AND_WHITE,
        "--target",
        foreign.address,
        "--proxy-port",
        str(foreign.proxy_port),
    )

    assert code == 0, capsys.readouterr().out
    assert trace.status == "passed"
    assert [step.status for step in trace.steps] == ["passed"] * 4 + ["skipped", "passed"]
    assert trace.steps[-2].detail.startswith("white-box: the spool of the external voicemail")
    assert "--target-spool" in trace.steps[-2].detail
    # The spool hidden, the deposit was checked by listening to it through retrieval.
    assert "signed LB1" in trace.steps[0].detail
    listened = trace.steps[-1]
    assert listened.kind == "listen_back"
    assert listened.detail.startswith("2000@default plays LB1 for ")
    seconds = float(listened.detail.split(" for ")[1].split(" s")[0])
    # One second of speech after the signature frame the harness put in front of it.
    assert abs(seconds - 1.6) <= 0.5, listened.detail
    assert trace.target == foreign.address
    # The foreign server is named in the ladder, and by the user agent it sends.
    assert "voicemail" in trace.parties()
    assert trace.target_identity == "vmharness"
    # It did store the message: the harness only could not look. Heard, it is now in Old.
    assert len(list((foreign.spool / "default" / "2000" / "Old").glob("msg*.txt"))) == 1


def test_with_its_spool_the_white_box_steps_run_too(tmp_path: Path, foreign: Foreign) -> None:
    code, trace = run(
        tmp_path,
        BLACK_AND_WHITE,
        "--target",
        foreign.address,
        "--target-spool",
        str(foreign.spool),
        "--proxy-port",
        str(foreign.proxy_port),
    )

    assert code == 0
    assert [step.status for step in trace.steps] == ["passed"] * 5
    assert trace.steps[-1].detail == "2000@default INBOX holds 1, the newest from +15551230000"


def test_a_scenario_that_needs_the_embedded_server_is_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, trace = run(tmp_path, SMDI, "--target", "sip:127.0.0.1:9")

    assert code == 0
    assert trace.status == "skipped"
    assert trace.steps[0].detail == (
        "the PBX's SMDI line reaches the embedded voicemail server only"
    )
    assert "SKIPPED" in capsys.readouterr().out


def _target_file(tmp_path: Path, foreign: Foreign, reset: str) -> Path:
    path = tmp_path / "target.yaml"
    path.write_text(
        "mailboxes: [{box: '2000', pin: '4321'}]\n"
        "peers: [{user: '2000', mailbox: '2000@default'}]\n"
        "conventions: [x-voicemail]\n"
        f"spool: {foreign.spool}\n"
        f"reset: {reset}\n"
    )
    return path


def test_a_target_file_gives_the_spool_and_resets_the_server_first(
    tmp_path: Path, foreign: Foreign
) -> None:
    described = _target_file(tmp_path, foreign, "echo reset >> resets.log")
    options = ("--target", foreign.address, "--proxy-port", str(foreign.proxy_port))

    code, trace = run(tmp_path, BLACK_AND_WHITE, *options, "--target-file", str(described))

    assert code == 0
    assert [step.status for step in trace.steps] == ["passed"] * 5
    # The reset command ran once, from the target file's directory.
    assert (tmp_path / "resets.log").read_text() == "reset\n"


def test_a_scenario_the_target_file_lacks_a_mailbox_for_is_skipped(
    tmp_path: Path, foreign: Foreign
) -> None:
    described = _target_file(tmp_path, foreign, "true")
    other_pin = BLACK_AND_WHITE.replace('pin: "4321"', 'pin: "5"')
    options = ("--target", foreign.address, "--target-file", str(described))

    code, trace = run(tmp_path, other_pin, *options)
    assert code == 0
    assert trace.status == "skipped"
    assert trace.steps[0].detail == (
        f"mailbox 2000@default has PIN 4321 at the target; the scenario needs 5 "
        f"(target file {described})"
    )

    _, trace = run(tmp_path, BLACK_AND_WHITE.replace("x-voicemail}", "diversion}"), *options)
    assert trace.steps[0].detail.startswith(
        "the scenario's proxy names the mailbox by diversion; the target reads x-voicemail"
    )


def test_a_failing_reset_fails_the_scenario_before_its_steps(
    tmp_path: Path, foreign: Foreign
) -> None:
    described = _target_file(tmp_path, foreign, "'echo spool busy; exit 3'")
    options = ("--target", foreign.address, "--target-file", str(described))

    code, trace = run(tmp_path, BLACK_AND_WHITE, *options)

    assert code == 1
    assert trace.steps[0].kind == "setup"
    assert trace.steps[0].detail == (
        "the target's reset command `echo spool busy; exit 3` failed with status 3: spool busy"
    )


def test_a_broken_target_file_is_refused_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    described = tmp_path / "target.yaml"
    described.write_text("mailboxes:\n  - {box: '2000', pin: 'abc'}\nconventions: [divertion]\n")
    path = tmp_path / "s.yaml"
    path.write_text(BLACK_AND_WHITE)

    code = main(["run", str(path), "--target", "sip:127.0.0.1:9", "--target-file", str(described)])

    assert code == 2
    err = capsys.readouterr().err
    assert f"{described}:2:" in err
    assert "mailboxes[0].pin" in err
    assert f"{described}:3:" in err
    assert 'unknown convention "divertion"' in err


SMDI_BUSY = """\
name: a busy forward on the foreign server's SMDI line lights the lamp
proxy: {convention: request-uri}
mailboxes: [{box: "2000", pin: "4321"}]
pbx: {framing: 7E1, baud: 9600, pacing: no}
steps:
  - smdi_send:
      type: B
      forwarding: "2000"
      calling: "3500"
      call: {seconds: 1, skip_greeting: yes}
  - expect_smdi: {line: "OP:MWI 2000!"}
  - expect_spool: {mailbox: "2000", count: 1, callerid: "3500"}
"""


def test_the_pbx_drives_the_smdi_line_a_target_file_names(
    tmp_path: Path, require_peer: Callable[..., str]
) -> None:
    socat = require_peer("socat")
    server_end, pbx_end = tmp_path / "vm-tty", tmp_path / "pbx-tty"
    cable = subprocess.Popen(
        [socat, f"pty,raw,echo=0,link={server_end}", f"pty,raw,echo=0,link={pbx_end}"]
    )
    try:
        for _ in range(100):
            if server_end.exists() and pbx_end.exists():
                break
            time.sleep(0.05)
        serving = _serve(tmp_path / "server", server_end)
        foreign = next(serving)
        try:
            described = tmp_path / "target.yaml"
            described.write_text(
                "mailboxes: [{box: '2000', pin: '4321'}]\n"
                "conventions: [request-uri]\n"
                f"smdi: {pbx_end}\n"
                f"spool: {foreign.spool}\n"
            )
            options = ("--target", foreign.address, "--proxy-port", str(foreign.proxy_port))
            code, trace = run(tmp_path, SMDI_BUSY, *options, "--target-file", str(described))
        finally:
            serving.close()
    finally:
        cable.terminate()
        cable.wait(timeout=10)

    assert code == 0, [step.detail for step in trace.steps]
    assert [step.status for step in trace.steps] == ["passed"] * 3
    # The PBX wrote the call record on the line the server reads.
    assert any(b"B2000 3500" in frame.data for frame in trace.smdi)
