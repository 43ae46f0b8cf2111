"""Case work in a real browser: a counsellor works a day from "Mein Tag" (issue 13, scenario 2).

From the start page only by clicks: open a participant close to entry, add a session typed as
"1:00" and see her cross 8 hours, log a phone call, plan the next contact for today and a
transfer date and see their follow-ups, then mark the next-contact follow-up done on "Mein Tag"
and find it in her history.
"""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Page, expect

from tests.browser.conftest import berlin_today, check_a11y, log_in

COUNSELLOR = "beratung@demo.netzwerk-crm.de"
# The demo counsellor's participant at 7:30 hours (crm/participants/demo.py).
NEAR_ENTRY = "Farida Sultani"


def test_a_counsellor_works_a_day_from_mein_tag(page: Page) -> None:
    today = berlin_today()
    page.goto("/")
    log_in(page, COUNSELLOR)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="Mein Tag", level=1)).to_be_visible()
    near = page.locator("#today-near-entry")
    expect(near).to_contain_text("7:30")
    check_a11y(page)

    # A session typed as hours and minutes takes her across 8 hours: entry today.
    near.get_by_role("link", name=NEAR_ENTRY).click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+$"))
    expect(page.locator("#total-hours")).to_have_text("7:30")
    expect(page.locator("#entry-date")).to_have_attribute("data-entry-on", "")
    check_a11y(page)
    page.locator("#session-held_on").fill(today.isoformat())
    page.get_by_label("Dauer (1:30, 1,5 h oder 90 Minuten)").fill("1:00")
    page.locator("#add-session").click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+#sitzungen$"))
    expect(page.locator(".flash-messages")).to_contain_text("Eintritt am")
    expect(page.locator("#total-hours")).to_have_text("8:30")
    expect(page.locator("#entry-date")).to_have_attribute("data-entry-on", today.isoformat())
    check_a11y(page)

    # A phone call goes on the timeline, above the earlier sessions, and is no counselling time.
    page.locator("#verlauf summary").click()
    page.get_by_label("Art des Kontakts").select_option(label="Anruf")
    page.get_by_label("Dauer (optional: 0:15, 1,5 h oder 20 Minuten)").fill("0:15")
    page.locator("#contact-note").fill("Rückruf wegen der Zeugnisse")
    page.locator("#add-contact").click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+#verlauf$"))
    expect(page.locator(".flash-messages")).to_contain_text("Kontakt wurde erfasst")
    entries = page.locator("#timeline > li")
    # Today's session has no time of day and stays at the top of today; then the call.
    expect(entries.nth(0)).to_have_attribute("data-kind", "session")
    expect(entries.nth(1)).to_have_attribute("data-kind", "call")
    expect(entries.nth(1)).to_contain_text("Rückruf wegen der Zeugnisse")
    expect(entries.nth(2)).to_have_attribute("data-kind", "session")
    expect(page.locator("#total-hours")).to_have_text("8:30")
    check_a11y(page)

    # Next contact today and the end of the integration course in six weeks: two follow-ups.
    transfer = today + timedelta(weeks=6)
    page.locator("#planung summary").click()
    page.get_by_label("Nächster Kontakt am").fill(today.isoformat())
    page.get_by_label("Geplanter Übergang am").fill(transfer.isoformat())
    page.get_by_label("Was endet (z. B. Ende Integrationskurs)").fill("Ende Integrationskurs")
    page.locator("#save-plan").click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+#planung$"))
    expect(page.locator("#planned-transfer")).to_contain_text("Ende Integrationskurs")
    listed = page.locator("#participant-followups")
    transfer_item = listed.locator("li[data-case-kind='transfer']")
    expect(transfer_item).to_contain_text("Ende Integrationskurs")
    expect(transfer_item).to_contain_text((transfer - timedelta(days=14)).strftime("%d.%m.%Y"))
    expect(listed.locator("li[data-case-kind='next_contact']")).to_contain_text("Nächster Kontakt")
    check_a11y(page)

    # The transfer's follow-up opens from the participant page.
    transfer_item.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/wiedervorlagen/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ende Integrationskurs")
    check_a11y(page)

    # Back on "Mein Tag": the next contact is due today, names her, and is done with one click.
    page.locator(".navbar-brand").click()
    expect(page).to_have_url(re.compile(r"/$"))
    due = page.locator("#today-due > li").filter(has_text="Nächster Kontakt")
    expect(due).to_have_count(1)
    expect(due.get_by_role("link", name=NEAR_ENTRY)).to_be_visible()
    expect(page.locator("#today-near-entry").get_by_text(NEAR_ENTRY)).to_have_count(0)
    check_a11y(page)
    due.get_by_role("button", name=re.compile(r"^Erledigt\s*:\s*Nächster Kontakt")).click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".flash-messages")).to_contain_text("erledigt")
    expect(page.locator("#today-followups").get_by_text("Nächster Kontakt")).to_have_count(0)
    check_a11y(page)

    # Done, it stays in her history: when, what and who.
    page.get_by_role("navigation").get_by_role("link", name="Teilnehmende", exact=True).click()
    page.get_by_role("link", name="Sultani, Farida").click()
    expect(page).to_have_url(re.compile(r"/teilnehmende/\d+$"))
    done = page.locator("#timeline > li[data-kind='followup_done']")
    expect(done).to_have_count(1)
    expect(done).to_contain_text("Wiedervorlage erledigt: Nächster Kontakt")
    expect(done).to_contain_text(today.strftime("%d.%m.%Y"))
    expect(done).to_contain_text("erledigt von")
    check_a11y(page)
