"""Asterisk's own voicemail.conf.sample loads as Asterisk loads it."""

from __future__ import annotations

from pathlib import Path

from harness.core.mailbox import MailboxId
from harness.voicemail.conf.server_config import load_config

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures/asterisk/samples/voicemail.conf.sample"


def _with_sample(tmp_path: Path, text: str | None = None) -> Path:
    (tmp_path / "voicemail.conf").write_text(text or SAMPLE.read_text())
    return tmp_path


def test_the_sample_loads_with_its_mailboxes_and_a_warning_for_its_unused_aliases(
    tmp_path: Path,
) -> None:
    config = load_config(_with_sample(tmp_path))
    assert set(config.voicemail.mailboxes) == {
        MailboxId("1234", "default"),
        MailboxId("1234", "other"),
    }
    assert [str(w) for w in config.warnings] == [
        "voicemail.conf:550: 1234@devices => 1234@default in [myaliases] is an alias line, "
        "but aliasescontext does not name [myaliases]: ignored (set aliasescontext=myaliases "
        "to use it)"
    ]


def test_the_samples_aliases_work_once_aliasescontext_names_them(tmp_path: Path) -> None:
    text = SAMPLE.read_text().replace(";aliasescontext=myaliases", "aliasescontext=myaliases")
    config = load_config(_with_sample(tmp_path, text))
    assert dict(config.voicemail.aliases) == {
        MailboxId("1234", "devices"): MailboxId("1234", "default")
    }
    assert not config.warnings
