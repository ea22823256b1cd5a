"""SDP parsing and building, and RFC 3264 offer/answer for audio."""

import pytest

from harness.sip.sdp import (
    MediaDescription,
    Negotiated,
    RtpMap,
    SdpError,
    SessionDescription,
    answer,
    make_offer,
    negotiated_from_answer,
    parse,
)

ASTERISK_OFFER = (
    "v=0\r\n"
    "o=root 1849209375 1849209375 IN IP4 192.0.2.10\r\n"
    "s=Asterisk PBX 18.26.4\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 14982 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=maxptime:150\r\n"
    "a=sendrecv\r\n"
)

# A softphone offer: video first, wideband codecs, telephone-event at two rates, LF line ends.
SOFTPHONE_OFFER = (
    "v=0\n"
    "o=- 3912 3913 IN IP6 2001:db8::5\n"
    "s=pjmedia\n"
    "b=AS:84\n"
    "t=0 0\n"
    "a=X-nat:0\n"
    "m=video 4002 RTP/AVP 97\n"
    "c=IN IP6 2001:db8::5\n"
    "a=rtpmap:97 H264/90000\n"
    "m=audio 4000 RTP/AVP 9 8 0 96 120\n"
    "c=IN IP6 2001:db8::5\n"
    "b=TIAS:64000\n"
    "a=rtpmap:9 G722/8000\n"
    "a=rtpmap:96 telephone-event/48000\n"
    "a=fmtp:96 0-16\n"
    "a=rtpmap:120 telephone-event/8000\n"
    "a=fmtp:120 0-15\n"
    "a=sendonly\n"
)


def test_make_offer_writes_a_complete_audio_offer() -> None:
    offer = make_offer("127.0.0.1", 40000, session_id=42)
    assert str(offer) == (
        "v=0\r\n"
        "o=vmharness 42 42 IN IP4 127.0.0.1\r\n"
        "s=-\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "t=0 0\r\n"
        "m=audio 40000 RTP/AVP 0 8 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\n"
        "a=ptime:20\r\n"
        "a=sendrecv\r\n"
    )
    assert bytes(offer) == str(offer).encode()


def test_make_offer_options() -> None:
    offer = make_offer(
        "::1", 5004, codecs=("pcma",), telephone_event=None, session_id=1, direction="sendonly"
    )
    media = offer.media[0]
    assert media.formats == ("8",)
    assert media.direction == "sendonly"
    assert "c=IN IP6 ::1" in str(offer)
    assert "IN IP6 ::1" in str(offer).splitlines()[1]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"codecs": ("OPUS",)}, "cannot offer codec 'OPUS'"),
        ({"codecs": ()}, "at least one codec"),
        ({"telephone_event": 13}, "not dynamic"),
        ({"direction": "both"}, "direction 'both'"),
    ],
)
def test_make_offer_refuses_what_it_cannot_offer(kwargs: dict[str, object], reason: str) -> None:
    with pytest.raises(SdpError, match=reason):
        make_offer("127.0.0.1", 4000, **kwargs)  # type: ignore[arg-type]


def test_parse_asterisk_offer() -> None:
    offer = parse(ASTERISK_OFFER)
    assert offer.origin.username == "root"
    assert offer.origin.session_id == 1849209375
    assert offer.session_name == "Asterisk PBX 18.26.4"
    assert offer.connection == "192.0.2.10"
    (media,) = offer.media
    assert (media.media, media.port, media.proto) == ("audio", 14982, "RTP/AVP")
    assert media.payload_types == (0, 8, 101)
    assert media.rtpmap[101] == RtpMap("telephone-event", 8000)
    assert media.fmtp == {101: "0-16"}
    assert media.ptime == 20
    assert media.direction == "sendrecv"
    assert media.attributes == (("maxptime", "150"),)


def test_parse_then_serialise_round_trips() -> None:
    for text in (ASTERISK_OFFER, SOFTPHONE_OFFER):
        parsed = parse(text)
        assert parse(str(parsed)) == parsed
    assert str(parse(ASTERISK_OFFER)) == ASTERISK_OFFER


