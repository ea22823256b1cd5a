"""The report as a person sees it: headless Chromium renders the pages offline."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium(binary: str, profile: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> str:
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    return out


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_the_index_and_a_failing_page_render_offline(
    require_peer: Any, cli_run: Any, tmp_path: Path
) -> None:
    chromium = require_peer("chromium")
    index = (cli_run.report / "index.html").resolve()
    failing = (cli_run.report / "scenarios" / "data-run-wrong-count.html").resolve()
    shot = tmp_path / "index.png"
    # The three renderings run side by side: one Chromium start is about a second.
    processes = [
        _chromium(
            chromium,
            tmp_path / "p1",
            f"--screenshot={shot}",
            "--window-size=1280,900",
            index.as_uri(),
        ),
        _chromium(chromium, tmp_path / "p2", "--dump-dom", index.as_uri()),
        _chromium(chromium, tmp_path / "p3", "--dump-dom", failing.as_uri() + "#msg-3"),
    ]
    _, index_dom, failing_dom = (_finish(process) for process in processes)

    assert _png_size(shot) == (1280, 900)
    assert shot.stat().st_size > 20_000  # a blank page compresses to a few kB

    # The matrix: one row per scenario, the failing one red and linked to its page.
    cells = re.findall(r'<td class="cell (\w+)" data-scenario="([^"]+)"', index_dom)
    assert ("failed", "lamp shows two new messages after one deposit") in cells
    assert {name for _, name in cells} == {
        "lamp shows two new messages after one deposit",
        "a phone registers at the proxy again",
    }
    assert 'href="scenarios/data-run-wrong-count.html">failed</a>' in index_dom
    assert "vmharness" in index_dom.split('id="matrix"')[1]  # the target's identity heads a column

    # The failing page: the verdict, and the ladder with its failed step marked.
    assert '<section class="verdict" id="verdict">' in failing_dom
    assert "Step 2 (expect_notify) failed" in failing_dom
    ladder = failing_dom.split('id="ladder"')[1].split("</svg>")[0]
    assert 'class="failed-step"' in ladder
    arrows = re.findall(r'<a href="#msg-(\d+)"', ladder)
    rows = re.findall(r'<tr id="msg-(\d+)"', failing_dom)
    assert arrows == rows
    assert len(rows) > 10
    # Following an arrow's link opens that message's raw text.
    opened = re.findall(r'<tr id="msg-(\d+)">(?:(?!</tr>).)*<details open', failing_dom, re.S)
    assert opened == ["3"]


#: A laptop's screen.
LAPTOP = (1280, 800)
#: Where the screenshot of the matrix is kept for a person to look at.
ARTEFACTS = Path(__file__).resolve().parents[2] / "reports" / "test-artefacts"
#: Added to a copy of the index: the page's width as the browser laid it out.
MEASURE = (
    "<script>document.body.dataset.layout = "
    "document.documentElement.scrollWidth + 'x' + window.innerWidth;</script>"
)


def test_the_matrix_fits_a_laptop_screen_for_one_party(
    require_peer: Any, cli_run: Any, tmp_path: Path
) -> None:
    chromium = require_peer("chromium")
    index = cli_run.report / "index.html"
    measured = index.with_name("measured.html")
    measured.write_text(index.read_text().replace("</body>", MEASURE + "</body>"))
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTEFACTS / "matrix-1280x800.png"
    size = f"--window-size={LAPTOP[0]},{LAPTOP[1]}"
    processes = [
        _chromium(chromium, tmp_path / "p1", f"--screenshot={shot}", size, index.as_uri()),
        _chromium(chromium, tmp_path / "p2", "--dump-dom", size, measured.resolve().as_uri()),
    ]
    _, dom = (_finish(process) for process in processes)
    print(f"screenshot of the matrix: {shot}")

    assert _png_size(shot) == LAPTOP
    layout = re.search(r'data-layout="(\d+)x(\d+)"', dom)
    assert layout is not None
    scroll, window = map(int, layout.groups())
    assert scroll <= window, f"the page is {scroll} px wide in a {window} px window"
    # The failure comes first, its reason on its row; the pass is folded away.
    matrix = dom.split('id="matrix"')[1].split("</table>\n")[0]
    assert matrix.index("cell failed") < matrix.index("<details>") < matrix.index("cell passed")
    assert "step 2 (expect_notify)" in matrix
