"""Seedbed engine: data selection (Ask-LLM + Density) and LLM2LLM augmentation.

No Streamlit here: the dashboard and the CLI (`python -m engine`) both call this library.
"""
