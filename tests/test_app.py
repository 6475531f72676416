"""The Litestar application as built by create_app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from litestar import Litestar

from homesync.app import create_app
from tests.helpers import make_settings


def test_no_pydantic_plugin(tmp_path: Path) -> None:
    """homesync's wire types are msgspec Structs: the app carries no pydantic plugin, and
    building it imports no pydantic. The override relies on Litestar calling its private
    ``_get_default_plugins`` from ``__init__``; this fails if an upgrade stops doing so."""
    assert callable(getattr(Litestar, "_get_default_plugins", None))
    app = create_app(make_settings(tmp_path / "data"))
    assert not [p for p in app.plugins if "pydantic" in type(p).__module__]
    code = ("import sys, tempfile; from pathlib import Path; "
            "from homesync.app import create_app; from tests.helpers import make_settings; "
            "create_app(make_settings(Path(tempfile.mkdtemp()) / 'data')); "
            "print('pydantic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "False"
