"""`resolutions mail` (the embedded SMTP sink's store) and `resolutions form` (partnership
forms rendered from a case's own record)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from infra.settings import load_settings
from protocols.schema import FORM_KINDS
from starter.timefmt import london


def cmd_mail(args: argparse.Namespace) -> int:
    from infra.mailsink import list_mail, read_mail

    settings = load_settings()
    if args.file:
        message = read_mail(settings.data_dir, args.file)
        print(f"From: {message['From']}\nTo: {message['To']}")
        if message["Cc"]:
            print(f"Cc: {message['Cc']}")
        print(f"Subject: {message['Subject']}\n")
        body = message.get_body(preferencelist=("plain",))
        print(body.get_content() if body else "(no text part)")
        names = [part.get_filename() for part in message.iter_attachments()]
        if names:
            print("Attachments: " + ", ".join(n for n in names if n))
        return 0
    records = list_mail(settings.data_dir)
    if args.case:
        records = [r for r in records if r.case == args.case.strip().lower()]
    if not records:
        print(f"No mail filed under {settings.data_dir / 'mail'}.")
        return 0
    for r in records[-args.last:]:
        print(f"{london(r.received)}  {r.file_name}  to {', '.join(r.to) or 'nobody'}: "
              f"{r.subject}")
    print(f"\n{len(records)} message(s); open one with: resolutions mail FILE")
    return 0


def cmd_form(args: argparse.Namespace) -> int:
    from infra.connection import connect
    from infra.contacts import contact_address
    from protocols.forms import check_form_kind, render_case_form
    from workflows.disagreement import DisagreementWorkflow

    check_form_kind(args.kind)

    async def go() -> str:
        settings = load_settings()
        client = await connect(settings)
        from starter.cases import normalise_id

        handle = client.get_workflow_handle(normalise_id(args.case_id))  # any letter case
        inp = await handle.query(DisagreementWorkflow.case_input)
        state = await handle.query(DisagreementWorkflow.state)
        timeline = await handle.query(DisagreementWorkflow.timeline)
        check_form_kind(args.kind, inp.protocol)
        addresses = {c: contact_address(inp.protocol, c, settings) for c in inp.protocol.contacts}
        return render_case_form(args.kind, protocol=inp.protocol, case=inp.case, state=state,
                                timeline=timeline, addresses=addresses)

    html = asyncio.run(go())
    out = Path(args.out or f"{args.case_id}-{args.kind}.html")
    out.write_text(html, encoding="utf-8")
    print(f"Wrote {out}: open it in a browser to print or save as PDF.")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mail", help="e-mails filed by the embedded SMTP sink")
    p.add_argument("file", nargs="?", help="show one message (a file name from the list)")
    p.add_argument("--case", help="only messages for this case id")
    p.add_argument("--last", type=int, default=50)
    p.set_defaults(handler=cmd_mail)

    p = sub.add_parser("form", help="a partnership form filled from a case's record (HTML)")
    p.add_argument("case_id", metavar="ID")
    p.add_argument("--kind", required=True,
                   help=", ".join(FORM_KINDS[:-1]) + f" or {FORM_KINDS[-1]}")
    p.add_argument("--out", help="file to write (default ID-KIND.html)")
    p.set_defaults(handler=cmd_form)
