"""sip.conf's bounds on what strangers can make the server hold, and its nat= words."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.voicemail.conf.dialect import ConfigError
from harness.voicemail.conf.sip_conf import load_sip_conf
from harness.voicemail.limits import ServerLimits


def general(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sip.conf"
    path.write_text("[general]\n" + text)
    return path


def test_the_limits_are_read_in_chan_sips_words(tmp_path: Path) -> None:
    conf = load_sip_conf(
        general(
            tmp_path,
            "call-limit=3\ntcpauthtimeout=7\ntcpauthlimit=9\nsubmaxpermailbox=2\nsubmaxperhost=4\n",
        )
    )
    limits = ServerLimits.from_sip(conf.general)
    assert (limits.call_limit, limits.subscriptions_per_mailbox) == (3, 2)
    assert limits.subscriptions_per_host == 4
    assert (limits.tcp.idle_timeout, limits.tcp.max_connections) == (7.0, 9)
    assert conf.warnings == ()


@pytest.mark.parametrize(
    ("value", "symmetric"),
    [("no", False), ("force_rport", False), ("yes", True), ("force_rport,comedia", True)],
)
def test_nat_comedia_turns_symmetric_rtp_on(tmp_path: Path, value: str, symmetric: bool) -> None:
    assert load_sip_conf(general(tmp_path, f"nat={value}\n")).general.symmetric_rtp is symmetric


def test_an_unknown_nat_word_is_an_error_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sip\.conf:3: nat=route: expected no, yes"):
        load_sip_conf(general(tmp_path, "context=x\nnat=route\n"))


def test_a_call_limit_below_one_is_an_error_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sip\.conf:2: call-limit=0: less than 1"):
        load_sip_conf(general(tmp_path, "call-limit=0\n"))
