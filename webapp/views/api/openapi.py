"""/api/v1/openapi.json, generated from the routes' docstrings and the schemas."""

from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec_webframeworks.flask import FlaskPlugin
from flask import current_app, jsonify

from ...schemas import SCHEMAS
from ...schemas.documented import component_rules
from .blueprint import bp


def build_spec(app) -> dict:
    spec = APISpec(
        title="Herald API", version="1", openapi_version="3.0.3",
        plugins=[FlaskPlugin(), MarshmallowPlugin()],
        info={"description": "Scheduled reports: tasks, runs, downloads and data ingestion. "
                            "Authenticate with the portal session or Authorization: Bearer. "
                            "No string may hold a NUL character (\\u0000)."},
        components={"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        security=[{"bearer": []}],
    )
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema=schema)
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi":
            view = app.view_functions[rule.endpoint]
            if view.__doc__ and "---" in view.__doc__:
                spec.path(view=view, app=app)
    doc = spec.to_dict()
    for name, rules in component_rules().items():
        doc["components"]["schemas"][name].update(rules)
    return _with_common_responses(_required_in_document(doc))


def _required_in_document(doc: dict) -> dict:
    """A query parameter marked ``x-required`` (a field the loading judges with others: a
    schedule's ``every`` is needed for hourly only) is documented as required, so that the
    document allows no query the API refuses."""
    for item in doc["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("schema", {}).pop("x-required", False):
                    parameter["required"] = True
    return doc


# Answers any operation may give besides its own (the views return them through
# error_response, before or around their own logic).
COMMON_RESPONSES = {
    "401": "Not logged in, or no valid bearer token",
    "403": "A permission is missing",
    "404": "No such record in your company",
}


def _with_common_responses(doc: dict) -> dict:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    doc["components"]["responses"] = {
        code: {"description": text, "content": error} for code, text in COMMON_RESPONSES.items()}
    for path, item in doc["paths"].items():
        for operation in item.values():
            ids = "{" in path or any(p.get("name", "").endswith("_id")
                                     for p in operation.get("parameters", []))
            codes = ["401", "403"] + (["404"] if ids else [])
            for code in codes:
                operation["responses"].setdefault(
                    code, {"$ref": f"#/components/responses/{code}"})
    return doc


@bp.get("/openapi.json")
def openapi():
    spec = current_app.extensions.get("herald_openapi")
    if spec is None:
        spec = current_app.extensions["herald_openapi"] = build_spec(current_app)
    return jsonify(spec)
