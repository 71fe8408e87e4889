"""The dashboard's side of a workflow's input: the trigger dialog ticks the event's fields
and shows the exact input they make, a job's dialog shows its rows filled in, and a
workflow is tested from the Agents & workflows page, its answer in words."""

from __future__ import annotations

from sqlmodel import select
from streamlit.testing.v1 import AppTest

from core.store.db import read_session
from core.store.models import EventTrigger
from support.fakes import Reply
from support.screens import agents_page, texts


def _workflow_trigger(app: AppTest) -> AppTest:
    app.button(key="add_trigger").click().run()
    app.text_input(key="trigger_name").input("Analyze mail")
    app.selectbox(key="trigger_app").set_value("Gmail").run()
    return app.radio(key="action_kind").set_value("Run a workflow").run()


def test_ticked_fields_show_the_input_they_send_and_are_saved(dashboard, agent, workflow, settings):
    app = _workflow_trigger(dashboard())
    ticks = [
        box.key.removeprefix("input_tick_")
        for box in app.checkbox
        if box.key.startswith("input_tick_")
    ]
    assert ticks[:3] == ["emailFrom", "emailTo", "emailSubject"]
    assert "sender" not in ticks and "date" not in ticks  # said once, as the friendly name
    app.checkbox(key="input_tick_emailFrom").check()
    app.checkbox(key="input_tick_label_ids").check().run()
    shown = texts(app)
    assert "emailFrom: Jane Doe <jane@example.com>" in shown
    assert "label_ids: INBOX, UNREAD, CATEGORY_PERSONAL" in shown
    assert "subject: Q4 planning doc" not in shown  # only what is ticked is sent
    app.button(key="trigger_save").click().run()
    with read_session(settings.database_url) as session:
        [trigger] = session.exec(select(EventTrigger)).all()
    assert trigger.config["input"] == {"emailFrom": "{emailFrom}", "label_ids": "{label_ids}"}


def test_a_template_typed_as_text_is_refused_by_its_field_and_nothing_saved(
    dashboard, agent, workflow, settings
):
    app = _workflow_trigger(dashboard())
    app.toggle(key="input_as_text").set_value(True).run()
    app.text_area(key="input_template").input('{"from": "{emailFrm}"}').run()
    app.button(key="trigger_save").click().run()
    assert "did you mean {emailFrom}?" in texts(app)
    with read_session(settings.database_url) as session:
        assert session.exec(select(EventTrigger)).all() == []


def test_a_workflow_is_tested_and_its_answer_said_in_words(page, workflow, target):
    target.script("/hooks/analyze", Reply(body={"summary": "Looks fine.", "run": {"id": 7}}))
    app = page(agents_page)
    app.button(key=f"test_workflow_{workflow.id}").click().run()
    assert len(app.success) == 1
    assert "analyze-email answered:  \nLooks fine." in texts(app)
    assert "run.id: 7" in texts(app)  # under Technical details
    [request] = target.received("/hooks/analyze")
    assert request.body["source"]["type"] == "workflow_test"
