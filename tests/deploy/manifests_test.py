#!/usr/bin/python3
"""Checks that the Kubernetes manifests in deploy/kubernetes agree with each
other and with `tandem serve`.

Probe paths must be routes the server serves, and probe ports, the Service's
targetPort and --port must all name the container port. The grace period
must exceed the preStop sleep plus --drain-seconds. The
HorizontalPodAutoscaler must scale the Deployment on CPU, and the
PodDisruptionBudget and the Service must select the pod labels. The pod must
run as non-root with CPU and memory requests and limits, and --threads must
fit the CPU limit. Each check also runs on broken copies of the manifests, which it must
reject, so a check that can no longer fail is caught too.

With TANDEM_BIN set to a built `tandem` binary (ctest sets it), the probe
paths are also requested from a real `tandem serve` on 127.0.0.1.

Run: /usr/bin/python3 tests/deploy/manifests_test.py  (needs python3-yaml)
"""

import copy
import glob
import math
import os
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import yaml

# TANDEM_MANIFEST_DIR points the checks at another copy of the manifests.
MANIFEST_DIR = os.environ.get("TANDEM_MANIFEST_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "kubernetes")

# GET routes of `tandem serve` that need no model name (src/serving/inference_service.cc).
SERVE_GET_ROUTES = {"/v2", "/v2/health/live", "/v2/health/ready", "/ping"}
# `tandem serve` defaults for flags the Deployment may leave out.
DEFAULT_PORT = 8080
DEFAULT_DRAIN_SECONDS = 20

PROBE_KINDS = ("startupProbe", "livenessProbe", "readinessProbe")


class ManifestError(Exception):
    """A manifest set that lacks an object or field the checks need."""


def load_documents(directory):
    """Parse every *.yaml file of `directory` into a list of objects."""
    documents = []
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        with open(path, encoding="utf-8") as f:
            documents.extend(doc for doc in yaml.safe_load_all(f) if doc)
    return documents


class Manifests:
    """The Deployment, Service, HorizontalPodAutoscaler and
    PodDisruptionBudget of a manifest set, with the serving container's
    flags parsed."""

    def __init__(self, documents):
        self.deployment = self._single(documents, "Deployment")
        self.service = self._single(documents, "Service")
        self.hpa = self._single(documents, "HorizontalPodAutoscaler")
        self.pdb = self._single(documents, "PodDisruptionBudget")
        self.pod_spec = self.deployment["spec"]["template"]["spec"]
        self.pod_labels = self.deployment["spec"]["template"]["metadata"].get("labels", {})
        self.container = self._serving_container()
        self.flags = parse_flags(self.container.get("args", []))

    @staticmethod
    def _single(documents, kind):
        found = [doc for doc in documents if doc.get("kind") == kind]
        if len(found) != 1:
            raise ManifestError(f"expected exactly one {kind}, found {len(found)}")
        return found[0]

    def _serving_container(self):
        for container in self.pod_spec.get("containers", []):
            args = container.get("command", []) + container.get("args", [])
            if "serve" in args:
                return container
        raise ManifestError("no container of the Deployment runs `tandem serve`")

    def port_flag(self):
        return int(self.flags.get("--port", DEFAULT_PORT))

    def container_port(self, reference):
        """Resolve a port number or name against the serving container's
        ports; None when it names no port of the container."""
        for port in self.container.get("ports", []):
            if reference == port.get("name") or reference == port.get("containerPort"):
                return port["containerPort"]
        return None

    def port_problem(self, reference):
        """Why a port reference does not reach the port tandem serve listens
        on, or None when it does."""
        port = self.container_port(reference)
        if port is None:
            return f"{reference!r} is no port of the container"
        if port != self.port_flag():
            return f"{reference!r} is container port {port}, but --port is {self.port_flag()}"
        return None


def parse_flags(args):
    """Map each --flag of a `tandem serve` argument list to its value
    ("--port 8080" and "--port=8080" alike)."""
    flags = {}
    i = 0
    while i < len(args):
        arg = str(args[i])
        if arg.startswith("--") and "=" in arg:
            name, value = arg.split("=", 1)
            flags[name] = value
        elif arg.startswith("--") and i + 1 < len(args):
            flags[arg] = str(args[i + 1])
            i += 1
        i += 1
    return flags


def prestop_sleep_seconds(container):
    """The seconds a preStop hook sleeps: the sleep action, or an exec of
    `sleep N` (directly or through `sh -c`). None without such a hook."""
    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre_stop:
        return int(pre_stop["sleep"]["seconds"])
    command = [str(part) for part in pre_stop.get("exec", {}).get("command", [])]
    if len(command) == 3 and os.path.basename(command[0]) in ("sh", "bash") and command[1] == "-c":
        command = command[2].split()
    if len(command) == 2 and os.path.basename(command[0]) == "sleep":
        return int(command[1])
    return None


def cpu_cores(quantity):
    """Kubernetes CPU quantity ("2", "1500m", 0.5) in cores."""
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def selector_matches(selector, labels):
    """Whether a label selector (matchLabels and matchExpressions) selects
    `labels`. An empty selector matches nothing here, because a
    PodDisruptionBudget or Service that selects everything is a mistake."""
    match_labels = selector.get("matchLabels", {})
    expressions = selector.get("matchExpressions", [])
    if not match_labels and not expressions:
        return False
    if any(labels.get(key) != value for key, value in match_labels.items()):
        return False
    for expression in expressions:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


# ---------------------------------------------------------------------------
# Checks: each returns the list of problems it finds, empty when none.

def check_probes(m):
    problems = []
    for kind in PROBE_KINDS:
        probe = m.container.get(kind)
        if probe is None:
            if kind != "startupProbe":
                problems.append(f"{kind}: missing")
            continue
        http_get = probe.get("httpGet")
        if http_get is None:
            problems.append(f"{kind}: expected an httpGet probe")
            continue
        if http_get.get("path") not in SERVE_GET_ROUTES:
            problems.append(f"{kind}: path {http_get.get('path')!r} is not a route of tandem serve "
                            f"(served: {sorted(SERVE_GET_ROUTES)})")
        problem = m.port_problem(http_get.get("port"))
        if problem:
            problems.append(f"{kind}: port {problem}")
    for kind, path in (("livenessProbe", "/v2/health/live"), ("readinessProbe", "/v2/health/ready")):
        actual = m.container.get(kind, {}).get("httpGet", {}).get("path")
        if actual is not None and actual != path:
            problems.append(f"{kind}: path {actual!r} should be {path!r}")
    return problems


def check_container_port(m):
    ports = [port.get("containerPort") for port in m.container.get("ports", [])]
    if m.port_flag() not in ports:
        return [f"containerPort {ports} does not include --port {m.port_flag()}"]
    return []


def check_grace_period(m):
    sleep = prestop_sleep_seconds(m.container)
    if sleep is None:
        return ["lifecycle.preStop: expected a sleep (the sleep action or exec of `sleep N`)"]
    drain = int(m.flags.get("--drain-seconds", DEFAULT_DRAIN_SECONDS))
    grace = int(m.pod_spec.get("terminationGracePeriodSeconds", 30))
    if grace <= sleep + drain:
        return [f"terminationGracePeriodSeconds {grace} must exceed the preStop sleep {sleep} s "
                f"plus --drain-seconds {drain}"]
    return []


def check_hpa(m):
    problems = []
    if m.hpa.get("apiVersion") != "autoscaling/v2":
        problems.append(f"HorizontalPodAutoscaler apiVersion {m.hpa.get('apiVersion')!r} "
                        "should be autoscaling/v2")
    target = m.hpa["spec"].get("scaleTargetRef", {})
    expected = {"apiVersion": "apps/v1", "kind": "Deployment",
                "name": m.deployment["metadata"]["name"]}
    for key, value in expected.items():
        if target.get(key) != value:
            problems.append(f"HorizontalPodAutoscaler scaleTargetRef.{key} {target.get(key)!r} "
                            f"should be {value!r}")
    resources = [metric.get("resource", {}).get("name")
                 for metric in m.hpa["spec"].get("metrics", []) if metric.get("type") == "Resource"]
    if "cpu" not in resources:
        problems.append("HorizontalPodAutoscaler: no Resource metric on cpu")
    return problems


def check_pdb(m):
    if not selector_matches(m.pdb["spec"].get("selector", {}), m.pod_labels):
        return [f"PodDisruptionBudget selector {m.pdb['spec'].get('selector')} does not select "
                f"the pod labels {m.pod_labels}"]
    return []


def check_service(m):
    problems = []
    selector = m.service["spec"].get("selector", {})
    if not selector_matches({"matchLabels": selector}, m.pod_labels):
        problems.append(f"Service selector {selector} does not select the pod labels {m.pod_labels}")
    for port in m.service["spec"].get("ports", []):
        problem = m.port_problem(port.get("targetPort", port.get("port")))
        if problem:
            problems.append(f"Service port {port.get('port')}: targetPort {problem}")
    return problems


def check_security(m):
    problems = []
    pod = m.pod_spec.get("securityContext", {})
    container = m.container.get("securityContext", {})
    merged = {**pod, **container}
    if merged.get("runAsNonRoot") is not True:
        problems.append("securityContext.runAsNonRoot: expected true")
    if merged.get("runAsUser", 0) == 0:
        problems.append("securityContext.runAsUser: expected a non-zero user id")
    if container.get("allowPrivilegeEscalation") is not False:
        problems.append("container securityContext.allowPrivilegeEscalation: expected false")
    return problems


def check_resources(m):
    problems = []
    resources = m.container.get("resources", {})
    for section in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if resource not in resources.get(section, {}):
                problems.append(f"resources.{section}.{resource}: missing")
    cpu_limit = resources.get("limits", {}).get("cpu")
    threads = m.flags.get("--threads")
    if cpu_limit is not None:
        if threads is None:
            problems.append("--threads: missing; without it tandem serve starts one thread per "
                            "node CPU, not per CPU of the limit")
        elif int(threads) > math.ceil(cpu_cores(cpu_limit)):
            problems.append(f"--threads {threads} exceeds the CPU limit {cpu_limit}")
    return problems


ALL_CHECKS = (check_probes, check_container_port, check_grace_period, check_hpa, check_pdb,
              check_service, check_security, check_resources)


# ---------------------------------------------------------------------------
# Broken copies: (name, change to the documents, text the problem must contain).

def _by_kind(documents, kind):
    return next(doc for doc in documents if doc.get("kind") == kind)


def _container(documents):
    return _by_kind(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def _set_flag(documents, flag, value):
    args = _container(documents)["args"]
    args[args.index(flag) + 1] = value


def _pod_spec(documents):
    return _by_kind(documents, "Deployment")["spec"]["template"]["spec"]


BREAKAGES = [
    ("liveness path not served",
     lambda d: _container(d)["livenessProbe"]["httpGet"].update(path="/healthz"), "livenessProbe"),
    ("readiness on the liveness path",
     lambda d: _container(d)["readinessProbe"]["httpGet"].update(path="/v2/health/live"),
     "readinessProbe: path"),
    ("probe on another port",
     lambda d: _container(d)["readinessProbe"]["httpGet"].update(port=9090),
     "readinessProbe: port 9090 is no port"),
    ("--port differs from containerPort", lambda d: _set_flag(d, "--port", "9000"), "--port 9000"),
    ("grace period equals sleep plus drain",
     lambda d: _pod_spec(d).update(terminationGracePeriodSeconds=25), "terminationGracePeriodSeconds"),
    ("drain longer than the grace period", lambda d: _set_flag(d, "--drain-seconds", "40"),
     "--drain-seconds 40"),
    ("no preStop sleep", lambda d: _container(d).pop("lifecycle"), "lifecycle.preStop"),
    ("HPA targets another Deployment",
     lambda d: _by_kind(d, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"].update(name="other"),
     "scaleTargetRef.name"),
    ("HPA targets a StatefulSet",
     lambda d: _by_kind(d, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"].update(
         kind="StatefulSet"), "scaleTargetRef.kind"),
    ("HPA on autoscaling/v1",
     lambda d: _by_kind(d, "HorizontalPodAutoscaler").update(apiVersion="autoscaling/v1"),
     "apiVersion"),
    ("PDB selects other labels",
     lambda d: _by_kind(d, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"].update(
         {"app.kubernetes.io/name": "other"}), "PodDisruptionBudget selector"),
    ("PDB with an empty selector",
     lambda d: _by_kind(d, "PodDisruptionBudget")["spec"].update(selector={}),
     "PodDisruptionBudget selector"),
    ("Service targetPort differs",
     lambda d: _by_kind(d, "Service")["spec"]["ports"][0].update(targetPort=8081),
     "targetPort 8081 is no port"),
    ("Service targetPort names no port",
     lambda d: _by_kind(d, "Service")["spec"]["ports"][0].update(targetPort="metrics"),
     "targetPort 'metrics' is no port"),
    ("Service selects other labels",
     lambda d: _by_kind(d, "Service")["spec"].update(selector={"app": "other"}), "Service selector"),
    ("pod runs as root",
     lambda d: _pod_spec(d)["securityContext"].update(runAsNonRoot=False, runAsUser=0),
     "runAsNonRoot"),
    ("no memory limit",
     lambda d: _container(d)["resources"]["limits"].pop("memory"), "resources.limits.memory"),
    ("more threads than CPUs", lambda d: _set_flag(d, "--threads", "8"), "--threads 8"),
]


class CommittedManifestsTest(unittest.TestCase):
    """The committed manifests pass every check."""

    @classmethod
    def setUpClass(cls):
        cls.documents = load_documents(MANIFEST_DIR)
        cls.manifests = Manifests(cls.documents)

    def assertNoProblems(self, check):
        self.assertEqual(check(self.manifests), [], f"{check.__name__} in {MANIFEST_DIR}")

    def test_probes_use_served_routes(self):
        self.assertNoProblems(check_probes)

    def test_container_port_is_port_flag(self):
        self.assertNoProblems(check_container_port)

    def test_grace_covers_prestop_and_drain(self):
        self.assertNoProblems(check_grace_period)

    def test_hpa_targets_deployment(self):
        self.assertNoProblems(check_hpa)

    def test_pdb_selects_pod_labels(self):
        self.assertNoProblems(check_pdb)

    def test_service_reaches_container_port(self):
        self.assertNoProblems(check_service)

    def test_pod_runs_as_non_root(self):
        self.assertNoProblems(check_security)

    def test_resources_requests_and_limits(self):
        self.assertNoProblems(check_resources)

    def test_deployment_selector_selects_template(self):
        selector = self.manifests.deployment["spec"]["selector"]
        self.assertTrue(selector_matches(selector, self.manifests.pod_labels))


class BrokenManifestsTest(unittest.TestCase):
    """Each broken copy of the committed manifests is reported, naming the
    field at fault."""

    def test_each_breakage_is_reported(self):
        documents = load_documents(MANIFEST_DIR)
        for name, breakage, expected_text in BREAKAGES:
            with self.subTest(name):
                broken = copy.deepcopy(documents)
                breakage(broken)
                manifests = Manifests(broken)
                problems = [problem for check in ALL_CHECKS for problem in check(manifests)]
                self.assertTrue(any(expected_text in problem for problem in problems),
                                f"no problem mentions {expected_text!r}; got {problems}")

    def test_missing_object_is_rejected(self):
        documents = [doc for doc in load_documents(MANIFEST_DIR)
                     if doc.get("kind") != "PodDisruptionBudget"]
        with self.assertRaisesRegex(ManifestError, "exactly one PodDisruptionBudget"):
            Manifests(documents)


class PrestopParsingTest(unittest.TestCase):
    def test_sleep_forms(self):
        cases = [
            ({"sleep": {"seconds": 7}}, 7),
            ({"exec": {"command": ["sleep", "5"]}}, 5),
            ({"exec": {"command": ["/bin/sleep", "3"]}}, 3),
            ({"exec": {"command": ["sh", "-c", "sleep 4"]}}, 4),
            ({"exec": {"command": ["echo", "bye"]}}, None),
            ({}, None),
        ]
        for pre_stop, seconds in cases:
            with self.subTest(pre_stop=pre_stop):
                container = {"lifecycle": {"preStop": pre_stop}}
                self.assertEqual(prestop_sleep_seconds(container), seconds)


def _free_port():
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


def _get_status(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@unittest.skipUnless(os.environ.get("TANDEM_BIN"), "TANDEM_BIN is not set to a tandem binary")
class LiveServerTest(unittest.TestCase):
    """The Deployment's probe paths, requested from a real `tandem serve`
    (without a loadable model, so readiness returns 503, but never 404)."""

    def test_probe_paths_are_routes(self):
        manifests = Manifests(load_documents(MANIFEST_DIR))
        paths = [manifests.container[kind]["httpGet"]["path"]
                 for kind in PROBE_KINDS if kind in manifests.container]
        port = _free_port()
        with tempfile.TemporaryDirectory() as empty_package, \
                tempfile.TemporaryFile() as server_log:
            server = subprocess.Popen(
                [os.environ["TANDEM_BIN"], "serve", "--model", empty_package, "--host", "127.0.0.1",
                 "--port", str(port), "--threads", "1", "--drain-seconds", "1", "--log-level", "warn"],
                stdout=server_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                base = f"http://127.0.0.1:{port}"
                self._wait_until_listening(server, base, server_log)
                for path in paths:
                    with self.subTest(path=path):
                        self.assertNotEqual(_get_status(base + path), 404, f"GET {path}")
                # The control: a path the server does not serve is a 404, so the checks above
                # can fail.
                self.assertEqual(_get_status(base + "/healthz"), 404)
            finally:
                server.terminate()
                exit_code = server.wait(timeout=15)
            self.assertEqual(exit_code, 0, "tandem serve exit code after SIGTERM")

    def _wait_until_listening(self, server, base, server_log):
        for _ in range(100):  # up to about 10 s
            if server.poll() is not None:
                server_log.seek(0)
                self.fail(f"tandem serve exited with {server.returncode}: "
                          f"{server_log.read().decode(errors='replace')}")
            try:
                _get_status(base + "/v2/health/live")
                return
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                time.sleep(0.1)
        self.fail(f"tandem serve did not answer on {base} within 10 s")


if __name__ == "__main__":
    unittest.main(verbosity=2)