def test_parse_softphone_offer() -> None:
    offer = parse(SOFTPHONE_OFFER.encode())
    assert offer.connection is None
    assert offer.origin.addrtype == "IP6"
    assert offer.attributes == (("X-nat", "0"),)
    assert offer.other_lines == ("b=AS:84",)
    video, audio = offer.media
    assert video.media == "video"
    assert offer.media_address(audio) == "2001:db8::5"
    assert audio.other_lines == ("b=TIAS:64000",)
    assert offer.media_direction(audio) == "sendonly"
    assert offer.media_direction(video) == "sendrecv"
    # Static payload types need no rtpmap.
    assert audio.codec(0) == RtpMap("PCMU", 8000)
    assert audio.codec(96) == RtpMap("telephone-event", 48000)
    assert audio.codec(77) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("o=- 1 1 IN IP4 h\r\n", "no v= line"),
        ("v=0\r\n", "no o= line"),
        ("v=0\r\nbogus\r\n", "line 2: expected '<letter>=<value>'"),
        ("v=x\r\n", "line 1: version 'x' is not a number"),
        ("v=0\r\no=- 1 IN IP4 h\r\n", "line 2: o= needs six fields"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IPX h\r\n", "line 3: c= must be"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 4000 RTP/AVP\r\n", "line 3: m= needs"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\nm=audio port RTP/AVP 0\r\n", "m= port 'port'"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 70000 RTP/AVP 0\r\n", "m= port 70000 out of range"),
        (
            "v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n",
            "line 4: rtpmap must be",
        ),
        ("v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\na=ptime:x\r\n", "line 4: ptime 'x'"),
    ],
)
def test_parse_errors_name_the_line(text: str, reason: str) -> None:
    with pytest.raises(SdpError, match=reason):
        parse(text)


def test_parse_rejects_non_utf8() -> None:
    with pytest.raises(SdpError, match="not UTF-8"):
        parse(b"v=0\r\ns=\xff\r\n")


def test_multicast_connection_keeps_only_the_address() -> None:
    text = "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 224.2.1.1/127\r\nt=0 0\r\n"
    assert parse(text).connection == "224.2.1.1"


@pytest.mark.parametrize(
    ("kind", "address"),
    [
        ("IP4", "192.0.2.1\x00"),
        ("IP4", "192.0.2.1\x00evil"),
        ("IP4", "-bad-.example"),
        ("IP4", "host_name"),
        ("IP4", "2001:db8::1"),
        ("IP6", "192.0.2.1"),
        ("IP6", "2001:db8::zz"),
        ("IP4", "a" * 300),
        ("IP4", "[192.0.2.1]"),
    ],
)
def test_a_connection_address_that_is_no_address_or_host_name_is_refused(
    kind: str, address: str
) -> None:
    text = f"v=0\r\no=- 1 1 IN IP4 h\r\nc=IN {kind} {address}\r\nt=0 0\r\n"
    with pytest.raises(SdpError, match="line 3: c= address"):
        parse(text)


@pytest.mark.parametrize(
    ("kind", "address"),
    [("IP4", "192.0.2.1"), ("IP4", "media.example.com"), ("IP6", "2001:db8::1"), ("IP4", "h")],
)
def test_addresses_and_host_names_are_accepted_in_c(kind: str, address: str) -> None:
    text = f"v=0\r\no=- 1 1 IN IP4 h\r\nc=IN {kind} {address}\r\nt=0 0\r\n"
    assert parse(text).connection == address


# --- answering -----------------------------------------------------------------------------


def test_answer_to_asterisk_takes_its_first_codec_and_event_type() -> None:
    sdp, negotiated = answer(parse(ASTERISK_OFFER), "127.0.0.1", 30000, session_id=9)
    assert negotiated == Negotiated("192.0.2.10", 14982, 0, "PCMU", 101, 20, "sendrecv")
    assert str(sdp) == (
        "v=0\r\n"
        "o=vmharness 9 9 IN IP4 127.0.0.1\r\n"
        "s=-\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "t=0 0\r\n"
        "m=audio 30000 RTP/AVP 0 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\n"
        "a=ptime:20\r\n"
        "a=sendrecv\r\n"
    )


def test_answer_honours_supported_codecs() -> None:
    _, negotiated = answer(parse(ASTERISK_OFFER), "127.0.0.1", 30000, supported=("PCMA",))
    assert (negotiated.payload_type, negotiated.codec) == (8, "PCMA")


def test_answer_to_softphone_keeps_order_and_takes_8khz_events() -> None:
    sdp, negotiated = answer(parse(SOFTPHONE_OFFER), "::1", 30000)
    video, audio = sdp.media
    assert (video.media, video.port) == ("video", 0)
    assert audio.port == 30000
    # G722 is offered first but not supported; PCMA comes next.
    assert negotiated == Negotiated("2001:db8::5", 4000, 8, "PCMA", 120, 20, "recvonly")
    assert audio.formats == ("8", "120")
    assert audio.fmtp == {120: "0-15"}
    assert audio.direction == "recvonly"
    assert sdp.connection == "::1"
    assert "c=IN IP6 ::1" in str(sdp)


def test_answer_without_telephone_event_offered() -> None:
    offer = make_offer("10.0.0.1", 4000, telephone_event=None)
    sdp, negotiated = answer(offer, "10.0.0.2", 5000)
    assert negotiated.telephone_event_pt is None
    assert sdp.media[0].formats == ("0",)


def test_answer_ignores_telephone_event_at_other_rates_only() -> None:
    offer = parse(SOFTPHONE_OFFER.replace("a=rtpmap:120 telephone-event/8000\n", ""))
    _, negotiated = answer(offer, "::1", 1)
    assert negotiated.telephone_event_pt is None


