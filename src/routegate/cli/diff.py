"""``routegate diff OLD NEW``: what a manifest edit changes, every model id's decision and who pays, proven."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ._common import (
    CommandFailed,
    Exit,
    Output,
    Subparsers,
    add_auth_env,
    add_budget_options,
    add_command,
    budget_from,
    invalid_manifest,
    unreadable_template,
)

if TYPE_CHECKING:
    from routegate.proof.diff import ChangeKind, ManifestDiff
    from routegate.registry import Registry
    from routegate.templates import Template

__all__ = ["register"]


def _fail_on(text: str) -> set[ChangeKind]:
    from routegate.proof.diff import ChangeKind

    try:
        return {ChangeKind(kind.strip()) for kind in text.split(",") if kind.strip()}
    except ValueError:
        raise CommandFailed(f"--fail-on takes kinds among {', '.join(ChangeKind)}, comma-separated") from None


def _registry(path: str) -> Registry:
    """The manifest at ``path`` (``-``: standard input) as a registry; an unusable one is exit 2."""
    from routegate.errors import InvalidManifest
    from routegate.manifest import load_manifest, parse_manifest
    from routegate.registry import Registry

    try:
        manifest = parse_manifest(sys.stdin.read(), source="<stdin>") if path == "-" else load_manifest(path)
    except InvalidManifest as error:
        raise invalid_manifest(error) from None
    return Registry(manifest)


def _templates(folder: str | None) -> list[Template]:
    from routegate.errors import InvalidTemplate, TemplateNotFound
    from routegate.templates import find_templates, load_template

    if folder is None:
        return []
    try:
        return [load_template(config) for config in find_templates(folder)]
    except (InvalidTemplate, TemplateNotFound) as error:
        raise unreadable_template(error) from None


def cmd_diff(args: argparse.Namespace, out: Output) -> int:
    """Every change class a manifest edit makes, proven over all model ids; risky kinds fail."""
    from routegate.proof.diff import diff

    if args.old == "-" and args.new == "-":
        raise CommandFailed("only one of OLD and NEW can be read from standard input ('-')")
    fail_on = _fail_on(args.fail_on)
    old, new = _registry(args.old), _registry(args.new)
    templates = _templates(args.templates)
    result = diff(old, new, args.auth_env, budget=budget_from(args), templates=templates)
    failed = result.failed(fail_on, strict=args.strict)
    if out.as_json:
        out.json(result.to_dict())
    elif args.format == "markdown":
        out.line(result.to_markdown())
    else:
        _print_changes(result, fail_on, args, out)
        verdict = out.paint("failed", "no") if failed else out.paint("ok", "ok")
        proof = "proven over every id" if result.proven else "NOT proven (see unproven)"
        out.line(f"{verdict}: {len(result.changes)} change class(es), {proof}")
    return Exit.NO if failed else Exit.OK


def _print_changes(result: ManifestDiff, fail_on: set[ChangeKind], args: argparse.Namespace, out: Output) -> None:
    out.line(f"{args.old} ({result.old_fingerprint}) -> {args.new} ({result.new_fingerprint})")
    for label, added, removed in (
        ("runtimes", result.runtimes_added, result.runtimes_removed),
        ("providers", result.providers_added, result.providers_removed),
    ):
        for name in added:
            out.line(f"  {label} + {name}")
        for name in removed:
            out.line(f"  {label} - {name}")
    for provider in result.providers_changed:
        out.line(f"  providers ~ {provider.name}: {', '.join(provider.fields)}")
    runtime = None
    for change in result.changes:
        if change.runtime != runtime:
            runtime = change.runtime
            out.line(out.paint(f"runtime {runtime}", "bold"))
        style = "no" if change.kind in fail_on else "warn"
        listed = f"  ({len(change.ids)} menu id(s): {', '.join(change.ids)})" if change.ids else ""
        more = "  (and ids beyond the menus)" if change.ids and change.by_pattern else ""
        kind = out.paint(f"{change.kind:<16}", style)
        out.line(f"  {kind} {change.witness!r}: {change.old} -> {change.new}{listed}{more}")
    for item in result.templates:
        out.line(f"  template {item.template}: {item.id!r} {item.kind}: {item.old} -> {item.new}")
    for dated in result.lifecycle:
        out.line(f"  {out.paint(f'{dated.kind:<16}', 'no' if dated.kind in fail_on else 'warn')} {dated}")
    for gap in result.unproven:
        out.line(out.paint("unproven", "no" if args.strict else "warn") + f" [runtime {gap.runtime}] {gap.reason}")


def register(subparsers: Subparsers, command: str) -> None:
    """Adds diff (the only ``command`` here), whose two manifests are its arguments, so it takes no ``--manifest``."""
    parser = add_command(
        subparsers,
        "diff",
        cmd_diff,
        "what a manifest edit changes: every model id's decision and who pays, proven",
        description="Every change class between two manifests, each with a witness id check() confirms. "
        "Exit 1 when a change is of a kind in --fail-on.",
    )
    parser.add_argument("old", metavar="OLD", help="the manifest before the edit ('-': standard input)")
    parser.add_argument("new", metavar="NEW", help="the manifest after the edit ('-': standard input)")
    parser.add_argument("--format", choices=("text", "markdown"), default="text", help="text, or a pull-request table")
    add_auth_env(parser)
    parser.add_argument(
        "--fail-on",
        metavar="KINDS",
        default="to_platform,lost",
        help="comma-separated kinds that exit 1 (default to_platform,lost; '' never fails)",
    )
    parser.add_argument("--templates", metavar="DIR", help="also list each template model whose decision changes")
    parser.add_argument("--strict", action="store_true", help="ids the prover could not decide exactly also exit 1")
    add_budget_options(parser)
