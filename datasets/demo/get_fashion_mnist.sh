#!/usr/bin/env bash
# Makes sure Fashion-MNIST's four idx files are on disk for the demo.
# Source: Debian's `dataset-fashion-mnist` package, from the distribution's package registry.
# Elsewhere, download the four *-ubyte.gz files from github.com/zalandoresearch/fashion-mnist
# into a folder and point AGCN_FASHION_MNIST at it.
set -euo pipefail
dir="${AGCN_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}"
if [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
  exit 0
fi
if [ "$dir" != /usr/share/datasets/fashion-mnist ]; then
  echo "Fashion-MNIST: $dir/train-images-idx3-ubyte.gz not found (AGCN_FASHION_MNIST)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "Fashion-MNIST: no apt-get here; set AGCN_FASHION_MNIST to a folder with the four *-ubyte.gz files" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo="sudo -n"
fi
echo "Installing Debian package dataset-fashion-mnist (30 MB) for the demo's pixels"
$sudo apt-get install -y -q dataset-fashion-mnist >/dev/null \
  || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q dataset-fashion-mnist >/dev/null; }
test -f "$dir/train-images-idx3-ubyte.gz"
