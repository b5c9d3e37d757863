"""Checks everything under deploy/ that a cluster would consume.

- Every Kubernetes manifest (each YAML document with apiVersion and kind)
  against the Kubernetes OpenAPI schemas of KUBERNETES_VERSIONS, strictly
  (unknown fields are errors), with kubernetes-validate.
- Custom resources that those schemas do not know are checked here instead:
  a NetworkAttachmentDefinition's spec holds only a JSON `config` (which the
  plugin's own parser checks in userspace/murmuration-core/tests/
  deploy_examples.rs); a PrometheusRule's spec must equal
  prometheus/murmuration-rules.yml, which promtool checks and tests.
- Every metric the dashboard and the alerts query is listed in
  docs/metrics.md, and every dashboard query is valid PromQL (promtool).
- Every murmurationd.toml in a ConfigMap passes the daemon's own
  `--check-config` (`--daemon PATH`: the built murmurationd), and the
  DaemonSet mounts, from the host and writable, what those configs use:
  the device plugin's kubelet_dir and devinfo_dir, <dev_dir>/vfio (read-only
  is enough there), and /sys when a config provisions PFs ([[sriov.pf]]).

Run by `cargo xtask test --tier unit` (step `deploy`) with the venv that
`cargo xtask setup` makes, as `check_deploy.py --daemon <murmurationd>`. `--write-rules` regenerates the plain rules file
from the PrometheusRule.
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
DAEMONSET = "daemonset.yaml"
# ConfigMaps meant for a patched DaemonSet: file -> the strategic-merge patch.
AGENT_PATCH = "daemonset-sriov-agent.patch.yaml"
PATCHED_BY = {"configmap-sriov-agent.yaml": AGENT_PATCH}
DAEMON_CONFIG_KEY = "murmurationd.toml"
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSIONS = ["1.30.0", "1.34.0"]
PROMETHEUS_RULE = DEPLOY / "prometheus/rules.yaml"
PLAIN_RULES = DEPLOY / "prometheus/murmuration-rules.yml"
DASHBOARD = DEPLOY / "grafana/murmuration.json"
METRICS_DOC = ROOT / "docs/metrics.md"
# YAML under deploy/ that is not a Kubernetes object, and what checks it.
NOT_KUBERNETES = {
    AGENT_PATCH: "check_deploy.py: merged into daemonset.yaml, the result validated",
    "prometheus/scrape.yaml": "promtool check config",
    "prometheus/murmuration-rules.yml": "promtool check rules, promtool test rules",
    "prometheus/rules-test.yml": "promtool test rules",
}
# Series Prometheus makes itself, usable in alerts.
PROMETHEUS_SERIES = {"up"}
PLAIN_RULES_HEADER = (
    "# Generated from rules.yaml (the PrometheusRule's spec) for a plain Prometheus\n"
    "# (rule_files) and for promtool. Do not edit: change rules.yaml and run\n"
    "# deploy/check/check_deploy.py --write-rules.\n"
)
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right",
                "and", "or", "unless", "offset", "bool", "inf", "nan"}


def documented_metrics(text):
    """Metric names in the first column of docs/metrics.md's tables, with
    `{rx,tx}` expanded and a histogram's series suffixes added."""
    names = set()
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 4 or not cells[1].startswith("`"):
            continue
        for name in re.findall(r"`([a-z_:{},]+)`", cells[1]):
            expanded = expand_braces(name)
            names.update(expanded)
            if cells[2] == "histogram":
                names.update(n + s for n in expanded for s in HISTOGRAM_SUFFIXES)
    return names


def expand_braces(name):
    m = re.search(r"\{([^}]*)\}", name)
    if not m:
        return [name]
    head, tail = name[: m.start()], name[m.end():]
    return [x for alt in m.group(1).split(",") for x in expand_braces(head + alt + tail)]


