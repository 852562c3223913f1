"""The web server's access log, less the traffic a front door forwarded successfully.

JupyterLab polls its server every few seconds per open tab, and a model serves thousands of
predictions a second: uvicorn's line for each would bury the console's own requests (and cost the
forwarding path a tenth of its CPU). What a front door forwarded and the workload answered below
400 is left out; refusals and errors stay. The workloads keep logs of their own (Jupyter's, and
the prediction gateway's per model when its onlinePredictionLogging is on, as AI Platform's).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import unquote


class QuietWhenForwarded(logging.Filter):
    def __init__(self, forwarded: Callable[[str], bool]) -> None:
        super().__init__()
        self.forwarded = forwarded

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) != 5:  # uvicorn's: client, method, path, version, status
            return True
        # uvicorn writes the path quoted (`:predict` as `%3Apredict`), the query string after it
        path = unquote(str(args[2]).partition("?")[0])
        return not (isinstance(args[4], int) and args[4] < 400 and self.forwarded(path))
