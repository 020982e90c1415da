"""The API document keeps up with the app: every route `create_app` serves is in openapi.json with
its methods, nothing documented is missing from the app, and every reference in it resolves."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.routing import Route
from starlette.testclient import TestClient

from picfind.web import app as web

LOCAL = "http://127.0.0.1:8765"  # the server answers only to its own names


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    return [r for v in node for r in _refs(v)] if isinstance(node, list) else []


def test_every_route_is_documented_and_every_documented_route_served(tmp_path: Path) -> None:
    app = web.create_app(tmp_path / "c.db", "tiny-shapes")
    with TestClient(app, base_url=LOCAL) as client:
        spec = client.get("/api/openapi.json").json()  # the document as served
    served = {(re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path), m.lower())
              for r in app.routes if isinstance(r, Route) for m in r.methods if m != "HEAD"}
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert len(served) >= 12
    assert served - documented == set(), "routes the API document leaves out"
    assert documented - served == set(), "documented routes the app does not serve"
    for ref in _refs(spec):  # "#/components/responses/Refused" names something there
        node = spec
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
    refused = {path for path, ops in spec["paths"].items()
               if all(op["responses"].get("403") == {"$ref": "#/components/responses/Refused"} for op in ops.values())}
    assert refused == {path for path, _ in served}  # every route may answer another site's request with 403
    assert "408" in spec["paths"]["/api/similar"]["post"]["responses"]  # an upload too slow
