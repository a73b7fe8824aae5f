"""What the asyncio clients' opening calls (`open_session`, `AsyncCrucible.start`) return.

A coroutine function's result can be awaited but not entered: `async with open_session()`
on one is a TypeError, and users had to write `async with await open_session()`. An
Opening is both, so either form works.
"""

import collections.abc
import functools

__all__ = ["Opening", "opening"]


class Opening(collections.abc.Coroutine):
    """`await` it for the opened object, or `async with` it to have that object closed at the
    end too. Still a Coroutine (send, throw and close go to the wrapped one), so code that
    passed the old coroutine to asyncio.create_task, gather or wait_for keeps working."""

    __slots__ = ("_coroutine", "_opened")

    def __init__(self, coroutine):
        self._coroutine = coroutine
        self._opened = None

    def send(self, value):
        return self._coroutine.send(value)

    def throw(self, *args):
        return self._coroutine.throw(*args)

    def close(self):
        return self._coroutine.close()

    def __await__(self):
        return self._coroutine.__await__()

    async def __aenter__(self):
        self._opened = await self._coroutine
        return await self._opened.__aenter__()

    async def __aexit__(self, *exc):
        return await self._opened.__aexit__(*exc)


def opening(method):
    """Decorator for an `async def` that opens something with __aenter__/__aexit__: calls
    return an Opening instead of a bare coroutine."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        return Opening(method(*args, **kwargs))

    return wrapper
