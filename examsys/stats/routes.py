"""Item analysis pages (试题分析) for examiners, station managers, reviewers and admins.

Per sitting (exam session): test summary, score histogram, the item table (sortable, filterable by flag); per
item: statistics, options, the option-by-score-group table and chart, empirical and fitted item characteristic
curves, flags with evidence, and the item's history across sittings; per knowledge-point area: mean p against
the blueprint's difficulty window; per station: the same form at every station; an .xlsx export. Reviewers
dismiss flags here (and on the bank's item page); administrators and station managers accept a proposed key,
which runs the re-marking.

Station managers and examiners see only their station's sittings (other sittings answer 404); reviewers and
admins see all. Opening a sitting refreshes its statistics when its marking changed (a cheap check first).
``examsys stats refresh [SESSION_ID ...]`` refreshes from the command line.
"""
from __future__ import annotations

import logging

import click
from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..access import roles_required
from ..extensions import db
from ..models import ExamSession, Item, ItemVersion, Station
from ..services import items as items_service
from ..services import stats as stats_service
from ..services import stats_loop
from ..services.stats import VIEW_ROLES, StatsError
from ..services.stats_loop import REMARK_ROLES, REVIEW_ROLES
from . import charts

bp = Blueprint("stats", __name__, url_prefix="/stats", cli_group="stats")
log = logging.getLogger(__name__)
REFRESH_ROLES = ("admin", "reviewer", "station_manager")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FLAG_CODES = ("possible_miskey", "negative_discrimination", "low_discrimination", "too_easy", "too_hard",
              "ambiguous", "nonfunctioning_distractor", "dif_c", "dif_b", "poor_irt_fit", "station_leak")


@bp.before_request
def _no_store():
    g.no_store = True


def _error(e: StatsError):
    return render_template("errors/error.html", code=e.status, message=e.message), e.status


def flag_label(code: str) -> str:
    labels = {
        "possible_miskey": _("possible mis-key"), "negative_discrimination": _("negative discrimination"),
        "low_discrimination": _("low discrimination"), "too_easy": _("too easy"), "too_hard": _("too hard"),
        "ambiguous": _("ambiguous"), "nonfunctioning_distractor": _("non-functioning distractor"),
        "dif_c": _("DIF (class C)"), "dif_b": _("DIF (class B)"), "poor_irt_fit": _("poor IRT fit"),
        "station_leak": _("station leak"),
    }
    return labels.get(code, code)


def severity_label(sev: str | None) -> str:
    return {"error": _("needs review"), "warning": _("check"), "info": _("advice")}.get(sev, "")


def state_label(state: str) -> str:
    return {"open": _("open"), "dismissed": _("dismissed"), "retired": _("item retired"),
            "revised": _("item revised"), "key_corrected": _("key corrected"),
            "resolved": _("resolved")}.get(state, state)


def reason_text(flag: dict | object) -> str:
    """The flag's reason in the page language."""
    from flask_babel import get_locale
    zh = str(get_locale() or "zh").startswith("zh")
    if isinstance(flag, dict):
        reason = flag.get("reason") or {}
        return reason.get("zh" if zh else "en") or reason.get("en", "")
    return (flag.reason_zh if zh else flag.reason_en) or flag.reason_en


def evidence_label(key: str) -> str:
    """A readable name for a key of a flag's evidence (the raw key when unknown)."""
    labels = {
        "current_key": _("current key"), "proposed_key": _("proposed key"), "r_rest_key": _("r (rest) of the key"),
        "r_rest_proposed": _("r (rest) of the proposed key"), "ci_proposed": _("confidence interval"),
        "prop_key": _("share choosing the key"), "prop_proposed": _("share choosing the proposed key"),
        "p": _("facility p"), "r_rest": _("r (rest)"), "ci": _("confidence interval"),
        "threshold": _("threshold"), "option": _("option"), "key": _("Key"),
        "prop_upper": _("share in the upper group"),
        "prop_lower": _("share in the lower group"), "key_prop_upper": _("key's share in the upper group"),
        "model": _("model"), "range": _("range"), "ets_class": _("ETS class"), "min_group_n": _("minimum group size"),
    }
    return labels.get(key, key)


for _name, _func in (("stats_evidence_label", evidence_label), ("stats_flag_label", flag_label),
                     ("stats_severity_label", severity_label),
                     ("stats_state_label", state_label), ("stats_reason", reason_text),
                     ("stats_fmt", stats_service.fmt)):
    bp.add_app_template_global(_func, _name)


