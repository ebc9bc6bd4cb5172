#!/usr/bin/env bash
# Install Debian's Chromium and its WebDriver for the viewer's browser tests (tests/viewer).
# A no-op when /usr/bin/chromium and /usr/bin/chromedriver are already there.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "chromium/chromium-driver are missing and installing them needs root (apt-get)." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Another apt user may hold the lock for a while: wait for it rather than fail.
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  if apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver; then
    exit 0
  fi
  echo "apt-get failed (attempt $attempt), retrying in 10 s" >&2
  sleep 10
done
exit 1
