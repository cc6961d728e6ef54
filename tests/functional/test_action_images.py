"""An action's picture: uploaded in the console and through the API, resized, stripped
of its metadata, served with long cache headers, shown as the hero and in link
previews."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import Action, AuditEntry, ImageRendition
from petitions.services import images
from tests.account_factories import log_in, make_user
from tests.api_factories import staff_headers
from tests.factories import csrf_token, field_error, make_action, parse_html
from tests.image_factories import SECRET_PLACE, bomb, photo

ALT = "Families waiting at the camp's gate"


def _upload(client, action: Action, data: dict):  # type: ignore[no-untyped-def]
    url = f"/admin/actions/{action.slug}/image"
    return client.post(url, data={**data, "csrf_token": csrf_token(client, url)},
                       content_type="multipart/form-data")


def _admin(client):  # type: ignore[no-untyped-def]
    log_in(client, make_user("admin"))


def _stored(action: Action) -> list[ImageRendition]:
    db.session.expire_all()
    action = db.session.get(Action, action.id)
    assert action is not None and action.image is not None
    return list(action.image.renditions)


def test_an_admin_uploads_a_picture_resized_and_without_its_metadata(client):
    action = make_action()
    _admin(client)
    response = _upload(client, action, {"image": (io.BytesIO(photo()), "camp.jpg"),
                                        "alt": ALT})
    assert response.status_code == 303, response.get_data(as_text=True)

    copies = _stored(action)
    assert [(c.width, c.height) for c in copies] == [(480, 288), (960, 576), (1600, 960)]
    for copy in copies:
        assert copy.media_type == "image/jpeg"
        picture = Image.open(io.BytesIO(copy.content))
        assert picture.format == "JPEG" and picture.size == (copy.width, copy.height)
        assert dict(picture.getexif()) == {}
        assert not {"exif", "xmp", "icc_profile"} & picture.info.keys()
        assert SECRET_PLACE.encode() not in copy.content
        assert b"PhoneMaker" not in copy.content
    assert db.session.get(Action, action.id).image_alt == ALT
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.verb == "action.image")
                               ).one()
    assert entry.object_id == str(action.id) and entry.after["alt"] == ALT


def test_a_small_picture_is_not_enlarged_and_a_rotated_one_is_set_upright(client):
    action = make_action()
    picture = Image.new("RGB", (300, 400), (10, 10, 10))
    exif = picture.getexif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to show
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", exif=exif.tobytes())
    images.set_action_image(action, buffer.getvalue(), ALT, actor=None, via="web")
    assert [(c.width, c.height) for c in _stored(action)] == [(400, 300)]


def test_the_alt_text_is_required(client):
    action = make_action()
    _admin(client)
    response = _upload(client, action, {"image": (io.BytesIO(photo()), "camp.jpg"),
                                        "alt": "  "})
    assert response.status_code == 422
    assert "alt text" in field_error(response.get_data(as_text=True), "alt")
    assert db.session.get(Action, action.id).image is None


def test_a_file_that_is_not_a_picture_is_refused_next_to_its_field_input_kept(client):
    action = make_action()
    _admin(client)
    response = _upload(client, action, {"image": (io.BytesIO(b"%PDF-1.7 not a photo"),
                                                  "camp.jpg"), "alt": ALT})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "not a picture we can read" in field_error(html, "image")
    alt = next(e for e in parse_html(html).find_all("input") if e.get("name") == "alt")
    assert alt.get("value") == ALT


def test_a_decompression_bomb_and_an_oversized_file_are_refused(client):
    action = make_action()
    _admin(client)
    response = _upload(client, action, {"image": (io.BytesIO(bomb()), "bomb.png"),
                                        "alt": ALT})
    assert response.status_code == 422
    assert "too many pixels" in field_error(response.get_data(as_text=True), "image")
    huge = photo(100, 100) + b"\0" * images.MAX_UPLOAD_BYTES
    response = _upload(client, action, {"image": (io.BytesIO(huge), "huge.jpg"),
                                        "alt": ALT})
    assert response.status_code == 422
    assert "larger than 10 MB" in field_error(response.get_data(as_text=True), "image")
    assert db.session.get(Action, action.id).image is None


def test_organizers_may_not_use_the_console_page(client):
    action = make_action()
    log_in(client, make_user("organizer"))
    assert client.get(f"/admin/actions/{action.slug}/image").status_code == 403


def test_the_copies_are_served_from_here_with_long_cache_headers(client):
    action = make_action()
    images.set_action_image(action, photo(), ALT, actor=None, via="web")
    copy = _stored(action)[0]
    url = images.rendition_url(copy)
    assert url == f"/images/{copy.id}/{copy.digest[:32]}.jpg"
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.data == copy.content
    assert client.get(url, headers={"If-None-Match": response.headers["ETag"]}
                      ).status_code == 304
    assert client.get(f"/images/{copy.id}/{'0' * 32}.jpg").status_code == 404
    assert client.get(url.replace(".jpg", ".png")).status_code == 404


def test_the_action_page_shows_the_hero_and_link_previews_carry_it(client):
    action = make_action()
    images.set_action_image(action, photo(), ALT, actor=None, via="web")
    copies = _stored(action)
    page = parse_html(client.get(f"/actions/{action.slug}").get_data(as_text=True))
    hero = page.find("figure", class_="hero").find("img")
    assert hero.get("alt") == ALT
    assert hero.get("srcset") == ", ".join(f"{images.rendition_url(c)} {c.width}w"
                                           for c in copies)
    meta = {m.get("property") or m.get("name"): m.get("content") for m in page.find_all("meta")}
    assert meta["og:image"] == "http://petitions.test" + images.rendition_url(copies[1])
    assert meta["og:image:alt"] == meta["twitter:image:alt"] == ALT
    assert meta["twitter:card"] == "summary_large_image"
    assert (meta["og:image:width"], meta["og:image:height"]) == ("960", "576")


def test_the_widget_shows_the_picture_where_its_frame_is_tall_enough(client):
    action = make_action()
    images.set_action_image(action, photo(), ALT, actor=None, via="web")
    page = parse_html(client.get(f"/actions/{action.slug}/embed").get_data(as_text=True))
    picture = page.find("figure", class_="embed-hero").find("img")
    assert picture.get("alt") == ALT and picture.get("srcset")
    # brand.css hides it in frames under 760 px tall (the snippet's is 640).
    css = client.get("/static/css/brand.css").get_data(as_text=True)
    assert "@media (max-height: 759px) { .embed-hero { display: none; } }" in css


def test_without_a_picture_the_page_has_no_hero(client):
    action = make_action()
    page = parse_html(client.get(f"/actions/{action.slug}").get_data(as_text=True))
    assert page.find("figure", class_="hero") is None
    meta = {m.get("property") or m.get("name"): m.get("content") for m in page.find_all("meta")}
    assert "og:image" not in meta and meta["twitter:card"] == "summary"


def test_replacing_a_picture_deletes_the_old_copies(client):
    action = make_action()
    images.set_action_image(action, photo(), ALT, actor=None, via="web")
    old = [c.id for c in _stored(action)]
    images.set_action_image(action, photo(800, 600), ALT, actor=None, via="web")
    assert all(db.session.get(ImageRendition, i) is None for i in old)
    images.remove_action_image(db.session.get(Action, action.id), actor=None, via="web")
    assert db.session.scalars(select(ImageRendition)).all() == []


# --- the API -----------------------------------------------------------------------------

def test_the_api_sets_the_picture_of_an_organizers_action(client):
    action = make_action()
    headers = staff_headers("organizer", action)
    response = client.put(f"/api/v1/actions/{action.slug}/image", headers=headers,
                          data={"image": (io.BytesIO(photo()), "camp.jpg"), "alt": ALT},
                          content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    image = response.json["image"]
    assert image["alt"] == ALT and (image["width"], image["height"]) == (2000, 1200)
    assert image["srcset"].count("w,") == 2
    assert client.get(image["url"].removeprefix("http://petitions.test")).status_code == 200
    assert SECRET_PLACE.encode() not in b"".join(c.content for c in _stored(action))
    # Only the alt text, keeping the picture.
    response = client.put(f"/api/v1/actions/{action.slug}/image", headers=headers,
                          data={"alt": "Another description"},
                          content_type="multipart/form-data")
    assert response.status_code == 200 and response.json["image"]["alt"] == \
        "Another description"


def test_the_api_refuses_bad_pictures_with_json_errors(client):
    action = make_action()
    headers = staff_headers("admin")
    url = f"/api/v1/actions/{action.slug}/image"
    response = client.put(url, headers=headers, content_type="multipart/form-data",
                          data={"image": (io.BytesIO(b"GIF89a nonsense"), "x.gif"),
                                "alt": ALT})
    assert response.status_code == 422
    assert "not a picture" in response.json["error"]["fields"]["image"]
    response = client.put(url, headers=headers, content_type="multipart/form-data",
                          data={"image": (io.BytesIO(photo()), "camp.jpg")})
    assert response.status_code == 422 and set(response.json["error"]["fields"]) == {"alt"}
    response = client.put(url, headers=headers, content_type="multipart/form-data",
                          data={"alt": ALT, "colour": "red"})
    assert response.status_code == 422 and "colour" in response.json["error"]["fields"]
    response = client.put(url, headers=headers, json={"alt": ALT})
    assert response.status_code == 415 and response.json["error"]["message"]
    assert db.session.get(Action, action.id).image is None
