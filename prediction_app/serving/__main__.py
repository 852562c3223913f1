"""`python -m prediction_app.serving`: the predictor server under uvicorn (see the package's doc)."""

from __future__ import annotations

import sys

import uvicorn

from prediction_app.serving.app import PredictorApp
from prediction_app.serving.settings import Settings, SettingsError

EXIT_USAGE = 2
EXIT_BAD_MODEL = 3  # the platform reads the last line of the log for the reason


def main() -> None:
    try:
        settings = Settings.from_environ()
    except SettingsError as exc:
        print(f"mlplatform predictor: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USAGE)
    app = PredictorApp(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        access_log=False,  # one line per prediction would cost more than the prediction
        timeout_graceful_shutdown=30,
    )
    server = uvicorn.Server(config)
    app.on_fatal = lambda: setattr(server, "should_exit", True)
    server.run()
    if app.failure:
        print(f"Bad model detected with error: {app.failure}", file=sys.stderr, flush=True)
        sys.exit(EXIT_BAD_MODEL)


if __name__ == "__main__":
    main()
