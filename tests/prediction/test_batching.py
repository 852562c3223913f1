"""Adaptive batching under real concurrent HTTP requests: batches form, and one request's bad
instances never fail another's (MLServer's issue #1306)."""

from __future__ import annotations

import asyncio

import httpx

from tests.prediction.servers import Served


def post_together(served: Served, bodies: list) -> list[httpx.Response]:
    """Every body posted at once, each on its own connection."""

    async def post_all():
        limits = httpx.Limits(max_connections=len(bodies))
        async with httpx.AsyncClient(base_url=served.url, limits=limits, timeout=30) as client:
            return await asyncio.gather(*(client.post("/predict", json=body) for body in bodies))

    return asyncio.run(post_all())


def test_concurrent_requests_share_a_predict_call(routine_predictor):
    served = routine_predictor(MLPLATFORM_MAX_BATCH_SIZE="8", MLPLATFORM_MAX_BATCH_TIME_MS="200")
    answers = post_together(served, [{"instances": [i, i + 1]} for i in range(0, 24, 2)])
    sizes = set()
    for i, answer in zip(range(0, 24, 2), answers, strict=True):
        predictions = answer.json()["predictions"]
        assert [value for value, _, _ in predictions] == [3 * i, 3 * (i + 1)]
        sizes.update(size for _, size, _ in predictions)
    assert max(sizes) > 2  # some predict call had more than one request's instances
    assert max(sizes) <= 8


def test_a_bad_request_fails_alone(routine_predictor):
    served = routine_predictor(MLPLATFORM_MAX_BATCH_SIZE="32", MLPLATFORM_MAX_BATCH_TIME_MS="200")
    bodies = [{"instances": ["boom"] if i % 4 == 0 else [i]} for i in range(16)]
    bodies.append({"instances": [100], "scale": 2})  # keywords: predicted on its own
    answers = post_together(served, bodies)
    boom = {"error": "Prediction failed: boom is not a number"}
    for i, answer in enumerate(answers[:16]):
        if i % 4 == 0:
            assert (answer.status_code, answer.json()) == (400, boom)
        else:
            assert (answer.status_code, answer.json()["predictions"][0][0]) == (200, 3 * i)
    assert answers[16].json()["predictions"] == [[600, 1, ["scale"]]]


def test_scikit_learn_rows_of_other_shapes_fail_alone(predictor, sklearn_model, rows):
    folder, model = sklearn_model
    served = predictor(folder, MLPLATFORM_MAX_BATCH_SIZE="64", MLPLATFORM_MAX_BATCH_TIME_MS="200")
    features = rows[0]
    bad = {
        3: ([[1, 2, 3]], "X has 3 features, but LogisticRegression is expecting 4"),
        7: ([[1, 2, 3, 4], [1, 2]], "setting an array element with a sequence"),
        11: ([["a", "b", "c", "d"]], "dtype='numeric' is not compatible"),
        13: ([[1, 2, 3, 4, 5]], "X has 5 features"),
    }
    bodies = [{"instances": bad[i][0] if i in bad else features[i : i + 3].tolist()} for i in range(20)]
    answers = post_together(served, bodies)
    for i, answer in enumerate(answers):
        if i in bad:
            reason = f"Prediction failed: {bad[i][1]}"
            assert (answer.status_code, answer.json()["error"][: len(reason)]) == (400, reason)
        else:
            assert answer.json()["predictions"] == model.predict(features[i : i + 3]).tolist()


def test_a_request_larger_than_the_batch_goes_alone(predictor, sklearn_model, rows):
    folder, model = sklearn_model
    served = predictor(folder, MLPLATFORM_MAX_BATCH_SIZE="4", MLPLATFORM_MAX_BATCH_TIME_MS="50")
    features = rows[0]
    bodies = [{"instances": features[:10].tolist()}, {"instances": features[10:12].tolist()}]
    answers = post_together(served, bodies)
    assert [answer.json()["predictions"] for answer in answers] == [
        model.predict(features[:10]).tolist(),
        model.predict(features[10:12]).tolist(),
    ]
