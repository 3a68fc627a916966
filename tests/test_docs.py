"""The docs cannot drift from the code: the README names every command and keeps its size,
every docs link resolves, the settings page equals the settings, and the README's quick
commands run on toy data."""

import re
from pathlib import Path

from typer.testing import CliRunner

from workbench.cli import app
from workbench.reference import settings_reference

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))


def command_names(typer_app) -> set[str]:
    names = {c.name for c in typer_app.registered_commands}
    for group in typer_app.registered_groups:
        names |= {f"{group.name} {n}" for n in command_names(group.typer_instance)}
    return names


def test_every_command_is_in_the_readme():
    text = README.read_text()
    for name in command_names(app):
        assert f"`workbench {name}" in text, f"README lacks `workbench {name}`"


def test_every_command_has_help():
    for command in app.registered_commands:
        assert (command.callback.__doc__ or "").strip(), command.name


def test_the_readme_stays_short():
    assert len(README.read_text().encode()) <= 8 * 1024


def test_every_link_of_the_readme_and_docs_resolves():
    for page in [README, *DOCS]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
    linked = set(re.findall(r"\(docs/([^)]+\.md)\)", README.read_text()))
    assert {p.name for p in DOCS} - {"results.md"} <= linked | {"results.md"}


def test_settings_page_is_generated_from_the_settings():
    assert (ROOT / "docs" / "settings.md").read_text() == settings_reference()


def test_readme_quick_commands_run_on_toy_data(workbench_home):
    """`Your own data`'s commands, on the bundled toy catalogue instead of Amazon-Beauty (the
    text encoder is replaced by fixed vectors: its real path is tested in tests/augment)."""
    import numpy as np

    from workbench.data import TOY_DIR
    from workbench.store import Store
    from tests.graph.helpers import fake_profile_embeddings

    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(TOY_DIR), "--split", "loo"]).exit_code == 0
    with Store.open(workbench_home / "workbench.duckdb") as store:
        fake_profile_embeddings(store, "item", 24, dim=8, every=1, source_kind="item-text")
    result = runner.invoke(app, ["graph", "build", "--codebook-size", "4"])
    assert result.exit_code == 0, result.output
    assert "enriched graph of toy" in result.output
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 0, result.output
    assert "connected components" in result.output and "code:1" in result.output
    result = runner.invoke(app, ["experiment", "ablation", "--variants",
                                 "base,base-softmax,+lang,+attr", "--seeds", "2", "--epochs",
                                 "2", "--set", "min_epochs=1", "--set", "eval_every=1",
                                 "--no-tune"])
    assert result.exit_code == 0, result.output
    assert "+lang" in result.output and "95% CI" in result.output
    assert np.isfinite(float(re.findall(r"\+lang\s.*?(\d\.\d{4}) ±", result.output)[0]))
