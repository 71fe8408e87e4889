"""The catalog in people's words: filters' labels, examples and help, which ones are
folded away, typed values, and the variables an event offers, one name per value."""

from __future__ import annotations

import pytest

from core.errors import ValidationError
from core.events.catalog import ConfigField, missing_filters, offline_catalog


def event(slug: str):
    return next(kind for kind in offline_catalog() if kind.slug == slug)


def test_a_filter_is_labelled_and_explained_in_words():
    label_ids = next(f for f in event("GMAIL_NEW_GMAIL_MESSAGE").config_fields
                     if f.name == "labelIds")  # fmt: skip
    assert label_ids.label == "Label (e.g. INBOX)"
    assert label_ids.help.startswith("Only mail with this Gmail label")
    assert not label_ids.advanced


@pytest.mark.parametrize(
    ("name", "spec", "label", "help_text"),
    [
        ("labelIds", {"type": "string", "description": "Filter by one label."},
         "Label (e.g. INBOX)", "Filter by one label."),
        ("calendar_ref", {"type": "string", "description": "The calendar, such as 'primary'."},
         "Calendar ref (e.g. primary)", "The calendar, such as 'primary'."),
        ("folderName", {"type": "string", "default": "Inbox"}, "Folder name (e.g. Inbox)", ""),
        ("course_id", {"type": "integer"}, "Course ID", ""),
        ("interval", {"type": "number", "default": 15}, "Check every (minutes)",
         "How often Composio looks for new events, in minutes."),
    ],
)  # fmt: skip
def test_composios_description_and_default_come_first(name, spec, label, help_text):
    field = ConfigField.from_schema(name, spec, required=False)
    assert (field.label, field.help) == (label, help_text)


def test_needed_filters_are_never_folded_and_missing_ones_are_named():
    fields = event("GITHUB_COMMIT_EVENT").config_fields
    assert [(f.short_label, f.required, f.advanced) for f in fields] == [
        ("Owner", True, False), ("Repository", True, False)
    ]  # fmt: skip
    assert [f.name for f in missing_filters(fields, {"owner": "acme", "repo": ""})] == ["repo"]
    assert missing_filters(fields, {"owner": "acme", "repo": "app"}) == []


@pytest.mark.parametrize(
    ("kind", "typed", "value"),
    [("integer", "42", 42), ("number", "15", 15), ("number", "1.5", 1.5),
     ("boolean", "yes", True), ("boolean", "no", False), ("string", " x ", " x ")],
)  # fmt: skip
def test_typed_text_becomes_the_filters_value(kind, typed, value):
    assert ConfigField("limit", kind, "Limit", False).value_of(typed) == value


@pytest.mark.parametrize(
    ("kind", "typed", "message"),
    [("integer", "1.5", "Most items per check must be a whole number, not '1.5'."),
     ("number", "soon", "Most items per check must be a number, not 'soon'."),
     ("number", "nan", "must be a number"), ("number", "1e999", "must be a number")],
)  # fmt: skip
def test_a_number_filter_refuses_what_is_not_a_number(kind, typed, message):
    with pytest.raises(ValidationError, match=message):
        ConfigField("limit", kind, "Limit", False).value_of(typed)


def test_an_event_offers_one_name_per_value():
    offered = event("GMAIL_NEW_GMAIL_MESSAGE").offered_variables
    assert offered[:2] == ["emailFrom", "emailTo"]
    assert "sender" not in offered and "message_text" not in offered  # the aliases say them
    assert "attachment_list" in offered and "dayOfWeek" in offered
    assert len(offered) == len(set(offered))
    star = event("GITHUB_STAR_ADDED_EVENT").offered_variables
    assert "commitMessage" not in star and "starred_by" in star  # no alias of a missing field