def test_answer_accepts_static_types_without_rtpmap() -> None:
    text = (
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n"
        "m=audio 7078 RTP/AVP 8\r\n"
    )
    _, negotiated = answer(parse(text), "127.0.0.1", 1)
    assert (negotiated.payload_type, negotiated.codec, negotiated.ptime) == (8, "PCMA", 20)


def test_answer_accepts_g711_on_a_dynamic_type() -> None:
    text = (
        "v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n"
        "m=audio 7078 RTP/AVP 112\r\na=rtpmap:112 pcmu/8000\r\na=ptime:30\r\n"
    )
    sdp, negotiated = answer(parse(text), "127.0.0.1", 1)
    assert (negotiated.payload_type, negotiated.codec, negotiated.ptime) == (112, "PCMU", 30)
    assert sdp.media[0].rtpmap[112] == RtpMap("PCMU", 8000)


@pytest.mark.parametrize(
    ("offered", "answered"),
    [("sendonly", "recvonly"), ("recvonly", "sendonly"), ("inactive", "inactive")],
)
def test_answer_mirrors_the_direction(offered: str, answered: str) -> None:
    offer = make_offer("10.0.0.1", 4000, direction=offered)
    sdp, negotiated = answer(offer, "10.0.0.2", 5000)
    assert sdp.media[0].direction == answered
    assert negotiated.direction == answered


def test_session_level_direction_applies_to_media() -> None:
    text = ASTERISK_OFFER.replace("a=sendrecv\r\n", "").replace(
        "t=0 0\r\n", "t=0 0\r\na=sendonly\r\n"
    )
    _, negotiated = answer(parse(text), "127.0.0.1", 1)
    assert negotiated.direction == "recvonly"


def test_only_the_first_acceptable_audio_stream_is_taken() -> None:
    offer = make_offer("10.0.0.1", 4000)
    second = MediaDescription("audio", 4002, "RTP/AVP", ("0",))
    doubled = SessionDescription(offer.origin, offer.connection, (offer.media[0], second))
    sdp, negotiated = answer(doubled, "10.0.0.2", 5000)
    assert [m.port for m in sdp.media] == [5000, 0]
    assert negotiated.remote_port == 4000


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            ASTERISK_OFFER.replace("RTP/AVP", "RTP/SAVP"),
            r"no common codec: offered m=audio port 14982 RTP/SAVP",
        ),
        (ASTERISK_OFFER.replace("14982", "0"), "no common codec"),
        (
            ASTERISK_OFFER.replace(" 0 8 101", " 18 101"),
            r"\[18 G729/8000, 101 telephone-event/8000\]",
        ),
        ("v=0\r\no=- 1 1 IN IP4 h\r\n", "offered no media"),
    ],
)
def test_answer_rejects_offers_without_a_common_codec(text: str, reason: str) -> None:
    with pytest.raises(SdpError, match=reason):
        answer(parse(text), "127.0.0.1", 1)


def test_answer_rejects_audio_without_an_address() -> None:
    text = ASTERISK_OFFER.replace("c=IN IP4 192.0.2.10\r\n", "")
    with pytest.raises(SdpError, match=r"no connection address \(c=\)"):
        answer(parse(text), "127.0.0.1", 1)


# --- the offerer's side --------------------------------------------------------------------


def test_negotiated_from_answer_matches_the_answerers_view() -> None:
    offer = make_offer("10.0.0.1", 4000, direction="sendonly")
    sdp, negotiated = answer(offer, "10.0.0.2", 5000, supported=("PCMA",))
    mine = negotiated_from_answer(offer, parse(str(sdp)))
    assert mine == Negotiated("10.0.0.2", 5000, 8, "PCMA", 101, 20, "sendonly")
    assert negotiated.direction == "recvonly"


def test_negotiated_from_answer_skips_declined_streams() -> None:
    offer = parse(SOFTPHONE_OFFER)
    sdp, _ = answer(offer, "::1", 30000)
    assert negotiated_from_answer(offer, sdp).remote_port == 30000


def test_answer_with_the_wrong_number_of_streams_is_refused() -> None:
    offer = make_offer("10.0.0.1", 4000)
    empty = SessionDescription(offer.origin, "10.0.0.2", ())
    with pytest.raises(SdpError, match="0 m-lines for the offer's 1"):
        negotiated_from_answer(offer, empty)


def test_answer_choosing_an_unoffered_codec_is_refused() -> None:
    offer = make_offer("10.0.0.1", 4000, codecs=("PCMU",))
    bad = parse(str(offer).replace("RTP/AVP 0 101", "RTP/AVP 8 101"))
    with pytest.raises(SdpError, match=r"payload type 8 \(PCMA/8000\), which was not offered"):
        negotiated_from_answer(offer, bad)


def test_answer_declining_everything_is_refused() -> None:
    offer = make_offer("10.0.0.1", 4000)
    declined = parse(str(offer).replace("m=audio 4000", "m=audio 0"))
    with pytest.raises(SdpError, match="declines every stream"):
        negotiated_from_answer(offer, declined)
