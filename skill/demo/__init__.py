"""The newcomer demo: a bedside speaker on this machine, and `aftercare demo`, which runs
it with the skill on the embedded broker.
"""
