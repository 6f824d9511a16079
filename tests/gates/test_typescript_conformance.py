"""The typescript target decides exactly as the Python core does.

Generated code is compiled with tsc --strict and run under node over every
reference template id on every runtime, every menu id and alias, and a few
thousand seeded generated ids (case games, separators, Unicode look-alikes,
whitespace Python strips and JavaScript does not, control characters, lone
surrogates), with several auth env sets. Every decision is compared field by
field with decision.check() and every derivation with derive().
"""

from __future__ import annotations

import json
import random
import re
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from routegate import AmbiguousModel, DeriveError, EmptyModel, Registry, UnknownRuntime, Unroutable
from routegate.gen import generate
from routegate.manifest import Manifest, load_manifest, parse_manifest
from routegate.templates import TemplateRoot
from tests.manifests import manifest_doc, provider

from .conftest import STRICTER, TypeScriptRun

FOREIGN = ("langgraph", "external", "constructor", "__proto__", "toString", "")
PY_SPACE = [chr(c) for c in range(0x110000) if chr(c).isspace()]
NOT_PY_SPACE = ["\ufeff", "\u200b", "\u180e", "\u2060"]
ODD = [
    "K",
    "ſ",
    "İ",
    "ı",
    "Å",
    "é",
    "ß",
    "\u2028",
    "\u2029",
    "\u00a0",
    "😀",
    "\x00",
    "\n",
    "\r",
    "\x85",
    "\x7f",
    "\ud800",
    "\udfff",
]
SEPARATORS = ["/", ":", "-", "_", ".", " ", ""]
# derive()'s failures as the generated code names them (its DeriveErrorKind).
GENERATED_KINDS: dict[type[Exception], str] = {
    UnknownRuntime: "unknown_runtime",
    EmptyModel: "empty_model",
    Unroutable: "unroutable",
    AmbiguousModel: "ambiguous",
}


def expected(
    registry: Registry, runtime: str, model: str, auth_env: list[str], on: str | None = None
) -> dict[str, Any]:
    day = None if on is None else date.fromisoformat(on)
    decision = registry.check(runtime, model, auth_env, on=day).to_dict()
    check = {
        key: decision[key]
        for key in (
            "runtime",
            "model",
            "allowed",
            "path",
            "code",
            "provider",
            "billing_mode",
            "required_env",
            "candidates",
        )
    }
    try:
        derivation = registry.derivation(runtime, model, auth_env)
        derived: dict[str, Any] = {
            "provider": derivation.provider.name,
            "step": derivation.step,
            "candidates": list(derivation.candidates),
        }
    except DeriveError as error:
        derived = {"error": GENERATED_KINDS[type(error)], "candidates": list(error.candidates)}
    return {"check": check, "derive": derived}


def auth_variants(manifest: Manifest, runtime: str) -> list[list[str]]:
    """No env; each native provider's env alone; every env the runtime's providers name."""
    arms = manifest.runtimes[runtime].arms if runtime in manifest.runtimes else ()
    every = sorted({env for arm in arms for env in arm.provider.auth_env})
    return [[], *([arm.provider.auth_env[0]] for arm in arms), *([env] for env in every), every]


def literal_prefixes(manifest: Manifest) -> list[str]:
    """Plain prefixes read off the patterns, for ids that reach the pattern step."""
    out = set()
    for p in manifest.providers.values():
        body = p.model_prefix_match.removeprefix("(?i)").lstrip("^")
        for piece in body.replace("(", "|").replace(")", "|").replace("$", "|").split("|"):
            piece = piece.split("[")[0]
            if piece:
                out.update({piece, piece.upper(), piece.title(), piece + "/", piece + ":"})
    return sorted(out)


