"""Finding, reading and validating protocol files, with errors a person can act on."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import get_args

from pydantic import ValidationError

from protocols.schema import HeldBy, Protocol

PROTOCOL_DIR = Path(__file__).parent / "files"


class ProtocolError(ValueError):
    """A protocol file is missing or broken; the message names the file, field and problem."""


def _field_path(loc: tuple[int | str, ...], data: dict) -> str:
    """Turn pydantic's location into ``stages[1] (id "2").deadlines[0].timescale.amount``."""
    parts: list[str] = []
    node: object = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node):
                node = node[item]
                if isinstance(node, dict) and "id" in node:
                    label += f' (id "{node["id"]}")'
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def load_protocol_file(path: Path) -> Protocol:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProtocolError(f"{path}: cannot read the file: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"{path}: not valid TOML: {exc}") from exc
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = _field_path(tuple(err["loc"]), data)
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown field (check the spelling)"
            problems.append(f"{where}: {message}")
        raise ProtocolError(f"{path}: " + "; ".join(problems)) from exc
    _check_citation(path, protocol)
    _check_stated(path, protocol)
    return protocol


def _check_stated(path: Path, protocol: Protocol) -> None:
    """A protocol file says who holds each role and whether each duty keeps a case open (only
    protocols frozen into older cases leave them out, and they are not files)."""
    missing = [f"stages (id \"{s.id}\").{side}.held_by" for s in protocol.stages
               for side, role in (("raising", s.raising), ("receiving", s.receiving))
               if role.held_by is None]
    missing += [f"categories (id \"{c.id}\").first_steps.{side}.held_by"
                for c in protocol.categories if c.first_steps is not None
                for side in ("raising", "receiving")
                if c.first_steps.role(side).held_by is None]
    missing += [f"routing_variants (id \"{v.id}\").held_by" for v in protocol.routing_variants
                if v.held_by is None]
    missing += [f"routing_variants (id \"{v.id}\").applies_to_kind" for v in
                protocol.routing_variants if v.applies_to_kind is None]
    duties = [*protocol.post_resolution, *(d for s in protocol.stages for d in s.on_resolution)]
    missing += [f"duty \"{d.id}\".awaited" for d in duties if d.awaited is None]
    if missing:
        raise ProtocolError(
            f"{path}: {'; '.join(missing)}: required (held_by: who holds the role, one of "
            f"{', '.join(get_args(HeldBy))}; awaited: true where the case stays open until "
            "the duty is done; applies_to_kind: the kind of agency, e.g. 'school', whose side "
            "the variant changes)")


def _check_citation(path: Path, protocol: Protocol) -> None:
    """A protocol file cites its document by title, version, date and digest, never by a path
    (only protocols frozen into older cases still carry one, and they are not files)."""
    if protocol.source:
        raise ProtocolError(
            f"{path}: source: a protocol cites its document by 'document', 'version', "
            "'published' and 'digest', not by a file path; remove 'source'")
    missing = [name for name in ("published", "digest") if not getattr(protocol, name)]
    if missing:
        raise ProtocolError(
            f"{path}: {', '.join(missing)}: required (the document's date as printed, and the "
            "sha256 of its text: `sha256sum DOCUMENT`)")


def available_protocols(directory: Path = PROTOCOL_DIR) -> list[str]:
    """The protocol ids there are files for (``barnsley``, ``dudley``, …), sorted."""
    return sorted(p.stem for p in directory.glob("*.toml"))


def protocol_choices(directory: Path = PROTOCOL_DIR) -> str:
    """'barnsley, dudley, leeds, swindon or york': the ids, for help and error messages."""
    ids = available_protocols(directory)
    return ", ".join(ids[:-1]) + f" or {ids[-1]}" if len(ids) > 1 else "".join(ids)


@lru_cache(maxsize=32)
def load_protocol(name: str, directory: Path = PROTOCOL_DIR) -> Protocol:
    """Load a protocol by name (``york``) or by path to a TOML file."""
    candidate = Path(name)
    if candidate.suffix == ".toml" and candidate.is_file():
        return load_protocol_file(candidate)
    key = name.strip().lower()
    path = directory / f"{key}.toml"
    if not key.replace("-", "").replace("_", "").isalnum() or not path.is_file():
        known = ", ".join(available_protocols(directory))
        raise ProtocolError(f"unknown protocol '{name}'; choose one of: {known}")
    return load_protocol_file(path)
