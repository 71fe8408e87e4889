"""A workflow's input template through every edge that sets it: the CLI's `--input` (jobs
and triggers), the API's `config.input`, and setup files; the same refusal in one line,
changing nothing, at each."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from support.cli import planner_here
from support.stored import snapshot

GMAIL = "GMAIL_NEW_GMAIL_MESSAGE"
TEMPLATE = {"from": "{emailFrom}", "subject": "Re: {emailSubject}", "labels": "{label_ids}"}
MISSPELT = {"from": "{emailFrm}"}
NEAR_MISS = "The workflow input uses the unknown variable {emailFrm} — did you mean {emailFrom}?"


def test_the_cli_saves_a_triggers_and_a_jobs_input_template(settings, agent, workflow):
    done = planner_here(settings, "triggers", "add", "Analyze", "--agent", "Assistant", "--event",
                    GMAIL, "--workflow", "analyze-email", "--input", json.dumps(TEMPLATE),
                    "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["config"]["input"] == TEMPLATE
    done = planner_here(settings, "jobs", "add", "Report", "--agent", "Assistant", "--schedule",
                    "@weekly", "--workflow", "analyze-email", "--input",
                    '{"week": "{date}", "top": 5}', "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["config"]["input"] == {"week": "{date}", "top": 5}


def test_the_cli_refuses_an_unknown_variable_in_one_line_and_changes_nothing(
    settings, agent, workflow
):
    added = planner_here(settings, "triggers", "add", "Analyze", "--agent", "Assistant",
                     "--event", GMAIL, "--workflow", "analyze-email",
                     "--input", json.dumps(TEMPLATE))  # fmt: skip
    assert added.returncode == 0, added.stderr
    before = snapshot(settings.database_url)
    refusals = [
        (("triggers", "update", "Analyze", "--input", json.dumps(MISSPELT)), NEAR_MISS),
        (("triggers", "add", "Other", "--agent", "Assistant", "--event", GMAIL, "--workflow",
          "analyze-email", "--input", json.dumps(MISSPELT)), NEAR_MISS),
        (("triggers", "update", "Analyze", "--input", '{"from": '), "--input is not JSON: write"),
        (("jobs", "add", "Report", "--agent", "Assistant", "--schedule", "@weekly",
          "--workflow", "analyze-email", "--input", '{"day": "{dayOfWek}"}'),
         "did you mean {dayOfWeek}?"),
    ]  # fmt: skip
    for args, said in refusals:
        done = planner_here(settings, *args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("planner: ") and said in done.stderr
    assert snapshot(settings.database_url) == before


def test_the_api_takes_and_answers_a_triggers_input_template(api, agent, workflow, settings):
    body = {"name": "Analyze", "agent": "Assistant", "event": GMAIL, "action": "workflow",
            "config": {"workflow": "analyze-email", "input": TEMPLATE}}  # fmt: skip
    made = api("POST", "/triggers", body)
    assert made.status_code == 201, made.text
    assert made.json()["config"] == {"workflow_id": workflow.id, "input": TEMPLATE}
    assert api("GET", "/triggers/Analyze").json()["config"]["input"] == TEMPLATE

    before = snapshot(settings.database_url)
    refused = api("PATCH", "/triggers/Analyze", {"config": {"input": MISSPELT}})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["message"] == NEAR_MISS
    assert refused.json()["error"]["field"] == "config.input"
    assert snapshot(settings.database_url) == before

    cleared = api("PATCH", "/triggers/Analyze", {"config": {"input": {}}})
    assert cleared.json()["config"]["input"] == {}  # none: the event's data, as before


def test_the_api_document_describes_the_input_in_requests_and_answers(api):
    document = api("GET", "/openapi.json").json()["components"]["schemas"]
    assert "template" in document["ActionConfig"]["properties"]["input"]["description"]
    assert document["Config"]["properties"]["input"]["type"] == "object"


GMAIL_SETUP = f"""planner: 1
agents:
- name: Assistant
  url: http://127.0.0.1:9/v1
  model: m
workflows:
- name: analyze
  url: http://127.0.0.1:9/w
triggers:
- name: Analyze
  agent: Assistant
  event: {GMAIL}
  workflow: analyze
"""


def test_a_setup_file_carries_a_triggers_input_template_both_ways(settings, tmp_path: Path):
    path = tmp_path / "planner.yaml"
    path.write_text(GMAIL_SETUP + f"  input: {json.dumps(TEMPLATE)}\n")
    done = planner_here(settings, "import", str(path))
    assert done.returncode == 0, done.stderr
    [trigger] = yaml.safe_load(planner_here(settings, "export").stdout)["triggers"]
    assert trigger["input"] == TEMPLATE


def test_a_trigger_without_a_template_exports_as_before(settings, tmp_path: Path):
    path = tmp_path / "planner.yaml"
    path.write_text(GMAIL_SETUP)
    assert planner_here(settings, "import", str(path)).returncode == 0
    [trigger] = yaml.safe_load(planner_here(settings, "export").stdout)["triggers"]
    assert "input" not in trigger


def test_a_setup_file_with_an_unknown_variable_is_refused_and_changes_nothing(
    settings, tmp_path: Path
):
    path = tmp_path / "planner.yaml"
    path.write_text(GMAIL_SETUP + f"  input: {json.dumps(MISSPELT)}\n")
    before = snapshot(settings.database_url)
    done = planner_here(settings, "import", str(path))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert NEAR_MISS in done.stderr
    assert snapshot(settings.database_url) == before
