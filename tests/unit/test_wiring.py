"""How a node is put together: its feature modules and the parts they build."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from server import app
from server.attachments.blobstore import BlobStore
from server.errors import ApiError
from server.parts import PartNotReady, Parts
from tests.conftest import test_settings as settings_for


@pytest.mark.parametrize("typo", ["server.messaging.evnts", "server.mesaging.events"])
def test_an_unknown_feature_module_stops_the_loader(typo: str) -> None:
    with pytest.raises(ModuleNotFoundError, match=f"unknown feature module '{typo}'"):
        app._load_features(("server.messaging.events", typo))


def test_a_typo_in_feature_modules_stops_create_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    typo = "server.presence.event"
    monkeypatch.setattr(app, "FEATURE_MODULES", (*app.FEATURE_MODULES, typo))
    settings = settings_for(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'relais.db'}")
    with pytest.raises(ModuleNotFoundError, match=typo):
        app.create_app(settings)


def test_a_missing_dependency_of_a_feature_is_not_reported_as_an_unknown_name(
    tmp_path: Path,
) -> None:
    feature = tmp_path / "relais_fake_feature.py"
    feature.write_text("import relais_no_such_dependency\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(ModuleNotFoundError) as caught:
            app._load_features(("relais_fake_feature",))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("relais_fake_feature", None)
    assert caught.value.name == "relais_no_such_dependency"
    assert "unknown feature module" not in str(caught.value)


def test_a_part_read_before_its_setup_names_the_slot() -> None:
    parts = Parts()
    with pytest.raises(PartNotReady) as caught:
        _ = parts.media_bridge
    assert caught.value.part == "media_bridge"
    assert "media_bridge" in str(caught.value)
    # What a client would be told stays the usual refusal, without the internal name.
    assert isinstance(caught.value, ApiError)
    assert caught.value.body() == {
        "error": {"code": "unavailable", "message": "media is not running on this node"}
    }


def test_peek_and_detach_leave_an_empty_slot_empty(tmp_path: Path) -> None:
    parts = Parts()
    assert Parts.blobs.peek(parts) is None
    assert Parts.blobs.detach(parts) is None
    store = BlobStore(tmp_path)
    parts.blobs = store
    assert parts.blobs is store
    assert Parts.blobs.peek(Parts()) is None  # a slot belongs to one node's parts
    assert Parts.blobs.detach(parts) is store
    assert Parts.blobs.peek(parts) is None
