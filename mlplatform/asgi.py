"""ASGI entry point: `uvicorn mlplatform.asgi:application`."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlplatform.settings")

application = get_asgi_application()
