"""The files hosts deploy from agree with each other: requirements.txt (made by `make lock`)
pins every dependency of pyproject.toml to a version its range admits and installs Planner
itself; .python-version names a Python pyproject.toml admits; app.json (Heroku) and
render.yaml (Render) run the Procfile's commands. Reads files only: no network, no installs."""

from __future__ import annotations

import json
import re
import tomllib
from importlib import metadata

import pytest
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from support.processes import ROOT, procfile

PROJECT_LINE = "."  # requirements.txt's line that installs Planner itself
# Files each of which makes Heroku's Python buildpack pick a package manager; it refuses to
# build when it finds more than one (and Railpack, Render pick by them too).
PACKAGE_MANAGER_FILES = (
    "requirements.txt",
    "Pipfile",
    "Pipfile.lock",
    "poetry.lock",
    "pdm.lock",
    "uv.lock",
)
OFF = {"0", "false", "no", "off"}  # how PLANNER_EMBEDDED_WORKER is turned off
PORT_WITH_DEFAULT = re.compile(r"\$\{PORT:-\d+\}")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirement_lines() -> list[str]:
    """requirements.txt's requirements, without comments and blank lines."""
    lines = []
    for raw in (ROOT / "requirements.txt").read_text().splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if line:
            lines.append(line)
    return lines


def pins() -> dict[str, Requirement]:
    """Every pinned requirement of requirements.txt by its canonical name."""
    pinned: dict[str, Requirement] = {}
    for line in requirement_lines():
        if line == PROJECT_LINE:
            continue
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name not in pinned, f"requirements.txt pins {name} twice"
        pinned[name] = requirement
    return pinned


def pinned_version(requirement: Requirement) -> Version:
    (specifier,) = requirement.specifier
    return Version(specifier.version)


def with_platform_port(command: str) -> str:
    """The Procfile's command as a host that always sets PORT runs it: `$PORT`."""
    return PORT_WITH_DEFAULT.sub("$PORT", command)


def python_version_file() -> str:
    return (ROOT / ".python-version").read_text().strip()


def render_blueprint() -> dict:
    return yaml.safe_load((ROOT / "render.yaml").read_text())


def app_json() -> dict:
    return json.loads((ROOT / "app.json").read_text())


# requirements.txt


def test_every_requirement_is_an_exact_pin_or_the_project_itself():
    for line in requirement_lines():
        if line == PROJECT_LINE:
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:  # pragma: no cover - the message is the point
            pytest.fail(f"requirements.txt: {line!r} is not a requirement: {error}")
        assert requirement.url is None, f"{line!r}: hosts install from the index, not a URL"
        operators = [specifier.operator for specifier in requirement.specifier]
        assert operators == ["=="], f"{line!r} is not pinned to one version (==)"
    assert pins(), "requirements.txt pins nothing"


def test_every_dependency_of_pyproject_is_pinned_to_a_version_it_admits():
    for dependency in pyproject()["project"]["dependencies"]:
        wanted = Requirement(dependency)
        pinned = pins().get(canonicalize_name(wanted.name))
        assert pinned is not None, f"{wanted.name} is not in requirements.txt: run `make lock`"
        version = pinned_version(pinned)
        assert wanted.specifier.contains(version, prereleases=True), (
            f"requirements.txt pins {wanted.name} {version}, outside pyproject.toml's "
            f"{wanted.specifier}: run `make lock`"
        )


def test_what_the_extras_bring_is_pinned_too():
    """psycopg[binary], uvicorn[standard]: their extras' dependencies, as the installed
    distributions declare them for this platform, are in requirements.txt as well."""
    pinned = pins()
    for dependency in pyproject()["project"]["dependencies"]:
        wanted = Requirement(dependency)
        try:
            declared = metadata.requires(wanted.name) or []
        except metadata.PackageNotFoundError:  # pragma: no cover - the suite needs them all
            continue
        for extra in sorted(wanted.extras):
            for text in declared:
                brought = Requirement(text)
                if brought.marker is None or "extra" not in str(brought.marker):
                    continue
                if not brought.marker.evaluate({"extra": extra}):
                    continue
                name = canonicalize_name(brought.name)
                assert name in pinned, f"{wanted.name}[{extra}] needs {name}: run `make lock`"
                assert brought.specifier.contains(pinned_version(pinned[name]), prereleases=True)


def test_requirements_install_planner_itself_and_say_how_they_are_made():
    text = (ROOT / "requirements.txt").read_text()
    assert requirement_lines().count(PROJECT_LINE) == 1, (
        "requirements.txt must install the project itself (a line '.'), once: without it "
        "hosts have no `planner` command"
    )
    assert "make lock" in text and "by hand" in text
    # Railpack (Railway's builder) copies only the dependency files before `pip install -r
    # requirements.txt` unless this file contains "file://"; "." would then build no code.
    assert "file://" in text


def test_streamlit_is_pinned_to_the_minor_release_the_tests_run_on():
    """The web process uses st.App, which Streamlit calls experimental: the deployed minor
    release must be the one this suite ran with."""
    deployed = pinned_version(pins()["streamlit"])
    tested = Version(metadata.version("streamlit"))
    assert deployed.release[:2] == tested.release[:2], (
        f"requirements.txt deploys streamlit {deployed}, the tests run on {tested}: bound "
        "streamlit in pyproject.toml to one minor release and run `make lock`"
    )


