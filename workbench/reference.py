"""Every setting with its default and description, from the pydantic models themselves (the
field descriptions are the documentation): ``workbench settings`` and ``docs/settings.md``."""

from __future__ import annotations

from pydantic import BaseModel


def _sections() -> list[tuple[str, str, type[BaseModel]]]:
    from workbench.augment.backends import BackendSettings
    from workbench.augment.engine import EngineSettings, SamplingSettings
    from workbench.graph.train import TrainConfig
    from workbench.settings import WorkbenchSettings

    return [
        ("Workbench", "environment `WORKBENCH_<NAME>`", WorkbenchSettings),
        ("LLM engine", "environment `WORKBENCH_LLM_<NAME>`", EngineSettings),
        ("Where jobs run", "environment `WORKBENCH_<NAME>`, or the job commands' `--backend`, "
                           "`--ray-address`, `--replicas`", BackendSettings),
        ("Sampling", "per job kind; recorded with every job", SamplingSettings),
        ("Training", "`workbench train --set NAME=VALUE` (also the ablation's)", TrainConfig),
    ]


def settings_reference() -> str:
    """The settings reference as Markdown."""
    out = ["# Settings reference", "",
           "Generated from the settings classes (`workbench settings` prints the same); a test "
           "keeps this page equal to them.", ""]
    for title, how, model in _sections():
        out += [f"## {title} ({model.__name__})", "", f"Set through {how}.", "",
                "| name | default | description |", "|---|---|---|"]
        for name, field in model.model_fields.items():
            default = field.get_default(call_default_factory=True)
            text = (field.description or "").replace("|", "\\|")
            out.append(f"| `{name}` | `{default}` | {text} |")
        out.append("")
    return "\n".join(out)
