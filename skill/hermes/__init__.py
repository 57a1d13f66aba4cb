"""The Hermes protocol over MQTT: message parsing and building, the MQTT link, check-in
sessions on the dialogue manager, and the embedded broker for a machine without one.
"""
