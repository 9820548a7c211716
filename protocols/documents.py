"""The partnerships' published documents: which one a protocol cites, and whether it still says
what the protocol quotes.

A protocol names its document by title, partnership, version and date, with the sha256 digest
of the document's text, and quotes it in short passages (``quote`` on a rule; contacts' e-mail
addresses are the document's too; and the ``text`` of a timescale, a bypass rule, an urgent
entry or a policy-issue route, shown as the document's words, unless it is labelled: ending
"(a paraphrase)", or beginning "not set by the document"). Given a folder of the published
documents, :func:`verify` finds each protocol's document (by digest, else by its title
appearing in the text) and checks the digest and every quotation. Nothing here depends on the
documents' file names.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from protocols.schema import (
    BypassRule,
    PolicyIssueRoute,
    Protocol,
    Sourced,
    Timescale,
    UrgentEntry,
)


class DocumentsError(ValueError):
    """The documents folder is missing, not a folder, unreadable or empty."""


class Document(BaseModel):
    """One published document as read from the folder."""

    model_config = ConfigDict(frozen=True)

    name: str
    digest: str
    text: str  # normalised (see :func:`normalise`)


class Quotation(BaseModel):
    """A passage a protocol says is the document's own words, and where the protocol says it."""

    model_config = ConfigDict(frozen=True)

    where: str  # e.g. ``stages[1] (stage 2).deadlines[1] (resolve).quote``
    source: str  # the rule's section of the document
    text: str


class Report(BaseModel):
    """What :func:`verify` found for one protocol."""

    protocol: str
    citation: str
    document: str = ""  # the matching file's name, "" when none matched
    matched_by: Literal["digest", "title", ""] = ""
    digest_expected: str = ""
    digest_found: str = ""
    quotations: int = 0
    missing: list[Quotation] = []
    problem: str = ""  # no document, or several, or no digest named

    @property
    def ok(self) -> bool:
        return (not self.problem and not self.missing and bool(self.digest_expected)
                and self.digest_expected == self.digest_found)


_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                         "\u2013": "-", "\u2014": "-", "\u00a0": " "})
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")  # a markdown link: keep its words


def normalise(text: str) -> str:
    """Text as read for comparison: markdown emphasis and links reduced to their words, curly
    quotes and dashes straightened, whitespace collapsed, lower case."""
    text = _LINK.sub(r"\1", text.translate(_QUOTES)).replace("**", "").replace("__", "")
    return re.sub(r"\s+", " ", text).strip().lower()


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_documents(folder: Path) -> list[Document]:
    """Every regular file in ``folder`` (not sub-folders or hidden files), read as UTF-8."""
    if not folder.exists():
        raise DocumentsError(f"documents folder {folder} does not exist")
    if not folder.is_dir():
        raise DocumentsError(f"documents folder {folder} is not a folder")
    try:
        paths = sorted(p for p in folder.iterdir() if p.is_file() and p.name[0] != ".")
        documents = [Document(name=p.name, digest=file_digest(data := p.read_bytes()),
                              text=normalise(data.decode("utf-8", errors="replace")))
                     for p in paths]
    except OSError as exc:
        raise DocumentsError(f"documents folder {folder} cannot be read: "
                             f"{exc.strerror or exc}") from exc
    if not documents:
        raise DocumentsError(f"documents folder {folder} holds no documents")
    return documents


# A ``text`` in the document's words unless labelled (see the module docstring).
QUOTED_TEXT = (Timescale, BypassRule, UrgentEntry, PolicyIssueRoute)
PARAPHRASE = "(a paraphrase)"
NOT_SET = "not set by the document"


def labelled(text: str) -> bool:
    """Whether a ``text`` says it is not the document's words."""
    return text.rstrip().endswith(PARAPHRASE) or text.lower().startswith(NOT_SET)


def _quoted_texts(rule: Sourced, where: str) -> list[Quotation]:
    found = []
    for name in type(rule).model_fields:
        value = getattr(rule, name)
        if isinstance(value, QUOTED_TEXT) and value.text and not labelled(value.text):
            found.append(Quotation(where=f"{where}.{name}.text", source=rule.source,
                                   text=value.text))
    if isinstance(rule, QUOTED_TEXT) and rule.text and not labelled(rule.text):
        found.append(Quotation(where=f"{where}.text", source=rule.source, text=rule.text))
    return found


def quotations(protocol: Protocol) -> list[Quotation]:
    """Every quotation in the protocol: each rule's ``quote``, each ``text`` given as the
    document's words, and each contact's e-mail."""
    found = [Quotation(where=f"contacts.{key}.email", source="contact", text=c.email)
             for key, c in protocol.contacts.items() if c.email]
    found += [Quotation(where=f"{where}.quote", source=rule.source, text=rule.quote)
              for where, rule in _sourced(protocol) if rule.quote]
    found += [q for where, rule in _sourced(protocol) for q in _quoted_texts(rule, where)]
    return found + [Quotation(where=f"permissions[{i}] ({p.action}).quote", source=p.source,
                              text=p.quote)
                    for i, p in enumerate(protocol.permissions) if p.quote]


def _sourced(node: object, where: str = "") -> list[tuple[str, Sourced]]:
    """Every rule of the protocol with its place: ``stages[1] (stage 2).deadlines[0] (x)``."""
    found: list[tuple[str, Sourced]] = []
    if isinstance(node, Sourced):
        found.append((where, node))
    if isinstance(node, BaseModel):
        for name in type(node).model_fields:
            found += _sourced(getattr(node, name), f"{where}.{name}" if where else name)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            label = f"{where}[{i}]"
            if isinstance(item, BaseModel) and isinstance(getattr(item, "id", None), str):
                label += f" ({'stage ' if where == 'stages' else ''}{item.id})"  # type: ignore[attr-defined]
            found += _sourced(item, label)
    return found


def match(protocol: Protocol, documents: list[Document]) -> tuple[Document | None, str, str]:
    """The protocol's document: the one with its digest, else the one whose text holds its
    title (and, if several do, names its partnership). Returns (document, how, problem)."""
    for doc in documents:
        if protocol.digest and doc.digest == protocol.digest:
            return doc, "digest", ""
    title = normalise(protocol.document)
    titled = [d for d in documents if title and title in d.text]
    if len(titled) > 1:
        partnership = normalise(protocol.partnership)
        titled = [d for d in titled if partnership in d.text] or titled
    if len(titled) == 1:
        return titled[0], "title", ""
    if titled:
        names = ", ".join(d.name for d in titled)
        return None, "", f"several documents hold the title '{protocol.document}': {names}"
    return None, "", (f"no document has its digest or holds its title '{protocol.document}'")


def verify(protocol: Protocol, documents: list[Document]) -> Report:
    """Check the protocol's digest and every quotation against its document."""
    quotes = quotations(protocol)
    report = Report(protocol=protocol.id, citation=protocol.citation,
                    digest_expected=protocol.digest, quotations=len(quotes))
    doc, how, problem = match(protocol, documents)
    if doc is None:
        return report.model_copy(update={"problem": problem})
    missing = [q for q in quotes if normalise(q.text) not in doc.text]
    return report.model_copy(update={
        "document": doc.name, "matched_by": how, "digest_found": doc.digest, "missing": missing,
        "problem": "" if protocol.digest else "the protocol names no digest of its document"})
