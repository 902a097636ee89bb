def test_scope_answers_with_a_key(write_api):
    response = write_api.get("/api/v1/scope")
    assert response.status_code == 200
    assert response.json()["scope"] == "personal"
