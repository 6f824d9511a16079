"""The CI gates over a manifest and what depends on it: lint, drift, gen, sync-check.

Each exits 1 when it finds something, so a CI step fails on it; ``--json`` gives the findings.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from ._common import (
    CommandFailed,
    Exit,
    Output,
    Subparsers,
    add_budget_options,
    add_command,
    add_date,
    budget_from,
    invalid_manifest,
    load_manifest_from,
    unreadable_template,
)
from ._progress import TerminalProgress

if TYPE_CHECKING:
    from routegate.manifest import Manifest

__all__ = ["register"]


def cmd_lint(args: argparse.Namespace, out: Output) -> int:
    """Every load rule the manifest breaks (exit 1), or its fingerprint; ``--prove`` adds the overlap proofs."""
    from routegate.errors import InvalidManifest, UnreadableManifest
    from routegate.manifest import load_manifest
    from routegate.registry import Registry

    budget_flags = args.max_states is not None or args.time_budget is not None
    if (args.strict or args.allow_catalog_overlap or budget_flags) and not args.prove:
        raise CommandFailed(
            "--strict, --allow-catalog-overlap, --max-states and --time-budget only apply to --prove; add --prove"
        )
    try:
        manifest = load_manifest(args.manifest)
        if manifest.lifecycle:
            Registry(manifest)  # the lifecycle rules that take decisions: dated ids and successors route
    except UnreadableManifest as error:
        raise invalid_manifest(error) from None
    except InvalidManifest as error:
        if out.as_json:
            out.json({"ok": False, "problems": [{"where": p.where, "message": p.message} for p in error.problems]})
        else:
            out.line(out.paint(f"{error.source}: {len(error.problems)} problem(s)", "no"))
            for problem in error.problems:
                out.line(f"  {out.paint(problem.where, 'bold')}: {problem.message}")
        return Exit.NO
    if args.prove:
        return _lint_prove(manifest, args, out)
    if out.as_json:
        out.json({"ok": True, "problems": [], "fingerprint": manifest.fingerprint})
    else:
        out.line(
            out.paint("ok", "ok") + f" {manifest.source}: {len(manifest.providers)} providers, "
            f"{len(manifest.runtimes)} runtimes, fingerprint {manifest.fingerprint}"
        )
    return Exit.OK


def _lint_prove(manifest: Manifest, args: argparse.Namespace, out: Output) -> int:
    """Pattern overlap proofs. Any overlap fails; catalog-scope ones are information with --allow-catalog-overlap."""
    from routegate.proof.overlaps import Scope, prove

    report = prove(manifest, budget_from(args))
    failed = report.failed(strict=args.strict, allow_catalog_overlap=args.allow_catalog_overlap)
    if out.as_json:
        payload = {"ok": not failed, "problems": [], "fingerprint": manifest.fingerprint, "strict": args.strict}
        out.json(payload | report.to_dict())
        return Exit.NO if failed else Exit.OK
    for overlap in report.overlaps:
        informational = overlap.scope != Scope.RUNTIME and args.allow_catalog_overlap
        where = f"runtime {overlap.runtime}" if overlap.scope == Scope.RUNTIME else "catalog"
        a, b = overlap.providers
        label = out.paint("overlap", "warn" if informational else "no")
        out.line(f"{label} [{where}] {a} and {b} both match {overlap.witness!r}")
    for item in report.unproven:
        where = f"runtime {item.runtime}" if item.scope == Scope.RUNTIME else "catalog"
        label = out.paint("unproven", "no" if args.strict else "warn")
        out.line(f"{label} [{where}] {' and '.join(item.providers)}: {item.reason}")
    for shared in report.shared_ids:
        listed = f"  info [runtime {shared.runtime}] {shared.id} is listed by {', '.join(shared.providers)}"
        out.line(out.paint(listed, "dim"))
    summary = ", ".join(f"{report.disjoint[s]}/{report.pairs[s]} {s} pairs proven disjoint" for s in report.pairs)
    out.line((out.paint("failed", "no") if failed else out.paint("ok", "ok")) + f" {manifest.source}: {summary}")
    return Exit.NO if failed else Exit.OK


def _register_lint(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "lint", cmd_lint, "validate the manifest against every load rule", manifest=True)
    parser.add_argument(
        "--prove", action="store_true", help="prove no two native providers' patterns match one model id"
    )
    parser.add_argument(
        "--strict", action="store_true", help="with --prove: a pair the prover cannot decide is an error"
    )
    parser.add_argument(
        "--allow-catalog-overlap",
        action="store_true",
        help="with --prove: overlaps between providers no runtime combines are information, not failures",
    )
    add_budget_options(parser)


_Item = TypeVar("_Item")
_Result = TypeVar("_Result")
# Fewer items than this are done before anyone would look for a progress bar.
_PROGRESS_FROM = 20


def _map_with_progress(function: Callable[[_Item], _Result], items: Sequence[_Item], label: str) -> list[_Result]:
    """``function`` over ``items``, with a bar on a terminal's stderr when a person watches many."""
    results: list[_Result] = []
    with TerminalProgress(label, _PROGRESS_FROM) as progress:
        for item in items:
            progress(len(results), len(items))
            results.append(function(item))
    return results


