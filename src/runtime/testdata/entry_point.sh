#!/bin/sh
# A user entry point for the runtime's tests; $1 selects the behaviour.
case "$1" in
  succeed)
    echo "training in $(pwd)"
    cp "$SM_CHANNEL_TRAIN/train.csv" "$SM_MODEL_DIR/copy.csv" || exit 5
    env | sort > "$SM_OUTPUT_DATA_DIR/env.txt"
    exit 0 ;;
  write-xgboost-model)
    echo '{"learner": {"attributes": {}}, "version": [1, 7, 4]}' > "$SM_MODEL_DIR/model.json"
    exit 0 ;;
  write-failure)
    head -c "$FAILURE_BYTES" /dev/zero | tr '\0' x > "$SM_OUTPUT_DIR/failure"
    exit 1 ;;
  exit-2)
    exit 2 ;;
  sigkill)
    kill -9 $$ ;;
  exit-on-term)
    trap 'echo term > "$SM_OUTPUT_DATA_DIR/term"; exit 0' TERM
    echo $$ > "$SM_OUTPUT_DATA_DIR/started"
    while :; do sleep 0.05; done ;;
  ignore-term)
    trap '' TERM
    echo $$ > "$SM_OUTPUT_DATA_DIR/started"
    while :; do sleep 0.05; done ;;
esac
echo "unknown mode $1" >&2
exit 64
