"""The dashboard's pages, described once: the navigation (app.py) and the links that
send a person to the page that fixes something (st.page_link) name the same pages.

Streamlit links to a page made from a function only through an `st.Page` with the same
`url_path` as the one registered with `st.navigation`; `page()` makes that object.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import streamlit as st

PLANNER, ACTIVITY, AGENTS, SETTINGS = "planner", "activity", "agents", "settings"


@dataclass(frozen=True)
class PageSpec:
    module: str  # in dashboard/, with a render() function
    title: str
    icon: str


PAGES = {
    PLANNER: PageSpec("planner_page", "Planner", ":material/event_repeat:"),
    ACTIVITY: PageSpec("activity_page", "Activity", ":material/history:"),
    AGENTS: PageSpec("agents_page", "Agents & workflows", ":material/smart_toy:"),
    SETTINGS: PageSpec("settings_page", "Settings", ":material/settings:"),
}


def page(url_path: str) -> st.Page:
    """The page at `url_path`, as st.navigation and st.page_link take it."""
    spec = PAGES[url_path]
    render = importlib.import_module(f"dashboard.{spec.module}").render
    return st.Page(
        render, title=spec.title, icon=spec.icon, url_path=url_path, default=url_path == PLANNER
    )


def pages() -> list[st.Page]:
    """Every page, in the order the navigation lists them."""
    return [page(url_path) for url_path in PAGES]


def link(url_path: str, label: str) -> None:
    """A link to the page that fixes what the text next to it says."""
    st.page_link(page(url_path), label=label, icon=":material/arrow_forward:")
