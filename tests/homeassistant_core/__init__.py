"""Tests that run inside .homeassistant-venv/, never in .venv (conftest.py says how)."""
