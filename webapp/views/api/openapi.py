"""/api/v1/openapi.json, generated from the routes' docstrings and the schemas."""

from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec_webframeworks.flask import FlaskPlugin
from flask import current_app, jsonify

from ...schemas import SCHEMAS
from .blueprint import bp


def build_spec(app) -> dict:
    spec = APISpec(
        title="Herald API", version="1", openapi_version="3.0.3",
        plugins=[FlaskPlugin(), MarshmallowPlugin()],
        info={"description": "Scheduled reports: tasks, runs, downloads and data ingestion. "
                            "Authenticate with the portal session or Authorization: Bearer."},
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
    return spec.to_dict()


@bp.get("/openapi.json")
def openapi():
    spec = current_app.extensions.get("herald_openapi")
    if spec is None:
        spec = current_app.extensions["herald_openapi"] = build_spec(current_app)
    return jsonify(spec)
