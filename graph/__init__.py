"""The graph room: DuckDB store, ingest, splits, graph views, models, training, evaluation.

`graph` imports no other room; `augment`, `profiles` and `app` build on it.
"""
