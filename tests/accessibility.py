"""Checks of a page's HTML that a screen reader user depends on."""

from __future__ import annotations

from tests.factories import parse_html

CONTROLS = ("input", "select", "textarea")
UNLABELLED_INPUTS = ("hidden", "submit", "button", "reset", "image")


def accessibility_problems(html: str, status: int) -> list[str]:
    """What a screen reader user would miss on a page: a field without a label, an error
    not tied to its field, a table header without scope, no language or no heading."""
    page = parse_html(html)
    problems = []
    root = page.find("html")
    if root is not None:  # a whole page, not a fragment (such as a preview)
        if not root.get("lang"):
            problems.append("no <html lang>")
        if len(page.find_all("h1")) != 1:
            problems.append(f"{len(page.find_all('h1'))} <h1> headings, wanted 1")
    labelled = {id(c) for label in page.find_all("label") for tag in CONTROLS
                for c in label.find_all(tag)}
    label_targets = {label.get("for") for label in page.find_all("label")}
    for control in (c for tag in CONTROLS for c in page.find_all(tag)):
        if control.tag == "input" and control.get("type") in UNLABELLED_INPUTS:
            continue
        if not (id(control) in labelled or control.get("id") in label_targets
                or control.get("aria-label") or control.get("aria-labelledby")):
            problems.append(f"<{control.tag} name={control.get('name')!r}> has no label")
    invalid = [c for tag in CONTROLS for c in page.find_all(tag)
               if c.get("aria-invalid") == "true"]
    for control in (c for tag in CONTROLS for c in page.find_all(tag)):
        for target in (control.get("aria-describedby") or "").split():
            if page.find(id=target) is None:
                problems.append(f"<{control.tag} name={control.get('name')!r}> is described by "
                                f"a missing #{target}")
    for control in invalid:
        if not control.get("aria-describedby"):
            problems.append(f"invalid <{control.tag} name={control.get('name')!r}> does not "
                            "point at its error")
    if status == 422 and not invalid and page.find(role="alert") is None:
        problems.append("422 without an error tied to a field or announced")
    for header in page.find_all("th"):
        if header.get("scope") not in ("col", "row", "colgroup", "rowgroup"):
            problems.append(f"<th> {header.text!r} without scope")
    return problems
