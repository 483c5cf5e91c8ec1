#!/usr/bin/env bash
# The project's test command, for a fresh machine with only Rust and git:
# installs what the tests need beyond them (Debian packages, with apt-get when
# run as root; otherwise it names them and stops), then runs the formatter
# check, clippy and every test. Extra arguments go to `cargo test`, e.g.
# `./test.sh --test it` (the end-to-end tests only) or `./test.sh -- publish::`.
#
# What the tests need, and why:
#   nix-instantiate  (nix-bin)          reference evaluator of atom-eval's differential tests
#   sshd             (openssh-server)   the end-to-end tests serve ssh:// through a private sshd
#   ssh, ssh-keygen  (openssh-client)   their ssh client and throwaway keys
#   lighttpd         (lighttpd)         the end-to-end tests serve smart HTTP through it
set -euo pipefail
cd "$(dirname "$0")"

# command, then the Debian package that provides it.
needed=(
  nix-instantiate nix-bin
  sshd openssh-server
  ssh openssh-client
  ssh-keygen openssh-client
  lighttpd lighttpd
)

# sshd and lighttpd live in an sbin folder that a user's PATH may not hold.
have() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

missing_packages() {
  local i packages=()
  for ((i = 0; i < ${#needed[@]}; i += 2)); do
    if ! have "${needed[i]}"; then
      packages+=("${needed[i + 1]}")
    fi
  done
  printf '%s\n' "${packages[@]}" | sort -u | grep . || true
}

# Installs `$@` without starting their services (openssh-server and lighttpd
# would otherwise start system-wide daemons): a policy-rc.d refusing every
# start, put in place only if the machine has none.
apt_install() {
  local policy=/usr/sbin/policy-rc.d ours=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    ours=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  local status=0
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; } || status=$?
  if [ -n "$ours" ]; then
    rm -f "$policy"
  fi
  return "$status"
}

mapfile -t missing < <(missing_packages)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "test.sh: installing ${missing[*]}" >&2
    apt_install "${missing[@]}"
    mapfile -t missing < <(missing_packages)
    if [ "${#missing[@]}" -gt 0 ]; then
      echo "test.sh: still missing after apt-get install: ${missing[*]}" >&2
      exit 1
    fi
  else
    echo "test.sh: the tests need these Debian packages: ${missing[*]}" >&2
    echo "test.sh: install them, then run ./test.sh again:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# Nix creates its store database on first use; many nix-instantiate started
# together on a fresh store race to create it and some fail ("SQLite
# database ... is busy", "schema is corrupt"). One evaluation first does it.
nix-instantiate --eval -E 1 >/dev/null

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --no-fail-fast "$@"
