"""sip.conf: the server's own SIP settings (``[general]``) and the peers it sends MWI to.

Read as chan_sip reads it, templates and ``[general]`` defaults applied to every peer.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.mailbox import MailboxId
from harness.voicemail.conf.dialect import (
    ConfFile,
    ConfigError,
    ConfigWarning,
    Option,
    Section,
    read_conf,
)
from harness.voicemail.conf.values import (
    ErrorsAt,
    Fields,
    first_section,
    no_options,
    to_int,
    unique_warnings,
    unknown_options,
    words,
)

__all__ = [
    "DEFAULT_USERAGENT",
    "SipConfig",
    "SipGeneral",
    "SipPeer",
    "load_sip_conf",
    "sip_from_conf",
]

#: ``User-Agent`` of the server's SIP requests unless sip.conf sets ``useragent``.
DEFAULT_USERAGENT = "vmharness"

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?\Z")
_HOST_AND_PORT = re.compile(r"(.+):([0-9]+)\Z")

_TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")
_DTMF_MODES = ("rfc2833", "info", "shortinfo", "inband", "auto")
_NAT_WORDS = ("no", "yes", "force_rport", "comedia", "auto_force_rport", "auto_comedia")
_PEER_TYPES = ("peer", "friend", "user")
_SIP_NOT_PEERS = frozenset({"general", "authentication"})
# chan_sip options this server does not act on, accepted so a real sip.conf loads cleanly.
_SIP_COMMON_ACCEPTED = words(
    """
    allow disallow allowoverlap allowtransfer autoframing callerid canreinvite compactheaders
    directmedia directrtpsetup encryption avpf force_avp icesupport faxdetect fromdomainport
    g726nonstandard ignoresdpversion insecure language maxcallbitrate maxforwards mohinterpret
    mohsuggest nat outboundproxy parkinglot preferred_codec_only progressinband promiscredir
    qualify qualifyfreq keepalive relaxdtmf rfc2833compensate rpid_immediate rpid_update
    rtp_engine rtpholdtimeout rtpkeepalive rtptimeout sdpowner sdpsession send_diversion sendrpid
    session-expires session-minse session-refresher session-timers snom_aoc_enabled t38pt_udptl
    t38pt_usertpsource textsupport timerb timert1 tonezone trustrpid use_q850_reason usereqphone
    videosupport permit deny acl contactpermit contactdeny contactacl accountcode amaflags
    callgroup pickupgroup namedcallgroup namedpickupgroup setvar callcounter busylevel call-limit
    outofcall_message_context allowsubscribe notifymimetype dtlsenable dtlsverify dtlsrekey
    dtlscertfile dtlsprivatekey dtlscipher dtlscafile dtlscapath dtlssetup dtlsfingerprint
    cc_agent_policy cc_monitor_policy cc_offer_timer ccnr_available_timer ccbs_available_timer
    cc_recall_timer cc_max_agents cc_max_monitors cc_callback_macro cc_callback_sub
    cc_agent_dialstring
    """
)
_SIP_GENERAL_KNOWN = _SIP_COMMON_ACCEPTED | words(
    """
    context bindaddr udpbindaddr bindport realm useragent vmexten mwi_from fromdomain buggymwi
    mwi_notify_branch register_static_peer
    dtmfmode transport subscribecontext defaultexpiry minexpiry maxexpiry subminexpiry
    submaxexpiry allowguest match_auth_username domainsasrealm recordonfeature recordofffeature
    rtpbindaddr disallowed_methods tcpenable tcpbindaddr tlsenable tlsbindaddr tcpauthtimeout
    tcpauthlimit websocket_enabled websocket_write_timeout srvlookup pedantic tos_sip tos_audio
    tos_video tos_text cos_sip cos_audio cos_video cos_text mwiexpiry qualifygap qualifypeers
    alwaysauthreject auth_options_requests accept_outofcall_message auth_message_requests
    matchexternaddrlocally dynamic_exclude_static rtsavepath notifyringing notifyhold notifycid
    t1min registertimeout registerattempts register callevents authfailureevents externip
    externaddr externhost externrefresh externtcpport externtlsport localnet media_address
    stunaddr jbenable jbforce jbmaxsize jbresyncthreshold jbimpl jblog jbtargetextra tlscertfile
    tlsprivatekey tlscipher tlscafile tlscapath tlsverifyclient tlsdontverifyserver
    tlsclientmethod hash_user hash_peer hash_dialog regcontext regextenonqualify
    legacy_useroption_parsing shrinkcallerid storesipcause autocreatepeer rtcachefriends
    rtsavesysname rtupdate rtautoclear ignoreregexpire domain autodomain allowexternaldomains
    sipdebug recordhistory dumphistory limitonpeers fromuser prematuremedia
    subscribe_network_change_event submaxpermailbox submaxperhost sdphostnames
    """
)
_SIP_PEER_KNOWN = _SIP_COMMON_ACCEPTED | words(
    """
    type host port defaultuser username mailbox context subscribecontext vmexten mwi_from
    fromuser fromdomain subscribemwi buggymwi dtmfmode transport secret md5secret remotesecret
    defaultip fullname cid_number trunkname directmediapermit directmediadeny directmediaacl
    regexten description unsolicited_mailbox hasvoicemail auth useclientcode constantssrc
    discard_remote_hold_retrieval callbackextension
    """
)


@dataclass(frozen=True, slots=True)
class SipGeneral:
    """``[general]`` of sip.conf: the server's own SIP settings and the defaults of every peer."""

    context: str = "default"
    bindaddr: str = "0.0.0.0"
    bindport: int = 5060
    realm: str = "asterisk"
    useragent: str = DEFAULT_USERAGENT
    vmexten: str = "asterisk"
    mwi_from: str | None = None
    fromdomain: str | None = None
    buggymwi: bool = False
    dtmfmode: str = "rfc2833"
    transport: tuple[str, ...] = ("udp",)
    subscribecontext: str | None = None
    allowsubscribe: bool = True
    notifymimetype: str = "application/simple-message-summary"
    defaultexpiry: int = 120
    minexpiry: int = 60
    maxexpiry: int = 3600
    subminexpiry: int = 60
    submaxexpiry: int = 3600
    #: RFC 3261 T1 in milliseconds; retransmission and transaction timeouts scale with it.
    timert1: int = 500
    #: ``nat=``: chan_sip's NAT handling words (``no``, ``force_rport``, ``comedia``…).
    nat: tuple[str, ...] = ("auto_force_rport",)
    #: ``call-limit=`` in [general]: the most calls the server holds at once (then 503).
    call_limit: int = 100
    #: ``tcpauthtimeout=``: seconds a TCP connection may stay silent before it is closed.
    tcpauthtimeout: int = 30
    #: ``tcpauthlimit=``: the most TCP connections held at once (more are refused).
    tcpauthlimit: int = 100
    #: ``submaxpermailbox=``: the most subscriptions to one mailbox (then 503).
    submaxpermailbox: int = 20
    #: ``submaxperhost=``: the most subscriptions from one source address (then 503).
    submaxperhost: int = 50
    #: SIP over TCP on bindaddr:bindport as well (``tcpenable=yes``).
    tcpenable: bool = False
    #: SIP over TLS on ``tlsbindaddr`` (port 5061 unless it names one), with the certificate
    #: chain of ``tlscertfile`` and the key of ``tlsprivatekey`` (default: the same file).
    tlsenable: bool = False
    tlsbindaddr: str | None = None
    tlsport: int = 5061
    tlscertfile: Path | None = None
    tlsprivatekey: Path | None = None
    #: The embedded server's own option: ``fresh`` gives each in-dialog NOTIFY of a
    #: subscription a new Via branch (RFC 3261); ``reuse`` keeps the first one for all of
    #: them, as chan_sip does, which an RFC-strict proxy takes for a retransmission.
    mwi_notify_branch: str = "fresh"
    #: The embedded server's own option: ``accept`` answers a REGISTER that a static-host
    #: peer (the proxy copying its phones' REGISTERs) sends with 200 and the phone's lamp
    #: state; ``challenge`` answers 401 and sends nothing, as chan_sip does for a peer that
    #: is not ``host=dynamic``.
    register_static_peer: str = "accept"
    #: The embedded server's own option: ``resolve`` takes a host name in an SDP ``c=`` line
    #: and resolves it once, off the event loop, within a deadline; ``refuse`` answers such an
    #: offer 488, so no caller can make the server query a resolver at all.
    sdphostnames: str = "resolve"
    #: ``alwaysauthreject=`` (chan_sip's default: yes): answer nothing that tells a stranger
    #: whether a user exists; here, a deposit for an unknown mailbox is taken as any other.
    alwaysauthreject: bool = True
    options: Mapping[str, Option] = field(default_factory=no_options, hash=False, repr=False)

    @property
    def symmetric_rtp(self) -> bool:
        """Whether media follows where the caller's RTP comes from (``nat=comedia``)."""
        return "comedia" in self.nat or "auto_comedia" in self.nat


