"""Form state, friendly error messages, and which field a workflow's rejection concerns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from starlette.datastructures import FormData

from protocols.calendar import LONDON

# What each field is called in an error message ("Enter <label>").
LABELS: dict[str, str] = {
    "reference": "the case reference",
    "protocol": "the partnership",
    "urgency": "how urgent the disagreement is",
    "issue": "the issue you are concerned about",
    "risk_to_child": "the risk to the child",
    "nature": "the nature of the disagreement",
    "aim": "what you aim to achieve",
    "category": "what the disagreement is about",
    "variants": "the routing variants",
    "arose": "when the concern arose",
    "child.name": "the child's name",
    "child.date_of_birth": "the child's date of birth",
    "child.address": "the child's address",
    "child.family": "the family details",
    "raising.name": "the raising practitioner's name",
    "raising.role": "the raising practitioner's role",
    "raising.agency": "the raising agency",
    "raising.email": "the raising practitioner's email address",
    "raising.phone": "the raising practitioner's telephone number",
    "receiving.name": "the receiving practitioner's name",
    "receiving.role": "the receiving practitioner's role",
    "receiving.agency": "the receiving agency",
    "receiving.email": "the receiving practitioner's email address",
    "receiving.phone": "the receiving practitioner's telephone number",
    "stage": "the stage",
    "resolved": "whether the disagreement was resolved",
    "summary": "a summary of the discussion and its outcome",
    "agreed_actions": "the agreed actions",
    "outstanding_matters": "how outstanding matters will be pursued",
    "learning_points": "the learning points",
    "contact_method": "how the two sides spoke",
    "to_stage": "the stage to move to",
    "reason": "the reason",
    "agreed_by": "who agreed",
    "agreement_of": "whose agreement you have",
    "note": "the note",
    "referral": "the referral",
    "refer": "the decision",
    "decided_by": "who decided",
    "deadline": "the deadline",
    "kind": "the kind of timescale",
    "amount": "the number agreed",
    "until": "the agreed date",
    "role": "the role",
    "person.name": "the name of the person taking over",
    "person.role": "their job title",
    "person.agency": "their agency",
    "person.email": "their email address",
    "person.phone": "their telephone number",
    "duty": "what is being confirmed",
    "description": "what the immediate risk is",
    "at": "when the discussion took place",
    "with_name": "who you spoke with",
    "with_title": "their title",
    "with_agency": "their agency",
    "method": "how you spoke",
    "said": "what was said",
    "agreed": "what was agreed",
    "approved_by": "who approved the record",
    "done_by": "who did it",
}


@dataclass
class FormState:
    """What the person typed, and what is wrong with it, field by field."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def value(self, name: str) -> str:
        v = self.values.get(name, "")
        return v[0] if isinstance(v, list) and v else ("" if isinstance(v, list) else str(v))

    def many(self, name: str) -> list[str]:
        v = self.values.get(name)
        if v is None or v == "":
            return []
        return [str(x) for x in v] if isinstance(v, list) else [str(v)]

    def error(self, name: str) -> str:
        return self.errors.get(name, "")

    def add(self, name: str | None, message: str) -> None:
        if name is None:
            if message not in self.general:
                self.general.append(message)
        else:
            self.errors.setdefault(name, message)

    @property
    def has_errors(self) -> bool:
        return bool(self.errors or self.general)

    def summary(self) -> list[tuple[str, str | None]]:
        """(message, id of the element to link to) for the error summary."""
        items: list[tuple[str, str | None]] = [(m, None) for m in self.general]
        items += [(m, field_id(name)) for name, m in self.errors.items()]
        return items


def field_id(name: str) -> str:
    """HTML id for a field name: 'raising.name' → 'raising-name'."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)


def read_form(form: FormData) -> dict[str, Any]:
    """Field name → text (or list of texts when a name is repeated, e.g. checkboxes)."""
    values: dict[str, Any] = {}
    for key in form.keys():
        texts = [v for v in form.getlist(key) if isinstance(v, str)]
        values[key] = texts if len(texts) > 1 else (texts[0] if texts else "")
    return values


def lines(text: Any) -> list[str]:
    """A textarea's non-empty lines: one learning point or one name per line."""
    if isinstance(text, list):
        text = "\n".join(text)
    return [line.strip() for line in str(text or "").splitlines() if line.strip()]


