"""The dashboard (Streamlit). A placeholder page until the dashboard lands."""

import streamlit as st

st.set_page_config(page_title="Planner", page_icon="🗓️")
st.title("Planner")
st.write("Scheduled jobs and event triggers for your AI agents.")