_SIP_DEFAULTS = SipGeneral()


@dataclass(frozen=True, slots=True)
class SipPeer:
    """A sip.conf peer (templates and ``[general]`` defaults applied).

    In the standalone layout ``host`` is the proxy and ``defaultuser`` the phone's user, so an
    unsolicited NOTIFY for ``mailboxes`` goes to ``sip:<defaultuser>@<host>:<port>`` and the
    proxy relays it. ``options`` holds every option that took effect, with its file and line.
    """

    name: str
    type: str = "peer"
    host: str | None = None
    port: int = 5060
    defaultuser: str | None = None
    mailboxes: tuple[MailboxId, ...] = ()
    context: str = "default"
    subscribecontext: str | None = None
    vmexten: str = "asterisk"
    mwi_from: str | None = None
    fromuser: str | None = None
    fromdomain: str | None = None
    subscribemwi: bool = False
    buggymwi: bool = False
    dtmfmode: str = "rfc2833"
    transport: tuple[str, ...] = ("udp",)
    secret: str | None = None
    #: ``permit=``/``deny=`` lines in order, as (permit?, network): the last that matches wins.
    acl: tuple[tuple[bool, ipaddress.IPv4Network | ipaddress.IPv6Network], ...] = ()
    #: ``insecure=`` words (``port``, ``invite``).
    insecure: frozenset[str] = frozenset()
    options: Mapping[str, Option] = field(default_factory=no_options, hash=False, repr=False)
    file: str = ""
    line: int = 0

    @property
    def dynamic(self) -> bool:
        """Whether the peer's address is learned from REGISTER (``host=dynamic``)."""
        return self.host == "dynamic"

    @property
    def gets_mwi(self) -> bool:
        """Whether chan_sip would send this peer MWI: a peer or friend with mailboxes."""
        return self.type != "user" and bool(self.mailboxes)


