"""Error messages of the ``lab`` package in the page's language.

``lab`` raises its errors in English (the command line prints them as they are). A page shows one inside a
translated sentence (``tr("maml.err_input", msg=str(exc))``); :func:`localize` turns the messages a student or
teacher can meet in the app (an episode that asks for more drawings than a class has, a missing or damaged
checkpoint, no Omniglot folder, out of memory) into Simplified Chinese by matching their fixed wording. A
message it does not know stays as it is, marked as untranslated detail, so nothing is lost.
"""

from __future__ import annotations

import re

_FIX = r"re-run `python -m lab pretrain`"
_FIX_ZH = "请重新运行 `python -m lab pretrain`"
# (pattern, Chinese template): the named groups fill the template.
_ZH: list[tuple[re.Pattern[str], str]] = [(re.compile(p, re.S), z) for p, z in [
    (r"k_shot=(?P<k>\d+) \+ n_query=(?P<q>\d+) = (?P<n>\d+) drawings per class but (?P<src>.+?) has (?P<lim>\d+); "
     r"choose k_shot \+ n_query <= \d+",
     "每类需要 {k} 个支持样本 + {q} 个查询 = {n} 张图像，但 {src} 每类只有 {lim} 张；请让样本数 + 查询数 ≤ {lim}"),
    (r"n_way=(?P<n>\d+) but (?P<src>.+?) has (?P<c>\d+) classes; choose n_way <= \d+",
     "类别数 {n} 超过了 {src} 的 {c} 个类别；请选择不超过 {c} 的类别数"),
    (rf"(?P<path>.+?) is missing; {re.escape(_FIX)}", "找不到 {path}；" + _FIX_ZH),
    (r"(?P<path>.+?) is missing; make it with `(?P<cmd>[^`]+)`", "找不到 {path}；请用 `{cmd}` 生成"),
    (rf"(?P<path>.+?) is corrupted \(checksum mismatch\); {re.escape(_FIX)}", "{path} 已损坏（校验和不符）；" + _FIX_ZH),
    (rf"(?P<path>.+?) cannot be read by torch\.load \((?P<err>\w+)\); {re.escape(_FIX)}",
     "torch.load 无法读取 {path}（{err}）；" + _FIX_ZH),
    (rf"(?P<path>.+?) is not valid JSON \((?P<err>.+)\); {re.escape(_FIX)}", "{path} 不是有效的 JSON（{err}）；" + _FIX_ZH),
    (rf"(?P<path>.+?) was made by lab (?P<old>\S+) \(checkpoint format (?P<f>\S+)\); this is lab (?P<new>\S+) "
     rf"\(format (?P<f2>\S+)\) — {re.escape(_FIX)}",
     "{path} 由 lab {old}（检查点格式 {f}）生成，当前是 lab {new}（格式 {f2}）——" + _FIX_ZH),
    (r"(?P<path>.+?) holds a '(?P<got>[^']+)' model, not '(?P<want>[^']+)'; pass the right checkpoint",
     "{path} 保存的是 '{got}' 模型，而不是 '{want}'；请选择正确的检查点"),
    (rf"(?P<path>.+?) (?:does not hold a state dict|does not match its config's network.*?|lacks the .+? fields"
     rf"|has no config\.net object.*?); {re.escape(_FIX)}",
     "{path} 的内容与其配置不符；" + _FIX_ZH),
    (r"(?P<dev>\w+) ran out of memory; lower (?P<what>.+?) and try again", "{dev} 内存不足；请减小{what}后重试"),
    (r"Omniglot path (?P<root>.+?) does not exist; expected .*",
     "Omniglot 路径 {root} 不存在；请指向包含 images_background 和 images_evaluation（zip 或已解压）的文件夹"),
    (r"no Omniglot (?:copy found|folder is configured).*",
     "未找到 Omniglot 数据：设置 LAB_OMNIGLOT_DIR 指向其文件夹，或运行 `python -m lab data omniglot --download`"),
    (r"(?P<root>.+?): no Omniglot images found; expected .*", "{root} 中没有找到 Omniglot 图像；请检查文件夹结构"),
    (r"the (?P<m>\S+) projection needs the optional package (?P<p>\S+) \(pip install \S+\).*",
     "{m} 投影需要可选软件包 {p}（pip install {p}）；请改用 PCA"),
]]
# Words of the "lower ... and try again" hint, in the sliders' own Chinese names.
_WORDS_ZH = {"inner steps": "内循环步数", "ways": "类别数", "shots": "样本数", "queries": "查询数",
             "episodes": "情节数", "classes": "类别数", "steps": "步数", " or ": "或", ", ": "、"}
UNTRANSLATED_ZH = "（英文原文）"


def localize(message: str, lang: str) -> str:
    """Return ``message`` (an English error of ``lab``) in ``lang``: translated when its wording is known,
    else unchanged after a marker saying it is untranslated. English is returned as it is."""
    if lang != "zh" or not message:
        return message
    for pattern, template in _ZH:
        match = pattern.fullmatch(message.strip().rstrip("."))
        if match:
            values = match.groupdict()
            if "what" in values:
                for en, zh in _WORDS_ZH.items():
                    values["what"] = values["what"].replace(en, zh)
            return template.format(**values)
    return UNTRANSLATED_ZH + message
