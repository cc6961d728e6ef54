"""The package a target receives: the PDF letter prints every name in its own script
(Arabic script shaped and right to left), with the target, the appeal, the totals and
the table by country; the PDF and the CSV hold names and countries, never an email
address or a postcode; and the CSV is inert in spreadsheets.

Text is read back out of the PDF with pypdf, which gives right-to-left words in the
order they are drawn: names are compared word by word, and the drawing order is
checked from the page's own text operators."""

from __future__ import annotations

import csv
import functools
import io
import re
from dataclasses import dataclass
from datetime import date

import pytest
from pypdf import PdfReader
from pypdf.generic import ContentStream

from petitions.models import Action
from petitions.services import paper
from petitions.services.delivery_package import Addressee, Signer, build_csv, build_pdf, signers
from tests.factories import make_action, make_confirmed_signature, make_signature
from tests.organizer_factories import csv_bytes

NAMES = {
    "persian": Signer("مریم", "رجوی", "IR"),
    "arabic": Signer("محمد", "علی", "EG"),
    "kurdish": Signer("ئاکۆ", "ڕەشید", "IQ"),
    "chinese": Signer("小明", "王", "CN"),
    "japanese": Signer("さくら", "山田", "JP"),
    "accented latin": Signer("Éléonore", "Müller-Łukasz", "FR"),
    "nordic": Signer("Ørjan", "Ståle", "NO"),
    "vietnamese": Signer("Nguyễn Thị", "Minh Khai", "VN"),
    "cyrillic": Signer("Наталья", "Горбаневская", "RU"),
    "greek": Signer("Γιώργος", "Παπαδόπουλος", "GR"),
}
ON_PAPER = Signer("Zoë", "Ferré", "BE", on_paper=True)
# Enough rows for three of the appendix's tables of 500.
MANY = [Signer(f"Many{n:04d}", "Supporter", "FR") for n in range(1001)]
TARGET = Addressee("António Guterres", "Secretary-General", "United Nations")
BY_COUNTRY = {"IR": 34, "FR": 1200, "CN": 5}
ADDRESS = re.compile(r"[^\s<>@]+@[^\s<>@]+\.[a-z]+", re.IGNORECASE)


def appeal() -> Action:
    return Action(slug="free-them", title="Free the detained journalists",
                  body="They were arrested for **reporting** on the protests.\n\n"
                       "Three of them are held without charge.",
                  demands="Release them now.\nDrop all charges.")


@functools.cache
def letter() -> bytes:
    """Built once: it depends on nothing in the database."""
    return build_pdf(appeal(), TARGET, confirmed=1239, paper=1, by_country=BY_COUNTRY,
                     compiled_on=date(2026, 11, 26),
                     rows=[*NAMES.values(), *MANY, ON_PAPER])


@pytest.fixture
def pdf(app) -> bytes:
    return letter()


