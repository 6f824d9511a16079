"""The core works without the service extra: ``pip install routegate`` is enough for decisions and gates.

Each test runs a fresh interpreter whose import system refuses the service
packages (as if ``routegate[service]`` were not installed) and drives the real
CLI through it; ``serve`` and ``db`` must then say what to install.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import routegate

SERVICE_PACKAGES = (
    "fastapi",
    "fastapi_offline",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "prometheus_client",
)
# Modules that need an extra: the service (and its console) the service extra, the gateway
# integrations the litellm extra, which brings the same web packages.
SERVICE_MODULES = ("routegate.service", "routegate.integrations")

BLOCKER = """
import importlib.abc, runpy, sys

BLOCKED = set(sys.argv[1].split(","))


class WithoutServiceExtra(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, WithoutServiceExtra())
if sys.argv[2] == "--import":
    import importlib
    for module in sys.argv[3:]:
        importlib.import_module(module)
    leaked = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
    print(",".join(leaked))
else:
    sys.argv = ["routegate", *sys.argv[2:]]
    runpy.run_module("routegate.cli", run_name="__main__", alter_sys=True)
"""


def without_service(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "without_service.py"
    script.write_text(BLOCKER, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script), ",".join(SERVICE_PACKAGES), *args],
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def core_modules() -> list[str]:
    package = Path(routegate.__file__).parent
    names = [m.name for m in pkgutil.walk_packages([str(package)], prefix="routegate.")]
    return sorted(name for name in names if not name.startswith(SERVICE_MODULES))


def test_the_blocker_really_hides_the_service_packages(tmp_path: Path) -> None:
    done = without_service(tmp_path, "--import", "routegate.service.app")
    assert done.returncode == 1 and "ModuleNotFoundError" in done.stderr


def test_every_core_module_imports_without_the_service_packages(tmp_path: Path) -> None:
    modules = core_modules()
    assert {"routegate", "routegate.cli", "routegate.gate", "routegate.proof.overlaps", "routegate.gen.go"} <= {
        "routegate",
        *modules,
    }
    done = without_service(tmp_path, "--import", "routegate", *modules)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""  # not one service package was loaded


@pytest.mark.parametrize(
    "args, code, shows",
    [
        (["check", "hermes", "moonshot/kimi-k2.6"], 0, "allowed [menu] -> "),
        (["check", "hermes", "gpt-4o"], 1, "rejected UNREGISTERED_MODEL_FOR_RUNTIME"),
        (["derive", "codex", "gpt-5.5", "--auth-env", "OPENAI_API_KEY", "--explain"], 0, "openai-api"),
        (["upstream", "minimax:MiniMax-M2.7"], 0, "minimax / MiniMax-M2.7"),
        (["models", "hermes"], 0, "kimi-coding/kimi-k2"),
        (["providers", "codex"], 0, "openai-api"),
        (["lint"], 0, "ok "),
        (["lint", "--prove"], 0, "pairs proven disjoint"),
        (["drift", "--report-only", str(Path(routegate.__file__).parent / "data" / "templates")], 0, "hermes"),
        (["gen", "--target", "go"], 0, "func Check(runtime, model string, authEnv []string) Decision"),
        (["gen", "--target", "typescript"], 0, "export function check("),
        (["gen", "--target", "python"], 0, "PROVIDERS: Final"),
        (["gen", "--target", "jsonschema"], 0, '"$schema"'),
    ],
)
def test_the_cli_decides_and_gates_without_the_service_packages(
    tmp_path: Path, args: list[str], code: int, shows: str
) -> None:
    done = without_service(tmp_path, *args)
    assert done.returncode == code, done.stderr
    assert shows in done.stdout and "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [["serve"], ["serve", "--port", "8123"], ["db", "upgrade"]])
def test_serve_and_db_without_the_extra_say_what_to_install(tmp_path: Path, args: list[str]) -> None:
    done = without_service(tmp_path, *args)
    assert done.returncode == 2 and done.stdout == ""
    assert "needs the service extra" in done.stderr and "pip install './routegate[service]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "routegate.db").exists()  # nothing was started or created
    payload = json.loads(without_service(tmp_path, "versions", "--json").stdout)  # serve and db take no --json
    assert payload["error"] == "missing_extra" and payload["extra"] == "service"


def test_the_version_comes_from_the_package_metadata(tmp_path: Path) -> None:
    from importlib.metadata import version

    done = without_service(tmp_path, "--version")
    assert (done.returncode, done.stdout) == (0, f"routegate {version('routegate')}\n")
    assert routegate.__version__ == version("routegate")
    assert (Path(routegate.__file__).parent / "py.typed").is_file()
