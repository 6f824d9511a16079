"""How long the CI gates take on a manifest: the prover, each generator, a sync check.

    .venv/bin/python bench/gates.py [--manifest PATH] [--repeat N]

Prints wall-clock figures (best of N, cold caches for the prover) and the pair
counts behind them. Figures depend on the machine; rerun to compare.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from routegate import prove as prover
from routegate.gen import generate
from routegate.manifest import bundled_manifest_path, load_manifest
from routegate.sync import sync_check


def best(repeat: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", help="default: the bundled reference registry")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    manifest = load_manifest(args.manifest)
    print(f"python {platform.python_version()} on {platform.machine()}; manifest {manifest.source}")
    print(f"{len(manifest.providers)} providers, {len(manifest.runtimes)} runtimes, repeat {args.repeat}")

    def cold_proof() -> None:
        prover._witness.cache_clear()
        prover._automaton.cache_clear()
        prover._servable.cache_clear()
        prover.prove(manifest)

    report = prover.prove(manifest)
    pairs = ", ".join(f"{report.disjoint[s]}/{report.pairs[s]} {s}" for s in report.pairs)
    print(f"lint --prove (cold): {best(args.repeat, cold_proof) * 1000:8.1f} ms  ({pairs} pairs proven disjoint)")
    for target in ("typescript", "python", "jsonschema"):
        size = len(generate(manifest, target).encode())
        elapsed = best(args.repeat, functools.partial(generate, manifest, target))
        print(f"gen {target:<11}      {elapsed * 1000:8.1f} ms  ({size} bytes)")
    source = Path(args.manifest) if args.manifest else bundled_manifest_path()
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "copy.yaml"
        copy.write_bytes(source.read_bytes())
        pin = hashlib.sha256(copy.read_bytes()).hexdigest()
        elapsed = best(args.repeat, lambda: sync_check(copy, source, pin=pin))
        print(f"sync-check          {elapsed * 1000:8.2f} ms")


if __name__ == "__main__":
    main()
