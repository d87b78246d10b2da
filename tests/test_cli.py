from __future__ import annotations

import json

from medvalue import __version__
from tests.conftest import LIVER_GB


def test_help_and_version(run):
    r = run("--help")
    assert r.code == 0 and "inspect" in r.out and "profile" in r.out and "report" in r.out
    r = run("--version")
    assert r.code == 0 and __version__ in r.out


def test_inspect_json_shape(run):
    d = json.loads(run("inspect", "--json", LIVER_GB).out)
    assert {"format", "encoding", "tables"} <= set(d)
    col = d["tables"][0]["columns"][0]
    assert {"name", "dtype", "role", "reason"} <= set(col)
    assert col["name"] == "患者ID" and col["role"] == "patient_id"


def test_inspect_human_output(run):
    r = run("inspect", LIVER_GB)
    assert r.code == 0 and "gb18030" in r.out and "1,202 rows" in r.out


def test_unknown_option_is_a_usage_error(run):
    r = run("inspect", "--nope", LIVER_GB)
    assert r.code == 2
