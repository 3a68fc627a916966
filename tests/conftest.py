"""Shared fixtures: every test gets its own WORKBENCH_HOME, so no test touches real state."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workbench.data import TOY_DIR
from workbench.graph.ingest import IngestOptions, ingest
from workbench.store import Store

SHARED_DATA = Path(os.environ.get("WORKBENCH_SHARED_DATA", Path(__file__).parents[2] / "shared" / "data"))


@pytest.fixture(autouse=True)
def workbench_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    return home


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store.open(tmp_path / "test.duckdb") as s:
        yield s


@pytest.fixture
def toy_store(store: Store, tmp_path: Path) -> Store:
    ingest(store, IngestOptions(path=TOY_DIR), tmp_path / "cache")
    return store


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def limit_file_size(max_bytes: int):
    """preexec_fn for a child process that cannot grow any file past ``max_bytes``: writes
    fail like on a full disk (EFBIG instead of ENOSPC; SIGXFSZ ignored so they return)."""
    import resource
    import signal

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return apply


def _children(pid: int) -> list[tuple[int, str]]:
    """Live (not zombie) child processes of ``pid``, with their command lines (Linux)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            fields = text[text.rfind(")") + 2:].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found.append((int(stat.parent.name), cmd.strip()[:120]))
        except (OSError, ValueError, IndexError):
            continue
    return found


def pytest_sessionfinish(session, exitstatus):
    """The suite leaves no process behind: a server, a job or a training run a test started
    and did not stop fails the run (vLLM's own engine process, which the session's shared
    engine holds until exit, is not ours to stop)."""
    left = [(p, c) for p, c in _children(os.getpid()) if "EngineCore" not in c
            and "vllm" not in c.lower()]
    if left and Path("/proc").exists():
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            "processes left behind by the tests: " + "; ".join(f"{p} {c}" for p, c in left),
            red=True)
        session.exitstatus = 1
