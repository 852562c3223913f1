"""Jupyter for tests and benchmarks: a notebook's own JupyterLab started straight from its spec,
outside any backend (the benchmark's baseline; a notebook's pod, played), and code run in a kernel
over its WebSocket."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import uuid
from decimal import Decimal
from pathlib import Path


def start_jupyterlab(*, project: str, name: str, secret: str, port: int, home: Path) -> subprocess.Popen:
    """JupyterLab as the local backend would run it (launcher, base URL, token digest), listening on
    127.0.0.1:`port` with `home` as its home; the caller stops it."""
    from mlplatform.compute.envexpand import expand
    from notebooks_app.specs import notebook_spec

    group = notebook_spec(
        project=project,
        name=name,
        image="",
        flavor="cpu",
        gpus=0,
        cpu=Decimal(1),
        memory_gib=Decimal(1),
        home_size_gib=1,
        env={},
        token_sha256=hashlib.sha256(secret.encode()).hexdigest(),
        user="jovyan",
    ).groups[0]
    env = {**os.environ, **group.env, "HOME": str(home)}
    env |= {"MLPLATFORM_PORT": str(port), "MLPLATFORM_VOLUME_HOME": str(home)}
    argv = [expand(arg, env) for arg in (*group.local.command, *group.local.args)]
    return subprocess.Popen(argv, env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def execute(url: str, headers: dict, code: str, *, seen: list[str] | None = None) -> str:
    """Run `code` in the kernel whose channels WebSocket is `url`; its result's text/plain. A cell
    that fails raises with Jupyter's error; `seen` collects every raw message on the way."""
    from websockets.sync.client import connect

    msg_id = uuid.uuid4().hex
    request = {
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": msg_id, "version": "5.3"},
        "parent_header": {},
        "metadata": {},
        "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
        "buffers": [],
    }
    with connect(url, additional_headers=headers, open_timeout=30) as ws:
        ws.send(json.dumps(request))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            raw = ws.recv(timeout=60)
            if seen is not None:
                seen.append(raw)
            message = json.loads(raw)
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "execute_result":
                return message["content"]["data"]["text/plain"]
            if message["msg_type"] == "error":
                raise AssertionError(message["content"])
    raise AssertionError(f"no result for {code!r}")
