"""Staff pages under /newsletter: lists, consent records, proof, audiences, templates."""

from __future__ import annotations

import sqlalchemy as sa

from crm.newsletters import service
from crm.newsletters.models import Audience, ConsentEvent, NewsletterTemplate, Subscription
from tests.factories import make_list, make_person


def test_staff_create_a_list_with_its_first_consent_text(client_as, db_session):
    c = client_as("staff")
    assert c.get("/newsletter/listen/neu").status_code == 200
    r = c.post(
        "/newsletter/listen/neu",
        data={
            "name": "Newsletter Burg",
            "slug": "burg",
            "consent_text": "Ja, bitte.",
            "public_signup": "y",
        },
    )
    assert r.status_code == 302
    lst = service.get_list_by_slug(db_session, "burg")
    assert service.current_consent_text(db_session, lst.id).version == 1
    r = c.post(f"/newsletter/listen/{lst.id}/einwilligungstext", data={"text": "Neu."})
    assert r.status_code == 302
    assert service.current_consent_text(db_session, lst.id).version == 2
    page = c.get(f"/newsletter/listen/{lst.id}")
    assert page.status_code == 200
    assert b"/newsletter/anmelden/burg" in page.data
    assert c.get("/newsletter/").status_code == 200


def test_read_only_users_see_but_cannot_change(client_as, db_session):
    lst = make_list(db_session)
    person = make_person(db_session)
    db_session.commit()
    c = client_as("readonly")
    assert c.get("/newsletter/").status_code == 200
    assert c.get(f"/newsletter/personen/{person.id}").status_code == 200
    assert c.get("/newsletter/listen/neu").status_code == 403
    r = c.post(
        f"/newsletter/personen/{person.id}/einwilligung",
        data={"list_id": lst.id, "method": "paper"},
    )
    assert r.status_code == 403


def test_paper_consent_is_recorded_and_shown_on_the_printable_proof(client_as, db_session):
    lst = make_list(db_session, name="Newsletter Haus der Wirtschaft")
    person = make_person(db_session, first_name="Grete", last_name="Schönfeld")
    db_session.commit()
    c = client_as("staff")
    r = c.post(
        f"/newsletter/personen/{person.id}/einwilligung",
        data={
            "list_id": lst.id,
            "method": "paper",
            "consented_on": "2026-10-01",
            "note": "Ordner Messe 2026",
        },
    )
    assert r.status_code == 302
    sub = db_session.scalar(sa.select(Subscription).where(Subscription.person_id == person.id))
    assert sub.status == "confirmed"
    assert sub.source == "paper"
    event = db_session.scalar(sa.select(ConsentEvent).where(ConsentEvent.person_id == person.id))
    assert event.actor_id == c.user.id
    assert "Ordner Messe 2026" in event.note
    proof = c.get(f"/newsletter/personen/{person.id}/nachweis")
    assert proof.status_code == 200
    assert b"Sch\xc3\xb6nfeld" in proof.data
    assert b"/static/css/newsletters." in proof.data  # newsletters.<hash>.css
    assert b'data-action="confirmed"' in proof.data  # ledger row rendered
    r = c.post(f"/newsletter/personen/{person.id}/abmelden/{lst.id}")
    assert r.status_code == 302
    db_session.expire_all()
    assert db_session.get(Subscription, sub.id).status == "unsubscribed"


def test_a_template_with_a_forbidden_expression_is_shown_with_the_line_not_a_500(
    client_as, db_session
):
    c = client_as("staff")
    r = c.post(
        "/newsletter/vorlagen/neu",
        data={
            "name": "Böse",
            "subject": "Hallo",
            "body_html": "<p>\n{{ ''.__class__ }}</p>",
            "body_text": "{{ config }}",
        },
    )
    assert r.status_code == 200
    assert b"HTML-Text, Zeile 2" in r.data
    assert b"Nur-Text, Zeile 1" in r.data
    assert b"SECRET_KEY" not in r.data
    assert b"&lt;class" not in r.data
    assert db_session.scalar(sa.select(sa.func.count(NewsletterTemplate.id))) == 0


