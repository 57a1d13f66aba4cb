"""Guided breathing: patterns as data, the plan as an exact schedule on a tick grid, and
the runner that plays it on a site.
"""
