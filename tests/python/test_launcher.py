"""The `moaa` launcher's resident JVM, through the launcher itself (./moaa) as a user runs it.

A pipeline command runs in a JVM that stays for the next one: the second run must be served by the
same JVM with the same results; a different environment must get a JVM of its own (API keys come from
the environment); MOAA_RESIDENT=off must run in a JVM of its own; a usage error keeps its exit code;
Ctrl-C stops the command and its JVM; `moaa resident stop` leaves nothing running.
"""
import json
import os
import pathlib
import re
import signal
import shutil
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
JAR = ROOT / "runners" / "target" / "moaa.jar"
MOAA = ROOT / "moaa"


@pytest.fixture(scope="module")
def simulator():
    if not JAR.exists():
        pytest.fail(f"no jar at {JAR}: build it first (./run-tests does)")
    p = subprocess.Popen(["java", "-jar", str(JAR), "simulate", "--port=0", "--latency-ms=300", "--max-in-flight=0"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = None
    deadline = time.time() + 60
    while time.time() < deadline:
        line = p.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
        if m:
            url = m.group(1)
            break
    assert url, "the simulated endpoint did not start"
    yield url
    p.terminate()
    p.wait(timeout=30)


@pytest.fixture
def work(tmp_path, simulator):
    # a short folder: a Unix socket's path has at most 107 bytes
    runtime = pathlib.Path(tempfile.mkdtemp(prefix="moaa-rt-", dir="/tmp"))
    (tmp_path / "cfg.yaml").write_text(
        "defaults: {base_url: %s, max_concurrency: 8}\n"
        "models:\n  p1: {model: sim-proposer-1}\n  p2: {model: sim-proposer-2}\n  agg: {model: sim-aggregator}\n"
        "sft: {proposers: [p1, p2], aggregator: agg, layers: 1}\n"
        "cache: {backend: none}\n" % simulator, encoding="utf-8")
    with open(tmp_path / "in.jsonl", "w", encoding="utf-8") as f:
        for i in range(12):
            f.write(json.dumps({"id": f"r{i}", "prompt": f"Question {i}: how do {i} tides work, for a sailor?"}) + "\n")
    env = dict(os.environ)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    env["MOAA_RESIDENT_IDLE_S"] = "300"
    env.pop("MOAA_RESIDENT", None)
    yield tmp_path, env
    subprocess.run([str(MOAA), "resident", "stop"], env=env, cwd=tmp_path, timeout=60)
    shutil.rmtree(runtime, ignore_errors=True)


def moaa(tmp_path, env, *args, **kw):
    return subprocess.run([str(MOAA), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300, **kw)


def sft(tmp_path, env, out):
    return moaa(tmp_path, env, "sft", "--config=cfg.yaml", "--input=in.jsonl", f"--output={out}")


def resident_pids(env):
    folder = pathlib.Path(env["XDG_RUNTIME_DIR"]) / f"moaa-resident-{os.getuid()}"
    pids = []
    for pid_file in folder.glob("*.pid"):
        pid = int(pid_file.read_text().strip())
        try:
            os.kill(pid, 0)
            pids.append(pid)
        except ProcessLookupError:
            pass
    return sorted(pids)


def counts(out):
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))["counts"]


def test_a_second_run_is_served_by_the_same_resident_jvm_with_the_same_results(work):
    tmp_path, env = work
    # the first run after a build records the class archive in a JVM of its own; the next starts the
    # resident JVM (or the first does, when the archive is there already)
    first = sft(tmp_path, env, "o1")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "read 12 = written 12 + dead-lettered 0 + dropped 0" in first.stdout
    second = sft(tmp_path, env, "o2")
    assert second.returncode == 0, second.stdout + second.stderr
    pids = resident_pids(env)
    assert len(pids) == 1, "one resident JVM"
    third = sft(tmp_path, env, "o3")
    assert third.returncode == 0, third.stdout + third.stderr
    assert "read 12 = written 12 + dead-lettered 0 + dropped 0" in third.stdout
    assert resident_pids(env) == pids, "the next run went to the same JVM"
    assert counts(tmp_path / "o1") == counts(tmp_path / "o2") == counts(tmp_path / "o3")
    assert any((tmp_path / "o3" / "sft" / "parquet").glob("*.parquet"))
    assert (tmp_path / "o3" / "report.html").exists() and (tmp_path / "o3" / "README.md").exists()
    listing = moaa(tmp_path, env, "resident", "list")
    assert str(pids[0]) in listing.stdout

    # a usage error keeps its exit code and its message
    bad = moaa(tmp_path, env, "sft", "--config=cfg.yaml", "--input=in.jsonl", "--ouput=o9")
    assert bad.returncode == 2
    assert "unknown flag --ouput" in bad.stderr
    # a rerun into a finished folder is refused as in a JVM of its own (exit 2), not served from memory
    again = sft(tmp_path, env, "o1")
    assert again.returncode == 2, again.stdout + again.stderr

    # another environment (another key, say) never reaches that JVM
    other = dict(env, MOAA_TEST_OTHER_ENV="1")
    third = sft(tmp_path, other, "o4")
    assert third.returncode == 0, third.stdout + third.stderr
    assert len(resident_pids(env)) == 2

    # MOAA_RESIDENT=off: a JVM of its own, no resident one added
    off = sft(tmp_path, dict(env, MOAA_RESIDENT="off"), "o5")
    assert off.returncode == 0, off.stdout + off.stderr
    assert len(resident_pids(env)) == 2

    stop = moaa(tmp_path, env, "resident", "stop")
    assert stop.returncode == 0
    deadline = time.time() + 30
    while resident_pids(env) and time.time() < deadline:
        time.sleep(0.2)
    assert resident_pids(env) == []


def test_ctrl_c_stops_the_command_and_its_resident_jvm(work):
    tmp_path, env = work
    for out in ("w0", "w1"):  # (the first may record the class archive in a JVM of its own)
        warm = sft(tmp_path, env, out)
        assert warm.returncode == 0, warm.stdout + warm.stderr
    [pid] = resident_pids(env)
    # 12 rows at 300 ms a call with one row's calls at a time would take several seconds: slow it further
    (tmp_path / "many.jsonl").write_text("".join(
        json.dumps({"id": f"m{i}", "prompt": f"Item {i}: a long question about {i} rivers?"}) + "\n"
        for i in range(400)), encoding="utf-8")
    p = subprocess.Popen([str(MOAA), "sft", "--config=cfg.yaml", "--input=many.jsonl", "--output=w2"], cwd=tmp_path,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(4)
    assert p.poll() is None, "the run ended before it could be interrupted"
    os.killpg(p.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the launcher and its client
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, out + err
    deadline = time.time() + 30
    while resident_pids(env) and time.time() < deadline:
        time.sleep(0.2)
    assert pid not in resident_pids(env), "the interrupted command's JVM is gone"
    assert not (tmp_path / "w2" / "manifest.json").exists()
