"""Bad input is answered in words that name the field (`detail.field`), never pydantic's own
text, and a share's quota must fit in its pool: each refusal leaves the pool as it was."""

from pathlib import Path


async def test_validation_errors_are_words_at_their_field(rockd):
    box = await rockd(devices=1, pool="single")
    api, tank = box.api, box.pool
    for body, code, field, message in (
            ({"pool": tank["id"], "name": "tiny", "quota": 1}, "invalid_field", "quota",
             "Quota must be at least 1 MiB"),
            ({"pool": tank["id"], "name": "big", "quota": 1 << 61}, "invalid_field", "quota",
             "Quota must be at most 1 EiB"),
            ({"pool": tank["id"], "name": "text", "quota": "10G"}, "invalid_field", "quota",
             "Quota must be a whole number"),
            ({"pool": tank["id"], "name": "-bad"}, "invalid_name", "name",
             "Name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter "
             "or digit"),
            ({"name": "nopool"}, "invalid_field", "pool", "Pool is required"),
            ({"pool": tank["id"], "name": "x", "colour": "red"}, "invalid_field", "colour",
             "Colour is not a field of this request"),
            ({"pool": tank["id"], "name": "x", "mode": "999"}, "invalid_field", "mode",
             "Mode must be 3 or 4 octal digits, such as 0755"),
            ({"pool": tank["id"], "name": "x", "owner": "no-such-user"}, "unknown_user",
             "owner", "There is no user no-such-user")):
        status, answer = await api.call("POST", "/api/v1/shares", body)
        error = answer["error"]
        assert status in (400, 422) and error["code"] == code, (body, answer)
        assert (error["message"], error["detail"]["field"]) == (message, field), answer
        assert "Input should" not in str(answer) and "1048576" not in error["message"]
    assert box.daemon.tree.get("/shares") in (None, {})


async def test_a_quota_larger_than_the_pool_is_refused_and_changes_nothing(rockd):
    box = await rockd(devices=1, pool="single")
    api, tank, tree = box.api, box.pool, box.daemon.tree
    huge = int(97.7 * (1 << 50))  # 97.7 PiB, on a pool of a few GiB
    status, answer = await api.call("POST", "/api/v1/shares",
                                    {"pool": tank["id"], "name": "vast", "quota": huge})
    assert (status, answer["error"]["code"]) == (422, "quota_too_large"), answer
    assert answer["error"]["detail"]["field"] == "quota"
    assert answer["error"]["message"].startswith("Quota 97.7 PiB is larger than pool ")
    assert not (Path(tank["mount_point"]) / "vast").exists()
    assert not tree.get(("pools", tank["id"], "quotas"))  # quotas were not switched on

    status, share = await api.call("POST", "/api/v1/shares", {"pool": tank["id"], "name": "s"})
    assert status == 201, share
    status, answer = await api.call("PATCH", f"/api/v1/shares/{share['id']}", {"quota": huge})
    assert (status, answer["error"]["code"]) == (422, "quota_too_large"), answer
    assert tree.get(("shares", share["id"], "quota")) is None
    assert not tree.get(("pools", tank["id"], "quotas"))
    # a quota that fits is taken
    status, share = await api.call("PATCH", f"/api/v1/shares/{share['id']}", {"quota": 64 << 20})
    assert (status, share["quota"]) == (200, 64 << 20), share
