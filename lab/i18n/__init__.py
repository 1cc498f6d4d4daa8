"""Every user-visible string of the lab, in English (``en.json``) and Simplified Chinese (``zh.json``).

Keys are dotted names grouped by page (``"maml.title"``); values are ``str.format`` templates whose
``{placeholders}`` must be the same in both languages (``tests/test_i18n.py`` checks it). Pages call
:func:`t` or a :func:`translator` bound to the language chosen in the sidebar.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

from lab.i18n.errors import localize

LANGUAGES: dict[str, str] = {"en": "English", "zh": "简体中文"}
DEFAULT_LANGUAGE = "en"
_HERE = Path(__file__).parent


@cache
def strings(lang: str) -> dict[str, str]:
    """Return the key -> template table of ``lang``; raises ``ValueError`` for an unknown language."""
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r} is not available; choose one of {sorted(LANGUAGES)}")
    return json.loads((_HERE / f"{lang}.json").read_text(encoding="utf-8"))


def t(key: str, lang: str = DEFAULT_LANGUAGE, **values: object) -> str:
    """Return the text of ``key`` in ``lang`` with ``values`` filled in.

    Falls back to English for a key missing in ``lang``, and to the key itself when English lacks it too,
    so a missing string shows up as its name instead of crashing a lesson. A ``msg`` value (an error message
    of ``lab``, raised in English) is put into ``lang`` by :func:`lab.i18n.errors.localize`.
    """
    table = strings(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)
    template = table.get(key) or strings(DEFAULT_LANGUAGE).get(key, key)
    if "msg" in values:  # an error raised in English by lab, shown inside this sentence
        values["msg"] = localize(str(values["msg"]), lang)
    return template.format(**values) if values else template


def translator(lang: str) -> Callable[..., str]:
    """Return ``tr(key, **values)``, :func:`t` bound to ``lang``; ``tr.lang`` holds the language code."""
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE

    def tr(key: str, **values: object) -> str:
        return t(key, lang, **values)

    tr.lang = lang  # type: ignore[attr-defined]
    return tr
