"""The front doors' route cache (compute.forwarding.routes): under load an expiring route costs one
look-up, not one per waiting request, and forgetting a route means no older answer comes back."""

from __future__ import annotations

import asyncio

from mlplatform.compute.forwarding import RouteCache


class LookUps:
    """A look-up that takes a while and counts its calls (the database, in the front doors)."""

    def __init__(self, answer="route", delay: float = 0.05) -> None:
        self.calls, self.answer, self.delay = 0, answer, delay

    async def __call__(self):
        self.calls += 1
        await asyncio.sleep(self.delay)
        return f"{self.answer}-{self.calls}"


def test_callers_of_an_expired_route_share_one_look_up():
    async def scenario():
        cache, look_up = RouteCache(ttl=5), LookUps()
        answers = await asyncio.gather(*(cache.get("k", look_up) for _ in range(32)))
        return answers, look_up.calls

    answers, calls = asyncio.run(scenario())

    assert calls == 1
    assert set(answers) == {"route-1"}


def test_a_route_in_use_is_renewed_before_it_expires_without_making_a_caller_wait():
    async def scenario():
        cache, look_up = RouteCache(ttl=0.4, ahead=0.3), LookUps(delay=0.01)
        first = await cache.get("k", look_up)
        await asyncio.sleep(0.2)  # inside the last `ahead` seconds: answered from the cache, renewed behind
        second = await cache.get("k", look_up)
        await asyncio.sleep(0.05)
        third = await cache.get("k", look_up)
        return first, second, third, look_up.calls

    first, second, third, calls = asyncio.run(scenario())

    assert (first, second, third) == ("route-1", "route-1", "route-2")
    assert calls == 2


def test_answers_the_front_door_does_not_keep_are_looked_up_again():
    async def scenario():
        cache, look_up = RouteCache(ttl=5), LookUps(delay=0)
        answers = [await cache.get("k", look_up, keep=lambda route: False) for _ in range(3)]
        return answers

    assert asyncio.run(scenario()) == ["route-1", "route-2", "route-3"]


def test_a_look_up_begun_before_forget_is_answered_but_not_kept():
    async def scenario():
        cache, look_up = RouteCache(ttl=5), LookUps(delay=0.05)
        pending = asyncio.ensure_future(cache.get(("team-a", "lab"), look_up))
        await asyncio.sleep(0.01)
        cache.forget(lambda key: key == ("team-a", "lab"))  # e.g. the notebook stopped meanwhile
        stale = await pending
        fresh = await cache.get(("team-a", "lab"), look_up)
        return stale, fresh

    assert asyncio.run(scenario()) == ("route-1", "route-2")


def test_a_cache_used_from_a_second_event_loop_looks_up_afresh():
    """WSGI requests (and tests) run the gateway in an event loop of their own per call."""
    cache, look_up = RouteCache(ttl=5), LookUps(delay=0.01)

    async def abandoned():
        started = asyncio.ensure_future(cache.get("k", look_up))
        await asyncio.sleep(0)  # the loop ends with the look-up still registered
        started.cancel()

    asyncio.run(abandoned())

    assert asyncio.run(cache.get("k", look_up)) == "route-2"
