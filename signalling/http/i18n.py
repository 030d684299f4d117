"""Translations for the web client: .po catalogs read at start, one Jinja environment per language.

The catalogs live in web/translations/<lang>/LC_MESSAGES/messages.po and are read with Babel when
the app starts (no compile step: they are turned into in-memory .mo data). The template in
web/translations/messages.pot is refreshed with `python -m signalling.http.i18n extract`, and
`python -m signalling.http.i18n update` merges it into every catalog.

The translations were written by the developers and still need a native speaker's review
(Turkish, Arabic, Ukrainian and Russian especially).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations

from core.model import EASY_GERMAN, LANGUAGES, NEGOTIABLE_LANGUAGES, locale_of

DEFAULT_LANGUAGE = "de"
RTL_LANGUAGES = frozenset({"ar"})
LANG_COOKIE = "lj_lang"
DOMAIN = "messages"

# The name of each language in that language, for the picker.
LANGUAGE_NAMES: Mapping[str, str] = {
    "de": "Deutsch",
    "en": "English",
    "tr": "Türkçe",
    "ar": "العربية",
    "uk": "Українська",
    "ru": "Русский",
    EASY_GERMAN: "Leichte Sprache",
}
# Easy language translates what a jobseeker sees (join, waiting room, call, space, errors,
# privacy); the console's strings come in standard German.
FALLBACK_LANGUAGE: Mapping[str, str] = {EASY_GERMAN: "de"}

# Babel's extractors: Jinja templates and the ES modules (strings wrapped in t('...')).
EXTRACT_METHODS = [
    ("templates/**.html", "jinja2"),
    ("static/js/**.js", "javascript"),
]
EXTRACT_OPTIONS = {"static/js/**.js": {"template_string": "false"}}
# `tn(singular, plural, count)` in the scripts is a message with plural forms.
KEYWORDS = {"_": None, "gettext": None, "t": None, "tn": (1, 2)}


def _read_catalog(path: Path, lang: str | None = None) -> Catalog:
    with path.open("rb") as fh:
        # Babel knows no private-use tags: de-x-ls is read with German's plural rules.
        return read_po(fh, locale=locale_of(lang) if lang else None, domain=DOMAIN)


def _to_translations(catalog: Catalog) -> Translations:
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


# What a script gets for one message: its text, or for a message with plural forms the text
# for each CLDR plural category of the language ("one", "few", "many", "other", ...), which
# the page picks with Intl.PluralRules: the gettext rule stays on the server, so the page
# needs no plural expression (and no eval under the CSP).
JsString = str | dict[str, str]
MessageId = str | tuple[str, str]


@dataclass
class I18n:
    """Catalogs and Jinja environments for every language the client ships."""

    translations: dict[str, Translations]
    environments: dict[str, jinja2.Environment]
    js_strings: dict[str, dict[str, JsString]]
    js_msgids: list[MessageId] = field(default_factory=list)

    def env(self, lang: str) -> jinja2.Environment:
        return self.environments[lang]

    def gettext(self, lang: str, message: str) -> str:
        return self.translations[lang].gettext(message)

    def js_catalog_json(self, lang: str) -> str:
        """The page's strings as JSON for a `<script type="application/json">` block."""
        return json_for_script(self.js_strings[lang])


def plural_categories(lang: str) -> dict[str, int]:
    """A whole number for each CLDR plural category the language uses for whole numbers
    (Russian: one 1, few 2, many 0; Arabic: zero, one, two, few, many, other)."""
    try:
        rule = Locale.parse(locale_of(lang)).plural_form
    except (ValueError, UnknownLocaleError):
        rule = Locale.parse(DEFAULT_LANGUAGE).plural_form
    samples: dict[str, int] = {}
    for n in range(200):
        samples.setdefault(rule(n), n)
    return samples


def js_string(trans: Translations, lang: str, message: MessageId) -> JsString:
    if isinstance(message, str):
        return trans.gettext(message)
    singular, plural = message
    return {
        category: trans.ngettext(singular, plural, n)
        for category, n in plural_categories(lang).items()
    }


