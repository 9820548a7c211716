"""`resolutions protocols verify`: do the published documents still say what the protocols cite?"""

from __future__ import annotations

import argparse
from pathlib import Path

from protocols.documents import Report, read_documents, verify
from protocols.loader import available_protocols, load_protocol


def add_verify(protocols_sub: argparse._SubParsersAction) -> None:
    """Register ``verify`` under the ``protocols`` command."""
    p = protocols_sub.add_parser(
        "verify", help="check every protocol's digest and quotations against the documents")
    p.add_argument("--documents", required=True, type=Path, metavar="DIR",
                   help="folder holding the partnerships' published documents (text files)")
    p.add_argument("protocols", nargs="*", metavar="PROTOCOL",
                   help="protocol names or .toml files (default: every built-in protocol)")
    p.set_defaults(handler=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    documents = read_documents(args.documents)
    names = args.protocols or available_protocols()
    reports = [verify(load_protocol(name), documents) for name in names]
    for report in reports:
        print("\n".join(describe(report)))
    bad = sum(1 for r in reports if not r.ok)
    print(f"{len(reports)} protocol{'s' if len(reports) != 1 else ''} checked against "
          f"{len(documents)} document{'s' if len(documents) != 1 else ''}: "
          f"{len(reports) - bad} OK, {bad} not matching")
    return 1 if bad else 0


def describe(r: Report) -> list[str]:
    """``york  OK  …`` or ``york  MISMATCH  …`` followed by one line per thing that differs."""
    head = f"{r.protocol:<10}"
    if not r.document:
        return [f"{head}MISMATCH  {r.citation}: {r.problem}"]
    found = f"{r.document} (matched by {r.matched_by})"
    if r.ok:
        return [f"{head}OK        {r.citation}: {found}; digest and "
                f"{r.quotations} quotation{'s' if r.quotations != 1 else ''} match"]
    lines = [f"{head}MISMATCH  {r.citation}: {found}"]
    pad = " " * 12
    if r.problem:
        lines.append(f"{pad}{r.problem}; the document's digest is {r.digest_found}")
    elif r.digest_expected != r.digest_found:
        lines.append(f"{pad}digest: the protocol names {r.digest_expected}, "
                     f"the document's is {r.digest_found}")
    for q in r.missing:
        lines.append(f'{pad}{q.where} [{q.source}]: not in the document: "{q.text}"')
    return lines
