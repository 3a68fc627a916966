"""Amazon-style sequences plus item metadata.

``user_sequence.txt``: one line per user, ``USER ITEM ITEM ...`` in time order (no ratings or
timestamps: the position in the sequence becomes ``ts``, so leave-one-out by time works).
Item metadata is a RecBole ``.item`` file beside it (title, categories, brand, price, ...).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from workbench.graph.ingest.lightgcn import read_adjacency
from workbench.graph.ingest.recbole import read_items
from workbench.graph.ingest.formats import FormatSpec, register_format
from workbench.graph.ingest.source import IngestError, SourceData


def read_amazon(directory: Path) -> SourceData:
    seq = directory / "user_sequence.txt"
    if not seq.exists():
        raise IngestError(directory, "no user_sequence.txt here")
    frame = read_adjacency(seq, split=None, integer_ids=False).with_columns(
        pl.int_range(pl.len()).over("user_key").cast(pl.Float64).alias("ts")
    )
    source = SourceData(format="amazon", interactions=frame, files=[seq])
    item_files = sorted(directory.glob("*.item"))
    if len(item_files) > 1:
        raise IngestError(directory, "several .item files; keep one beside user_sequence.txt")
    if item_files:
        source.items = read_items(item_files[0])
        source.files.append(item_files[0])
    return source


register_format(FormatSpec('amazon', 'Amazon sequences: user_sequence.txt (time order) + a RecBole .item',
                           detect=lambda p: p.is_dir() and (p / "user_sequence.txt").exists(),
                           read=lambda path, columns: read_amazon(path)))
