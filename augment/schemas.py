"""Output schemas of the LLM jobs, as pydantic models.

Each schema is sent to vLLM as a JSON schema (structured outputs; long texts' bounds as
patterns, :func:`grammar_schema`), and every answer is validated against the schema itself
before it is stored: output that fails is a rejected attempt, never data.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Annotated, Any

from pydantic import BaseModel, Field

# Every string has a length bound: under structured outputs the grammar then forces each
# string (and so the JSON) to close, instead of a weak model running on until max_tokens.
Short = Annotated[str, Field(max_length=40)]


class MovieAttributes(BaseModel):
    """LLMRec's item attributes for movies."""

    director: str = Field(max_length=80)
    country: str = Field(max_length=40)
    language: str = Field(max_length=40)
    release_year: int = Field(ge=1870, le=2030)
    genres: list[Short] = Field(min_length=1, max_length=3)


class ProductAttributes(BaseModel):
    """Item attributes for retail products (Amazon-style catalogues)."""

    brand: str = Field(max_length=60)
    category: str = Field(max_length=60)
    product_type: str = Field(max_length=60)
    target_user: str = Field(max_length=80)
    key_features: list[Short] = Field(min_length=1, max_length=3)


class UserProfile(BaseModel):
    """LLMRec's profile fields plus RLMRec's summary with its reasoning."""

    age_range: str = Field(max_length=20)
    gender: str = Field(max_length=20)
    liked_genres: list[Short] = Field(max_length=5)
    disliked_genres: list[Short] = Field(max_length=5)
    liked_directors: list[Short] = Field(max_length=5)
    country: str = Field(max_length=40)
    language: str = Field(max_length=40)
    summary: str = Field(max_length=400)
    reasoning: str = Field(max_length=400)


class ItemProfile(BaseModel):
    """RLMRec's item profile: what kind of user would enjoy it, and why."""

    summary: str = Field(max_length=400)
    reasoning: str = Field(max_length=400)


ATTRIBUTE_SCHEMAS: dict[str, type[BaseModel]] = {
    "movie": MovieAttributes,
    "product": ProductAttributes,
}


#: Strings bounded at this many characters or more reach the grammar as a pattern of chunks
#: instead of ``maxLength``: xgrammar expands ``{0,400}`` into 400 positions, each a grammar
#: state whose token mask it cannot cache, and an item-profile job (two texts of up to 400
#: characters) decoded at 101-109 tok/s; as chunks of 20, 395-406 tok/s, 32/32 valid either
#: way. xgrammar matches a JSON string's pattern without escapes, so such a text has no
#: double quote, backslash or line break (the model writes single quotes instead).
LONG_TEXT = 100
_CHUNK = 20
_CHAR = r'[^"\\\x00-\x1f]'  # what xgrammar lets a patterned JSON string hold


def long_text_pattern(max_length: int) -> str:
    """A regex for strings of at most ``max_length`` characters (as chunks: at most
    ``max_length // 20 * 20 - 1``, a bound a little under the schema's, never over it)."""
    chunks = max_length // _CHUNK
    return f"^(?:{_CHAR}{{{_CHUNK}}}){{0,{chunks - 1}}}{_CHAR}{{0,{_CHUNK - 1}}}$"


@functools.cache
def grammar_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema the engine's grammar is built from: ``schema``'s, with every long
    string bound (:data:`LONG_TEXT`) written as :func:`long_text_pattern`. Answers are still
    validated against ``schema`` itself. Built once per schema (read it, do not change it)."""
    def rewrite(node: Any) -> Any:
        if isinstance(node, list):
            return [rewrite(n) for n in node]
        if not isinstance(node, dict):
            return node
        node = {k: rewrite(v) for k, v in node.items()}
        if (node.get("type") == "string" and node.get("maxLength", 0) >= LONG_TEXT
                and not node.keys() & {"pattern", "format", "enum", "const", "minLength"}):
            node["pattern"] = long_text_pattern(node.pop("maxLength"))
        return node
    return rewrite(schema.model_json_schema())


def smallest_answer(schema: type[BaseModel]) -> str:
    """The shortest JSON text ``schema`` accepts, compact (required fields only, empty or
    minimal values): what an answer needs at the least, to check a token budget against
    before any engine starts. A schema no value can satisfy (a minimum above its maximum)
    raises ``ValueError``."""
    json_schema = schema.model_json_schema()
    value = _smallest(json_schema, json_schema.get("$defs", {}))
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _smallest(node: dict[str, Any], defs: dict[str, Any]) -> Any:
    if "$ref" in node:
        return _smallest(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return min(node["enum"], key=lambda v: len(json.dumps(v)))
    for key in ("anyOf", "oneOf"):
        if key in node:
            return min((_smallest(n, defs) for n in node[key]), key=lambda v: len(json.dumps(v)))
    kind = node.get("type")
    if kind == "object":
        props = node.get("properties", {})
        return {name: _smallest(props[name], defs) for name in node.get("required", [])}
    if kind == "array":
        n = _bounded(node, "minItems", "maxItems", 0)
        return [_smallest(node.get("items", {}), defs)] * n
    if kind == "string":
        return "a" * _bounded(node, "minLength", "maxLength", 0)
    if kind in ("integer", "number"):
        low = node.get("minimum", node.get("exclusiveMinimum", -math.inf) + 1)
        high = node.get("maximum", node.get("exclusiveMaximum", math.inf) - 1)
        if low > high:
            raise ValueError(f"no number is >= {low} and <= {high}")
        return int(min(max(0, low), high))
    return {"boolean": False, "null": None}.get(kind, 0)


def _bounded(node: dict[str, Any], low_key: str, high_key: str, default: int) -> int:
    low, high = node.get(low_key, default), node.get(high_key, math.inf)
    if low > high:
        raise ValueError(f"{low_key} {low} is above {high_key} {high}")
    return low
