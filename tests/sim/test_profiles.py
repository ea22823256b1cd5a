"""Proxy profiles as data: the shipped ones, the schema, and the one-line error of each mistake."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from harness.sim.profiles import (
    QUIRKS,
    Delay,
    DigestChallengeRegister,
    FoldedHeaders,
    NotifyReject,
    ProfileError,
    ProxyProfile,
    QuirkError,
    SessionTimer,
    StripXHeaders,
    load_profile,
    parse_quirk,
    shipped_profiles,
)

SHIPPED = {
    "generic": ("x-voicemail", ()),
    "kamailio-like": ("x-voicemail", ("record-route",)),
    "diversion-pbx": ("diversion", ("b2bua",)),
    "history-info-sbc": ("history-info", ("b2bua", "session-timer", "compact-headers")),
    "rfc4458-ims": ("rfc4458", ("tcp-to-voicemail",)),
    "strips-x-headers": ("x-voicemail", ("strip-x-headers",)),
    "drops-notify": ("x-voicemail", ("notify-drop",)),
    "notify-481": ("x-voicemail", ("notify-reject",)),
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    """The problems loading ``text`` gives, with the file shown as ``p.yaml``."""
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    return [line.replace(str(path), "p.yaml") for line in caught.value.problems]


@pytest.mark.parametrize(("name", "expected"), SHIPPED.items())
def test_each_shipped_profile_loads_by_name(
    name: str, expected: tuple[str, tuple[str, ...]]
) -> None:
    profile = load_profile(name)
    assert (profile.name, profile.convention, profile.quirks) == (name, *expected)
    assert profile.description


def test_the_shipped_profiles_are_exactly_those() -> None:
    assert set(shipped_profiles()) == set(SHIPPED)


def test_profiles_ship_as_package_data() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    data = pyproject["tool"]["setuptools"]["package-data"]
    assert "proxies/*.yaml" in data["harness.sim"]


def test_shipped_options_are_read() -> None:
    sbc = load_profile("history-info-sbc")
    assert sbc.quirk(SessionTimer) == SessionTimer(interval=2, expires=90)
    assert load_profile("notify-481").quirk(NotifyReject) == NotifyReject(status=481)


def test_a_profile_file_with_every_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
name: mine
description: a test proxy
convention: diversion
quirks:
  - fork
  - delay: {seconds: 0.5, methods: [invite]}
  - digest-challenge-register: {status: 407, users: {"0042": "0007"}}
no_answer_timeout: 2
forward_unconditional: ["2001"]
retrieval_users: ["*98", "8500"]
replicate_register: no
""",
    )
    profile = load_profile(path)
    assert profile.name == "mine"
    assert profile.quirks == ("fork", "delay", "digest-challenge-register")
    assert profile.quirk(Delay) == Delay(seconds=0.5, methods=("INVITE",))
    digest = profile.quirk(DigestChallengeRegister)
    assert digest is not None
    assert digest.status == 407
    # Text stays text: a YAML 1.1 reader would make 0042 the octal number 34.
    assert digest.password_of("0042") == "0007"
    assert digest.password_of("2000") == "secret"
    assert profile.no_answer_timeout == 2.0
    assert profile.forward_unconditional == frozenset({"2001"})
    assert profile.retrieval_users == frozenset({"*98", "8500"})
    assert profile.replicate_register is False


