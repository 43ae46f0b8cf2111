"""The public form's privacy notice and consent sentence as admins edit them: every save a
new version, each inquiry resolving to the exact words its sender saw, shown escaped."""

from __future__ import annotations

import html

import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.intake import consent
from crm.intake.models import Inquiry, IntakeConsentText
from crm.intake.texts import CONSENT_VERSION
from tests import factories
from tests.test_intake import _post_public

URL = "/verwaltung/anfragen/einwilligung"


def _texts(**overrides: str) -> dict[str, str]:
    values = {
        "privacy_de": "Wir speichern Ihre Angaben.\n\nSie können widersprechen.",
        "consent_de": "Ich bin mit der Speicherung einverstanden (Fassung A).",
        "privacy_en": "We store your details.",
        "consent_en": "I agree to the storage (wording A).",
        "privacy_simple": "Wir speichern Ihre Daten.",
        "consent_simple": "Ich bin einverstanden (A).",
    }
    values.update(overrides)
    return values


def test_without_a_stored_version_the_form_shows_the_built_in_text(client, db_session):
    page = client.get("/anfrage").get_data(as_text=True)
    assert f'name="consent_version" value="{CONSENT_VERSION}"' in page
    assert "Ich bin damit einverstanden" in page or "einverstanden" in page


def test_an_admin_saves_new_versions_and_each_inquiry_keeps_the_words_it_was_shown(
    admin_client, client, db_session
):
    office = factories.make_office(db_session)
    db_session.commit()
    assert admin_client.get(URL).status_code == 200
    saved = admin_client.post(URL, data=_texts())
    assert saved.status_code == 302
    first = db_session.scalars(sa.select(IntakeConsentText)).one()
    page = client.get("/anfrage").get_data(as_text=True)
    assert "Fassung A" in page
    assert f'name="consent_version" value="{first.version}"' in page
    _post_public(client, office)
    # A visitor who loaded the form before the change is recorded with what they saw.
    before_change = client.get("/anfrage?sprache=en").get_data(as_text=True)
    assert "wording A" in before_change
    admin_client.post(
        URL,
        data=_texts(consent_de="Fassung B.", consent_en="Wording B.", consent_simple="B."),
    )
    second = consent.current(db_session)
    assert second is not None
    assert second.version != first.version
    _post_public(client, office, query="?sprache=en", consent_version=first.version)
    _post_public(client, office)
    recorded = db_session.execute(
        sa.select(Inquiry.consent_version, Inquiry.consent_text).order_by(Inquiry.id)
    ).all()
    assert recorded == [
        (first.version, "Ich bin mit der Speicherung einverstanden (Fassung A)."),
        (first.version, "I agree to the storage (wording A)."),
        (second.version, "Fassung B."),
    ]
    # Every recorded version resolves to its exact wording.
    with admin_client.application.test_request_context():
        assert consent.wording(db_session, "en", first.version).consent == (
            "I agree to the storage (wording A)."
        )
        assert consent.wording(db_session, "de", second.version).consent == "Fassung B."
        assert consent.wording(db_session, "de", CONSENT_VERSION).version == CONSENT_VERSION
    history = admin_client.get(URL).get_data(as_text=True)
    assert history.index(f'data-version="{second.version}"') < history.index(
        f'data-version="{first.version}"'
    )
    audited = db_session.scalars(
        sa.select(AuditEntry).where(AuditEntry.entity_type == "intake_consent_text")
    ).all()
    assert len(audited) == 2


def test_markup_in_the_text_is_shown_escaped_never_run_as_a_template(
    admin_client, client, db_session
):
    evil = "<script>alert(1)</script> {{ config.SECRET_KEY }} {% raw %}"
    admin_client.post(URL, data=_texts(privacy_de=evil))
    page = client.get("/anfrage").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert html.escape(evil, quote=False) in page or "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "{{ config.SECRET_KEY }}" in page


def test_empty_or_unchanged_texts_are_refused_in_german_keeping_what_was_typed(
    admin_client, db_session
):
    response = admin_client.post(URL, data=_texts(privacy_en="", consent_de="Mein Entwurf"))
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Bitte füllen Sie dieses Feld aus." in body
    assert "Mein Entwurf" in body
    assert admin_client.post(URL, data=_texts()).status_code == 302
    again = admin_client.post(URL, data=_texts()).get_data(as_text=True)
    assert "unverändert" in again
    assert db_session.scalar(sa.select(sa.func.count(IntakeConsentText.id))) == 1
    junk = admin_client.post(URL, data={"privacy_de": ["a", "b"], "consent_en": "x" * 6000})
    assert junk.status_code == 200


def test_only_admins_edit_the_texts_and_the_form_needs_its_csrf_token(client_as, db_session):
    for role in ("lead", "counsellor", "staff", "readonly"):
        c = client_as(role)
        assert c.get(URL).status_code == 403
        assert c.post(URL, data=_texts()).status_code == 403
    admin = client_as("admin")
    assert admin.post(URL, data=_texts(), csrf=False).status_code == 400
    assert db_session.scalar(sa.select(sa.func.count(IntakeConsentText.id))) == 0
    settings = admin.get("/verwaltung/anfragen").get_data(as_text=True)
    assert f'href="{URL}"' in settings
