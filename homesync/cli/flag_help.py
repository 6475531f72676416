"""Help that shows a flag as a flag: ``--json``, not ``--json <bool>``.

Newer typer's Rich help (0.2x: typer carries its own click) prints every option's type
after its name, flags included, so ``--json <bool>`` reads as if it took a value
(``--json true``); ``--help`` too. Typer has no setting for it, and the ``--help`` option is
made by typer, out of reach of ``typer.Option(metavar=...)``. Its plain help and typer 0.12
(on click) print no type for flags, which is what this restores.
"""

from __future__ import annotations

from typing import Any

__all__ = ["hide_flag_types"]


def hide_flag_types() -> None:
    """Make typer's Rich help print no type for flags (options that take no value).

    The one place homesync touches typer's internals for help: it wraps
    ``TyperOption.display_type_rich``, the type column of the Rich help. Fails safe: a typer
    without that method (0.12, or a later change) is left as it is, and options that take
    a value go through the original unchanged. tests/cli/test_help_metavars.py notices if
    flags show a type again.
    """
    try:
        from typer.core import TyperOption

        original = TyperOption.display_type_rich  # type: ignore[attr-defined]
    except (ImportError, AttributeError):  # pragma: no cover - typer without it
        return
    if getattr(original, "_hides_flag_types", False):
        return  # already wrapped (the CLI module imported twice, say)

    def display_type_rich(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(self, "is_flag", False):
            return None
        return original(self, *args, **kwargs)

    display_type_rich._hides_flag_types = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[attr-defined, method-assign]
