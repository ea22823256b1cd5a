"""Phones that leave no trace at the proxy, and that take only the NOTIFYs meant for them."""

from __future__ import annotations

from harness.core.mwi import CONTENT_TYPE, EVENT
from harness.sim.phone import DEFAULT_EXPIRES, Phone
from harness.sip.builder import new_request
from harness.sip.uri import URI
from tests.sim.conftest import SimBedFactory, requests


async def test_a_phone_registers_as_an_instance_for_a_short_time_and_unregisters_on_close(
    sim_bed: SimBedFactory,
) -> None:
    bed = await sim_bed()
    phone = bed.phones["2000"]
    (register,) = requests(bed, "phone 2000", "out", "REGISTER")
    contact = register.address("Contact")
    assert contact is not None
    assert contact.param("+sip.instance") == f"<{phone.instance}>"
    assert register.header("Expires") == str(DEFAULT_EXPIRES) == "120"
    assert "2000" in bed.proxy.bindings

    await phone.close()

    last = requests(bed, "phone 2000", "out", "REGISTER")[-1]
    assert last.header("Expires") == "0"
    assert last.call_id == register.call_id
    assert last.cseq == (2, "REGISTER")
    assert "2000" not in bed.proxy.bindings


async def test_two_phones_of_one_user_are_two_instances(sim_bed: SimBedFactory) -> None:
    bed = await sim_bed(register=False)
    other = Phone("2000", bed.proxy.address)
    await other.start()
    try:
        assert other.instance != bed.phones["2000"].instance
    finally:
        await other.close()


async def test_clearing_removes_every_binding_of_the_number(sim_bed: SimBedFactory) -> None:
    bed = await sim_bed()
    stale = Phone("2000", bed.proxy.address)
    await stale.start()
    await stale.register()
    assert len(bed.proxy.bindings["2000"]) == 2
    fresh = bed.phones["2000"]

    response = await fresh.clear_bindings()

    assert response.status == 200
    assert "2000" not in bed.proxy.bindings
    cleared = requests(bed, "phone 2000", "out", "REGISTER")[-1]
    assert (cleared.header("Contact"), cleared.header("Expires")) == ("*", "0")
    # Nothing left to remove on close: no REGISTER goes out.
    assert not fresh.registered
    await stale.close()


async def test_a_notify_for_another_user_lights_nothing_and_is_kept_as_foreign(
    sim_bed: SimBedFactory,
) -> None:
    bed = await sim_bed()
    phone = bed.phones["2000"]
    sender = Phone("voicemail", bed.proxy.address)
    await sender.start()
    host, port = phone.transport.local
    sent: list[str] = []
    try:
        for user in ("2001", "2000"):
            notify = new_request(
                "NOTIFY",
                URI(scheme="sip", user=user, host=host, port=port),
                from_address="<sip:asterisk@127.0.0.1>",
                to_address=f"<sip:{user}@127.0.0.1>",
                local=sender.transport.local,
                headers=[("Event", EVENT)],
                body=b"Messages-Waiting: yes\r\nVoice-Message: 1/0\r\n",
                content_type=CONTENT_TYPE,
            )
            sent.append(notify.call_id)
            response = await sender.transport.request(notify, phone.transport.local)
            assert response.status == 200
            if user == "2001":
                assert not phone.lamp.on
    finally:
        await sender.close()

    (foreign,) = phone.foreign_notifies(0.0)
    assert foreign.addressee == "2001"
    assert phone.lamp.on
    ours = [notify for notify in phone.notifies if notify.request.call_id in sent]
    assert [notify.foreign for notify in ours] == [True, False]