def cmd_drift(args: argparse.Namespace, out: Output) -> int:
    """Models the templates offer that their runtime cannot route: exit 1 unless ``--report-only``."""
    from routegate.drift import drift
    from routegate.errors import InvalidTemplate, TemplateNotFound
    from routegate.registry import Registry
    from routegate.templates import find_templates, load_template

    registry = Registry(load_manifest_from(args))
    try:
        configs = [config for path in args.paths for config in find_templates(path)]
        templates = _map_with_progress(load_template, configs, "reading templates")
    except (InvalidTemplate, TemplateNotFound) as error:
        raise unreadable_template(error) from None
    reports = [drift(registry, template, on=args.on) for template in templates]
    if out.as_json:
        out.json({"manifest_fingerprint": registry.fingerprint, "templates": [r.to_dict() for r in reports]})
    else:
        out.line(f"{'template':<16} {'runtime':<14} {'offered':>7} {'routable':>8} {'residual':>8}")
        for report in reports:
            style = "ok" if not report.residual else "no"
            out.line(
                f"{report.template.name:<16} {report.template.runtime or '-':<14} {report.offered:>7} "
                f"{report.routable:>8} " + out.paint(f"{len(report.residual):>8}", style)
            )
            for residual in report.residual:
                out.line(out.paint(f"    {residual.id}  {residual.code}", "dim"))
            if report.default_routable is False:
                out.line(out.paint(f"    default model {report.template.default_model} does not route", "no"))
        out.line(out.paint(f"manifest fingerprint {registry.fingerprint}", "dim"))
    drifted = any(r.residual or r.default_routable is False for r in reports)
    return Exit.NO if drifted and not args.report_only else Exit.OK


def _register_drift(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers, "drift", cmd_drift, "models templates offer that their runtime cannot route", manifest=True
    )
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="a template folder, a folder of them, or a config.yaml"
    )
    parser.add_argument("--report-only", action="store_true", help="exit 0 even when something drifts")
    add_date(parser)


