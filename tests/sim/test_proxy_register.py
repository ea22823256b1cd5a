"""The proxy challenging REGISTER with digest, and phones answering with their password."""

from __future__ import annotations

import pytest

from harness.sim.profiles import ProxyProfile
from harness.sip.auth import parse_auth_params
from tests.sim.conftest import SimBedFactory, requests, statuses


@pytest.mark.parametrize(
    ("status", "header"), [(401, "Authorization"), (407, "Proxy-Authorization")]
)
async def test_a_phone_with_its_password_registers_after_the_challenge(
    sim_bed: SimBedFactory, status: int, header: str
) -> None:
    profile = ProxyProfile().with_quirks({"digest-challenge-register": {"status": status}})
    bed = await sim_bed(profile, passwords={"2000": "secret"})
    first, second = requests(bed, "phone 2000", "out", "REGISTER")
    assert not first.has(header)
    assert statuses(bed, "phone 2000", "REGISTER") == [status, 200]
    scheme, params = parse_auth_params(second.header(header) or "")
    assert (scheme, params["username"], params["realm"]) == ("Digest", "2000", "sim-proxy")
    assert second.call_id == first.call_id
    assert second.cseq == (2, "REGISTER")
    assert second.vias()[0].branch != first.vias()[0].branch
    # Registered: a call to the phone rings it.
    await bed.deposit("2000", 0.5, skip_greeting=True)
    assert len(requests(bed, "phone 2000", "in", "INVITE")) == 1


@pytest.mark.parametrize("password", [None, "wrong"])
async def test_a_phone_without_the_right_password_is_refused(
    sim_bed: SimBedFactory, password: str | None
) -> None:
    profile = ProxyProfile(quirks=("digest-challenge-register",))
    passwords = {} if password is None else {"2000": password}
    bed = await sim_bed(profile, passwords=passwords, register=False)
    response = await bed.phones["2000"].register()
    assert response.status == 401
    assert (response.header("WWW-Authenticate") or "").startswith("Digest ")
    assert "2000" not in bed.proxy.bindings
    assert len(requests(bed, "proxy", "in", "REGISTER")) == (1 if password is None else 2)


async def test_each_user_may_have_a_password_of_its_own(sim_bed: SimBedFactory) -> None:
    profile = ProxyProfile().with_quirks(
        {"digest-challenge-register": {"users": {"2001": "other"}}}
    )
    bed = await sim_bed(
        profile, users=("2000", "2001"), passwords={"2000": "secret", "2001": "other"}
    )
    assert set(bed.proxy.bindings) == {"2000", "2001"}
