"""The partnership's list of open and overdue cases (business unit, auditor), and the home page."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from protocols.loader import available_protocols, load_protocol
from starter.web import dashboard
from starter.web.charts import bar_chart
from starter.web.dashboard import Filters
from starter.web.deps import denied, grant_for, roles, temporal, web
from starter.web.forms import FormState
from starter.web.limits import web_limits
from starter.web.rendering import render
from starter.web.roles import Denied, check_list, list_scope

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    return render(request, "home.html")


@router.get("/favicon.ico")
async def favicon() -> Response:
    return Response(status_code=204)


def _scope(request: Request, token: str, requested: str) -> tuple[str, list[tuple[str, str]]]:
    """The partnership the link may see (an auditor chooses; a business unit has its own)."""
    grant = grant_for(request, token)
    standing = roles(request)
    try:
        check_list(grant, standing)
    except Denied as exc:
        raise denied(exc) from None
    web_limits(request).check_read(token)  # each list page asks every case for its state
    scope = list_scope(grant, standing)  # an auditor's partnerships, from the roles file
    known = [n for n in available_protocols() if not scope or n in scope]
    chosen = grant.protocol or (requested if requested in known else "")
    if len(known) == 1:
        chosen = known[0]
    options: list[tuple[str, str]] = []
    if not grant.protocol and len(known) > 1:  # an auditor may look at their partnerships
        options = [("", "All partnerships")] + [(n, load_protocol(n).partnership)
                                                for n in known]
    request.state.scope = known
    return chosen, options


async def _rows(request: Request, token: str) -> tuple[Filters, list[dashboard.Row],
                                                      list[dashboard.Row], str,
                                                      list[tuple[str, str]]]:
    params = dict(request.query_params)
    chosen, options = _scope(request, token, params.get("protocol", ""))
    filters = Filters.parse(params)
    filters.protocol = chosen
    rows = await temporal(dashboard.load_rows(web(request).client, chosen or None))
    rows = [r for r in rows if r.listing.protocol in request.state.scope]
    return filters, rows, [r for r in rows if r.matches(filters)], chosen, options


@router.get("/t/{token}/cases", response_class=HTMLResponse)
async def case_list(request: Request, token: str) -> Response:
    """The partnership dashboard: cases overdue first, flags, filters, charts, CSV."""
    filters, rows, shown, chosen, options = await _rows(request, token)
    form = FormState(values={"q": filters.q, "agency": filters.agency, "stage": filters.stage,
                             "status": filters.status, "protocol": chosen,
                             "started_from": request.query_params.get("started_from", ""),
                             "started_to": request.query_params.get("started_to", "")})
    for name, message in filters.errors.items():
        form.add(name, message)
    now = rows[0].now if rows else datetime.now(UTC)
    open_rows = [r for r in rows if r.open]
    counts = {"open": len(open_rows), "closed": len(rows) - len(open_rows)}
    for flag in dashboard.FLAG_LABELS:
        counts[flag] = sum(flag in r.flags() for r in open_rows)
    stages = sorted({r.stage for r in rows if r.stage},
                    key=lambda s: (len(s), s))
    label = load_protocol(chosen).partnership if chosen else "All partnerships"
    heading = {"open": "Open cases", "overdue": "Overdue cases", "closed": "Closed cases",
               "all": "All cases"}[filters.status]
    return render(request, "list.html", rows=shown, counts=counts, heading=heading,
                  scope_label=label, protocol_options=options, base=f"/t/{token}", form=form,
                  status_options=dashboard.STATUS_CHOICES,
                  stage_options=[("", "Any stage")] + [(s, f"Stage {s}") for s in stages],
                  flag_labels=dashboard.FLAG_LABELS, csv_query=filters.query_string(),
                  stage_chart=bar_chart("Open cases by stage", [
                      (f"Stage {s}", n) for s, n in dashboard.by_stage(rows)],
                      chart_id="chart-stages", empty="No open cases."),
                  breach_chart=bar_chart("Deadlines passed unmet, by week", [
                      (f"w/c {d:%d %b}", n) for d, n in dashboard.breaches_by_week(rows, now)],
                      chart_id="chart-breaches"))


@router.get("/t/{token}/cases.csv")
async def case_list_csv(request: Request, token: str) -> Response:
    """The dashboard's rows, as filtered, as a CSV file (no personal data)."""
    filters, _, shown, _, _ = await _rows(request, token)
    day = datetime.now(UTC).date().isoformat()
    scope = filters.protocol or "all"
    return Response(dashboard.to_csv(shown), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition":
                             f'attachment; filename="cases-{scope}-{day}.csv"'})