def cmd_gen(args: argparse.Namespace, out: Output) -> int:
    """The registry in another language; ``--check`` says whether a committed copy is stale."""
    from routegate.gen import GenerationError, InvalidPackageName, generate

    if args.package is not None and args.target != "go":
        raise CommandFailed(f"--package names the Go package; it applies to --target go only, not {args.target}")
    if (args.routegate_url is not None or args.api_base) and args.target != "litellm":
        raise CommandFailed(f"--routegate-url and --api-base apply to --target litellm only, not {args.target}")
    manifest = load_manifest_from(args)
    try:
        text = generate(
            manifest,
            args.target,
            package=args.package,
            routegate_url=args.routegate_url,
            api_bases=_api_bases(args.api_base),
        )
    except InvalidPackageName as error:
        raise CommandFailed(str(error)) from None
    except GenerationError as error:
        if out.as_json:
            out.json(
                {
                    "ok": False,
                    "error": "generation_failed",
                    "message": str(error),
                    "provider": error.provider,
                    "pattern": error.pattern,
                }
            )
        else:
            out.line(out.paint("cannot generate: ", "no") + str(error))
        return Exit.NO
    if args.check is not None:
        return _gen_check(manifest, text, args, out)
    if args.output is None:
        out.stream.write(text)
        return Exit.OK
    written = _write_generated(text, args.output)
    if out.as_json:
        out.json({"ok": True, "target": args.target, "path": written, "fingerprint": manifest.fingerprint})
    return Exit.OK


def _api_bases(pairs: list[str]) -> dict[str, str]:
    """--api-base VENDOR=URL, repeated: one base URL per vendor."""
    bases: dict[str, str] = {}
    for pair in pairs:
        vendor, found, url = pair.partition("=")
        if not found or not vendor or not url:
            raise CommandFailed(f"--api-base takes VENDOR=URL, not {pair!r}")
        if vendor in bases:
            raise CommandFailed(f"--api-base names vendor {vendor!r} twice")
        bases[vendor] = url
    return bases


def _write_generated(text: str, path: str) -> str:
    """Writes beside the target, then renames: a reader never sees half a file."""
    from pathlib import Path

    target = Path(path)
    try:
        partial = target.with_name(f".{target.name}.tmp")
        partial.write_bytes(text.encode("utf-8"))
        partial.replace(target)
    except OSError as error:
        raise CommandFailed(f"cannot write {target}: {error.strerror or error}") from None
    return str(target)


def _regenerate_command(args: argparse.Namespace, target: str) -> str:
    """The command line that brings ``target`` up to date, for the stale report."""
    import shlex

    from_manifest = f" --manifest {shlex.quote(args.manifest)}" if args.manifest else ""
    package = f" --package {shlex.quote(args.package)}" if args.package is not None else ""
    url = f" --routegate-url {shlex.quote(args.routegate_url)}" if args.routegate_url is not None else ""
    bases = "".join(f" --api-base {shlex.quote(pair)}" for pair in args.api_base)
    return f"routegate gen --target {args.target}{package}{url}{bases}{from_manifest} -o {shlex.quote(target)}"


def _gen_check(manifest: Manifest, text: str, args: argparse.Namespace, out: Output) -> int:
    """gen --check: a missing or different file is stale (1); an unreadable one is a usage error (2)."""
    from pathlib import Path

    from routegate.gen import recorded_fingerprint, staleness

    target = Path(args.check)
    regenerate = _regenerate_command(args, str(target))
    try:
        committed: bytes | None = target.read_bytes()
    except FileNotFoundError:
        committed = None
    except OSError as error:
        message = f"cannot read {target}: {error.strerror or error}"
        raise CommandFailed(message, {"error": "unreadable", "message": message}) from None
    if committed is None:
        summary, recorded = [f"{target} does not exist; run: {regenerate}"], None
    else:
        summary, recorded = staleness(text, committed, label=str(target)), recorded_fingerprint(committed)
    if out.as_json:
        out.json(
            {
                "ok": not summary,
                "target": args.target,
                "path": str(target),
                "fingerprint": manifest.fingerprint,
                "recorded_fingerprint": recorded,
                "diff": summary,
            }
        )
    elif summary:
        was = f", {target} was generated from {recorded}" if recorded and recorded != manifest.fingerprint else ""
        out.line(
            out.paint(f"stale: {target}", "no")
            + f" (manifest fingerprint {manifest.fingerprint}{was}); regenerate with: {regenerate}"
        )
        for line in summary:
            out.line(f"  {line}")
    else:
        out.line(out.paint("fresh", "ok") + f" {target} (fingerprint {manifest.fingerprint})")
    return Exit.NO if summary else Exit.OK


