"""The declaration's JSON Schema, composed from a provider-neutral base and the registered
provider classes (their names, settings, mappable fields, identity and audience options).

`reconciler schema` prints the composition for the providers registered now; the file shipped in
the package (`reconciler/schema/audiences.schema.json`, for editors) is the composition for the
built-ins, which a test keeps equal.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from reconciler.config.model import MAPPABLE_FIELDS
from reconciler.providers.base import Identity, Provider

# Audience keys a provider class may list in `audience_options`, with their schema.
AUDIENCE_OPTIONS: dict[str, dict[str, Any]] = {
    "description": {"description": "the audience's description", "type": "string"},
}
FIELD_DESCRIPTIONS: dict[str, str] = {
    "phone": "header of the phone number column",
    "email": "header of the e-mail column",
    "first_name": "header of the first name column",
    "last_name": "header of the last name column",
    "country": "header of the country column (ISO alpha-2)",
    "identifier": "header of the member identifier column",
}
IDENTITY_PHRASES = {Identity.PHONE: "phone", Identity.PHONE_OR_EMAIL: "phone or email"}
# A display name: not only spaces, no C0/C1 control character (the checks also refuse a final
# newline, which Python's `$` lets through, and invisible formatting characters).
_CONTROLS = "\\u0000-\\u001f\\u007f-\\u009f"
NAME_PATTERN = f"^[^{_CONTROLS}]*[^\\s{_CONTROLS}][^{_CONTROLS}]*$"

BASE: dict[str, Any] = {'$schema': 'https://json-schema.org/draft/2020-12/schema',
 '$id': 'https://reconciler.invalid/schema/audiences.schema.json',
 'title': 'reconciler declaration (audiences.yaml)',
 'type': 'object',
 'additionalProperties': False,
 'required': ['version', 'audiences'],
 'properties': {'version': {'description': 'format version of this file; always 1', 'const': 1},
                'defaults': {'description': 'settings every audience inherits unless it sets its own',
                             'type': 'object',
                             'additionalProperties': False,
                             'properties': {'phone_region': {'$ref': '#/$defs/phoneRegion'}}},
                'providers': {'description': 'optional per-provider settings',
                              'type': 'object',
                              'additionalProperties': False,
                              'properties': {}},
                'state': {'description': 'where the state lives (optional; default: a local directory state/ '
                                         'next to this file)',
                          'type': 'object',
                          'additionalProperties': False,
                          'properties': {'backend': {'description': 'local (a directory, the default) or '
                                                                    'postgres (a workspace in a PostgreSQL '
                                                                    'database)',
                                                     'enum': ['local', 'postgres']},
                                         'url_env': {'description': 'postgres: the environment variable '
                                                                    'holding the libpq URL (default '
                                                                    'RECONCILER_STATE_URL); the URL never '
                                                                    'goes in this file',
                                                     'type': 'string',
                                                     'pattern': '^[A-Za-z_][A-Za-z0-9_]*$'},
                                         'workspace': {'description': 'postgres: one state per workspace '
                                                                      '(default "default")',
                                                       'type': 'string',
                                                       'pattern': '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$'},
                                         'path': {'description': 'local: the state directory, relative to '
                                                                 'this file (default state)',
                                                  'type': 'string',
                                                  'minLength': 1}}},
                'audiences': {'description': 'the audiences to manage, by key; the key is a stable '
                                             'identity and is never sent to a provider',
                              'type': 'object',
                              'propertyNames': {'$ref': '#/$defs/audienceKey'},
                              'additionalProperties': {'$ref': '#/$defs/audience'}}},
 '$defs': {'querySource': {'description': 'a query source: the members are the rows of a SQL query, read '
                                          'from PostgreSQL in a read-only transaction',
                           'type': 'object',
                           'additionalProperties': False,
                           'required': ['query', 'url_env'],
                           'properties': {'query': {'description': 'one SELECT statement; columns name its '
                                                                   'result columns',
                                                    'type': 'string',
                                                    'minLength': 1},
                                          'url_env': {'description': 'the environment variable holding the '
                                                                     'PostgreSQL connection URL, e.g. '
                                                                     'WAREHOUSE_URL',
                                                      'type': 'string',
                                                      'pattern': '^[A-Za-z_][A-Za-z0-9_]*$'},
                                          'statement_timeout': {'description': 'seconds each statement of '
                                                                               'the query (and each fetch '
                                                                               'of its rows) may run '
                                                                               '(default 300)',
                                                                'type': 'integer',
                                                                'minimum': 1,
                                                                'maximum': 86400}}},
           'audienceKey': {'description': "a stable slug of letters, digits, '-', '_' and '.', starting "
                                          'with a letter or digit (at most 100 characters)',
                           'type': 'string',
                           'pattern': '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$'},
           'phoneRegion': {'description': 'ISO 3166-1 alpha-2 region (e.g. US, GB) used for phone numbers '
                                          'written without a country code',
                           'type': 'string',
                           'pattern': '^[A-Za-z]{2}$'},
           'baseUrl': {'description': "the provider's API base URL (sandboxes, proxies); when set it is "
                                      'used instead of the <PROVIDER>_BASE_URL environment variable',
                       'type': 'string',
                       'pattern': '^https?://[^\\s]+$'},
           'providerSettings': {'description': 'provider settings',
                                'type': 'object',
                                'additionalProperties': False,
                                'properties': {'base_url': {'$ref': '#/$defs/baseUrl'}}},
           'header': {'description': 'a header (column name) in the source file',
                      'type': 'string',
                      'minLength': 1},
           'audience': {'description': 'one audience',
                        'type': 'object',
                        'additionalProperties': False,
                        'required': ['provider', 'name', 'source', 'columns'],
                        'properties': {'name': {'description': "the audience's display name at the "
                                                               'provider: 1-255 characters, not only '
                                                               'spaces, no control characters',
                                                'type': 'string',
                                                'minLength': 1,
                                                'maxLength': 255,
                                                'pattern': NAME_PATTERN},
                                       'source': {'description': 'where the members come from: a CSV '
                                                                 '(.csv, .txt, .tsv) or Excel (.xlsx) file '
                                                                 'relative to the config file, or a '
                                                                 'mapping with a PostgreSQL query and '
                                                                 'url_env',
                                                  'if': {'type': 'object'},
                                                  'then': {'$ref': '#/$defs/querySource'},
                                                  'else': {'type': ['string', 'object'], 'minLength': 1}},
                                       'columns': {'type': 'object',
                                                   'additionalProperties': False,
                                                   'minProperties': 1,
                                                   'properties': {}},
                                       'phone_region': {'$ref': '#/$defs/phoneRegion'},
                                       'delimiter': {'description': "CSV delimiter: one of ',' ';' '|' or "
                                                                    'a tab ("\\t" or the word tab); '
                                                                    'sniffed when left out',
                                                     'enum': [',', ';', '|', '\t', 'tab']},
                                       'encoding': {'description': 'text encoding of a CSV source (default '
                                                                   'utf-8-sig: UTF-8 with or without a '
                                                                   'BOM)',
                                                    'type': 'string',
                                                    'minLength': 1},
                                       'sheet': {'description': 'the worksheet to read from an .xlsx '
                                                                'source (default: the first sheet)',
                                                 'type': 'string',
                                                 'minLength': 1},
                                       'protect': {'description': 'refuse to replace or delete this '
                                                                  'audience unless allowed by flag',
                                                   'type': 'boolean'},
                                       'max_shrink': {'description': 'largest share of members (0 to 1) an '
                                                                     'update may remove before the guard '
                                                                     'refuses it (default 0.3)',
                                                      'type': 'number',
                                                      'minimum': 0,
                                                      'maximum': 1},
                                       'shrink_min_members': {'description': 'the shrink guard applies '
                                                                             'only to audiences with at '
                                                                             'least this many members '
                                                                             '(default 10)',
                                                              'type': 'integer',
                                                              'minimum': 0}}}}}


def _join(words: list[str], last: str = "and") -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


def _only(owners: list[type[Provider]], everyone: int) -> str:
    """' (CommBox only)' when not every provider has it."""
    return f" ({_join([c.title for c in owners])} only)" if len(owners) < everyone else ""


def _settings_schema(cls: type[Provider]) -> dict[str, Any]:
    if not cls.settings:
        return {"$ref": "#/$defs/providerSettings"}
    required = [k for k, s in cls.settings.items() if s.required]
    description = f"{cls.title} settings"
    if required:
        verb = "is" if len(required) == 1 else "are"
        description += f"; {_join(required)} {verb} required when an audience uses {cls.title}"
    properties: dict[str, Any] = {
        key: {"description": s.description, **dict(s.schema)} for key, s in cls.settings.items()
    }
    properties["base_url"] = {"$ref": "#/$defs/baseUrl"}
    return {"description": description, "type": "object", "additionalProperties": False,
            "properties": properties}


def compose_schema(classes: Mapping[str, type[Provider]]) -> dict[str, Any]:
    """The declaration's JSON Schema for the provider classes `classes` (name -> class)."""
    schema = copy.deepcopy(BASE)
    every = list(classes.values())
    titles = [c.full_title or c.title for c in every]
    composed: dict[str, Any] = {
        "$schema": schema.pop("$schema"),
        "$id": schema.pop("$id"),
        "title": schema.pop("title"),
        "description": "Audiences as code: which contact lists should exist at "
        f"{_join(titles)}, and where their members come from.",
    }
    composed.update(schema)
    settings = {name: _settings_schema(c) for name, c in classes.items()}
    composed["properties"]["providers"]["properties"] = settings
    audience = composed["$defs"]["audience"]["properties"]
    options: dict[str, Any] = {
        "provider": {
            "description": f"where the audience lives: {_join(list(classes), 'or')}",
            "enum": list(classes),
        },
        "name": audience.pop("name"),
    }
    for option, option_schema in AUDIENCE_OPTIONS.items():
        owners = [c for c in every if option in c.audience_options]
        if owners:
            described = option_schema["description"] + _only(owners, len(every))
            options[option] = {**option_schema, "description": described}
    options["source"] = audience.pop("source")
    by_identity: dict[str, list[str]] = {}
    for cls in every:
        by_identity.setdefault(IDENTITY_PHRASES[cls.identity], []).append(cls.title)
    needs = ", ".join(
        f"{phrase} is required for {_join(owners)}" if i == 0 else f"{phrase} for {_join(owners)}"
        for i, (phrase, owners) in enumerate(by_identity.items())
    )
    columns = audience.pop("columns")
    fields: dict[str, Any] = {}
    for field in MAPPABLE_FIELDS:
        owners = [c for c in every if field in c.fields]
        if owners:
            described = FIELD_DESCRIPTIONS[field] + _only(owners, len(every))
            fields[field] = {"$ref": "#/$defs/header", "description": described}
    options["columns"] = {"description": f"which source header holds each field; {needs}", **columns,
                          "properties": fields}
    options.update(audience)
    composed["$defs"]["audience"]["properties"] = options
    return composed


def schema_json(schema: Mapping[str, Any]) -> str:
    """The schema as the shipped file writes it (two-space indent, trailing newline)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
