"""A live recording's timeline: payloads placed by offset, taken out in order as they settle."""

from harness.media.timeline import Timeline

SILENCE = 0xFF


def test_out_of_order_payloads_come_out_in_timeline_order() -> None:
    timeline = Timeline(start=1000, silence=SILENCE)
    timeline.put(1160, b"b" * 160)
    timeline.put(1000, b"a" * 160)
    timeline.put(1320, b"c" * 160)
    assert timeline.take(1320) == b"a" * 160 + b"b" * 160
    assert timeline.take(1480) == b"c" * 160
    assert timeline.settled == 1480


def test_gaps_are_silence_and_audio_before_the_start_is_not_kept() -> None:
    timeline = Timeline(start=1000, silence=SILENCE)
    timeline.put(840, b"x" * 200)  # started before the recording: its last 40 samples count
    timeline.put(1200, b"y" * 10)
    assert timeline.take(1210) == b"x" * 40 + bytes([SILENCE]) * 160 + b"y" * 10


def test_a_packet_for_a_stretch_already_taken_is_counted_late() -> None:
    timeline = Timeline(start=0, silence=SILENCE)
    timeline.put(0, b"a" * 160)
    assert timeline.take(160) == b"a" * 160
    timeline.put(80, b"b" * 160)
    assert timeline.late == 80
    assert timeline.take(400) == b"b" * 80 + bytes([SILENCE]) * 160


def test_memory_holds_only_the_unsettled_stretch() -> None:
    timeline = Timeline(start=0, silence=SILENCE)
    for index in range(50 * 600):  # ten minutes of 20 ms frames, settled every second
        timeline.put(index * 160, b"s" * 160)
        if index % 50 == 49:
            timeline.take((index - 10) * 160)
    assert timeline.end - timeline.settled <= 11 * 160


def test_a_recording_begins_with_the_first_audio_after_its_start() -> None:
    """The caller pressed a key during the greeting and spoke 1.8 s after the beep."""
    timeline = Timeline(start=0, silence=SILENCE, margin=800)
    timeline.put(14_560, b"w" * 160)
    timeline.put(14_400, b"v" * 160)  # reordered around the first packet: still kept
    assert timeline.begin == 13_760
    assert timeline.take(14_720) == bytes([SILENCE]) * 640 + b"v" * 160 + b"w" * 160


def test_a_caller_streaming_through_the_start_is_recorded_from_the_start() -> None:
    timeline = Timeline(start=1000, silence=SILENCE)
    timeline.put(960, b"a" * 160)
    assert timeline.begin == 1000
    assert timeline.take(1120) == b"a" * 120
