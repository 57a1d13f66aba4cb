"""What every package stands on: errors, the clock, text normalization, the YAML reader,
background tasks and the shared vocabulary. Imports nothing else of the skill.
"""
