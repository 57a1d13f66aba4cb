"""Speaking: the Piper voice and its clip cache, output on playBytes or hermes/tts/say,
WAV helpers and the breathing chimes.
"""
