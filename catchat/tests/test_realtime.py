"""The realtime hub (catchat.realtime): one channel of the layer per process hands group frames
to the tabs open in it. On a fresh in-memory layer, so the layer's groups can be inspected."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.layers import get_channel_layer

from catchat import realtime

pytestmark = pytest.mark.asyncio


@pytest.fixture(autouse=True)
def _fresh_layer(settings: Any) -> Any:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return get_channel_layer()


class Tab:
    """A deliver callable that records what it got."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[Any] = asyncio.Queue()

    async def __call__(self, message: dict[str, Any]) -> None:
        await self.frames.put(message["frame"])

    async def next(self) -> Any:
        return await asyncio.wait_for(self.frames.get(), timeout=2)

    async def nothing(self) -> bool:
        await asyncio.sleep(0.05)
        return self.frames.empty()


def members(group: str) -> set[str]:
    layer: Any = get_channel_layer()
    return set(layer.groups.get(group, {}))


async def test_a_frame_reaches_every_tab_of_its_group_and_no_other() -> None:
    one, two, other = Tab(), Tab(), Tab()
    await realtime.join("cat.1.1", one)
    await realtime.join("cat.1.1", two)
    await realtime.join("cat.2.2", other)
    await realtime.send_to_group("cat.1.1", {"type": "x", "n": 1})
    await realtime.send_to_group("cat.1.1", {"type": "x", "n": 2})
    assert [await one.next(), await one.next()] == [{"type": "x", "n": 1}, {"type": "x", "n": 2}]
    assert [await two.next(), await two.next()] == [{"type": "x", "n": 1}, {"type": "x", "n": 2}]
    assert await other.nothing()


async def test_the_process_is_one_member_of_a_group_whatever_its_tabs() -> None:
    tabs = [Tab(), Tab(), Tab()]
    for tab in tabs:
        await realtime.join("cat.1.1", tab)
    assert len(members("cat.1.1")) == 1
    await realtime.leave("cat.1.1", tabs[0])
    await realtime.leave("cat.1.1", tabs[1])
    assert len(members("cat.1.1")) == 1  # one tab is still open here
    await realtime.send_to_group("cat.1.1", {"type": "x"})
    assert await tabs[2].next() == {"type": "x"}
    assert await tabs[0].nothing() and await tabs[1].nothing()
    await realtime.leave("cat.1.1", tabs[2])
    assert members("cat.1.1") == set()
    hub = await realtime._hub()
    assert hub.groups == {}  # nothing kept for a group without tabs


async def test_leaving_twice_or_without_joining_is_harmless() -> None:
    tab = Tab()
    await realtime.leave("cat.1.1", tab)
    await realtime.join("cat.1.1", tab)
    await realtime.leave("cat.1.1", tab)
    await realtime.leave("cat.1.1", tab)
    assert members("cat.1.1") == set()


async def test_a_tab_opened_while_the_last_one_leaves_keeps_the_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    layer: Any = get_channel_layer()
    discard = layer.group_discard

    async def slow_discard(group: str, channel: str) -> None:
        await asyncio.sleep(0.05)  # the join below would overtake it, were joins not ordered
        await discard(group, channel)

    monkeypatch.setattr(layer, "group_discard", slow_discard)
    closing, opening = Tab(), Tab()
    await realtime.join("cat.1.1", closing)
    await asyncio.gather(realtime.leave("cat.1.1", closing), realtime.join("cat.1.1", opening))
    assert len(members("cat.1.1")) == 1
    await realtime.send_to_group("cat.1.1", {"type": "x"})
    assert await opening.next() == {"type": "x"}


async def test_a_failing_tab_does_not_keep_frames_from_the_others() -> None:
    async def broken(message: dict[str, Any]) -> None:
        raise RuntimeError("gone")

    tab = Tab()
    await realtime.join("cat.1.1", broken)
    await realtime.join("cat.1.1", tab)
    await realtime.send_to_group("cat.1.1", {"type": "x", "n": 1})
    await realtime.send_to_group("cat.1.1", {"type": "x", "n": 2})
    assert [await tab.next(), await tab.next()] == [{"type": "x", "n": 1}, {"type": "x", "n": 2}]


async def test_a_burst_of_joins_stays_within_the_membership_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    layer: Any = get_channel_layer()
    add = layer.group_add
    in_flight = peak = 0

    async def counting_add(group: str, channel: str) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001)
        await add(group, channel)
        in_flight -= 1

    monkeypatch.setattr(layer, "group_add", counting_add)
    tabs = [Tab() for _ in range(3 * realtime.MEMBERSHIP_CONCURRENCY)]
    await asyncio.gather(*(realtime.join(f"cat.{i}.{i}", tab) for i, tab in enumerate(tabs)))
    assert peak == realtime.MEMBERSHIP_CONCURRENCY
    await realtime.send_to_group("cat.7.7", {"type": "x"})
    assert await tabs[7].next() == {"type": "x"}
