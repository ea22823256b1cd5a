"""The standalone server's Asterisk-dialect configuration: dialect, files, cross-checks."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent
from typing import TypeVar

import pytest

from harness.core.mailbox import MailboxId
from harness.voicemail.conf.dialect import (
    ConfFile,
    ConfigError,
    ConfigWarning,
    parse_conf,
    read_conf,
)
from harness.voicemail.conf.server_config import ServerConfig, load_config
from harness.voicemail.conf.sip_conf import DEFAULT_USERAGENT, SipConfig, load_sip_conf
from harness.voicemail.conf.smdi_conf import SmdiConfig, SmdiInterface, load_smdi_conf
from harness.voicemail.conf.voicemail_conf import (
    VoicemailConfig,
    VoicemailGeneral,
    load_voicemail_conf,
)

T = TypeVar("T")
CONFIGS = Path(__file__).parent / "configs"
FIXTURE = Path(__file__).parents[2] / "fixtures" / "configs" / "standalone"


def text(source: str) -> str:
    """Test file text: the first line after the opening quotes is line 1."""
    return dedent(source).lstrip("\n")


def conf(tmp_path: Path, source: str) -> ConfFile:
    return parse_conf(text(source), tmp_path / "test.conf")


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text(source))
    return directory


def voicemail(tmp_path: Path, source: str) -> VoicemailConfig:
    return load_voicemail_conf(write(tmp_path, {"voicemail.conf": source}) / "voicemail.conf")


def sip(tmp_path: Path, source: str) -> SipConfig:
    return load_sip_conf(write(tmp_path, {"sip.conf": source}) / "sip.conf")


def smdi(tmp_path: Path, source: str) -> SmdiConfig:
    return load_smdi_conf(write(tmp_path, {"smdi.conf": source}) / "smdi.conf")


def messages(warnings: tuple[ConfigWarning, ...]) -> list[str]:
    return [str(warning) for warning in warnings]


def present(value: T | None) -> T:
    assert value is not None
    return value


# --------------------------------------------------------------------------- the dialect


def test_sections_options_and_both_assignment_forms(tmp_path: Path) -> None:
    parsed = conf(
        tmp_path,
        """
        [general]
        maxmsg = 10
        [default]
        2000 => 1234,Alice
        """,
    )
    general, default = parsed.sections
    assert (general.name, general.file, general.line) == ("general", "test.conf", 1)
    option = general.get("MAXMSG")
    assert option is not None
    assert (option.name, option.value, option.file, option.line, option.object) == (
        "maxmsg",
        "10",
        "test.conf",
        2,
        False,
    )
    box = default.options[0]
    assert (box.name, box.value, box.object, box.line) == ("2000", "1234,Alice", True, 4)


def test_repeated_keys_are_kept_in_order_and_the_last_takes_effect(tmp_path: Path) -> None:
    section = conf(
        tmp_path,
        """
        [peer]
        allow=ulaw
        allow=alaw
        allow=g722
        """,
    ).sections[0]
    assert [o.value for o in section.get_all("allow")] == ["ulaw", "alaw", "g722"]
    assert section.value("allow") == "g722"
    assert section.value("missing", "fallback") == "fallback"


def test_comments_escapes_and_block_comments(tmp_path: Path) -> None:
    section = conf(
        tmp_path,
        r"""
        [s]
        a = one ; a comment
        b = semi\;colon
        ;--- a ruler line is an ordinary comment
        ;-- a block comment
        c = hidden
        ;-- nested --;
        still hidden --;
        d = before ;-- inline --; after
        e = kept
        """,
    ).sections[0]
    assert {o.name: o.value for o in section.options} == {
        "a": "one",
        "b": "semi;colon",
        "d": "before  after",
        "e": "kept",
    }
    assert present(section.get("e")).line == 10


def test_crlf_line_ends_and_latin1_text(tmp_path: Path) -> None:
    path = tmp_path / "voicemail.conf"
    path.write_bytes(b"[default]\r\n2000 => 1,Jos\xe9\r\n")
    section = read_conf(path).sections[0]
    assert section.value("2000") == "1,José"


def test_append_operator_and_escaped_key(tmp_path: Path) -> None:
    section = conf(
        tmp_path,
        r"""
        [s]
        allow = ulaw
        allow += ,alaw
        fresh += new
        \[odd] = key
        """,
    ).sections[0]
    assert [(o.name, o.value) for o in section.options] == [
        ("allow", "ulaw ,alaw"),
        ("fresh", "new"),
        ("[odd]", "key"),
    ]


def test_templates_are_applied_in_order_and_later_lines_override(tmp_path: Path) -> None:
    parsed = conf(
        tmp_path,
        """
        [base](!)
        host=10.0.0.1
        port=5060
        [extra](!,base)
        port=5070
        dtmfmode=info
        [2000](extra)
        dtmfmode=rfc2833
        """,
    )
    assert [s.name for s in parsed.instances()] == ["2000"]
    peer = parsed.section("2000")
    assert peer is not None
    assert peer.bases == ("extra",)
    assert (peer.value("host"), peer.value("port"), peer.value("dtmfmode")) == (
        "10.0.0.1",
        "5070",
        "rfc2833",
    )
    inherited = peer.get("host")
    assert inherited is not None
    assert (inherited.section, inherited.line) == ("base", 2)
    assert [o.name for o in peer.own_options()] == ["dtmfmode"]


def test_several_templates_apply_left_to_right(tmp_path: Path) -> None:
    peer = conf(
        tmp_path,
        """
        [a](!)
        x=from-a
        [b](!)
        x=from-b
        [p](a,b)
        [q](b,a)
        """,
    )
    assert present(peer.section("p")).value("x") == "from-b"
    assert present(peer.section("q")).value("x") == "from-a"


def test_plus_adds_to_a_section_defined_above(tmp_path: Path) -> None:
    parsed = conf(
        tmp_path,
        """
        [general]
        a=1
        [other]
        [general](+)
        b=2
        """,
    )
    assert [s.name for s in parsed.sections] == ["general", "other"]
    assert [o.name for o in parsed.sections[0].options] == ["a", "b"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("[s]\nfoo\n", "test.conf:2: line is neither a section, an option nor a directive: 'foo'"),
        (
            "; nothing yet\nkey=value\n",
            "test.conf:2: option outside any section (a [section] line must come first): "
            "'key=value'",
        ),
        ("[general\n", "test.conf:1: section header has no closing ']': '[general'"),
        ("[a](!\n", "test.conf:1: no closing ')' after [a]: '[a](!'"),
        (
            "[a] (!)\n",
            "test.conf:1: write [a](!) without the space: "
            "Asterisk ignores what follows a space after ']'",
        ),
        ("[a]x\n", "test.conf:1: unexpected text after [a]: 'x'"),
        ("[a](!) x\n", "test.conf:1: unexpected text after [a](...): 'x'"),
        ("[]\n", "test.conf:1: section with an empty name: '[]'"),
        ("[ a ]\n", "test.conf:1: space inside the brackets of [ a ]"),
        ("[a](!)\n[b](a,)\n", "test.conf:2: empty name in the (...) of [b]"),
        ("[p](nope)\n", "test.conf:1: [p] inherits from [nope], which is not defined above"),
        ("[p](+)\n", "test.conf:1: [p](+) adds to [p], which is not defined above"),
        ("[s]\n = v\n", "test.conf:2: option without a name: '= v'"),
        ("[s]\n += v\n", "test.conf:2: option without a name: '+= v'"),
        ("[a]\n[a](+x)\n", "test.conf:2: '+x' in [a](...) is not supported"),
        ("[s]\n\\ x=1\n", "test.conf:2: '\\' at the start of a line escapes nothing: '\\\\ x=1'"),
        (
            "[s]\n#exec /bin/date\n",
            "test.conf:2: #exec is not supported: this server runs no programs from its "
            "configuration",
        ),
        (
            "[s]\n#inclde x.conf\n",
            "test.conf:2: unknown directive '#inclde' (expected #include or #tryinclude)",
        ),
        ('[s]\n#include ""\n', "test.conf:2: #include needs a file name"),
        ("[s]\n#include missing.conf\n", "test.conf:2: #include missing.conf: not found"),
        ("[s]\n#include nothing-*.conf\n", "test.conf:2: #include nothing-*.conf: no file matches"),
        ("[s]\n;-- open\n\nx=1\n", "test.conf:2: block comment ';--' is never closed by '--;'"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path: Path, source: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_conf(source, tmp_path / "test.conf")
    assert str(caught.value) == message
    assert caught.value.file == "test.conf"


def test_includes_of_every_form_relative_to_the_including_file() -> None:
    parsed = read_conf(CONFIGS / "includes" / "voicemail.conf")
    general = parsed.section("general")
    assert general is not None
    maxmsg, moveheard = general.get("maxmsg"), general.get("moveheard")
    assert maxmsg is not None
    assert moveheard is not None
    assert (maxmsg.value, maxmsg.file, maxmsg.line) == ("42", "vm.d/general.conf", 2)
    assert (moveheard.value, moveheard.file) == ("no", "vm.d/more.conf")
    boxes = {
        section.name: [(o.name, o.file) for o in section.options] for section in parsed.sections
    }
    assert boxes["default"] == [("2000", "vm.d/boxes.conf"), ("2001", "vm.d/extra-a.conf")]
    assert boxes["office"] == [("3000", "vm.d/extra-b.conf")]
    assert [p.name for p in parsed.files] == [
        "voicemail.conf",
        "general.conf",
        "more.conf",
        "boxes.conf",
        "extra-a.conf",
        "extra-b.conf",
    ]


def test_include_cycle_is_an_error_at_the_include_line() -> None:
    with pytest.raises(ConfigError) as caught:
        read_conf(CONFIGS / "cycle" / "voicemail.conf")
    assert str(caught.value) == (
        "loop.conf:2: #include cycle: voicemail.conf -> loop.conf -> voicemail.conf"
    )


def test_including_a_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    with pytest.raises(ConfigError) as caught:
        parse_conf("[s]\n\n#include conf.d\n", tmp_path / "test.conf")
    assert str(caught.value) == "test.conf:3: #include conf.d: not a regular file"


def test_missing_top_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^nothing\.conf: not found$"):
        read_conf(tmp_path / "nothing.conf")


def test_a_file_may_be_included_twice_without_being_a_cycle(tmp_path: Path) -> None:
    write(tmp_path, {"common.conf": "x=1\n"})
    parsed = conf(tmp_path, '[a]\n#include "common.conf"\n[b]\n#include "common.conf"\n')
    assert [s.value("x") for s in parsed.sections] == ["1", "1"]


# --------------------------------------------------------------------------- voicemail.conf


def test_empty_general_gives_app_voicemail_defaults(tmp_path: Path) -> None:
    config = voicemail(tmp_path, "[general]\n")
    general = config.general
    assert general == VoicemailGeneral()
    assert (general.format, general.maxmsg, general.maxsecs, general.minsecs) == (
        ("wav",),
        100,
        0,
        0,
    )
    assert (general.maxsilence, general.silencethreshold, general.maxlogins) == (0, 128, 3)
    assert (general.moveheard, general.smdienable, general.smdiport) == (True, False, None)
    assert (general.pollmailboxes, general.pollfreq, general.skipms) == (False, 30, 3000)
    assert (general.externnotify, general.passwordlocation) == (None, "voicemailconf")
    assert config.warnings == ()


def test_general_options_are_typed(tmp_path: Path) -> None:
    general = voicemail(
        tmp_path,
        """
        [general]
        format=wav49|gsm|wav|gsm
        maxmsg=9999
        maxsecs=180
        minsecs=3
        maxsilence=2
        silencethreshold=256
        maxlogins=5
        moveheard=no
        externnotify=/usr/local/bin/lamp
        smdienable=yes
        smdiport=/dev/ttyUSB0
        pollmailboxes=on
        pollfreq=2
        skipms=5000
        review=yes
        operator=true
        envelope=n
        sayduration=0
        nextaftercmd=1
        messagewrap=y
        maxgreet=60
        passwordlocation=spooldir
        backupdeleted=yes
        listen-control-stop-key=123#
        vm-login=custom-login
        serveremail=vm@example.com
        """,
    ).general
    assert general.format == ("wav49", "gsm", "wav")
    assert (general.maxmsg, general.maxsecs, general.minsecs, general.maxsilence) == (
        9999,
        180,
        3,
        2,
    )
    assert (general.silencethreshold, general.maxlogins, general.moveheard) == (256, 5, False)
    assert (general.externnotify, general.smdienable, general.smdiport) == (
        "/usr/local/bin/lamp",
        True,
        "/dev/ttyUSB0",
    )
    assert (general.pollmailboxes, general.pollfreq, general.skipms) == (True, 2, 5000)
    assert (general.review, general.operator, general.envelope, general.sayduration) == (
        True,
        True,
        False,
        False,
    )
    assert (general.nextaftercmd, general.messagewrap, general.maxgreet) == (True, True, 60)
    assert (general.passwordlocation, general.backupdeleted) == ("spooldir", 100)
    assert general.listen_control_stop_key == "123#"
    assert general.prompt("vm-login") == "custom-login"
    assert general.prompt("vm-password") == "vm-password"
    assert general.options["serveremail"].value == "vm@example.com"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("maxmsg=abc", "maxmsg=abc: not a whole number"),
        ("maxmsg=10000", "maxmsg=10000: more than 9999"),
        ("maxmsg=-1", "maxmsg=-1: less than 0"),
        ("maxsecs=3m", "maxsecs=3m: not a whole number"),
        ("moveheard=perhaps", "moveheard=perhaps: expected yes or no"),
        ("maxlogins=0", "maxlogins=0: less than 1"),
        ("pollfreq=often", "pollfreq=often: not a whole number"),
        ("passwordlocation=ldap", "passwordlocation=ldap: expected voicemail.conf or spooldir"),
        ("listen-control-stop-key=xyz", "listen-control-stop-key=xyz: not DTMF keys (0-9*#A-D)"),
        ("format=wav||gsm", "format=wav||gsm: empty format name"),
        ("backupdeleted=lots", "backupdeleted=lots: not a whole number"),
    ],
)
def test_general_type_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        voicemail(tmp_path, f"; voicemail\n[general]\n{line}\n")
    assert str(caught.value) == f"voicemail.conf:3: {message}"


def test_mailbox_lines(tmp_path: Path) -> None:
    config = voicemail(
        tmp_path,
        """
        [general]
        maxmsg=50
        [default]
        2000 => 4321,Alice Example,alice@example.com,a@pager.example,maxmsg=10|tz=eastern|attach=no
        2001 => -1234,Bob
        2002 =>
        [zonemessages]
        eastern=America/New_York|'vm-received' Q 'digits/at' IMp
        """,
    )
    alice = config.mailbox(MailboxId("2000"))
    assert alice is not None
    assert (alice.box, alice.context, alice.pin, alice.full_name) == (
        "2000",
        "default",
        "4321",
        "Alice Example",
    )
    assert (alice.email, alice.pager, alice.file, alice.line) == (
        "alice@example.com",
        "a@pager.example",
        "voicemail.conf",
        4,
    )
    assert dict(alice.options) == {"maxmsg": "10", "tz": "eastern", "attach": "no"}
    assert (alice.effective("maxmsg"), alice.effective("tz"), alice.effective("moveheard")) == (
        10,
        "eastern",
        True,
    )
    assert (alice.login_pin, alice.pin_changeable) == ("4321", True)
    bob = config.mailbox(MailboxId("2001"))
    assert bob is not None
    assert (bob.effective("maxmsg"), bob.login_pin, bob.pin_changeable, bob.email) == (
        50,
        "1234",
        False,
        "",
    )
    nobody = config.mailbox(MailboxId("2002"))
    assert nobody is not None
    assert nobody.login_pin is None
    assert config.zones["eastern"].timezone == "America/New_York"
    assert config.zones["eastern"].format == "'vm-received' Q 'digits/at' IMp"
    assert config.contexts == ("default",)
    assert config.warnings == ()


def test_mailboxes_in_several_contexts_are_distinct(tmp_path: Path) -> None:
    config = voicemail(tmp_path, "[default]\n2000 => 1\n[office]\n2000 => 2\n")
    assert present(config.mailbox(MailboxId("2000", "office"))).pin == "2"
    assert present(config.mailbox(MailboxId("2000", "default"))).pin == "1"
    assert config.contexts == ("default", "office")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("2000 => 1,A,,,maxmsg=abc", "mailbox 2000@default: maxmsg=abc: not a whole number"),
        ("2000 => 1,A,,,maxmsg=10000", "mailbox 2000@default: maxmsg=10000: more than 9999"),
        (
            "2000 => 1,A,,,moveheard=maybe",
            "mailbox 2000@default: moveheard=maybe: expected yes or no",
        ),
        (
            "*2000 => 1",
            "mailbox line in [default]: bad mailbox: "
            "box '*2000' may hold only letters, digits, '-', '_' and '.'",
        ),
    ],
)
def test_mailbox_type_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        voicemail(tmp_path, f"[general]\n[default]\n{line}\n")
    assert str(caught.value) == f"voicemail.conf:3: {message}"


def test_voicemail_warnings(tmp_path: Path) -> None:
    config = voicemail(
        tmp_path,
        """
        [general]
        maxmesage=10
        format=wav|wavv
        maxsilence=5
        minsecs=3
        attach=yes
        [default]
        2000 => 1,A,,,colour=blue|attach=no|novalue
        2000 => 2,Again
        2001 => 1,B,,,maxsecs=0|tz=nowhere
        [general]
        maxmsg=1
        """,
    )
    assert messages(config.warnings) == [
        "voicemail.conf:11: [general] appears again (first at voicemail.conf:1): only the first "
        "is read, as in Asterisk; write [general](+) to add to it",
        "voicemail.conf:2: unknown option 'maxmesage' in [general]: ignored",
        "voicemail.conf:3: format 'wavv' is not an audio format",
        "voicemail.conf:5: maxsilence (5 s) should be less than minsecs (3 s), or a silent "
        "caller leaves an empty message",
        "voicemail.conf:8: mailbox 2000@default: unknown option 'colour'",
        "voicemail.conf:8: mailbox 2000@default: option 'novalue' is not name=value",
        "voicemail.conf:9: mailbox 2000@default is already defined at voicemail.conf:8: "
        "this line is ignored, as in Asterisk",
        "voicemail.conf:10: mailbox 2001@default: maxsecs=0 does not lift the limit for one "
        "mailbox: the [general] value applies, as in Asterisk",
        "voicemail.conf:10: mailbox 2001@default: tz=nowhere is not in [zonemessages]",
    ]
    assert config.general.maxmsg == 100  # the second [general] is not read
    assert present(config.mailbox(MailboxId("2000"))).pin == "1"
    assert present(config.mailbox(MailboxId("2001"))).effective("maxsecs") == 0


def test_old_option_names_still_work_with_a_warning(tmp_path: Path) -> None:
    config = voicemail(tmp_path, "[general]\nmaxmessage=120\nminmessage=2\n")
    assert (config.general.maxsecs, config.general.minsecs) == (120, 2)
    assert messages(config.warnings) == [
        "voicemail.conf:2: 'maxmessage' is the old name of 'maxsecs'",
        "voicemail.conf:3: 'minmessage' is the old name of 'minsecs'",
    ]


def test_searchcontexts_makes_box_numbers_unique_across_contexts(tmp_path: Path) -> None:
    config = voicemail(
        tmp_path, "[general]\nsearchcontexts=yes\n[default]\n2000 => 1\n[office]\n2000 => 2\n"
    )
    assert list(config.mailboxes) == [MailboxId("2000")]
    assert messages(config.warnings) == [
        "voicemail.conf:6: mailbox 2000@office is already defined at voicemail.conf:4: "
        "this line is ignored, as in Asterisk"
    ]


def test_zone_without_a_format_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"^voicemail\.conf:2: zone utc=UTC: expected timezone\|format"
    ):
        voicemail(tmp_path, "[zonemessages]\nutc=UTC\n")


def test_bad_alias_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        voicemail(tmp_path, "[general]\naliasescontext=a\n[a]\n1@x => 1@two words\n")
    assert str(caught.value).startswith("voicemail.conf:4: alias in [a]: bad mailbox '1@two words'")


def test_aliases_context_and_directory_intro(tmp_path: Path) -> None:
    config = voicemail(
        tmp_path,
        """
        [general]
        aliasescontext=myaliases
        [default]
        directoryintro=dir-intro
        1234 => 4242,Example
        [myaliases]
        1234@devices => 1234@default
        9999@devices => 9999@default
        """,
    )
    assert list(config.mailboxes) == [MailboxId("1234")]
    assert dict(config.aliases) == {
        MailboxId("1234", "devices"): MailboxId("1234"),
        MailboxId("9999", "devices"): MailboxId("9999"),
    }
    assert messages(config.warnings) == [
        "voicemail.conf:8: alias 9999@devices points to 9999@default, which is not defined"
    ]


# --------------------------------------------------------------------------- sip.conf

SIP = """
    [general]
    bindaddr=127.0.0.1:5080
    context=from-proxy
    vmexten=voicemail
    realm=vm.example.com
    [subscriber](!)
    type=peer
    host=127.0.0.1
    port=5060
    dtmfmode=rfc2833
    [2000](subscriber)
    mailbox=2000@default,2100@default
    defaultuser=2000
    [2001](subscriber)
    mailbox=2001@default
    defaultuser=2001
    port=5070
    subscribemwi=yes
    buggymwi=yes
    mwi_from=vm
    """


def test_sip_peers_get_templates_and_general_defaults(tmp_path: Path) -> None:
    config = sip(tmp_path, SIP)
    assert config.warnings == ()
    general = config.general
    assert (general.bindaddr, general.bindport, general.realm, general.useragent) == (
        "127.0.0.1",
        5080,
        "vm.example.com",
        DEFAULT_USERAGENT,
    )
    assert [peer.name for peer in config.peers] == ["2000", "2001"]
    first, second = config.peers
    assert (first.type, first.host, first.port, first.defaultuser) == (
        "peer",
        "127.0.0.1",
        5060,
        "2000",
    )
    assert first.mailboxes == (MailboxId("2000"), MailboxId("2100"))
    assert (first.context, first.vmexten, first.dtmfmode, first.transport) == (
        "from-proxy",
        "voicemail",
        "rfc2833",
        ("udp",),
    )
    assert (first.subscribemwi, first.buggymwi, first.mwi_from, first.file, first.line) == (
        False,
        False,
        None,
        "sip.conf",
        11,
    )
    assert (second.port, second.subscribemwi, second.buggymwi, second.mwi_from) == (
        5070,
        True,
        True,
        "vm",
    )
    assert first.options["host"].line == 8  # the template's line


def test_sip_defaults_without_general(tmp_path: Path) -> None:
    config = sip(tmp_path, "[2000]\ntype=friend\nhost=proxy.example.com\ntransport=tls,udp\n")
    peer = config.peers[0]
    assert (peer.type, peer.port, peer.transport, peer.vmexten, peer.context) == (
        "friend",
        5061,
        ("tls", "udp"),
        "asterisk",
        "default",
    )
    assert (config.general.bindport, config.general.realm, config.general.dtmfmode) == (
        5060,
        "asterisk",
        "rfc2833",
    )


def test_mailbox_lines_accumulate_across_templates(tmp_path: Path) -> None:
    config = sip(
        tmp_path,
        """
        [shared](!)
        type=peer
        host=127.0.0.1
        mailbox=9000@office
        [2000](shared)
        defaultuser=2000
        mailbox=2000@default, 9000@office
        """,
    )
    assert config.peers[0].mailboxes == (MailboxId("9000", "office"), MailboxId("2000"))


def test_sip_warnings(tmp_path: Path) -> None:
    config = sip(
        tmp_path,
        """
        [base](!)
        type=peer
        host=127.0.0.1
        colour=blue
        [2000](base)
        mailbox=2000
        defaultuser=2000
        [2001](base)
        mailbox=2001@default
        [2002]
        type=peer
        host=dynamic
        mailbox=2002@default
        [2003]
        mailbox=2003@default
        [2004]
        type=user
        mailbox=2004@default
        [2005]
        type=peer
        mailbox=2005@default
        [2000]
        secret=s3cret
        """,
    )
    assert messages(config.warnings) == [
        "sip.conf:4: unknown option 'colour' in [base]: ignored",
        "sip.conf:22: peer [2000] is defined again (first at sip.conf:5): its options are added "
        "to the first, as chan_sip does",
        "sip.conf:6: mailbox 2000 has no @context: 'default' is assumed "
        "(app_voicemail boxes must be written with @context)",
        "sip.conf:8: peer [2001] has mailbox= but no defaultuser=: its NOTIFYs would go to "
        "sip:127.0.0.1 with no user part, which the proxy cannot route to a phone",
        "sip.conf:12: a dynamic peer gets no unsolicited MWI until it registers; "
        "the standalone layout wants host= the proxy",
        "sip.conf:14: [2003] has no type= and is ignored, as chan_sip does "
        "(write type=peer, or type=friend)",
        "sip.conf:17: type=user gets no MWI NOTIFY (chan_sip sends MWI to peers only): "
        "write type=peer or type=friend",
        "sip.conf:19: peer [2005] has mailbox= but no host=: its NOTIFYs go nowhere",
    ]
    assert [p.name for p in config.peers] == ["2000", "2001", "2002", "2004", "2005"]
    assert present(config.peer("2000")).secret == "s3cret"
    assert present(config.peer("2002")).dynamic


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("type=trunk", "type=trunk: expected peer, friend or user"),
        (
            "host=10.0.0.1:5070",
            "host=10.0.0.1:5070: host= takes no port; write host=10.0.0.1 and port=5070",
        ),
        ("host=not a host", "host=not a host: not a host name, an IP address or 'dynamic'"),
        ("port=70000", "port=70000: more than 65535"),
        ("dtmfmode=rfc4733", "dtmfmode=rfc4733: expected rfc2833, info, shortinfo, inband or auto"),
        ("transport=udp,sctp", "transport=udp,sctp: 'sctp' is not one of udp, tcp, tls, ws, wss"),
        ("subscribemwi=sometimes", "subscribemwi=sometimes: expected yes or no"),
        (
            "mailbox=2000@de fault",
            "mailbox= of [p]: bad mailbox '2000@de fault': "
            "context 'de fault' is not a token (no '@', ',', '&' or white space)",
        ),
    ],
)
def test_sip_type_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        sip(tmp_path, f"[p]\ntype=peer\n{line}\n")
    assert str(caught.value).startswith(f"sip.conf:3: {message}")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("bindaddr=localhost", "bindaddr=localhost: not an IP address"),
        ("bindaddr=[::1]5060", "bindaddr=[::1]5060: expected [address]:port"),
        ("bindaddr=0.0.0.0:http", "port=http: not a whole number"),
        ("bindport=0", "bindport=0: less than 1"),
        ("buggymwi=2", "buggymwi=2: expected yes or no"),
    ],
)
def test_sip_general_errors(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        sip(tmp_path, f"[general]\n{line}\n")
    assert str(caught.value) == f"sip.conf:2: {message}"


def test_ipv6_bind_address_and_hosts(tmp_path: Path) -> None:
    config = sip(
        tmp_path, "[general]\nbindaddr=[::1]:5090\n[p]\ntype=peer\nhost=::1\n[q](p)\nhost=[::2]\n"
    )
    assert (config.general.bindaddr, config.general.bindport) == ("::1", 5090)
    assert [peer.host for peer in config.peers] == ["::1", "::2"]


def test_peers_for_a_mailbox(tmp_path: Path) -> None:
    config = sip(tmp_path, SIP)
    assert [p.name for p in config.peers_for(MailboxId("2100"))] == ["2000"]
    assert [p.name for p in config.peers_for(MailboxId("2001"))] == ["2001"]
    assert config.peers_for(MailboxId("2001", "office")) == []


# --------------------------------------------------------------------------- smdi.conf


def test_interface_settings_apply_to_the_ports_below_them(tmp_path: Path) -> None:
    config = smdi(
        tmp_path,
        """
        [interfaces]
        smdiport=/dev/ttyS0
        baudrate=1200
        charsize=8
        paritybit=none
        twostopbits=yes
        msdstrip=3
        msgexpirytime=5000
        smdiport=/dev/ttyS1
        twostopbits=no
        smdiport=/dev/ttyS2
        """,
    )
    assert config.warnings == ()
    assert config.interfaces == (
        SmdiInterface("/dev/ttyS0", file="smdi.conf", line=2),
        SmdiInterface("/dev/ttyS1", 1200, 8, "none", True, 3, 5000, "smdi.conf", 9),
        SmdiInterface("/dev/ttyS2", 1200, 8, "none", False, 3, 5000, "smdi.conf", 11),
    )
    assert config.interface("/dev/ttyS1") == config.interfaces[1]
    assert config.interface("/dev/ttyS9") is None


def test_bad_baudrate_falls_back_to_9600_with_a_warning(tmp_path: Path) -> None:
    config = smdi(tmp_path, "[interfaces]\nbaudrate=19200\nsmdiport=/dev/ttyS0\n")
    assert config.interfaces[0].baudrate == 9600
    assert messages(config.warnings) == [
        "smdi.conf:2: baudrate=19200 is not 1200, 2400, 4800 or 9600: 9600 is used, as in Asterisk"
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("charsize=6", "charsize=6: expected 7 or 8"),
        ("paritybit=mark", "paritybit=mark: expected even, odd or none"),
        ("twostopbits=twostopbits", "twostopbits=twostopbits: expected yes or no"),
        ("msdstrip=10", "msdstrip=10: more than 9"),
        ("msgexpirytime=soon", "msgexpirytime=soon: not a whole number"),
        ("smdiport=", "smdiport= needs a device path"),
    ],
)
def test_smdi_type_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        smdi(tmp_path, f"[interfaces]\n{line}\nsmdiport=/dev/ttyS0\n")
    assert str(caught.value) == f"smdi.conf:2: {message}"


def test_smdi_mailbox_mappings(tmp_path: Path) -> None:
    config = smdi(
        tmp_path,
        """
        [interfaces]
        smdiport=/dev/ttyS0
        smdiport=/dev/ttyS1
        [mailboxes]
        pollinginterval=5
        smdiport=/dev/ttyS0
        5551000=2000
        5551001=3000@office
        smdiport=/dev/ttyS1
        5552000=2000@default
        """,
    )
    assert config.pollinginterval == 5
    assert [(m.station, m.mailbox, m.port, m.line) for m in config.mappings] == [
        ("5551000", MailboxId("2000"), "/dev/ttyS0", 7),
        ("5551001", MailboxId("3000", "office"), "/dev/ttyS0", 8),
        ("5552000", MailboxId("2000"), "/dev/ttyS1", 10),
    ]


def test_smdi_warnings(tmp_path: Path) -> None:
    config = smdi(
        tmp_path,
        """
        [interfaces]
        smdiport=/dev/ttyS0
        speed=fast
        smdiport=/dev/ttyS0
        msdstrip=2
        [mailboxes]
        1000=1000@default
        smdiport=/dev/ttyS7
        1001=1001@default
        smdiport=/dev/ttyS0
        12345678901=2000@default
        [extra]
        """,
    )
    assert messages(config.warnings) == [
        "smdi.conf:12: unknown section [extra] (smdi.conf has [interfaces] and [mailboxes]): "
        "ignored",
        "smdi.conf:3: unknown option 'speed' in [interfaces]: ignored",
        "smdi.conf:4: smdiport=/dev/ttyS0 is already defined at smdi.conf:2: this line is ignored",
        "smdi.conf:5: msdstrip= applies to no interface: settings in [interfaces] apply to the "
        "smdiport= lines below them",
        "smdi.conf:7: mapping 1000=1000@default is ignored: no smdiport= line above it selects "
        "an interface",
        "smdi.conf:8: smdiport=/dev/ttyS7 is not an interface of [interfaces]: the mappings "
        "below it are ignored",
        "smdi.conf:11: SMDI station '12345678901' is not 1 to 10 digits",
    ]
    assert [m.station for m in config.mappings] == ["12345678901"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("pollinginterval=0", "smdi.conf:5: pollinginterval=0: less than 1"),
        ("2000=2000@a b", "smdi.conf:5: station 2000: bad mailbox '2000@a b': "),
    ],
)
def test_smdi_mailboxes_errors(tmp_path: Path, line: str, message: str) -> None:
    source = f"[interfaces]\nsmdiport=/dev/ttyS0\n[mailboxes]\nsmdiport=/dev/ttyS0\n{line}\n"
    with pytest.raises(ConfigError) as caught:
        smdi(tmp_path, source)
    assert str(caught.value).startswith(message)


# --------------------------------------------------------------------------- the whole directory


def test_the_standalone_fixture_loads_without_warnings() -> None:
    config = load_config(FIXTURE)
    assert config.warnings == ()
    assert list(config.voicemail.mailboxes) == [
        MailboxId("2000"),
        MailboxId("2001"),
        MailboxId("2002"),
        MailboxId("3000", "office"),
    ]
    desk = config.mailbox(MailboxId("2002"))
    assert desk is not None
    assert (desk.login_pin, desk.pin_changeable, desk.effective("maxmsg")) == ("5678", False, 20)
    assert [peer.name for peer in config.sip.peers] == ["2000", "2001", "2002", "3000"]
    for peer in config.sip.peers:
        assert (peer.host, peer.port, peer.type, peer.dtmfmode) == (
            "127.0.0.1",
            5060,
            "peer",
            "rfc2833",
        )
        assert peer.defaultuser == peer.name
        assert all(config.mailbox(mailbox) is not None for mailbox in peer.mailboxes)
    assert [p.name for p in config.peers_for(MailboxId("3000", "office"))] == ["3000"]
    assert (config.sip.general.bindaddr, config.sip.general.bindport) == ("127.0.0.1", 5080)
    assert config.smdi is not None
    assert config.smdi.interfaces == ()
    assert config.smdi_notify is None
    assert {p.name for p in config.files} == {"voicemail.conf", "sip.conf", "smdi.conf"}


def test_only_voicemail_conf_is_required(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, {"voicemail.conf": "[default]\n2000 => 1\n"}))
    assert config == ServerConfig(tmp_path, config.voicemail)
    assert config.sip.peers == ()
    assert config.smdi is None


def test_missing_voicemail_conf_or_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"^voicemail\.conf: not found in .*; the server needs it$"
    ):
        load_config(write(tmp_path, {"sip.conf": "[general]\n"}))
    with pytest.raises(ConfigError, match=r"configuration directory not found$"):
        load_config(tmp_path / "nowhere")


def test_errors_in_included_files_name_the_included_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "voicemail.conf": '[general]\n#include "conf.d/limits.conf"\n',
            "conf.d/limits.conf": "; limits\nmaxmsg=lots\n",
        },
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(caught.value) == "conf.d/limits.conf:2: maxmsg=lots: not a whole number"


def test_cross_checks_between_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "voicemail.conf": """
                [general]
                smdienable=yes
                [default]
                2000 => 1
                """,
            "sip.conf": """
                [2000]
                type=peer
                host=127.0.0.1
                defaultuser=2000
                mailbox=2000@default,2999@default
                """,
            "smdi.conf": """
                [interfaces]
                smdiport=/dev/ttyUSB0
                [mailboxes]
                smdiport=/dev/ttyUSB0
                5550000=2000@default
                5550001=3000@default
                """,
        },
    )
    config = load_config(tmp_path)
    assert messages(config.warnings) == [
        "sip.conf:1: peer [2000] names mailbox 2999@default, which voicemail.conf does not define",
        "smdi.conf:6: station 5550001 shows mailbox 3000@default, which voicemail.conf does not "
        "define",
        "voicemail.conf:2: smdienable=yes but smdi.conf defines no interface /dev/ttyS0: SMDI "
        "lamp notification is disabled (Asterisk logs an error and does the same)",
    ]
    assert config.smdi_notify is None


def test_smdienable_uses_the_named_interface(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "voicemail.conf": "[general]\nsmdienable=yes\nsmdiport=/dev/ttyUSB0\n",
            "smdi.conf": "[interfaces]\nmsdstrip=1\nsmdiport=/dev/ttyUSB0\n",
        },
    )
    config = load_config(tmp_path)
    assert config.warnings == ()
    assert config.smdi_notify == SmdiInterface("/dev/ttyUSB0", msdstrip=1, file="smdi.conf", line=3)


def test_smdienable_without_smdi_conf_disables_smdi_with_a_warning(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, {"voicemail.conf": "[general]\nsmdienable=yes\n"}))
    assert config.smdi_notify is None
    assert messages(config.warnings) == [
        "voicemail.conf:2: smdienable=yes but there is no smdi.conf to define interface "
        "/dev/ttyS0: SMDI lamp notification is disabled (Asterisk logs an error and does the same)"
    ]


def test_peers_for_follows_aliases(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "voicemail.conf": """
                [general]
                aliasescontext=aliases
                [default]
                2000 => 1
                [aliases]
                2000@devices => 2000@default
                """,
            "sip.conf": """
                [phone](!)
                type=peer
                host=127.0.0.1
                [desk](phone)
                defaultuser=desk
                mailbox=2000@devices
                [mobile](phone)
                defaultuser=mobile
                mailbox=2000@default
                [other](phone)
                defaultuser=other
                mailbox=2001@devices
                """,
        },
    )
    config = load_config(tmp_path)
    assert [p.name for p in config.peers_for(MailboxId("2000"))] == ["desk", "mobile"]


def test_sip_general_timert1_is_read_in_milliseconds(tmp_path: Path) -> None:
    (tmp_path / "sip.conf").write_text("[general]\ntimert1=250\n")
    assert load_sip_conf(tmp_path / "sip.conf").general.timert1 == 250
    (tmp_path / "sip.conf").write_text("[general]\n")
    assert load_sip_conf(tmp_path / "sip.conf").general.timert1 == 500
