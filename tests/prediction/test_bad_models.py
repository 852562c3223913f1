"""A model that cannot be loaded ends the server: the last line says why, the exit code is 3."""

from __future__ import annotations

import pytest

from tests.prediction.servers import exit_of, wheel

BAD = "Bad model detected with error: "


def bad_model(predictor, storage_uri, **env) -> str:
    code, last = exit_of(predictor(storage_uri, wait=False, **env))
    assert code == 3, last
    assert last.startswith(BAD)
    return last[len(BAD) :]


def test_a_missing_folder(predictor, tmp_path):
    assert (
        bad_model(predictor, tmp_path / "nowhere")
        == f"the model folder {tmp_path / 'nowhere'} does not exist"
    )


def test_no_storage_uri(predictor):
    assert bad_model(predictor, "").startswith("AIP_STORAGE_URI is not set")


def test_a_folder_without_a_model_file(predictor, tmp_path):
    assert bad_model(predictor, tmp_path).startswith(
        "no model file in the model folder: expected one of model.joblib"
    )


def test_an_unknown_framework(predictor, sklearn_model):
    reason = bad_model(predictor, sklearn_model[0], MLPLATFORM_FRAMEWORK="PYTORCH")
    assert reason.startswith("unknown framework 'PYTORCH': one of SCIKIT_LEARN, XGBOOST, TENSORFLOW")


def test_the_wrong_framework_for_the_files(predictor, sklearn_model):
    reason = bad_model(predictor, sklearn_model[0], MLPLATFORM_FRAMEWORK="TENSORFLOW")
    assert reason == "no TensorFlow model file in the model folder: expected one of saved_model.pb"


@pytest.mark.parametrize(
    ("name", "reason"),
    [("model.joblib", "cannot load model.joblib: "), ("model.bst", "cannot load model.bst: ")],
)
def test_a_corrupt_file(predictor, tmp_path, name, reason):
    (tmp_path / name).write_bytes(b"not a model")
    assert bad_model(predictor, tmp_path).startswith(reason)


def test_a_pickle_without_predict(predictor, tmp_path):
    import joblib  # a model file that holds something else

    joblib.dump({"weights": [1, 2]}, tmp_path / "model.joblib")
    assert bad_model(predictor, tmp_path) == "model.joblib holds a dict, which has no predict method"


@pytest.mark.parametrize(
    ("prediction_class", "reason"),
    [
        (
            "routine.predictor.WithoutFromPath",
            "the prediction class routine.predictor.WithoutFromPath has no from_path",
        ),
        ("routine.predictor.Broken", "routine.predictor.Broken.from_path failed: the weights are missing"),
        ("routine.predictor.Missing", "the module routine.predictor has no class Missing"),
        ("elsewhere.Scaler", "cannot import elsewhere for the prediction class: No module named 'elsewhere'"),
        ("Scaler", "the prediction class 'Scaler' is not of the form module.Class"),
    ],
)
def test_a_routine_that_cannot_be_made(predictor, tmp_path, routine_folder, prediction_class, reason):
    package = wheel(tmp_path / "dist")
    found = bad_model(
        predictor,
        routine_folder,
        MLPLATFORM_PREDICTION_CLASS=prediction_class,
        MLPLATFORM_PACKAGE_URIS=str(package),
    )
    assert found.startswith(reason)


def test_a_package_that_is_not_there(predictor, tmp_path, routine_folder):
    (tmp_path / "demo").mkdir()  # the local bucket, without the package
    reason = bad_model(
        predictor,
        routine_folder,
        MLPLATFORM_PREDICTION_CLASS="routine.predictor.Scaler",
        MLPLATFORM_PACKAGE_URIS=f"gs://demo/routine-0.1.tar.gz {tmp_path}/missing.whl",
        MLPLATFORM_LOCAL_BUCKETS=str(tmp_path),
    )
    assert reason.startswith("package gs://demo/routine-0.1.tar.gz was not found in the local bucket")
