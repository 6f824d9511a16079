"""The ``routegate`` command.

Exit codes: 0 yes/ok, 1 no/problems found, 2 usage or unreadable input.
``--json`` prints machine output on stdout; without it, text for people,
coloured on a terminal. Imports are deferred to the command that needs them,
so a one-shot ``routegate check`` stays cheap.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from routegate.registry import Registry

EXIT_OK, EXIT_NO, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments or unreadable input: exit 2."""

    def __init__(self, message: str, payload: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.payload = payload or {"error": "usage", "message": message}


class Output:
    """Writes a command's answer as JSON or as (optionally coloured) text."""

    _COLOURS: Mapping[str, str] = MappingProxyType({"ok": "32", "no": "31", "warn": "33", "dim": "2", "bold": "1"})

    def __init__(self, as_json: bool, stream: Any = None) -> None:
        self.as_json = as_json
        self.stream = stream or sys.stdout
        self.colour = not as_json and self.stream.isatty() and "NO_COLOR" not in os.environ

    def paint(self, text: str, style: str) -> str:
        return f"\x1b[{self._COLOURS[style]}m{text}\x1b[0m" if self.colour else text

    def json(self, payload: object) -> None:
        json.dump(payload, self.stream, indent=2, ensure_ascii=False)
        self.stream.write("\n")

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")


def _registry(args: argparse.Namespace) -> Registry:
    from routegate.errors import InvalidManifest
    from routegate.registry import Registry

    try:
        return Registry.load(args.manifest, cached=True)
    except InvalidManifest as error:
        raise UsageError(
            str(error),
            {
                "error": "invalid_manifest",
                "message": f"{error.source}: the manifest is invalid; run 'routegate lint' for details",
                "problems": [{"where": p.where, "message": p.message} for p in error.problems],
            },
        ) from None


# --- commands ------------------------------------------------------------------------------


def cmd_lint(args: argparse.Namespace, out: Output) -> int:
    from routegate.errors import InvalidManifest
    from routegate.manifest import load_manifest

    try:
        manifest = load_manifest(args.manifest)
    except InvalidManifest as error:
        if out.as_json:
            out.json({"ok": False, "problems": [{"where": p.where, "message": p.message} for p in error.problems]})
        else:
            out.line(out.paint(f"{error.source}: {len(error.problems)} problem(s)", "no"))
            for problem in error.problems:
                out.line(f"  {out.paint(problem.where, 'bold')}: {problem.message}")
        return EXIT_NO
    if out.as_json:
        out.json({"ok": True, "problems": [], "fingerprint": manifest.fingerprint})
    else:
        out.line(
            out.paint("ok", "ok") + f" {manifest.source}: {len(manifest.providers)} providers, "
            f"{len(manifest.runtimes)} runtimes, fingerprint {manifest.fingerprint}"
        )
    return EXIT_OK


def cmd_derive(args: argparse.Namespace, out: Output) -> int:
    from routegate.billing import billing_mode_for
    from routegate.errors import DeriveError

    registry = _registry(args)
    try:
        derivation = registry.derivation(args.runtime, args.model, args.auth_env)
    except DeriveError as error:
        payload = {"error": error.kind, "message": str(error), "candidates": list(error.candidates)}
        if out.as_json:
            out.json(payload)
        else:
            out.line(out.paint(f"{error.kind}: ", "no") + str(error))
        if args.explain and not out.as_json:
            _print_steps(registry, args, out)
        return EXIT_NO
    provider = derivation.provider
    payload = {
        "runtime": args.runtime,
        "model": args.model.strip(),
        "provider": provider.name,
        "billing_mode": billing_mode_for(provider.name).value,
        "step": derivation.step,
    }
    if args.explain:
        payload["steps"] = list(registry.explain(args.runtime, args.model, args.auth_env).steps)
    if out.as_json:
        out.json(payload)
    else:
        out.line(f"{out.paint(provider.name, 'ok')} ({payload['billing_mode']}, step: {derivation.step})")
        if args.explain:
            _print_steps(registry, args, out)
    return EXIT_OK


def _print_steps(registry: Registry, args: argparse.Namespace, out: Output) -> None:
    for number, step in enumerate(registry.explain(args.runtime, args.model, args.auth_env).steps, 1):
        out.line(out.paint(f"  {number}. ", "dim") + step)


def cmd_check(args: argparse.Namespace, out: Output) -> int:
    registry = _registry(args)
    decision = registry.check(args.runtime, args.model, args.auth_env)
    if out.as_json:
        payload = decision.to_dict()
        if args.explain:
            payload["steps"] = list(registry.explain(args.runtime, args.model, args.auth_env).steps)
        out.json(payload)
    else:
        answer = decision.to_dict()
        if decision.allowed:
            who = f" -> {answer['provider']} ({answer['billing_mode']})" if decision.provider else ""
            out.line(out.paint("allowed", "ok") + f" [{answer['path']}]{who}")
            if decision.required_env:
                out.line(f"  needs one of: {', '.join(decision.required_env)}")
        else:
            out.line(out.paint(f"rejected {answer['code']}", "no"))
        out.line(f"  {decision.reason}")
        if args.explain:
            _print_steps(registry, args, out)
    return EXIT_OK if decision.allowed else EXIT_NO


def cmd_upstream(args: argparse.Namespace, out: Output) -> int:
    from routegate.errors import NotNamespaced

    registry = _registry(args)
    try:
        upstream = registry.upstream(args.model)
    except NotNamespaced as error:
        if out.as_json:
            out.json({"error": "not_namespaced", "message": str(error)})
        else:
            out.line(out.paint("not namespaced: ", "no") + str(error))
        return EXIT_NO
    payload = {
        "vendor": upstream.vendor,
        "model": upstream.model,
        "provider": upstream.provider.name,
        "base_url": upstream.provider.base_url_template,
    }
    if out.as_json:
        out.json(payload)
    else:
        base_url = payload["base_url"] or "SDK default"
        out.line(f"{upstream.vendor} / {upstream.model} via {upstream.provider.name} ({base_url})")
    return EXIT_OK


def _unknown_runtime(registry: Registry, runtime: str, out: Output) -> int:
    message = f"runtime '{runtime}' is not in the registry (known: {', '.join(registry.runtimes)})"
    if out.as_json:
        out.json({"error": "unknown_runtime", "message": message})
    else:
        out.line(out.paint("unknown runtime: ", "no") + message)
    return EXIT_NO


def cmd_models(args: argparse.Namespace, out: Output) -> int:
    registry = _registry(args)
    if args.runtime not in registry.runtimes:
        return _unknown_runtime(registry, args.runtime, out)
    entries = registry.menu_entries(args.runtime)
    if out.as_json:
        out.json(
            {
                "runtime": args.runtime,
                "menu": [
                    {"id": e.id, "provider": e.provider.name, "billing_mode": e.billing_mode.value} for e in entries
                ],
            }
        )
    else:
        width = max((len(e.id) for e in entries), default=0)
        for entry in entries:
            out.line(f"{entry.id:<{width}}  {entry.provider.name}  {out.paint(entry.billing_mode.value, 'dim')}")
    return EXIT_OK


def cmd_providers(args: argparse.Namespace, out: Output) -> int:
    registry = _registry(args)
    if args.runtime not in registry.runtimes:
        return _unknown_runtime(registry, args.runtime, out)
    rows = [
        {
            "name": arm.provider.name,
            "display_name": arm.provider.display_name,
            "routing_only": arm.routing_only,
            "model_prefix_match": arm.provider.model_prefix_match,
            "platform_keyed": arm.provider.platform_keyed,
        }
        for arm in registry.arms(args.runtime)
    ]
    if out.as_json:
        out.json({"runtime": args.runtime, "providers": rows})
    else:
        width = max(len(arm.provider.name) for arm in registry.arms(args.runtime))
        for row in rows:
            kind = "routing-only" if row["routing_only"] else "menu"
            keyed = out.paint(" platform-keyed", "warn") if row["platform_keyed"] else ""
            out.line(f"{row['name']:<{width}}  {kind:<12}  {row['model_prefix_match']}{keyed}")
    return EXIT_OK


def cmd_drift(args: argparse.Namespace, out: Output) -> int:
    from routegate.drift import drift
    from routegate.errors import InvalidTemplate, TemplateNotFound
    from routegate.templates import find_templates, load_template

    registry = _registry(args)
    try:
        configs = [config for path in args.paths for config in find_templates(path)]
        templates = [load_template(config) for config in _progress(configs, "reading templates")]
    except (InvalidTemplate, TemplateNotFound) as error:
        raise UsageError(str(error), {"error": "unreadable_template", "message": str(error)}) from None
    reports = [drift(registry, template) for template in templates]
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
    return EXIT_NO if drifted and not args.report_only else EXIT_OK


def _progress(items: list[Any], label: str) -> Any:
    """A progress bar on a terminal when there are many items; the items unchanged otherwise."""
    if len(items) < 20 or not sys.stderr.isatty():
        return items
    from tqdm import tqdm

    return tqdm(items, desc=label, unit="template", leave=False)


# --- wiring ---------------------------------------------------------------------------------

Command = Callable[[argparse.Namespace, Output], int]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--manifest", metavar="PATH", help="manifest file (default: the bundled reference registry)")
    common.add_argument("--json", action="store_true", help="machine-readable output on stdout")

    parser = argparse.ArgumentParser(
        prog="routegate",
        description="Model-routing registry and workspace-create gate.",
        epilog="Exit codes: 0 yes/ok, 1 no/problems found, 2 usage or unreadable input.",
    )
    parser.add_argument("--version", action="version", version="routegate 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    def auth_env(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--auth-env",
            metavar="NAME",
            action="append",
            default=[],
            help="an env var NAME the workspace has (repeatable); settles ties",
        )

    command("lint", cmd_lint, "validate the manifest against every load rule")

    p = command("derive", cmd_derive, "which provider serves MODEL on RUNTIME")
    p.add_argument("runtime")
    p.add_argument("model")
    auth_env(p)
    p.add_argument("--explain", action="store_true", help="show the steps taken")

    p = command("check", cmd_check, "the create gate's decision for MODEL on RUNTIME")
    p.add_argument("runtime")
    p.add_argument("model")
    auth_env(p)
    p.add_argument("--explain", action="store_true", help="show the steps taken")

    p = command("upstream", cmd_upstream, "where the platform's LLM proxy sends MODEL")
    p.add_argument("model")

    p = command("models", cmd_models, "the menu of RUNTIME, with provider and billing")
    p.add_argument("runtime")

    p = command("providers", cmd_providers, "the native providers of RUNTIME")
    p.add_argument("runtime")

    p = command("drift", cmd_drift, "models templates offer that their runtime cannot route")
    p.add_argument("paths", nargs="+", metavar="PATH", help="a template folder, a folder of them, or a config.yaml")
    p.add_argument("--report-only", action="store_true", help="exit 0 even when something drifts")

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Output(getattr(args, "json", False))
    try:
        return args.handler(args, out)
    except UsageError as error:
        if out.as_json:
            out.json(error.payload)
        else:
            print(f"routegate: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
