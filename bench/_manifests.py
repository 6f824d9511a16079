"""Manifests for the bench scripts: a large catalog, and a runtime with a large menu."""

from __future__ import annotations

import random
from typing import Any

import yaml

__all__ = ["WIDE_PROVIDERS", "WIDE_RUNTIMES", "big_menu_manifest", "wide_manifest", "word"]

# The size of the large catalog the README's figures are measured on.
WIDE_PROVIDERS = 1000
WIDE_RUNTIMES = 100

_SYLLABLES = tuple(c + v for c in "bdfgklmnprstvz" for v in "aeiou")


def word(rng: random.Random, syllables: int) -> str:
    """A pronounceable made-up word: provider names, and ids no provider serves."""
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables))


def _yaml(patterns: dict[str, str], runtimes: dict[str, list[dict[str, Any]]]) -> str:
    """A manifest document: providers by name and pattern, runtimes by their arms."""
    shared = {"protocol": "openai", "auth_mode": "oauth"}
    catalog = [
        {"name": n, "display_name": n.title(), "auth_env": [f"{n.upper()}_KEY"], "model_prefix_match": p} | shared
        for n, p in patterns.items()
    ]
    spec = {name: {"providers": arms} for name, arms in runtimes.items()}
    return yaml.safe_dump({"schema_version": 1, "providers": catalog, "runtimes": spec}, sort_keys=False)


def wide_manifest(rng: random.Random, providers: int, runtimes: int) -> tuple[str, dict[str, list[str]]]:
    """A large catalog (anchored, disjoint patterns; 10-30 arms per runtime) and the ids each runtime routes."""
    names = list(dict.fromkeys(word(rng, rng.choice((2, 3))) for _ in range(providers * 2)))[: providers - 1]
    styles = ("^{w}[:/]", "(?i)^({w}-|{w}[:/])", "^{w}-(chat|coder|mini)", "^{w}/[a-z0-9.-]+$")
    samples = ("{w}:x-{n}", "{W}-x-{n}", "{w}-coder-{n}", "{w}/x-{n}.1")
    style = {name: rng.randrange(4) for name in names}
    arms: dict[str, list[dict[str, Any]]] = {}
    routed: dict[str, list[str]] = {}
    for number in range(runtimes):
        name = f"runtime-{number:03d}"
        arms[name] = [{"name": "platform", "models": [f"{rng.choice(names)}/x"]}]
        for vendor in rng.sample(names, rng.randint(9, 29)):
            ids = [samples[style[vendor]].format(w=vendor, W=vendor.upper(), n=n) for n in range(rng.randint(0, 3))]
            arms[name].append({"name": vendor, "models": ids} if ids else {"name": vendor})
            if not ids:
                routed.setdefault(name, []).append(samples[style[vendor]].format(w=vendor, W=vendor, n=7))
    patterns = {"platform": "^platform/"} | {n: styles[style[n]].format(w=n) for n in names}
    return _yaml(patterns, arms), routed


def big_menu_manifest(size: int) -> str:
    """One runtime whose menu holds ``size`` ids, beside a routing-only arm."""
    rng = random.Random(size)
    menu = {"name": "alpha", "models": [f"alpha/{word(rng, 2)}-{n}" for n in range(size)]}
    return _yaml({"alpha": "^alpha[:/]", "beta": "^beta[:/]"}, {"big": [menu, {"name": "beta"}]})
