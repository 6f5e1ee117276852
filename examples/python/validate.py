#!/usr/bin/env python3
"""Check a workflow input or result against the fleet's published JSON Schema.

    python3 examples/python/validate.py schemas/ChecksumObject.result.json result.json
    python3 examples/python/start_pipeline.py ChecksumObject '...' \
        | python3 examples/python/validate.py schemas/ChecksumObject.result.json -

The schemas (draft 2020-12) are generated from the Rust types: `cargo run -p starter -- schema
<Workflow>` prints one, schemas/<Workflow>.input.json and .result.json are the checked-in copies.
Prints `valid` or every violation with its JSON path; exit status 0 valid, 1 invalid, 2 a
schema or document that cannot be read.

Needs `jsonschema` (examples/python/requirements.txt).
"""

from __future__ import annotations

import argparse
import json
import sys

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError


def load(path: str, what: str):
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise SystemExit(f"error: cannot read the {what} {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise SystemExit(f"error: the {what} {path} is not JSON: {e}") from None


def main() -> int:
    parser = argparse.ArgumentParser(prog="validate.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("schema", help="the schema, e.g. schemas/VideoPipeline.result.json")
    parser.add_argument("document", nargs="?", default="-", help="the JSON to check (default: standard input)")
    args = parser.parse_args()

    schema = load(args.schema, "schema")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as e:
        print(f"error: {args.schema} is not a draft 2020-12 schema: {e.message}", file=sys.stderr)
        return 2
    document = load(args.document, "document")
    errors = sorted(Draft202012Validator(schema).iter_errors(document), key=lambda e: list(e.absolute_path))
    for error in errors:
        print(f"{error.json_path}: {error.message}", file=sys.stderr)
    if errors:
        print(f"invalid: {len(errors)} violation(s) of {args.schema}", file=sys.stderr)
        return 1
    print("valid")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            sys.exit(2)
        raise
