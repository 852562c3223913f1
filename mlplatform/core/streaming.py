"""Streamed responses that stay streamed under both servers.

Django consumes a synchronous iterator whole before an ASGI server sends any of it (and an
asynchronous one whole under WSGI). Downloads and followed logs must not be buffered, so the
console hands Django the kind of iterator its server streams: under ASGI (the console runs on
uvicorn) each chunk is read in a worker thread as the client takes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from asgiref.sync import sync_to_async
from django.http import HttpRequest, StreamingHttpResponse

_END = object()


def streaming_response(request: HttpRequest, chunks: Iterable, **kwargs) -> StreamingHttpResponse:
    if hasattr(request, "scope"):  # an ASGIRequest
        return StreamingHttpResponse(_one_by_one(chunks), **kwargs)
    return StreamingHttpResponse(chunks, **kwargs)


async def _one_by_one(chunks: Iterable) -> AsyncIterator:
    iterator = iter(chunks)
    step = sync_to_async(next, thread_sensitive=False)
    try:
        while (chunk := await step(iterator, _END)) is not _END:
            yield chunk
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=False)()
