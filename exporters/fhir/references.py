"""References between resources, and the check that every one of them resolves.

Bulk NDJSON uses relative references (`Patient/<id>`, R4 references.html "Literal
references"); a transaction Bundle uses the `urn:uuid:<id>` fullUrl of the entry it
points at. Both are written from one text: `to_bundle_references` rewrites the first
form into the second.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson
import polars as pl

# Inside a JSON string every '"' is escaped, so the three characters '":"' followed by
# "reference" can only be the member itself, never text inside a value.
_RELATIVE_REFERENCE = r'"reference":"[A-Za-z]+/'
_BUNDLE_REFERENCE = '"reference":"urn:uuid:'


def to_bundle_references(resource_json: pl.Expr) -> pl.Expr:
    """Rewrite relative references to the `urn:uuid:` fullUrls of bundle entries."""
    return resource_json.str.replace_all(_RELATIVE_REFERENCE, _BUNDLE_REFERENCE)


def _references(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _dangling(resources: Iterable[dict], known: set[str], where: str) -> list[str]:
    problems = []
    for resource in resources:
        for target in _references(resource):
            if target not in known:
                problems.append(f"{where}: {resource['resourceType']}/{resource['id']} -> {target}")
    return problems


def check_references(ndjson_dir: Path) -> list[str]:
    """Every reference in `<ResourceType>.ndjson` files names a resource in the folder.

    Returns one message per dangling reference (empty when all resolve); also reports
    duplicate ids and files whose name differs from their resources' type.
    """
    resources: list[dict] = []
    problems: list[str] = []
    known: set[str] = set()
    for path in sorted(Path(ndjson_dir).glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            resource = orjson.loads(line)
            key = f"{resource['resourceType']}/{resource['id']}"
            if resource["resourceType"] != path.stem:
                problems.append(f"{path.name}: holds {key}")
            if key in known:
                problems.append(f"{path.name}: duplicate {key}")
            known.add(key)
            resources.append(resource)
    return problems + _dangling(resources, known, str(ndjson_dir))


def check_bundle_references(bundle: dict, where: str = "bundle") -> list[str]:
    """Every reference in a Bundle is the fullUrl of one of its entries."""
    entries = bundle.get("entry", [])
    full_urls = [entry["fullUrl"] for entry in entries]
    problems = [f"{where}: duplicate fullUrl {url}" for url in _duplicates(full_urls)]
    for entry in entries:
        resource = entry["resource"]
        if entry["fullUrl"] != f"urn:uuid:{resource['id']}":
            problems.append(f"{where}: fullUrl {entry['fullUrl']} is not urn:uuid:<id>")
    return problems + _dangling((e["resource"] for e in entries), set(full_urls), where)


def _duplicates(values: list[str]) -> set[str]:
    seen: set[str] = set()
    return {value for value in values if value in seen or seen.add(value)}
