"""A refusal's nearest menu ids come from an index, and are exactly the ones a full scan of the menu ranks first.

The reference is the computation the index replaced, kept here as a plain
reading of the rule: every menu id scored by Dice similarity of case-folded
letter pairs, sorted, ties to the id declared first. Menus and ids are drawn
from small alphabets so that equal scores, equal pair sets and ids sharing
no pair with the probe are common, not rare. The runtime's index and its
menu decisions are built when first needed, which the last tests pin.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routegate import Code, Registry
from routegate._suggest import SIMILARITY_PREFIX, SuggestionIndex, letter_pairs, nearest
from routegate.resolution import nearest_names
from tests.manifests import manifest_doc, provider

from .test_fast_paths_match_reference import WIDE, reference_check, reference_nearest

LETTERS = "abAB-1\u00e9\u00df"  # few letters: many ties; \u00df folds to two letters, \u00e9 is not ASCII
MENU_IDS = st.text(alphabet=LETTERS, min_size=1, max_size=7)
PROBES = st.one_of(
    st.text(alphabet=LETTERS, max_size=12),
    st.text(alphabet=LETTERS + "xyz", min_size=SIMILARITY_PREFIX - 4, max_size=SIMILARITY_PREFIX + 40),
    st.text(max_size=6),
)


@given(menu=st.lists(MENU_IDS, max_size=150, unique=True), probe=PROBES, limit=st.integers(1, 6))
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_index_ranks_exactly_as_a_full_scan(menu: list[str], probe: str, limit: int) -> None:
    expected = reference_nearest(menu, probe, limit)
    assert SuggestionIndex(tuple(menu)).nearest(probe, limit) == expected == nearest(menu, probe, limit)


@given(menu=st.lists(MENU_IDS, min_size=1, max_size=40, unique=True), data=st.data())
@settings(max_examples=200, deadline=None)
def test_a_probe_drawn_from_the_menu_ranks_exactly_as_a_full_scan(menu: list[str], data: st.DataObject) -> None:
    """Probes near menu ids (an id, a cut, a case change, a letter added) give high, often tied, scores."""
    model = data.draw(st.sampled_from(menu))
    probe = data.draw(st.sampled_from([model, model[:-1], model.upper(), model + "a", "a" + model.swapcase()]))
    index = SuggestionIndex(tuple(menu))
    for limit in (1, 3, len(menu) + 1):
        assert index.nearest(probe, limit) == reference_nearest(menu, probe, limit) == nearest(menu, probe, limit)


@given(
    probe=st.text(alphabet="abcd", min_size=2, max_size=5),
    cuts=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.text(alphabet="cdwxyz", max_size=9)), max_size=30),
    limit=st.integers(1, 4),
)
@settings(max_examples=400, deadline=None)
def test_pieces_of_the_probe_rank_exactly_as_a_full_scan(
    probe: str, cuts: list[tuple[int, int, str]], limit: int
) -> None:
    """Menu ids cut from the probe and extended: ids sharing more pairs but holding more tie with ids sharing
    fewer, so the places are decided across counts and by menu order."""
    menu = list(dict.fromkeys(probe[start:end] + tail for start, end, tail in cuts if probe[start:end] + tail))
    assert SuggestionIndex(tuple(menu)).nearest(probe, limit) == reference_nearest(menu, probe, limit)


_FRESH = "mnopqrstuvwxyz"  # letters the probes lack: each one appended adds a pair the probe does not share


def ties_across_counts() -> list[tuple[str, str, str]]:
    """(probe, fewer, more): ``fewer`` shares fewer of the probe's pairs than ``more`` and holds fewer, both score
    the same, and ``fewer`` holds the fewest pairs, so the bound taken from it meets the tie exactly."""
    family = []
    for size in range(2, 9):
        probe = "abcdefghi"[: size + 1]  # ``size`` distinct pairs
        for fewer in range(1, size):
            for more in range(fewer + 1, size + 1):
                whole, rest = divmod(more * (size + fewer), fewer)  # 2*more/(size+held) == 2*fewer/(size+fewer)
                held = whole - size
                if rest == 0 and more <= held <= more + len(_FRESH):
                    family.append((probe, probe[: fewer + 1], probe[: more + 1] + _FRESH[: held - more]))
    return family


@pytest.mark.parametrize(("probe", "fewer", "more"), ties_across_counts())
def test_a_tie_across_counts_goes_to_the_id_declared_first(probe: str, fewer: str, more: str) -> None:
    assert len(letter_pairs(fewer)) < len(letter_pairs(more))
    for menu in ([fewer, more], [more, fewer]):
        assert SuggestionIndex(tuple(menu)).nearest(probe, 1) == reference_nearest(menu, probe, 1) == (menu[0],)


def family_menu(rng: random.Random, size: int) -> list[str]:
    """A menu shaped like real ones: a shared vendor prefix, word stems, numbered variants; many equal scores."""
    stems = ["gpt", "claude", "gemini", "llama", "qwen", "kimi", "glm", "mistral"]
    shapes = ["{v}/{s}-{n}", "{v}/{s}-{n}-mini", "{v}:{s}{n}", "{s}-{n}b", "{v}/{s}"]
    ids = (
        rng.choice(shapes).format(v=rng.choice(["alpha", "beta"]), s=rng.choice(stems), n=rng.randint(0, 40))
        for _ in range(size * 2)
    )
    return list(dict.fromkeys(ids))[:size]


@pytest.mark.parametrize("size", [1, 3, 64, 65, 700, 3000])
def test_large_menus_of_model_families_rank_exactly_as_a_full_scan(size: int) -> None:
    rng = random.Random(size)
    menu = family_menu(rng, size)
    index = SuggestionIndex(tuple(menu))
    probes = [*rng.sample(menu, min(len(menu), 20)), "", "x", "zzqq", "GPT-4O", "alpha/", "qwen-7b", "beta:kimi9"]
    probes += [m[: rng.randint(1, len(m))] + rng.choice(["", "-x", "9"]) for m in rng.sample(menu, min(len(menu), 20))]
    for probe in probes:
        for limit in (1, 3, 5):
            expected = reference_nearest(menu, probe, limit)
            assert index.nearest(probe, limit) == expected == nearest(menu, probe, limit), (probe, limit)


@given(names=st.lists(st.text(max_size=8), max_size=12), text=PROBES)
@settings(max_examples=200, deadline=None)
def test_nearest_names_ranks_as_the_reference(names: list[str], text: str) -> None:
    """Repeated names included: each counts as its own place, as in the given order."""
    assert nearest_names(text, names) == reference_nearest(names, text)


@pytest.mark.parametrize(("text", "pairs"), [("", {""}), ("A", {"a"}), ("aBa", {"ab", "ba"}), ("\u00df", {"ss"})])
def test_letter_pairs(text: str, pairs: set[str]) -> None:
    assert letter_pairs(text) == pairs


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_below_one_is_refused(limit: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SuggestionIndex(("a", "b")).nearest("a", limit)
    with pytest.raises(ValueError, match="at least 1"):
        nearest(("a", "b"), "a", limit)


# --- what a first decision builds ----------------------------------------------------------------


def big_menu(size: int) -> Registry:
    doc = manifest_doc(
        [provider("alpha", "^alpha[:/]"), provider("beta", "^beta[:/]")],
        {"big": [{"name": "alpha", "models": family_menu(random.Random(7), size)}, {"name": "beta"}]},
    )
    return Registry.from_yaml(yaml.safe_dump(doc, sort_keys=False), cache_size=0)


def built(registry: Registry, runtime: str) -> Any:
    """The runtime's decision index, if a decision has compiled it (a white-box look, as the build is invisible)."""
    return registry._compiled._compiled.get(runtime)


