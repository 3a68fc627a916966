"""`workbench demo`: the whole pipeline on the bundled default dataset, one line per stage.

Each stage is its own `workbench` command in its own process (a vLLM engine on CPU pins its
threads to the cores; a fresh process per stage keeps training off them). The terminal shows
one line per stage with its time, and each command's own summary (the stats table, job
summaries, the ablation table); engine and library logs go to ``$WORKBENCH_HOME/logs/``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Annotated

import typer

from workbench.console import console, fail


def stages(items: int, users: int, edge_users: int, seeds: int, epochs: int,
           base_epochs: int) -> list[tuple[str, list[str]]]:
    """(what, command) per stage, in order."""
    return [
        ("ingest MovieLens-100K", ["ingest"]),
        ("statistics", ["stats"]),
        ("prepare the bundled LLM", ["model", "prepare"]),
        (f"item attributes ({items} items)", ["augment", "item-attributes", "--limit", str(items)]),
        (f"item profiles ({items} items)", ["augment", "item-profiles", "--limit", str(items)]),
        (f"user profiles ({users} users)", ["augment", "user-profiles", "--limit", str(users)]),
        ("embed the item text (no LLM)", ["augment", "embed", "--source", "item-text"]),
        ("embed item attributes", ["augment", "embed", "--source", "item-attributes"]),
        ("embed user profiles", ["augment", "embed", "--source", "user-profiles"]),
        ("embed item profiles", ["augment", "embed", "--source", "item-profiles"]),
        ("enriched graph (attribute and semantic-ID nodes)", ["graph", "build"]),
        ("jobs", ["jobs"]),
        ("popularity baseline", ["train", "--model", "pop"]),
        (f"LightGCN ({base_epochs} epochs at most)",
         ["train", "--model", "lightgcn", "--epochs", str(base_epochs)]),
        (f"synthetic edges ({edge_users} users)",
         ["augment", "edges", "--run", "latest", "--limit", str(edge_users)]),
        (f"ablation of the LLM variants ({seeds} seeds, {epochs} epochs at most, the papers' "
         "weights: no tuning grid, to stay short)",
         ["experiment", "ablation", "--seeds", str(seeds), "--epochs", str(epochs),
          "--no-tune"]),
        ("runs", ["runs"]),
        ("user 1's top-10", ["recommend", "1", "--run", "latest"]),
    ]


def demo_command(
    items: Annotated[int, typer.Option(help="Items given LLM attributes and profiles.")] = 150,
    users: Annotated[int, typer.Option(help="Users given LLM profiles.")] = 32,
    edge_users: Annotated[int, typer.Option(help="Users given LLM synthetic edges.")] = 100,
    seeds: Annotated[int, typer.Option(help="Seeds per ablation variant.")] = 2,
    epochs: Annotated[int, typer.Option(help="Maximum epochs per ablation run.")] = 60,
    base_epochs: Annotated[int, typer.Option(
        help="Maximum epochs of the base LightGCN whose top-10 are the edge candidates.")] = 100,
) -> None:
    """Run the whole pipeline on MovieLens-100K: ingest, enrich, train, ablation."""
    plan = stages(items, users, edge_users, seeds, epochs, base_epochs)
    started = time.perf_counter()
    for n, (what, args) in enumerate(plan, start=1):
        console.rule(f"[bold]{n}/{len(plan)} {what}[/bold]", align="left")
        t0 = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", "workbench", *args])
        if code != 0:
            fail(f"stage {n} ({what}) failed: `workbench {' '.join(args)}` exited {code}; "
                 "its log is in $WORKBENCH_HOME/logs/workbench.log")
        console.print(f"[dim]{n}/{len(plan)} {what}: {time.perf_counter() - t0:.1f} s[/dim]")
    console.print(f"demo done in {(time.perf_counter() - started) / 60:.1f} min. Browse it: "
                  "`workbench app` (then open http://localhost:8501)")
