"""The web forms: FastAPI + Jinja2 pages in the GOV.UK Design System's patterns.

Everyone reaches them through a personal signed link (:mod:`infra.links`); every form
is a workflow update sent through :mod:`starter.cases`.
"""
