"""Third-party validation of the geolocalization worker's outputs, run by its tests.

    validate.py geojson FILE...            RFC 7946 GeoJSON: geojson-validator's structure and
                                           geometry checks, and the GeoJSON Feature JSON Schema
    validate.py stac SCHEMA_DIR FILE...    STAC Items and Collections: the STAC 1.1 JSON Schemas
                                           and those of every extension a document declares

SCHEMA_DIR holds the schemas vendored in the repository, laid out as their URLs
(SCHEMA_DIR/schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json, ...): every $ref is
resolved there, never over the network, and a schema missing from it fails the validation.
Prints one line per problem and exits 1 if there is any. Needs the packages pinned in
tests/requirements.txt (installed by scripts/test.sh).
"""

import json
import pathlib
import sys

# Checks that make a footprint unusable. "crosses_antimeridian" is left out on purpose: it
# flags RFC 7946's own cut polygons (a ring running along 180 normalises to -180), so the Rust
# tests check the antimeridian themselves; "excessive_coordinate_precision" too, since the
# footprint keeps the precision that makes it equal gdalinfo's to 1e-7 degree.
INVALID = ["unclosed", "less_three_unique_nodes", "exterior_not_ccw", "interior_not_cw"]
PROBLEMATIC = ["holes", "self_intersection", "duplicate_nodes", "3d_coordinates", "outside_lat_lon_boundaries"]


def registry(schema_dir):
    from referencing import Registry, Resource

    root = pathlib.Path(schema_dir)

    def retrieve(uri):
        path = root / uri.split("://", 1)[-1].split("#", 1)[0]
        if not path.is_file():
            raise LookupError(f"schema {uri} is not vendored under {root}")
        return Resource.from_contents(json.loads(path.read_text()))

    return Registry(retrieve=retrieve)


def validate_schema(document, uri, schema_dir, reg):
    import jsonschema

    schema = reg.get_or_retrieve(uri).value.contents
    validator = jsonschema.Draft7Validator(schema, registry=reg)
    return [f"{uri}: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(document)]


def geojson(files):
    from geojson_validator import configure_logging, validate_geometries, validate_structure

    configure_logging(enabled=False)
    schema_dir = pathlib.Path(__file__).resolve().parent.parent / "stac-schemas"
    reg = registry(schema_dir)
    problems = []
    for name in files:
        data = json.loads(pathlib.Path(name).read_text())
        for message, where in validate_structure(data, check_crs=True).items():
            problems.append(f"{name}: structure: {message} at {where}")
        result = validate_geometries(data, criteria_invalid=INVALID, criteria_problematic=PROBLEMATIC)
        for kind in ("invalid", "problematic"):
            for criterion, features in result.get(kind, {}).items():
                problems.append(f"{name}: {kind}: {criterion} {features}")
        if result.get("skipped_validation"):
            problems.append(f"{name}: geometries not validated: {result['skipped_validation']}")
        problems += [f"{name}: {p}" for p in validate_schema(data, "https://geojson.org/schema/Feature.json", schema_dir, reg)]
    return problems


def stac(schema_dir, files):
    reg = registry(schema_dir)
    core = {
        "Feature": "https://schemas.stacspec.org/v{}/item-spec/json-schema/item.json",
        "Collection": "https://schemas.stacspec.org/v{}/collection-spec/json-schema/collection.json",
    }
    problems = []
    for name in files:
        document = json.loads(pathlib.Path(name).read_text())
        kind = document.get("type")
        if kind not in core:
            problems.append(f"{name}: not a STAC Item or Collection (type {kind!r})")
            continue
        schemas = [core[kind].format(document.get("stac_version", "?"))] + list(document.get("stac_extensions", []))
        for uri in schemas:
            try:
                problems += [f"{name}: {p}" for p in validate_schema(document, uri, schema_dir, reg)]
            except LookupError as e:
                problems.append(f"{name}: {e}")
    return problems


def main(argv):
    if len(argv) >= 2 and argv[0] == "geojson":
        problems = geojson(argv[1:])
    elif len(argv) >= 3 and argv[0] == "stac":
        problems = stac(argv[1], argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for p in problems:
        print(p)
    if not problems:
        print(f"valid: {len(argv) - (1 if argv[0] == 'geojson' else 2)} documents")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
