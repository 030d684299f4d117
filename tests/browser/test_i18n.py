"""Translations: every catalog translates every message, placeholders survive, and the
language is picked from ?lang=, the cookie or Accept-Language. (No browser needed.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.pofile import read_po

from core.model import EASY_GERMAN, NEGOTIABLE_LANGUAGES
from signalling.http.i18n import extract, load_i18n, parse_accept_language
from web import STATIC_DIR

WEB = STATIC_DIR.parent
TRANSLATIONS = WEB / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}")


def _key(message: Message) -> str:
    """A message's key: its id, or the singular of a message with plural forms."""
    return message.id if isinstance(message.id, str) else str(message.id[0])


def _ids(path: Path) -> set[str]:
    with path.open("rb") as fh:
        return {_key(m) for m in read_po(fh) if m.id}


def _placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def test_template_lists_every_string_in_templates_and_scripts() -> None:
    extracted = {_key(m) for m in extract(WEB) if m.id}
    assert extracted == _ids(TRANSLATIONS / "messages.pot"), (
        "web/translations/messages.pot is stale: run `python -m signalling.http.i18n extract` "
        "and `python -m signalling.http.i18n update`"
    )


# Easy language translates the jobseeker's messages only (tests/test_easy_language.py).
@pytest.mark.parametrize("lang", NEGOTIABLE_LANGUAGES)
def test_catalog_translates_every_message(lang: str) -> None:
    template = _ids(TRANSLATIONS / "messages.pot")
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    messages = [m for m in catalog if m.id]
    done = {
        _key(m)
        for m in messages
        if (m.string.strip() if isinstance(m.string, str) else all(f.strip() for f in m.string))
    }
    missing = sorted(template - done)
    assert not missing, f"{lang}: untranslated: {missing[:10]}"
    fuzzy = [_key(m) for m in messages if m.fuzzy]
    assert not fuzzy, f"{lang}: fuzzy: {fuzzy[:10]}"
    for m in messages:
        if isinstance(m.id, str):
            assert _placeholders(m.id) == _placeholders(str(m.string)), (
                f"{lang}: placeholders differ in {m.id!r} -> {m.string!r}"
            )
            continue
        # Plural forms: one per form the language has; a form for one number may say the
        # number in words ("رسالة جديدة واحدة"), the last (the general one) keeps them all.
        singular, plural = m.id
        forms = list(m.string)
        assert len(forms) == catalog.num_plurals, f"{lang}: {singular!r}: {len(forms)} forms"
        allowed = set(_placeholders(singular)) | set(_placeholders(plural))
        for form in forms:
            assert set(_placeholders(form)) <= allowed, f"{lang}: {form!r} for {singular!r}"
        assert _placeholders(forms[-1]) == _placeholders(plural), f"{lang}: {forms[-1]!r}"


def test_javascript_strings_reach_the_page_translated() -> None:
    i18n = load_i18n(WEB)
    assert "Join appointment" not in i18n.js_msgids  # a template string, not a script one
    assert i18n.js_strings["de"]["End-to-end encrypted"] == "Ende-zu-Ende verschlüsselt"
    assert i18n.js_strings["ar"]["Unmute"] == "إلغاء كتم الصوت"
    assert "</" not in i18n.js_catalog_json("ru")


def test_scripts_get_a_text_per_plural_category() -> None:
    """A message with plural forms reaches the page as a text per CLDR category of the
    language, which Intl.PluralRules picks: Russian says 1 новое, 3 новых, 5 новых."""
    strings = load_i18n(WEB).js_strings
    assert strings["ru"]["{count} new"] == {
        "one": "{count} новое",
        "few": "{count} новых",
        "many": "{count} новых",
    }
    assert strings["uk"]["{count} new"]["one"] == "{count} нове"
    assert set(strings["ar"]["{count} new"]) == {"zero", "one", "two", "few", "many", "other"}
    assert strings["de"]["{count} new"] == {"one": "{count} neu", "other": "{count} neu"}


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
        # Easy language is never negotiated: a browser asking for it gets plain German.
        (EASY_GERMAN, "de"),
        (f"{EASY_GERMAN},en;q=0.5", "de"),
    ],
)
def test_accept_language(header: str, expected: str) -> None:
    assert parse_accept_language(header) == expected
