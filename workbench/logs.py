"""Where engine and library logs go: ``$WORKBENCH_HOME/logs/workbench.log`` by default, the
terminal with ``-v``. The terminal shows the workbench's own lines (progress, tables, one-line
errors) and nothing of vLLM's start-up chatter unless asked for."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NOISY = ("vllm", "transformers", "sentence_transformers", "httpx", "filelock", "urllib3",
         "xgrammar", "ray", "workbench")  # workbench: unexpected errors' tracebacks

_state = {"verbose": False, "file": None, "path": None}


def verbose() -> bool:
    """Whether the user asked for logs and tracebacks (``workbench -v``)."""
    return bool(_state["verbose"])


def log_file() -> Path:
    from workbench.settings import get_settings

    folder = get_settings().home_dir / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "workbench.log"


def log_path() -> str:
    """The log file's path for a message (never raises: the home may be what failed)."""
    try:
        return str(log_file())
    except Exception:  # noqa: BLE001
        return "$WORKBENCH_HOME/logs/workbench.log"


def quiet(*names: str) -> None:
    """Send these loggers to the log file (unless ``-v``): for libraries that install their
    own terminal handlers when imported (Ray Data does)."""
    if verbose():
        return
    for name in names:
        logger = logging.getLogger(name)
        logger.propagate = False
        logger.handlers = [_LazyFileHandler()]


def configure(verbose: bool) -> None:
    """Quiet by default: the noisy libraries log to the log file (opened on first use)."""
    _state["verbose"] = verbose
    if verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
        return
    os.environ.setdefault("VLLM_CONFIGURE_LOGGING", "0")  # vLLM: no handler of its own
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    # library progress bars (model conversion, weight loading): the workbench shows its own
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    for name in NOISY:
        logger = logging.getLogger(name)
        logger.propagate = False
        logger.handlers = [_LazyFileHandler()]
    logging.getLogger("vllm").setLevel(logging.INFO)  # its start-up facts, in the file


class _LazyFileHandler(logging.Handler):
    """Opens the log file at the first record, so commands that log nothing create none (and
    the current home's file, should the home change within a process)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            path = log_file()
            if _state["file"] is None or _state["path"] != path:
                if _state["file"] is not None:
                    _state["file"].close()
                _state["file"] = open(path, "a", encoding="utf-8")  # noqa: SIM115
                _state["path"] = path
            _state["file"].write(self.format(record) + "\n")
            _state["file"].flush()
        except Exception:  # noqa: BLE001 - a log that cannot be written must not stop work
            pass


@contextmanager
def native_output_to_log() -> Iterator[None]:
    """Send what native code (vLLM's C++ start-up, OpenMP) prints to the log file for the
    length of the block; nothing changes with ``-v`` or where the log cannot be opened."""
    if verbose():
        yield
        return
    try:
        target = open(log_file(), "ab")  # noqa: SIM115
    except OSError:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(target.fileno(), 1)
        os.dup2(target.fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        target.close()


def teardown_output_to_log() -> bool:
    """From here to the end of the process, what is written to stderr goes to the log file
    (for the interpreter's teardown); whether the log could be opened."""
    try:
        target = open(log_file(), "ab")  # noqa: SIM115 - open until the process ends
    except Exception:  # noqa: BLE001
        return False
    sys.stderr.flush()
    os.dup2(target.fileno(), 2)
    return True
