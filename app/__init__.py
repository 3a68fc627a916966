"""The Streamlit dashboard: read-only pages over the store."""