def metric_names(expr):
    """The metric names a PromQL expression selects."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    found = set()
    # Numbers and durations (0.99, 5m, 1e3) first, so their letters are no name.
    for m in re.finditer(r"\d[\w.]*|[A-Za-z_:][A-Za-z0-9_:]*", s):
        word = m.group(0)
        if word[0].isdigit():
            continue
        rest = s[m.end():].lstrip()
        if rest.startswith("(") or word.lower() in PROMQL_WORDS:
            continue
        found.add(word)
    return found


def selftest():
    expr = ('histogram_quantile(0.99, sum by (le, verb) (rate(a_seconds_bucket{x="b(c)",y=~"$n"}'
            '[$__rate_interval]))) / on (node) group_left (pod) b_total offset 5m > bool 0 '
            'and time() - c_seconds')
    assert metric_names(expr) == {"a_seconds_bucket", "b_total", "c_seconds"}, metric_names(expr)
    doc = ("| `m_total` | counter | | x |\n| `n_{rx,tx}_total`, `h_seconds` | histogram | | y |\n"
           "| metric | type | labels | meaning |\n")
    hist = {"n_rx_total", "n_tx_total", "h_seconds"}
    expected = {"m_total"} | hist | {n + s for n in hist for s in HISTOGRAM_SUFFIXES}
    assert documented_metrics(doc) == expected, documented_metrics(doc)


def yaml_documents(path):
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def check_manifests(errors):
    """Validates every Kubernetes object; returns the custom resources by kind."""
    custom = {"NetworkAttachmentDefinition": [], "PrometheusRule": []}
    files = sorted(p for ext in ("*.yaml", "*.yml") for p in DEPLOY.rglob(ext))
    for path in files:
        rel = path.relative_to(DEPLOY).as_posix()
        if rel in NOT_KUBERNETES:
            continue
        for doc in yaml_documents(path):
            if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
                errors.append(f"deploy/{rel}: a document without apiVersion and kind "
                              "(list non-Kubernetes YAML in NOT_KUBERNETES with what checks it)")
                continue
            if doc["kind"] in custom:
                custom[doc["kind"]].append((rel, doc))
                continue
            for version in KUBERNETES_VERSIONS:
                validate_object(rel, doc, version, errors)
    return custom


def validate_object(rel, doc, version, errors):
    name = f"deploy/{rel}: {doc['kind']}/{doc.get('metadata', {}).get('name')}"
    try:
        kubernetes_validate.validate(doc, version, strict=True)
        print(f"ok   {name} (Kubernetes {version}, strict)")
    except kubernetes_validate.SchemaNotFoundError:
        errors.append(f"{name}: no schema for {doc['apiVersion']} {doc['kind']} "
                      f"in Kubernetes {version}")
    except kubernetes_validate.ValidationError as e:
        path = "/".join(str(p) for p in e.path)
        errors.append(f"{name} (Kubernetes {version}): {path}: {e.message}")


def check_network_attachments(nads, errors):
    for rel, doc in nads:
        name = f"deploy/{rel}: NetworkAttachmentDefinition/{doc['metadata'].get('name')}"
        spec = doc.get("spec")
        if doc["apiVersion"] != "k8s.cni.cncf.io/v1" or not isinstance(spec, dict) \
                or set(spec) != {"config"} or not isinstance(spec["config"], str):
            errors.append(f"{name}: expected apiVersion k8s.cni.cncf.io/v1 and spec: {{config: <JSON>}}")
            continue
        try:
            config = json.loads(spec["config"])
        except json.JSONDecodeError as e:
            errors.append(f"{name}: spec.config is not JSON: {e}")
            continue
        if config.get("type") != "murmuration":
            errors.append(f"{name}: spec.config's type is not murmuration")
            continue
        print(f"ok   {name} (config: see deploy_examples.rs)")


def check_prometheus_rules(rules, errors):
    if [rel for rel, _ in rules] != [PROMETHEUS_RULE.relative_to(DEPLOY).as_posix()]:
        errors.append(f"expected exactly one PrometheusRule, in {PROMETHEUS_RULE.relative_to(ROOT)}")
        return
    _, doc = rules[0]
    top = {"apiVersion", "kind", "metadata", "spec"}
    if doc["apiVersion"] != "monitoring.coreos.com/v1" or set(doc) != top:
        errors.append(f"{PROMETHEUS_RULE.relative_to(ROOT)}: expected monitoring.coreos.com/v1 "
                      "with metadata and spec only")
    plain = yaml_documents(PLAIN_RULES)
    if plain != [doc["spec"]]:
        errors.append(f"{PLAIN_RULES.relative_to(ROOT)} differs from the spec of "
                      f"{PROMETHEUS_RULE.relative_to(ROOT)}: "
                      "run deploy/check/check_deploy.py --write-rules")
    else:
        print(f"ok   {PLAIN_RULES.relative_to(ROOT)} is the PrometheusRule's spec")


def dashboard_queries(dash):
    queries = []
    for panel in dash.get("panels", []):
        for target in panel.get("targets", []):
            queries.append((panel["title"], target["expr"]))
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q.strip())
            queries.append((f"variable {var['name']}", m.group(1) if m else q))
    return queries


def grafana_to_promql(expr):
    return expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")


def check_metric_names(known, errors):
    dash = json.loads(DASHBOARD.read_text())
    queries = dashboard_queries(dash)
    if not queries:
        errors.append(f"{DASHBOARD}: no queries")
    for where, expr in queries:
        for name in sorted(metric_names(expr) - known):
            errors.append(f"{DASHBOARD.relative_to(ROOT)} ({where}): {name} is not in docs/metrics.md")
    rules = yaml_documents(PLAIN_RULES)[0]
    for group in rules["groups"]:
        for rule in group["rules"]:
            for name in sorted(metric_names(rule["expr"]) - known - PROMETHEUS_SERIES):
                errors.append(f"{PLAIN_RULES.relative_to(ROOT)} ({rule.get('alert')}): "
                              f"{name} is not in docs/metrics.md")
    check_promql(queries, errors)


def check_promql(queries, errors):
    """Parses every dashboard query with promtool (as recording rules)."""
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": grafana_to_promql(expr)}
        for i, (_, expr) in enumerate(queries)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        yaml.safe_dump(rules, f)
        f.flush()
        run = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
    if run.returncode != 0:
        errors.append(f"{DASHBOARD.relative_to(ROOT)}: promtool refuses a query:\n{run.stdout}{run.stderr}")
    else:
        print(f"ok   {len(queries)} dashboard queries parse (promtool)")


def merge_by(base, patch, key):
    """A strategic merge of two lists of objects keyed by `key`."""
    merged = {item[key]: dict(item) for item in base}
    for item in patch:
        merged.setdefault(item[key], {}).update(item)
    return list(merged.values())


def daemonset(errors, patch=None):
    """daemonset.yaml's DaemonSet, with `patch` (a file under deploy/) merged in."""
    docs = [d for d in yaml_documents(DEPLOY / DAEMONSET) if d.get("kind") == "DaemonSet"]
    if len(docs) != 1:
        errors.append(f"deploy/{DAEMONSET}: expected one DaemonSet")
        return None
    ds = docs[0]
    if patch is None:
        return ds
    (p,) = yaml_documents(DEPLOY / patch)
    pod, ppod = ds["spec"]["template"]["spec"], p["spec"]["template"]["spec"]
    pod["volumes"] = merge_by(pod.get("volumes", []), ppod.get("volumes", []), "name")
    for pc in ppod.get("containers", []):
        (c,) = [c for c in pod["containers"] if c["name"] == pc["name"]]
        c["volumeMounts"] = merge_by(c.get("volumeMounts", []),
                                     pc.get("volumeMounts", []), "mountPath")
    return ds


