"""What a call is looked up by on the SMDI MD queue: as an Asterisk dialplan chooses."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.peers.asterisk_dialplan import SmdiRouting, render_extensions_conf
from harness.scenario.topology import TargetSpec
from harness.sip.builder import new_request
from harness.sip.message import Request
from harness.voicemail.conf.dialect import ConfigError
from harness.voicemail.conf.server_config import load_config
from harness.voicemail.conf.voicemail_conf import load_voicemail_conf
from harness.voicemail.server import VoicemailServer
from harness.voicemail.smdi import SmdiOptions, lookup_key


def invite(*headers: tuple[str, str]) -> Request:
    return new_request(
        "INVITE",
        "sip:smdi@192.0.2.10",
        from_address="<sip:2001@pbx.example.com>",
        to_address="<sip:smdi@192.0.2.10>",
        local=("192.0.2.5", 5060),
        headers=headers,
    )


@pytest.mark.parametrize(
    ("key", "found"),
    [
        ("request-uri", "smdi"),
        ("caller-id", "2001"),
        ("header:X-Station", "2002"),
        ("header:X-Missing", ""),
    ],
)
def test_the_lookup_key_is_the_request_uri_the_caller_id_or_a_header(key: str, found: str) -> None:
    assert lookup_key(invite(("X-Station", "2002")), key) == found


def test_an_unknown_lookup_key_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="expected request-uri, caller-id or header:NAME"):
        SmdiOptions(key="to")


def test_voicemail_conf_names_the_lookup_key_and_a_bad_one_names_its_line(tmp_path: Path) -> None:
    good = tmp_path / "good.conf"
    good.write_text("[general]\nsmdienable=yes\nsmdi_lookup_key=header:X-Station\n")
    assert load_voicemail_conf(good).general.smdi_lookup_key == "header:X-Station"
    bad = tmp_path / "bad.conf"
    bad.write_text("[general]\nsmdienable=yes\nsmdi_lookup_key=to\n")
    with pytest.raises(ConfigError, match=r"bad\.conf:3.*expected request-uri, caller-id"):
        load_voicemail_conf(bad)


def test_a_scenario_target_keys_smdi_on_the_caller_id_and_asterisk_dialplans_it_so() -> None:
    assert TargetSpec(smdi_key="caller-id").smdi_key == "caller-id"
    with pytest.raises(ValidationError, match="expected request-uri, caller-id or header:NAME"):
        TargetSpec(smdi_key="station")
    dialplan = render_extensions_conf(smdi=SmdiRouting("/dev/ttyS0", key="caller-id"))
    assert "SMDI_MSG_RETRIEVE(/dev/ttyS0,${CALLERID(num)},3000,)" in dialplan
    by_header = render_extensions_conf(smdi=SmdiRouting("/dev/ttyS0", key="header:X-Station"))
    assert "SMDI_MSG_RETRIEVE(/dev/ttyS0,${SIP_HEADER(X-Station)},3000,)" in by_header


def test_a_served_server_takes_its_lookup_key_from_voicemail_conf(tmp_path: Path) -> None:
    (tmp_path / "voicemail.conf").write_text("[general]\nsmdi_lookup_key=caller-id\n")
    server = VoicemailServer(load_config(tmp_path), tmp_path / "spool")
    assert server.smdi_options.key == "caller-id"
