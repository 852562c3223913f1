"""Starts JupyterLab so that only the console's proxy gets in. Runs inside the notebook, without Django.

The spec passes this file's text to `python -c`, with JupyterLab's options as arguments, so the
notebook image needs nothing of ours. Jupyter learns only the SHA-256 of the proxy's token
(MLPLATFORM_NOTEBOOK_TOKEN_SHA256): the token itself is in no environment, manifest or page, and
JupyterLab's pages, which embed the server's own token, have none to show.
"""

import sys

# `python -c` puts the working directory (the user's home) first on sys.path: a `selectors.py`
# of the user's would shadow the standard library's in the server.
sys.path[:] = [entry for entry in sys.path if entry not in ("", ".")]

import atexit  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

from jupyter_server.auth.identity import IdentityProvider, User  # noqa: E402
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection  # noqa: E402
from traitlets import default  # noqa: E402

TOKEN_SHA256_ENV = "MLPLATFORM_NOTEBOOK_TOKEN_SHA256"
# Where the proxy puts the token when `Authorization` is taken: the Kubernetes API server's service
# proxy authenticates the console with that header and removes it (specs.TOKEN_HEADER).
TOKEN_HEADER = "X-MLPlatform-Notebook-Token"
ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"


class ProxyTokenIdentityProvider(IdentityProvider):
    """Accepts a request only with the proxy's token (`Authorization: token ...` or TOKEN_HEADER),
    checked against its digest; no login page, no login cookie: the proxy authenticates every
    request."""

    @default("token")
    def _token_default(self):
        return ""  # what pages would embed

    @property
    def login_available(self):
        return False

    @property
    def logout_available(self):
        return False

    def get_token(self, handler):
        return handler.request.headers.get(TOKEN_HEADER) or super().get_token(handler)

    async def get_user_token(self, handler):
        presented = (self.get_token(handler) or "").encode()
        expected = os.environ.get(TOKEN_SHA256_ENV, "")
        if presented and expected and hmac.compare_digest(hashlib.sha256(presented).hexdigest(), expected):
            name = os.environ.get("MLPLATFORM_NOTEBOOK_USER") or "jovyan"
            return User(username=name, name=name, display_name=name)
        return None

    def get_user_cookie(self, handler):
        return None

    def set_login_cookie(self, handler, user):
        pass


class NoDelayKernelConnection(ZMQChannelsWebsocketConnection):
    """Kernel messages leave at once. Tornado leaves Nagle's algorithm on for WebSockets: a reply
    written right after another small message waits for its ACK, which the client delays by some
    40 ms, so every execution took 40 ms longer than the kernel needed."""

    def connect(self):
        self.websocket_handler.set_nodelay(True)
        return super().connect()


def without_announcements() -> None:
    """JupyterLab's announcements plugin asks every new user about a news feed: the platform keeps
    the image up to date, so it is disabled, in page config of our own (JUPYTER_CONFIG_PATH adds
    to the image's configuration; `jupyter labextension disable` writes the same file)."""
    config_dir = tempfile.mkdtemp(prefix="mlplatform-jupyter-")
    atexit.register(shutil.rmtree, config_dir, True)
    os.makedirs(os.path.join(config_dir, "labconfig"))
    with open(os.path.join(config_dir, "labconfig", "page_config.json"), "w") as page_config:
        json.dump({"disabledExtensions": {ANNOUNCEMENTS: True}}, page_config)
    paths = [config_dir, *filter(None, os.environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep))]
    os.environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join(paths)


def main(argv: list[str]) -> int:
    if not os.environ.get(TOKEN_SHA256_ENV):
        sys.exit(f"{TOKEN_SHA256_ENV} is not set: refusing to start a server nobody could reach")
    without_announcements()
    from jupyterlab.labapp import LabApp

    LabApp.launch_instance(
        argv=[
            f"--ServerApp.identity_provider_class={__name__}.ProxyTokenIdentityProvider",
            f"--ServerApp.kernel_websocket_connection_class={__name__}.NoDelayKernelConnection",
            # No calls out for news or updates either.
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            *argv,
        ]
    )
    return 0


if __name__ == "__main__":
    main(sys.argv[1:])
