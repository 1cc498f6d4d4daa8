"""Every string exists in English and Simplified Chinese, with the same {placeholders}."""

from __future__ import annotations

import string

import pytest

from lab.i18n import LANGUAGES, strings, t, translator


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def test_both_languages_have_the_same_keys() -> None:
    en, zh = strings("en"), strings("zh")
    assert set(LANGUAGES) == {"en", "zh"}
    assert en.keys() == zh.keys(), sorted(en.keys() ^ zh.keys())


@pytest.mark.parametrize("key", sorted(strings("en")))
def test_same_placeholders_and_non_empty(key: str) -> None:
    en, zh = strings("en")[key], strings("zh")[key]
    assert en.strip() and zh.strip()
    assert _fields(en) == _fields(zh), key


def test_chinese_strings_are_chinese() -> None:
    zh = strings("zh")
    with_cjk = [k for k, v in zh.items() if any("\u4e00" <= ch <= "\u9fff" for ch in v)]
    assert len(with_cjk) >= 0.9 * len(zh)


def test_t_formats_and_falls_back() -> None:
    assert t("fig.support", "en", k=5) == "support points (K = 5)"
    assert "5" in t("fig.support", "zh", k=5)
    assert t("no.such.key", "zh") == "no.such.key"
    assert translator("xx").lang == "en"
    with pytest.raises(ValueError, match="not available"):
        strings("fr")
