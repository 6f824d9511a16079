"""The README's set-up, run as a new user would: a clean clone, each interpreter, its bundled pip.

`make` builds the venv with whatever pip the interpreter bundles (Debian's python3 bundles pip
23.0.1, the oldest here), which only installs requirements/bootstrap.lock; the pinned pip then
installs the project's locks. Each case clones the committed tree (never this working venv), runs
the real Makefile targets, and checks that what got installed is exactly what the locks pin, and
that `make run` answers /healthz.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import REPO, free_port, skip_or_fail

# Interpreters a user may have: each minor version the project supports, and Debian's own python3.
MINORS = ("3.11", "3.12", "3.13")
DEBIAN_PYTHON = "/usr/bin/python3"

# Run by the venv's own python: what is installed that the locks do not pin, or pin otherwise.
_COMPARE = r"""
import importlib.metadata, json, re, sys
from packaging.markers import Marker
from packaging.utils import canonicalize_name

wanted = {}
for lock in sys.argv[1:]:
    for line in open(lock, encoding="utf-8"):
        match = re.match(r"^([A-Za-z0-9._-]+)==(\S+)(?:\s*;\s*(.+?))?\s*\\?$", line)
        if match and (match[3] is None or Marker(match[3]).evaluate()):
            wanted[canonicalize_name(match[1])] = match[2]
have = {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
have.pop("routegate")
have.pop("setuptools", None)  # Python 3.11's venv seeds it; --only-binary means nothing builds with it
print(json.dumps({
    "missing": sorted(set(wanted) - set(have)),
    "unpinned": sorted(set(have) - set(wanted)),
    "other_version": sorted(n for n in set(wanted) & set(have) if wanted[n] != have[n]),
}))
"""


def _works(python: str) -> bool:
    try:
        return subprocess.run([python, "-c", "import venv, ensurepip"], capture_output=True).returncode == 0
    except OSError:
        return False


def _interpreter(minor: str) -> str | None:
    """`pythonX.Y` on PATH, else a pyenv install of it (pyenv's shims answer only for the global one)."""
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{minor}") or ""]
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{minor}.*/bin/python{minor}"), reverse=True)
    candidates.append(f"/usr/bin/python{minor}")
    return next((c for c in candidates if c and _works(c)), None)


def _cases() -> list[tuple[str, str | None]]:
    cases: list[tuple[str, str | None]] = [(f"python{minor}", _interpreter(minor)) for minor in MINORS]
    cases.append(("debian-python3", DEBIAN_PYTHON if _works(DEBIAN_PYTHON) else None))
    return cases


def _bundled_pip(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import ensurepip; print(ensurepip.version())"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed tree, as `git clone` gives it to a new user."""
    target = tmp_path_factory.mktemp("fresh") / "routegate"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(target)], check=True)
    return target


def _make(clone: Path, venv: str, python: str, *targets: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    done = subprocess.run(
        ["make", "--no-print-directory", f"VENV={venv}", f"PYTHON={python}", *targets],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"make {' '.join(targets)} with {python} failed:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize(("name", "python"), _cases(), ids=[name for name, _ in _cases()])
def test_make_run_and_the_test_lock_install_exactly_the_pins_with_the_bundled_pip(
    name: str, python: str | None, clone: Path, tmp_path: Path
) -> None:
    if python is None:
        skip_or_fail(f"no {name} interpreter with venv and ensurepip on this machine")
    venv = f".venv-{name}"
    bin_dir = clone / venv / "bin"

    # `make run` first, as the README's first command: it installs only what running needs.
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    log = (tmp_path / "make-run.log").open("wb")
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}", f"VENV={venv}", f"PYTHON={python}"],
        cwd=clone,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        health = _wait_for_health(port, process)
        assert health.status_code == 200, health.text
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()
    pip = subprocess.run([bin_dir / "python", "-m", "pip", "--version"], capture_output=True, text=True, check=True)
    assert pip.stdout.startswith(f"pip {_pinned('pip')} "), pip.stdout
    _assert_installed_is_pinned(bin_dir, "bootstrap.lock", "run.lock")
    for module in ("playwright", "hypothesis", "mypy", "schemathesis"):
        found = subprocess.run([bin_dir / "python", "-c", f"import {module}"], capture_output=True)
        assert found.returncode != 0, f"make run installed the test tool {module}"

    # Then what `make test` installs on top, with the same pins.
    _make(clone, venv, python, "setup-test")
    _assert_installed_is_pinned(bin_dir, "bootstrap.lock", "test.lock")
    print(f"{name}: {python}, bundled pip {_bundled_pip(python)}")


def _wait_for_health(port: int, process: subprocess.Popen[bytes]) -> httpx.Response:
    """Polls until the server answers; a generous bound only stops a hung set-up from hanging the suite."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"make run exited with {process.returncode} before answering /healthz")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        except httpx.TransportError:
            time.sleep(0.5)
    pytest.fail("make run did not answer /healthz within 600 s")


def _pinned(name: str) -> str:
    for line in (REPO / "requirements" / "bootstrap.lock").read_text().splitlines():
        if line.startswith(f"{name}=="):
            return line.split("==")[1].split()[0]
    raise AssertionError(f"{name} is not pinned in requirements/bootstrap.lock")


def _assert_installed_is_pinned(bin_dir: Path, *locks: str) -> None:
    paths = [str(bin_dir.parents[1] / "requirements" / lock) for lock in locks]
    out = subprocess.run([bin_dir / "python", "-c", _COMPARE, *paths], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {"missing": [], "unpinned": [], "other_version": []}
