"""Check an object against the openAPIV3Schema of its kind's CustomResourceDefinition (tests/compute/crds/).

The API server prunes fields a structural schema does not name, so a misspelt field would vanish
without an error there; here it is refused (`additionalProperties: false` wherever the schema lists
properties and does not preserve unknown fields), as kubernetes-validate's strict mode does for the
built-in kinds. `x-kubernetes-int-or-string` and `nullable` become what they mean in JSON Schema.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jsonschema
import yaml

CRDS = Path(__file__).parent / "crds"
FILES = {
    "MPIJob": "kubeflow.org_mpijobs.yaml",
    "PodGroup": "scheduling.x-k8s.io_podgroups.yaml",
}


def validate(obj: dict) -> None:
    """Raises jsonschema.ValidationError naming the path of the first field the schema refuses."""
    jsonschema.validate(obj, schema(obj["kind"], obj["apiVersion"]), cls=jsonschema.Draft7Validator)


@cache
def schema(kind: str, api_version: str) -> dict:
    crd = yaml.safe_load((CRDS / FILES[kind]).read_text())
    group, _, version = api_version.partition("/")
    assert crd["spec"]["group"] == group, f"{FILES[kind]} is of {crd['spec']['group']}, not {group}"
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    return _strict(served["schema"]["openAPIV3Schema"])


def _strict(node: dict) -> dict:
    """A structural schema node as JSON Schema (recursing through properties, items and the like)."""
    node = {key: value for key, value in node.items() if key != "description"}
    if "properties" in node:
        node["properties"] = {name: _strict(child) for name, child in node["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            node[key] = _strict(node[key])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in node:
            node[key] = [_strict(child) for child in node[key]]
    if node.pop("x-kubernetes-int-or-string", False):
        node.pop("type", None)
        node.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.pop("nullable", False) and "type" in node:
        node["type"] = [node["type"], "null"]
    preserve = node.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in node and "additionalProperties" not in node and not preserve:
        node["additionalProperties"] = False
    return node
