#!/usr/bin/env bash
# Installs the classic codecs `chainrule bench compression` compares against (Debian packages):
# zstd, zpaq, JPEG XL (cjxl/djxl) and flac. xz, bzip2, PNG and WebP come with Python and Pillow.
set -euo pipefail
PKGS="zstd zpaq libjxl-tools flac"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get install -y -qq $PKGS >/dev/null 2>&1 || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $PKGS; }
echo "codecs installed: $PKGS"
