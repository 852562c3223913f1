"""Adaptive batching: concurrent requests stacked into one `predict` call, the answers sliced back.

A batch closes at `max_batch_size` instances or `max_batch_time` seconds after its first request,
whichever comes first; a request is never split, and one larger than the limit goes alone. One
request's bad instances never fail another's (MLServer's issue #1306): inputs that cannot be stacked
(other shapes or kinds of values), a stacked call that raises, or an answer of the wrong length, and
each request of the batch is predicted on its own, so each gets its own answer or its own error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Predict = Callable[[Any], Any]
NUMERIC = "biuf"  # numpy's kinds of numbers: stacked together, as one request's mixed rows would be


@dataclass
class Call:
    inputs: Any
    size: int
    future: asyncio.Future


class Batcher:
    """Stacks concurrent `predict(inputs, size)` calls; `run(function, *args)` runs the stacked call
    away from the event loop (the server's predicting threads)."""

    def __init__(
        self,
        predict: Predict,
        *,
        max_batch_size: int,
        max_batch_time: float,
        run: Callable[..., Awaitable[Any]],
    ):
        self._predict = predict
        self.max_batch_size = max_batch_size
        self.max_batch_time = max_batch_time
        self._run = run
        self._queue: asyncio.Queue[Call] = asyncio.Queue()
        self._collector: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()  # the event loop keeps only weak references

    async def predict(self, inputs: Any, size: int) -> Any:
        """The predictions of one request's inputs (`size` instances), predicted in a batch."""
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(Call(inputs, size, future))
        if self._collector is None:
            self._collector = asyncio.ensure_future(self._collect())
        return await future

    async def close(self) -> None:
        if self._collector is not None:
            self._collector.cancel()

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        carried: Call | None = None
        while True:
            first = carried or await self._queue.get()
            carried = None
            batch, size = [first], first.size
            deadline = loop.time() + self.max_batch_time
            while size < self.max_batch_size:
                call = await self._next(deadline - loop.time())
                if call is None:
                    break
                if size + call.size > self.max_batch_size:
                    carried = call  # it opens the next batch
                    break
                batch.append(call)
                size += call.size
            task = asyncio.ensure_future(self._answer(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _next(self, timeout: float) -> Call | None:
        if not self._queue.empty():
            return self._queue.get_nowait()
        if timeout <= 0:
            return None
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def _answer(self, batch: list[Call]) -> None:
        try:
            answers = await self._run(predict_batch, self._predict, [call.inputs for call in batch])
        except Exception as exc:  # the threads themselves failed: every request of the batch says so
            answers = [exc] * len(batch)
        for call, answer in zip(batch, answers, strict=True):
            if call.future.done():
                continue  # its client went away
            if isinstance(answer, Exception):
                call.future.set_exception(answer)
            else:
                call.future.set_result(answer)


def predict_batch(predict: Predict, inputs: list[Any]) -> list[Any]:
    """Each request's predictions (or the exception its own inputs raise), from one stacked call
    where the inputs stack and the call answers one prediction per instance."""
    stacked = stack(inputs) if len(inputs) > 1 else None
    if stacked is not None:
        try:
            predictions = predict(stacked)
            sizes = [len(one) for one in inputs]
            if len(predictions) == sum(sizes):
                return split(predictions, sizes)
        except Exception:  # one request's instances failed them all: each alone says whose
            pass
    return [_predict_one(predict, one) for one in inputs]


def stack(inputs: list[Any]) -> Any:
    """The inputs as one (arrays of one row shape and kind of value, or lists); None when they
    do not stack."""
    if all(isinstance(one, np.ndarray) and one.ndim >= 1 for one in inputs):
        first = inputs[0]
        numeric = first.dtype.kind in NUMERIC
        same = all(
            one.shape[1:] == first.shape[1:]
            and (one.dtype.kind in NUMERIC if numeric else one.dtype.kind == first.dtype.kind)
            for one in inputs
        )
        return np.concatenate(inputs) if same else None
    if all(isinstance(one, list) for one in inputs):
        return [instance for one in inputs for instance in one]
    return None


def split(predictions: Any, sizes: list[int]) -> list[Any]:
    answers, start = [], 0
    for size in sizes:
        answers.append(predictions[start : start + size])
        start += size
    return answers


def _predict_one(predict: Predict, inputs: Any) -> Any:
    try:
        return predict(inputs)
    except Exception as exc:  # the model's own error: this request's 400
        return exc
