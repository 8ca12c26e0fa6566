"""A nightly MoAA-Beam run with Apache Airflow: SFT data, then DPO data, from the bundled jar.

Each task is a plain command (`java -jar moaa.jar ...`), so the DAG needs no provider package, and
the task's state is the command's exit code (see the README's exit codes):

  0  done and reconciled
  1  the pipeline failed or did not reconcile        -> Airflow retries the task
  2  bad flags or configuration, or a model the preflight found unusable (nothing processed)
  3  the budget stopped rows: the run resumes tomorrow (answers already paid for come from the cache)
  4  a model failed beyond its share, or no row was written: rerun to resume

The response cache is in Redis (the config's `cache:` section), so a nightly rerun over a corpus
that grew pays only for the rows that are new; every night writes to its own output folder, and a
task retried in the same night resumes its folder. API keys come from the worker's environment
(an Airflow connection or a Kubernetes secret exported as variables), never from the DAG.

Set the Airflow Variables `moaa_jar`, `moaa_config`, `moaa_corpus`, `moaa_prompts` and `moaa_output`
(or edit the defaults below). For a Flink session cluster, add `--runner=FlinkRunner
--flinkMaster=HOST:PORT --parallelism=N` to BEAM_FLAGS.
"""
from datetime import datetime, timedelta

from airflow import DAG
from airflow.models import Variable
from airflow.operators.bash import BashOperator

JAR = Variable.get("moaa_jar", default_var="/opt/moaa/moaa.jar")
CONFIG = Variable.get("moaa_config", default_var="/etc/moaa/nightly.yaml")
CORPUS = Variable.get("moaa_corpus", default_var="/data/corpus/*.jsonl")
PROMPTS = Variable.get("moaa_prompts", default_var="/data/prompts/*.jsonl")
OUTPUT = Variable.get("moaa_output", default_var="/data/moaa")
BEAM_FLAGS = ""  # e.g. "--runner=FlinkRunner --flinkMaster=flink-jobmanager:8081 --parallelism=8"

with DAG(
    dag_id="moaa_nightly",
    description="MoAA-Beam: nightly SFT and DPO data from the bundled jar",
    schedule="0 2 * * *",
    start_date=datetime(2026, 12, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
    tags=["moaa"],
) as dag:
    # {{ ds }} is the run's date: one output folder per night; a retried task resumes its folder
    sft = BashOperator(
        task_id="sft_data",
        bash_command=(
            f"java -jar {JAR} sft --config={CONFIG} --input='{CORPUS}' "
            f"--output={OUTPUT}/{{{{ ds }}}}/sft --progressSeconds=60 {BEAM_FLAGS}"
        ),
        # exit 3 (the budget stopped rows) is not a failure to retry tonight: tomorrow's run resumes
        skip_on_exit_code=3,
    )
    dpo = BashOperator(
        task_id="dpo_data",
        bash_command=(
            f"java -jar {JAR} dpo --config={CONFIG} --input='{PROMPTS}' "
            f"--output={OUTPUT}/{{{{ ds }}}}/dpo --progressSeconds=60 {BEAM_FLAGS}"
        ),
        skip_on_exit_code=3,
    )
    sft >> dpo
