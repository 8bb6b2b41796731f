"""Validate real answers and frames against the documents the engine serves (auction_engine/schemas.py).

`check_frame` is called by `tests/engine/wsclient.py` on every frame a test peer receives, so every
WebSocket test also checks the AsyncAPI document; `check_response` checks an HTTP answer against
the OpenAPI operation of its route.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from auction_engine.openapi import asyncapi_document, openapi_document
from auction_engine.schemas import SCHEMAS, ref

ROOT_URI = "urn:auction-engine:schemas"


@cache
def _registry() -> Registry:
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": {"schemas": SCHEMAS}}
    return Registry().with_resource(ROOT_URI, Resource.from_contents(root, default_specification=DRAFT202012))


@cache
def validator(name: str) -> Draft202012Validator:
    schema = {"$ref": ROOT_URI + ref(name)["$ref"]}
    return Draft202012Validator(schema, registry=_registry())


def check(name: str, instance: Any) -> None:
    """Raise AssertionError naming the schema and every way `instance` does not fit it."""
    errors = sorted(validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
        raise AssertionError(f"does not match {name}: {instance!r}\n" + "\n".join(lines))


BY_TYPE = {"welcome": "WelcomeFrame", "snapshot": "SnapshotFrame", "event": "EventFrame", "ack": "Ack", "outbid": "OutbidFrame",
           "won": "WonFrame", "lost": "LostFrame", "pong": "PongFrame", "error": "ErrorFrame"}


def check_frame(frame: Any) -> None:
    """A server frame fits the schema its `type` names, and through that the document's ServerFrame."""
    kind = frame.get("type") if isinstance(frame, dict) else None
    name = BY_TYPE.get(kind, "ServerFrame") if isinstance(kind, str) else "ServerFrame"
    check("DeltaFrame" if name == "EventFrame" and "changed" in frame else name, frame)
    check("ServerFrame", frame)


@cache
def _document() -> dict[str, Any]:
    from auction_engine.app import create_app
    from auction_engine.config import Config

    return openapi_document(create_app(Config()).routes)


def _match(template: str, path: str) -> bool:
    parts, want = template.strip("/").split("/"), path.strip("/").split("/")
    return len(parts) == len(want) and all(p.startswith("{") or p == w for p, w in zip(parts, want, strict=True))


def operation_for(method: str, path: str) -> dict[str, Any]:
    """The operation of the route Starlette would pick (the first template that matches, in route order)."""
    for template, item in _document()["paths"].items():
        if _match(template, path) and method.lower() in item:
            op: dict[str, Any] = item[method.lower()]
            return op
    raise AssertionError(f"no documented operation for {method} {path}")


def check_response(response: httpx.Response) -> None:
    """The answer's status must be one its operation documents, and its JSON body must fit that schema."""
    op = operation_for(response.request.method, response.request.url.path)
    documented = op["responses"].get(str(response.status_code))
    assert documented is not None, f"{response.request.method} {response.request.url.path} answered an undocumented " \
                                   f"{response.status_code}: {response.text[:300]}"
    content = documented["content"]
    if "application/json" not in content:
        return
    schema = content["application/json"]["schema"]
    body = response.json()
    if "$ref" in schema:
        check(schema["$ref"].rsplit("/", 1)[-1], body)
    elif "oneOf" in schema:
        names = [s["$ref"].rsplit("/", 1)[-1] for s in schema["oneOf"]]
        failures = []
        for name in names:
            try:
                check(name, body)
                return
            except AssertionError as exc:
                failures.append(str(exc))
        raise AssertionError("\n".join(failures))
    else:
        Draft202012Validator(schema).validate(body)


def asyncapi() -> dict[str, Any]:
    return asyncapi_document()
