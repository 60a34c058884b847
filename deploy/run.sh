#!/bin/sh
# Set up a fresh Debian 12 machine, build partnerd (release), and start it
# in the foreground with its embedded defaults:
#   data in ./partnerd-data, HTTP on 127.0.0.1:8080,
#   broker and event streams on ipc:// sockets inside ./partnerd-data
#   (mode 0700); binding them on tcp needs cluster keys (README, scale-out).
# Extra arguments go to partnerd (see `build/partnerd --help`).
set -eu
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARTNERD_TESTS=OFF >/dev/null
cmake --build build -j2 --target partnerd partnerctl pd-simulator
exec ./build/partnerd "$@"
