"""LLM enrichment jobs (vLLM): engine, batch jobs, item attributes, synthetic edges, embeddings."""
