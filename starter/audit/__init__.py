"""Audit: export, replay, timelines, agency logs and monitoring reports, all from histories.

Design decision 8, "audit is replay": a case's Temporal history is the record. Everything here
reads histories (from the server or from exported JSON files), decodes them with the same data
converter and encryption codec the worker uses (:func:`infra.connection.build_converter`),
and replays them against today's :class:`~workflows.disagreement.DisagreementWorkflow`.

Modules: :mod:`.history` (reading, exporting, listing), :mod:`.replay` (compatibility checks),
:mod:`.rebuild` (a case's own record from its history), :mod:`.facts` (the decoded raw events),
:mod:`.story` and :mod:`.story_render` (the timeline command), :mod:`.agency_log` (Swindon's
per-agency log), :mod:`.report` and :mod:`.report_render` (the partnership's monitoring report),
:mod:`.gather` (collecting cases from Temporal).
"""
