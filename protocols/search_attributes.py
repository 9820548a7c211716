"""The custom search attributes every case carries: name → Temporal indexed-value type.

What `resolutions list` and the reports filter on; never personal data. The workflow builds
its typed keys from this table (:mod:`workflows.search_attributes`); the embedded dev server
and `resolutions setup-cluster` register it (:mod:`infra.devserver`).
"""

from __future__ import annotations

from typing import Literal

SearchAttributeType = Literal["Keyword", "Bool", "Datetime"]

SEARCH_ATTRIBUTES: dict[str, SearchAttributeType] = {
    "CaseProtocol": "Keyword",
    "CaseStage": "Keyword",
    "CaseStatus": "Keyword",
    "CaseUrgency": "Keyword",
    "CaseOverdue": "Bool",
    "CaseNextDeadline": "Datetime",
    "CaseRaisingAgency": "Keyword",
    "CaseReceivingAgency": "Keyword",
}