def test_a_template_is_saved_and_previewed_for_a_chosen_recipient(client_as, db_session):
    lst = make_list(db_session)
    person = make_person(db_session, first_name="Jörg", last_name="Weiß", salutation="herr")
    service.record_consent(db_session, person=person, lst=lst, method="paper")
    db_session.commit()
    c = client_as("staff")
    r = c.post(
        "/newsletter/vorlagen/neu",
        data={
            "name": "Juni",
            "subject": "Hallo {{ vorname }}",
            "body_html": "<p>{{ anrede }}<script>x()</script></p>",
            "body_text": "{{ anrede }}",
        },
    )
    assert r.status_code == 302
    tpl = db_session.scalar(sa.select(NewsletterTemplate).where(NewsletterTemplate.name == "Juni"))
    page = c.get(f"/newsletter/vorlagen/{tpl.id}/vorschau?person={person.id}&liste={lst.id}")
    assert page.status_code == 200
    assert "Hallo Jörg".encode() in page.data
    assert "Sehr geehrter Herr Weiß".encode() in page.data
    frame = c.get(f"/newsletter/vorlagen/{tpl.id}/vorschau.html?person={person.id}&liste={lst.id}")
    assert frame.status_code == 200
    csp = frame.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox")
    assert "script-src" not in csp
    assert "frame-ancestors 'self'" in csp


def test_audiences_are_created_through_the_form(client_as, db_session):
    lst = make_list(db_session)
    db_session.commit()
    c = client_as("staff")
    assert c.get("/newsletter/zielgruppen/neu").status_code == 200
    r = c.post(
        "/newsletter/zielgruppen/neu",
        data={
            "name": "Verbände MD",
            "list_id": lst.id,
            "kind": "filter",
            "org_kinds": ["association"],
            "contact_list_id": 0,
        },
    )
    assert r.status_code == 302, r.data
    audience = db_session.scalar(sa.select(Audience).where(Audience.name == "Verbände MD"))
    assert audience.filter_spec == {"org_kinds": ["association"]}
    assert c.get(f"/newsletter/zielgruppen/{audience.id}").status_code == 200
    assert c.get("/newsletter/zielgruppen").status_code == 200


def test_the_public_pages_need_no_login_and_unknown_lists_are_404(client, db_session):
    make_list(db_session, slug="offen")
    closed = make_list(db_session, slug="zu", public_signup=False)
    db_session.commit()
    assert client.get("/newsletter/anmelden/offen").status_code == 200
    assert client.get("/newsletter/anmelden/zu").status_code == 404
    assert client.get("/newsletter/anmelden/gibtsnicht").status_code == 404
    assert client.get("/newsletter/").status_code in (302, 401)
    assert closed.id
    # The sign-up page may not be framed by other sites.
    r = client.get("/newsletter/anmelden/offen")
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_the_demo_seeder_creates_the_haus_der_wirtschaft_list(app, db_session):
    from crm.contacts.demo import seed_contacts
    from crm.newsletters.demo import seed_newsletters
    from tests import factories

    factories.make_user(db_session, role="staff")
    seed_contacts(db_session, {})
    counts = seed_newsletters(db_session, {})
    assert counts["newsletter_confirmed"] > 0
    assert counts["newsletter_pending"] > 0
    assert counts["newsletter_unsubscribed"] > 0
    lst = service.get_list_by_slug(db_session, "haus-der-wirtschaft")
    assert lst.name == "Newsletter Haus der Wirtschaft"


def test_the_preview_frame_is_a_whole_document_even_for_a_text_only_template(client_as, db_session):
    make_list(db_session)
    fragment = NewsletterTemplate(name="F", subject="Hallo & {{ vorname }}", body_html="<p>x</p>")
    text_only = NewsletterTemplate(name="Nur Text", subject="Kurz", body_text="Hallo")
    db_session.add_all([fragment, text_only])
    db_session.commit()
    c = client_as("staff")
    frame = c.get(f"/newsletter/vorlagen/{fragment.id}/vorschau.html").get_data(as_text=True)
    assert frame.startswith('<!doctype html>\n<html lang="de">\n<head>\n<meta charset="utf-8">')
    assert "<title>Hallo &amp; Erika</title>" in frame
    assert "<body>\n<p>x</p>\n</body>" in frame
    empty = c.get(f"/newsletter/vorlagen/{text_only.id}/vorschau.html").get_data(as_text=True)
    assert empty.startswith("<!doctype html>")
    assert "<title>Kurz</title>" in empty


def _index_notice(client, app, monkeypatch, base_url, mailto=""):
    monkeypatch.setitem(app.config, "CRM_BASE_URL", base_url)
    monkeypatch.setitem(app.config, "CRM_NEWSLETTER_UNSUBSCRIBE_MAILTO", mailto)
    html = client.get("/newsletter/").get_data(as_text=True)
    start = html.find('id="list-unsubscribe-notice"')
    return html[start : html.find("</div>", start)] if start >= 0 else ""