@dataclass(frozen=True, slots=True)
class SipConfig:
    """sip.conf: general settings and peers, in file order."""

    general: SipGeneral = field(default_factory=SipGeneral)
    peers: tuple[SipPeer, ...] = ()
    warnings: tuple[ConfigWarning, ...] = ()
    files: tuple[Path, ...] = ()

    def peer(self, name: str) -> SipPeer | None:
        """The peer called ``name``."""
        return next((peer for peer in self.peers if peer.name == name), None)

    def peers_for(self, *mailboxes: MailboxId) -> list[SipPeer]:
        """The peers that get MWI for any of ``mailboxes`` (their ``mailbox=`` names one)."""
        wanted = set(mailboxes)
        return [p for p in self.peers if p.gets_mwi and wanted.intersection(p.mailboxes)]


def load_sip_conf(path: Path, *, root: Path | None = None) -> SipConfig:
    """Read sip.conf (and its includes). Raises :class:`ConfigError`."""
    return _sip(read_conf(path, root=root))


def sip_from_conf(conf: ConfFile) -> SipConfig:
    """sip.conf from sections already read (from a database, say)."""
    return _sip(conf)


def _sip(conf: ConfFile) -> SipConfig:
    warnings: list[ConfigWarning] = []
    general_section = first_section(conf, "general", warnings)
    if general_section is not None:
        warnings.extend(unknown_options(general_section.options, _SIP_GENERAL_KNOWN, "[general]"))
    general = _sip_general(general_section)
    for section in conf.sections:
        if section.name.lower() not in _SIP_NOT_PEERS:
            where = f"[{section.name}]"
            warnings.extend(unknown_options(section.own_options(), _SIP_PEER_KNOWN, where))
    groups: dict[str, list[Section]] = {}
    for section in conf.instances():
        if section.name.lower() not in _SIP_NOT_PEERS:
            groups.setdefault(section.name.lower(), []).append(section)
    peers: list[SipPeer] = []
    for sections in groups.values():
        first = sections[0]
        for again in sections[1:]:
            warnings.append(
                ConfigWarning(
                    again.file,
                    again.line,
                    f"peer [{again.name}] is defined again (first at {first.file}:{first.line}): "
                    "its options are added to the first, as chan_sip does",
                )
            )
        options = tuple(option for section in sections for option in section.options)
        peer = _peer(Section(first.name, first.file, first.line, options), general, warnings)
        if peer is not None:
            peers.append(peer)
    return SipConfig(general, tuple(peers), unique_warnings(warnings), conf.files)


