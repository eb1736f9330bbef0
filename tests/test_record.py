"""The local log: written atomically, and never replacing an earlier run's record."""

from hht_archival.record import write_local_log


def test_two_runs_in_the_same_second_keep_both_logs(tmp_path):
    first = write_local_log(tmp_path, "deployment-prod-20260101-000000.json", '{"sponsor": "titan"}\n')
    second = write_local_log(tmp_path, "deployment-prod-20260101-000000.json", '{"sponsor": "europa"}\n')

    assert first.name == "deployment-prod-20260101-000000.json"
    assert second.name == "deployment-prod-20260101-000000-2.json"
    assert first.read_text() == '{"sponsor": "titan"}\n'
    assert second.read_text() == '{"sponsor": "europa"}\n'
    assert {p.name for p in tmp_path.iterdir()} == {first.name, second.name}  # no temp file left
