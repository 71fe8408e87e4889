"""A mkdocs hook that writes the HTTP API's reference page from the OpenAPI document the
API itself serves at /api/v1/openapi.json, at build time and without a network, so the
page says what the handlers take and can never drift from them."""

from __future__ import annotations

from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

PAGE = "api/reference.md"
SCHEMAS = "#/components/schemas/"
INTRO = """# API reference

Every operation of the HTTP API, made from the OpenAPI document the API serves at
`GET /api/v1/openapi.json` (OpenAPI 3.1) when this site was built. Tokens, refusals,
pages of lists and examples are on [The HTTP API](index.md).
"""


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Adds the page before mkdocs builds the nav, so the nav can list it."""
    # Imported here, not at the top: only building this page needs the API (and, through
    # it, core), and its modules are found where they are at build time.
    from webhook.api import API, SPEC

    files.append(File.generated(config, PAGE, content=render(SPEC, API)))
    return files


def render(document: dict[str, Any], prefix: str) -> str:
    """The page: answers every operation may give once, then the operations by what they
    act on, then the bodies they take."""
    operations = [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    shared = _shared_answers([operation for _, _, operation in operations])
    parts = [INTRO, "Any operation may also answer:\n", _answers_table(shared)]
    section = None
    for method, path, operation in operations:
        noun = path.removeprefix(prefix).strip("/").split("/")[0]
        if noun != section:
            section = noun
            parts.append(f"## {noun.capitalize()}\n")
        parts.append(_operation(method, path, operation, shared))
    schemas = document["components"]["schemas"]
    taken = _named_from(document, "requestBody")
    parts.append("## Bodies\n")
    parts.extend(_body(name, schemas[name]) for name in schemas if name in taken)
    parts.append("## Answers\n")
    parts.append(ANSWERS)
    answers = [name for name in schemas if name not in taken and name != "Error"]
    parts.extend(_body(name, schemas[name]) for name in answers)
    return "\n".join(parts)


ANSWERS = """What operations answer, and the words and values inside. An answer may gain fields
later, never lose or change one: read the ones you know and ignore the others.
"""


def _named_from(document: dict[str, Any], part: str) -> set[str]:
    """The schemas an operation's `part` (its requestBody) names, and those inside them."""
    schemas = document["components"]["schemas"]
    found: set[str] = set()
    todo = [
        operation[part]
        for methods in document["paths"].values()
        for operation in methods.values()
        if part in operation
    ]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            name = ref.removeprefix(SCHEMAS)
            if ref and name not in found and "enum" not in schemas.get(name, {}):
                found.add(name)
                todo.append(schemas.get(name, {}))
            todo.extend(value for key, value in node.items() if key != "$ref")
        elif isinstance(node, list):
            todo.extend(node)
    return found


def _shared_answers(operations: list[dict[str, Any]]) -> dict[str, str]:
    """The refusals every operation lists, so each operation shows only its own."""
    answer_sets = [
        {(status, answer["description"]) for status, answer in operation["responses"].items()}
        for operation in operations
    ]
    common = set.intersection(*answer_sets) if answer_sets else set()
    return dict(sorted(common))


def _answers_table(answers: dict[str, str]) -> str:
    rows = [f"| {status} | {_cell(words)} |" for status, words in answers.items()]
    return _table(["status", "meaning"], rows)


def _operation(method: str, path: str, operation: dict[str, Any], shared: dict[str, str]) -> str:
    """One operation: what it does, what it takes, and the answers that are its own."""
    parts = [f"### `{method} {path}`\n", f"{operation['summary']}.\n"]
    parameters = operation.get("parameters", [])
    if parameters:
        rows = [
            f"| `{parameter['name']}` | {parameter['in']} | {_type(parameter['schema'])} | "
            f"{_cell(parameter.get('description', ''))} |"
            for parameter in parameters
        ]
        parts.append(_table(["parameter", "in", "type", "meaning"], rows))
    body = operation.get("requestBody")
    if body is not None:
        schema = body["content"]["application/json"]["schema"]
        needed = "required" if body.get("required") else "optional"
        parts.append(f"Body ({needed}): {_type(schema)}.\n")
    own = {
        status: _answer_words(answer)
        for status, answer in operation["responses"].items()
        if shared.get(status) != answer["description"]
    }
    parts.append(_answers_table(own))
    return "\n".join(parts)


def _answer_words(answer: dict[str, Any]) -> str:
    """An answer's meaning, and what it holds when it is not a refusal (a link)."""
    schema = answer.get("content", {}).get("application/json", {}).get("schema")
    if schema is None or schema.get("$ref") == SCHEMAS + "Error":
        return answer["description"]
    return f"{answer['description']}: {_type(schema)}"


def _body(name: str, schema: dict[str, Any]) -> str:
    """One body's or answer's fields (or an enum's values), with an anchor of its name
    that the operations link to."""
    parts = [f"### {name} {{#{name}}}\n"]
    if "description" in schema:
        parts.append(f"{schema['description']}\n")
    if "enum" in schema:
        parts.append(_type(schema).capitalize() + ".\n")
        return "\n".join(parts)
    required = set(schema.get("required", []))
    rows = [
        f"| `{field}` | {_type(spec)} | {'yes' if field in required else ''} | "
        f"{_cell(spec.get('description', ''))} |"
        for field, spec in schema.get("properties", {}).items()
    ]
    parts.append(_table(["field", "type", "required", "meaning"], rows))
    if schema.get("additionalProperties") is False:
        parts.append("Any other field is refused.\n")
    return "\n".join(parts)


def _type(schema: dict[str, Any]) -> str:
    """A schema in a few words ("`integer` at least 0, at most 10", "one of `"skip"`, …", a
    link to a body), where a reader of the page would not read JSON Schema."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(SCHEMAS)
        return f"[{name}](#{name})"
    if "anyOf" in schema:
        return " or ".join(_type(option) for option in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(f'`"{value}"`' for value in schema["enum"])
    kinds = schema.get("type", "any")
    if isinstance(kinds, list):
        return " or ".join(_type({**schema, "type": kind}) for kind in kinds)
    if kinds == "array":
        return f"list of {_type(schema.get('items', {}))}"
    bounds = [
        f"{words} {schema[key]}"
        for key, words in (("minimum", "at least"), ("maximum", "at most"))
        if key in schema
    ]
    shapes = (("format", "a"), ("pattern", "matching"))
    bounds += [f"{words} `{schema[key]}`" for key, words in shapes if key in schema]
    return ", ".join([f"`{kinds}`", *bounds])


def _table(heads: list[str], rows: list[str]) -> str:
    head = "| " + " | ".join(heads) + " |"
    rule = "| " + " | ".join("---" for _ in heads) + " |"
    return "\n".join([head, rule, *rows, ""])


def _cell(words: str) -> str:
    """Words that fit in one table cell: a `|` would end it."""
    return words.replace("|", "\\|").replace("\n", " ")
