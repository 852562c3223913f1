"""The HTTP contract: routes from the environment, 400 with the reason, 503 until loaded."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson


def test_bad_requests_answer_400_with_the_reason(predictor, sklearn_model):
    served = predictor(sklearn_model[0])
    no_instances = 'the request body must be a JSON object with an "instances" list'
    cases = {
        b"{not json": "the request body is not JSON",
        b'{"rows": [[1, 2, 3, 4]]}': no_instances,
        b'{"instances": 5}': no_instances,
        b'{"instances": [[1, 2, 3]]}': "X has 3 features, but LogisticRegression is expecting 4",
        b'{"instances": [[1, 2, 3, 4], [1]]}': "setting an array element with a sequence",
        b'{"instances": [["a", "b", "c", "d"]]}': "dtype='numeric' is not compatible with arrays of bytes",
    }
    for body, reason in cases.items():
        answer = served.post(body)
        expected = f"Prediction failed: {reason}"
        assert (answer.status_code, answer.json()["error"][: len(expected)]) == (400, expected), body
    assert served.predict([[0, 0, 0, 0]]) == sklearn_model[1].predict([[0, 0, 0, 0]]).tolist()


def test_routes_and_host_come_from_the_environment(predictor, sklearn_model):
    served = predictor(
        sklearn_model[0], AIP_PREDICT_ROUTE="/v1/models/census:predict", AIP_HEALTH_ROUTE="/ready"
    )
    assert served.post({"instances": [[0, 0, 0, 0]]}, route="/v1/models/census:predict").status_code == 200
    assert served.post({"instances": [[0, 0, 0, 0]]}).status_code == 404
    assert served.health("/ready") == 200
    assert served.health("/health") == 404


def test_health_is_503_while_loading_then_200(routine_predictor, routine_folder):
    (routine_folder / "hold").write_text("")  # the routine's from_path waits while it is there
    served = routine_predictor(wait=False)
    while True:
        try:
            status = served.health()
            break
        except Exception:  # not listening yet
            time.sleep(0.05)
    assert status == 503
    answer = served.post({"instances": [1]})
    assert answer.status_code == 503
    (routine_folder / "hold").unlink()
    served.wait_ready()
    assert orjson.loads(served.post({"instances": [1]}).content) == {"predictions": [[3, 1, []]]}


def test_the_model_raising_is_a_400(routine_predictor):
    served = routine_predictor()  # it raises for "boom"
    answer = served.post({"instances": [1, "boom"]})
    assert (answer.status_code, answer.json()) == (400, {"error": "Prediction failed: boom is not a number"})


def test_a_slow_predict_call_leaves_health_checks_answering(routine_predictor, routine_folder):
    """Quick calls run on the event loop (a thread hand-off would cost more), a size of request
    not seen yet runs in a thread: while it is predicting, the server still answers."""
    served = routine_predictor()
    for _ in range(5):
        assert served.predict([2]) == [[6, 1, []]]  # quick: one instance, on the event loop
    (routine_folder / "predict-hold").write_text("")
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(served.post, {"instances": ["wait", "wait"]})  # two instances: not seen yet
        while not (routine_folder / "predicting").exists():  # the server is in the slow call
            time.sleep(0.01)
        health = httpx.get(served.url + "/health", timeout=10)
        quick = served.predict([3])
        answered_meanwhile = not slow.done()
        (routine_folder / "predict-hold").unlink()

        assert (health.status_code, quick, answered_meanwhile) == (200, [[9, 1, []]], True)
        assert slow.result().json() == {"predictions": [[3, 2, []], [3, 2, []]]}
