#!/bin/sh
# A tiny foreground service for the usrsvc examples.
#
#   ticker.sh --tag NAME [--every SECONDS] [--touch FILE]
#
# Logs a line every SECONDS (default 5) and, with --touch, updates FILE's
# modification time each time (usrsvcd's activityfile monitor watches it).
# It never forks into the background and sets no signal traps, so the
# default SIGTERM ends it at once.

tag=ticker
every=5
touch_file=
while [ $# -gt 0 ]; do
    case "$1" in
        --tag) tag=$2; shift 2 ;;
        --every) every=$2; shift 2 ;;
        --touch) touch_file=$2; shift 2 ;;
        *) echo "ticker.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done

if [ -n "$touch_file" ]; then
    mkdir -p "$(dirname "$touch_file")" || exit 1
fi

echo "$(date '+%Y-%m-%d %H:%M:%S') $tag: started, pid $$, ticking every ${every}s"
n=0
while :; do
    n=$((n + 1))
    echo "$(date '+%Y-%m-%d %H:%M:%S') $tag: tick $n"
    if [ -n "$touch_file" ]; then
        touch "$touch_file"
    fi
    sleep "$every"
done