def test_one_package_manager_file_only():
    present = [name for name in PACKAGE_MANAGER_FILES if (ROOT / name).exists()]
    assert present == ["requirements.txt"], (
        f"found {present}: Heroku refuses to build with more than one package manager file"
    )


# .python-version


def test_python_version_file_names_a_minor_release_pyproject_admits():
    version = python_version_file()
    # The form Heroku recommends (Render and Railpack read it too): a minor release, whose
    # newest patch release the host installs.
    assert re.fullmatch(r"3\.\d+", version), f".python-version is {version!r}, not like 3.11"
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    assert requires.contains(Version(version)), f"{version} is outside {requires}"


def test_the_lock_is_resolved_for_the_python_hosts_run():
    lock = (ROOT / "Makefile").read_text().split("\nlock:", 1)[1].split("\n\n", 1)[0]
    assert f"--python-version {python_version_file()}" in lock


# Procfile


def test_procfile_has_the_web_worker_and_release_processes():
    processes = procfile()
    assert sorted(processes) == ["release", "web", "worker"]
    assert processes["release"] == "planner migrate"
    assert processes["worker"] == "python -m worker"
    web = processes["web"]
    assert web.startswith("streamlit run web/app.py ")
    assert "--server.address 0.0.0.0" in web
    assert PORT_WITH_DEFAULT.search(web), "the web process must listen on the host's $PORT"


# app.json (the Heroku Button)


def test_app_json_makes_the_secret_key_and_asks_for_a_password():
    env = app_json()["env"]
    assert env["PLANNER_SECRET_KEY"].get("generator") == "secret"
    assert "value" not in env["PLANNER_SECRET_KEY"]
    assert env["DASHBOARD_PASSWORD"].get("required") is True
    assert "value" not in env["DASHBOARD_PASSWORD"], "a password must not ship in app.json"


def test_app_json_provisions_postgres_and_redis_and_the_python_buildpack():
    app = app_json()
    plans = [addon["plan"] if isinstance(addon, dict) else addon for addon in app["addons"]]
    assert {plan.split(":")[0] for plan in plans} == {"heroku-postgresql", "heroku-redis"}
    assert [pack["url"] for pack in app["buildpacks"]] == ["heroku/python"]
    repository = app.get("repository", "https://github.com/")
    assert repository.startswith("https://") and "YOUR" not in repository.upper()


def test_app_json_runs_the_procfiles_processes_with_a_worker_somewhere():
    app = app_json()
    formation = app["formation"]
    assert set(formation) <= set(procfile()) - {"release"}
    assert formation["web"]["quantity"] >= 1
    embedded = str(app["env"].get("PLANNER_EMBEDDED_WORKER", {}).get("value", "")).lower()
    if embedded in OFF:
        assert formation.get("worker", {}).get("quantity", 0) >= 1, (
            "PLANNER_EMBEDDED_WORKER=0 without a worker dyno: nothing would run the jobs"
        )


# render.yaml (the Render Blueprint)


def render_services(kind: str) -> list[dict]:
    return [service for service in render_blueprint()["services"] if service["type"] == kind]


def env_vars(service: dict) -> dict[str, dict]:
    return {variable["key"]: variable for variable in service.get("envVars", [])}


def test_render_web_service_runs_the_procfiles_web_command():
    (web,) = render_services("web")
    assert web["runtime"] == "python"
    assert web["buildCommand"] == "pip install -r requirements.txt"
    assert web["healthCheckPath"] == "/healthz"
    start = with_platform_port(procfile()["web"])
    migrate = procfile()["release"]
    if "preDeployCommand" in web:
        assert web["preDeployCommand"] == migrate
        assert web["startCommand"] == start
    else:  # free instances have no pre-deploy command: the start migrates first
        # exec: the server, not a shell, gets the platform's SIGTERM (and stops its worker)
        assert web["startCommand"] == f"{migrate} && exec {start}"
    for worker in render_services("worker"):
        assert worker["startCommand"] == procfile()["worker"]


def test_render_generates_the_secret_key_and_asks_for_the_password():
    (web,) = render_services("web")
    env = env_vars(web)
    assert env["PLANNER_SECRET_KEY"].get("generateValue") is True
    assert env["DASHBOARD_PASSWORD"].get("sync") is False
    if "PYTHON_VERSION" in env:
        assert str(env["PYTHON_VERSION"]["value"]).startswith(python_version_file() + ".")


def test_render_wires_the_database_and_the_queue_it_declares():
    blueprint = render_blueprint()
    (web,) = render_services("web")
    env = env_vars(web)
    databases = {database["name"] for database in blueprint.get("databases", [])}
    assert env["DATABASE_URL"]["fromDatabase"]["name"] in databases
    assert env["DATABASE_URL"]["fromDatabase"]["property"] == "connectionString"
    queue = env["REDIS_URL"]["fromService"]
    assert queue["type"] == "keyvalue" and queue["property"] == "connectionString"
    keyvalues = render_services("keyvalue")
    assert queue["name"] in {service["name"] for service in keyvalues}
    for service in keyvalues:
        assert "ipAllowList" in service, "Render requires ipAllowList on a Key Value instance"


def test_render_turns_the_embedded_worker_off_only_beside_a_worker_service():
    for web in render_services("web"):
        embedded = str(env_vars(web).get("PLANNER_EMBEDDED_WORKER", {}).get("value", ""))
        if embedded.lower() in OFF:
            assert render_services("worker"), (
                f"{web['name']} sets PLANNER_EMBEDDED_WORKER=0 and no worker service runs jobs"
            )
