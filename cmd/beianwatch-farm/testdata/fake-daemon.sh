#!/bin/sh
# Stands in for `beianwatch run` in the demo supervisor's test: logs a line,
# then waits; on SIGTERM it says so and exits 0, as the daemon does after a
# clean shutdown. It checks that the farm's secrets reached its environment.
trap 'echo "fake daemon: got SIGTERM"; exit 0' TERM
[ -n "$BEIANWATCH_PHONE_API_TOKEN" ] && [ -n "$FARM_OWNER_SECRET_0" ] && echo "fake daemon: secrets present"
echo "fake daemon: running with $*"
while :; do sleep 0.1; done
