"""What a notebook's Jupyter says of its latest activity (`/api/status`, its kernels and terminals),
asked the way the console reaches it (selectors.notebook_jupyter) without counting as activity."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import requests

from notebooks_app.selectors import Jupyter

logger = logging.getLogger(__name__)

TIMEOUT = (2, 5)  # seconds to connect and to read: one slow notebook must not hold up a culling pass
NOT_TRACKED = {"no_track_activity": "1"}  # these requests are not a user's activity


def last_activity(jupyter: Jupyter, base_path: str, *, now: datetime) -> datetime | None:
    """The latest of Jupyter's own activity, its kernels' and its terminals' (a busy kernel is active
    `now`), from the Jupyter served under `base_path`; None when it does not answer."""
    api = f"{jupyter.upstream.url}{base_path}api/"
    try:
        with requests.Session() as http:
            http.headers.update(jupyter.headers)
            verify, ca_file, cert_file, key_file = jupyter.upstream.tls
            http.verify = ca_file or verify
            http.cert = (cert_file, key_file) if cert_file else None
            status = http.get(f"{api}status", timeout=TIMEOUT)
            status.raise_for_status()
            kernels = http.get(f"{api}kernels", params=NOT_TRACKED, timeout=TIMEOUT)
            kernels.raise_for_status()
            terminals = http.get(f"{api}terminals", params=NOT_TRACKED, timeout=TIMEOUT)
            times = [_parsed(status.json()["last_activity"])]
            for kernel in kernels.json():
                busy = kernel.get("execution_state") == "busy"
                times.append(now if busy else _parsed(kernel["last_activity"]))
            if terminals.ok:  # 404 where terminals are turned off
                times += [_parsed(terminal["last_activity"]) for terminal in terminals.json()]
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        logger.info("%s does not answer (%s)", api, exc)
        return None
    return max(times)


def _parsed(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
