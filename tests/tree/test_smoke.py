def test_small_tree_is_there(client, small_tree):
    response = client.get("/api/v1/units/by-code/510503001001001001")
    assert response.status_code == 200
    assert response.json["level"] == "microgrid"
