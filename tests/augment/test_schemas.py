"""The grammar's JSON schema: long string bounds as chunk patterns that xgrammar compiles and
enforces (at most the schema's bound), short bounds and everything else as the schema has
them."""

from __future__ import annotations

import json
import re

import pytest

from workbench.augment.schemas import (
    LONG_TEXT, ItemProfile, MovieAttributes, UserProfile, grammar_schema, long_text_pattern,
)

LIMIT = 400 // 20 * 20 - 1  # what the pattern of a 400-character bound lets through


def test_long_strings_become_patterns_and_short_ones_keep_their_bound():
    profile = grammar_schema(ItemProfile)["properties"]
    assert set(profile) == {"summary", "reasoning"}
    for field in profile.values():
        assert "maxLength" not in field and field["pattern"] == long_text_pattern(400)
    user = grammar_schema(UserProfile)["properties"]
    assert user["summary"]["pattern"] and user["age_range"]["maxLength"] == 20
    assert grammar_schema(MovieAttributes) == MovieAttributes.model_json_schema()
    assert all(f.get("maxLength", 0) < LONG_TEXT for f in
               MovieAttributes.model_json_schema()["properties"].values())


def test_the_pattern_takes_texts_up_to_the_bound_and_no_escapes():
    pattern = re.compile(long_text_pattern(400))
    for n in (0, 1, 19, 20, 21, LIMIT - 1, LIMIT, LIMIT + 1, 400, 401):
        assert bool(pattern.fullmatch(("plain words, 'quoted' " * 30)[:n])) == (n <= LIMIT)
    for text in ('a "quoted" word', "a\nnewline", "a \\ backslash"):
        assert not pattern.fullmatch(json.dumps(text)[1:-1])  # as the model would write it


def test_xgrammar_compiles_and_enforces_the_long_text_bound(tiny_model):
    """The engine's grammar backend reads the pattern as we do: a profile whose text is at
    the bound is accepted and completes the JSON; one character more, or a quote, is
    refused where it is written."""
    xgrammar = pytest.importorskip("xgrammar")
    from transformers import AutoTokenizer

    info = xgrammar.TokenizerInfo.from_huggingface(AutoTokenizer.from_pretrained(tiny_model))
    compiled = xgrammar.GrammarCompiler(info).compile_json_schema(
        json.dumps(grammar_schema(ItemProfile)), any_whitespace=False)

    def accepts(summary: str) -> bool:
        matcher = xgrammar.GrammarMatcher(compiled)
        answer = json.dumps({"summary": summary, "reasoning": "short"})
        return matcher.accept_string(answer) and matcher.is_completed()

    text = ("A film for patient viewers who like slow, 'quiet' dramas. " * 10)[:LIMIT]
    assert accepts(text) and accepts("")
    ItemProfile.model_validate_json(json.dumps({"summary": text, "reasoning": "short"}))
    assert not accepts(text + "x")
    assert not accepts('a "quoted" word')
