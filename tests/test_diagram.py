"""`resolutions protocols show NAME --svg`: each protocol's flow chart, as a user prints it."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest

from protocols.diagram import protocol_svg
from protocols.loader import available_protocols, load_protocol
from tests.conftest import cli

SVG = "{http://www.w3.org/2000/svg}"


def _texts(node: ET.Element) -> str:
    return " ".join("".join(t.itertext()) for t in node.iter(f"{SVG}text"))


@pytest.mark.parametrize("name", available_protocols())
def test_cli_prints_an_accessible_flow_chart(name: str) -> None:
    out = cli(dict(os.environ), "protocols", "show", name, "--svg").stdout
    root = ET.fromstring(out)  # well-formed, standalone SVG
    protocol = load_protocol(name)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    labelled = root.get("aria-labelledby", "").split()
    ids = {el.get("id"): el for el in root.iter() if el.get("id")}
    assert [ids[i].tag for i in labelled] == [f"{SVG}title", f"{SVG}desc"]
    assert protocol.partnership in ids[labelled[0]].text
    groups = root.findall(f"{SVG}g[@data-stage]")
    assert [g.get("data-stage") for g in groups] == [s.id for s in protocol.stages]
    for group, stage in zip(groups, protocol.stages, strict=True):
        words = _texts(group)
        assert f"Stage {stage.id}:" in words and stage.raising.title.split()[0] in words
        soft = [d for d in stage.deadlines if d.on_expiry == "remind"]
        hard = [d for d in stage.deadlines if d.on_expiry == "escalate"]
        marks = [r for r in group.iter(f"{SVG}rect") if r.get("width") == "10"]
        assert sum(bool(r.get("stroke-dasharray")) for r in marks) == len(soft)
        assert sum(not r.get("stroke-dasharray") for r in marks) == len(hard)
        assert ("Form:" in words) == bool(stage.forms)
        assert "You are here" not in words
    everything = _texts(root)
    assert ("Bypass to a later stage" in everything) == protocol.bypass.allowed
    assert ("No stage may be skipped" in everything) != protocol.bypass.allowed
    if protocol.risk_route.entry_stage:
        assert f"Immediate risk: enter at stage {protocol.risk_route.entry_stage}" in everything


def test_a_case_path_and_where_it_is() -> None:
    york = load_protocol("york")
    root = ET.fromstring(protocol_svg(york, visited=["1", "3"], current="3"))
    groups = {g.get("data-stage"): _texts(g) for g in root.findall(f"{SVG}g[@data-stage]")}
    assert "You are here: step 2" in groups["3"]
    assert "This case: step 1" in groups["1"]
    assert "This case" not in groups["2"] and "You are here" not in groups["4"]
    assert "stage 1, then 3" in "".join(root.find(f"{SVG}desc").itertext())


def test_unknown_protocol_is_a_clear_error() -> None:
    result = cli(dict(os.environ), "protocols", "show", "atlantis", "--svg", ok=False)
    assert result.returncode != 0 and "atlantis" in result.stderr
    assert "Traceback" not in result.stderr
