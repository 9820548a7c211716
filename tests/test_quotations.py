"""The document's words are the document's (issue 15): a `text` given as a quotation (a
timescale's, a bypass rule's, an urgent entry's, a policy-issue route's) is checked by
`resolutions protocols verify` like a `quote`, unless it says it is not the document's words
("(a paraphrase)" at its end, or "not set by the document" at its start); and a protocol whose
document names no immediate-risk route (Dudley) loads without one.
"""

from __future__ import annotations

from pathlib import Path

from protocols.loader import load_protocol_file
from tests.test_protocols import MINIMAL, documents_folder, replace_once, verify, write

FIVE = 'timescale = { kind = "working_days", amount = 5 }'


def test_a_timescale_text_given_as_the_documents_words_is_checked(tmp_path: Path) -> None:
    changed = replace_once(MINIMAL, FIVE, FIVE[:-2] + ', text = "within 5 days" }')
    done = verify(tmp_path, documents_folder(tmp_path), changed)
    assert done.returncode == 1
    assert ('stages[0] (stage 1).deadlines[0] (resolve).timescale.text [Mini s2]: not in the '
            'document: "within 5 days"') in done.stdout


def test_a_labelled_paraphrase_or_an_unset_rule_is_not_checked(tmp_path: Path) -> None:
    labelled = replace_once(MINIMAL, FIVE,
                            FIVE[:-2] + ', text = "within 5 days (a paraphrase)" }')
    first = verify(tmp_path, documents_folder(tmp_path), labelled)
    assert first.returncode == 0, first.stdout
    assert "digest and 3 quotations match" in first.stdout  # the bypass: "not set by …"
    verbatim = replace_once(MINIMAL, FIVE, FIVE[:-2] + ', text = "within five working days" }')
    again = tmp_path / "again"
    again.mkdir()
    second = verify(again, documents_folder(again), verbatim)
    assert second.returncode == 0, second.stdout
    assert "digest and 4 quotations match" in second.stdout


def test_a_protocol_whose_document_names_no_immediate_risk_route_loads(tmp_path: Path) -> None:
    """Dudley's document has none: the alarm's route is the project's, and says so."""
    route = ('[immediate_risk]\nroute = ["Police"]\ninstruction = "Call the police"\n'
             'quote = "If a child is at immediate risk, call the police"\nsource = "Mini s1"\n')
    without = replace_once(MINIMAL, route, "")
    done = verify(tmp_path, documents_folder(tmp_path), without)
    assert done.returncode == 0, done.stdout
    loaded = load_protocol_file(write(tmp_path, without, "plain.toml"))
    assert loaded.immediate_risk is None
    assert loaded.risk_route.instruction.startswith(
        "The MP protocol names no route for a child at immediate risk beyond your agency's "
        "own safeguarding procedures")
    assert loaded.risk_route.source.startswith("not set by the document")