def test_the_name_defaults_to_the_file_name(tmp_path: Path) -> None:
    assert load_profile(write(tmp_path, "convention: rfc4458\n")).name == "p"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "convention: x-voicemail\nquirks:\n  - compact-header\n",
            'p.yaml:3:5: quirks[0]: unknown quirk "compact-header" (did you mean '
            '"compact-headers"? known: compact-headers,',
        ),
        (
            "convention: x-voicemail\nquirks:\n  - delay: {seconds: soon}\n",
            "p.yaml:3:22: quirks[0].delay.seconds: Input should be a valid number",
        ),
        (
            "convention: x-voicemail\nquirks:\n  - delay: {second: 1}\n",
            'p.yaml:3:13: quirks[0].delay.second: unknown field "second" (did you mean "seconds"?',
        ),
        (
            "convention: x-voicemail\nquirks:\n  - notify-unregistered: {status: 403}\n",
            "p.yaml:3:35: quirks[0].notify-unregistered.status: status must be one of 404, 480,"
            " not 403",
        ),
        (
            "convention: x-voicemail\nquirks:\n  - delay: 1\n",
            'p.yaml:3:12: quirks[0].delay: the options of delay are a mapping, got "1"',
        ),
        (
            "convention: x-voicemail\nquirks:\n  - {fork: , delay: }\n",
            "p.yaml:3:5: quirks[0]: a quirk is a name, or a mapping of one name",
        ),
        ("quirks: [fork]\n", "p.yaml:1:1: convention: required field is missing"),
        (
            "convention: diversoin\n",
            "p.yaml:1:13: convention: unknown convention 'diversoin'",
        ),
        (
            "convention: x-voicemail\nno_answer_timeout: -1\n",
            "p.yaml:2:20: no_answer_timeout: Input should be greater than 0",
        ),
        (
            "convention: x-voicemail\nquirk: [fork]\n",
            'p.yaml:2:1: quirk: unknown field "quirk" (did you mean "quirks"?',
        ),
        (
            "convention: x-voicemail\nquirks: [record-route, no-record-route]\n",
            "p.yaml:2:1: quirks: quirks record-route and no-record-route cannot go together",
        ),
        (
            "convention: history-info\nquirks: [session-timer]\n",
            "p.yaml:2:1: quirks: quirk session-timer needs quirk b2bua",
        ),
        ("convention: [x-voicemail\n", "p.yaml:2:1: YAML syntax error"),
        ("- convention: x-voicemail\n", "p.yaml:1:1: a profile is a mapping"),
        ("", "p.yaml:1:1: a profile is a mapping (convention: ..., quirks: [...]), got nothing"),
    ],
)
def test_each_mistake_gives_one_line_naming_file_line_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found[0]


def test_every_problem_of_a_file_is_listed(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "convention: x-voicemail\nquirks:\n  - forking\n  - delay: {seconds: x}\n",
    )
    assert [line.split(": ")[0:2] for line in found] == [
        ["p.yaml:3:5", "quirks[0]"],
        ["p.yaml:4:22", "quirks[1].delay.seconds"],
    ]


def test_an_unknown_profile_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ProfileError, match=r"no proxy profile 'kamailio' \(did you mean "):
        load_profile("kamailio")


def test_quirks_named_without_options_get_their_defaults() -> None:
    profile = ProxyProfile(quirks=("folded-headers", "strip-x-headers"))
    assert profile.options == (FoldedHeaders(width=30), StripXHeaders(keep=()))


def test_an_unknown_quirk_in_code_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r'unknown quirk "forking" \(did you mean "fork"\?'):
        ProxyProfile(quirks=("forking",))


def test_with_quirks_adds_and_replaces_options() -> None:
    base = load_profile("history-info-sbc")
    changed = base.with_quirks({"session-timer": {"interval": 0.5}}, "fork")
    assert changed.quirks == ("b2bua", "compact-headers", "session-timer", "fork")
    assert changed.quirk(SessionTimer) == SessionTimer(interval=0.5)
    assert base.quirk(SessionTimer) == SessionTimer(interval=2)


def test_parse_quirk_names_the_bad_option() -> None:
    with pytest.raises(QuirkError, match=r"delay\.seconds: Input should be greater than 0"):
        parse_quirk({"delay": {"seconds": 0}})


def test_every_quirk_documents_itself() -> None:
    for name, kind in QUIRKS.items():
        assert kind.name == name
        assert len(kind.__doc__ or "") > 40, name
