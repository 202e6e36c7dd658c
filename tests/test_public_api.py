"""The public surface: exported names, and the README kept in step with the code."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import inferwatch
from inferwatch._catalogue import METRICS
from inferwatch._config import OPTIONS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_exported_names_are_exactly_the_intended_ones() -> None:
    assert sorted(inferwatch.__all__) == inferwatch.__all__
    assert set(inferwatch.__all__) == {
        "ConfigurationError", "InferenceRecord", "InferwatchError", "MissingDependencyError",
        "Monitor", "__version__", "configure", "current_record", "get_monitor", "gpu_stage",
        "monitor", "record_label", "record_labels", "record_outcome",
        "set_attribute", "set_attributes", "set_monitor", "stage",
    }
    for name in inferwatch.__all__:
        assert hasattr(inferwatch, name)


def test_core_import_is_light() -> None:
    import subprocess
    import sys

    code = ("import sys, inferwatch; heavy = [m for m in ('pandas', 'scipy', 'pyarrow', "
            "'polars', 'fastapi', 'grpc', 'bentoml') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_readme_documents_every_option() -> None:
    for option in OPTIONS:
        assert f"`{option.name}`" in README, option.name
        assert f"`{option.env}`" in README, option.env


def test_readme_documents_every_metric() -> None:
    # Import every module so that metrics registered by submodules are declared.
    for module in pkgutil.walk_packages(inferwatch.__path__, "inferwatch."):
        if module.name != "inferwatch.cli":
            importlib.import_module(module.name)
    for name in METRICS:
        assert f"`{name}`" in README, name


def test_label_functions_are_documented_and_import_nothing_of_labels() -> None:
    import subprocess
    import sys

    for name in ("record_label", "record_labels", "record_outcome"):
        assert (getattr(inferwatch, name).__doc__ or "").strip(), name
    code = ("import sys, inferwatch; print([m for m in sys.modules "
            "if m.startswith('inferwatch.labels')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
