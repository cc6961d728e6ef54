"""The package a target receives: a PDF letter with the list of signers, and a CSV.

Signers' names arrive in every script. The PDF embeds Noto Sans (Latin, Greek,
Cyrillic), Noto Naskh Arabic (Arabic and Persian, shaped and right to left by
HarfBuzz), Noto fonts for Hebrew, Indic, Thai, Armenian, Georgian and Ethiopic
scripts, Droid Sans Fallback (Chinese, Japanese) and Nanum Gothic (Korean); fpdf2
picks the font that has each character and embeds only the glyphs used. Neither file ever
holds an email address or a postcode: names and countries only.
"""

from __future__ import annotations

import csv
import io
import logging
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from flask_babel import force_locale, gettext, ngettext
from fpdf import FPDF
from fpdf.fonts import FontFace, TextStyle
from markdown_it import MarkdownIt
from sqlalchemy import select

from petitions import countries
from petitions.extensions import db
from petitions.models import Action, PaperSignature, Signature, SignatureStatus
from petitions.services import branding
from petitions.services.actions import render_markdown_offline
from petitions.services.branding import Look
from petitions.services.exports import escape_cell

FONTS = Path(__file__).resolve().parent.parent / "fonts"
# fontTools warns, for every letter, about hinting tables it drops while subsetting.
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
# Fallbacks, tried in this order for a character Noto Sans lacks (see fonts/README.md).
SCRIPT_FONTS = {
    "Hebrew": "NotoSansHebrew-Regular.ttf",
    "Devanagari": "NotoSansDevanagari-Regular.ttf",
    "Bengali": "NotoSansBengali-Regular.ttf",
    "Tamil": "NotoSansTamil-Regular.ttf",
    "Thai": "NotoSansThai-Regular.ttf",
    "Armenian": "NotoSansArmenian-Regular.ttf",
    "Georgian": "NotoSansGeorgian-Regular.ttf",
    "Ethiopic": "NotoSansEthiopic-Regular.ttf",
    "CJK": "DroidSansFallbackFull.ttf",
    "Hangul": "NanumGothic.ttf",
}
BATCH = 2000
# The embedded fonts have no italic face, and fpdf2 sets code in Courier, which has no
# glyph beyond Latin-1: either would stop the letter. Such text keeps the letter's font.
_HTML_STYLES = {"em": FontFace(), "i": FontFace(), "code": FontFace(),
                "pre": TextStyle(t_margin=4)}


@dataclass(frozen=True)
class Addressee:
    name: str
    title: str = ""
    organization: str = ""


@dataclass(frozen=True)
class LetterText:
    """The words of the letter a target receives, in the action's language: the PDF is
    set from these, and the action page shows them to supporters before they sign."""

    language: str
    title: str
    salutation: str
    body: str
    demands_heading: str
    demands: list[str]


def letter_text(action: Action, addressee: Addressee, locale: str | None = None) -> LetterText:
    """The letter to ``addressee``, in ``locale`` (deliveries use the action's own
    language, and so does the preview on the action's page)."""
    locale = locale or action.language
    with force_locale(locale):
        return LetterText(
            language=locale, title=action.title,
            salutation=gettext("Dear %(name)s,", name=addressee.name), body=action.body,
            demands_heading=gettext("We ask for"), demands=action.demand_list)


def signed_sentence(confirmed: int, paper: int) -> str:
    """The letter's count of signers, in the current locale."""
    total = confirmed + paper
    return ngettext(
        "%(total)s person has signed this appeal: %(online)s online, each confirmed "
        "by email, and %(paper)s on paper.",
        "%(total)s people have signed this appeal: %(online)s online, each confirmed "
        "by email, and %(paper)s on paper.", total, total=f"{total:,}",
        online=f"{confirmed:,}", paper=f"{paper:,}")


@dataclass(frozen=True)
class Signer:
    first_name: str
    last_name: str
    country: str
    on_paper: bool = False


