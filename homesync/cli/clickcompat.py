"""The parts of click that homesync's CLI touches directly, from wherever typer takes them:
newer typer carries its own copy of click (its commands raise that copy's errors and keep
their contexts there), older typer runs on click itself."""

from __future__ import annotations

try:
    from typer._click.core import Context
    from typer._click.exceptions import UsageError
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - older typer
    from click.core import Context  # type: ignore[assignment, no-redef]
    from click.exceptions import UsageError  # type: ignore[assignment, no-redef]
    from click.globals import get_current_context  # type: ignore[assignment, no-redef]

__all__ = ["Context", "UsageError", "get_current_context"]
