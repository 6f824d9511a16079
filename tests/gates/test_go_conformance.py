"""The go target decides exactly as the Python core does, under Debian's Go toolchain.

The generated file is built with ``--package main`` beside ``go/conformance.go``,
which runs cases from a JSON file. Every reference menu and template id with
its case and separator variants, and thousands of seeded generated ids, are
decided on every runtime (and foreign ones) with several auth env sets; each
decision, derivation and upstream split is compared field by field with the
core. Models travel as bytes, so a Python id holding a lone surrogate reaches
Go as the invalid UTF-8 it would be on the wire. A regexp-level test compares
Go's ``regexp`` on the translated patterns with google-re2 on the originals,
over the characters where the two engines' Unicode and case-folding tables
could disagree.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from routegate import Registry, _re2
from routegate.gen import generate
from routegate.gen._goregex import to_go
from routegate.manifest import Manifest, load_manifest, parse_manifest

from .conftest import _tool
from .test_typescript_conformance import (
    FOREIGN,
    NOT_PY_SPACE,
    ODD,
    PY_SPACE,
    SEPARATORS,
    TIES,
    auth_variants,
    expected,
    generated_ids,
    reference_ids,
)

HARNESS = Path(__file__).parent / "go" / "conformance.go"


def wire(text: str) -> str:
    """A str as the bytes Go receives (lone surrogates kept as Python's surrogatepass writes them), in base64."""
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii")


class GoRun:
    """Builds generated Go with the harness and runs cases through it."""

    def __init__(self, go: str, workdir: Path) -> None:
        self.go, self.workdir = go, workdir
        self.env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "", "GO111MODULE": "off"}
        if not any(self.env.get(name) for name in ("GOCACHE", "HOME", "XDG_CACHE_HOME")):
            self.env["GOCACHE"] = str(workdir / "cache")

    def build(self, source: str, name: str) -> Path:
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "routegate.go").write_text(source, encoding="utf-8")
        shutil.copy(HARNESS, folder / "conformance.go")
        binary = folder / "conformance"
        done = subprocess.run(
            [self.go, "build", "-o", str(binary), "routegate.go", "conformance.go"],
            cwd=folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"go build rejected the generated code:\n{done.stdout}\n{done.stderr}"
        return binary

    def run(self, binary: Path, cases: dict[str, Any]) -> dict[str, Any]:
        path = binary.parent / "cases.json"
        path.write_text(json.dumps(cases, ensure_ascii=True), encoding="utf-8")
        done = subprocess.run([str(binary), str(path)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def go_run(tmp_path_factory: pytest.TempPathFactory) -> GoRun:
    go = _tool("go", "ROUTEGATE_GO", None)
    return GoRun(go, tmp_path_factory.mktemp("go"))


def variants(model: str) -> list[str]:
    """The id as people mistype it: other cases, other separators, separators added or dropped."""
    cased = [model.upper(), model.lower(), model.swapcase(), model.title(), model.capitalize()]
    swapped = [model.replace(a, b) for a in "/:-_." for b in "/:-_. " if a != b and a in model]
    framed = [f"{sep}{model}" for sep in SEPARATORS if sep] + [f"{model}{sep}" for sep in SEPARATORS if sep]
    return [*cased, *swapped, *framed, model.replace("-", ""), model.replace("/", "")]


def python_answer(registry: Registry, runtime: str, model: str, auth_env: list[str]) -> dict[str, Any]:
    want = expected(registry, runtime, model, auth_env)
    want["check"]["model"] = wire(want["check"]["model"])
    return want


def python_upstream(registry: Registry, model: str) -> dict[str, Any]:
    from routegate import NotNamespaced

    try:
        found = registry.upstream(model)
    except NotNamespaced:
        return {"error": "not_namespaced"}
    return {"vendor": wire(found.vendor), "model": wire(found.model), "provider": found.provider.name}


def decide_everywhere(
    go_run: GoRun, manifest: Manifest, name: str, ids: list[str], seed: int, every_auth: int
) -> list[dict[str, Any]]:
    """Each id on every runtime, the first ``every_auth`` ids with every auth variant; asserts Go agrees."""
    registry = Registry(manifest, cache_size=0)
    binary = go_run.build(generate(manifest, "go", package="main"), name)
    rng = random.Random(seed)
    cases: list[tuple[str, str, list[str]]] = []
    for position, model in enumerate(ids):
        for runtime in [*manifest.runtimes, *FOREIGN]:
            options = auth_variants(manifest, runtime)
            chosen = options if position < every_auth else [rng.choice(options)]
            cases.extend((runtime, model, auth_env) for auth_env in chosen)
    answers = go_run.run(
        binary,
        {
            "decide": [{"runtime": r, "model": wire(m), "auth_env": a} for r, m, a in cases],
            "upstream": [wire(model) for model in ids],
        },
    )
    differing = [
        (case, want, got)
        for case, got in zip(cases, answers["decide"], strict=True)
        if got != (want := python_answer(registry, *case))
    ]
    assert not differing, f"{len(differing)} of {len(cases)} decisions differ; first: {differing[:3]}"
    split = [
        (model, want, got)
        for model, got in zip(ids, answers["upstream"], strict=True)
        if got != (want := python_upstream(registry, model))
    ]
    assert not split, f"{len(split)} of {len(ids)} upstream splits differ; first: {split[:3]}"
    return answers["decide"]  # type: ignore[no-any-return]


def test_every_reference_menu_and_template_id_and_their_variants(go_run: GoRun) -> None:
    manifest = load_manifest()
    seeds = reference_ids(manifest)
    ids = list(dict.fromkeys([*seeds, *(variant for model in seeds for variant in variants(model))]))
    assert len(seeds) > 80 and len(ids) > 20 * len(seeds) / 2
    answers = decide_everywhere(go_run, manifest, "reference", ids, seed=3, every_auth=len(seeds))
    # The run reached every kind of decision the reference manifest can make.
    outcomes = {(a["check"]["path"], a["check"]["code"]) for a in answers}
    assert {("menu", None), ("route", None), ("fail_open", None), (None, "UNREGISTERED_MODEL_FOR_RUNTIME")} <= outcomes
    steps = {a["derive"].get("step") for a in answers}
    assert {"exact", "exact_auth_env", "exact_first_declared", "prefix"} <= steps
    assert {"unknown_runtime", "unroutable"} <= {a["derive"].get("error") for a in answers}


def test_thousands_of_generated_ids_on_the_reference_manifest(go_run: GoRun) -> None:
    manifest = load_manifest()
    seeds = reference_ids(manifest)
    ids = [
        *["", "   ", "\t\n", *PY_SPACE, *NOT_PY_SPACE, *ODD],
        *(f"{pad}gpt-5.5{pad}" for pad in PY_SPACE + NOT_PY_SPACE),
        *("platform/x\ud800", "anthropic/\udfff", "minimax:MiniMax-M2.7\ud83d\ude00", "openai/"),
        *generated_ids(manifest, seeds, 4000, seed=20261126),
    ]
    answers = decide_everywhere(go_run, manifest, "generated", ids, seed=5, every_auth=0)
    assert len(answers) > 40000


def test_generated_ids_on_a_manifest_with_ties_and_richer_patterns(go_run: GoRun) -> None:
    manifest = parse_manifest(yaml.safe_dump(TIES, sort_keys=False))
    seeds = [
        *("alpha/one", "both-arms", "KIT-menu", "platform/listed", "alpha/paid", "platform/other"),
        *("ALPHA:x_1", "Al-Pha/y", "AL-PHA/Y", "alpha/x y", "b1.2-xyzyz", "c9", "d1", "kit", "the-KIT", "xsuffix"),
        *("shared-1", "a.tail", "shared-x.tail", "dot\u2028dot", "dot\rdot", "dot😀dot", "é 1", "日本2", "K7"),
        *("platform/only", "ſuffix", "SUFFIX", "shared-kit", "shared-kit.tail", "alpha/kit", "alpha/\u212a"),
        *("\ud800 1", "é\x0b1", "é\u00a01", "é\t1", "İ3", "ı3"),
    ]
    ids = [*seeds, *generated_ids(manifest, seeds, 3000, seed=98)]
    answers = decide_everywhere(go_run, manifest, "ties", ids, seed=13, every_auth=len(seeds))
    # The crafted ids do reach the branches this manifest exists for.
    assert {"prefix_auth_env", "exact_auth_env", "exact_first_declared"} <= {a["derive"].get("step") for a in answers}
    assert "AMBIGUOUS_MODEL_FOR_RUNTIME" in {a["check"]["code"] for a in answers}


# Patterns where Go's regexp, left to itself, could read case folding, Unicode or
# line ends differently from google-re2; texts built from the characters involved.
PATTERNS = [
    r"(?i)k",
    r"(?i)s",
    r"(?i)^kit$",
    r"(?i)[^k]",
    r"(?i)[k-s]",
    r"(?i)\W",
    r"(?i)[[:^alpha:]]",
    r"(?i)[^a-z0-9]",
    r"(?i)\bkit\b",
    r"(?i)\x{212a}",
    r"(?i)\x{17f}",
    r"(?i)[\x{17f}x]",
    r"\w+",
    r"\W",
    r"\s",
    r"\S",
    r"\d",
    r"[[:punct:]]",
    r"[[:space:]]",
    r"\bé",
    r"é\b",
    r"^.$",
    r"a.b",
    r"[^\x00-\x{7f}]",
    r"\x{1F600}",
    r"^$",
    r"a$",
    r"a{2,3}?b",
    r"(a|ab)(c|bcd)",
    r"[\x{2028}\x{2029}]",
    r"\Qa.b\E",
    r"[\]\-^]",
]
KELVIN, LONG_S, OHM = "\u212a", "\u017f", "\u2126"
ALPHABET = [
    *"aAbBcdkKsS09_-./",
    *(KELVIN, LONG_S, OHM, "\u03c9", "\u00e9", "\u00c9", "\u0130", "\u0131", "\u00df", "\u1e9e", "\u01c5"),
    *("\n", "\r", "\t", "\x0b", "\x0c", "\u2028", "\u2029", "\u00a0", "\U0001f600", "\x00", "\x7f", "\x85"),
]


def test_go_regexp_on_translated_patterns_matches_google_re2(go_run: GoRun) -> None:
    rng = random.Random(2026)
    texts = ["", *ALPHABET, *("".join(rng.choices(ALPHABET, k=rng.randint(1, 6))) for _ in range(3000))]
    texts += ["kit", "KIT", f"{KELVIN}it", LONG_S, "ab", "abcd", "a.b", "a\nb", "a\rb", "aab", "aaab", "]", "-", "^"]
    manifest = load_manifest()
    binary = go_run.build(generate(manifest, "go", package="main"), "regex")
    answers = go_run.run(binary, {"regex": {"patterns": [to_go(p) for p in PATTERNS], "texts": texts}})["regex"]
    differing = [
        (pattern, text, got[i])
        for pattern, got in zip(PATTERNS, answers, strict=True)
        for i, text in enumerate(texts)
        if got[i] != (_re2.compile(pattern).search(text) is not None)
    ]
    assert not differing, f"{len(differing)} answers differ from google-re2; first: {differing[:5]}"
    # The folding cases are live: U+212A and U+017F fold with k and s, and \W under (?i) excludes them.
    by_pattern = dict(zip(PATTERNS, answers, strict=True))
    assert by_pattern[r"(?i)k"][texts.index(KELVIN)] and by_pattern[r"(?i)s"][texts.index(LONG_S)]
    assert not by_pattern[r"(?i)\W"][texts.index(KELVIN)] and by_pattern[r"\W"][texts.index(KELVIN)]


def test_dated_cases_on_each_side_of_each_date(go_run: GoRun) -> None:
    from datetime import date, timedelta

    from routegate.manifest import bundled_manifest_path

    from .test_typescript_conformance import DATED

    manifest = parse_manifest(bundled_manifest_path().read_text(encoding="utf-8") + DATED)
    registry = Registry(manifest, cache_size=0)
    binary = go_run.build(generate(manifest, "go", package="main"), "dated")
    days = [
        (day + timedelta(days=offset)).isoformat()
        for day in (date(2026, 6, 1), date(2026, 7, 1), date(2026, 8, 15))
        for offset in (-1, 0, 1)
    ]
    ids = [*reference_ids(manifest), "MiniMax-M9-new"]
    cases = [(runtime, model, on) for model in ids for runtime in manifest.runtimes for on in days]
    answers = go_run.run(
        binary, {"decide": [{"runtime": r, "model": wire(m), "auth_env": [], "on": on} for r, m, on in cases]}
    )["decide"]
    differing = []
    for (runtime, model, on), got in zip(cases, answers, strict=True):
        want = expected(registry, runtime, model, [], on)
        want["check"]["model"] = wire(want["check"]["model"])
        if got != want:
            differing.append(((runtime, model, on), want, got))
    assert not differing, f"{len(differing)} of {len(cases)} differ; first: {differing[:3]}"
    assert {"MODEL_DEPRECATED", "MODEL_RETIRED"} <= {a["check"]["code"] for a in answers}
