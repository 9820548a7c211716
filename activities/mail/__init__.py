"""E-mail for case events (the ``send_notification`` activity), one module per job:

- :mod:`~activities.mail.addressing`: role keys to people and contacts, and who is missing;
- :mod:`~activities.mail.content`: the subject and the bodies (Jinja2 templates);
- :mod:`~activities.mail.message`: the MIME message, forms and calendar entries attached;
- :mod:`~activities.mail.send`: the activity itself, sending by SMTP with progress kept in its
  heartbeat details (:mod:`activities.progress`).
"""

from activities.mail.addressing import resolve_addressees
from activities.mail.content import build_context, render_bodies, subject_for
from activities.mail.message import message_id
from activities.mail.send import NotificationActivities

__all__ = ["NotificationActivities", "build_context", "message_id", "render_bodies",
           "resolve_addressees", "subject_for"]
