#!/usr/bin/env bash
# libmagic's headers (Debian's libmagic-dev), which the CMagic target links: installed only when
# missing, as root; otherwise says what to run. Used by scripts/test and scripts/demo.
if [[ ! -f /usr/include/magic.h && ! -f /opt/homebrew/include/magic.h && ! -f /usr/local/include/magic.h ]]; then
    if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null; then
        echo "libmagic is missing (no magic.h): run 'sudo apt-get install -y libmagic-dev' (Debian, Ubuntu) or 'brew install libmagic' (macOS)" >&2
        exit 1
    fi
    echo "== installing libmagic-dev"
    apt-get -o DPkg::Lock::Timeout=600 update
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y libmagic-dev
fi
