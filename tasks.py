#!/usr/bin/env python3
"""Set up and run inferwatch's demo, tests and benchmarks with nothing but python3.

    python3 tasks.py demo    # create .venv, install, run the demo
    python3 tasks.py test    # everything CI runs: lint, the suites, every Python, oldest deps
    python3 tasks.py lint    # ruff and mypy --strict, core and every integration
    python3 tasks.py bench   # run every benchmark in benchmarks/

The atheris fuzzers (tests/fuzz) run inside the core suite in .venv, which has the
``fuzz`` group, each for INFERWATCH_FUZZ_SECONDS (tests/fuzz/test_fuzz.py).

Environments are made and filled by uv (installed from PyPI into .venv-tools on
first use), which resolves a whole environment at once, installs from its cache
in seconds, and resolves the lowest versions pyproject.toml allows
(``--resolution lowest-direct``) for the oldest-dependencies run:

    .venv          python3, newest dependencies, core + integrations + tools
    .venv-py3XX    each other Python 3.10-3.13 this machine has (pyenv's too): core suite
    .venv-oldest   the oldest Python found, lowest declared versions: core and integrations
    .venv-bentoml  BentoML's integration, with the pins that resolve together

They are reused, and reinstalled only when a pyproject.toml (or what is asked
for) changes. A suite that fails, or runs no test (pytest's exit code 5), fails
the whole command.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
UV_REQUIREMENT = "uv>=0.8,<1"
INTEGRATIONS = sorted(p.parent for p in (ROOT / "integrations").glob("*/pyproject.toml"))
# BentoML 1.4 pins OpenTelemetry instrumentation packages that would downgrade the
# SDK in the main environment, so its integration is tested in an environment of
# its own, with the pins that resolve together.
ISOLATED = {"bentoml"}
BENTOML_PINS = [
    "bentoml==1.4.40",
    "opentelemetry-api==1.45.1",
    "opentelemetry-sdk==1.45.1",
    "opentelemetry-exporter-otlp-proto-http==1.45.1",
    "opentelemetry-semantic-conventions==0.66b1",
]
# The user extras every test environment gets (the suites test them all).
CORE_EXTRAS = "fast,gpu,otlp,otlp-grpc,profiles,redis,slo,system"


def _python(env_dir: Path) -> Path:
    return env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"


def _run(*cmd: object, cwd: Path = ROOT, env: dict[str, str] | None = None) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=cwd, env=env)


def _check(*cmd: object, env: dict[str, str] | None = None) -> None:
    code = _run(*cmd, env=env)
    if code != 0:
        sys.exit(f"command failed with exit code {code}")


def _uv() -> Path:
    """uv, installed with pip from PyPI into .venv-tools on first use."""
    tools = ROOT / ".venv-tools"
    uv = tools / ("Scripts" if os.name == "nt" else "bin") / "uv"
    if not uv.exists():
        print("installing uv into .venv-tools ...", flush=True)
        venv.create(tools, with_pip=True)
        _check(_python(tools), "-m", "pip", "install", "--quiet", UV_REQUIREMENT)
    return uv


def _uv_env() -> dict[str, str]:
    # Only the interpreters this machine has: uv never downloads one.
    return {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}


def _stamp(*parts: str) -> str:
    digest = hashlib.sha256(" ".join(parts).encode())
    for path in [ROOT / "pyproject.toml", *(p / "pyproject.toml" for p in INTEGRATIONS)]:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_env(
    name: str, install: list[str], base_python: str | None = None, resolution: str = "highest"
) -> Path:
    """A virtual environment at ROOT/name holding ``install`` (uv pip install arguments).

    ``base_python`` is the interpreter to build it on (default: this one);
    ``resolution`` is uv's: ``highest``, or ``lowest-direct`` for the lowest
    versions the requirements allow. An environment that changes is updated in
    place (others may be using it), except a lowest-direct one, made anew so that
    nothing newer is left in it.
    """
    env_dir = ROOT / name
    python = _python(env_dir)
    base = base_python or sys.executable
    stamp_file = env_dir / ".inferwatch-stamp"
    stamp = _stamp(base, resolution, *install)
    if python.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return python
    uv = _uv()
    if resolution != "highest" and env_dir.exists():
        shutil.rmtree(env_dir)
    if not python.exists():
        print(f"creating {name} ...", flush=True)
        _check(uv, "venv", "--quiet", "--python", base, env_dir, env=_uv_env())
    _check(uv, "pip", "install", "--quiet", "--python", python, "--resolution", resolution,
           *install, env=_uv_env())
    stamp_file.write_text(stamp)
    return python


def _groups(project: Path, *names: str) -> list[str]:
    args: list[str] = []
    for name in names:
        args += ["--group", f"{project / 'pyproject.toml'}:{name}"]
    return args


def main_env() -> Path:
    install = ["-e", f"{ROOT}[{CORE_EXTRAS}]", *_groups(ROOT, "dev")]
    for integration in INTEGRATIONS:
        if integration.name not in ISOLATED:
            install += ["-e", str(integration), *_groups(integration, "test", "lint")]
    return ensure_env(".venv", install)


def python_env(version: str, base: str) -> Path:
    """The core with its test tools, and the integrations its suite drives (the ASGI
    tests use FastAPI's, the PII canaries gRPC's)."""
    install = ["-e", f"{ROOT}[{CORE_EXTRAS}]", *_groups(ROOT, "test", "serving")]
    for integration in INTEGRATIONS:
        if integration.name not in ISOLATED:
            install += ["-e", str(integration), *_groups(integration, "test")]
    return ensure_env(f".venv-py{version.replace('.', '')}", install, base)


def bentoml_env() -> Path:
    integration = ROOT / "integrations" / "bentoml"
    install = [*BENTOML_PINS, "-e", f"{ROOT}[fast,otlp]", *_groups(ROOT, "test"),
               "-e", str(integration), *_groups(integration, "test")]
    return ensure_env(".venv-bentoml", install)


def oldest_env() -> tuple[Path, str]:
    """The lowest versions pyproject.toml declares (uv's lowest-direct resolution),
    on the oldest supported Python this machine has."""
    found = _pythons()
    version, base = found[0] if found else (sys.version.split()[0], sys.executable)
    # Every user extra at its lowest too; the test tools only (the serving group's
    # servers and anchors are tools, and their oldest releases lack what the tests use).
    install = ["-e", f"{ROOT}[{CORE_EXTRAS}]", *_groups(ROOT, "test")]
    for integration in INTEGRATIONS:  # grpcio 1.60, fastapi 0.110 (starlette 0.36) ...
        if integration.name not in ISOLATED:
            install += ["-e", str(integration), *_groups(integration, "test")]
    return ensure_env(".venv-oldest", install, base, "lowest-direct"), f"Python {version}"


def _pythons() -> list[tuple[str, str]]:
    """(version, interpreter) of each supported Python this machine has, oldest first."""
    found = []
    for version in PYTHONS:
        python = _find_python(version)
        if python is not None:
            found.append((version, python))
    return found


def _find_python(version: str) -> str | None:
    """An interpreter of ``version`` that really runs (a pyenv shim may not)."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return sys.executable
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


# Run in an environment holding the core alone (no extras, no test tools): every
# module imports, a monitored call works, and OTLP export without its extra fails
# with an error naming the extra.
BARE_CHECK = """
import importlib, pkgutil, inferwatch
for module in pkgutil.walk_packages(inferwatch.__path__, "inferwatch."):
    importlib.import_module(module.name)
monitor = inferwatch.Monitor(log_sink="none", metrics_exporter="none")
predict = inferwatch.monitor(model="bare", monitor=monitor)(lambda x: 2 * x)
assert predict(21) == 42
monitor.shutdown()
for options in ({"metrics_exporter": "otlp"}, {"log_sink": "otlp", "metrics_exporter": "none"}):
    try:
        inferwatch.Monitor(**options).shutdown()
    except inferwatch.MissingDependencyError as exc:
        assert "inferwatch[otlp]" in str(exc), exc
    else:
        raise AssertionError(f"{options} without the otlp extra did not say what to install")
print("core without extras: every module imports, a monitored call works")
"""


def check_wheels() -> int:
    """Build every package's wheel (uv build, isolated) and check what it ships:
    the licence text and the SPDX licence expression."""
    import tempfile
    import zipfile

    failures = 0
    with tempfile.TemporaryDirectory() as out:
        for project in [ROOT, *INTEGRATIONS]:
            before = set(Path(out).glob("*.whl"))
            if _run(_uv(), "build", "--quiet", "--wheel", "-o", out, project,
                    env=_uv_env()) != 0:
                failures += 1
                continue
            (wheel,) = set(Path(out).glob("*.whl")) - before
            with zipfile.ZipFile(wheel) as archive:
                names = archive.namelist()
                metadata = next(archive.read(n).decode() for n in names
                                if n.endswith(".dist-info/METADATA"))
                licence = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
                text = archive.read(licence[0]).decode() if licence else ""
            problems = [
                problem for problem, bad in [
                    ("no LICENSE", "Apache License" not in text
                     or "Version 2.0, January 2004" not in text),
                    ("no License-Expression: Apache-2.0",
                     "License-Expression: Apache-2.0" not in metadata.splitlines()),
                ] if bad
            ]
            print(f"{wheel.name}: {', '.join(problems) or 'LICENSE and SPDX licence ok'}")
            failures += bool(problems)
    return 1 if failures else 0


def bare_env() -> Path:
    return ensure_env(".venv-bare", ["-e", str(ROOT)])


def _pytest(python: Path, *args: object, env: dict[str, str] | None = None) -> int:
    """pytest's exit code: 0 only when tests ran and passed (5, no tests, fails)."""
    return _run(python, "-m", "pytest", "-p", "no:cacheprovider", *args, env=env)


def demo(args: list[str]) -> int:
    python = main_env()
    return _run(python, ROOT / "examples" / "demo.py", *args)


def lint(args: list[str]) -> int:
    """ruff over everything, mypy --strict over the core and each integration."""
    python = main_env()
    failures = int(_run(python, "-m", "ruff", "check", "src", "tests", "benchmarks", "examples",
                        "integrations", "tasks.py") != 0)
    failures += _run(python, "-m", "mypy") != 0
    for integration in INTEGRATIONS:  # each with its own [tool.mypy] files
        print(f"== mypy: integrations/{integration.name} ==", flush=True)
        failures += _run(python, "-m", "mypy", cwd=integration) != 0
    return 1 if failures else 0


def test(args: list[str]) -> int:
    """Everything CI runs, in order: lint; core and integrations on the newest
    dependencies; BentoML's integration in its own environment; the core suite on
    each other supported Python; core and integrations on the lowest declared
    versions; the core without extras; the wheels. ``args`` go to the first pytest run."""
    started = time.monotonic()
    results: list[tuple[str, int, float]] = []

    def step(label: str, run: Callable[[], int]) -> None:
        print(f"== {label} ==", flush=True)
        t0 = time.monotonic()
        code = run()
        results.append((label, code, time.monotonic() - t0))

    step("ruff and mypy --strict", lambda: lint([]))
    python = main_env()
    suites = [ROOT / "tests", *(p / "tests" for p in INTEGRATIONS
                                if p.name not in ISOLATED and (p / "tests").is_dir())]
    main_version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    # Everything is installed here: a skip would hide a missing package or server.
    step(f"core and integrations, Python {main_version}, newest dependencies",
         lambda: _pytest(python, *suites, *args, env={**os.environ, "INFERWATCH_NO_SKIPS": "1"}))
    step("BentoML integration, in its own environment",
         lambda: _pytest(bentoml_env(), "-q", ROOT / "integrations" / "bentoml" / "tests"))
    def core_on(version: str, base: str) -> Callable[[], int]:
        return lambda: _pytest(python_env(version, base), "-q", ROOT / "tests")

    for version, base in _pythons():
        if version != main_version:
            step(f"core suite, Python {version}, newest dependencies", core_on(version, base))
    missing = sorted(set(PYTHONS) - {v for v, _ in _pythons()})
    if missing:
        print(f"(not on this machine, not tested: Python {', '.join(missing)})", flush=True)

    def oldest() -> int:
        old, label = oldest_env()
        _run(_uv(), "pip", "list", "--python", old, env=_uv_env())  # what was resolved
        print(f"(lowest declared versions, {label})", flush=True)
        return _pytest(old, "-q", *suites)

    step("core and integrations, lowest declared dependency versions", oldest)
    step("core without extras", lambda: _run(bare_env(), "-c", BARE_CHECK))
    step("wheels: licence and metadata", check_wheels)

    print("\n== summary ==")
    for label, code, seconds in results:
        print(f"{'ok  ' if code == 0 else 'FAIL'} {seconds:7.1f} s  {label}"
              + ("" if code == 0 else f" (exit code {code})"))
    failed = sum(code != 0 for _, code, _ in results)
    print(f"total {time.monotonic() - started:.0f} s;",
          f"{failed} step(s) failed" if failed else "all steps passed", flush=True)
    return 1 if failed else 0


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


COMMANDS = {"demo": demo, "test": test, "bench": bench, "lint": lint}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
