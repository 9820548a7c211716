"""`resolutions worker | setup-cluster | keys rotate`: commands for back-office staff."""

from __future__ import annotations

import argparse
import asyncio

from infra.settings import load_settings
from starter.cli.operators import add_acting_arguments


def cmd_worker(args: argparse.Namespace) -> int:
    """The one-machine stack (worker, embedded services, web forms): as `./dev start`."""
    from starter import devstack

    return devstack.main(["--no-web"] if args.no_web else [])


def cmd_setup_cluster(args: argparse.Namespace) -> int:
    """Register our custom search attributes on a cluster's namespace (idempotent)."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )

    from infra.connection import connect
    from protocols.search_attributes import SEARCH_ATTRIBUTES

    async def go() -> int:
        settings = load_settings()
        client = await connect(settings)
        listing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace))
        have = dict(listing.custom_attributes)
        wanted = {name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}")
                  for name, kind in SEARCH_ATTRIBUTES.items()}
        missing = {k: v for k, v in wanted.items() if k not in have}
        clash = [k for k, v in wanted.items() if k in have and have[k] != v]
        if clash:
            raise ValueError(f"search attributes exist with another type: {', '.join(clash)}")
        if missing:
            await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
                namespace=client.namespace, search_attributes=missing))
        print(f"Namespace {client.namespace}: {len(missing)} search attribute(s) added, "
              f"{len(wanted) - len(missing)} already present.")
        from infra.schedules import DIGEST_HOUR, DIGEST_MINUTE, ensure_digest_schedule
        from protocols.digest import DIGEST_SCHEDULE_ID

        done = await ensure_digest_schedule(client, settings)
        print(f"Schedule {DIGEST_SCHEDULE_ID} {done}: the daily digest to each business unit "
              f"at {DIGEST_HOUR:02d}:{DIGEST_MINUTE:02d} London time.")
        return 0

    return asyncio.run(go())


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from infra.codec import KeyRing, key_file_path

    path = key_file_path(load_settings())
    ring = KeyRing.rotate(path)
    print(f"New active key {ring.active_key_id} in {path}; older keys still decrypt "
          f"({', '.join(k for k in ring.keys if k != ring.active_key_id) or 'none'}).")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from infra.connection import connect
    from starter.cli.output import table
    from starter.retention import purge
    from starter.timefmt import parse_moment

    async def go() -> int:
        settings = load_settings()
        client = await connect(settings)
        as_of = parse_moment(args.as_of, "--as-of") if args.as_of else None
        decisions = await purge(client, settings, as_of=as_of, dry_run=args.dry_run)
        if decisions:
            print(table(["case", "closed", "retention", "action"],
                        [[d.workflow_id, d.closed_at[:10], d.retention_class,
                          d.action + (f", {d.mail_removed} e-mail(s) removed"
                                      if d.action == "purged" else "")] for d in decisions]))
        purged = sum(1 for d in decisions if d.action in ("purged", "would purge"))
        verb = "would be purged" if args.dry_run else "purged"
        print(f"{purged} of {len(decisions)} closed case(s) {verb}; record in "
              f"{settings.data_dir / 'purge-log.jsonl'}")
        return 0

    return asyncio.run(go())


def cmd_hold(args: argparse.Namespace) -> int:
    from infra.connection import connect
    from starter.cases import act, parse_action
    from starter.cli.operators import acting

    message = parse_action("set_legal_hold", {"on": not args.lift, "reason": args.reason,
                                              "by": acting(args, args.case_id).model_dump()})

    async def go() -> int:
        client = await connect(load_settings())
        result = await act(client, args.case_id, "set_legal_hold", message)
        print(result.message if result else "sent")
        return 0

    return asyncio.run(go())


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("purge", help="remove closed cases past retention (not legal holds)")
    p.add_argument("--dry-run", action="store_true", help="say what would go; remove nothing")
    p.add_argument("--as-of", help="judge retention as at this date (default now)")
    p.set_defaults(handler=cmd_purge)

    p = sub.add_parser("hold", help="place a case on legal hold (or --lift it)")
    p.add_argument("case_id", metavar="ID")
    p.add_argument("--reason", required=True)
    p.add_argument("--lift", action="store_true")
    add_acting_arguments(p)
    p.set_defaults(handler=cmd_hold)

    p = sub.add_parser("worker", help="run the worker (and embedded services, web forms)")
    p.add_argument("--no-web", action="store_true")
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser("setup-cluster", help="register the custom search attributes and "
                       "create the daily digest schedule")
    p.set_defaults(handler=cmd_setup_cluster)

    p = sub.add_parser("keys", help="encryption keys")
    ksub = p.add_subparsers(dest="keys_action", required=True)
    r = ksub.add_parser("rotate", help="add a new active key; old keys keep decrypting")
    r.set_defaults(handler=cmd_keys_rotate)
