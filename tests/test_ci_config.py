"""The real-server CI run is wired as documented (issue 22): nothing here can start Docker or mongod, so
these checks keep the workflow, the compose file, `.ci/mongo` and the Makefile agreeing with each other."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def load(path: str) -> dict:
    return yaml.safe_load((ROOT / path).read_text())


def test_workflow_runs_ci_run_and_the_real_server_job() -> None:
    workflow = load(".github/workflows/ci.yml")
    jobs = workflow["jobs"]
    assert any(step.get("run") == ".ci/run" for step in jobs["suite"]["steps"])
    mongodb = jobs["mongodb"]
    assert mongodb["services"]["redis"]["image"] == "redis:7.4"
    assert mongodb["env"]["MONGODB_TEST_URL"].endswith("/?replicaSet=rs0")
    assert mongodb["env"]["MONGODB_URL"] == mongodb["env"]["MONGODB_TEST_URL"]
    assert mongodb["env"]["REDIS_TEST_URL"].startswith("redis://localhost:6379")
    runs = [step.get("run", "") for step in mongodb["steps"]]
    assert any("docker-compose.test.yml up -d --wait mongo" in run for run in runs)
    assert ".ci/mongo" in runs
    assert all(job["timeout-minutes"] < 90 for job in jobs.values())


def test_compose_starts_a_one_node_replica_set_and_redis() -> None:
    services = load("docker-compose.test.yml")["services"]
    mongo = services["mongo"]
    assert mongo["image"] == "mongo:7.0"
    assert mongo["command"][:3] == ["mongod", "--replSet", "rs0"]
    check = mongo["healthcheck"]["test"][-1]
    assert "rs.initiate" in check and 'host: "localhost:27017"' in check and "isWritablePrimary" in check
    assert services["redis"]["image"] == "redis:7.4"


def test_ci_mongo_migrates_twice_then_runs_the_suite_and_the_plans() -> None:
    script = (ROOT / ".ci/mongo").read_text()
    assert script.count(".venv/bin/allmine-live migrate-indexes") == 2
    assert "0 created, 0 dropped, 0 conflicting, 0 obsolete, 0 failed" in script
    assert ".venv/bin/pytest" in script and "make bench-plans" in script
    makefile = (ROOT / "Makefile").read_text()
    assert "\ntest-mongo:" in makefile and ".ci/mongo" in makefile and "down -v" in makefile
