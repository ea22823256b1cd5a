"""The standalone server's configuration directory: voicemail.conf, sip.conf and smdi.conf together.

Each file is read by its own module; this one loads the three from one directory and
cross-checks them (a peer's or a station's mailbox that voicemail.conf does not define,
``smdienable=yes`` without an interface).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.core.mailbox import MailboxId
from harness.voicemail.conf.dialect import ConfigError, ConfigWarning
from harness.voicemail.conf.extconfig import ExtConfig, load_extconfig
from harness.voicemail.conf.sip_conf import SipConfig, SipPeer, load_sip_conf, sip_from_conf
from harness.voicemail.conf.smdi_conf import SmdiConfig, SmdiInterface, load_smdi_conf
from harness.voicemail.conf.values import unique_warnings
from harness.voicemail.conf.voicemail_conf import (
    MailboxConfig,
    VoicemailConfig,
    load_voicemail_conf,
    voicemail_from_conf,
)

__all__ = ["DEFAULT_SMDI_PORT", "ServerConfig", "load_config"]

#: The SMDI port app_voicemail uses when ``smdienable=yes`` names none.
DEFAULT_SMDI_PORT = "/dev/ttyS0"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything the standalone server reads from its configuration directory.

    ``smdi_notify`` is the interface app_voicemail-style lamp commands go out on: set when
    ``smdienable=yes`` and smdi.conf defines the port, else None. ``warnings`` gathers those of
    every file plus the cross-checks between them.
    """

    directory: Path
    voicemail: VoicemailConfig = field(default_factory=VoicemailConfig)
    sip: SipConfig = field(default_factory=SipConfig)
    smdi: SmdiConfig | None = None
    smdi_notify: SmdiInterface | None = None
    warnings: tuple[ConfigWarning, ...] = ()
    #: extconfig.conf's static mappings: which files came from a database.
    extconfig: ExtConfig = field(default_factory=ExtConfig)

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file read, includes too (what a reload watches)."""
        smdi_files = () if self.smdi is None else self.smdi.files
        return (*self.extconfig.files, *self.voicemail.files, *self.sip.files, *smdi_files)

    def mailbox(self, mailbox: MailboxId) -> MailboxConfig | None:
        """The mailbox ``box@context`` of voicemail.conf, or None."""
        return self.voicemail.mailbox(mailbox)

    def peers_for(self, mailbox: MailboxId) -> list[SipPeer]:
        """The peers to NOTIFY when ``mailbox`` changes: those whose ``mailbox=`` names it or
        one of its aliases (``aliasescontext``), as Asterisk republishes MWI for aliases."""
        aliases = [alias for alias, target in self.voicemail.aliases.items() if target == mailbox]
        return self.sip.peers_for(mailbox, *aliases)


def _refuse_empty_pins(voicemail: VoicemailConfig) -> None:
    """A mailbox line with no PIN lets anyone into its menu: refused unless ``[general]``
    says ``allowemptypin=yes``. A box whose PIN lives in the spool's secret.conf
    (``passwordlocation=spooldir``) is not judged by its line."""
    if voicemail.general.allowemptypin:
        return
    for box in voicemail.mailboxes.values():
        if box.pin.lstrip("-") or box.effective("passwordlocation") == "spooldir":
            continue
        raise ConfigError(
            box.file,
            box.line,
            f"mailbox {box.mailbox} has no PIN, so anyone could log in to it: give it one, "
            "or write allowemptypin=yes in [general]",
        )


def load_config(directory: Path) -> ServerConfig:
    """Read ``voicemail.conf`` (required), ``sip.conf`` and ``smdi.conf`` (optional) from
    ``directory`` and cross-check them. Raises :class:`ConfigError`."""
    if not directory.is_dir():
        raise ConfigError(str(directory), None, "configuration directory not found")
    extconfig_path = directory / "extconfig.conf"
    extconfig = (
        load_extconfig(extconfig_path, root=directory) if extconfig_path.exists() else ExtConfig()
    )
    voicemail, sip = _voicemail_and_sip(directory, extconfig)
    smdi_path = directory / "smdi.conf"
    _refuse_empty_pins(voicemail)
    smdi = load_smdi_conf(smdi_path, root=directory) if smdi_path.exists() else None
    warnings = [
        *extconfig.warnings,
        *voicemail.warnings,
        *sip.warnings,
        *(() if smdi is None else smdi.warnings),
    ]
    known = set(voicemail.mailboxes) | set(voicemail.aliases)
    for peer in sip.peers:
        for mailbox in peer.mailboxes:
            if mailbox not in known:
                warnings.append(
                    ConfigWarning(
                        peer.file,
                        peer.line,
                        f"peer [{peer.name}] names mailbox {mailbox}, "
                        "which voicemail.conf does not define",
                    )
                )
    for mapping in () if smdi is None else smdi.mappings:
        if mapping.mailbox not in known:
            warnings.append(
                ConfigWarning(
                    mapping.file,
                    mapping.line,
                    f"station {mapping.station} shows mailbox {mapping.mailbox}, "
                    "which voicemail.conf does not define",
                )
            )
    general = voicemail.general
    smdi_notify = None
    if general.smdienable:
        port = general.smdiport or DEFAULT_SMDI_PORT
        smdi_notify = None if smdi is None else smdi.interface(port)
        if smdi_notify is None:
            where = general.options.get("smdiport") or general.options["smdienable"]
            missing = (
                f"there is no smdi.conf to define interface {port}"
                if smdi is None
                else f"smdi.conf defines no interface {port}"
            )
            warnings.append(
                ConfigWarning.at(
                    where,
                    f"smdienable=yes but {missing}: SMDI lamp notification is disabled "
                    "(Asterisk logs an error and does the same)",
                )
            )
    return ServerConfig(
        directory, voicemail, sip, smdi, smdi_notify, unique_warnings(warnings), extconfig
    )


def _voicemail_and_sip(directory: Path, extconfig: ExtConfig) -> tuple[VoicemailConfig, SipConfig]:
    """voicemail.conf and sip.conf, each from the disk or the database extconfig.conf maps it to."""
    # The drivers load database libraries: a directory without extconfig.conf never pays for it.
    from harness.voicemail.realtime.source import read_mapped  # noqa: PLC0415

    voicemail_path, sip_path = directory / "voicemail.conf", directory / "sip.conf"
    voicemail_map, sip_map = extconfig.mapping("voicemail.conf"), extconfig.mapping("sip.conf")
    if voicemail_map is not None:
        voicemail = voicemail_from_conf(read_mapped(voicemail_map, directory))
    elif voicemail_path.exists():
        voicemail = load_voicemail_conf(voicemail_path, root=directory)
    else:
        raise ConfigError("voicemail.conf", None, f"not found in {directory}; the server needs it")
    if sip_map is not None:
        sip = sip_from_conf(read_mapped(sip_map, directory))
    else:
        sip = load_sip_conf(sip_path, root=directory) if sip_path.exists() else SipConfig()
    return voicemail, sip
