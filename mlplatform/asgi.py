"""ASGI entry point: `uvicorn mlplatform.asgi:application`.

`/notebooks/{project}/{name}/...` (HTTP and WebSocket) goes to the notebooks' authenticating proxy,
`/v1/projects/{p}/models/{m}[/versions/{v}]:predict` to the prediction gateway; everything else to Django.
"""

import logging
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlplatform.settings")

django_application = get_asgi_application()

from django.conf import settings  # noqa: E402

from mlplatform.compute.forwarding.access_log import QuietWhenForwarded  # noqa: E402
from mlplatform.core.access_log import RedactCredentials  # noqa: E402
from notebooks_app.proxy import PREFIX, NotebookProxy, is_proxied_path  # noqa: E402 - needs Django set up
from prediction_app.gateway import is_predict_path, predict_gateway  # noqa: E402

notebook_proxy = NotebookProxy()
quiet_access_log = QuietWhenForwarded(lambda path: is_proxied_path(path) or is_predict_path(path))
logging.getLogger("uvicorn.access").addFilter(RedactCredentials())
if settings.LOG_LEVEL.upper() != "DEBUG":
    logging.getLogger("uvicorn.access").addFilter(quiet_access_log)


async def application(scope, receive, send):
    if scope["type"] in ("http", "websocket") and scope["path"].startswith(PREFIX):
        return await notebook_proxy(scope, receive, send)
    if scope["type"] == "http" and is_predict_path(scope["path"]):
        return await predict_gateway(scope, receive, send)
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    if scope["type"] == "websocket":  # Django speaks HTTP only
        await receive()
        return await send({"type": "websocket.close", "code": 1008})
    return await django_application(scope, receive, send)


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await notebook_proxy.close()
            await predict_gateway.close()
            return await send({"type": "lifespan.shutdown.complete"})
