"""The Flask peer of the serving benchmark: one tandem model package served
the way the modeled platform serves models (Flask under Gunicorn sync
workers, python3-xgboost for prediction).

It serves the same Open Inference Protocol v2 request as `tandem serve`
(raw records, one tensor per raw field) and does the same work per request:
the package's feature pipeline, rebuilt here in Python from manifest.json,
then the XGBoost model in model.json.

Run under Gunicorn (bench/serving/run.sh does this):

    TANDEM_BENCH_PACKAGE=/path/to/package \\
        gunicorn --workers 2 --worker-class sync --bind 127.0.0.1:8081 \\
        --chdir bench/serving flask_app:app

Check a package without serving it (prints each self-test and exits 1 on a
mismatch):

    /usr/bin/python3 bench/serving/flask_app.py --check /path/to/package

Needs Debian's python3-flask, python3-numpy and python3-xgboost for
/usr/bin/python3.
"""

import argparse
import json
import math
import os
import re
import sys

import numpy as np
import xgboost

PACKAGE_ENV = "TANDEM_BENCH_PACKAGE"

# Datetime Format directives that tandem's feature pipeline supports, as regex
# groups. The digit counts and value ranges match src/model/feature_pipeline.cc.
_DIRECTIVES = {
    "Y": ("year", 4, 0, 9999),
    "m": ("month", 2, 1, 12),
    "d": ("day", 2, 1, 31),
    "H": ("hour", 2, 0, 23),
    "M": ("minute", 2, 0, 59),
    "S": ("second", 2, 0, 60),
}
_EXPANSIONS = {"F": "%Y-%m-%d", "T": "%H:%M:%S"}

# Days in each month of a common year; February gets 29 in leap years.
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class RecordError(ValueError):
    """A raw record that the feature pipeline rejects (an HTTP 400)."""


def _compile_datetime_format(fmt):
    """Compile a tandem datetime Format ("%Y-%m-%d %H:%M") into a regex whose
    named groups are the fields it sets."""
    fmt = re.sub(r"%([FT])", lambda m: _EXPANSIONS[m.group(1)], fmt)
    pattern = []
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c == " ":
            pattern.append(" *")
        elif c != "%":
            pattern.append(re.escape(c))
        else:
            i += 1
            directive = fmt[i] if i < len(fmt) else ""
            if directive == "%":
                pattern.append("%")
            elif directive in _DIRECTIVES:
                name, digits, _, _ = _DIRECTIVES[directive]
                pattern.append(f"(?P<{name}>[0-9]{{1,{digits}}})")
            else:
                raise ValueError(f"unsupported directive %{directive} in format {fmt!r}")
        i += 1
    return re.compile("".join(pattern), re.ASCII)


