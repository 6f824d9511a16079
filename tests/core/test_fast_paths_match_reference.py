"""The fast decision paths decide exactly as a straightforward reading of the rules does.

A cold decision is made from indexes built ahead (menu ids decided once,
shared verdicts, a literal-prefix filter before RE2) and its reason and
suggestions are built when read (the index behind the suggestions is set
against the reference in test_suggestions.py).
Each test here sets that machinery against a plain reference computation:
every arm's pattern searched on its own with RE2, the menu scanned in full,
every message built eagerly.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routegate import Code, Decision, DecisionPath, Registry, _re2
from routegate._ids import UNSERVABLE
from routegate._prefixes import PrefixFilter, literal_prefixes
from routegate.billing import PLATFORM, billing_mode_for
from routegate.decision import FOREIGN_RUNTIMES
from routegate.manifest import Manifest, Provider
from routegate.resolution import RuntimeIndex, display_id
from tests.manifests import manifest_doc, provider

from .crafted import BASE

# --- the reference: the rules read plainly ----------------------------------------------------------


def _pairs(text: str) -> frozenset[str]:
    folded = text.casefold()
    return frozenset(folded[i : i + 2] for i in range(len(folded) - 1)) or frozenset((folded,))


def reference_nearest(menu: list[str], model: str, limit: int = 3) -> tuple[str, ...]:
    """Every menu id scored by Dice similarity of letter pairs; ties to the one declared first."""
    probe = _pairs(model[:128])

    def score(position: int) -> tuple[float, int]:
        pairs = _pairs(menu[position])
        return -2 * len(probe & pairs) / (len(probe) + len(pairs)), position

    return tuple(menu[p] for p in sorted(range(len(menu)), key=score)[:limit])


def _distinguishing(providers: list[Provider]) -> str:
    hints = []
    for one in providers:
        others = {name for p in providers if p is not one for name in p.auth_env}
        own = [name for name in one.auth_env if name not in others]
        hints.append(f"{own[0]} for {one.name}" if own else f"{one.name} has no env name of its own")
    return "; ".join(hints)


def reference_check(manifest: Manifest, runtime: str, model: str, auth_env: frozenset[str]) -> Decision:
    trimmed = model.strip()
    spec = manifest.runtimes.get(runtime)
    if spec is None and runtime not in FOREIGN_RUNTIMES:
        known = [*manifest.runtimes, *(name for name in FOREIGN_RUNTIMES if name not in manifest.runtimes)]
        nearest = reference_nearest(known, runtime)
        reason = (
            f"runtime '{display_id(runtime)}' is neither in the registry nor a foreign runtime. "
            f"Nearest runtimes: {', '.join(nearest)}."
        )
        return Decision(runtime, trimmed, False, None, Code.RUNTIME_UNSUPPORTED, reason, suggestions=nearest)
    if not trimmed:
        return Decision(
            runtime, trimmed, True, DecisionPath.EMPTY, None, "no model given: the MODEL_REQUIRED gate decides"
        )
    if spec is None:
        why = f"runtime '{runtime}' is not in the registry, which cannot speak for it"
        return Decision(runtime, trimmed, True, DecisionPath.FAIL_OPEN, None, why)
    menu = list(dict.fromkeys(m for arm in spec.arms for m in arm.models))
    shown = display_id(trimmed)

    def refuse(why: str) -> Decision:
        nearest = reference_nearest(menu, trimmed)
        hint = f" Nearest menu ids: {', '.join(nearest)}." if nearest else ""
        reason = f"{why}.{hint} Pick a menu id, or an id a native BYOK provider's pattern accepts."
        return Decision(runtime, trimmed, False, None, Code.UNREGISTERED_MODEL_FOR_RUNTIME, reason, suggestions=nearest)

    if UNSERVABLE.search(trimmed):
        return refuse(f"model id '{shown}' contains control characters; no provider serves it")
    owners = list(dict.fromkeys(arm.provider for arm in spec.arms if trimmed in arm.models))
    if owners:
        candidates = [p.name for p in owners]
        authed = [p for p in owners if not auth_env.isdisjoint(p.auth_env)]
        chosen = authed[0] if len(owners) > 1 and len(authed) == 1 else owners[0]
    else:
        matches = [arm.provider for arm in spec.arms if _re2.compile(arm.provider.model_prefix_match).search(trimmed)]
        if not matches:
            return refuse(
                f"no provider native to runtime '{runtime}' serves '{shown}': "
                "it is not on the menu and no native provider's pattern matches it"
            )
        candidates = [p.name for p in matches]
        authed = [p for p in matches if not auth_env.isdisjoint(p.auth_env)]
        if len(matches) == 1 or len(authed) == 1:
            chosen = matches[0] if len(matches) == 1 else authed[0]
        else:
            tied = [p.name for p in authed] if authed else candidates
            advice = (
                "the auth env names given authenticate more than one of them; pass only the one the workspace uses"
                if authed
                else f"pass the workspace's auth env names to settle it ({_distinguishing(matches)})"
            )
            reason = f"'{shown}' matches several providers native to '{runtime}': {', '.join(tied)}; {advice}"
            return Decision(
                runtime, trimmed, False, None, Code.AMBIGUOUS_MODEL_FOR_RUNTIME, reason, candidates=tuple(tied)
            )
        if chosen.name == PLATFORM:
            return refuse(
                f"'{shown}' would be billed to the platform's key but is not on the '{runtime}' menu; "
                "platform-billed models must be listed there exactly"
            )
    billing = billing_mode_for(chosen.name)
    where = f"on the '{runtime}' menu" if owners else f"routed by {chosen.name}'s pattern"
    return Decision(
        runtime,
        trimmed,
        True,
        DecisionPath.MENU if owners else DecisionPath.ROUTE,
        None,
        f"{where}; served by {chosen.name}, billed {billing.value}",
        provider=chosen,
        billing_mode=billing,
        required_env=chosen.auth_env,
        candidates=tuple(candidates),
    )


# --- crafted manifests and id families ---------------------------------------------------------------

# Patterns the prefix filter reads (anchored literals, classes, alternation, case folding with RE2's
# k/s partners) and patterns it must leave to RE2 (unanchored, a leading class too wide to spell).
FILTERED = [
    provider("kappa", "(?i)^k[a-c]-"),
    provider("sigma", "(?i)^(s|sx)[:/]"),
    provider("tau", "^tau(-|:)(mini|max)"),
    provider("pi", "^pi\\.[0-9]"),
]
UNFILTERED = [
    provider("omega", "turbo"),
    provider("digits", "^\\d+-model"),
]
WIDE = manifest_doc(
    [*copy.deepcopy(BASE["providers"]), *FILTERED, *UNFILTERED],
    {
        "filtered": [
            {"name": "kappa", "models": ["ka-one", "Kb-two"]},
            {"name": "sigma"},
            {"name": "tau", "models": ["tau-mini-1", "ka-one"]},
            {"name": "pi"},
            {"name": "platform", "models": ["platform/listed"]},
        ],
        "unfiltered": [
            {"name": "omega"},
            {"name": "digits"},
            {"name": "beta", "models": ["beta/x"]},
            {"name": "platform", "models": ["turbo-platform"]},
        ],
    },
)
MENU_WORDS = [a + b for a in ("al", "be", "ga", "de", "ka", "si", "ta", "pi") for b in ("pha", "ta", "mma", "x", "")]
BIG_MENU = manifest_doc(
    [provider("alpha", "^alpha[:/]"), provider("platform", "^platform/")],
    {
        "big": [
            {"name": "alpha", "models": [f"alpha/{MENU_WORDS[i % len(MENU_WORDS)]}-{i}" for i in range(1500)]},
            {"name": "platform", "models": [f"platform/{MENU_WORDS[i % len(MENU_WORDS)]}-{i}" for i in range(1500)]},
        ]
    },
)


def _registry(doc: dict[str, Any], cache_size: int) -> Registry:
    return Registry.from_yaml(yaml.safe_dump(doc, sort_keys=False), source="crafted", cache_size=cache_size)


REGISTRIES = {
    name: (_registry(doc, 0), _registry(doc, 64))
    for name, doc in {"base": copy.deepcopy(BASE), "wide": WIDE, "big": BIG_MENU}.items()
}
RUNTIMES = [(name, runtime) for name, (cold, _) in REGISTRIES.items() for runtime in cold.runtimes]
MENU_IDS = [m for name, (cold, _) in REGISTRIES.items() for rt in cold.runtimes for m in cold.menu(rt)]
HEADS = [
    "alpha",
    "beta",
    "gamma",
    "shared",
    "platform",
    "k",
    "K",
    "\u212a",
    "s",
    "S",
    "\u017f",
    "sx",
    "tau",
    "pi",
    "turbo",
    "12",
    "",
]
TAILS = st.text(alphabet="abkst-:/._ 0123456789\u212a\u017f\x00\u00e9", max_size=12)
CASE = st.sampled_from([str, str.upper, str.lower, str.swapcase, str.title])
IDS = st.one_of(
    st.builds(
        lambda head, sep, tail, case: case(head + sep + tail),
        st.sampled_from(HEADS),
        st.sampled_from(["", "-", ":", "/", "."]),
        TAILS,
        CASE,
    ),
    st.sampled_from(MENU_IDS),
    st.builds(
        lambda m, case, pad: pad + case(m) + pad, st.sampled_from(MENU_IDS), CASE, st.sampled_from(["", " ", "\t"])
    ),
    st.builds(lambda m, cut: m[:cut], st.sampled_from(MENU_IDS), st.integers(1, 12)),
    st.builds(lambda m, n: m + "x" * n, st.sampled_from(MENU_IDS), st.integers(100, 300)),
    st.text(max_size=20),
)
AUTH = st.frozensets(st.sampled_from(["DELTA_KEY", "EPSILON_KEY", "ALPHA_API_KEY", "GAMMA_API_KEY", "KAPPA_API_KEY"]))


def _same(decision: Decision, expected: Decision) -> None:
    """Every field, the JSON shape, equality and hash agree."""
    assert decision.to_dict() == expected.to_dict()
    assert decision.provider == expected.provider
    assert decision == expected and hash(decision) == hash(expected)


@given(where=st.sampled_from(RUNTIMES), model=IDS, auth_env=AUTH)
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_cold_and_cached_decisions_equal_the_reference(
    where: tuple[str, str], model: str, auth_env: frozenset[str]
) -> None:
    name, runtime = where
    cold, cached = REGISTRIES[name]
    expected = reference_check(cold.manifest, runtime, model, auth_env)
    for registry in (cold, cached, cold, cached):  # twice: a decision made ahead or cached answers the same
        _same(registry.check(runtime, model, auth_env), expected)


@given(model=IDS, runtime=st.one_of(st.text(max_size=8), st.sampled_from(FOREIGN_RUNTIMES)))
@settings(max_examples=200, deadline=None)
def test_unknown_runtimes_and_empty_ids_equal_the_reference(model: str, runtime: str) -> None:
    cold, _ = REGISTRIES["base"]
    for text in (model, " " * len(model)):
        _same(cold.check(runtime, text), reference_check(cold.manifest, runtime, text, frozenset()))


def test_every_menu_id_of_the_reference_registry_equals_the_reference(reference: Registry) -> None:
    cold = Registry(reference.manifest, cache_size=0)
    auths = [frozenset(), *(frozenset(p.auth_env) for p in reference.catalog.values())]
    for runtime in reference.runtimes:
        for model in reference.menu(runtime):
            for auth_env in auths:
                _same(
                    cold.check(runtime, model, auth_env), reference_check(reference.manifest, runtime, model, auth_env)
                )


# --- laziness and the value object ------------------------------------------------------------------


def test_a_refusal_builds_its_reason_and_suggestions_only_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    cold, _ = REGISTRIES["big"]
    calls: list[str] = []
    nearest = RuntimeIndex.nearest

    def counted(self: RuntimeIndex, model: str, limit: int = 3) -> tuple[str, ...]:
        calls.append(model)
        return nearest(self, model, limit)

    monkeypatch.setattr(RuntimeIndex, "nearest", counted)
    decision = cold.check("big", "alpha-7")
    assert decision.code is Code.UNREGISTERED_MODEL_FOR_RUNTIME and calls == []
    assert "Nearest menu ids: alpha/" in decision.reason and calls == ["alpha-7"]
    assert decision.suggestions == reference_nearest(list(cold.menu("big")), "alpha-7") and calls == ["alpha-7"]


@pytest.mark.parametrize("model", ["alpha/one", "beta/anything", "shared-x", "nowhere", "platform/x", " ", "\x00"])
def test_decisions_are_immutable_values(model: str) -> None:
    cold, _ = REGISTRIES["base"]
    decision = cold.check("rt", model)
    for field in decision.__match_args__:
        with pytest.raises(AttributeError):
            setattr(decision, field, None)
    with pytest.raises(AttributeError):
        decision.extra = 1  # type: ignore[attr-defined]
    copied = pickle.loads(pickle.dumps(decision))
    assert copied == decision and hash(copied) == hash(decision) and copied.to_dict() == decision.to_dict()
    assert repr(decision).startswith(f"Decision(runtime='rt', model={decision.model!r}, allowed=")
    assert decision != decision.to_dict()


# --- the literal-prefix filter ------------------------------------------------------------------------

ALPHABET = "abkKsS-:/.\u212a\u017f"
LITERAL = st.text(alphabet=ALPHABET, min_size=1, max_size=4).map(
    lambda text: "".join("\\" + c if c == "." else c for c in text)
)
ATOM = st.one_of(
    LITERAL,
    st.lists(st.sampled_from("abkKs-:/"), min_size=1, max_size=4).map(
        lambda cs: "[" + "".join(cs).replace("-", "\\-") + "]"
    ),
    st.lists(LITERAL, min_size=2, max_size=3).map(lambda alts: "(" + "|".join(alts) + ")"),
    st.sampled_from([".", "\\d", "a*", "(a|)", "\\b"]),
)
PATTERNS = st.builds(
    lambda fold, atoms, anchored, other: ("(?i)" if fold else "") + ("^" if anchored else "") + "".join(atoms) + other,
    st.booleans(),
    st.lists(ATOM, min_size=1, max_size=4),
    st.booleans(),
    st.sampled_from(["", "$", "|^zz", "|zz"]),
)
TEXTS = st.text(alphabet=ALPHABET + "xyz09\u00df", max_size=10)


@given(pattern=PATTERNS, texts=st.lists(TEXTS, min_size=1, max_size=30))
@settings(max_examples=600, deadline=None)
def test_the_prefix_filter_never_hides_a_match(pattern: str, texts: list[str]) -> None:
    """Whatever RE2 finds, the filter lets through; what it stops, RE2 would not have found."""
    prefix_filter = PrefixFilter.of([pattern])
    if prefix_filter is None:
        return
    compiled = _re2.compile(pattern)
    prefixes = literal_prefixes(pattern)
    assert prefixes is not None
    # Texts spelled from the prefixes themselves, in every case, reach the matching branch often.
    spelled = [case(p) + t for p in prefixes.strings for case in (str, str.upper) for t in texts[:3]]
    for text in [*texts, *spelled]:
        if compiled.search(text):
            assert prefix_filter.may_match(text), (pattern, text)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("^openrouter[:/]", {"openrouter:", "openrouter/"}),
        ("(?i)^(glm-|zai[:/])", {"glm-", "zai:", "zai/"}),
        ("^(sonnet|opus|haiku)$", {"sonnet", "opus", "haiku"}),
        ("(?i)^K", {"k"}),
        ("turbo", None),
        ("^\\d+-", None),
        ("^(a|)b", {"ab", "b"}),
        ("^(a|)", None),
        ("^a|b", None),
    ],
)
def test_literal_prefixes_of_known_patterns(pattern: str, expected: set[str] | None) -> None:
    found = literal_prefixes(pattern)
    assert (None if found is None else set(found.strings)) == expected


def test_every_runtime_of_the_reference_registry_is_filtered(reference: Registry) -> None:
    """The reference's patterns are all anchored literals: a refusal there needs RE2 only when a prefix fits."""
    for runtime in reference.runtimes:
        patterns = [arm.provider.model_prefix_match for arm in reference.arms(runtime)]
        prefix_filter = PrefixFilter.of(patterns)
        assert prefix_filter is not None and not prefix_filter.may_match("zz-unknown")
        for pattern in patterns:
            prefixes = literal_prefixes(pattern)
            assert prefixes is not None
            for prefix in prefixes.strings:
                assert prefix_filter.may_match(prefix.upper() if prefixes.folded else prefix + "x")
