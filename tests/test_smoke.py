def test_reference_create_example_gives_201(user, create_body):
    response = user.post("/applications", create_body())
    assert response.status_code == 201, response.json
