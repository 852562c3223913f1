"""The predictor server: one model version behind AI Platform's online prediction protocol.

It runs inside a workload (a local process or a pod of the predictor image), never with Django:

    python -m prediction_app.serving

configured by the environment Vertex AI gives custom containers, plus the platform's own names:

    AIP_HTTP_PORT (8080)  MLPLATFORM_HOST (0.0.0.0)  AIP_PREDICT_ROUTE (/predict)
    AIP_HEALTH_ROUTE (/health)  AIP_STORAGE_URI (gs://, s3:// or an absolute folder)
    AIP_MODEL_NAME  AIP_VERSION_NAME  AIP_MODE
    MLPLATFORM_FRAMEWORK (SCIKIT_LEARN, XGBOOST, TENSORFLOW; empty: read from the files)
    MLPLATFORM_PREDICTION_CLASS (module.Class)  MLPLATFORM_PACKAGE_URIS (space-separated)
    MLPLATFORM_MAX_BATCH_SIZE (0: no batching)  MLPLATFORM_MAX_BATCH_TIME_MS

`POST {predict route}` with `{"instances": [...]}` answers `{"predictions": [...]}`, or 400
`{"error": "Prediction failed: <reason>"}`; `GET {health route}` answers 503 while the model loads
and 200 once it has. A model that cannot be loaded ends the server with the last line
`Bad model detected with error: <reason>` on stderr and exit code 3.
"""
