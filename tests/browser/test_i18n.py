"""Translations: every catalog translates every message, placeholders survive, and the
language is picked from ?lang=, the cookie or Accept-Language. (No browser needed.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from core.model import LANGUAGES
from signalling.http.i18n import extract, load_i18n, parse_accept_language
from web import STATIC_DIR

WEB = STATIC_DIR.parent
TRANSLATIONS = WEB / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}")


def _ids(path: Path) -> set[str]:
    with path.open("rb") as fh:
        return {str(m.id) for m in read_po(fh) if m.id}


def test_template_lists_every_string_in_templates_and_scripts() -> None:
    extracted = {str(m.id) for m in extract(WEB) if m.id}
    assert extracted == _ids(TRANSLATIONS / "messages.pot"), (
        "web/translations/messages.pot is stale: run `python -m signalling.http.i18n extract` "
        "and `python -m signalling.http.i18n update`"
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalog_translates_every_message(lang: str) -> None:
    template = _ids(TRANSLATIONS / "messages.pot")
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    translated = {str(m.id): str(m.string) for m in catalog if m.id}
    missing = sorted(template - {k for k, v in translated.items() if v.strip()})
    assert not missing, f"{lang}: untranslated: {missing[:10]}"
    fuzzy = [str(m.id) for m in catalog if m.id and m.fuzzy]
    assert not fuzzy, f"{lang}: fuzzy: {fuzzy[:10]}"
    for msgid, text in translated.items():
        assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(text)), (
            f"{lang}: placeholders differ in {msgid!r} -> {text!r}"
        )


def test_javascript_strings_reach_the_page_translated() -> None:
    i18n = load_i18n(WEB)
    assert "Join appointment" not in i18n.js_msgids  # a template string, not a script one
    assert i18n.js_strings["de"]["End-to-end encrypted"] == "Ende-zu-Ende verschlüsselt"
    assert i18n.js_strings["ar"]["Unmute"] == "إلغاء كتم الصوت"
    assert "</" not in i18n.js_catalog_json("ru")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("tr-TR,tr;q=0.9,en;q=0.5", "tr"),
        ("ar", "ar"),
        ("uk-UA", "uk"),
        ("ru-RU,ru;q=0.9", "ru"),
        ("fr-FR,en;q=0.8", "en"),
        ("fr-FR", "de"),
        ("", "de"),
        ("en;q=0.1,ru;q=0.9", "ru"),
        ("de-AT", "de"),
        ("garbage;;;q=x", "de"),
    ],
)
def test_accept_language(header: str, expected: str) -> None:
    assert parse_accept_language(header) == expected
