"""The enrichment workbench: settings and the `workbench` command.

The rooms (`graph`, `augment`, `profiles`, `app`) are top-level packages; this package holds
only what every room may import (settings) and the thin CLI that composes their commands.
"""

__version__ = "0.1.0"
