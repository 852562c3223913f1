"""Each framework's loader, served by the real server: its predictions are the model's own."""

from __future__ import annotations

import importlib.util
import pickle

import joblib
import numpy as np
import pytest
import xgboost
from sklearn.ensemble import RandomForestClassifier

from tests.prediction.servers import exit_of, sdist, wheel

HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None


def test_scikit_learn_joblib_answers_predict(predictor, sklearn_model, rows):
    folder, model = sklearn_model
    served = predictor(folder)
    features = rows[0][:20]
    assert served.predict(features.tolist()) == model.predict(features).tolist()


def test_scikit_learn_pickle_with_string_classes(predictor, tmp_path, rows):
    features, y = rows
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(features, np.where(y, "yes", "no"))
    folder = tmp_path / "forest"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(pickle.dumps(model))
    served = predictor(folder, MLPLATFORM_FRAMEWORK="SCIKIT_LEARN")
    assert served.predict(features[:10].tolist()) == model.predict(features[:10]).tolist()


@pytest.mark.parametrize("name", ["model.bst", "model.json", "model.ubj"])
@pytest.mark.filterwarnings("ignore:.*Saving model in the UBJSON format:UserWarning")
def test_xgboost_booster_predicts_on_a_dmatrix(predictor, tmp_path, rows, name):
    features, y = rows
    booster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 3}, xgboost.DMatrix(features, label=y), 5
    )
    folder = tmp_path / "xgb"
    folder.mkdir()
    booster.save_model(folder / name)
    served = predictor(folder)
    expected = booster.predict(xgboost.DMatrix(features[:20]))
    assert np.array_equal(np.asarray(served.predict(features[:20].tolist()), dtype=np.float32), expected)


def test_an_xgbclassifier_saved_with_joblib_is_scikit_learn(predictor, tmp_path, rows):
    features, y = rows
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=3).fit(features, y)
    folder = tmp_path / "xgb-sklearn"
    folder.mkdir()
    joblib.dump(model, folder / "model.joblib")
    served = predictor(folder, MLPLATFORM_FRAMEWORK="XGBOOST")
    assert served.predict(features[:20].tolist()) == model.predict(features[:20]).tolist()


def test_a_booster_saved_with_joblib_is_served_as_xgboost(predictor, tmp_path, rows):
    features, y = rows
    booster = xgboost.train({"objective": "reg:squarederror"}, xgboost.DMatrix(features, label=y), 3)
    folder = tmp_path / "xgb-joblib"
    folder.mkdir()
    joblib.dump(booster, folder / "model.joblib")
    served = predictor(folder)
    expected = booster.predict(xgboost.DMatrix(features[:5]))
    assert np.array_equal(np.asarray(served.predict(features[:5].tolist()), dtype=np.float32), expected)


@pytest.mark.parametrize("build", [wheel, sdist], ids=["wheel", "sdist"])
def test_custom_routine_gets_the_other_fields_as_keywords(predictor, tmp_path, routine_folder, build):
    package = build(tmp_path / "dist")
    served = predictor(
        routine_folder,
        MLPLATFORM_PREDICTION_CLASS="routine.predictor.Scaler",
        MLPLATFORM_PACKAGE_URIS=str(package),
    )
    assert served.predict([1, 2]) == [[3, 2, []], [6, 2, []]]
    assert served.predict([1], scale=10, signature_name="x") == [[30, 1, ["scale", "signature_name"]]]


def test_the_routine_is_installed_beside_the_server_not_into_it(routine_predictor):
    served = routine_predictor()
    assert served.predict([1]) == [[3, 1, []]]
    assert importlib.util.find_spec("routine") is None  # this test's Python, the server's environment


@pytest.mark.skipif(HAS_TENSORFLOW, reason="TensorFlow is installed here: the SavedModel test runs instead")
def test_a_saved_model_without_tensorflow_is_a_bad_model(predictor, tmp_path):
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"\x08\x01")
    code, last = exit_of(predictor(folder, wait=False))
    assert code == 3
    assert last.startswith(
        "Bad model detected with error: the model is a TensorFlow SavedModel, and TensorFlow"
    )


@pytest.mark.skipif(not HAS_TENSORFLOW, reason="TensorFlow is not installed (it is not in requirements.lock)")
def test_a_saved_model_answers_its_serving_signature(predictor, tmp_path):
    import tensorflow as tf  # only where it is installed

    class Doubler(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def serve(self, x):
            return {"y": x * 2.0}

    module = Doubler()
    folder = tmp_path / "saved"
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    served = predictor(folder)
    assert served.predict([[1, 2], [3, 4.5]]) == [[2, 4], [6, 9]]
    assert served.predict([{"x": [1, 1]}]) == [[2, 2]]


@pytest.mark.skipif(not HAS_TENSORFLOW, reason="TensorFlow is not installed (it is not in requirements.lock)")
def test_a_saved_model_gets_b64_values_as_bytes(predictor, tmp_path):
    import tensorflow as tf  # only where it is installed

    class Measure(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
        def serve(self, image_bytes):
            return {"length": tf.strings.length(image_bytes)}

    module = Measure()
    folder = tmp_path / "saved"
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    served = predictor(folder)
    assert served.predict([{"b64": "AAEC"}, {"b64": "/w=="}]) == [3, 1]


def test_b64_values_anywhere_in_an_instance_become_bytes_and_bad_ones_are_refused():
    """AI Platform's encoding of binary inputs (for TensorFlow models; the SavedModel test above
    runs it through a real model where TensorFlow is installed)."""
    from prediction_app.serving.models import PredictionError, decode_b64

    instances = [{"image": {"b64": "AAEC"}, "key": 1}, [{"b64": "/w=="}, 2.5]]

    assert decode_b64(instances) == [{"image": b"\x00\x01\x02", "key": 1}, [b"\xff", 2.5]]
    assert decode_b64([{"b64": "x", "other": 1}]) == [{"b64": "x", "other": 1}]  # not a b64 value
    for bad in ({"b64": "not base64!"}, {"b64": 7}):
        with pytest.raises(PredictionError, match="b64"):
            decode_b64([bad])
