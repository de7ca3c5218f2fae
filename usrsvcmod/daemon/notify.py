"""sd_notify: READY=1 / STOPPING=1 / RELOADING=1 over $NOTIFY_SOCKET (stdlib only)."""

import os
import socket


def notify(message, environ=None):
    """Send ``message`` to systemd if it is listening; never raises."""
    environ = os.environ if environ is None else environ
    address = environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
        return True
    except OSError:
        return False
