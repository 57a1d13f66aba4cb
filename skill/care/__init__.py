"""Care that lasts: replies to feelings and needs, the private store of preferences and
follow-ups, when a follow-up is due, and the loop that delivers it.
"""
