"""Output schemas of the LLM jobs, as pydantic models.

Each schema is sent to vLLM as a JSON schema (structured outputs), and every answer is
validated against it again before it is stored: output that fails is a rejected attempt,
never data.
"""

from __future__ import annotations

from typing import Annotated

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
