"""The lifecycle load rules that take decisions: a dated model routes, and so does its successor.

The document schema checks what an entry says on its own (:mod:`routegate._schema`);
these rules need each runtime's decisions, so the :class:`~routegate.Registry`
runs them when it is built, before it answers anything: a manifest whose
successor would strand a workspace, or move it to another payer, never serves.
"""

from __future__ import annotations

from collections.abc import Iterator

from routegate.billing import BillingMode, billing_mode_for
from routegate.decision import DecisionIndexes, check
from routegate.errors import Problem
from routegate.lifecycle import Lifecycle, LifecycleEntry, Stage
from routegate.manifest import Manifest

__all__ = ["lifecycle_problems"]

_NO_AUTH: frozenset[str] = frozenset()


def lifecycle_problems(manifest: Manifest, indexes: DecisionIndexes, lifecycle: Lifecycle) -> list[Problem]:
    """Every entry's subject is admitted where it is dated, and its successor with the same payer."""
    problems: list[Problem] = []
    for index, entry in enumerate(manifest.lifecycle):
        at = f"lifecycle[{index}]"
        payers = dict(_payers(manifest, indexes, entry, at, problems))
        if entry.successor is not None:
            problems.extend(_successor_problems(indexes, lifecycle, entry, payers, f"{at}.successor"))
    return problems


def _payers(
    manifest: Manifest, indexes: DecisionIndexes, entry: LifecycleEntry, at: str, problems: list[Problem]
) -> Iterator[tuple[str, BillingMode]]:
    """Each runtime the entry dates an id on, with who pays for that id there."""
    named = entry.runtimes
    found = False
    for runtime in named or tuple(manifest.runtimes):
        described = manifest.runtimes.get(runtime)
        if described is None:
            continue  # the schema reports an unknown runtime
        if entry.provider is not None:
            if any(arm.provider.name == entry.provider for arm in described.arms):
                found = True
                yield runtime, billing_mode_for(entry.provider)
            elif named:
                problems.append(
                    Problem(
                        f"{at}.runtimes",
                        f"runtime '{runtime}' has no arm of provider '{entry.provider}', so nothing is dated "
                        "there; leave it out of 'runtimes'",
                    )
                )
            continue
        decision = check(indexes, runtime, entry.model or "", _NO_AUTH)
        if decision.billing_mode is not None:
            found = True
            yield runtime, decision.billing_mode
        elif named:
            problems.append(
                Problem(
                    f"{at}.model",
                    f"runtime '{runtime}' does not admit '{entry.model}' ({decision.code}); "
                    "date an id it admits, or leave the runtime out of 'runtimes'",
                )
            )
    if not found and not named:
        problems.append(
            Problem(
                at,
                f"{entry.subject} is admitted by no runtime, so the entry dates nothing; name an id on a menu "
                "or one a native provider's pattern routes (a provider some runtime has an arm of), or remove it",
            )
        )


def _successor_problems(
    indexes: DecisionIndexes, lifecycle: Lifecycle, entry: LifecycleEntry, payers: dict[str, BillingMode], at: str
) -> Iterator[Problem]:
    successor = entry.successor or ""
    for runtime, payer in payers.items():
        decision = check(indexes, runtime, successor, _NO_AUTH)
        if not decision.allowed:
            yield Problem(
                at,
                f"successor '{successor}' is not admitted on '{runtime}' ({decision.code}): a workspace moved "
                "to it would be refused; name an id that runtime admits",
            )
            continue
        if decision.billing_mode is not payer:
            yield Problem(
                at,
                f"successor '{successor}' is billed {decision.billing_value} on '{runtime}', but the id it "
                f"succeeds is billed {payer.value}: moving workspaces would change who pays; "
                "name a successor with the same payer",
            )
            continue
        own = lifecycle.governing(runtime, successor, decision.provider_name)
        for day in entry.dates():
            stage = Stage.ACTIVE if own is None else own.stage(day)
            if stage is not Stage.ACTIVE:
                yield Problem(
                    at,
                    f"successor '{successor}' is itself {stage.value} on '{runtime}' on {day}; "
                    "name an id that is active on the dates it takes over",
                )
                break
