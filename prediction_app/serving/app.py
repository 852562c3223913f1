"""The ASGI application: the predict and health routes of one model, loaded in the background."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from prediction_app.serving.batching import Batcher
from prediction_app.serving.models import Model, load_model, reason
from prediction_app.serving.settings import Settings
from prediction_app.serving.storage import install_packages, model_folder

log = logging.getLogger("uvicorn.error")  # uvicorn's configured logger: one format in the log
JSON_HEADERS = [(b"content-type", b"application/json")]
PREDICT_THREADS = min(4, os.cpu_count() or 1)
# A predict call this short runs on the event loop: handing it to a thread would cost more than the
# loop waits (a one-row scikit-learn call: ~0.2 ms of work, ~0.3 ms of hand-off). Longer ones run in
# threads, so that health checks and other requests go on meanwhile.
INLINE_SECONDS = 0.001


class PredictorApp:
    """Answers `POST predict_route` and `GET health_route`; `on_fatal` is called once when the
    model cannot be loaded (`failure` says why), so that the server stops."""

    def __init__(self, settings: Settings, *, on_fatal: Callable[[], None] = lambda: None):
        self.settings = settings
        self.on_fatal = on_fatal
        self.model: Model | None = None
        self.failure = ""
        self.batcher: Batcher | None = None
        self._timings = Timings()
        self._threads = ThreadPoolExecutor(PREDICT_THREADS, thread_name_prefix="predict")
        self._work = tempfile.TemporaryDirectory(prefix="mlplatform-predictor-")
        self._loading: asyncio.Task | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope, receive, send) -> None:
        path, method = scope["path"], scope["method"]
        if path == self.settings.predict_route:
            if method != "POST":
                return await _answer(send, 405, {"error": f"{path} takes POST"})
            body = await _body(receive)
            if self.model is None:
                return await _answer(send, 503, {"error": "the model is not loaded yet"})
            status, answer = await self.predict(body)
            return await _send(send, status, answer)
        if path == self.settings.health_route:
            state = "READY" if self.model is not None else "FAILED" if self.failure else "LOADING"
            return await _answer(send, 200 if state == "READY" else 503, self._health(state))
        await _answer(send, 404, {"error": f"no route {path}"})

    def _health(self, state: str) -> dict:
        health = {"state": state, "model": self.settings.model_name, "version": self.settings.version_name}
        return {**health, "error": self.failure} if self.failure else health

    async def predict(self, body: bytes) -> tuple[int, bytes]:
        """The status and JSON body answering one predict request's body."""
        model = self.model
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return _failed(f"the request body is not JSON: {exc}")
        if not isinstance(request, dict) or not isinstance(request.get("instances"), list):
            return _failed('the request body must be a JSON object with an "instances" list')
        try:
            inputs = model.inputs(request["instances"])
            keywords = model.keywords(request)
            rows = len(request["instances"])
            call = partial(model.predict, inputs, **keywords)
            if self.batcher is not None and not keywords:
                predictions = await self.batcher.predict(inputs, rows)
            elif self._timings.quick(rows):
                predictions = self._timings.timed(rows, call)
            else:
                predictions = await self._run(self._timings.timed, rows, call)
        except Exception as exc:  # PredictionError, or the model's own: the request's 400 either way
            return _failed(reason(exc))
        try:
            return 200, orjson.dumps(
                {"predictions": predictions}, default=_plain, option=orjson.OPT_SERIALIZE_NUMPY
            )
        except TypeError as exc:
            return _failed(f"the model's predictions are not JSON: {exc}")

    async def _run(self, function: Callable, *args) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._threads, function, *args)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._loading = asyncio.ensure_future(self._load())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._loading is not None:
                    self._loading.cancel()
                if self.batcher is not None:
                    await self.batcher.close()
                self._threads.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _load(self) -> None:
        started = time.monotonic()
        try:
            model = await self._run(self._load_model)
        except Exception as exc:  # ModelError, or a loader's bug: either way the model is bad
            self.failure = reason(exc)
            self.on_fatal()
            return
        if self.settings.max_batch_size > 0:
            self.batcher = Batcher(
                model.predict,
                max_batch_size=self.settings.max_batch_size,
                max_batch_time=self.settings.max_batch_time_ms / 1000,
                run=self._run,
            )
        self.model = model
        log.info(
            "Loaded %s (%s) from %s in %.1f s",
            self.settings.model_name or "the model",
            type(model).__name__,
            self.settings.storage_uri,
            time.monotonic() - started,
        )

    def _load_model(self) -> Model:
        work = Path(self._work.name)
        folder = model_folder(self.settings.storage_uri, work)
        install_packages(self.settings.package_uris, work)
        return load_model(
            folder, framework=self.settings.framework, prediction_class=self.settings.prediction_class
        )


class Timings:
    """How long the model's predict calls took lately, by request size (instances, in powers of
    two): a size whose calls were quick runs on the event loop; one not seen yet, in a thread."""

    def __init__(self) -> None:
        self._seconds: dict[int, float] = {}

    def quick(self, rows: int) -> bool:
        seconds = self._seconds.get(rows.bit_length())
        return seconds is not None and seconds < INLINE_SECONDS

    def timed(self, rows: int, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return call()
        finally:
            seconds, key = time.perf_counter() - started, rows.bit_length()
            known = self._seconds.get(key)
            self._seconds[key] = seconds if known is None else 0.8 * known + 0.2 * seconds


async def _body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send, status: int, answer: dict) -> None:
    await _send(send, status, orjson.dumps(answer))


async def _send(send, status: int, body: bytes) -> None:
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _failed(why: str) -> tuple[int, bytes]:
    return 400, orjson.dumps({"error": f"Prediction failed: {why}"})


def _plain(value: Any) -> Any:
    """What orjson cannot write itself: arrays of other kinds, numpy scalars, bytes."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}  # AI Platform's form for binary values
    raise TypeError(f"{type(value).__name__} is not JSON")
