"""The bundled default dataset: MovieLens-100K as shipped inside the PyPI ``recbole`` wheel.

Our repository must not carry MovieLens (its terms forbid redistribution), so the files are
read from an installed ``recbole`` distribution (``pip install --no-deps recbole``, which our
setup does), or else the wheel is fetched once from the package registry into the cache.
The package is never imported: only its data files are read.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from workbench.graph.ingest.source import IngestError

RECBOLE_VERSION = "1.2.1"
ML100K_IN_WHEEL = "recbole/dataset_example/ml-100k"
ML100K_FILES = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")


def movielens_100k(cache_dir: Path) -> Path:
    """A folder holding ``ml-100k.{inter,item,user}``."""
    try:
        dist = importlib.metadata.distribution("recbole")
        folder = Path(str(dist.locate_file(ML100K_IN_WHEEL)))
        if all((folder / f).exists() for f in ML100K_FILES):
            return folder
    except importlib.metadata.PackageNotFoundError:
        pass
    target = cache_dir / "ml-100k"
    if all((target / f).exists() for f in ML100K_FILES):
        return target
    return _extract_from_wheel(cache_dir, target)


def _extract_from_wheel(cache_dir: Path, target: Path) -> Path:
    wheel_dir = cache_dir / "wheels"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    wheels = sorted(wheel_dir.glob(f"recbole-{RECBOLE_VERSION}-*.whl"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               f"recbole=={RECBOLE_VERSION}", "-d", str(wheel_dir)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(wheel_dir.glob(f"recbole-{RECBOLE_VERSION}-*.whl"))
        if done.returncode != 0 or not wheels:
            raise IngestError("ml-100k", "the default dataset comes from the `recbole` wheel, "
                              "which is not installed and could not be downloaded; run "
                              f"`pip install --no-deps recbole=={RECBOLE_VERSION}` "
                              f"({done.stderr.strip()[-300:]})")
    tmp = target.with_suffix(".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with zipfile.ZipFile(wheels[-1]) as wheel:
        for name in ML100K_FILES:
            (tmp / name).write_bytes(wheel.read(f"{ML100K_IN_WHEEL}/{name}"))
    tmp.rename(target)
    return target
