#!/usr/bin/env bash
# Every document the code cites lives in the repository: no path into ../shared, no bare spec
# name outside docs/spec/, no issue numbers. Run by ctest (RepositoryReferences); prints each
# offending line.
set -uo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files 2>/dev/null || find . -type f -not -path './build*' -not -path './.git/*')
bad=$(echo "$files" | grep -E '\.(cpp|h|cu|cuh|inc|md|py|sh|yaml|txt)$' | grep -v '^tools/check_references.sh$' |
  xargs grep -nE '\.\./shared|(^|[^/a-z_])(TTT_SPEC|MOSHI_SPEC|DESIGN)\.md|[Ii]ssue #?[0-9]' 2>/dev/null |
  grep -vE 'docs/spec/(TTT_SPEC|MOSHI_SPEC|DESIGN)\.md' | grep -v '^docs/spec/')
if [ -n "$bad" ]; then
  echo "references outside the repository (use docs/spec/...; no issue numbers):"
  echo "$bad"
  exit 1
fi
echo "every reference points inside the repository"
