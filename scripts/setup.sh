#!/usr/bin/env bash
# Install LabelFree and everything it needs on a fresh Debian machine (run as root),
# then run the demo on the bundled sample data.  Pass --no-demo to skip the demo.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Java (JDK: javac builds the small ImageJ command shim) + ImageJ 1.x (ij.jar) for the Fiji
# bridge; Xvfb so the ROI Manager and image windows work without a screen.
apt-get install -y -qq --no-install-recommends default-jdk libij-java xvfb xauth >/dev/null

# torch is pinned in the extras (torch==2.13.0, CPU build); cellpose stays on 3.1.x.
python3 -m pip install --quiet -e ".[dev]"

if [[ "${1:-}" != "--no-demo" ]]; then
  python3 -m labelfree demo --out labelfree-demo
fi
