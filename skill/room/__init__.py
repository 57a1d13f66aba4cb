"""The room around the bed: device commands, music and lights, Home Assistant discovery
and the per-site state it shows.
"""
