"""Loading 10,000 mailboxes and peers from SQLite and PostgreSQL, and the paced MWI resync.

Prints how long ``load_config`` takes for a configuration of N mailboxes, each with its
peer (``host=`` the proxy), read from files, from SQLite and from PostgreSQL (a throwaway
cluster, when PostgreSQL is installed), in both table layouts; then how long the start-up
resync of their NOTIFYs takes through a proxy that answers 200, paced and unpaced, and the
most NOTIFYs the proxy saw in any one second.

    .venv/bin/python bench/realtime.py [--mailboxes 10000] [--rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from harness.peers.postgres import PostgresCluster, binaries
from harness.sip.builder import make_response
from harness.sip.message import Request, parse_message
from harness.voicemail.conf.dialect import parse_conf
from harness.voicemail.conf.server_config import ServerConfig, load_config
from harness.voicemail.realtime.schema import (
    PEERS_TABLE,
    STATIC_TABLE,
    VOICEMAIL_TABLE,
    static_rows,
)
from harness.voicemail.server import VoicemailServer

STATIC_INSERT = (
    "INSERT INTO ast_config (id, cat_metric, var_metric, commented, filename, category, "
    "var_name, var_val) VALUES (?, ?, ?, 0, ?, ?, ?, ?)"
)


def files(count: int, proxy_port: int) -> dict[str, str]:
    """voicemail.conf and sip.conf for ``count`` subscribers."""
    boxes = "".join(f"{20000 + n} => {n % 10000:04d},Subscriber {n}\n" for n in range(count))
    peers = "".join(
        f"[{20000 + n}](subscriber)\ndefaultuser={20000 + n}\nmailbox={20000 + n}@default\n"
        for n in range(count)
    )
    return {
        "voicemail.conf": f"[general]\nformat=wav\n\n[default]\n{boxes}",
        "sip.conf": "[general]\nuseragent=vmharness\n\n[subscriber](!)\ntype=peer\n"
        f"host=127.0.0.1\nport={proxy_port}\n\n{peers}",
    }


def fill_static(
    execute_many: Callable[[str, Sequence[tuple[Any, ...]]], None],
    texts: dict[str, str],
    descending: bool = False,
) -> None:
    next_id = 1
    for name, text in texts.items():
        rows = static_rows(parse_conf(text, Path(name)), name, next_id, descending=descending)
        execute_many(
            STATIC_INSERT,
            [
                (r.id, r.cat_metric, r.var_metric, r.filename, r.category, r.var_name, r.var_val)
                for r in rows
            ],
        )
        next_id += len(rows)


def fill_tables(
    execute_many: Callable[[str, Sequence[tuple[Any, ...]]], None], count: int, proxy_port: int
) -> None:
    execute_many(
        "INSERT INTO voicemail (uniqueid, context, mailbox, password, fullname) "
        "VALUES (?, 'default', ?, ?, ?)",
        [(n + 1, str(20000 + n), f"{n % 10000:04d}", f"Subscriber {n}") for n in range(count)],
    )
    execute_many(
        "INSERT INTO sippeers (id, name, type, host, port, defaultuser, mailbox) "
        "VALUES (?, ?, 'peer', '127.0.0.1', ?, ?, ?)",
        [
            (n + 1, str(20000 + n), proxy_port, str(20000 + n), f"{20000 + n}@default")
            for n in range(count)
        ],
    )


def timed_load(directory: Path, expected: int, repeat: int = 3) -> float:
    """The best of ``repeat`` loads, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        config = load_config(directory)
        best = min(best, time.perf_counter() - started)
        assert len(config.voicemail.mailboxes) == expected, len(config.voicemail.mailboxes)
        assert len(config.sip.peers) == expected, len(config.sip.peers)
    return best


def layout_dirs(
    root: Path, driver: str, database: str, settings: dict[str, str]
) -> dict[str, Path]:
    """A configuration directory per table layout, mapped to ``database``."""
    dirs = {}
    for layout, (vm_table, sip_table) in {
        "static rows": ("ast_config", "ast_config"),
        "voicemail + sippeers tables": ("voicemail", "sippeers"),
    }.items():
        directory = root / f"{driver}-{layout.split()[0]}"
        directory.mkdir()
        (directory / "extconfig.conf").write_text(
            f"[settings]\nvoicemail.conf => {driver},{database},{vm_table}\n"
            f"sip.conf => {driver},{database},{sip_table}\n"
        )
        if vm_table == "voicemail":
            (directory / "voicemail.conf").write_text("[general]\nformat=wav\n")
        for name, text in settings.items():
            (directory / name).write_text(text)
        dirs[layout] = directory
    return dirs