def text_of(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def flat(text: str) -> str:
    """White space folded, so that a sentence the letter wrapped reads as one line."""
    return " ".join(text.split())


# --- reading the drawn text ----------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    """One string drawn by a text operator: its font, glyphs, their text, and where it starts."""

    font: str
    glyphs: tuple[int, ...]
    text: str
    x: float


def _to_unicode(font: dict) -> dict[int, str]:
    cmap = font["/ToUnicode"].get_object().get_data().decode()
    return {int(glyph, 16): "".join(chr(int(code[i:i + 4], 16))
                                    for i in range(0, len(code), 4))
            for glyph, code in re.findall(r"<([0-9A-Fa-f]{4})>\s*<([0-9A-Fa-f]+)>", cmap)}


def runs(content: bytes) -> list[Run]:
    """Every string the pages draw, in drawing order, with its glyph ids (fpdf2 writes
    two bytes a glyph) and their text from the font's ToUnicode map."""
    reader = PdfReader(io.BytesIO(content))
    found = []
    for page in reader.pages:
        fonts = {name: (str(ref.get_object()["/BaseFont"]), _to_unicode(ref.get_object()))
                 for name, ref in page["/Resources"]["/Font"].items()}
        font, x = None, 0.0
        for operands, operator in ContentStream(page.get_contents(), reader).operations:
            if operator == b"Tf":
                font = operands[0]
            elif operator == b"Td":
                x = float(operands[0])
            elif operator == b"Tm":
                x = float(operands[4])
            elif operator in (b"Tj", b"TJ"):
                strings = operands[0] if operator == b"TJ" else [operands[0]]
                for string in strings:
                    if isinstance(string, (int, float)):
                        continue
                    raw = string.original_bytes if hasattr(string, "original_bytes") \
                        else bytes(string)
                    glyphs = tuple(int.from_bytes(raw[i:i + 2], "big")
                                   for i in range(0, len(raw), 2))
                    base, to_unicode = fonts[font]
                    # A ligature of an Indic cluster may have no ToUnicode entry.
                    text = "".join(to_unicode.get(g, "") for g in glyphs)
                    found.append(Run(base, glyphs, text, x))
    return found


# --- names in every script -------------------------------------------------------------------

@pytest.mark.parametrize("script", sorted(NAMES))
def test_every_name_prints_in_its_own_script(pdf, script):
    signer = NAMES[script]
    words = set(text_of(pdf).split())
    assert {*signer.first_name.split(), *signer.last_name.split()} <= words


def test_every_signer_is_listed_with_their_country(pdf):
    lines = set(text_of(pdf).splitlines())
    for signer in MANY:
        assert f"{signer.first_name} {signer.last_name} France" in lines
    assert "Zoë Ferré Belgium (paper)" in lines
    assert "Éléonore Müller-Łukasz France" in lines
    assert "Наталья Горбаневская Russia" in lines
    assert len(PdfReader(io.BytesIO(pdf)).pages) > 3


def test_arabic_script_names_are_drawn_right_to_left(pdf):
    """Each name's words are drawn from the left as they are read from the right: the
    last word first, each word's letters from its end; and the name is set against the
    right edge of its column, where a left-to-right name starts at the left."""
    drawn = [run for run in runs(pdf) if "Naskh" in run.font]
    texts = [run.text for run in drawn]
    for script in ("persian", "arabic", "kurdish"):
        signer = NAMES[script]
        words = f"{signer.first_name} {signer.last_name}".split()
        expected = [word[::-1] for word in reversed(words)]
        start = texts.index(expected[0])
        assert texts[start:start + len(expected)] == expected, script
    latin_x = next(r.x for r in runs(pdf) if r.text.startswith("Éléo"))
    persian_x = drawn[texts.index("یوجر")].x
    assert persian_x > latin_x + 150


def test_arabic_script_names_are_shaped(pdf):
    """A joining letter takes a different form at the start, in the middle and at the
    end of a word: the same letter is drawn with different glyphs. Unshaped, the font's
    one glyph for the letter would be used every time."""
    drawn = {run.text: run.glyphs for run in runs(pdf) if "Naskh" in run.font}
    maryam = drawn["میرم"]  # مریم drawn from the left: final meem ... initial meem
    assert maryam[0] != maryam[3]
    mohammad = drawn["دمحم"]  # محمد: final dal, medial meem, medial hah, initial meem
    assert mohammad[1] != mohammad[3]
    # The check itself tells glyphs apart only where shaping does: Latin letters have
    # one form, and the two l of Müller are the same glyph.
    latin = next(run for run in runs(pdf) if "Müller" in run.text)
    first_l = latin.text.index("ll")
    assert latin.glyphs[first_l] == latin.glyphs[first_l + 1]


def test_the_fonts_are_embedded(pdf):
    """The names print whatever fonts the reader's computer has."""
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            assert "/FontFile2" in descriptor.get_object(), font["/BaseFont"]


# --- the letter ------------------------------------------------------------------------------

def test_the_letter_is_addressed_to_the_target_with_the_appeal_and_the_totals(pdf):
    text = text_of(pdf)
    lines = text.splitlines()

    # The letterhead names the sender: with no branding set, the default name.
    assert lines[:5] == ["Urgent Actions", "2026-11-26", TARGET.name, TARGET.title,
                         TARGET.organization]
    assert "Free the detained journalists" in lines
    assert f"Dear {TARGET.name}," in lines
    assert "They were arrested for reporting on the protests." in lines
    assert "Three of them are held without charge." in lines
    demands = [line for line in lines if re.match(r"\d\. ", line)]
    assert demands == ["1. Release them now.", "2. Drop all charges."]
    assert ("1,240 people have signed this appeal: 1,239 online, each confirmed by email, "
            "and 1 on paper.") in flat(text)
    table = lines.index("Signatures by country")
    assert lines[table + 1:table + 5] == ["Country Signatures", "France 1,200", "Iran 34",
                                          "China 5"]
    assert "Appendix: the signatories" in lines
    assert PdfReader(io.BytesIO(pdf)).metadata.title == "Free the detained journalists"


def test_markdown_the_fonts_have_no_face_for_still_prints(app):
    """The embedded fonts have no italic and no monospace face, and the letter fetches
    nothing: emphasis, code and images in the appeal must not stop the letter."""
    action = appeal()
    action.body = ("They were *arrested* and ***held***, says `Łukasz`.\n\n"
                   "```\n释放记者\n```\n\n"
                   "![A map of the camp](https://images.example/map.png)")

    content = build_pdf(action, TARGET, confirmed=0, paper=0, by_country={},
                        compiled_on=date(2026, 11, 26), rows=[])

    text = flat(text_of(content))
    assert "They were arrested and held, says Łukasz." in text
    assert "释放记者" in text


def test_a_letter_without_signatures_or_demands_still_reads(app):
    action = appeal()
    action.demands = ""

    text = text_of(build_pdf(action, Addressee("The Minister"), confirmed=0, paper=0,
                             by_country={}, compiled_on=date(2026, 11, 26), rows=[]))

    assert "Dear The Minister," in text and "We ask for" not in text
    assert "Signatures by country" not in text
    assert "0 people have signed this appeal" in flat(text)


# --- what the files never hold ---------------------------------------------------------------

def test_the_package_holds_names_and_countries_only(app):
    action = make_action()
    signed = [make_confirmed_signature(action, first_name="مریم", last_name="رجوی",
                                       country="IR", email="maryam@signers.example",
                                       postcode="1439813141", comment="Free them all"),
              make_confirmed_signature(action, first_name="Éléonore", last_name="Müller",
                                       country="FR", email="eleonore@signers.example",
                                       postcode="75011", comment="Solidarité")]
    make_signature(action, first_name="Pending", last_name="Unconfirmed",
                   email="pending@signers.example", postcode="10115")
    paper.upload(action, csv_bytes([["Zoë", "Ferré", "BE"]]), label="Vigil",
                 uploaded_by=None)

    listed = list(signers(action))
    pdf = build_pdf(action, TARGET, confirmed=2, paper=1, by_country={"FR": 1, "IR": 1},
                    compiled_on=date(2026, 11, 26), rows=signers(action))
    listing = build_csv(signers(action)).decode()

    assert listed == [Signer("مریم", "رجوی", "IR"), Signer("Éléonore", "Müller", "FR"),
                      Signer("Zoë", "Ferré", "BE", on_paper=True)]
    for text in (text_of(pdf), listing):
        assert ADDRESS.search(text) is None
        for secret in ("maryam", "eleonore", "1439813141", "75011", "Free them all",
                       "Solidarité", "Pending", "Unconfirmed", "10115"):
            assert secret not in text
        assert "Müller" in text and "Ferré" in text
    assert {s.email for s in signed} == {"maryam@signers.example", "eleonore@signers.example"}


# --- the CSV ---------------------------------------------------------------------------------

def parse(content: bytes) -> list[list[str]]:
    text = content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def test_the_csv_lists_every_name_in_its_script(app):
    content = build_csv([*NAMES.values(), ON_PAPER])

    rows = parse(content)
    assert rows[0] == ["first_name", "last_name", "country", "collected"]
    assert rows[1:] == [[s.first_name, s.last_name, s.country, "online"]
                        for s in NAMES.values()] + [["Zoë", "Ferré", "BE", "paper"]]
    assert content.count(b"\r\n") == len(rows)


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://evil.example\",\"x\")", "+33 1",
                                  "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1",
                                  "\uff1dHYPERLINK(\"http://evil.example\")", "\uff0b33 1",
                                  "\uff0d2", "\uff20SUM(A1:A9)"])
