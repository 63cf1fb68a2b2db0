"""Properties the architecture says must hold."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from .conftest import REPO


def test_engine_imports_neither_textual_nor_the_ui():
    code = (
        "import sys, pkgutil, importlib, stop_tui.engine as e\n"
        "for m in pkgutil.walk_packages(e.__path__, 'stop_tui.engine.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.startswith(('textual', 'stop_tui.ui', 'litellm'))]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_pyproject_ships_every_package_and_pins_exactly():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(path.relative_to(REPO).parent.parts)
        for path in (REPO / "stop_tui").rglob("__init__.py")
    }
    assert on_disk <= listed, on_disk - listed
    for requirement in project["project"]["dependencies"] + project["project"]["optional-dependencies"]["test"]:
        assert "==" in requirement, requirement
    litellm = next(r for r in project["project"]["dependencies"] if r.startswith("litellm"))
    assert litellm.split("==")[1] not in ("1.82.7", "1.82.8")  # compromised upstream releases
