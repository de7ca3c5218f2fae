"""Ask circusd for the pids of its watchers, in one process (circus's python).

    python circus_pids.py ENDPOINT NAME...

Prints {"NAME": [pid, ...], ...} as JSON.  ``circusctl list NAME`` would cost
one interpreter start per watcher.
"""

import json
import sys

from circus.client import CircusClient


def main():
    endpoint, names = sys.argv[1], sys.argv[2:]
    client = CircusClient(endpoint=endpoint, timeout=60)
    out = {}
    try:
        for name in names:
            answer = client.call({"command": "list", "properties": {"name": name}})
            if answer.get("status") != "ok":
                print(f"circus: list {name}: {answer}", file=sys.stderr)
                return 1
            out[name] = answer.get("pids", [])
    finally:
        client.stop()
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