def stats_flags_for(item) -> dict:
    """For the bank's item page: the item's flags with their state, and what the user may do."""
    if item is None or not current_user.is_authenticated:
        return {"flags": []}
    flags = stats_loop.flags_of_item(item)
    return {"flags": flags, "can_decide": stats_loop.can_decide(current_user, item),
            "can_remark": current_user.role in REMARK_ROLES,
            "can_stats": current_user.role in VIEW_ROLES}


def stats_open_flags(items) -> dict:
    """For the review queue: ``{item_id: [open flags]}``."""
    return stats_loop.open_flags_by_item([i.id for i in items or []])


bp.add_app_template_global(stats_flags_for, "stats_flags_for")
bp.add_app_template_global(stats_open_flags, "stats_open_flags")


# ----------------------------------------------------------------------------------------------------
# sittings
# ----------------------------------------------------------------------------------------------------
@bp.route("/")
@roles_required(*VIEW_ROLES)
def sittings():
    return render_template("stats/sittings.html", rows=stats_service.sittings_overview(current_user))


def _pick_run(runs, label):
    for r in runs:
        if r.form_label == label:
            return r
    return runs[0] if runs else None


@bp.route("/session/<int:session_id>")
@roles_required(*VIEW_ROLES)
def sitting(session_id: int):
    try:
        sess = stats_service.session_for(current_user, session_id)
    except StatsError as e:
        return _error(e)
    try:
        info = stats_service.refresh_session(sess.id, trigger="view", actor=current_user)
    except Exception:  # noqa: BLE001 - show the last stored statistics rather than fail the page
        log.exception("item statistics refresh failed for session %s", sess.id)
        flash(_("The statistics could not be brought up to date; the last computed ones are shown."), "error")
        info = {"changed": False}
    runs = stats_service.current_runs(sess.id)
    run = _pick_run(runs, request.args.get("form", ""))
    flag = request.args.get("flag", "")
    flag = flag if flag in FLAG_CODES else ""
    severity = request.args.get("severity", "")
    severity = severity if severity in ("error", "warning", "info", "any") else ""
    sort = request.args.get("sort", "position")
    sort = sort if sort in stats_service.SORT_KEYS else "position"
    desc = request.args.get("desc") == "1"
    rows = stats_service.item_rows(run, flag=flag or None, severity=severity or None, sort=sort, desc=desc) \
        if run else []
    hist_svg = None
    if run is not None and stats_service.histogram(run):
        h = stats_service.histogram(run)
        pm = (run.test or {}).get("pass_mark") or {}
        hist_svg = charts.histogram(h["edges"], h["counts"], title=_("Score distribution"), xlabel=_("Total score"),
                                    ylabel=_("Candidates"), cut=pm.get("cut"), cut_label=_("Pass mark"))
    station = db.session.get(Station, sess.station_id)
    return render_template("stats/sitting.html", sess=sess, station=station, runs=runs, run=run, rows=rows,
                           flag=flag, severity=severity, sort=sort, desc=desc, flag_codes=FLAG_CODES,
                           hist_svg=hist_svg, refreshed=info["changed"],
                           can_refresh=current_user.role in REFRESH_ROLES,
                           has_stations=_has_station_run(run))


def _has_station_run(run) -> bool:
    if run is None:
        return False
    _sessions, stations = stats_service._stations_of_form(run.form_id)
    return len(stations) >= 2


@bp.route("/session/<int:session_id>/refresh", methods=["POST"])
@roles_required(*REFRESH_ROLES)
def refresh(session_id: int):
    try:
        sess = stats_service.session_for(current_user, session_id)
        info = stats_service.refresh_session(sess.id, trigger="manual", actor=current_user, force=True, rebuild=True)
    except StatsError as e:
        return _error(e)
    flash(_("Statistics recomputed: %(n)s form(s); %(f)s new flag(s) sent to review.", n=len(info["runs"]),
            f=(info["loop"] or {}).get("raised", 0)), "success")
    return redirect(url_for("stats.sitting", session_id=sess.id))


# ----------------------------------------------------------------------------------------------------
# one run: item, areas, stations, export
# ----------------------------------------------------------------------------------------------------
def _run_or_error(run_id: int):
    return stats_service.run_for(current_user, run_id)


