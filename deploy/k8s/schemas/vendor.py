"""Regenerates the schemas vendored beside this script, from two PyPI packages:

- kubernetes/: Kubernetes v1.30 JSON Schemas (strict: unknown fields are errors) for the kinds
  the manifests use, from `kubernetes-validate==1.37.0` (its `v1.30.0-local-strict` schemas).
  Each file stands alone: the definitions it reaches are copied into its `$defs`.
- keda/: KEDA's ScaledObject (keda.sh/v1alpha1), from `cloudcoil-models-keda==2.16.1.0` (models
  generated from the CRDs of KEDA 2.16.1), made strict the same way (every object closed to
  unknown fields) and given the Kubernetes v1.30 ObjectMeta.

Run it in a throwaway environment (it is not needed to validate, only to regenerate):

    python3 -m venv /tmp/schemas-venv
    /tmp/schemas-venv/bin/pip install kubernetes-validate==1.37.0 cloudcoil-models-keda==2.16.1.0
    /tmp/schemas-venv/bin/python deploy/k8s/schemas/vendor.py
"""

import copy
import importlib.resources
import json
import pathlib
import re

HERE = pathlib.Path(__file__).resolve().parent
K8S_VERSION = "v1.30.0"
K8S_KINDS = ["configmap-v1", "secret-v1", "service-v1", "deployment-apps-v1"]
DRAFT = "https://json-schema.org/draft/2020-12/schema"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def k8s_sources():
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema" / f"{K8S_VERSION}-local-strict"
    definitions = json.loads((root / "_definitions.json").read_text())["$defs"]
    return root, definitions


def standalone(schema, definitions):
    """`schema` with every `/api/_definitions.json#/$defs/X` it reaches copied into its `$defs`."""
    pattern = re.compile(r"^(?:/api/_definitions\.json)?#/\$defs/(.+)$")
    needed, todo = {}, [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and (m := pattern.match(ref)):
                name = m.group(1)
                node["$ref"] = f"#/$defs/{name}"
                if name not in needed:
                    needed[name] = copy.deepcopy(definitions[name])
                    todo.append(needed[name])
            todo.extend(v for k, v in node.items() if k != "$ref")
        elif isinstance(node, list):
            todo.extend(node)
    out = {"$schema": DRAFT, **{k: v for k, v in schema.items() if k not in ("$schema", "$id")}}
    out["$defs"] = dict(sorted(needed.items()))
    return out


def write(path, schema):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path.relative_to(HERE)} ({path.stat().st_size} bytes)")


def strict_pydantic(node):
    """Closes every object schema to unknown fields and drops pydantic's `default`/`title` noise."""
    if isinstance(node, dict):
        node.pop("default", None)
        node.pop("title", None)
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            strict_pydantic(value)
    elif isinstance(node, list):
        for value in node:
            strict_pydantic(value)


def keda_scaled_object(definitions):
    from cloudcoil.models.keda.v1alpha1 import ScaledObject

    schema = ScaledObject.model_json_schema(by_alias=True, mode="validation")
    strict_pydantic(schema)
    # Kubernetes' own ObjectMeta (strict, v1.30) instead of the models' copy.
    meta = standalone({"$ref": f"/api/_definitions.json#/$defs/{OBJECT_META}"}, definitions)
    schema["$defs"].pop("ObjectMeta", None)
    for name in [n for n in schema["$defs"] if n in ("FieldsV1", "ManagedFieldsEntry", "OwnerReference", "Time")]:
        schema["$defs"].pop(name)
    schema["$defs"].update(meta["$defs"])
    schema["properties"]["metadata"] = {"$ref": f"#/$defs/{OBJECT_META}"}
    schema["properties"]["apiVersion"] = {"const": "keda.sh/v1alpha1"}
    schema["properties"]["kind"] = {"const": "ScaledObject"}
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    unresolved = {r for r in re.findall(r'"\$ref": "#/\$defs/([^"]+)"', json.dumps(schema)) if r not in schema["$defs"]}
    assert not unresolved, f"dangling references: {unresolved}"
    return {"$schema": DRAFT, "description": "KEDA 2.16.1 ScaledObject (keda.sh/v1alpha1), strict", **schema}


def main():
    root, definitions = k8s_sources()
    for kind in K8S_KINDS:
        schema = json.loads((root / f"{kind}.json").read_text())
        write(HERE / "kubernetes" / f"{K8S_VERSION}-standalone-strict" / f"{kind}.json", standalone(schema, definitions))
    write(HERE / "keda" / "scaledobject-keda-v1alpha1.json", keda_scaled_object(definitions))


if __name__ == "__main__":
    main()
