#!/bin/sh
# Installs the build into a scratch root and builds a small C program
# against it through pkg-config, once linked to the shared library and once
# to the static one; then runs both and the installed program.
# Usage: test_install.sh BUILD_DIR CONSUMER_SOURCE
set -eu
build=$1
source=$2
cc=${CC:-cc}
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

meson install -C "$build" --no-rebuild --destdir "$dest" >"$dest/install.log" 2>&1 ||
    { cat "$dest/install.log"; exit 1; }

pc=$(find "$dest" -name emgmm.pc | head -n 1)
[ -n "$pc" ] || { echo "emgmm.pc was not installed"; exit 1; }
header=$(find "$dest" -name emgmm.h | head -n 1)
[ -n "$header" ] || { echo "emgmm.h was not installed"; exit 1; }
static_lib=$(find "$dest" -name libemgmm.a | head -n 1)
[ -n "$static_lib" ] || { echo "libemgmm.a was not installed"; exit 1; }
program=$(find "$dest" -type f -name emgmm -perm -u+x | head -n 1)
[ -n "$program" ] || { echo "the emgmm program was not installed"; exit 1; }

export PKG_CONFIG_PATH="$(dirname "$pc")"
export PKG_CONFIG_SYSROOT_DIR="$dest"
libdir=$(dirname "$static_lib")

flags="-std=c11 -Wall -Wextra -Wpedantic -Werror"
# shellcheck disable=SC2046
$cc $flags $(pkg-config --cflags emgmm) "$source" -o "$dest/consumer" \
    $(pkg-config --libs emgmm) -lm
LD_LIBRARY_PATH="$libdir" "$dest/consumer"

# shellcheck disable=SC2046
$cc $flags $(pkg-config --cflags emgmm) "$source" -o "$dest/consumer-static" \
    "$static_lib" $(pkg-config --static --libs emgmm | sed "s/-lemgmm//") -lm
"$dest/consumer-static"

LD_LIBRARY_PATH="$libdir" "$program" --version
echo "install: 3 passed, 0 failed"