def test_over_plain_http_the_newsletter_page_says_why_list_unsubscribe_is_left_out(
    app, client_as, db_session, monkeypatch
):
    from crm.newsletters.service import MailSettings, unsubscribe_headers

    c = client_as("staff")
    notice = _index_notice(c, app, monkeypatch, "http://127.0.0.1:5001")

    assert "http://127.0.0.1:5001" in notice
    assert "List-Unsubscribe" in notice
    assert "https" in notice
    # The notice tells the truth: these settings give no List-Unsubscribe header at all.
    lst, person = make_list(db_session), make_person(db_session)
    assert unsubscribe_headers(MailSettings.from_config(app.config), person, lst) == {}


def test_over_http_with_an_unsubscribe_mailbox_the_notice_names_the_mailto_header(
    app, client_as, db_session, monkeypatch
):
    c = client_as("staff")
    notice = _index_notice(c, app, monkeypatch, "http://127.0.0.1:5001", "ab@example.org")

    assert "Abmelde-Postfach" in notice


def test_over_https_the_newsletter_page_has_no_header_notice(
    app, client_as, db_session, monkeypatch
):
    c = client_as("staff")

    assert _index_notice(c, app, monkeypatch, "https://crm.example.org") == ""


def test_a_subscriber_is_found_on_the_list_by_name_or_e_mail(client_as, db_session):
    lst = make_list(db_session, name="Newsletter Haus der Wirtschaft")
    wanted = make_person(
        db_session, first_name="Grete", last_name="Schönfeld", email="grete@beispiel.de"
    )
    other = make_person(db_session, first_name="Otto", last_name="Brandt", email="otto@firma.de")
    for person in (wanted, other):
        service.record_consent(db_session, person=person, lst=lst, method="paper")
    db_session.commit()
    c = client_as("readonly")

    def rows(query: str, **extra: str) -> str:
        page = c.get(f"/newsletter/listen/{lst.id}", query_string={"q": query, **extra})
        assert page.status_code == 200
        return page.get_data(as_text=True).split('id="subscriptions"')[1].split("</table>")[0]

    for query in ("schönf", "Schoenfeld", "grete@beispiel"):
        found = rows(query)
        assert f'data-person-id="{wanted.id}"' in found, query
        assert f'data-person-id="{other.id}"' not in found, query
    assert f'data-person-id="{other.id}"' in rows("")
    # With the status filter too, and a word nobody matches says so in German.
    assert f'data-person-id="{wanted.id}"' in rows("grete", status="confirmed")
    assert "Keine Abonnent*in dieser Liste passt zu „Zander“." in rows("Zander")


def test_a_newsletter_s_name_sender_and_sign_up_page_can_be_changed_after_creation(
    client, client_as, db_session
):
    lst = make_list(db_session, name="Arbeitgeber-Newsleter", slug="arbeitgeber")
    make_list(db_session, name="Newsletter Burg", slug="burg")
    db_session.commit()
    c = client_as("staff")
    detail = c.get(f"/newsletter/listen/{lst.id}").get_data(as_text=True)
    assert f'href="/newsletter/listen/{lst.id}/bearbeiten"' in detail
    edit_url = f"/newsletter/listen/{lst.id}/bearbeiten"

    # A name another newsletter has: a German error, what was typed stays.
    r = c.post(edit_url, data={"name": "Newsletter Burg", "reply_to": "info@example.org"})
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "Einen Newsletter mit diesem Namen gibt es schon." in page
    assert 'value="info@example.org"' in page
    r = c.post(edit_url, data={"name": "Arbeitgeber-Newsletter", "reply_to": "info@"})
    assert r.status_code == 400
    assert "Ungültige E-Mail-Adresse." in r.get_data(as_text=True)

    r = c.post(
        edit_url,
        data={"name": "Arbeitgeber-Newsletter", "from_name": "IQ Netzwerk", "reply_to": ""},
    )
    assert r.status_code == 302
    db_session.refresh(lst)
    assert (lst.name, lst.from_name, lst.slug, lst.public_signup) == (
        "Arbeitgeber-Newsletter",
        "IQ Netzwerk",
        "arbeitgeber",
        False,
    )
    # The switched-off sign-up page is gone for visitors and says so to staff.
    assert client.get("/newsletter/anmelden/arbeitgeber").status_code == 404
    assert 'id="signup-off"' in c.get(f"/newsletter/listen/{lst.id}").get_data(as_text=True)
    assert client_as("readonly").get(edit_url).status_code == 403


