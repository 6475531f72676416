"""paths.place_key: one place however the app spells the folder and the name."""

from __future__ import annotations

import unicodedata

from homesync.paths import name_key, place_key


def test_place_key_ignores_case_and_unicode_form():
    nfd = unicodedata.normalize("NFD", "Café")
    assert place_key("/DCIM/Été", "IMG_1.JPG") == place_key("/dcim/été", "img_1.jpg")
    assert place_key("/docs", nfd) == place_key("/Docs", "café")
    assert place_key("/a", "x.txt") != place_key("/a/b", "x.txt")
    assert place_key("/a", "x.txt") != place_key("/a", "y.txt")


def test_a_name_key_may_stand_for_the_name():
    # Rows keep name_key, not the name: keying them must give the same place.
    for name in ("Straße.TXT", "ǰ.jpg", "İstanbul", unicodedata.normalize("NFD", "Ångström")):
        assert place_key("/P", name_key(name)) == place_key("/p", name)