def test_the_csv_makes_formula_like_names_inert(name):
    rows = parse(build_csv([Signer(name, name, "FR")]))
    assert rows[1][:2] == ["'" + name, "'" + name]


def test_the_csv_of_no_one_is_its_header():
    assert parse(build_csv([])) == [["first_name", "last_name", "country", "collected"]]


def test_an_appeal_written_in_persian_is_set_right_to_left(app):
    """fpdf2's HTML renderer does not order right-to-left text: a Persian appeal is set
    paragraph by paragraph, each word drawn in visual order, against the right edge."""
    persian = Action(slug="fa", title="امنیت ساکنان را تضمین کنید", language="fa",
                     body="ساکنان در خطر هستند\n\n- آب و برق را برقرار کنید",
                     demands="نیروهای مسلح را خارج کنید")
    content = build_pdf(persian, TARGET, confirmed=1, paper=0, by_country={"IR": 1},
                        compiled_on=date(2026, 11, 26), rows=[NAMES["persian"]])
    drawn = [run for run in runs(content) if "Naskh" in run.font]
    texts = [run.text for run in drawn]
    sentence = ["ساکنان", "در", "خطر", "هستند"]
    expected = [word[::-1] for word in reversed(sentence)]
    start = texts.index(expected[0])
    assert texts[start:start + len(expected)] == expected
    greeting_x = next(r.x for r in runs(content) if r.text.startswith("Dear"))
    assert drawn[start].x > greeting_x + 150
    for word in ("آب", "برق", "مسلح"):
        assert word[::-1] in texts or word in texts


