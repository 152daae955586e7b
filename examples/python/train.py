#!/usr/bin/python3
"""Trains an XGBoost flight-delay model as a user's own entry point would.

An example of the SageMaker training contract that `tandem train` provides on every backend. The
script reads its channels and hyperparameters from the SM_* environment. It writes its model to
SM_MODEL_DIR and its metrics to SM_OUTPUT_DATA_DIR. On bad input it writes a one-line reason to
the `failure` file of the output directory and exits 1.

Input: every *.csv file of the train channel (and of the validation channel, if given), with the
header date,delay,distance,origin,destination and dates as "YYYY-MM-DD HH:MM".
Hyperparameters (all optional): num_round (default 100), max_depth (6), eta (0.1).
Runs on Debian 12's /usr/bin/python3 with python3-xgboost 1.7 and python3-numpy.
"""

import csv
import datetime
import glob
import json
import math
import os
import sys

import numpy as np
import xgboost as xgb

REQUIRED_COLUMNS = ("date", "delay", "distance", "origin", "destination")
FEATURE_NAMES = ["distance", "hour", "day_of_week", "month", "origin", "destination"]
DATE_FORMAT = "%Y-%m-%d %H:%M"


class InputError(Exception):
    """Bad training input: the message names the file, the line and the value."""


def output_dir():
    """Returns the job's output directory, where the `failure` file belongs."""
    if "SM_OUTPUT_DIR" in os.environ:
        return os.environ["SM_OUTPUT_DIR"]
    if "SM_OUTPUT_DATA_DIR" in os.environ:
        return os.path.dirname(os.environ["SM_OUTPUT_DATA_DIR"].rstrip("/"))
    return "/opt/ml/output"


def read_hyperparameters():
    """Reads SM_HPS (a JSON object); SageMaker passes every value as a string."""
    raw = json.loads(os.environ.get("SM_HPS", "{}"))
    try:
        return {
            "num_round": int(raw.get("num_round", 100)),
            "max_depth": int(raw.get("max_depth", 6)),
            "eta": float(raw.get("eta", 0.1)),
        }
    except ValueError as error:
        raise InputError(f"invalid hyperparameter in SM_HPS {raw}: {error}") from error


def channel_files(variable):
    """Lists the CSV files of the channel directory named by an SM_CHANNEL_* variable."""
    directory = os.environ.get(variable)
    if directory is None:
        return None
    files = sorted(glob.glob(os.path.join(directory, "**", "*.csv"), recursive=True))
    if not files:
        raise InputError(f"{variable}={directory} contains no .csv file")
    return files


