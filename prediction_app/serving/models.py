"""The loaders: a version's folder of files becomes a `Model` that predicts AI Platform's way.

Every model turns one request's instances into its input (`inputs`, which raises PredictionError
for instances it cannot take) and predicts on an input (`predict`); the batcher may stack the
inputs of several requests, so `predict` must answer one prediction per instance, in order.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np

from prediction_app.serving.storage import ModelError

SKLEARN_FILES = ("model.joblib", "model.pkl")
XGBOOST_FILES = ("model.bst", "model.json", "model.ubj")
TENSORFLOW_FILE = "saved_model.pb"
FRAMEWORKS = ("SCIKIT_LEARN", "XGBOOST", "TENSORFLOW")
DEFAULT_SIGNATURE = "serving_default"


class PredictionError(ValueError):
    """A request the model cannot answer: 400 with the reason."""


class Model:
    """What the server needs of a loaded model (the loaders below make one)."""

    def inputs(self, instances: list) -> Any:
        """The model's input for one request's instances; raises PredictionError."""
        return instances

    def keywords(self, body: dict) -> dict:
        """The request's other fields the model's `predict` takes as keyword arguments."""
        return {}

    def predict(self, inputs: Any, **keywords) -> Any:
        raise NotImplementedError


class EstimatorModel(Model):
    """A scikit-learn estimator or pipeline (an XGBClassifier saved with joblib is one): `predict`,
    as AI Platform's scikit-learn runtime answers (never predict_proba)."""

    def __init__(self, estimator):
        self.estimator = estimator

    def inputs(self, instances: list) -> np.ndarray:
        return _array(instances)

    def predict(self, inputs: np.ndarray, **keywords) -> Any:
        return self.estimator.predict(inputs)


class BoosterModel(Model):
    """An XGBoost Booster: `predict(DMatrix(instances))`."""

    def __init__(self, booster):
        import xgboost  # loaded only for XGBoost models: the other frameworks run without it

        self.booster = booster
        self.matrix = xgboost.DMatrix

    def inputs(self, instances: list) -> np.ndarray:
        rows = _array(instances, np.float32)
        if rows.ndim != 2:
            raise PredictionError(f"instances must be rows of numbers (a list of lists), not {rows.ndim}-d")
        return rows

    def predict(self, inputs: np.ndarray, **keywords) -> Any:
        return self.booster.predict(self.matrix(inputs))


class RoutineModel(Model):
    """A custom prediction routine: `predict(instances, **every other field of the request)`."""

    def __init__(self, routine):
        self.routine = routine

    def keywords(self, body: dict) -> dict:
        return {name: value for name, value in body.items() if name != "instances"}

    def predict(self, inputs: list, **keywords) -> Any:
        return self.routine.predict(inputs, **keywords)


class SavedModel(Model):
    """A TensorFlow SavedModel's signature (`signature_name`, else serving_default): instances are
    the values of its one input, or objects with one field per input."""

    def __init__(self, loaded, tensorflow):
        self.loaded = loaded
        self.tf = tensorflow

    def keywords(self, body: dict) -> dict:
        return {"signature_name": body["signature_name"]} if body.get("signature_name") else {}

    def inputs(self, instances: list) -> list:
        return decode_b64(instances)

    def predict(self, inputs: list, signature_name: str = DEFAULT_SIGNATURE, **keywords) -> Any:
        signature = self.loaded.signatures.get(signature_name)
        if signature is None:
            raise PredictionError(
                f"the model has no signature {signature_name!r}: {sorted(self.loaded.signatures)}"
            )
        specs = signature.structured_input_signature[1]
        if inputs and all(isinstance(instance, dict) for instance in inputs):
            columns = {name: [instance.get(name) for instance in inputs] for name in specs}
        elif len(specs) == 1:
            columns = {next(iter(specs)): inputs}
        else:
            raise PredictionError(
                f"the signature takes {sorted(specs)}: each instance must be an object of them"
            )
        tensors = {
            name: self.tf.constant(values, dtype=specs[name].dtype) for name, values in columns.items()
        }
        outputs = {name: tensor.numpy() for name, tensor in signature(**tensors).items()}
        if len(outputs) == 1:
            return next(iter(outputs.values()))
        return [{name: values[i] for name, values in outputs.items()} for i in range(len(inputs))]


def load_model(folder: Path, *, framework: str = "", prediction_class: str = "") -> Model:
    """The model in `folder`: the routine `prediction_class` when given, else the framework's
    (`framework`, or the one its files say); raises ModelError with a reason a user can act on."""
    if prediction_class:
        return load_routine(folder, prediction_class)
    framework = framework or infer_framework(folder)
    if framework == "SCIKIT_LEARN":
        return load_sklearn(folder)
    if framework == "XGBOOST":
        return load_xgboost(folder)
    if framework == "TENSORFLOW":
        return load_tensorflow(folder)
    raise ModelError(
        f"unknown framework {framework!r}: one of {', '.join(FRAMEWORKS)}, or none to read it from the files"
    )


def infer_framework(folder: Path) -> str:
    """The framework that the model file in `folder` belongs to."""
    for names, framework in (
        (SKLEARN_FILES, "SCIKIT_LEARN"),
        (XGBOOST_FILES, "XGBOOST"),
        ((TENSORFLOW_FILE,), "TENSORFLOW"),
    ):
        if any((folder / name).is_file() for name in names):
            return framework
    expected = ", ".join((*SKLEARN_FILES, *XGBOOST_FILES, TENSORFLOW_FILE))
    raise ModelError(f"no model file in the model folder: expected one of {expected}")


