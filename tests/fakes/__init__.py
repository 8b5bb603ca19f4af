"""HTTP fakes of the services jirahooks talks to, running as real servers on 127.0.0.1.

``fake_jira.FakeJira`` — Jira Cloud and Data Center (see its module docstring).
"""
