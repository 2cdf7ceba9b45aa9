"""`reconciler providers`: the registered providers (built-ins and plugins) and what each can do."""

from __future__ import annotations

import argparse
import json
from typing import Any

from reconciler import console
from reconciler.providers import registry
from reconciler.providers.base import Provider


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "providers",
        help="list the registered providers and what each can do",
        description="List every registered provider (built-in, or a plugin registered through the "
        "`reconciler.providers` entry-point group) with its capabilities, limits and settings.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=run)


def describe(cls: type[Provider]) -> dict[str, Any]:
    """What the core knows about a provider class, as JSON data."""
    caps, limits = cls.capabilities, cls.limits
    return {
        "name": cls.name,
        "title": cls.full_title or cls.title,
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "builtin": cls.name in registry.builtins(),
        "env": {"token": cls.token_env, "base_url": cls.base_url_env},
        "default_base_url": cls.default_base_url,
        "settings": {
            key: {"required": s.required, "env": s.env, "description": s.description}
            for key, s in cls.settings.items()
        },
        "fields": list(cls.fields),
        "identity": cls.identity.value,
        "audience_options": list(cls.audience_options),
        "capabilities": {
            "members": caps.members.value,
            "rename": caps.rename,
            "delete": caps.delete,
            "list_members": caps.list_members,
        },
        "limits": {"max_members": limits.max_members, "max_upload_bytes": limits.max_upload_bytes},
        "emulator": cls.emulator,
    }


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _setting(key: str, setting: dict[str, Any]) -> str:
    notes = ["required"] if setting["required"] else []
    notes += [f"env {setting['env']}"] if setting["env"] else []
    return f"{key} ({', '.join(notes)})" if notes else key


def text_lines(entry: dict[str, Any]) -> list[str]:
    """The text description of one provider (from `describe`)."""
    caps, limits = entry["capabilities"], entry["limits"]
    origin = "built-in" if entry["builtin"] else f"plugin {entry['class']}"
    shown = [f"{v:,} {unit}" for v, unit in ((limits["max_members"], "members"),
                                              (limits["max_upload_bytes"], "upload bytes")) if v is not None]
    settings = ", ".join(_setting(k, s) for k, s in entry["settings"].items())
    return [
        f"{entry['name']}  {entry['title']}  ({origin})",
        f"  members    {caps['members']}",
        f"  rename     {_yes(caps['rename'])}    delete {_yes(caps['delete'])}    "
        f"list members {_yes(caps['list_members'])}",
        f"  identity   {entry['identity']}    fields {', '.join(entry['fields'])}",
        f"  limits     {', '.join(shown) or 'none'}",
        f"  settings   {settings + ', ' if settings else ''}base_url",
        f"  env        {entry['env']['token']}, {entry['env']['base_url']}",
        f"  emulator   {entry['emulator'] or 'none (cannot run in --sandbox)'}",
    ]


def run(args: argparse.Namespace) -> int:
    entries = [describe(cls) for cls in registry.providers().values()]
    out = console.stdout()
    if args.json:
        document = {"format_version": "1", "providers": entries, "problems": registry.problems()}
        out.out(json.dumps(document, indent=2), highlight=False)
        return 0
    lines: list[str] = []
    for entry in entries:
        lines += [*text_lines(entry), ""]
    lines += [f"warning: {problem}" for problem in registry.problems()]
    lines.append(f"{len(entries)} providers registered.")
    for line in lines:
        out.print(line, markup=False, highlight=False)
    return 0
