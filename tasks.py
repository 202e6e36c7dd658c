#!/usr/bin/env python3
"""Set up and run inferwatch's demo, tests and benchmarks with nothing but python3.

    python3 tasks.py demo    # create .venv, install, run the demo
    python3 tasks.py test    # create the test environments, run the whole suite
    python3 tasks.py bench   # run every benchmark in benchmarks/
    python3 tasks.py lint    # ruff and mypy --strict

Virtual environments live in .venv (newest dependencies) and .venv-oldest (the
oldest supported OpenTelemetry SDK, on Python 3.10 where the machine has it);
they are reused, and reinstalled only when a pyproject.toml changes.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
OLDEST_OTEL = "1.27.0"
# The lower bounds pyproject.toml declares, tested as such.
OLDEST_OTHERS = ["numpy==1.24.4", "structlog==23.1.0", "wrapt==1.15.0", "orjson==3.9.0"]
INTEGRATIONS = sorted(p.parent for p in (ROOT / "integrations").glob("*/pyproject.toml"))
# BentoML 1.4 pins OpenTelemetry instrumentation packages that would downgrade the
# SDK in the main environment, so its integration is tested in an environment of
# its own, with the pins that resolve together (pip check is clean).
ISOLATED = {"bentoml"}
BENTOML_PINS = [
    "bentoml==1.4.40",
    "opentelemetry-api==1.45.1",
    "opentelemetry-sdk==1.45.1",
    "opentelemetry-exporter-otlp-proto-http==1.45.1",
    "opentelemetry-semantic-conventions==0.66b1",
]


def _python(env_dir: Path) -> Path:
    return env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"


def _run(*cmd: object, cwd: Path = ROOT, env: dict[str, str] | None = None) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=cwd, env=env)


def _check(*cmd: object) -> None:
    code = _run(*cmd)
    if code != 0:
        sys.exit(f"command failed with exit code {code}")


def _requirements_stamp(extra: str) -> str:
    digest = hashlib.sha256(extra.encode())
    for path in [ROOT / "pyproject.toml", *(p / "pyproject.toml" for p in INTEGRATIONS)]:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_env(
    name: str, packages: list[str], extra_key: str = "", base_python: str | None = None
) -> Path:
    """A virtual environment at ROOT/name with the project and ``packages`` installed.

    ``base_python`` is another interpreter to build it with (default: this one).
    """
    env_dir = ROOT / name
    python = _python(env_dir)
    stamp_file = env_dir / ".inferwatch-stamp"
    stamp = _requirements_stamp(f"{extra_key} {base_python} " + " ".join(packages))
    if python.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return python
    if not python.exists():
        print(f"creating {name} ...", flush=True)
        if base_python:
            _check(base_python, "-m", "venv", env_dir)
        else:
            venv.create(env_dir, with_pip=True)
    _check(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _check(python, "-m", "pip", "install", "--quiet", *packages)
    stamp_file.write_text(stamp)
    return python


def main_env() -> Path:
    packages = ["-e", f"{ROOT}[test,fast,dev,profiles,serving]"]
    for integration in INTEGRATIONS:
        if integration.name not in ISOLATED:
            packages += ["-e", f"{integration}[test]"]
    return ensure_env(".venv", packages)


def bentoml_env() -> Path:
    integration = ROOT / "integrations" / "bentoml"
    python = ensure_env(".venv-bentoml", [*BENTOML_PINS, "-e", f"{ROOT}[test]"], "bentoml")
    stamp = python.parent.parent / ".inferwatch-bentoml-integration"
    if not stamp.exists():  # --no-deps: its bentoml range is already satisfied by the pins
        _check(python, "-m", "pip", "install", "--quiet", "--no-deps", "-e", integration)
        stamp.write_text("installed")
    return python


def oldest_env() -> tuple[Path, str]:
    """The oldest supported OpenTelemetry SDK and the declared lower bounds of the
    other dependencies, on the oldest supported Python when this machine has it
    (python3.10), else on this interpreter."""
    pins = [f"opentelemetry-api=={OLDEST_OTEL}", f"opentelemetry-sdk=={OLDEST_OTEL}",
            f"opentelemetry-exporter-otlp-proto-http=={OLDEST_OTEL}", *OLDEST_OTHERS]
    base = _find_python("3.10")
    python = ensure_env(".venv-oldest", ["-e", f"{ROOT}[test,fast]", *pins], "oldest", base)
    return python, f"Python {'3.10' if base else sys.version.split()[0]}"


def _find_python(version: str) -> str | None:
    """An interpreter of ``version`` that really runs (a pyenv shim may not)."""
    pyenv = os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python3")
    candidates = [shutil.which(f"python{version}"), *sorted(glob.glob(pyenv))]
    wanted = str(tuple(int(part) for part in version.split(".")))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys, venv; print(sys.version_info[:2])"],
            capture_output=True, text=True, check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == wanted:
            return candidate
    return None


def demo(args: list[str]) -> int:
    python = main_env()
    return _run(python, ROOT / "examples" / "demo.py", *args)


def test(args: list[str]) -> int:
    """The whole suite: core + integrations on the newest dependencies, then the
    core's OpenTelemetry-facing tests on the oldest supported SDK."""
    python = main_env()
    failures = 0
    suites = [ROOT / "tests", *(p / "tests" for p in INTEGRATIONS
                                if p.name not in ISOLATED and (p / "tests").is_dir())]
    code = _run(python, "-m", "pytest", *suites, *args)
    failures += code != 0  # exit code 5 (no tests ran) is a failure too
    bento = bentoml_env()
    print("== BentoML integration, in its own environment ==", flush=True)
    code = _run(bento, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                ROOT / "integrations" / "bentoml" / "tests")
    failures += code != 0
    old, label = oldest_env()
    print(f"== core suite on opentelemetry-sdk {OLDEST_OTEL}, {', '.join(OLDEST_OTHERS)}, "
          f"{label} ==", flush=True)
    code = _run(old, "-m", "pytest", ROOT / "tests", "-q", "-p", "no:cacheprovider")
    failures += code != 0
    print("test suites failed:" if failures else "all test suites passed", failures or "")
    return 1 if failures else 0


def bench(args: list[str]) -> int:
    python = main_env()
    failures = 0
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        runner = python
        if script.name == "bench_drift_anchors.py":
            # Evidently and whylogs live in an environment of their own.
            if _run(python, script, "--setup") != 0:
                failures += 1
                continue
            runner = _python(ROOT / ".venv-anchors")
        failures += _run(runner, script, *args) != 0
    return 1 if failures else 0


def lint(args: list[str]) -> int:
    python = main_env()
    code = _run(python, "-m", "ruff", "check", "src", "tests", "benchmarks", "examples")
    return code or _run(python, "-m", "mypy")


COMMANDS = {"demo": demo, "test": test, "bench": bench, "lint": lint}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