def _is_leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _day_of_week(year, month, day):
    """Monday = 0 ... Sunday = 6 in the proleptic Gregorian calendar
    (Sakamoto's method, valid for year 0 too, unlike datetime.date)."""
    offsets = (0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4)
    y = year - 1 if month < 3 else year
    sunday_based = (y + y // 4 - y // 100 + y // 400 + offsets[month - 1] + day) % 7
    return (sunday_based + 6) % 7


def _json_number_text(value):
    """Format a JSON number as its shortest decimal text, the key under which
    tandem looks up a categorical number (42 -> "42", 1.5 -> "1.5")."""
    if isinstance(value, int):
        return str(value)
    return repr(value)


class FeaturePipeline:
    """The fitted feature pipeline of a manifest, applied to one JSON record
    at a time. Mirrors the JSON entry point of tandem's FeaturePipeline."""

    def __init__(self, pipeline_json):
        self._steps = []
        for feature in pipeline_json["Features"]:
            field = feature["Field"]
            kind = feature["Kind"]
            if kind == "numeric":
                self._steps.append((self._numeric, field, None))
            elif kind == "datetime":
                regex = _compile_datetime_format(feature.get("Format", "%Y-%m-%d %H:%M"))
                self._steps.append((self._datetime, field, (regex, feature["Parts"])))
            elif kind == "categorical":
                vocabulary = {value: code for code, value in enumerate(feature["Vocabulary"])}
                self._steps.append((self._categorical, field, vocabulary))
            else:
                raise ValueError(f"feature {field!r}: unknown Kind {kind!r}")
        self.num_features = sum(
            len(extra[1]) if step == self._datetime else 1 for step, _, extra in self._steps
        )

    def transform(self, record, out):
        """Write the model inputs of `record` (field -> string, number or
        None) into the float32 row `out`. Raises RecordError."""
        position = 0
        for step, field, extra in self._steps:
            if field not in record:
                raise RecordError(f'missing field "{field}"')
            value = record[field]
            if isinstance(value, (bool, list, dict)):
                raise RecordError(
                    f'field "{field}": expected a string, a number or null, '
                    f"got {type(value).__name__}"
                )
            position = step(field, value, extra, out, position)

    @staticmethod
    def _numeric(field, value, _, out, position):
        if value is None:
            number = math.nan
        elif isinstance(value, (int, float)):
            number = float(value)
        else:
            text = value.strip(" \t")
            if text.startswith("+"):
                text = text[1:]
            if text == "":
                number = math.nan
            else:
                try:
                    if "_" in text:
                        raise ValueError(text)
                    number = float(text)
                except ValueError:
                    raise RecordError(f'field "{field}": "{value}" is not a number') from None
                if math.isinf(number):
                    raise RecordError(f'field "{field}": "{value}" is not a number')
        rounded = np.float32(number)
        if not math.isnan(number) and not np.isfinite(rounded):
            raise RecordError(f'field "{field}": "{value}" is outside the float32 range')
        out[position] = rounded
        return position + 1

    @staticmethod
    def _datetime(field, value, extra, out, position):
        regex, parts = extra
        if value is not None and not isinstance(value, str):
            raise RecordError(f'field "{field}": expected a datetime string, got a number')
        text = "" if value is None else value.strip(" \t")
        if text == "":
            out[position : position + len(parts)] = np.nan
            return position + len(parts)

        match = regex.fullmatch(text)
        if match is None:
            raise RecordError(f'field "{field}": "{value}" does not match the datetime format')
        fields = {"year": 1970, "month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0}
        for key, digits in match.groupdict().items():
            fields[key] = int(digits)
        for name, _, low, high in _DIRECTIVES.values():
            if not low <= fields[name] <= high:
                raise RecordError(f'field "{field}": {name} {fields[name]} is out of range')
        days = _MONTH_DAYS[fields["month"] - 1] + (fields["month"] == 2 and _is_leap(fields["year"]))
        if fields["day"] > days:
            raise RecordError(f'field "{field}": day {fields["day"]} does not exist')

        for part in parts:
            if part == "year":
                out[position] = fields["year"]
            elif part == "month":
                out[position] = fields["month"]
            elif part == "day_of_month":
                out[position] = fields["day"]
            elif part == "day_of_week":
                out[position] = _day_of_week(fields["year"], fields["month"], fields["day"])
            elif part == "hour":
                out[position] = fields["hour"]
            elif part == "minute_of_day":
                out[position] = fields["hour"] * 60 + fields["minute"]
            else:
                raise ValueError(f"feature {field!r}: unknown part {part!r}")
            position += 1
        return position

    @staticmethod
    def _categorical(field, value, vocabulary, out, position):
        if value is None:
            text = ""
        elif isinstance(value, str):
            text = value
        else:
            text = _json_number_text(value)
        out[position] = vocabulary.get(text, len(vocabulary))
        return position + 1


class Model:
    """A tandem model package loaded for prediction: manifest, pipeline and
    booster."""

    def __init__(self, package_dir):
        with open(os.path.join(package_dir, "manifest.json"), encoding="utf-8") as f:
            self.manifest = json.load(f)
        self.name = self.manifest["ModelName"]
        self.pipeline = FeaturePipeline(self.manifest["FeaturePipeline"])
        self.booster = xgboost.Booster()
        self.booster.load_model(os.path.join(package_dir, self.manifest.get("ModelFile", "model.json")))
        # One prediction thread per Gunicorn worker: the workers already use
        # every core, and single-row prediction gains nothing from threads.
        self.booster.set_param({"nthread": 1})
        self.raw_fields = [field["Name"] for field in self.manifest["InputSchema"]]

    def predict(self, records):
        """Return the float32 predictions of a list of raw records."""
        rows = np.empty((len(records), self.pipeline.num_features), dtype=np.float32)
        for i, record in enumerate(records):
            self.pipeline.transform(record, rows[i])
        return self.booster.inplace_predict(rows, missing=np.nan).astype(np.float32)

    def check_self_tests(self, count=None):
        """Compare predictions with the manifest's SelfTests (the first
        `count`, or all). Return a list of (record, expected, got, ok)."""
        tolerance = self.manifest.get("SelfTestTolerance", 0)
        cases = self.manifest.get("SelfTests", [])[:count]
        results = []
        for case in cases:
            got = float(self.predict([case["Record"]])[0])
            expected = float(np.float32(case["Expected"]))
            results.append((case["Record"], expected, got, abs(got - expected) <= tolerance))
        return results


def records_from_oip(body, raw_fields):
    """Turn an OIP v2 request with one tensor per raw field into records.
    Raises RecordError for a malformed request."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise RecordError('expected an object with an "inputs" array')
    columns = {}
    for tensor in body["inputs"]:
        if not isinstance(tensor, dict) or "name" not in tensor or "data" not in tensor:
            raise RecordError('each input needs "name" and "data"')
        data = tensor["data"]
        if isinstance(data, list) and data and isinstance(data[0], list):
            data = [value for row in data for value in row]
        columns[tensor["name"]] = data
    missing = [name for name in raw_fields if name not in columns]
    if missing:
        raise RecordError(f'missing input tensor "{missing[0]}"')
    count = len(columns[raw_fields[0]])
    if any(len(columns[name]) != count for name in raw_fields):
        raise RecordError("input tensors have different lengths")
    return [{name: columns[name][i] for name in raw_fields} for i in range(count)]


def create_app(package_dir):
    """Build the Flask application for one package. Raises RuntimeError when
    the first self-test fails, so that a Gunicorn worker refuses to boot."""
    import flask  # imported here so that --check works without Flask

    model = Model(package_dir)
    record, expected, got, ok = model.check_self_tests(count=1)[0]
    if not ok:
        raise RuntimeError(
            f"self-test failed for {package_dir}: record {record} expected {expected!r}, got {got!r}"
        )

    app = flask.Flask(__name__)

    @app.get("/v2/health/ready")
    def ready():
        return flask.jsonify(ready=True)

    @app.post("/v2/models/<name>/infer")
    def infer(name):
        if name != model.name:
            return flask.jsonify(error=f'model "{name}" not found'), 404
        body = flask.request.get_json(silent=True)
        try:
            records = records_from_oip(body, model.raw_fields)
            predictions = model.predict(records)
        except RecordError as error:
            return flask.jsonify(error=str(error)), 400
        reply = {
            "model_name": model.name,
            "outputs": [
                {
                    "name": "prediction",
                    "datatype": "FP32",
                    "shape": [len(records)],
                    "data": [float(p) for p in predictions],
                }
            ],
        }
        if isinstance(body.get("id"), str):
            reply["id"] = body["id"]
        return flask.jsonify(reply)

    return app


def _check_main(package_dir):
    model = Model(package_dir)
    results = model.check_self_tests()
    if not results:
        print(f"{package_dir}: manifest.json has no SelfTests", file=sys.stderr)
        return 1
    failures = 0
    for record, expected, got, ok in results:
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} expected {expected!r:<22} got {got!r:<22} {json.dumps(record)}")
    print(f"{len(results) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", metavar="PACKAGE_DIR", required=True,
                        help="model package directory whose SelfTests to run")
    sys.exit(_check_main(parser.parse_args().check))
else:
    _package = os.environ.get(PACKAGE_ENV)
    if _package:
        app = create_app(_package)