def _sip_general(section: Section | None) -> SipGeneral:
    fields = Fields(section)
    defaults = _SIP_DEFAULTS
    bindaddr, bindport = defaults.bindaddr, fields.integer("bindport", defaults.bindport, 1, 65535)
    bind = fields.option("bindaddr", "udpbindaddr")
    if bind is not None:
        bindaddr, port = _bind_address(bind)
        bindport = bindport if port is None else port
    transport = fields.option("transport")
    return SipGeneral(
        context=fields.text("context") or defaults.context,
        bindaddr=bindaddr,
        bindport=bindport,
        realm=fields.text("realm") or defaults.realm,
        useragent=fields.text("useragent") or defaults.useragent,
        vmexten=fields.text("vmexten") or defaults.vmexten,
        mwi_from=fields.text("mwi_from"),
        fromdomain=fields.text("fromdomain"),
        buggymwi=fields.flag("buggymwi", defaults.buggymwi),
        dtmfmode=fields.choice("dtmfmode", defaults.dtmfmode, _DTMF_MODES),
        transport=defaults.transport if transport is None else _transports(transport),
        subscribecontext=fields.text("subscribecontext"),
        allowsubscribe=fields.flag("allowsubscribe", defaults.allowsubscribe),
        notifymimetype=fields.text("notifymimetype") or defaults.notifymimetype,
        defaultexpiry=fields.integer("defaultexpiry", defaults.defaultexpiry, 1),
        minexpiry=fields.integer("minexpiry", defaults.minexpiry, 1),
        maxexpiry=fields.integer("maxexpiry", defaults.maxexpiry, 1),
        subminexpiry=fields.integer("subminexpiry", defaults.subminexpiry, 1),
        submaxexpiry=fields.integer("submaxexpiry", defaults.submaxexpiry, 1),
        timert1=fields.integer("timert1", defaults.timert1, 1),
        nat=_nat(fields.option("nat")),
        call_limit=fields.integer("call-limit", defaults.call_limit, 1),
        tcpauthtimeout=fields.integer("tcpauthtimeout", defaults.tcpauthtimeout, 1),
        tcpauthlimit=fields.integer("tcpauthlimit", defaults.tcpauthlimit, 1),
        submaxpermailbox=fields.integer("submaxpermailbox", defaults.submaxpermailbox, 1),
        submaxperhost=fields.integer("submaxperhost", defaults.submaxperhost, 1),
        tcpenable=fields.flag("tcpenable", defaults.tcpenable),
        **_tls(fields),
        mwi_notify_branch=fields.choice(
            "mwi_notify_branch", defaults.mwi_notify_branch, ("fresh", "reuse")
        ),
        register_static_peer=fields.choice(
            "register_static_peer", defaults.register_static_peer, ("accept", "challenge")
        ),
        alwaysauthreject=fields.flag("alwaysauthreject", defaults.alwaysauthreject),
        sdphostnames=fields.choice("sdphostnames", defaults.sdphostnames, ("resolve", "refuse")),
        options=fields.all_options(),
    )