def _register_gen(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "gen",
        cmd_gen,
        "generate the registry for another language, or check a generated file",
        manifest=True,
    )
    parser.add_argument(
        "--target",
        required=True,
        choices=("typescript", "python", "go", "jsonschema", "litellm"),
        help="what to generate: typescript and go carry the data with check() and derive(), "
        "python the data alone, jsonschema the manifest's schema, litellm a LiteLLM proxy config "
        "serving exactly the ids billed to the platform",
    )
    parser.add_argument("--package", metavar="NAME", help="with --target go: the Go package name (default routegate)")
    parser.add_argument(
        "--routegate-url", metavar="URL", help="with --target litellm: the routegate service the proxy asks"
    )
    parser.add_argument(
        "--api-base",
        metavar="VENDOR=URL",
        action="append",
        default=[],
        help="with --target litellm: this vendor's base URL instead of the manifest's (a staging upstream); repeatable",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", metavar="PATH", help="write here (default: stdout)")
    where.add_argument("--check", metavar="PATH", help="exit 1 with a diff summary when PATH is stale")


def cmd_sync_check(args: argparse.Namespace, out: Output) -> int:
    """A vendored copy of the manifest equals its source (or its pinned sha256), byte for byte."""
    from routegate.sync import UnreadableCopy, sync_check

    if len(args.files) > 2:
        raise CommandFailed("give CANONICAL COPY, or COPY --pin SHA256: at most two files")
    if len(args.files) == 1 and args.pin is None:
        raise CommandFailed("with one file, give --pin SHA256 (or pass CANONICAL COPY)")
    canonical, copy = (None, args.files[0]) if len(args.files) == 1 else args.files
    try:
        result = sync_check(copy, canonical, pin=args.pin)
    except UnreadableCopy as error:
        raise CommandFailed(str(error), {"error": "unreadable", "message": str(error)}) from None
    except ValueError as error:
        raise CommandFailed(str(error)) from None
    if out.as_json:
        out.json(result.to_dict())
        return Exit.OK if result.ok else Exit.NO
    if result.ok:
        checks = [f"equal to {result.canonical}"] if result.equal else []
        checks += ["matches the pin"] if result.pin_matches else []
        out.line(out.paint("in sync", "ok") + f" {result.copy}: {' and '.join(checks)} (sha256 {result.copy_sha256})")
        return Exit.OK
    out.line(out.paint(f"out of sync: {result.copy}", "no"))
    if result.canonical is not None:
        out.line(f"  canonical {result.canonical}  sha256 {result.canonical_sha256}")
    if result.pin is not None:
        out.line(f"  pinned     sha256 {result.pin}" + ("" if result.pin_matches else "  (does not match)"))
    out.line(f"  copy      {result.copy}  sha256 {result.copy_sha256}")
    diff = result.difference
    if diff is not None:
        out.line(f"  first difference at line {diff.line}:")
        out.line(f"    canonical: {diff.canonical if diff.canonical is not None else '<end of file>'}")
        out.line(f"    copy:      {diff.copy if diff.copy is not None else '<end of file>'}")
    return Exit.NO


def _register_sync_check(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers, "sync-check", cmd_sync_check, "is COPY the canonical manifest byte for byte (or its pinned sha256)"
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="CANONICAL COPY, or COPY alone with --pin")
    parser.add_argument("--pin", metavar="SHA256", help="the sha256 COPY must have")


_REGISTER: Mapping[str, Callable[[Subparsers], None]] = MappingProxyType(
    {
        "lint": _register_lint,
        "drift": _register_drift,
        "gen": _register_gen,
        "sync-check": _register_sync_check,
    }
)


def register(subparsers: Subparsers, command: str) -> None:
    """Adds ``command``, one of this module's, with its options."""
    _REGISTER[command](subparsers)
