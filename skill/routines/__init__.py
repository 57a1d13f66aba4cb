"""Aftercare routines: steps as data (model.py, routines.yaml) and the runner that plays
them, breathing stretches and check-ins included.
"""
