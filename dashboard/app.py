"""The dashboard (Streamlit): `streamlit run dashboard/app.py`.

Pages only read through core and change things through core's functions (the ones the
CLI uses); "run now" and test events are submitted to the worker, never run here.
"""

from pathlib import Path

import streamlit as st

from core.views.overview import WORKER_STATE_EVERY, worker_down_in_words, worker_status
from dashboard import auth
from dashboard.context import now, reading
from dashboard.dialogs import show_open_dialog, show_pending_toast
from dashboard.navigation import pages

# An SVG file: Streamlit sends it within the page (a data: address), so the browser asks
# no one for it. A ":material/…:" icon is fetched from fonts.gstatic.com instead.
ICON = Path(__file__).with_name("icon.svg")

st.set_page_config(page_title="Planner", page_icon=str(ICON), layout="wide")


@st.fragment(run_every=WORKER_STATE_EVERY.total_seconds())
def worker_banner() -> None:
    """The worker's state, read again every few seconds on its own: the banner comes when
    the worker goes and goes when it is back, while the page stays open."""
    moment = now()
    with reading() as session:
        worker = worker_status(session, moment)
    if not worker.online:
        st.error(worker_down_in_words(worker, moment), icon=":material/warning:")


signed_in = auth.signed_in()
# Declared before signing in too (hidden), so the page a link or a reload asked for is the
# one shown once the password is in, not the first page.
navigation = st.navigation(pages(), position="sidebar" if signed_in else "hidden")
if signed_in:
    worker_banner()
    navigation.run()
    show_open_dialog()
    show_pending_toast()