@bp.route("/run/<int:run_id>/item/<int:version_id>")
@roles_required(*VIEW_ROLES)
def item(run_id: int, version_id: int):
    try:
        run = _run_or_error(run_id)
        st, item_row, ver = stats_service.item_stat_for(run, version_id)
    except StatsError as e:
        return _error(e)
    curves = st.curves or {}
    labels = list((st.options or {}).keys())
    opt_svg = charts.option_lines(curves.get("groups") or [], labels, st.key, title=_("Options by score group"),
                                  xlabel=_("Score group (1 = lowest)"), ylabel=_("Share choosing"),
                                  omit_label=_("omitted"), key_label=_("(key)"))
    icc_svg = charts.icc(curves.get("curve"), curves.get("fit"), title=_("Item characteristic curve"),
                         xlabel=_("Ability (normal score of the total)"), ylabel=_("Mean score / max"),
                         empirical_label=_("observed"), fitted_label=_("fitted"))
    hist = stats_service.item_history(current_user, st.item_id)
    hist_svg = charts.history([{"p": h["stat"].p, "r_rest": h["stat"].r_rest} for h in hist],
                              title=_("The item across sittings"), xlabel=_("Sitting (oldest first)"),
                              ylabel=_("Value"), p_label=_("facility p"), r_label=_("discrimination r (rest)"))
    tickets = {}
    for f in st.flags or []:
        wi = (f.get("evidence") or {}).get("what_if") or {}
        tickets.update(stats_service.attempt_tickets(wi.get("fail_to_pass", []) + wi.get("pass_to_fail", [])))
    sess = db.session.get(ExamSession, run.session_id) if run.session_id else None
    item_flags = stats_loop.flags_of_item(item_row)
    return render_template("stats/item.html", run=run, sess=sess, st=st, item=item_row, ver=ver, curves=curves,
                           opt_svg=opt_svg, icc_svg=icc_svg, hist_svg=hist_svg, history=hist, tickets=tickets,
                           item_flags=item_flags, can_decide=stats_loop.can_decide(current_user, item_row),
                           can_remark=current_user.role in REMARK_ROLES,
                           can_bank=items_service.can_view(item_row, current_user))


@bp.route("/run/<int:run_id>/areas")
@roles_required(*VIEW_ROLES)
def areas(run_id: int):
    try:
        run = _run_or_error(run_id)
    except StatsError as e:
        return _error(e)
    sess = db.session.get(ExamSession, run.session_id) if run.session_id else None
    return render_template("stats/areas.html", run=run, sess=sess, summary=stats_service.area_summary(run))


@bp.route("/run/<int:run_id>/stations")
@roles_required(*VIEW_ROLES)
def stations(run_id: int):
    try:
        run = _run_or_error(run_id)
    except StatsError as e:
        return _error(e)
    sess = db.session.get(ExamSession, run.session_id) if run.session_id else None
    cmp = stats_service.station_comparison(current_user, run)
    station_run = None
    if current_user.role in ("admin", "reviewer"):
        from sqlalchemy import select

        from ..models import AnalysisRun
        station_run = db.session.execute(select(AnalysisRun).where(
            AnalysisRun.scope == "stations", AnalysisRun.form_id == run.form_id, AnalysisRun.is_current.is_(True))
            .order_by(AnalysisRun.id.desc())).scalars().first()
    station_flags = []
    if station_run is not None:
        station_flags = [r for r in stats_service.item_rows(station_run)
                         if any(c in (r[0].flag_codes or "") for c in (" dif_c ", " dif_b ", " station_leak "))]
    return render_template("stats/stations.html", run=run, sess=sess, cmp=cmp, station_run=station_run,
                           station_flags=station_flags)


