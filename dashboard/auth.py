"""The optional password gate (DASHBOARD_PASSWORD): nothing is shown before it is entered."""

from __future__ import annotations

import hmac

import streamlit as st

from dashboard.context import settings


def signed_in() -> bool:
    expected = settings().dashboard_password
    if not expected or st.session_state.get("signed_in"):
        return True
    st.title("Planner")
    with st.form("sign-in"):
        offered = st.text_input("Password", type="password")
        if st.form_submit_button("Sign in"):
            if hmac.compare_digest(offered.encode(), expected.encode()):
                st.session_state.signed_in = True
                st.rerun()
            st.error("That password is not right.")
    return False
