"""Validates Kubernetes manifests against the schemas vendored beside this script (no network):
Kubernetes v1.30 (strict) for the built-in kinds, KEDA's ScaledObject for the scalers. A document
of a kind without a vendored schema is an error too, so nothing goes unchecked.

    python3 -m pip install -r deploy/k8s/schemas/requirements.txt
    python3 deploy/k8s/schemas/validate.py deploy/k8s/fleet.yaml

Prints one line per problem (file, document, name, path, message) and exits 1 if there is any.
"""

import json
import pathlib
import sys

try:
    import jsonschema
    import yaml
except ImportError as e:  # pragma: no cover - what a machine without the pinned packages sees
    sys.exit(f"validate.py: {e}: run python3 -m pip install -r {pathlib.Path(__file__).parent / 'requirements.txt'}")

HERE = pathlib.Path(__file__).resolve().parent
SCHEMAS = {
    ("v1", "ConfigMap"): "kubernetes/v1.30.0-standalone-strict/configmap-v1.json",
    ("v1", "Secret"): "kubernetes/v1.30.0-standalone-strict/secret-v1.json",
    ("v1", "Service"): "kubernetes/v1.30.0-standalone-strict/service-v1.json",
    ("apps/v1", "Deployment"): "kubernetes/v1.30.0-standalone-strict/deployment-apps-v1.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "keda/scaledobject-keda-v1alpha1.json",
}


def validator(key, cache={}):
    if key not in cache:
        schema = json.loads((HERE / SCHEMAS[key]).read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        cache[key] = jsonschema.Draft202012Validator(schema)
    return cache[key]


def problems(path):
    with open(path) as f:
        documents = list(yaml.safe_load_all(f))
    count = 0
    for index, doc in enumerate(documents):
        if doc is None:
            continue
        count += 1
        key = (doc.get("apiVersion"), doc.get("kind")) if isinstance(doc, dict) else (None, None)
        name = (doc.get("metadata") or {}).get("name", "?") if isinstance(doc, dict) else "?"
        where = f"{path}: document {index + 1} ({key[1]} {name})"
        if key not in SCHEMAS:
            yield f"{where}: no vendored schema for apiVersion {key[0]!r} kind {key[1]!r}"
            continue
        for error in sorted(validator(key).iter_errors(doc), key=lambda e: list(e.absolute_path)):
            location = "/".join(str(p) for p in error.absolute_path) or "(document)"
            yield f"{where}: {location}: {error.message}"
    if count == 0:
        yield f"{path}: no documents"


def main(paths):
    if not paths:
        sys.exit("usage: validate.py MANIFEST.yaml...")
    found = [line for path in paths for line in problems(path)]
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} problem(s)")
        return 1
    print(f"valid: {', '.join(paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
