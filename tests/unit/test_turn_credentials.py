"""Per-participant TURN credentials (server/consultations/turn_credentials.py)."""

from __future__ import annotations

import pytest

from server.consultations.turn_credentials import (
    IceServers,
    ice_servers_from_settings,
    turn_credential,
)


def test_the_credential_is_coturns_rest_scheme() -> None:
    # Pinned with `printf '1700003600:u-123' | openssl dgst -sha1 -hmac s3cret -binary | base64`.
    assert turn_credential("s3cret", "u-123", 3600, 1_700_000_000.9) == (
        "1700003600:u-123",
        "8KRjeY4fLzWD/d5MiQR2rLjydb8=",
    )


def test_each_user_gets_its_own_turn_credential_and_stun_stays_bare() -> None:
    servers = ice_servers_from_settings(
        "stun:stun.example.org:3478,turn:turn.example.org:3478?transport=udp", "", ""
    )
    ice = IceServers(servers, secret="s3cret", ttl_s=600)
    a, b = ice.for_user("u-a", 1000.0), ice.for_user("u-b", 1000.0)
    assert a[0] == {"urls": "stun:stun.example.org:3478"}
    assert a[1]["username"] == "1600:u-a" and b[1]["username"] == "1600:u-b"
    assert a[1]["credential"] != b[1]["credential"]
    assert a[1]["credential"] == turn_credential("s3cret", "u-a", 600, 1000.0)[1]
    # Later asks get a later expiry; the configured list is never changed in place.
    assert ice.for_user("u-a", 2000.0)[1]["username"] == "2600:u-a"
    assert "username" not in servers[1]


def test_a_json_list_with_several_urls_is_credentialed_when_any_is_turn() -> None:
    servers = ice_servers_from_settings(
        '[{"urls": ["stun:s.example.org", "turns:t.example.org:5349"]},'
        ' {"urls": "stun:other.example.org"}]',
        "",
        "",
    )
    out = IceServers(servers, secret="k", ttl_s=60).for_user("u", 0.0)
    assert out[0]["username"] == "60:u" and "username" not in out[1]


def test_without_a_secret_the_static_credentials_are_given() -> None:
    servers = ice_servers_from_settings("turn:t.example.org", "static", "pw")
    assert IceServers(servers).for_user("u", 0.0) == [
        {"urls": "turn:t.example.org", "username": "static", "credential": "pw"}
    ]


def test_a_secret_needs_a_positive_lifetime() -> None:
    with pytest.raises(ValueError):
        IceServers([], secret="k", ttl_s=0)
