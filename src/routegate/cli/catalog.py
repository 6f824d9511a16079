"""``routegate catalog lifecycle --from litellm``: catalog dates as a proposed manifest edit (a patch).

The dates are facts to review, not to trust: the command prints a unified diff adding one
``lifecycle`` entry per dated menu id, each naming its source, and changes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import CommandFailed, Exit, Output, Subparsers, add_command, registry_from

__all__ = ["register"]


def cmd_catalog(args: argparse.Namespace, out: Output) -> int:
    """Exit 0 with the patch (empty when the catalog dates nothing new), 2 when the catalog cannot be read."""
    from routegate.catalog import (
        CatalogUnavailable,
        UnpatchableManifest,
        installed_litellm_catalog,
        installed_litellm_source,
        patch,
        proposals,
        read_catalog,
    )
    from routegate.manifest import bundled_manifest_path

    registry = registry_from(args)
    try:
        path = Path(args.file) if args.file else installed_litellm_catalog()
        source = str(path) if args.file else installed_litellm_source()
        found = proposals(registry, read_catalog(path), source)
        manifest = Path(args.manifest) if args.manifest else bundled_manifest_path()
        diff = patch(manifest.read_text(encoding="utf-8"), manifest.name, found) if found else ""
    except (CatalogUnavailable, UnpatchableManifest) as error:
        raise CommandFailed(str(error), {"error": type(error).__name__, "message": str(error)}) from None
    if out.as_json:
        dates = [
            {"model": f.model, "retires_on": f.retires_on.isoformat(), "key": f.key, "source": f.source} for f in found
        ]
        out.json({"source": source, "proposals": dates, "patch": diff})
    elif diff:
        out.line(diff.rstrip("\n"))
    else:
        out.line(f"{source} dates no menu id that the manifest does not date already")
    return Exit.OK


def register(subparsers: Subparsers, command: str) -> None:
    """Adds ``catalog`` with its options."""
    parser = add_command(
        subparsers,
        command,
        cmd_catalog,
        "catalog facts about the manifest's models, as a proposed manifest edit to review",
        manifest=True,
    )
    parser.add_argument("facts", choices=["lifecycle"], help="which facts: lifecycle (deprecation and retirement)")
    parser.add_argument(
        "--from",
        dest="catalog",
        choices=["litellm"],
        required=True,
        help="the catalog: litellm (the model_prices_and_context_window_backup.json the installed package ships)",
    )
    parser.add_argument(
        "--file", metavar="PATH", help="a catalog file in LiteLLM's format instead of the installed one"
    )
