"""usrsvcd's insides: the event loop, restart policy, monitors, alerts, reload."""