def load_sklearn(folder: Path) -> Model:
    """model.joblib (joblib) or model.pkl (pickle); a pickled Booster is served as XGBoost."""
    path = _first(folder, SKLEARN_FILES, "scikit-learn")
    model = _unpickle(path)
    xgboost = sys.modules.get("xgboost")  # unpickling a Booster imported it
    if xgboost is not None and isinstance(model, xgboost.Booster):
        return BoosterModel(model)  # a Booster saved with joblib: it predicts on a DMatrix
    if not callable(getattr(model, "predict", None)):
        raise ModelError(f"{path.name} holds a {type(model).__name__}, which has no predict method")
    return EstimatorModel(model)


def load_xgboost(folder: Path) -> Model:
    """model.bst, model.json or model.ubj as a Booster; else a model.joblib or model.pkl."""
    has_booster = any((folder / name).is_file() for name in XGBOOST_FILES)
    if not has_booster and any((folder / name).is_file() for name in SKLEARN_FILES):
        return load_sklearn(folder)
    path = _first(folder, XGBOOST_FILES, "XGBoost")
    try:
        import xgboost  # only XGBoost models need it
    except ImportError:
        raise ModelError(
            "the model is an XGBoost model, and XGBoost is not installed in this predictor"
        ) from None
    try:
        return BoosterModel(xgboost.Booster(model_file=str(path)))
    except xgboost.core.XGBoostError as exc:
        raise ModelError(f"cannot load {path.name}: {reason(exc)}") from None


def load_tensorflow(folder: Path) -> Model:
    """The SavedModel in `folder`, where this predictor has TensorFlow."""
    _first(folder, (TENSORFLOW_FILE,), "TensorFlow")
    try:
        import tensorflow  # far too large for every predictor: only its image carries it
    except ImportError:
        raise ModelError(
            "the model is a TensorFlow SavedModel, and TensorFlow is not installed in this predictor "
            "(use the predictor image's tensorflow variant)"
        ) from None
    try:
        return SavedModel(tensorflow.saved_model.load(str(folder)), tensorflow)
    except Exception as exc:  # TensorFlow's own error types
        raise ModelError(f"cannot load the SavedModel: {reason(exc)}") from None


def load_routine(folder: Path, prediction_class: str) -> Model:
    """`Class.from_path(folder)` of the routine `module.Class` (its packages already installed)."""
    module_name, _, class_name = prediction_class.rpartition(".")
    if not module_name:
        raise ModelError(f"the prediction class {prediction_class!r} is not of the form module.Class")
    try:
        routine_class = getattr(importlib.import_module(module_name), class_name)
    except ImportError as exc:
        raise ModelError(f"cannot import {module_name} for the prediction class: {reason(exc)}") from None
    except AttributeError:
        raise ModelError(f"the module {module_name} has no class {class_name}") from None
    if not callable(getattr(routine_class, "from_path", None)):
        raise ModelError(f"the prediction class {prediction_class} has no from_path(model_dir) classmethod")
    try:
        routine = routine_class.from_path(str(folder))
    except Exception as exc:  # the user's code: anything it raises means the model is bad
        raise ModelError(f"{prediction_class}.from_path failed: {reason(exc)}") from None
    if not callable(getattr(routine, "predict", None)):
        raise ModelError(f"{prediction_class}.from_path returned a {type(routine).__name__} without predict")
    return RoutineModel(routine)


def _first(folder: Path, names: tuple[str, ...], framework: str) -> Path:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise ModelError(f"no {framework} model file in the model folder: expected one of {', '.join(names)}")


def _unpickle(path: Path):
    try:
        if path.suffix == ".joblib":
            import joblib  # scikit-learn's own dependency; imported with the model it loads

            return joblib.load(path)
        with open(path, "rb") as file:
            return pickle.load(file)
    except ModuleNotFoundError as exc:
        raise ModelError(
            f"cannot load {path.name}: it needs {exc.name}, which this predictor lacks"
        ) from None
    except Exception as exc:  # unpickling runs whatever the file says: any error means a bad file
        raise ModelError(f"cannot load {path.name}: {reason(exc)}") from None


def decode_b64(value: Any) -> Any:
    """AI Platform's binary values: `{"b64": "..."}` anywhere in an instance (an image, a
    serialized tf.Example) becomes the bytes it encodes; everything else stays as it is."""
    if isinstance(value, dict):
        if len(value) == 1 and "b64" in value:
            encoded = value["b64"]
            if not isinstance(encoded, str):
                raise PredictionError(f'"b64" must be a base64 string, not {type(encoded).__name__}')
            try:
                return base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise PredictionError(f'"b64" is not valid base64: {exc}') from None
        return {name: decode_b64(item) for name, item in value.items()}
    if isinstance(value, list):
        return [decode_b64(item) for item in value]
    return value


def _array(instances: list, dtype=None) -> np.ndarray:
    try:
        return np.asarray(instances, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise PredictionError(reason(exc)) from None


def reason(exc: BaseException) -> str:
    """The exception's message on one line (the log's last line, an error body's reason)."""
    return " ".join(str(exc).split()) or type(exc).__name__
