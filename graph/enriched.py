"""The enriched graph: attribute and semantic-ID nodes, language-initialized items (views)."""
