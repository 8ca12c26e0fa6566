"""The scheduling examples in examples/: the Airflow DAG and the Kubernetes manifest.

Neither can be run here (no Airflow, no Kubernetes), so this checks what can be checked: the DAG is
valid Python with one DAG and a schedule; the manifest is valid YAML with the fields the Flink
Kubernetes Operator's FlinkDeployment needs for a session cluster; and every moaa command and flag
either file runs is one the bundled jar's own --help lists (or a Beam flag), so the examples break
when the command line changes.
"""
import ast
import pathlib
import re
import shlex
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
JAR = ROOT / "runners" / "target" / "moaa.jar"
EXAMPLES = ROOT / "examples"
BEAM_FLAGS = {"--runner", "--flinkMaster", "--parallelism", "--streaming"}


def moaa_help(command):
    if not JAR.exists():
        pytest.fail(f"no jar at {JAR}: build it first (./run-tests does)")
    r = subprocess.run(["java", "-jar", str(JAR), command, "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"moaa {command} --help: {r.stderr}"
    return r.stdout


def check_command_line(words):
    """words: the moaa command and its arguments, after `java -jar .../moaa.jar`."""
    command, args = words[0], words[1:]
    help_text = moaa_help(command)
    for a in args:
        if a.startswith("--"):
            name = a.split("=", 1)[0]
            assert name in BEAM_FLAGS or re.search(re.escape(name) + r"\b", help_text), \
                f"moaa {command} has no flag {name}"
    return command


def render(node):
    """The text of a string expression of the DAG, each interpolated value written as X."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return render(node.left) + render(node.right)
    raise AssertionError(f"an expression the test does not read: {ast.dump(node)}")


def test_the_airflow_dag_parses_and_runs_commands_the_jar_has():
    source = (EXAMPLES / "airflow" / "moaa_nightly.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    dags = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "DAG"]
    assert len(dags) == 1
    keywords = {k.arg: k.value for k in dags[0].keywords}
    assert isinstance(keywords["schedule"], ast.Constant) and len(keywords["schedule"].value.split()) == 5
    commands = []
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "BashOperator":
            kw = {k.arg: k.value for k in call.keywords}
            text = render(kw["bash_command"])
            m = re.search(r"java -jar \S+ (.*)", text)
            assert m, text
            words = shlex.split(m.group(1))
            commands.append(check_command_line(words))
            assert kw["skip_on_exit_code"].value == 3, "a budget stop waits for the next night"
    assert commands == ["sft", "dpo"]


def test_the_kubernetes_manifest_has_what_the_operator_and_the_run_need():
    docs = [d for d in yaml.safe_load_all((EXAMPLES / "kubernetes" / "moaa-nightly.yaml").read_text()) if d]
    kinds = {d["kind"]: d for d in docs}
    flink = kinds["FlinkDeployment"]
    assert flink["apiVersion"] == "flink.apache.org/v1beta1"
    spec = flink["spec"]
    assert spec["image"] and spec["flinkVersion"] == "v1_19" and spec["serviceAccount"]
    for role in ("jobManager", "taskManager"):
        assert {"memory", "cpu"} <= set(spec[role]["resource"]), role
    assert "job" not in spec, "a session cluster: the runs submit their jobs to it"

    cron = kinds["CronJob"]
    assert cron["apiVersion"] == "batch/v1" and len(cron["spec"]["schedule"].split()) == 5
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    line = " ".join(container["args"])
    words = shlex.split(re.search(r"java -jar \S+ (.*)", line).group(1))
    assert check_command_line(words) == "sft"
    assert f"--flinkMaster={flink['metadata']['name']}-rest:8081" in words, "the operator's REST service"
    assert all("value" not in e for e in container.get("env", [])), "keys come from the secret only"
    assert container["envFrom"][0]["secretRef"]["name"]

    config = yaml.safe_load(kinds["ConfigMap"]["data"]["nightly.yaml"])
    redis = kinds["Service"]["metadata"]["name"]
    assert config["cache"]["backend"] == "redis" and redis in config["cache"]["url"]
    assert redis in config["coordination"]["url"], "limits and budget hold for the whole cluster"
    assert "api_key" not in yaml.safe_dump(config).replace("api_key_env", "")
