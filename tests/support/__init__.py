"""The live stack the tests run the skill in: a recorder on the broker (mqtt_recorder), a
fake voice, the bedside speaker and a stand-in dialogue manager (fakes), and a broker with
TLS, passwords and an ACL (tls_broker)."""
