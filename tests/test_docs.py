"""The README's CLI reference names every command, so it cannot drift from the CLI."""

from pathlib import Path

from workbench.cli import app

README = Path(__file__).parents[1] / "README.md"


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