def _nat(option: Option | None) -> tuple[str, ...]:
    """``nat=``: a comma-separated list of chan_sip's words, ``yes`` meaning both kinds."""
    if option is None:
        return _SIP_DEFAULTS.nat
    words = tuple(word.strip().lower() for word in option.value.split(",") if word.strip())
    unknown = [word for word in words if word not in _NAT_WORDS]
    if unknown or not words:
        raise ConfigError.at(
            option, f"nat={option.value}: expected {', '.join(_NAT_WORDS)} (comma-separated)"
        )
    return ("force_rport", "comedia") if words == ("yes",) else words


def _tls(fields: Fields) -> dict[str, Any]:
    """``tlsenable``, ``tlsbindaddr``, ``tlscertfile``, ``tlsprivatekey`` (the files are
    opened, and checked, by the server that serves TLS)."""
    enabled = fields.flag("tlsenable", False)
    found: dict[str, Any] = {"tlsenable": enabled}
    bind = fields.option("tlsbindaddr")
    if bind is not None:
        address, port = _bind_address(bind)
        found["tlsbindaddr"] = address
        if port is not None:
            found["tlsport"] = port
    for name in ("tlscertfile", "tlsprivatekey"):
        value = fields.text(name)
        if value:
            found[name] = Path(value)
    if enabled and "tlscertfile" not in found:
        where = fields.option("tlsenable")
        assert where is not None
        raise ConfigError.at(where, "tlsenable=yes needs tlscertfile= (the certificate chain)")
    return found


def _bind_address(option: Option) -> tuple[str, int | None]:
    """``bindaddr=`` as address and optional port: ``0.0.0.0``, ``::``, ``[::1]:5062``…"""
    text = option.value.strip()
    address, port = text, None
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ConfigError.at(option, f"bindaddr={text}: expected [address]:port")
            with ErrorsAt(option):
                port = to_int("port", rest[1:], 1, 65535)
    elif text.count(":") == 1:
        address, port_text = text.split(":")
        with ErrorsAt(option):
            port = to_int("port", port_text, 1, 65535)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError.at(option, f"bindaddr={text}: not an IP address") from None
    return address, port


def _transports(option: Option) -> tuple[str, ...]:
    names = [name.strip().lower() for name in option.value.split(",")]
    for name in names:
        if name not in _TRANSPORTS:
            raise ConfigError.at(
                option, f"transport={option.value}: '{name}' is not one of {', '.join(_TRANSPORTS)}"
            )
    return tuple(dict.fromkeys(names))


