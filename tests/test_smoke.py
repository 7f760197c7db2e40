from tests.conftest import jpeg_bytes, upload


def test_it_uploads_and_serves_a_thumbnail(enterprise_user, client_for):
    client = client_for(enterprise_user)
    response = upload(client, jpeg_bytes(800, 600))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["thumbnails"][0] == {"height": 200, "width": 267, "url": body["thumbnails"][0]["url"]}
    thumb = client.get(body["thumbnails"][0]["url"])
    assert thumb.status_code == 200
    assert thumb["Content-Type"] == "image/jpeg"
    original = client.get(body["original"])
    assert original.status_code == 200
    links = client.post(body["expiring_links"], {"expires_in": 300}, format="json")
    assert links.status_code == 201, links.content
    anon = client_for(None).get(links.json()["url"])
    assert anon.status_code == 200, anon.content