def suggestion_index(registry: Registry, runtime: str) -> SuggestionIndex | None:
    """The runtime's suggestion index, once built (a white-box look, as the build is invisible)."""
    answer = built(registry, runtime).index._nearest
    return answer.__self__ if isinstance(answer.__self__, SuggestionIndex) else None


def test_a_first_admission_decides_only_its_own_id_and_builds_no_suggestion_index() -> None:
    registry = big_menu(500)
    menu = registry.menu("big")
    decision = registry.check("big", menu[7])
    assert decision.allowed and decision.reason
    index = built(registry, "big")
    assert suggestion_index(registry, "big") is None
    assert list(index._menu_without_auth) == [menu[7]] and list(index._menu_choices) == [menu[7]]
    assert registry.check("big", menu[7]) is decision  # kept once made


def test_the_first_refusal_read_scans_the_menu_and_the_second_builds_the_index_once() -> None:
    registry = big_menu(500)
    menu = list(registry.menu("big"))
    refusal = registry.check("big", "qwen-7b-x")
    assert refusal.code is Code.UNREGISTERED_MODEL_FOR_RUNTIME
    assert refusal.suggestions == reference_nearest(menu, "qwen-7b-x")  # read: the menu scanned
    assert refusal.suggestions[0] in refusal.reason and suggestion_index(registry, "big") is None
    again = registry.check("big", "kimi").to_dict()
    assert again["suggestions"] == list(reference_nearest(menu, "kimi"))
    first = suggestion_index(registry, "big")
    assert first is not None
    registry.check("big", "glm-9").to_dict()
    assert suggestion_index(registry, "big") is first


@given(
    asked=st.lists(
        st.tuples(
            st.sampled_from(["ka-one", "Kb-two", "tau-mini-1", "platform/listed", "kb-zzz", "tau:max"]),
            st.frozensets(st.sampled_from(["KAPPA_API_KEY", "TAU_API_KEY", "SIGMA_API_KEY"])),
        ),
        min_size=1,
        max_size=12,
    )
)
@settings(max_examples=150, deadline=None)
def test_menu_ids_decided_on_demand_answer_the_same_in_any_order(asked: list[tuple[str, frozenset[str]]]) -> None:
    """A fresh runtime asked in any order, with or without auth env names, and ids two arms list among them."""
    fresh = Registry.from_yaml(yaml.safe_dump(WIDE, sort_keys=False), cache_size=0)
    for model, auth_env in asked:
        decision = fresh.check("filtered", model, auth_env)
        expected = reference_check(fresh.manifest, "filtered", model, auth_env)
        assert decision.to_dict() == expected.to_dict() and decision == expected
