#!/usr/bin/env bash
# Builds the .deb: the release binary, its man page and shell completions (generated from the
# clap definition by the binary itself), then `cargo deb` (metadata in Cargo.toml).
#   cargo install cargo-deb && bash packaging/build-deb.sh   # -> target/debian/edigate_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
mkdir -p target/assets
bin=target/release/edigate
"$bin" man | gzip -9n > target/assets/edigate.1.gz
"$bin" completions bash > target/assets/edigate.bash
"$bin" completions zsh > target/assets/_edigate
"$bin" completions fish > target/assets/edigate.fish
cargo deb --no-build --locked --strip "$@"
ls target/debian/*.deb
