"""What a form must look like in the Prefect UI, checked on a flow's parameter schema or a deployment's.

Shared by tests/test_parameters.py (each flow, in-process) and tests/test_deployments.py (each deployment
after `prefect deploy --all`), so the two check the same thing.
"""

from __future__ import annotations

import json


def title_of(schema: dict, prop: dict) -> str | None:
    """A field's title as the UI shows it: its own, or that of the model it refers to."""
    if "$ref" in prop:
        return schema.get("definitions", {}).get(prop["$ref"].rsplit("/", 1)[-1], {}).get("title")
    return prop.get("title")


def form_problems(schema: dict) -> list[str]:
    """Every way the form falls short: a snake_case or missing title, a value/None toggle, a free-text
    environment; empty when it reads like on-demand's."""
    problems = []
    if "anyOf" in json.dumps(schema) or '"null"' in json.dumps(schema):
        problems.append("a value/None toggle (anyOf with null)")
    for name, prop in schema["properties"].items():
        title = title_of(schema, prop) or ""
        if not title or "_" in title or not title[0].isupper():
            problems.append(f"{name} titled {title!r}")
        if "environment" in name:
            choices = prop.get("enum") or prop.get("items", {}).get("enum") or []
            if not {"production", "staging", "dev"} <= set(choices):
                problems.append(f"{name} is not a choice of environments")
    return problems