@bp.route("/run/<int:run_id>/export.xlsx")
@roles_required(*VIEW_ROLES)
def export(run_id: int):
    try:
        run = _run_or_error(run_id)
    except StatsError as e:
        return _error(e)
    data = stats_service.export_xlsx(run)
    name = f"item-analysis-session{run.session_id or 'all'}-{run.form_label}.xlsx"
    return Response(data, mimetype=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ----------------------------------------------------------------------------------------------------
# items across sittings and the flags
# ----------------------------------------------------------------------------------------------------
@bp.route("/items/<int:item_id>")
@roles_required(*VIEW_ROLES)
def item_history(item_id: int):
    it = db.session.get(Item, item_id)
    if it is None:
        return _error(StatsError(_("The item was not found."), 404))
    return _history_page(it)


def _history_page(it, problems=(), status=200):
    hist = stats_service.item_history(current_user, it.id)
    if not hist and not items_service.can_view(it, current_user):
        return _error(StatsError(_("The item was not found."), 404))
    hist_svg = charts.history([{"p": h["stat"].p, "r_rest": h["stat"].r_rest} for h in hist],
                              title=_("The item across sittings"), xlabel=_("Sitting (oldest first)"),
                              ylabel=_("Value"), p_label=_("facility p"), r_label=_("discrimination r (rest)"))
    return render_template("stats/history.html", item=it, history=hist, hist_svg=hist_svg,
                           problems=list(problems), posted=request.form if problems else None,
                           can_bank=items_service.can_view(it, current_user)), status


@bp.route("/flags")
@roles_required(*REVIEW_ROLES)
def flags():
    from sqlalchemy import select

    from ..models import ItemFlag
    rows = list(db.session.execute(select(ItemFlag).where(ItemFlag.status == "open")
                                   .order_by(ItemFlag.raised_at.desc(), ItemFlag.id.desc()).limit(500)).scalars())
    by_item = stats_loop.open_flags_by_item({f.item_id for f in rows})
    shown = [f for f in rows if f in by_item.get(f.item_id, [])]
    items = {i.id: i for i in db.session.execute(select(Item).where(Item.id.in_({f.item_id for f in shown}))).scalars()}
    return render_template("stats/flags.html", flags=shown, items=items)


@bp.route("/flag/<int:flag_id>/dismiss", methods=["POST"])
@roles_required(*REVIEW_ROLES)
def dismiss(flag_id: int):
    nxt = _safe_next(request.form.get("next"))
    try:
        flag = stats_loop.dismiss_flag(flag_id, current_user, request.form.get("reason", ""))
    except (StatsError, items_service.ItemError) as e:
        status = getattr(e, "status", 409)
        message = getattr(e, "message", None) or str(e)
        if status in (403, 404):
            return _error(StatsError(message, status))
        flag, item_row = stats_loop.get_flag(flag_id)
        return _history_page(item_row, problems=[message], status=status)
    flash(_("Flag dismissed: %(code)s.", code=flag_label(flag.code)), "success")
    return redirect(nxt or url_for("bank.item_detail", item_id=flag.item_id), code=303)


def _safe_next(value) -> str | None:
    if value and value.startswith("/") and not value.startswith("//"):
        return value
    return None


@bp.route("/flag/<int:flag_id>/accept-key", methods=["GET", "POST"])
@roles_required(*REMARK_ROLES)
def accept_key(flag_id: int):
    problems, status = [], 200
    if request.method == "POST":
        try:
            preview = stats_loop.accept_key(flag_id, current_user, request.form.get("reason", ""),
                                            request.form.get("digest") or None)
        except StatsError as e:
            if e.status in (403, 404, 501):
                return _error(e)
            problems, status = [e.message], e.status
        else:
            flash(_("Key corrected and %(n)s answer sheet(s) re-marked; %(c)s total(s) changed.",
                    n=len(preview.rows), c=len(preview.changed_rows)), "success")
            flag, _item = stats_loop.get_flag(flag_id)
            return redirect(url_for("stats.item_history", item_id=flag.item_id))
    try:
        flag, item_row, key, preview = stats_loop.preview_key(flag_id, current_user)
    except StatsError as e:
        if not problems:
            return _error(e)
        flag, item_row = stats_loop.get_flag(flag_id)
        key, preview = None, None
    ver = db.session.get(ItemVersion, flag.item_version_id)
    return render_template("stats/accept_key.html", flag=flag, item=item_row, ver=ver, key=key, preview=preview,
                           problems=problems), status


# ----------------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------------
@bp.cli.command("refresh")
@click.argument("session_ids", nargs=-1, type=int)
@click.option("--force", is_flag=True, help="Rebuild the score rows and recompute even when nothing changed.")
def refresh_command(session_ids, force):
    """Refresh the item statistics of SESSION_IDS (default: every session with submitted attempts)."""
    from sqlalchemy import select

    from ..models import ExamAttempt
    ids = list(session_ids) or sorted(set(db.session.execute(select(ExamAttempt.session_id).where(
        ExamAttempt.status == "submitted").distinct()).scalars()))
    for sid in ids:
        try:
            info = stats_service.refresh_session(sid, trigger="cli", force=force, rebuild=force)
        except StatsError as e:
            click.echo(f"session {sid}: {e.message}", err=True)
            continue
        if info["changed"]:
            loop = info["loop"] or {}
            click.echo(f"session {sid}: {len(info['runs'])} form(s) analysed, "
                       f"{loop.get('raised', 0)} new flag(s), {loop.get('pooled', 0)} item(s) pooled")
        else:
            click.echo(f"session {sid}: up to date")
