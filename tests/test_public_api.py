"""What idr_kit declares public: every name in ``__all__`` is there, imported on first use, and
each public function documents its parameters, returns and errors (numpydoc)."""
from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import idr_kit


@pytest.mark.parametrize("name", idr_kit.__all__)
def test_every_public_name_resolves_and_is_documented(name):
    value = getattr(idr_kit, name)
    assert value is not None
    if inspect.isfunction(value) and value.__module__ == "idr_kit":
        doc = inspect.getdoc(value)
        for section in ("Parameters\n----------", "Returns\n-------", "Raises\n------"):
            assert section in doc, (name, section)
    elif inspect.isclass(value) or inspect.isfunction(value):
        assert inspect.getdoc(value), name


def test_the_public_names_are_the_kits_own_objects():
    from idr_kit.model.runtime import Runtime
    from idr_kit.run.pipeline import run
    from idr_kit.tracks import TRACKS, Track
    assert idr_kit.Track is Track and idr_kit.TRACKS is TRACKS and idr_kit.Runtime is Runtime
    assert idr_kit.run_pipeline is run
    with pytest.raises(AttributeError, match="no_such_name"):
        idr_kit.no_such_name


def test_importing_the_package_loads_no_layer():
    code = ("import sys, idr_kit\n"
            "print(sorted(m for m in sys.modules if m.startswith('idr_kit.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr
