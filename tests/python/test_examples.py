"""The scheduling examples in examples/: the Airflow DAG and the Kubernetes manifest.

Neither can be run here (no Airflow, no Kubernetes), so this checks what can be checked: the DAG is
valid Python with one DAG and a schedule; the manifest is valid YAML with the fields the Flink
Kubernetes Operator's FlinkDeployment needs for a session cluster and its FlinkSessionJob needs to
run the bundled jar on it, and the nightly CronJob points that session job at the night's folder
and waits for it with `moaa finish`; and every moaa command and flag
either file runs is one the bundled jar's own --help lists (or a Beam flag), so the examples break
when the command line changes.
"""
import ast
import pathlib
import re
import shlex
import subprocess
import zipfile

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


def kubernetes_documents():
    docs = [d for d in yaml.safe_load_all((EXAMPLES / "kubernetes" / "moaa-nightly.yaml").read_text()) if d]
    by_kind = {}
    for d in docs:
        assert d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"), d
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    return by_kind


def only(by_kind, kind):
    assert len(by_kind[kind]) == 1, f"one {kind}: {list(by_kind[kind])}"
    return next(iter(by_kind[kind].values()))


def mounts(pod_spec, container):
    """mount path -> the volume's source (configMap/persistentVolumeClaim/...) for one container."""
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    return {m["mountPath"]: volumes[m["name"]] for m in container.get("volumeMounts", [])}


def test_the_kubernetes_manifest_has_what_the_operator_and_the_run_need():
    docs = kubernetes_documents()
    flink = only(docs, "FlinkDeployment")
    assert flink["apiVersion"] == "flink.apache.org/v1beta1"
    spec = flink["spec"]
    assert spec["image"] and spec["flinkVersion"] == "v1_19" and spec["serviceAccount"]
    for role in ("jobManager", "taskManager"):
        assert {"memory", "cpu"} <= set(spec[role]["resource"]), role
    assert "job" not in spec, "a session cluster: the session job runs on it"
    pod = spec["podTemplate"]["spec"]
    flink_main = next(c for c in pod["containers"] if c["name"] == "flink-main-container")
    flink_mounts = mounts(pod, flink_main)
    assert flink_main["envFrom"][0]["secretRef"]["name"], "the TaskManagers' calls and the JobManager's probes need keys"

    # the operator's session-job resource: the fields it needs to submit the bundled jar's run
    job_resource = only(docs, "FlinkSessionJob")
    assert job_resource["apiVersion"] == "flink.apache.org/v1beta1"
    assert job_resource["spec"]["deploymentName"] == flink["metadata"]["name"], "runs on the session cluster above"
    job = job_resource["spec"]["job"]
    assert set(job) >= {"jarURI", "entryClass", "args", "parallelism", "upgradeMode"}
    assert isinstance(job["parallelism"], int) and job["parallelism"] > 0
    assert job["upgradeMode"] in ("stateless", "last-state", "savepoint")
    # the operator downloads a session job's jar (http or a Flink file system): here the in-cluster service
    jar_url = job["jarURI"]
    assert re.match(r"https?://", jar_url) and jar_url.endswith("/moaa.jar"), jar_url
    artifacts = docs["Service"][jar_url.split("//")[1].split(".")[0]]
    assert f":{artifacts['spec']['ports'][0]['port']}/" in jar_url
    served = docs["Deployment"][artifacts["metadata"]["name"]]["spec"]["template"]["spec"]
    assert served["initContainers"][0]["image"] == spec["image"], "serves the jar of the cluster's own image"
    with zipfile.ZipFile(JAR) as jar:
        assert job["entryClass"].replace(".", "/") + ".class" in jar.namelist()
        assert f"Main-Class: {job['entryClass']}" in jar.read("META-INF/MANIFEST.MF").decode()
    args = job["args"]
    assert all(isinstance(a, str) for a in args)
    assert check_command_line(args) == "sft"
    names = [a.split("=", 1)[0] for a in args]
    assert "--runner" not in names and "--flinkMaster" not in names, "inside the cluster the job runs on it"
    assert args[3].startswith("--output="), "the CronJob replaces args[3] with the night's folder"
    config_path = next(a.split("=", 1)[1] for a in args if a.startswith("--config="))
    config_dir = str(pathlib.PurePosixPath(config_path).parent)
    assert flink_mounts[config_dir]["configMap"]["name"] == "moaa-config", "the JobManager reads the config"
    assert "persistentVolumeClaim" in flink_mounts["/data"], "the output folder is shared"

    cron = only(docs, "CronJob")
    assert cron["apiVersion"] == "batch/v1" and len(cron["spec"]["schedule"].split()) == 5
    pod_spec = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    patch = " ".join(pod_spec["initContainers"][0]["args"])
    assert f"kubectl patch flinksessionjob {job_resource['metadata']['name']}" in patch
    assert '/spec/job/args/3' in patch and "--output=/data/runs/$(date -u +%F)/sft" in patch
    assert "/spec/restartNonce" in patch, "a night run again is submitted again"
    container = pod_spec["containers"][0]
    line = " ".join(container["args"])
    words = shlex.split(re.search(r"java -jar \S+ (.*)", line).group(1))
    assert check_command_line(words) == "finish"
    assert f"--flinkMaster={flink['metadata']['name']}-rest:8081" in words, "the operator's REST service"
    assert f"--config={config_path}" in words
    assert "--output=/data/runs/$(date -u +%F)/sft" in line, "waits for the folder the patch names"
    assert any(w.startswith("--submittedAfter=") for w in words) and any(
        w.startswith("--submissionTimeoutSeconds=") for w in words)
    assert all("value" not in e for e in container.get("env", [])), "keys come from the secret only"
    cron_mounts = mounts(pod_spec, container)
    assert cron_mounts[config_dir]["configMap"]["name"] == "moaa-config"
    assert cron_mounts["/data"]["persistentVolumeClaim"] == flink_mounts["/data"]["persistentVolumeClaim"]

    role = only(docs, "Role")
    assert role["rules"][0]["resources"] == ["flinksessionjobs"] and "patch" in role["rules"][0]["verbs"]
    binding = only(docs, "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == pod_spec["serviceAccountName"]

    config = yaml.safe_load(only(docs, "ConfigMap")["data"]["nightly.yaml"])
    redis = docs["Service"]["moaa-redis"]["metadata"]["name"]
    assert config["cache"]["backend"] == "redis" and redis in config["cache"]["url"]
    assert redis in config["coordination"]["url"], "limits and budget hold for the whole cluster"
    assert "api_key" not in yaml.safe_dump(config).replace("api_key_env", "")
