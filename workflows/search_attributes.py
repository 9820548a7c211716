"""Custom search attributes: what `resolutions list` filters on. Never personal data."""

from temporalio.common import SearchAttributeKey

CASE_PROTOCOL = SearchAttributeKey.for_keyword("CaseProtocol")
CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
CASE_STATUS = SearchAttributeKey.for_keyword("CaseStatus")
CASE_URGENCY = SearchAttributeKey.for_keyword("CaseUrgency")
CASE_OVERDUE = SearchAttributeKey.for_bool("CaseOverdue")
CASE_NEXT_DEADLINE = SearchAttributeKey.for_datetime("CaseNextDeadline")
CASE_RAISING_AGENCY = SearchAttributeKey.for_keyword("CaseRaisingAgency")
CASE_RECEIVING_AGENCY = SearchAttributeKey.for_keyword("CaseReceivingAgency")

ALL_KEYS = [
    CASE_PROTOCOL, CASE_STAGE, CASE_STATUS, CASE_URGENCY, CASE_OVERDUE, CASE_NEXT_DEADLINE,
    CASE_RAISING_AGENCY, CASE_RECEIVING_AGENCY,
]
