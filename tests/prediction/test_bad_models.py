"""A model that cannot be loaded ends the server: the last line says why, the exit code is 3."""

from __future__ import annotations

import pytest

from tests.prediction.servers import exit_of

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
def test_a_routine_that_cannot_be_made(routine_predictor, prediction_class, reason):
    code, last = exit_of(routine_predictor(wait=False, MLPLATFORM_PREDICTION_CLASS=prediction_class))
    assert (code, last[: len(BAD + reason)]) == (3, BAD + reason)


def test_a_package_that_is_not_there(routine_predictor, tmp_path):
    (tmp_path / "demo").mkdir()  # the local bucket, without the package
    uris = f"gs://demo/routine-0.1.tar.gz {tmp_path}/missing.whl"
    buckets = str(tmp_path)
    served = routine_predictor(wait=False, MLPLATFORM_PACKAGE_URIS=uris, MLPLATFORM_LOCAL_BUCKETS=buckets)
    code, last = exit_of(served)
    assert code == 3
    assert last == f"{BAD}package gs://demo/routine-0.1.tar.gz was not found"  # no server path