def test_the_embed_code_carries_the_list_s_own_consent_text_that_sign_ups_are_recorded_with(
    client_as, db_session
):
    from html import unescape

    lst = make_list(
        db_session,
        slug="arbeitgeber",
        consent_text="Ich willige ein, den <Arbeitgeber-Newsletter> zu erhalten & kann widerrufen.",
    )
    db_session.commit()
    page = client_as("staff").get(f"/newsletter/listen/{lst.id}").get_data(as_text=True)
    shown = unescape(page.split('id="embed-code"')[1].split(">", 1)[1].split("</textarea>")[0])
    # What the office copies is HTML whose label reads exactly the recorded wording.
    assert (
        "Ich willige ein, den &lt;Arbeitgeber-Newsletter&gt; zu erhalten &amp; kann widerrufen."
        in shown
    )
    assert "Ich möchte den Newsletter erhalten." not in shown
    assert 'id="embed-consent-version"' in page


def test_the_new_newsletter_form_names_the_short_name_rule_and_a_taken_one_in_the_ui_language(
    client_as, db_session
):
    make_list(db_session, name="Newsletter Burg", slug="burg")
    db_session.commit()
    c = client_as("staff")
    assert "Kleinbuchstaben, Ziffern, Bindestriche" in c.get("/newsletter/listen/neu").get_data(
        as_text=True
    )
    data = {"name": "Newsletter Genthin", "slug": "burg", "consent_text": "Ja, bitte."}
    page = c.post("/newsletter/listen/neu", data=data).get_data(as_text=True)
    assert "Ein anderer Newsletter hat diesen Kurznamen schon." in page
    assert 'value="Newsletter Genthin"' in page
    c.post("/sprache", data={"locale": "en", "next": "/"})
    page = c.post("/newsletter/listen/neu", data=data).get_data(as_text=True)
    assert "Another newsletter has this short name already." in page


def test_a_newsletter_without_subscribers_says_where_they_come_from(client_as, db_session):
    lst = make_list(db_session, slug="arbeitgeber")
    db_session.commit()
    c = client_as("staff")
    page = c.get(f"/newsletter/listen/{lst.id}").get_data(as_text=True)
    hint = page.split('id="no-subscriptions"')[1].split("</span>")[0]
    assert "Anmeldeseite" in hint
    assert 'href="/kontakte/personen"' in hint
    # Filtered by a status that has none: the plain sentence, no how-to.
    page = c.get(f"/newsletter/listen/{lst.id}?status=bounced").get_data(as_text=True)
    assert "Keine Abonnements." in page
    assert 'id="no-subscriptions"' not in page


def test_a_new_template_starts_with_the_unsubscribe_link_and_one_without_it_is_flagged(
    client_as, db_session
):
    make_list(db_session, name="Arbeitgeber-Newsletter")
    db_session.commit()
    c = client_as("staff")
    form = c.get("/newsletter/vorlagen/neu").get_data(as_text=True)
    html_body = form.split('id="body_html"')[1].split("</textarea>")[0]
    text_body = form.split('id="body_text"')[1].split("</textarea>")[0]
    assert "{{ abmelde_link }}" in html_body
    assert "{{ abmelde_link }}" in text_body
    assert "{{ anrede }}" in text_body

    c.post(
        "/newsletter/vorlagen/neu",
        data={
            "name": "Ohne Abmeldelink",
            "subject": "Neues",
            "body_html": '<p>{{ anrede }}</p><a href="{{abmelde_link}}">Abmelden</a>',
            "body_text": "{{ anrede }},\nhier unsere Neuigkeiten.",
        },
    )
    tpl = db_session.scalar(
        sa.select(NewsletterTemplate).where(NewsletterTemplate.name == "Ohne Abmeldelink")
    )
    page = c.get(f"/newsletter/vorlagen/{tpl.id}/vorschau").get_data(as_text=True)
    warning = page.split('id="no-unsubscribe-link"')[1].split("</div>")[0]
    assert "Dieser Vorlage fehlt der Abmeldelink in: Nur-Text." in warning

    c.post(
        f"/newsletter/vorlagen/{tpl.id}",
        data={
            "name": "Ohne Abmeldelink",
            "subject": "Neues",
            "body_html": "",
            "body_text": "{{ anrede }},\n\nAbmelden: {{ abmelde_link }}",
        },
    )
    page = c.get(f"/newsletter/vorlagen/{tpl.id}/vorschau").get_data(as_text=True)
    assert 'id="no-unsubscribe-link"' not in page
