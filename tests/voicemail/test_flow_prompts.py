"""Every prompt a call flow can play is one the prompt catalogue knows."""

from __future__ import annotations

import pytest

from harness.media.prompts import CATALOGUE
from harness.voicemail.flows import leave
from harness.voicemail.flows.retrieve import flow


@pytest.mark.parametrize("used", [leave.PROMPTS_USED, flow.PROMPTS_USED], ids=["leave", "retrieve"])
def test_every_prompt_a_flow_plays_is_in_the_catalogue(used: tuple[str, ...]) -> None:
    assert sorted(set(used) - set(CATALOGUE)) == []
