from tests.people.test_people_api import *  # noqa

def test_probe(command):
    roster = full_roster(command)
    b = command.worker("mediator", V1, capacity=10)["id"]
    command.plan(apply=True)
    print({k for k in command.current() if k[2] in (b, roster["v1_mediator"])})
    r = command.client.patch(f"{W}/{roster['v1_mediator']}", json={"active": False})
    print("deact A", r.status_code, r.get_json())
    print({k for k in command.current() if k[2] in (b, roster["v1_mediator"])})
    r = command.client.patch(f"{W}/{roster['v1_mediator']}", json={"active": True})
    print("react A", r.status_code, r.get_json())
    assert 0