SCRIPTS = {
    "Hebrew": Signer("דוד", "כהן", "IL"), "Devanagari": Signer("राहुल", "शर्मा", "IN"),
    "Bengali": Signer("রহিম", "উদ্দিন", "BD"), "Tamil": Signer("முருகன்", "செல்வம்", "IN"),
    "Thai": Signer("สมชาย", "ใจดี", "TH"), "Armenian": Signer("Արամ", "Պետրոսյան", "AM"),
    "Georgian": Signer("გიორგი", "ბერიძე", "GE"), "Ethiopic": Signer("አበበ", "ከበደ", "ET"),
    "Nanum": Signer("민준", "김", "KR"), "DroidSans": Signer("太郎", "山田", "JP"),
}


@functools.cache
def letter_in_every_script() -> bytes:
    return build_pdf(appeal(), TARGET, confirmed=len(SCRIPTS), paper=0, by_country={},
                     compiled_on=date(2026, 11, 26), rows=list(SCRIPTS.values()))


@pytest.mark.parametrize("font", sorted(SCRIPTS))
def test_every_script_is_drawn_with_a_font_that_has_it(app, font):
    """A character no embedded font has would be drawn as nothing at all: each name is
    drawn, glyph by glyph, in the font made for its script."""
    signer = SCRIPTS[font]
    drawn = [run for run in runs(letter_in_every_script()) if font in run.font]
    assert drawn, f"nothing drawn in {font}"
    glyphs = sum(len(run.glyphs) for run in drawn)
    assert glyphs >= len(signer.first_name + signer.last_name) // 2