def create_all(execute: Callable[[str], None]) -> None:
    execute(STATIC_TABLE.format(table="ast_config"))
    execute(VOICEMAIL_TABLE.format(table="voicemail"))
    execute(PEERS_TABLE.format(table="sippeers"))


def bench_sqlite(root: Path, count: int, texts: dict[str, str], proxy_port: int) -> dict[str, Path]:
    database = root / "realtime.sqlite3"
    with sqlite3.connect(database) as db:
        create_all(db.execute)
        fill_static(db.executemany, texts)
        fill_tables(db.executemany, count, proxy_port)
    db.close()
    dirs = layout_dirs(root, "sqlite3", str(database), {})
    for layout, directory in dirs.items():
        print(f"  sqlite3, {layout}: {timed_load(directory, count):.3f} s")
    return dirs


def bench_pgsql(root: Path, count: int, texts: dict[str, str], proxy_port: int) -> None:
    import psycopg  # noqa: PLC0415

    bindir = binaries()
    if bindir is None:
        print("  pgsql: PostgreSQL is not installed (apt-get install postgresql): skipped")
        return
    with PostgresCluster(bindir) as cluster, psycopg.connect(cluster.conninfo()) as db:

        def many(sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
            with db.cursor() as cursor:
                cursor.executemany(sql.replace("?", "%s").encode(), rows)

        create_all(lambda sql: db.execute(sql.encode()))
        fill_static(many, texts, descending=True)
        fill_tables(many, count, proxy_port)
        db.commit()
        settings = {
            "res_pgsql.conf": f"[general]\ndbsock={cluster.socket_dir}\ndbuser={cluster.user}\n"
        }
        for layout, directory in layout_dirs(
            root, "pgsql", cluster.params["dbname"], settings
        ).items():
            print(f"  pgsql, {layout}: {timed_load(directory, count):.3f} s")


class Proxy(asyncio.DatagramProtocol):
    """Answers every NOTIFY 200 and notes when each arrived."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.seen: set[str] = set()
        #: The peers (Request-URIs) notified at least once.
        self.peers: set[str] = set()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        message = parse_message(data)
        if isinstance(message, Request) and message.method == "NOTIFY":
            if message.call_id not in self.seen:  # not a retransmission
                self.seen.add(message.call_id)
                self.arrivals.append(time.perf_counter())
                self.peers.add(message.uri)
            assert self.transport is not None
            self.transport.sendto(make_response(message, 200).to_bytes(), addr)


async def resync(
    config: ServerConfig, spool: Path, rate: float | None, count: int, port: int
) -> tuple[float, int, int]:
    """Seconds from start-up until every peer's NOTIFY arrived, the most in one second, and
    how many were sent again (a NOTIFY lost in a full socket buffer is retried)."""
    loop = asyncio.get_running_loop()
    proxy = Proxy()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: proxy, local_addr=("127.0.0.1", port)
    )
    server = VoicemailServer(config, spool, port=0, mwi_rate=rate)
    started = time.perf_counter()
    try:
        await server.start()
        while len(proxy.peers) < count and time.perf_counter() - started < 600:
            await asyncio.sleep(0.05)
    finally:
        await server.close()
        transport.close()
    elapsed = proxy.arrivals[-1] - started if proxy.arrivals else float("nan")
    busiest, first = 0, 0
    for last, arrived in enumerate(proxy.arrivals):
        while arrived - proxy.arrivals[first] > 1.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    assert len(proxy.peers) == count, len(proxy.peers)
    return elapsed, busiest, len(proxy.arrivals) - count


def free_port() -> int:
    """A UDP port of loopback nobody uses now (the proxy binds it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="paced NOTIFYs per second")
    args = parser.parse_args(argv)
    count = args.mailboxes
    port = free_port()
    texts = files(count, port)
    with tempfile.TemporaryDirectory(prefix="vmharness-bench-") as name:
        root = Path(name)
        on_disk = root / "files"
        on_disk.mkdir()
        for file, text in texts.items():
            (on_disk / file).write_text(text)
        print(f"load_config, {count} mailboxes and {count} peers (best of 3):")
        print(f"  files: {timed_load(on_disk, count):.3f} s")
        dirs = bench_sqlite(root, count, texts, port)
        bench_pgsql(root, count, texts, port)
        config = load_config(dirs["static rows"])
        print(f"start-up MWI resync of {count} peers through a proxy answering 200:")
        for rate in (args.rate, None):
            elapsed, busiest, again = asyncio.run(resync(config, root / "spool", rate, count, port))
            label = f"paced at {rate:g}/s" if rate else "unpaced"
            print(
                f"  {label}: {elapsed:.2f} s, at most {busiest} NOTIFYs in any one second, "
                f"{again} sent again after no answer"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
