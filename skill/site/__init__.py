"""One site: the actions an intent means (handlers.py, actions.py), the site's memory,
check-ins, and the one place that carries actions out (sites.py on state.py).
"""
