#!/usr/bin/env bash
# Install Debian's pgbouncer (the tests start their own instance in front of the test cluster;
# tests/ops/pgbouncer.py). A no-op when the binary is there. The package's own service, if the
# install started it, is stopped (the tests never use it).
set -euo pipefail

if command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "pgbouncer is missing: install Debian's pgbouncer package (as root: apt-get install pgbouncer)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
for attempt in 1 2 3 4 5 6; do  # another apt run may hold the lock for a moment
  if { apt-get install -y -q --no-install-recommends pgbouncer >/dev/null 2>&1 \
       || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends pgbouncer >/dev/null; }; }; then
    break
  fi
  [ "$attempt" = 6 ] && { echo "could not install pgbouncer" >&2; exit 1; }
  sleep 10
done
# the packaged service listens on 6432 for nobody here: stop it when it started
if command -v service >/dev/null 2>&1; then service pgbouncer stop >/dev/null 2>&1 || true; fi
echo "pgbouncer $(/usr/sbin/pgbouncer --version | head -1) installed"