def check_patched_daemonsets(errors):
    for patch in sorted(set(PATCHED_BY.values())):
        ds = daemonset(errors, patch)
        if ds is not None:
            for version in KUBERNETES_VERSIONS:
                validate_object(f"{DAEMONSET} + {patch}", ds, version, errors)


def daemon_mounts(errors, patch=None):
    """The murmurationd container's hostPath mounts: {mountPath: (host path, read-only)}."""
    ds = daemonset(errors, patch)
    if ds is None:
        return {}
    pod = ds["spec"]["template"]["spec"]
    volumes = {v["name"]: v["hostPath"]["path"] for v in pod.get("volumes", []) if "hostPath" in v}
    (daemon,) = [c for c in pod["containers"] if c["name"] == "murmurationd"]
    return {m["mountPath"]: (volumes.get(m["name"]), bool(m.get("readOnly")))
            for m in daemon.get("volumeMounts", [])}


def covered(mounts, path, writable):
    """Whether `path` lies under a mount of the same host path (writable if asked)."""
    for inside, (host, read_only) in mounts.items():
        if host == inside and (path == inside or path.startswith(inside.rstrip("/") + "/")):
            return not (writable and read_only)
    return False


def resolved(debug, section, field):
    """A field of a section in `--check-config`'s pretty Debug output."""
    m = re.search(rf"\b{section}: \w+ {{(.*?)\n    }}", debug, re.S)
    if not m:
        return None
    f = re.search(rf"^\s+{field}: (.*?),?$", m.group(1), re.M)
    return f.group(1).strip('"') if f else None


