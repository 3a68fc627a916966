"""`workbench app`: start the Streamlit dashboard on the current workbench."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from workbench.errors import ConfigError

MAIN = Path(__file__).resolve().parent / "main.py"


def app_command(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8501,
    headless: Annotated[bool, typer.Option(help="Do not open a browser.")] = True,
) -> None:
    """Start the Streamlit dashboard (reads the store of $WORKBENCH_HOME, read-only)."""
    missing = [m for m in ("streamlit", "altair") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"the dashboard needs {' and '.join(missing)}: "
                          "pip install 'enrichment-workbench[app]'")
    cmd = [sys.executable, "-m", "streamlit", "run", str(MAIN), "--server.port", str(port),
           "--server.headless", str(headless).lower(), "--browser.gatherUsageStats", "false"]
    # The server becomes this process: stopping `workbench app` (Ctrl-C, a supervisor's
    # SIGTERM, a test's kill) stops the server, and no orphan keeps the port.
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, cmd)


def register(app: typer.Typer) -> None:
    app.command("app")(app_command)
