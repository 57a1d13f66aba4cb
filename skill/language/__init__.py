"""What people say and what the voice says: sentence templates, the built-in recognizer,
the Rhasspy and Home Assistant exports, responses and their keys, numbers as words.
"""