def signers(action: Action, until: datetime | None = None) -> Iterator[Signer]:
    """Every confirmed online signer, then every paper signer, streamed in batches;
    with ``until``, only those confirmed or uploaded by then (a package rebuilt)."""
    online = (select(Signature.first_name, Signature.last_name, Signature.country)
              .where(Signature.action_id == action.id,
                     Signature.status == SignatureStatus.CONFIRMED)
              .order_by(Signature.confirmed_at, Signature.id)
              .execution_options(yield_per=BATCH))
    paper = (select(PaperSignature.first_name, PaperSignature.last_name, PaperSignature.country)
             .where(PaperSignature.action_id == action.id)
             .order_by(PaperSignature.id)
             .execution_options(yield_per=BATCH))
    if until is not None:
        online = online.where(Signature.confirmed_at <= until)
        paper = paper.where(PaperSignature.created_at <= until)
    for first, last, country in db.session.execute(online):
        yield Signer(first, last, country)
    for first, last, country in db.session.execute(paper):
        yield Signer(first, last, country, on_paper=True)


def build_csv(rows: Iterable[Signer]) -> bytes:
    """first_name,last_name,country,collected; UTF-8 with a BOM so spreadsheets read it."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["first_name", "last_name", "country", "collected"])
    for signer in rows:
        writer.writerow([escape_cell(signer.first_name), escape_cell(signer.last_name),
                         signer.country, "paper" if signer.on_paper else "online"])
    return buffer.getvalue().encode()


class _Letter(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self._footer_text = footer_text
        self.add_font("Noto", fname=str(FONTS / "NotoSans-Regular.ttf"))
        self.add_font("Noto", style="B", fname=str(FONTS / "NotoSans-Bold.ttf"))
        self.add_font("Naskh", fname=str(FONTS / "NotoNaskhArabic-Regular.ttf"))
        self.add_font("Naskh", style="B", fname=str(FONTS / "NotoNaskhArabic-Bold.ttf"))
        for family, file in SCRIPT_FONTS.items():
            self.add_font(family, fname=str(FONTS / file))
        self.set_fallback_fonts(["Naskh", *SCRIPT_FONTS], exact_match=False)
        self.set_text_shaping(True)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(20, 18, 20)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Noto", size=8)
        self.cell(0, 6, f"{self._footer_text} · {self.page_no()}", align="C")


def build_pdf(action: Action, addressee: Addressee, *, confirmed: int, paper: int,
              by_country: dict[str, int], compiled_on: date, rows: Iterable[Signer],
              locale: str = "en", sender: Look | None = None) -> bytes:
    """The cover letter, the table by country, and the appendix of every signer.
    ``sender``: the organization that sends it (by default the branding's)."""
    sender = sender or branding.current()
    with force_locale(locale):
        text = letter_text(action, addressee, locale)
        pdf = _Letter(f"{sender.name} · {text.title}")
        pdf.set_title(text.title)
        pdf.set_author(sender.name)
        pdf.set_creator("Petitions")
        pdf.add_page()
        _write_sender(pdf, sender)
        pdf.set_font("Noto", size=10)
        pdf.cell(0, 6, compiled_on.isoformat(), align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        for line in (addressee.name, addressee.title, addressee.organization):
            if line:
                pdf.cell(0, 6, line, align=_alignment(line), new_x="LMARGIN",
                         new_y="NEXT")
        pdf.ln(6)
        pdf.set_font("Noto", style="B", size=15)
        pdf.multi_cell(0, 8, text.title, align=_alignment(text.title),
                       new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        pdf.set_font("Noto", size=11)
        pdf.multi_cell(0, 6, text.salutation, align=_alignment(text.salutation),
                       new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        _write_body(pdf, text.body)
        if text.demands:
            pdf.ln(2)
            pdf.set_font("Noto", style="B", size=12)
            pdf.cell(0, 8, text.demands_heading, align=_alignment(text.demands_heading),
                     new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Noto", size=11)
            for number, demand in enumerate(text.demands, start=1):
                pdf.multi_cell(0, 6, f"{number}. {demand}", align=_alignment(demand),
                               new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        pdf.set_font("Noto", style="B", size=12)
        pdf.multi_cell(0, 7, signed_sentence(confirmed, paper), align="L",
                       new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        pdf.set_font("Noto", size=11)
        pdf.multi_cell(0, 6, gettext("Sent on behalf of the signatories by %(sender)s.",
                                     sender=sender.name),
                       align=_alignment(sender.name), new_x="LMARGIN", new_y="NEXT")

        if by_country:
            pdf.ln(3)
            pdf.set_font("Noto", style="B", size=12)
            pdf.cell(0, 8, gettext("Signatures by country"), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Noto", size=10)
            ordered = sorted(by_country.items(), key=lambda item: (-item[1], item[0]))
            with pdf.table(col_widths=(120, 50), text_align=("LEFT", "RIGHT"),
                           first_row_as_headings=True) as table:
                table.row([gettext("Country"), gettext("Signatures")])
                for code, count in ordered:
                    table.row([countries.name(code, locale), f"{count:,}"])

        pdf.add_page()
        pdf.set_font("Noto", style="B", size=13)
        pdf.cell(0, 8, gettext("Appendix: the signatories"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Noto", size=9)
        _appendix(pdf, rows, locale)
        return bytes(pdf.output())


def _write_sender(pdf: FPDF, sender: Look) -> None:
    """The letterhead: who sends the letter, with their footer text and links."""
    pdf.set_font("Noto", style="B", size=13)
    pdf.multi_cell(0, 7, sender.name, align=_alignment(sender.name), new_x="LMARGIN",
                   new_y="NEXT")
    pdf.set_font("Noto", size=9)
    lines = [*sender.footer_text.splitlines(), *(link.url for link in sender.footer_links)]
    for line in filter(None, (line.strip() for line in lines)):
        pdf.multi_cell(0, 5, line, align=_alignment(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


def _appendix(pdf: FPDF, rows: Iterable[Signer], locale: str) -> None:
    """One table per chunk of rows: fpdf2 keeps a whole table in memory until it ends."""
    chunk: list[Signer] = []
    for signer in rows:
        chunk.append(signer)
        if len(chunk) == 500:
            _table(pdf, chunk, locale)
            chunk = []
    if chunk:
        _table(pdf, chunk, locale)


def _table(pdf: FPDF, chunk: list[Signer], locale: str) -> None:
    with pdf.table(col_widths=(110, 60), first_row_as_headings=False,
                   line_height=5.5) as table:
        for signer in chunk:
            name = f"{signer.first_name} {signer.last_name}"
            country = countries.name(signer.country, locale)
            row = table.row()
            row.cell(name, align=_alignment(name))
            row.cell(f"{country} ({gettext('paper')})" if signer.on_paper else country)


def _write_body(pdf: FPDF, body: str) -> None:
    """The appeal text. fpdf2's HTML renderer keeps bold and lists but knows nothing of
    right-to-left writing, so a text in Persian or Arabic is set paragraph by
    paragraph instead, each shaped and ordered by HarfBuzz and aligned to the right."""
    if not any(unicodedata.bidirectional(char) in ("R", "AL") for char in body):
        # Images would be fetched from wherever the appeal points, by the worker.
        pdf.write_html(render_markdown_offline(body), tag_styles=_HTML_STYLES)
        return
    for block in _plain_blocks(body):
        pdf.multi_cell(0, 6, block, align=_alignment(block), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)


def _plain_blocks(body: str) -> list[str]:
    """The paragraphs, headings and list items of a Markdown text, as plain text."""
    blocks: list[str] = []
    bullet = ""
    for token in MarkdownIt("commonmark").parse(body):
        if token.type == "list_item_open":
            bullet = "• "
        elif token.type == "inline":
            text = "".join(child.content for child in token.children or []
                           if child.type in ("text", "code_inline"))
            if text.strip():
                blocks.append(bullet + text.strip())
            bullet = ""
    return blocks


def _alignment(text: str) -> str:
    """Right for a text written right to left, left otherwise."""
    return "R" if _right_to_left(text) else "L"


def _right_to_left(text: str) -> bool:
    """Whether the first letter with a direction is written right to left."""
    for char in text:
        direction = unicodedata.bidirectional(char)
        if direction in ("R", "AL"):
            return True
        if direction == "L":
            return False
    return False
