#!/usr/bin/env bash
# Install TimescaleDB (Apache-2 edition, as Debian ships it) into Debian's PostgreSQL.
#  - Debian 12 (bookworm): build Debian trixie's source package against PostgreSQL 15.
#  - Debian 13 (trixie):   install the binary package postgresql-17-timescaledb.
# Idempotent: a second run with the same versions is a no-op (stamp file + installed files).
# Recipe and reasons: shared/docs/timescaledb.md.
set -euo pipefail

. /etc/os-release
case "${VERSION_CODENAME:-}" in
  bookworm) PG_MAJOR="${PG_MAJOR:-15}" ;;
  *)        PG_MAJOR="${PG_MAJOR:-17}" ;;
esac
TSDB_VERSION="${TSDB_VERSION:-2.19.3}"         # upstream version we pin (what trixie ships)
TSDB_SRC_SUITE="${TSDB_SRC_SUITE:-trixie}"     # Debian suite whose *source* package we build
CACHE="${TSDB_CACHE:-/var/cache/timescaledb-build}"
export DEBIAN_FRONTEND=noninteractive
PGBIN="/usr/lib/postgresql/$PG_MAJOR/bin"

stamp() { echo "pg=$(dpkg-query -W -f='${Version}' "postgresql-$PG_MAJOR" 2>/dev/null) tsdb=$TSDB_VERSION"; }

installed() {
  [ -x "$PGBIN/pg_config" ] || return 1
  local lib share
  lib=$("$PGBIN/pg_config" --pkglibdir)
  share=$("$PGBIN/pg_config" --sharedir)
  [ -f "$lib/timescaledb.so" ] && [ -f "$lib/timescaledb-$TSDB_VERSION.so" ] \
    && [ -f "$share/extension/timescaledb--$TSDB_VERSION.sql" ] \
    && [ "$(cat "$CACHE/stamp" 2>/dev/null)" = "$(stamp)" ]
}

if installed; then
  echo "timescaledb $TSDB_VERSION already installed for PostgreSQL $PG_MAJOR"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "TimescaleDB is missing and installing it needs root (apt-get, make install)." >&2
  exit 1
fi
mkdir -p "$CACHE"

if [ "${VERSION_CODENAME:-}" != bookworm ]; then
  # Debian 13+: Debian builds it for its own PostgreSQL major; just install it.
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "postgresql-$PG_MAJOR" "postgresql-$PG_MAJOR-timescaledb"
  stamp > "$CACHE/stamp"
  exit 0
fi

# --- Debian 12: build deps from bookworm -------------------------------------------------
apt-get update -qq
deps=(cmake make gcc libc6-dev libssl-dev dpkg-dev xz-utils)
srv=$(dpkg-query -W -f='${Version}' "postgresql-$PG_MAJOR" 2>/dev/null || true)
# Headers must match the installed server's minor version: pin server-dev to it when the
# archive still has that version; otherwise upgrade server and headers together.
# --no-upgrade: only add what is missing, never upgrade what the image already has.
if [ -z "$srv" ] || ! apt-get install -y -qq --no-install-recommends --no-upgrade "${deps[@]}" \
      "postgresql-server-dev-$PG_MAJOR=$srv"; then
  apt-get install -y -qq --no-install-recommends "${deps[@]}" \
      "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR"
fi

# --- source package from trixie, via a private apt config (system apt config untouched) --
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
if [ -z "$mirror" ]; then
  mirror=$(awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /^https?:\/\//) {print $i; exit}}' \
           /etc/apt/sources.list 2>/dev/null | head -1)
fi
[ -n "$mirror" ] || { echo "cannot find the Debian mirror in the apt config" >&2; exit 1; }
mkdir -p "$CACHE/apt/lists/partial" "$CACHE/apt/archives/partial" "$CACHE/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $TSDB_SRC_SUITE main" \
  > "$CACHE/apt/sources.list"
APT_SRC=(-o Dir::Etc::SourceList="$CACHE/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
         -o Dir::State::Lists="$CACHE/apt/lists" -o Dir::Cache="$CACHE/apt"
         -o APT::Sandbox::User=root)
apt-get "${APT_SRC[@]}" update -qq
ver=$(apt-cache "${APT_SRC[@]}" showsrc timescaledb | awk '/^Version:/{print $2}' \
      | grep -F "$TSDB_VERSION+dfsg" | head -1 || true)
[ -n "$ver" ] || { echo "no timescaledb $TSDB_VERSION source in $TSDB_SRC_SUITE" >&2; exit 1; }
cd "$CACHE/src"
rm -rf "timescaledb-$TSDB_VERSION+dfsg"
apt-get "${APT_SRC[@]}" source -qq "timescaledb=$ver"
src="$CACHE/src/timescaledb-$TSDB_VERSION+dfsg"
grep -qx "version = $TSDB_VERSION" "$src/version.config"

# --- build + install (about 35-45 s of compile on 2 cores) ------------------------------
cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release \
  -DPG_CONFIG="$PGBIN/pg_config" \
  -DAPACHE_ONLY=ON -DUSE_TELEMETRY=OFF -DSEND_TELEMETRY_DEFAULT=OFF \
  -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF -DENABLE_DEBUG_UTILS=OFF >/dev/null
make -C "$src/build" -s -j"$(nproc)" > "$CACHE/build.log" 2>&1 || { tail -50 "$CACHE/build.log" >&2; exit 1; }
make -C "$src/build" -s install >/dev/null
stamp > "$CACHE/stamp"
echo "installed timescaledb $TSDB_VERSION for PostgreSQL $PG_MAJOR ($(stamp))"