@functools.lru_cache(maxsize=256)
def _is_ip_address(text: str) -> bool:
    """Whether ``text`` is an IP address (thousands of peers name the same proxy)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _host(option: Option) -> str:
    text = option.value.strip()
    if text.lower() == "dynamic":
        return "dynamic"
    bare = text.removeprefix("[").removesuffix("]")
    if _is_ip_address(bare):
        return bare  # IPv6 without brackets: whoever builds a URI adds them
    if _HOSTNAME.match(text):
        return text
    with_port = _HOST_AND_PORT.match(text)
    if with_port is not None:
        raise ConfigError.at(
            option,
            f"host={text}: host= takes no port; "
            f"write host={with_port.group(1)} and port={with_port.group(2)}",
        )
    raise ConfigError.at(option, f"host={text}: not a host name, an IP address or 'dynamic'")


def _peer(section: Section, general: SipGeneral, warnings: list[ConfigWarning]) -> SipPeer | None:
    fields = Fields(section)
    name = section.name
    type_option = fields.option("type")
    if type_option is None:
        warnings.append(
            ConfigWarning(
                section.file,
                section.line,
                f"[{name}] has no type= and is ignored, as chan_sip does "
                "(write type=peer, or type=friend)",
            )
        )
        return None
    peer_type = fields.choice("type", "peer", _PEER_TYPES)
    transport_option = fields.option("transport")
    transport = general.transport if transport_option is None else _transports(transport_option)
    host_option = fields.option("host")
    host = None if host_option is None or not host_option.value else _host(host_option)
    user_option = fields.option("defaultuser", "username")
    mailboxes: list[MailboxId] = []
    for option in section.get_all("mailbox"):
        for item in option.value.split(","):
            if not item.strip():
                continue
            if "@" not in item:
                warnings.append(
                    ConfigWarning.at(
                        option,
                        f"mailbox {item.strip()} has no @context: 'default' is assumed "
                        "(app_voicemail boxes must be written with @context)",
                    )
                )
            try:
                mailbox = MailboxId.parse(item)
            except ValueError as error:
                raise ConfigError.at(option, f"mailbox= of [{name}]: {error}") from None
            if mailbox not in mailboxes:
                mailboxes.append(mailbox)
    peer = SipPeer(
        name=name,
        type=peer_type,
        host=host,
        port=fields.integer("port", 5061 if transport[0] == "tls" else 5060, 1, 65535),
        defaultuser=None if user_option is None or not user_option.value else user_option.value,
        mailboxes=tuple(mailboxes),
        context=fields.text("context") or general.context,
        subscribecontext=fields.text("subscribecontext") or general.subscribecontext,
        vmexten=fields.text("vmexten") or general.vmexten,
        mwi_from=fields.text("mwi_from") or general.mwi_from,
        fromuser=fields.text("fromuser"),
        fromdomain=fields.text("fromdomain") or general.fromdomain,
        subscribemwi=fields.flag("subscribemwi", False),
        buggymwi=fields.flag("buggymwi", general.buggymwi),
        dtmfmode=fields.choice("dtmfmode", general.dtmfmode, _DTMF_MODES),
        transport=transport,
        secret=fields.text("secret"),
        acl=_acl(section),
        insecure=frozenset(
            word.strip().lower() for word in (fields.text("insecure") or "").split(",") if word
        ),
        options=fields.all_options(),
        file=section.file,
        line=section.line,
    )
    warnings.extend(_peer_warnings(peer, type_option, host_option))
    return peer


def _acl(
    section: Section,
) -> tuple[tuple[bool, ipaddress.IPv4Network | ipaddress.IPv6Network], ...]:
    """``permit=``/``deny=`` as chan_sip reads them: ``10.0.0.0/255.0.0.0`` or ``10.0.0.0/8``."""
    rules: list[tuple[bool, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
    for option in section.options:
        if option.key not in ("permit", "deny"):
            continue
        text = option.value.strip()
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ConfigError.at(
                option, f"{option.name}={text}: not an address/mask (write 10.0.0.0/255.0.0.0)"
            ) from None
        rules.append((option.key == "permit", network))
    return tuple(rules)


def _peer_warnings(
    peer: SipPeer, type_option: Option, host_option: Option | None
) -> list[ConfigWarning]:
    """What keeps a peer with mailboxes from getting its NOTIFYs through the proxy."""
    if not peer.mailboxes:
        return []
    if peer.type == "user":
        return [
            ConfigWarning.at(
                type_option,
                "type=user gets no MWI NOTIFY (chan_sip sends MWI to peers only): "
                "write type=peer or type=friend",
            )
        ]
    if host_option is not None and peer.dynamic:
        return [
            ConfigWarning.at(
                host_option,
                "a dynamic peer gets no unsolicited MWI until it registers; "
                "the standalone layout wants host= the proxy",
            )
        ]
    where = (peer.file, peer.line)
    if peer.host is None:
        return [
            ConfigWarning(
                *where, f"peer [{peer.name}] has mailbox= but no host=: its NOTIFYs go nowhere"
            )
        ]
    if peer.defaultuser is None:
        return [
            ConfigWarning(
                *where,
                f"peer [{peer.name}] has mailbox= but no defaultuser=: its NOTIFYs would go to "
                f"sip:{peer.host} with no user part, which the proxy cannot route to a phone",
            )
        ]
    return []
