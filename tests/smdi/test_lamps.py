"""Lamp scheduler: latest state per station, round-robin, MWI-errors matched to commands."""

from __future__ import annotations

import random

import pytest

from harness.smdi.codec import MwiCommand, MwiError, SmdiError
from harness.smdi.lamps import LampScheduler, SentCommand
from harness.smdi.link import LinePacer, SerialSettings


def drain(lamps: LampScheduler) -> list[MwiCommand]:
    commands = []
    while (command := lamps.next_command()) is not None:
        commands.append(command)
    return commands


def test_only_the_latest_state_of_a_station_is_pending() -> None:
    lamps = LampScheduler()
    lamps.request("2000", on=True)
    lamps.request("2000", on=False)
    lamps.request("2000", on=True)
    assert lamps.backlog == 1
    assert lamps.pending("2000") is True
    assert drain(lamps) == [MwiCommand("2000", on=True)]
    assert lamps.pending("2000") is None


def test_every_request_goes_out_even_without_a_change() -> None:
    # app_voicemail sends the lamp state after every change, lit or not; so does the scheduler.
    lamps = LampScheduler()
    lamps.request("2000", on=True)
    assert drain(lamps) == [MwiCommand("2000", on=True)]
    lamps.request("2000", on=True)
    assert drain(lamps) == [MwiCommand("2000", on=True)]


def test_stations_are_served_in_the_order_they_first_asked() -> None:
    lamps = LampScheduler()
    lamps.request("2000", on=True)
    lamps.request("2001", on=True)
    lamps.request("2000", on=False)  # coalesces in place: 2000 keeps its turn
    lamps.request("2002", on=True)
    assert drain(lamps) == [
        MwiCommand("2000", on=False),
        MwiCommand("2001", on=True),
        MwiCommand("2002", on=True),
    ]


def test_a_station_asking_again_after_its_turn_waits_behind_the_others() -> None:
    lamps = LampScheduler()
    for station in ("2000", "2001", "2002"):
        lamps.request(station, on=True)
    assert lamps.next_command() == MwiCommand("2000", on=True)
    lamps.request("2000", on=False)
    assert drain(lamps) == [
        MwiCommand("2001", on=True),
        MwiCommand("2002", on=True),
        MwiCommand("2000", on=False),
    ]


def test_a_station_that_never_stops_changing_does_not_starve_the_others() -> None:
    lamps = LampScheduler()
    others = [str(3000 + i) for i in range(10)]
    for station in others:
        lamps.request(station, on=True)
    served: list[str] = []
    for turn in range(11):
        lamps.request("2000", on=turn % 2 == 0)  # before every command goes out
        command = lamps.next_command()
        assert command is not None
        served.append(command.station)
    assert served.count("2000") == 1
    assert sorted(set(served) - {"2000"}) == others


def test_an_mwi_error_within_the_window_answers_the_last_command_for_that_station() -> None:
    lamps = LampScheduler()
    lamps.sent(MwiCommand("2000", on=True), now=10.0)
    lamps.sent(MwiCommand("2001", on=True), now=10.1)
    lamps.sent(MwiCommand("2000", on=False), now=10.2)
    fault = lamps.error(MwiError("2000", "INV"), now=11.2)
    assert fault.command == SentCommand(MwiCommand("2000", on=False), 10.2)
    assert fault.station == "2000"
    assert fault.cause == "INV"
    assert fault.describe() == (
        "RMV:MWI 2000 refused: INV (invalid station), 1000 ms after the command"
    )
    assert lamps.faults == (fault,)


@pytest.mark.parametrize(
    ("station", "at"),
    [("2000", 11.21), ("2002", 10.3)],
    ids=["too-late", "other-station"],
)
def test_an_mwi_error_outside_any_window_is_unsolicited(station: str, at: float) -> None:
    lamps = LampScheduler()
    lamps.sent(MwiCommand("2000", on=True), now=10.2)
    fault = lamps.error(MwiError(station, "BLK"), now=at)
    assert fault.command is None
    assert "answers no recent command" in fault.describe()
    assert "BLK (blocked" in fault.describe()


def test_a_station_the_codec_cannot_write_is_refused() -> None:
    with pytest.raises(SmdiError, match="contains ' '"):
        LampScheduler().request("20 00", on=True)
    with pytest.raises(ValueError, match="window must not be negative"):
        LampScheduler(error_window=-1)


def test_fifty_stations_on_a_1200_baud_line_end_in_the_right_state() -> None:
    """The line (LinePacer, fake clock) is 10x slower than the changes; nothing is lost."""
    rng = random.Random(1200)
    settings = SerialSettings(1200, 7, "even", 1)
    pacer = LinePacer(settings)
    stations = [str(2000 + i) for i in range(50)]
    # 500 changes in 2 s: one every 4 ms, while a command takes ~110 ms on the line.
    changes = sorted(
        (rng.uniform(0.0, 2.0), rng.choice(stations), rng.random() < 0.5) for _ in range(500)
    )
    final = {station: on for _, station, on in changes}
    last_asked = {station: at for at, station, _ in changes}
    lamps = LampScheduler()
    switch: dict[str, bool] = {}
    carried: list[tuple[float, MwiCommand]] = []
    now, index, busy_until = 0.0, 0, 0.0
    while index < len(changes) or lamps.backlog:
        # The line is free at busy_until; every change asked until then is queued first.
        while index < len(changes) and (changes[index][0] <= busy_until or not lamps.backlog):
            now, station, on = changes[index]
            lamps.request(station, on)
            index += 1
        command = lamps.next_command()
        assert command is not None
        busy_until = pacer.schedule(len(command.encode()), max(now, busy_until))
        lamps.sent(command, busy_until)
        switch[command.station] = command.on
        carried.append((busy_until, command))
    assert switch == final
    assert len(carried) < len(changes) / 3  # coalescing did the work
    # Nobody starves: a station's last state is on the line within one round of all stations.
    longest = max(len(MwiCommand(s, on=False).encode()) for s in stations) * settings.char_time
    for station in stations:
        done = max(at for at, command in carried if command.station == station)
        assert done - last_asked[station] <= (len(stations) + 1) * longest
