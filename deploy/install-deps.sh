#!/bin/sh
# Install everything partnerd needs to build, test and run, from Debian 12's
# own packages. Runs apt-get as root (directly, or through sudo).
set -eu
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential cmake pkg-config ca-certificates \
    libzmq3-dev libczmq-dev liblmdb-dev lmdb-utils libmsgpack-dev libssl-dev \
    libqrencode-dev libcurl4-openssl-dev libcivetweb-dev libcmocka-dev \
    libjansson-dev libsodium-dev zlib1g-dev libicu-dev zbar-tools curl jq python3 >/dev/null
echo "install-deps: done"