def text(values: dict[str, Any], name: str) -> str:
    v = values.get(name, "")
    return str(v[0] if isinstance(v, list) and v else v or "")


def checked(values: dict[str, Any], name: str) -> list[str]:
    v = values.get(name)
    if not v:
        return []
    return [str(x) for x in v] if isinstance(v, list) else [str(v)]


# -- dates --------------------------------------------------------------------------------------
def read_date(values: dict[str, Any], name: str, state: FormState) -> date | None:
    """A GOV.UK date input (``<name>.day/.month/.year``); None when left blank."""
    parts = [text(values, f"{name}.{p}").strip() for p in ("day", "month", "year")]
    if not any(parts):
        return None
    label = LABELS.get(name, name)
    if not all(parts):
        missing = [p for p, v in zip(("a day", "a month", "a year"), parts, strict=True) if not v]
        state.add(name, f"{label[0].upper()}{label[1:]} must include {' and '.join(missing)}")
        return None
    try:
        day, month, year = (int(p) for p in parts)
        if year < 1900:
            raise ValueError
        return date(year, month, day)
    except ValueError:
        state.add(name, f"{label[0].upper()}{label[1:]} must be a real date, like 27 3 2026")
        return None


def read_moment(values: dict[str, Any], name: str, state: FormState) -> datetime | None:
    """A date input plus ``<name>.time`` (HH:MM, London time; blank = 17:00)."""
    day = read_date(values, name, state)
    raw = text(values, f"{name}.time").strip()
    if day is None:
        if raw and name not in state.errors:
            state.add(name, f"Enter the date for {LABELS.get(name, name)}")
        return None
    at = time(17, 0)
    if raw:
        match = re.fullmatch(r"(\d{1,2})[:.](\d{2})", raw)
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            state.add(name, "Enter the time as hours and minutes, like 09:30 or 17:00")
            return None
        at = time(int(match[1]), int(match[2]))
    return datetime.combine(day, at, tzinfo=LONDON)


# -- messages -----------------------------------------------------------------------------------
def form_key(error_key: str) -> str | None:
    """The form field a model's error location concerns ('learning_points.0' → ...)."""
    parts = [p for p in error_key.split(".") if not p.isdigit()]
    if not parts or parts[0] in ("by", "raised_by"):
        return None  # comes from the link, not the form
    if parts[0] == "timescale":
        return {"amount": "amount", "until": "until"}.get(parts[-1], "kind")
    if parts[0] == "child" and len(parts) > 1 and parts[1] == "date_of_birth":
        return "child.date_of_birth"
    return ".".join(parts)


def friendly(name: str, message: str) -> str:
    """A model's error message in words a person can act on."""
    label = LABELS.get(name, name.replace("_", " "))
    cap = label[0].upper() + label[1:]
    if "at least 1 character" in message or message == "Field required":
        return f"Enter {label}"
    if m := re.search(r"at most (\d+) characters", message):
        return f"{cap} must be {m[1]} characters or fewer"
    if "not an e-mail address" in message:
        return "Enter an email address in the correct format, like name@example.org"
    if "should match pattern" in message and name == "reference":
        return ("Enter a case reference of letters, numbers and hyphens, like 2026-0042 "
                "(never a name)")
    if "control characters" in message:
        return f"{cap} contains control characters: use plain text"
    if "single line" in message:
        return f"{cap} must be on a single line"
    if "valid date" in message or "date" in message and "input" in message:
        return f"{cap} must be a real date"
    return message[0].upper() + message[1:] if message else f"Check {label}"


def add_model_errors(state: FormState, fields: dict[str, str]) -> None:
    for key, message in fields.items():
        name = form_key(key)
        state.add(name, friendly(name, message) if name else message)
