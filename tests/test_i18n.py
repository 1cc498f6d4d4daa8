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


# Names that stay as they are in Chinese text (algorithms, optimizers, a bandit policy).
PROPER_NAMES = {"MAML", "UCB1", "Adam", "Meta-SGD", "RMSprop", "SGD"}


def test_no_chinese_string_is_left_in_english() -> None:
    en, zh = strings("en"), strings("zh")
    left = {k: v for k, v in zh.items()
            if not any("\u4e00" <= ch <= "\u9fff" for ch in v) and v.strip() not in PROPER_NAMES}
    assert not left, left
    same = {k for k, v in zh.items() if v == en[k] and v.strip() not in PROPER_NAMES}
    assert not same, same


def _raised(fn) -> str:
    with pytest.raises(Exception) as info:  # noqa: PT011 - whatever lab raises, its message is what counts
        fn()
    return str(info.value).rstrip(".")


def _real_errors(tmp_path) -> list[str]:
    """Return messages as lab really raises them (so a change of wording there shows up here)."""
    import torch

    from lab.checkpoint import load_checkpoint, save_checkpoint
    from lab.compute import run_guarded
    from lab.tasks.episodes import FewShotFamily
    from lab.tasks.glyphs import GlyphAlphabets

    source = GlyphAlphabets(2, 5)
    stem = tmp_path / "m"
    save_checkpoint(stem, {"w": torch.zeros(2)}, {"net": {}}, kind="maml_sine")
    pt = stem.with_suffix(".pt")
    pt.write_bytes(pt.read_bytes()[:-3] + b"xyz")

    def oom():
        raise RuntimeError("CUDA out of memory")

    return [_raised(lambda: FewShotFamily(source, n_way=50)),
            _raised(lambda: load_checkpoint(tmp_path / "absent", "maml_sine")),
            _raised(lambda: load_checkpoint(stem, "maml_sine")),
            _raised(lambda: run_guarded(oom, "cpu", "ways, queries or inner steps"))]


def test_lab_errors_shown_in_a_chinese_sentence_are_chinese(tmp_path) -> None:
    for message in _real_errors(tmp_path):
        text = t("maml.img.err_input", "zh", msg=message)
        assert "英文原文" not in text, message
        latin = [w for w in text.replace("`python -m lab pretrain`", "").split() if w.isascii() and w.isalpha()]
        assert not [w for w in latin if w not in ("CPU", "glyphs")], (message, text)  # names stay
        assert t("maml.img.err_input", "en", msg=message).endswith(message + ". Change the setting it names.")


def test_an_unknown_error_is_kept_and_marked_untranslated() -> None:
    assert t("maml.img.err_input", "zh", msg="something new").startswith("这组设置无法运行：（英文原文）something new")
