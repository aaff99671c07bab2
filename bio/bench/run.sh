#!/usr/bin/env bash
# Runs bio_bench (ours vs fio on the same file, same run). Installs fio if
# missing. Extra arguments go to bio_bench (--file, --size-mib, --secs, --rounds).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v fio >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fio >/dev/null
fi
cargo run --release -q -p bio --example bio_bench -- "$@"