def generated_ids(manifest: Manifest, seeds: list[str], count: int, seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    prefixes = literal_prefixes(manifest)
    tail_chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._/:" + "".join(ODD)
    for _ in range(count):
        kind = rng.randrange(6)
        if kind == 0:  # a known id, mutated
            base = list(rng.choice(seeds))
            for _ in range(rng.randint(1, 2)):
                where = rng.randrange(len(base) + 1)
                action = rng.randrange(4)
                if action == 0 and base:
                    del base[min(where, len(base) - 1)]
                elif action == 1:
                    base.insert(where, rng.choice(tail_chars))
                elif action == 2 and base:
                    i = min(where, len(base) - 1)
                    base[i] = base[i].swapcase()
                else:
                    base.append(rng.choice(SEPARATORS))
            model = "".join(base)
        elif kind == 1:  # a pattern prefix and a tail
            model = (
                rng.choice(prefixes) + rng.choice(SEPARATORS) + "".join(rng.choices(tail_chars, k=rng.randint(0, 8)))
            )
        elif kind == 2:  # whitespace the two languages strip differently
            pad = PY_SPACE + NOT_PY_SPACE
            model = (
                "".join(rng.choices(pad, k=rng.randint(0, 2)))
                + rng.choice(seeds)
                + "".join(rng.choices(pad, k=rng.randint(0, 2)))
            )
        elif kind == 3:  # look-alikes folded by RE2 (and by JavaScript's u+i)
            model = "".join(
                rng.choice(["k", "K", "K", "s", "S", "ſ"]) if c in "kKsS" and rng.random() < 0.5 else c
                for c in rng.choice(seeds)
            )
        elif kind == 4:  # noise
            model = "".join(rng.choices(tail_chars, k=rng.randint(0, 12)))
        else:  # vendor-namespaced forms
            model = (
                rng.choice(["platform", "anthropic", "openai", "minimax", "moonshot", "openrouter"])
                + rng.choice("/:")
                + rng.choice(seeds)
            )
        yield model


def run_conformance(
    typescript: TypeScriptRun, manifest: Manifest, module_name: str, ids: list[str], seed: int, every_auth: int = 0
) -> int:
    """Each id on every runtime; the first ``every_auth`` ids with every auth variant, the rest with a random one."""
    registry = Registry(manifest, cache_size=0)
    module = typescript.compile(generate(manifest, "typescript"), module_name)
    rng = random.Random(seed)
    runtimes = [*manifest.runtimes, *FOREIGN]
    cases: list[list[Any]] = []
    for position, model in enumerate(ids):
        # As a client sends it: JSON joins a high and a low surrogate into one code point,
        # which JavaScript cannot tell apart from a Python str holding the two halves.
        model = json.loads(json.dumps(model))
        for runtime in runtimes:
            variants = auth_variants(manifest, runtime)
            chosen = variants if position < every_auth else [rng.choice(variants)]
            cases.extend([runtime, model, auth_env] for auth_env in chosen)
    answers = typescript.run(module, {"decide": cases})["decide"]
    assert len(answers) == len(cases)
    mismatches = []
    for (runtime, model, auth_env), got in zip(cases, answers, strict=True):
        want = expected(registry, runtime, model, auth_env)
        if got != want:
            mismatches.append((runtime, model, auth_env, want, got))
    assert not mismatches, f"{len(mismatches)} of {len(cases)} decisions differ; first: {mismatches[:3]}"
    return len(cases)


def reference_ids(manifest: Manifest) -> list[str]:
    ids: list[str] = []
    for template in TemplateRoot().all():
        ids.extend(offered.id for offered in template.offered)
        if template.default_model:
            ids.append(template.default_model)
    for runtime in manifest.runtimes.values():
        ids.extend(runtime.menu)
    for p in manifest.providers.values():
        ids.extend(p.model_aliases)
    return list(dict.fromkeys(ids))


def test_every_reference_template_id_on_every_runtime_with_every_auth_env(typescript: TypeScriptRun) -> None:
    manifest = load_manifest()
    registry = Registry(manifest, cache_size=0)
    module = typescript.compile(generate(manifest, "typescript"), "reference")
    ids = reference_ids(manifest)
    assert len(ids) > 80
    cases: list[list[Any]] = [
        [runtime, model, auth_env]
        for model in ids
        for runtime in [*manifest.runtimes, *FOREIGN]
        for auth_env in auth_variants(manifest, runtime)
    ]
    answers = typescript.run(module, {"decide": cases})["decide"]
    differing = [
        (case, want, got)
        for case, got in zip(cases, answers, strict=True)
        if got != (want := expected(registry, *case))
    ]
    assert not differing, f"{len(differing)} of {len(cases)} differ; first: {differing[:3]}"
    # The run covered every kind of decision the reference manifest can make.
    paths = {(a["check"]["path"], a["check"]["code"]) for a in answers}
    assert {("menu", None), ("route", None), ("fail_open", None), (None, "UNREGISTERED_MODEL_FOR_RUNTIME")} <= paths
    assert {"exact", "exact_auth_env", "exact_first_declared", "prefix"} <= {a["derive"].get("step") for a in answers}


def test_thousands_of_generated_ids_on_the_reference_manifest(typescript: TypeScriptRun) -> None:
    manifest = load_manifest()
    seeds = reference_ids(manifest)
    ids = [
        *seeds,
        "",
        "   ",
        "\t\n",
        *PY_SPACE,
        *NOT_PY_SPACE,
        *ODD,
        *generated_ids(manifest, seeds, 3000, seed=20261125),
    ]
    ids.extend(f"{pad}gpt-5.5{pad}" for pad in PY_SPACE + NOT_PY_SPACE)
    assert run_conformance(typescript, manifest, "reference-generated", ids, seed=7) > 30000


# A manifest built to reach every branch: prefix ties settled by auth env, ambiguity,
# G2 on a platform prefix, and patterns using classes, (?i), alternation, $ and repetition.
TIES = manifest_doc(
    [
        provider("platform", "^platform/", auth_env=["MOLECULE_LLM_USAGE_TOKEN"]),
        provider("alpha", r"(?i)^(alpha|al-pha)[:/]\w+$", auth_env=["ALPHA_KEY", "SHARED_KEY"]),
        provider("beta", r"^[a-c][\d.]{1,3}-?(x|yz)*", auth_env=["BETA_KEY"]),
        provider("gamma", r"(?i)kit|suffix$", auth_env=["GAMMA_KEY", "SHARED_KEY"]),
        provider("delta", r"^shared-", auth_env=["DELTA_KEY"]),
        provider("epsilon", r"^shared-|\.tail$|^dot.dot", auth_env=["EPSILON_KEY", "SHARED_KEY"]),
        provider("zeta", r"[^\x00-\x{7f}]+\s?[[:digit:]]", auth_env=["ZETA_KEY"]),
    ],
    {
        "rt": [
            {"name": "alpha", "models": ["alpha/one", "both-arms"]},
            {"name": "gamma", "models": ["both-arms", "KIT-menu"]},
            {"name": "platform", "models": ["platform/listed", "alpha/paid"]},
            {"name": "beta"},
            {"name": "delta"},
            {"name": "epsilon"},
            {"name": "zeta"},
        ],
        "solo": [{"name": "gamma"}, {"name": "platform", "models": ["platform/only"]}],
    },
)


def test_generated_ids_on_a_manifest_with_ties_and_richer_patterns(typescript: TypeScriptRun) -> None:
    import yaml

    manifest = parse_manifest(yaml.safe_dump(TIES, sort_keys=False))
    seeds = [
        "alpha/one",
        "both-arms",
        "KIT-menu",
        "platform/listed",
        "alpha/paid",
        "platform/other",
        "ALPHA:x_1",
        "Al-Pha/y",
        "alpha/x y",
        "b1.2-xyzyz",
        "c9",
        "d1",
        "kit",
        "the-KIT",
        "xsuffix",
        "shared-1",
        "a.tail",
        "shared-x.tail",
        "dot\u2028dot",
        "dot\u2029dot",
        "dot\rdot",
        "dot😀dot",
        "é 1",
        "日本2",
        "K7",
        "platform/only",
        "ſuffix",
        "shared-kit",
        "shared-kit.tail",
        "alpha/kit",
    ]
    ids = [*seeds, *generated_ids(manifest, seeds, 2500, seed=99)]
    run_conformance(typescript, manifest, "ties", ids, seed=11, every_auth=len(seeds))
    registry = Registry(manifest)
    # The crafted cases do reach the branches this test exists for.
    assert registry.check("rt", "shared-1").to_dict()["code"] == "AMBIGUOUS_MODEL_FOR_RUNTIME"
    assert registry.derivation("rt", "shared-1", ["EPSILON_KEY"]).step == "prefix_auth_env"
    # Two of three matches share the auth env: the tie names those two only.
    assert registry.check("rt", "shared-kit", ["SHARED_KEY"]).candidates == ("gamma", "epsilon")
    assert registry.check("solo", "platform/x").allowed is False


@pytest.mark.parametrize(
    "pattern, construct",
    [
        (r"\pL", "Unicode class"),
        (r"(?s)a.b", "flag group"),
        (r"^a(?i:b)", "flag group"),
        (r"(?i)^é", "non-ASCII"),
        (r"(?i)\bgpt", "\\b or \\B under (?i)"),
        (r"(?i)[\Wx]", "negated class inside"),
        (r"a{,3}", "literal '{'"),
        (r"\C", "\\C"),
        (r"\101", "octal"),
    ],
)
def test_generation_fails_for_a_pattern_node_cannot_run_faithfully(
    cli: Any, write_manifest: Any, pattern: str, construct: str
) -> None:
    path = write_manifest(manifest_doc([provider("odd", pattern)], {"rt": [{"name": "odd"}]}))
    code, payload = cli.json("gen", "--target", "typescript", "--manifest", path)
    assert code == 1
    assert payload["error"] == "generation_failed"
    assert payload["provider"] == "odd" and payload["pattern"] == pattern
    assert construct in payload["message"]
    # Text mode says the same to a person, and nothing lands on disk.
    out = tuple(path.parent.glob("*.ts"))
    done = cli("gen", "--target", "typescript", "--manifest", path, "-o", path.parent / "routegate.ts")
    assert done.returncode == 1 and "cannot generate" in done.stdout and "'odd'" in done.stdout
    assert tuple(path.parent.glob("*.ts")) == out


# ECMAScript editions as tsc names them, oldest first.
EDITIONS = ["ES5", *(f"ES{year}" for year in range(2015, 2025))]
# Every check tsc 5.9 has beyond --strict and the conformance run's own: what the strictest
# project, or one whose runtime only erases types, turns on.
STRICTEST = [
    "--strict",
    *STRICTER,
    "--noFallthroughCasesInSwitch",
    "--allowUnreachableCode",
    "false",
    "--allowUnusedLabels",
    "false",
    "--verbatimModuleSyntax",
    "--erasableSyntaxOnly",
    "--noUncheckedSideEffectImports",
    "--forceConsistentCasingInFileNames",
]


def _tsc_errors(tsc: str, file: Path, target: str, *flags: str) -> list[str]:
    """tsc's errors for ``file`` at ``target`` and its lib, without a tsconfig (as a user runs it)."""
    done = subprocess.run(
        [tsc, "--noEmit", *flags, "--target", target, "--lib", target, str(file)],
        capture_output=True,
        text=True,
        cwd=file.parent,
        timeout=300,
    )
    errors = re.findall(r"error TS\d+: .*", done.stdout)
    assert (done.returncode == 0) == (not errors), done.stdout + done.stderr
    return errors


@pytest.mark.parametrize("name", ["reference", "ties"])
def test_the_artifact_compiles_at_its_stated_minimum_target_with_every_strict_flag_and_not_below(
    tsc: str, tmp_path: Path, name: str
) -> None:
    import yaml

    manifest = load_manifest() if name == "reference" else parse_manifest(yaml.safe_dump(TIES, sort_keys=False))
    source = generate(manifest, "typescript")
    stated = re.search(r"^// Compiles with TypeScript's --target (ES\w+) or later", source, re.MULTILINE)
    assert stated, "the header must state the minimum --target"
    target = stated.group(1)
    file = tmp_path / "routegate.ts"
    file.write_text(source, encoding="utf-8")

    assert _tsc_errors(tsc, file, target, *STRICTEST) == []
    # The stated target is the minimum: the edition before it does not compile.
    below = EDITIONS[EDITIONS.index(target) - 1]
    assert _tsc_errors(tsc, file, below, "--strict"), f"the artifact compiles at {below}: state that instead"


DATED = """
lifecycle:
  - model: moonshot/kimi-k2.5
    deprecated_on: 2026-06-01
    retires_on: 2026-07-01
    successor: moonshot/kimi-k2.6
  - provider: minimax
    runtimes: [claude-code]
    retires_on: 2026-08-15
"""


def test_dated_cases_on_each_side_of_each_date(typescript: TypeScriptRun) -> None:
    from routegate.manifest import bundled_manifest_path

    manifest = parse_manifest(bundled_manifest_path().read_text(encoding="utf-8") + DATED)
    registry = Registry(manifest, cache_size=0)
    module = typescript.compile(generate(manifest, "typescript"), "dated")
    days = [
        (day + timedelta(days=offset)).isoformat()
        for day in (date(2026, 6, 1), date(2026, 7, 1), date(2026, 8, 15))
        for offset in (-1, 0, 1)
    ]
    ids = [*reference_ids(manifest), "MiniMax-M9-new"]
    cases: list[list[Any]] = [[runtime, model, [], on] for model in ids for runtime in manifest.runtimes for on in days]
    answers = typescript.run(module, {"decide": cases})["decide"]
    differing = [
        (case, want, got)
        for case, got in zip(cases, answers, strict=True)
        if got != (want := expected(registry, *case))
    ]
    assert not differing, f"{len(differing)} of {len(cases)} differ; first: {differing[:3]}"
    codes = {a["check"]["code"] for a in answers}
    assert {"MODEL_DEPRECATED", "MODEL_RETIRED"} <= codes