def daemon_configs():
    for path in sorted(p for ext in ("*.yaml", "*.yml") for p in DEPLOY.rglob(ext)):
        rel = path.relative_to(DEPLOY).as_posix()
        if rel in NOT_KUBERNETES:
            continue
        for doc in yaml_documents(path):
            if doc.get("kind") == "ConfigMap" and DAEMON_CONFIG_KEY in doc.get("data", {}):
                yield rel, doc["data"][DAEMON_CONFIG_KEY]


def check_daemon_configs(daemon, errors):
    """Each ConfigMap's murmurationd.toml through the daemon's --check-config,
    and the DaemonSet's mounts against the paths it resolves to."""
    if daemon is None or not Path(daemon).is_file():
        errors.append(f"--daemon {daemon}: the built murmurationd is needed for --check-config")
        return
    for rel, text in daemon_configs():
        patch = PATCHED_BY.get(rel)
        mounts = daemon_mounts(errors, patch)
        target = f"{DAEMONSET} + {patch}" if patch else DAEMONSET
        with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
            f.write(text)
            f.flush()
            run = subprocess.run([daemon, "--check-config", "--config", f.name],
                                 capture_output=True, text=True)
        if run.returncode != 0 or "config OK" not in run.stdout:
            errors.append(f"deploy/{rel}: murmurationd --check-config refuses "
                          f"{DAEMON_CONFIG_KEY}:\n{run.stdout}{run.stderr}")
            continue
        sections = [(name, re.search(rf"\b{name}: \w+ {{", run.stdout))
                    for name in ("device_plugin", "sriov")]
        unread = [name for name, found in sections if not found]
        if unread:
            errors.append(f"deploy/{rel}: no {', '.join(unread)} section in --check-config's "
                          "output: the check cannot see which paths the config uses")
            continue
        needs = []
        if resolved(run.stdout, "device_plugin", "enabled") == "true":
            needs += [(resolved(run.stdout, "device_plugin", k), True)
                      for k in ("kubelet_dir", "devinfo_dir")]
            dev = resolved(run.stdout, "device_plugin", "dev_dir")
            needs.append((dev and dev.rstrip("/") + "/vfio", False))
        if re.search(r"\bsriov: \w+ {\s*pf: \[\s*\w", run.stdout):
            needs.append(("/sys", True))
        missing = [(p, w) for p, w in needs if p is None or not covered(mounts, p, w)]
        for path, writable in missing:
            how = "writable " if writable else ""
            errors.append(f"deploy/{rel}: the config uses {path}, which deploy/{target} "
                          f"does not mount ({how}hostPath at the same path)")
        if not missing:
            print(f"ok   deploy/{rel}: {DAEMON_CONFIG_KEY} (--check-config; "
                  f"{len(needs)} paths mounted by deploy/{target})")


def write_rules():
    (doc,) = [d for d in yaml_documents(PROMETHEUS_RULE) if d.get("kind") == "PrometheusRule"]
    PLAIN_RULES.write_text(PLAIN_RULES_HEADER + yaml.safe_dump(doc["spec"], sort_keys=False, width=200))


def main():
    if sys.argv[1:] == ["--write-rules"]:
        write_rules()
        return 0
    args = sys.argv[1:]
    daemon = args[1] if len(args) == 2 and args[0] == "--daemon" else None
    selftest()
    errors = []
    custom = check_manifests(errors)
    check_patched_daemonsets(errors)
    check_network_attachments(custom["NetworkAttachmentDefinition"], errors)
    check_prometheus_rules(custom["PrometheusRule"], errors)
    check_metric_names(documented_metrics(METRICS_DOC.read_text()), errors)
    check_daemon_configs(daemon, errors)
    for e in errors:
        print(f"FAIL {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
