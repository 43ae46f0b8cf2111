"""Editing a campaign's text while it is a draft (or scheduled): the form pre-filled, the same
sandbox check as on creation, refused once sending has started, audited, and two editors at
once never silently overwrite each other."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.newsletters.campaigns import start_campaign
from crm.newsletters.models import Campaign, NewsletterTemplate
from tests.conftest import csrf_token_from
from tests.factories import make_list
from tests.newsletter_sending_helpers import make_campaign, make_subscribers


def _draft(db_session: Any, **values: Any) -> Campaign:
    nl = make_list(db_session, name="Newsletter Haus der Wirtschaft")
    make_subscribers(db_session, nl, 2)
    campaign = make_campaign(
        db_session,
        nl,
        name="Juni-Ausgabe",
        subject="{{ liste }}: Neues im Juni",
        body_text="{{ anrede }},\n\nText mit Tippfehlr.",
        body_html="<p>{{ anrede }}</p>",
        **values,
    )
    db_session.commit()
    return campaign


def _edit_url(campaign: Campaign) -> str:
    return f"/newsletter/aussendungen/{campaign.id}/bearbeiten"


def _edit_data(campaign: Campaign, **changes: Any) -> dict[str, Any]:
    data = {
        "name": campaign.name,
        "list_id": campaign.list_id,
        "audience_kind": "list",
        "subject": campaign.subject,
        "body_html": campaign.body_html,
        "body_text": campaign.body_text,
        "version": campaign.version,
    }
    data.update(changes)
    return data


def test_a_coordinator_edits_a_drafts_subject_and_text_from_the_prefilled_form(
    client_as: Any, db_session: Any
) -> None:
    campaign = _draft(db_session)
    client = client_as("staff")
    page = client.get(f"/newsletter/aussendungen/{campaign.id}").get_data(True)
    assert f'href="/newsletter/aussendungen/{campaign.id}/bearbeiten"' in page

    form = client.get(_edit_url(campaign)).get_data(True)
    assert 'value="Juni-Ausgabe"' in form
    assert "Text mit Tippfehlr." in form
    assert 'name="version" type="hidden" value="1"' in form

    response = client.post(
        _edit_url(campaign),
        data=_edit_data(
            campaign,
            subject="{{ liste }}: Neues im Juli",
            body_text="{{ anrede }},\n\nText ohne Tippfehler.",
        ),
    )
    assert response.status_code == 302, response.get_data(True)
    db_session.refresh(campaign)
    assert campaign.subject == "{{ liste }}: Neues im Juli"
    assert campaign.body_text == "{{ anrede }},\n\nText ohne Tippfehler."
    assert campaign.version == 2
    assert campaign.status == "draft"
    shown = client.get(response.headers["Location"]).get_data(True)
    assert "Text ohne Tippfehler." in shown
    assert "Die Aussendung wurde gespeichert." in shown


def test_an_edit_is_audited_like_the_creation(client_as: Any, db_session: Any) -> None:
    nl = make_list(db_session)
    template = NewsletterTemplate(name="Herbst", subject="Hallo", body_text="Text")
    db_session.add(template)
    db_session.commit()
    client = client_as("staff")
    client.post(
        "/newsletter/aussendungen/neu",
        data={"name": "Herbst 2026", "list_id": nl.id, "template_id": template.id},
    )
    campaign = db_session.query(Campaign).filter_by(name="Herbst 2026").one()
    client.post(
        _edit_url(campaign),
        data=_edit_data(campaign, body_text="Neuer Text"),
    )
    entries = db_session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.entity_type == "newsletter_campaign", AuditEntry.entity_id == campaign.id)
        .order_by(AuditEntry.id)
    ).all()
    assert [e.action for e in entries] == ["create", "update"]
    assert all(e.actor_id == client.user.id for e in entries)
    assert entries[1].changes["fields"] == ["body_text"]
    assert "Herbst 2026" in entries[1].summary


def test_a_template_problem_in_the_edited_text_is_named_in_german_and_the_input_kept(
    client_as: Any, db_session: Any
) -> None:
    campaign = _draft(db_session)
    client = client_as("staff")
    response = client.post(
        _edit_url(campaign),
        data=_edit_data(campaign, body_text="Hallo {{ unbekannt }}, mein neuer Absatz"),
    )
    assert response.status_code == 400
    page = response.get_data(True)
    assert "Unbekannter Platzhalter „unbekannt“" in page
    assert "mein neuer Absatz" in page
    db_session.refresh(campaign)
    assert campaign.body_text == "{{ anrede }},\n\nText mit Tippfehlr."
    assert campaign.version == 1


def test_an_edited_text_is_bounded_by_the_sandbox_as_on_creation(
    client_as: Any, db_session: Any
) -> None:
    campaign = _draft(db_session)
    client = client_as("staff")
    # Would build a string of 10^12 characters without the sandbox's bound on work.
    endless = "{% set a = 'xxxxxxxxxx' %}" + "".join(
        f"{{% set a = a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a %}}{' ' * i}" for i in range(11)
    )
    response = client.post(
        _edit_url(campaign),
        data=_edit_data(campaign, body_text=endless + "{{ a }}"),
    )
    assert response.status_code == 400
    assert "Nur-Text, Zeile 1: Die Vorlage baut zu große Texte auf" in response.get_data(True)
    db_session.refresh(campaign)
    assert campaign.version == 1


def test_an_empty_name_or_text_is_refused_and_the_rest_kept(
    client_as: Any, db_session: Any
) -> None:
    campaign = _draft(db_session)
    client = client_as("staff")
    response = client.post(
        _edit_url(campaign),
        data=_edit_data(campaign, name="", body_text="", subject="Mein neuer Betreff"),
    )
    assert response.status_code == 400
    page = response.get_data(True)
    assert "Mein neuer Betreff" in page
    assert page.count("Dieses Feld wird benötigt.") == 2
    db_session.refresh(campaign)
    assert campaign.name == "Juni-Ausgabe"


def test_the_recipients_can_be_changed_with_the_same_checks_as_on_creation(
    client_as: Any, db_session: Any
) -> None:
    campaign = _draft(db_session)
    client = client_as("staff")
    response = client.post(
        _edit_url(campaign),
        data=_edit_data(campaign, audience_kind="static", contact_list_id=""),
    )
    assert response.status_code == 400
    assert "Bitte eine feste Kontaktliste wählen." in response.get_data(True)
    db_session.refresh(campaign)
    assert campaign.contact_list_id is None
    assert campaign.version == 1


def test_editing_is_refused_once_sending_has_started(client_as: Any, db_session: Any) -> None:
    campaign = _draft(db_session)
    start_campaign(db_session, campaign)
    db_session.commit()
    client = client_as("staff")
    page = client.get(f"/newsletter/aussendungen/{campaign.id}").get_data(True)
    assert "/bearbeiten" not in page

    opened = client.get(_edit_url(campaign))
    assert opened.status_code == 302
    response = client.post(
        _edit_url(campaign),
        data=_edit_data(campaign, body_text="Zu spät"),
        follow_redirects=True,
    )
    assert "kann nicht mehr bearbeitet werden" in response.get_data(True)
    db_session.refresh(campaign)
    assert campaign.body_text == "{{ anrede }},\n\nText mit Tippfehlr."


def test_a_campaign_that_starts_while_the_form_is_open_is_not_changed(
    client_as: Any, db_session: Any
) -> None:
    campaign = _draft(db_session)
    client = client_as("staff")
    data = _edit_data(campaign, body_text="Zu spät")
    client.get(_edit_url(campaign))
    start_campaign(db_session, campaign)
    db_session.commit()
    response = client.post(_edit_url(campaign), data=data, follow_redirects=True)
    assert "kann nicht mehr bearbeitet werden" in response.get_data(True)
    db_session.refresh(campaign)
    assert campaign.body_text == "{{ anrede }},\n\nText mit Tippfehlr."


def test_a_scheduled_campaign_can_still_be_edited(client_as: Any, db_session: Any) -> None:
    from datetime import timedelta

    from crm.database import utcnow
    from crm.newsletters.campaigns import schedule_campaign

    campaign = _draft(db_session)
    schedule_campaign(db_session, campaign, utcnow() + timedelta(days=1))
    db_session.commit()
    client = client_as("staff")
    response = client.post(
        _edit_url(campaign),
        data=_edit_data(campaign, body_text="Korrigiert vor dem Termin"),
    )
    assert response.status_code == 302
    db_session.refresh(campaign)
    assert campaign.status == "scheduled"
    assert campaign.body_text == "Korrigiert vor dem Termin"


def test_two_coordinators_editing_at_once_do_not_overwrite_each_other(
    client_as: Any, db_session: Any
) -> None:
    campaign = _draft(db_session)
    anna = client_as("staff")
    ben = client_as("lead")
    anna_form = anna.get(_edit_url(campaign)).get_data(True)
    ben.get(_edit_url(campaign))
    assert 'name="version" type="hidden" value="1"' in anna_form

    first = ben.post(
        _edit_url(campaign),
        data=_edit_data(campaign, body_text="Bens Fassung"),
    )
    assert first.status_code == 302
    second = anna.post(
        _edit_url(campaign),
        data=_edit_data(campaign, version=1, body_text="Annas Fassung"),
    )
    assert second.status_code == 409
    page = second.get_data(True)
    assert "in der Zwischenzeit gespeichert" in page
    assert "Annas Fassung" in page  # what she typed is still there to copy
    db_session.refresh(campaign)
    assert campaign.body_text == "Bens Fassung"
    assert campaign.version == 2


def test_only_users_who_may_create_campaigns_may_edit_them(client_as: Any, db_session: Any) -> None:
    campaign = _draft(db_session)
    for role in ("counsellor", "readonly"):
        client = client_as(role)
        page = client.get(f"/newsletter/aussendungen/{campaign.id}").get_data(True)
        assert "/bearbeiten" not in page
        assert client.get(_edit_url(campaign)).status_code == 403
        response = client.post(
            _edit_url(campaign),
            data=_edit_data(campaign, body_text="Unbefugt"),
        )
        assert response.status_code == 403
    db_session.refresh(campaign)
    assert campaign.version == 1


def test_an_edit_without_a_csrf_token_is_refused(client_as: Any, db_session: Any) -> None:
    campaign = _draft(db_session)
    client = client_as("staff")
    form = client.get(_edit_url(campaign)).data
    assert csrf_token_from(form)
    response = client.post(
        _edit_url(campaign),
        data=_edit_data(campaign, body_text="Ohne Token"),
        csrf=False,
    )
    assert response.status_code == 400
    db_session.refresh(campaign)
    assert campaign.body_text == "{{ anrede }},\n\nText mit Tippfehlr."


def test_an_unknown_campaign_is_not_found(client_as: Any) -> None:
    assert client_as("staff").get("/newsletter/aussendungen/999999/bearbeiten").status_code == 404


def test_a_new_campaign_from_a_template_that_does_not_render_names_the_problem(
    client_as: Any, db_session: Any
) -> None:
    # The same check as for an edit: the template's bodies become the campaign's copy.
    nl = make_list(db_session)
    template = NewsletterTemplate(name="Alt", subject="Hallo", body_text="{{ unbekannt }}")
    db_session.add(template)
    db_session.commit()
    response = client_as("staff").post(
        "/newsletter/aussendungen/neu",
        data={"name": "Aus alter Vorlage", "list_id": nl.id, "template_id": template.id},
    )
    assert response.status_code == 200
    page = response.get_data(True)
    assert "Nur-Text, Zeile 1: Unbekannter Platzhalter „unbekannt“" in page
    assert 'value="Aus alter Vorlage"' in page
    assert db_session.query(Campaign).filter_by(name="Aus alter Vorlage").count() == 0
