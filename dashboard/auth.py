"""The optional password gate (DASHBOARD_PASSWORD): nothing is shown before it is entered,
and wrong passwords are slowed down and then locked out by core.access.sign_in's rule."""

from __future__ import annotations

import hmac

import streamlit as st

from core.access import sign_in
from dashboard.context import settings


@st.cache_resource(show_spinner=False)
def guard() -> sign_in.SignInGuard:
    """The web process's one count of wrong passwords, kept across reruns and sessions."""
    return sign_in.SignInGuard()


def client() -> str:
    """The address a try counts against (core.access.sign_in.client_address says whom it trusts)."""
    return sign_in.client_address(
        st.context.ip_address, st.context.headers.get_all("X-Forwarded-For")
    )


def signed_in() -> bool:
    expected = settings().dashboard_password
    if not expected or st.session_state.get("signed_in"):
        return True
    st.title("Planner")
    here = client()
    hold = guard().hold(here)
    with st.form("sign-in"):
        offered = st.text_input("Password", type="password")
        if st.form_submit_button("Sign in"):
            attempt = guard().attempt(
                here, lambda: hmac.compare_digest(offered.encode(), expected.encode())
            )
            if attempt.right:
                st.session_state.signed_in = True
                st.rerun()
            if attempt.checked:
                st.error("That password is not right.")
            hold = attempt.hold
        if hold is not None:
            st.warning(sign_in.in_words(hold))
    return False
