#!/usr/bin/env bash
set -euo pipefail
echo "shell: $DATASET $ORCHEST_PIPELINE_UUID"
