#!/bin/sh
# The "shell variant" service: a shell that starts two workers and waits.
# When a manager stops only the shell, the workers are left behind as orphans;
# the bench counts them.  $1 is the service's token; the workers get token1/token2.
sleep "${1}1" &
sleep "${1}2" &
wait