def read_rows(files):
    """Reads raw records as (date, delay, distance, origin, destination) tuples."""
    rows = []
    for path in files:
        with open(path, newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(f"{path}: header lacks the column(s) {', '.join(missing)}")
            for record in reader:
                rows.append(parse_record(path, reader.line_num, record))
    if not rows:
        raise InputError(f"no data rows in {', '.join(files)}")
    return rows


def parse_record(path, line, record):
    """Converts one CSV record; a bad value raises InputError naming the file, line and column."""
    def convert(column, parse):
        try:
            return parse(record[column])
        except (TypeError, ValueError) as error:
            raise InputError(f"{path}:{line}: invalid {column} {record[column]!r}: {error}") from error

    date = convert("date", lambda text: datetime.datetime.strptime(text, DATE_FORMAT))
    delay = convert("delay", float)
    distance = convert("distance", float)
    return date, delay, distance, record["origin"], record["destination"]


def learn_vocabulary(values):
    """Codes categories by frequency, most frequent first (ties by name)."""
    counts = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    ordered = sorted(counts, key=lambda v: (-counts[v], v))
    return {value: code for code, value in enumerate(ordered)}


def encode(rows, vocabularies):
    """Returns the feature matrix and the labels; an unseen category gets len(vocabulary)."""
    origins, destinations = vocabularies["origin"], vocabularies["destination"]
    features = np.empty((len(rows), len(FEATURE_NAMES)), dtype=np.float32)
    labels = np.empty(len(rows), dtype=np.float32)
    for i, (date, delay, distance, origin, destination) in enumerate(rows):
        features[i] = (distance, date.hour, date.weekday(), date.month,
                       origins.get(origin, len(origins)),
                       destinations.get(destination, len(destinations)))
        labels[i] = delay
    return features, labels


def rmse(predictions, labels):
    return math.sqrt(float(np.mean((predictions - labels) ** 2)))


def train(hyperparameters, train_rows, validation_rows):
    vocabularies = {
        "origin": learn_vocabulary(r[3] for r in train_rows),
        "destination": learn_vocabulary(r[4] for r in train_rows),
    }
    x_train, y_train = encode(train_rows, vocabularies)
    dtrain = xgb.DMatrix(x_train, label=y_train, feature_names=FEATURE_NAMES)
    params = {"objective": "reg:squarederror", "tree_method": "hist",
              "max_depth": hyperparameters["max_depth"], "eta": hyperparameters["eta"],
              "nthread": int(os.environ.get("SM_NUM_CPUS", "0"))}
    evals = [(dtrain, "train")]
    if validation_rows:
        x_valid, y_valid = encode(validation_rows, vocabularies)
        dvalid = xgb.DMatrix(x_valid, label=y_valid, feature_names=FEATURE_NAMES)
        evals.append((dvalid, "validation"))
    booster = xgb.train(params, dtrain, num_boost_round=hyperparameters["num_round"],
                        evals=evals, verbose_eval=max(1, hyperparameters["num_round"] // 10))

    # The baseline predicts the training mean for every flight: a model must beat it to be useful.
    metrics = {"train:rows": len(train_rows)}
    if validation_rows:
        baseline = np.full_like(y_valid, float(np.mean(y_train)))
        metrics.update({
            "validation:rows": len(validation_rows),
            "validation:rmse": rmse(booster.predict(dvalid), y_valid),
            "baseline:rmse": rmse(baseline, y_valid),
        })
    return booster, vocabularies, metrics


def main():
    hyperparameters = read_hyperparameters()
    train_files = channel_files("SM_CHANNEL_TRAIN")
    if train_files is None:
        raise InputError("SM_CHANNEL_TRAIN is not set; the job needs a channel named train")
    validation_files = channel_files("SM_CHANNEL_VALIDATION")
    train_rows = read_rows(train_files)
    validation_rows = read_rows(validation_files) if validation_files else []
    print(f"read {len(train_rows)} training and {len(validation_rows)} validation rows", flush=True)

    booster, vocabularies, metrics = train(hyperparameters, train_rows, validation_rows)

    model_dir = os.environ.get("SM_MODEL_DIR", "/opt/ml/model")
    os.makedirs(model_dir, exist_ok=True)
    booster.save_model(os.path.join(model_dir, "model.json"))
    with open(os.path.join(model_dir, "features.json"), "w", encoding="utf-8") as stream:
        json.dump({"features": FEATURE_NAMES, "vocabularies": vocabularies}, stream)

    data_dir = os.environ.get("SM_OUTPUT_DATA_DIR", os.path.join(output_dir(), "data"))
    os.makedirs(data_dir, exist_ok=True)
    with open(os.path.join(data_dir, "metrics.json"), "w", encoding="utf-8") as stream:
        json.dump(metrics, stream, indent=2)
    print(json.dumps(metrics), flush=True)


if __name__ == "__main__":
    try:
        main()
    except InputError as error:
        message = f"bad input: {error}"
        print(message, file=sys.stderr, flush=True)
        os.makedirs(output_dir(), exist_ok=True)
        with open(os.path.join(output_dir(), "failure"), "w", encoding="utf-8") as stream:
            stream.write(message + "\n")
        sys.exit(1)
