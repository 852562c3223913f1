"""The model folder comes from AIP_STORAGE_URI through the storage wiring workloads get."""

from __future__ import annotations

from tests.stores import S3_KEY_ID, S3_SECRET, aws_client, gcs_client, unique_bucket


def test_a_folder_of_a_local_bucket(predictor, tmp_path, sklearn_model, rows):
    folder, model = sklearn_model
    bucket = tmp_path / "buckets" / "demo" / "models" / "census" / "v1"
    bucket.mkdir(parents=True)
    (bucket / "model.joblib").write_bytes((folder / "model.joblib").read_bytes())
    served = predictor("gs://demo/models/census/v1/", MLPLATFORM_LOCAL_BUCKETS=str(tmp_path / "buckets"))
    assert served.predict(rows[0][:5].tolist()) == model.predict(rows[0][:5]).tolist()


def test_a_folder_in_s3(predictor, s3_endpoint, s3_bucket_factory, sklearn_model, rows):
    folder, model = sklearn_model
    bucket = s3_bucket_factory(unique_bucket())
    client = aws_client(s3_endpoint)
    client.put_object(Bucket=bucket, Key="census/v1/", Body=b"")  # a console's folder marker
    client.upload_file(str(folder / "model.joblib"), bucket, "census/v1/model.joblib")
    client.put_object(Bucket=bucket, Key="census/v10/model.joblib", Body=b"another version")
    served = predictor(
        f"s3://{bucket}/census/v1",
        AWS_ENDPOINT_URL=s3_endpoint,
        AWS_ACCESS_KEY_ID=S3_KEY_ID,
        AWS_SECRET_ACCESS_KEY=S3_SECRET,
    )
    assert served.predict(rows[0][:5].tolist()) == model.predict(rows[0][:5]).tolist()


def test_a_folder_in_gcs_with_a_routine_package(predictor, gcs_endpoint, gcs_bucket_factory, tmp_path, rows):
    from tests.prediction.servers import wheel  # the routine's package, uploaded beside the model

    bucket = gcs_client(gcs_endpoint).bucket(gcs_bucket_factory(unique_bucket()))
    bucket.blob("census/v1/factor.json").upload_from_string('{"factor": 2}')
    bucket.blob("census/v1/nested/extra.txt").upload_from_string("kept")
    bucket.blob("packages/routine-0.1-py3-none-any.whl").upload_from_filename(str(wheel(tmp_path / "dist")))
    served = predictor(
        f"gs://{bucket.name}/census/v1",
        STORAGE_EMULATOR_HOST=gcs_endpoint,
        MLPLATFORM_PREDICTION_CLASS="routine.predictor.Scaler",
        MLPLATFORM_PACKAGE_URIS=f"gs://{bucket.name}/packages/routine-0.1-py3-none-any.whl",
    )
    assert served.predict([1, 2]) == [[2, 2, []], [4, 2, []]]


def test_a_missing_folder_in_s3_is_a_bad_model(predictor, s3_endpoint, s3_bucket_factory):
    from tests.prediction.servers import exit_of  # the server ends by itself

    bucket = s3_bucket_factory(unique_bucket())
    served = predictor(
        f"s3://{bucket}/nothing",
        wait=False,
        AWS_ENDPOINT_URL=s3_endpoint,
        AWS_ACCESS_KEY_ID=S3_KEY_ID,
        AWS_SECRET_ACCESS_KEY=S3_SECRET,
    )
    code, last = exit_of(served)
    assert (code, last) == (
        3,
        "Bad model detected with error: no model file in the model folder: expected one of "
        "model.joblib, model.pkl, model.bst, model.json, model.ubj, saved_model.pb",
    )
