#!/bin/sh
# The main job, end to end: installs what is missing, builds agent, copies the example
# repository (rules-examples/) to a temporary directory and writes the runbook of its
# COMMITTED story INFRA-012 with the offline panel. Prints the runbook.
#   scripts/demo.sh [agent new-runbook flags...]   e.g. --provider openai
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh build
sh scripts/build.sh build
work=$(mktemp -d "${TMPDIR:-/tmp}/agent-demo.XXXXXX")
cp -R rules-examples/. "$work/"
echo "example repository: $work" >&2
path=$(./build/bin/agent new-runbook INFRA-012 --root "$work" "$@")
echo "runbook written to: $path" >&2
echo >&2
cat "$path"
