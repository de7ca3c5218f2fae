"""A service speaking systemd's notify protocol: after DELAY seconds it sends
READY=1 to $NOTIFY_SOCKET (from itself, or from a child with --from-child),
then sleeps. Argument 1 is the test's token."""

import os
import socket
import sys
import time


def send(message):
    address = os.environ["NOTIFY_SOCKET"]
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message, address)


def main():
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
    time.sleep(delay)
    if "--from-child" in sys.argv:
        pid = os.fork()
        if pid == 0:
            send(b"READY=1\nSTATUS=child says ready")
            time.sleep(600)
            os._exit(0)
    else:
        send(b"READY=1")
    time.sleep(600)


if __name__ == "__main__":
    main()
