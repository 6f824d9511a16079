"""The table of refusal codes is the one source: every place that shows a code carries exactly its rows.

Each target names the codes it carries, read off what it really serves: the
service's status map, the console's wording, the generated TypeScript and Go,
the docs' table (docs/codes.md, written by hand and held to :func:`docs_table`
here). :func:`discrepancies` compares each with the table; the second test
shows the comparison bites, for a code the targets lack and for one the table lacks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path

from routegate.codes import Code, IntegrationCode, RefusalCode, Row
from routegate.gen import go, typescript
from routegate.manifest import load_manifest
from routegate.service.console import views
from routegate.service.http_errors import STATUS, ServiceCode

from .test_layers import SOURCE, import_graph

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "codes.md"
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TABLE: tuple[RefusalCode, ...] = (*Code, *ServiceCode, *IntegrationCode)

Carried = Mapping[str, object]
"""What a target carries: each code it names, with what it says about the code."""


def given_by(code: RefusalCode) -> str:
    if isinstance(code, ServiceCode):
        return "the service"
    if isinstance(code, IntegrationCode):
        return "the LiteLLM integration"
    return "`check()` and the create gates" if code.row.model_decision else "the create gates"


def docs_table(codes: Iterable[RefusalCode]) -> str:
    """The table docs/codes.md shows, one row per code."""
    rows = [f"| `{code.value}` | {code.row.status} | {given_by(code)} | {code.row.meaning} |" for code in codes]
    return "\n".join(["| code | status | given by | when |", "|---|---|---|---|", *rows])


_DOCS_ROW = re.compile(r"\| `(\w+)` \| (\d+) \| (.+?) \| (.+) \|")


def _docs_rows() -> dict[str, object]:
    found = (_DOCS_ROW.fullmatch(line) for line in DOCS.read_text(encoding="utf-8").splitlines())
    return {m[1]: (int(m[2]), m[3], m[4]) for m in found if m}


@cache
def _generated_typescript() -> str:
    return typescript.render(load_manifest())


@cache
def _generated_go() -> str:
    return go.render(load_manifest())


def _typescript_codes() -> dict[str, object]:
    union = re.search(r"^export type DecisionCode = (.+);$", _generated_typescript(), re.MULTILINE)
    assert union is not None
    return dict.fromkeys(re.findall(r'"(\w+)"', union[1]), "a DecisionCode")


def _go_codes() -> dict[str, object]:
    return {value: f"Code{name}" for name, value in re.findall(r'^\tCode(\w+)\s+= "(\w+)"$', _generated_go(), re.M)}


# Each target: (what it carries, what the table says it should carry).
TARGETS: dict[str, tuple[Callable[[], Carried], Callable[[Iterable[RefusalCode]], Carried]]] = {
    "http_errors.STATUS": (
        lambda: {str(code): status for code, status in STATUS.items()},
        lambda table: {code.value: code.row.status for code in table if not isinstance(code, IntegrationCode)},
    ),
    "console wording": (
        lambda: views._GROUP_REASONS,
        lambda table: {code.value: code.row.console_group for code in table if code.row.console_group},
    ),
    "generated TypeScript": (
        _typescript_codes,
        lambda table: {code.value: "a DecisionCode" for code in table if code.row.model_decision},
    ),
    "generated Go": (
        _go_codes,
        lambda table: {code.value: f"Code{go._camel(code.value)}" for code in table if code.row.model_decision},
    ),
    "docs/codes.md": (
        _docs_rows,
        lambda table: {code.value: (code.row.status, given_by(code), code.row.meaning) for code in table},
    ),
}


def discrepancies(table: Iterable[RefusalCode]) -> dict[str, dict[str, set[str]]]:
    """For each target that differs from ``table``: the codes it lacks or says otherwise, and those the table lacks."""
    table = tuple(table)
    found = {}
    for target, (carried_by, expected_of) in TARGETS.items():
        carried, expected = carried_by(), expected_of(table)
        differ = {code for code in carried.keys() & expected.keys() if carried[code] != expected[code]}
        missing = (expected.keys() - carried.keys()) | differ
        unknown = carried.keys() - expected.keys()
        if missing or unknown:
            found[target] = {"missing or different": missing, "not in the table": unknown}
    return found


def test_every_target_carries_exactly_the_codes_of_the_table() -> None:
    assert not discrepancies(TABLE), (
        "a target differs from the table of codes (src/routegate/codes.py, ServiceCode); "
        f"docs/codes.md's table should read:\n\n{docs_table(TABLE)}\n"
    )


class _Extra(RefusalCode):
    """A code added to the table and nowhere else."""

    TEAPOT = Row("TEAPOT", 418, "a new code", model_decision=True, console_group="brewed on {runtime}")


def test_a_code_missing_from_a_target_or_from_the_table_is_caught() -> None:
    added = discrepancies((*TABLE, _Extra.TEAPOT))
    assert set(added) == set(TARGETS)
    assert all(found["missing or different"] == {"TEAPOT"} for found in added.values())

    # AMBIGUOUS_MODEL_FOR_RUNTIME is in every target: each must notice the table no longer has it.
    dropped = discrepancies(code for code in TABLE if code is not Code.AMBIGUOUS_MODEL_FOR_RUNTIME)
    assert set(dropped) == set(TARGETS)
    assert all(found["not in the table"] == {"AMBIGUOUS_MODEL_FOR_RUNTIME"} for found in dropped.values())


def test_each_code_is_spelt_as_its_member_name_and_given_once() -> None:
    assert [code.name for code in TABLE] == [code.value for code in TABLE]
    assert len({code.value for code in TABLE}) == len(TABLE)


def test_a_status_cited_beside_a_code_in_the_docs_is_the_code_s_status() -> None:
    """Prose such as "409 `MANIFEST_WOULD_STRAND`" names a code of the table, with its status."""
    statuses = {code.value: code.row.status for code in TABLE}
    cited = [
        (document.name, int(status), code)
        for document in DOCUMENTS
        for status, code in re.findall(r"\b([1-5]\d\d) `([A-Z][A-Z_]+)`", document.read_text(encoding="utf-8"))
    ]
    assert cited
    assert [c for c in cited if statuses.get(c[2]) != c[1]] == []


def test_the_table_sits_below_every_other_module() -> None:
    assert import_graph(SOURCE)["routegate.codes"] == set()
