"""Typed keys for the custom search attributes, built from :mod:`protocols.search_attributes`."""

from temporalio.common import SearchAttributeKey

from protocols.search_attributes import SEARCH_ATTRIBUTES

_FACTORIES = {
    "Keyword": SearchAttributeKey.for_keyword,
    "Bool": SearchAttributeKey.for_bool,
    "Datetime": SearchAttributeKey.for_datetime,
}
_KEYS = {name: _FACTORIES[kind](name) for name, kind in SEARCH_ATTRIBUTES.items()}

CASE_PROTOCOL = _KEYS["CaseProtocol"]
CASE_STAGE = _KEYS["CaseStage"]
CASE_STATUS = _KEYS["CaseStatus"]
CASE_URGENCY = _KEYS["CaseUrgency"]
CASE_OVERDUE = _KEYS["CaseOverdue"]
CASE_NEXT_DEADLINE = _KEYS["CaseNextDeadline"]
CASE_RAISING_AGENCY = _KEYS["CaseRaisingAgency"]
CASE_RECEIVING_AGENCY = _KEYS["CaseReceivingAgency"]

ALL_KEYS = list(_KEYS.values())
