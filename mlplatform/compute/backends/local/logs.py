"""A local replica's log: its output.log (a line marks each attempt), read from the end or followed."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

from mlplatform.compute.backends.local.launcher import OUTPUT_FILE
from mlplatform.compute.backends.local.processes import POLL_SECONDS, replica_ended

TAIL_BLOCK = 64 * 1024


def replica_log(replica_dir: Path, tail: int | None, *, follow: bool) -> Iterator[str]:
    """The last `tail` lines (all where None); with `follow`, new lines as they come until the
    replica ends. Nothing for a replica never started."""
    path = replica_dir / OUTPUT_FILE
    lines, offset = last_lines(path, tail, partial_last=not follow)
    yield from lines
    partial = b""
    while follow:
        ended = replica_ended(replica_dir)  # before reading, so the last read gets all
        chunk = _read_from(path, offset)
        offset += len(chunk)
        *complete, partial = (partial + chunk).split(b"\n")
        yield from (_decode(line) for line in complete)
        if ended:
            break
        time.sleep(POLL_SECONDS)
    if partial:
        yield _decode(partial)


def last_lines(path: Path, count: int | None, *, partial_last: bool) -> tuple[list[str], int]:
    """The last `count` lines (all where None) and the offset just after them. A last line without
    its newline yet counts only with `partial_last` (follow leaves it to finish)."""
    try:
        with open(path, "rb") as log:
            size = log.seek(0, os.SEEK_END)
            start, data = size, b""
            while start > 0 and (count is None or data.count(b"\n") <= count):
                start = 0 if count is None else max(start - TAIL_BLOCK, 0)
                log.seek(start)
                data = log.read(size - start)
    except FileNotFoundError:
        return [], 0
    end = len(data) if partial_last else data.rfind(b"\n") + 1
    lines = data[:end].split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if start > 0:
        lines = lines[1:]  # the first may be cut
    if count is not None:
        lines = lines[-count:] if count else []
    return [_decode(line) for line in lines], start + end


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            return log.read()
    except FileNotFoundError:
        return b""


def _decode(line: bytes) -> str:
    return line.decode("utf-8", errors="replace").rstrip("\r")