def json_for_script(value: Any) -> str:
    """JSON safe inside a `<script type="application/json">` block: json.dumps escapes
    nothing HTML-special, and "</" or "<!--" must not end the block."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def js_messages(template: Catalog) -> list[MessageId]:
    """The message ids used by the JavaScript modules (by their source location); a message
    with plural forms as (singular, plural)."""
    ids: list[MessageId] = []
    for message in template:
        if message.id and any(loc.endswith(".js") for loc, _ in message.locations):
            if isinstance(message.id, str):
                ids.append(message.id)
            else:
                ids.append((str(message.id[0]), str(message.id[1])))
    return ids


def load_i18n(web_dir: Path, templates_dir: Path | None = None) -> I18n:
    """Read every catalog and build one autoescaping Jinja environment per language."""
    translations_dir = web_dir / "translations"
    templates = templates_dir or web_dir / "templates"
    template = _read_catalog(translations_dir / f"{DOMAIN}.pot")
    js_ids = js_messages(template)
    result = I18n(translations={}, environments={}, js_strings={}, js_msgids=js_ids)
    # Languages with a fallback come after the one they fall back to.
    for lang in sorted(LANGUAGES, key=lambda code: code in FALLBACK_LANGUAGE):
        catalog = _read_catalog(translations_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po", lang)
        trans = _to_translations(catalog)
        if lang in FALLBACK_LANGUAGE:
            trans.add_fallback(result.translations[FALLBACK_LANGUAGE[lang]])
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates)),
            autoescape=jinja2.select_autoescape(["html", "xml"], default=True),
            extensions=["jinja2.ext.i18n"],
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.install_gettext_translations(trans, newstyle=True)  # type: ignore[attr-defined]
        env.globals["locale_of"] = locale_of
        result.translations[lang] = trans
        result.environments[lang] = env
        result.js_strings[lang] = {
            (mid if isinstance(mid, str) else mid[0]): js_string(trans, lang, mid) for mid in js_ids
        }
    return result


def negotiate_language(request: web.Request) -> str:
    """?lang=, then the lj_lang cookie, then Accept-Language (never easy language), then
    German."""
    for candidate in (request.query.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGUAGES:
            return str(candidate)
    return parse_accept_language(request.headers.get("Accept-Language", ""))


def parse_accept_language(header: str) -> str:
    """The best of our languages for an Accept-Language header (q-values respected)."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        pieces = part.strip().split(";")
        tag = pieces[0].strip()
        if not tag or len(tag) > 35:
            continue
        quality = 1.0
        for param in pieces[1:]:
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, index, tag))
    preferred = [tag for _, _, tag in sorted(weighted)]
    found = Locale.negotiate(preferred, list(NEGOTIABLE_LANGUAGES), sep="-") if preferred else None
    if found is None:
        # Locale.negotiate matches "de" to "de-AT" only through its alias table; be lenient.
        for tag in preferred:
            base = tag.split("-")[0].lower()
            if base in NEGOTIABLE_LANGUAGES:
                return base
        return DEFAULT_LANGUAGE
    return str(found)


def text_direction(lang: str) -> str:
    return "rtl" if lang in RTL_LANGUAGES else "ltr"


def extract(web_dir: Path) -> Catalog:
    """Collect every translatable string of the templates and JS modules into a template."""
    catalog = Catalog(project="lippejob", domain=DOMAIN, charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(web_dir),
        method_map=EXTRACT_METHODS,
        options_map=EXTRACT_OPTIONS,
        keywords=KEYWORDS,
        comment_tags=("Translators:",),
        strip_comment_tags=True,
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def write_catalog(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        write_po(fh, catalog, width=100, sort_output=True, omit_header=False)


def update_catalogs(web_dir: Path, langs: Iterable[str] = LANGUAGES) -> None:
    """Merge the template into each language's catalog (new strings arrive untranslated)."""
    template = _read_catalog(web_dir / "translations" / f"{DOMAIN}.pot")
    for lang in langs:
        path = web_dir / "translations" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        catalog = _read_catalog(path, lang) if path.exists() else Catalog(locale=locale_of(lang))
        catalog.update(template, no_fuzzy_matching=True)
        write_catalog(catalog, path)


def main(argv: list[str]) -> int:
    """`python -m signalling.http.i18n extract|update`."""
    from web import STATIC_DIR

    web_dir = STATIC_DIR.parent
    if argv[:1] == ["extract"]:
        write_catalog(extract(web_dir), web_dir / "translations" / f"{DOMAIN}.pot")
        return 0
    if argv[:1] == ["update"]:
        update_catalogs(web_dir)
        return 0
    print("usage: python -m signalling.http.i18n extract|update", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
