# An Airflow DAG built by astronomer-cosmos from a dbt manifest, for bench/dags.py: what
# dagship's generated file is compared with. (DagBag's safe mode looks for "airflow" and "dag".)
import datetime
import os

from cosmos import DbtDag, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import LoadMode, TestBehavior

PROJECT = os.environ["BENCH_COSMOS_PROJECT"]

dag = DbtDag(
    dag_id="cosmos_bench",
    project_config=ProjectConfig(dbt_project_path=PROJECT, manifest_path=os.environ["BENCH_MANIFEST"]),
    profile_config=ProfileConfig(
        profile_name="bench",
        target_name="dev",
        profiles_yml_filepath=os.path.join(PROJECT, "profiles.yml"),
    ),
    render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.AFTER_EACH),
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
)
