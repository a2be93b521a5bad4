#!/usr/bin/env bash
# `npm test` runs the rate limits against a real Redis. Make sure the
# redis-server binary is there (the tests start their own on a free port,
# or use PETCUT_TEST_REDIS_URL when CI already runs one): on a fresh Debian
# machine as root, install it; elsewhere, say how.
set -euo pipefail
command -v redis-server >/dev/null && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "installing redis-server (Debian package) for the rate-limit tests" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server) >/dev/null
  exit 0
fi
echo "npm test needs redis-server: install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)" >&2
exit 1
