"""Test audio: a speech-like signal that is reproducible and recognisable after transport."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.media import g711
from harness.media.signal import RATE, correlation, speech_like

#: One RTP packet of 20 ms at 8 kHz.
PACKET = 160


def test_same_seed_gives_the_same_samples() -> None:
    assert np.array_equal(speech_like(2.0, "2000/5551234"), speech_like(2.0, "2000/5551234"))
    assert np.array_equal(speech_like(1.0, 7), speech_like(1.0, 7))


@pytest.mark.parametrize(("one", "other"), [("a", "b"), (0, 1), ("0", 0), ("x/1", "x/2")])
def test_other_seeds_give_other_signals(one: str | int, other: str | int) -> None:
    first, second = speech_like(2.0, one), speech_like(2.0, other)

    assert not np.array_equal(first, second)
    assert abs(correlation(first, second)) < 0.5


def test_length_dtype_and_level() -> None:
    samples = speech_like(1.5, "level")

    assert samples.dtype == np.int16
    assert len(samples) == round(1.5 * RATE)
    assert len(speech_like(1.0, 1, rate=16000)) == 16000
    # Loud enough to survive G.711 well, with headroom: no clipping at full scale.
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    assert 1000 < rms < 12000
    assert int(np.abs(samples.astype(np.int32)).max()) < 32767


def test_energy_sits_in_the_speech_band() -> None:
    samples = speech_like(2.0, "band").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    frequencies = np.fft.rfftfreq(len(samples), 1 / RATE)

    speech_band = spectrum[(frequencies >= 80) & (frequencies <= 1000)].sum()

    assert speech_band / spectrum.sum() > 0.9


@pytest.mark.parametrize("seed", ["a", 3, "2000/5551234"])
def test_a_signal_correlates_with_itself(seed: str | int) -> None:
    samples = speech_like(2.0, seed)

    assert correlation(samples, samples) == pytest.approx(1.0)
    # Level changes do not matter: a quieter faithful copy still correlates fully.
    assert correlation(samples, samples // 4) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("seed", ["a", 3, "2000/5551234"])
@pytest.mark.parametrize("shift", [PACKET, 3 * PACKET, 10 * PACKET, RATE])
def test_a_shifted_copy_correlates_poorly(seed: str | int, shift: int) -> None:
    samples = speech_like(3.0, seed)

    assert abs(correlation(samples[shift:], samples[:-shift])) < 0.3


def test_every_shift_of_a_packet_or_more_correlates_poorly() -> None:
    samples = speech_like(1.0, "lags")

    worst = max(
        abs(correlation(samples[lag:], samples[:-lag])) for lag in range(PACKET, RATE // 2, 7)
    )

    assert worst < 0.3


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_g711_round_trip_keeps_the_signal(codec: str) -> None:
    samples = speech_like(2.0, f"g711/{codec}")

    received = g711.decode(g711.encode(samples, codec), codec)

    assert len(received) == len(samples)
    assert correlation(samples, received) > 0.95


def test_a_lost_stretch_of_audio_shows() -> None:
    samples = speech_like(2.0, "loss")
    received = samples.copy()
    received[RATE // 2 : RATE + RATE // 2] = 0  # one second of silence in the middle

    assert correlation(samples, received) < 0.8


def test_correlation_uses_the_common_length() -> None:
    samples = speech_like(1.0, "trim")

    assert correlation(samples, samples[:4000]) == pytest.approx(1.0)
    assert correlation(samples[:4000], samples) == pytest.approx(1.0)


def test_correlation_of_nothing_or_silence_is_zero() -> None:
    samples = speech_like(0.5, "z")

    assert correlation([], samples) == 0.0
    assert correlation(samples, np.zeros(len(samples), dtype=np.int16)) == 0.0
    assert correlation(np.full(100, 7), np.full(100, 7)) == 0.0


def test_an_inverted_copy_correlates_negatively() -> None:
    samples = speech_like(0.5, "inv").astype(np.int32)

    assert correlation(samples, -samples) == pytest.approx(-1.0)


@pytest.mark.parametrize("seconds", [0, -1.0, math.nan, math.inf])
def test_bad_durations_are_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match="seconds must be a positive finite number"):
        speech_like(seconds)


@pytest.mark.parametrize("rate", [0, -8000])
def test_bad_rates_are_refused(rate: int) -> None:
    with pytest.raises(ValueError, match="rate must be a positive"):
        speech_like(1.0, rate=rate)
