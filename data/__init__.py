"""Small bundled data. MovieLens is *not* here (its terms forbid redistribution): the default
dataset is read from the PyPI ``recbole`` wheel, see ``graph.ingest.default``.

``toy/``: a tiny made-up movie catalogue in RecBole atomic format (30 users, 24 items), for
trying the commands in seconds and for tests: ``workbench ingest data/toy``.
"""

from pathlib import Path

DATA_DIR = Path(__file__).parent
TOY_DIR = DATA_DIR / "toy"
