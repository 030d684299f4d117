"""Settings: defaults, then a file, then LIPPEJOB_* variables, then flags; validated once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.settings import SettingsError, load_settings


def test_layers_in_order(tmp_path: Path) -> None:
    file = tmp_path / "settings.json"
    file.write_text(json.dumps({"port": 9000, "early_join_margin": 600}))
    settings = load_settings(
        file, env={"LIPPEJOB_PORT": "9100", "LIPPEJOB_HTTP": "true"}, host="0.0.0.0"
    )
    assert settings.port == 9100 and settings.http is True
    assert settings.early_join_margin == 600
    assert settings.base_url() == "http://localhost:9100"
    flagged = load_settings(file, env={"LIPPEJOB_PORT": "9100"}, port=9200)
    assert flagged.port == 9200 and flagged.base_url() == "https://127.0.0.1:9200"


def test_json_lists_from_the_environment() -> None:
    servers = [
        {"urls": "turn:turn.example.org:443?transport=tcp", "username": "u", "credential": "p"}
    ]
    settings = load_settings(
        env={
            "LIPPEJOB_ICE_SERVERS": json.dumps(servers),
            "LIPPEJOB_MEDIA_ANNOUNCE_IPS": '["203.0.113.7"]',
        }
    )
    assert settings.ice_servers == tuple(servers)
    assert settings.media_announce_ips == ("203.0.113.7",)
    assert settings.media_ice_servers == ()  # the SFU uses none unless told to
    phone = load_settings(env={"LIPPEJOB_SUPPORT_PHONE": "+49 5231 123-0"})
    assert phone.support_phone == "+49 5231 123-0"
    contact = load_settings(
        env={
            "LIPPEJOB_SUPPORT_HOURS": "Mo-Fr 8:00-16:00",
            "LIPPEJOB_CONTROLLER_NAME": "Jobcenter Lippe",
            "LIPPEJOB_CONTROLLER_ADDRESS": "Musterstraße 1, 32756 Detmold",
            "LIPPEJOB_DPO_CONTACT": "datenschutz@jobcenter-lippe.example",
        }
    )
    assert contact.support_hours == "Mo-Fr 8:00-16:00"
    assert contact.controller_address == "Musterstraße 1, 32756 Detmold"
    assert contact.dpo_contact == "datenschutz@jobcenter-lippe.example"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"LIPPEJOB_PORT": "eighty"}, "bad value for port"),
        ({"LIPPEJOB_TOKEN_TTL": "3600"}, "token_ttl"),
        ({"LIPPEJOB_COLOUR": "red"}, "unknown settings: colour"),
        ({"LIPPEJOB_ICE_SERVERS": '{"urls": "x"}'}, "JSON list"),
        ({"LIPPEJOB_ICE_SERVERS": '[{"user": "x"}]'}, "urls"),
        ({"LIPPEJOB_MEDIA_PORT_MIN": "50000", "LIPPEJOB_MEDIA_PORT_MAX": "40000"}, "port_min"),
        ({"LIPPEJOB_ICE_TRANSPORT_POLICY": "turn"}, "'all' or 'relay'"),
        ({"LIPPEJOB_ICE_TRANSPORT_POLICY": "relay"}, "needs a TURN server"),
        ({"LIPPEJOB_MEDIA_DRAIN_TIMEOUT": "-1"}, "media_drain_timeout"),
        ({"LIPPEJOB_NODE_HEARTBEAT": "5", "LIPPEJOB_NODE_TTL": "4"}, "node_heartbeat < node_ttl"),
        ({"LIPPEJOB_NODE_HEARTBEAT": "0"}, "node_heartbeat < node_ttl"),
        ({"LIPPEJOB_MEDIA_ICE_SERVERS": '[{"user": "x"}]'}, "urls"),
        ({"LIPPEJOB_SUPPORT_PHONE": "<a href=x>call</a>"}, "support_phone"),
        ({"LIPPEJOB_SUPPORT_PHONE": "0" * 41}, "support_phone"),
        ({"LIPPEJOB_SUPPORT_HOURS": "Mo-Fr\n8-16"}, "support_hours must be one line"),
        ({"LIPPEJOB_DPO_CONTACT": "x" * 201}, "dpo_contact must be one line"),
        ({"LIPPEJOB_CONTROLLER_ADDRESS": "Straße 1\u202e"}, "controller_address"),
        ({"LIPPEJOB_CAMERA_WIDTH": "4000"}, "camera_width"),
        ({"LIPPEJOB_CAMERA_FRAME_RATE": "0"}, "camera_frame_rate"),
        ({"LIPPEJOB_SCORM_IMPORTERS": "[1]"}, "scorm_importers"),
        ({"LIPPEJOB_SCORM_IMPORTERS": "becker"}, "bad value for scorm_importers|JSON"),
        ({"LIPPEJOB_SCORM_MAX_FILES": "0"}, "scorm_max_"),
        ({"LIPPEJOB_SCORM_MAX_RATIO": "0"}, "scorm_max_ratio"),
    ],
)
def test_bad_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env=env)


def test_cert_and_key_go_together() -> None:
    with pytest.raises(SettingsError, match="together"):
        load_settings(env={}, cert=Path("a.pem"))


def test_bad_settings_file(tmp_path: Path) -> None:
    file = tmp_path / "s.json"
    file.write_text("[1, 2]")
    with pytest.raises(SettingsError, match="JSON object"):
        load_settings(file, env={})
    file.write_text("{not json")
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(file, env={})


def test_scorm_importers_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(env={"LIPPEJOB_SCORM_IMPORTERS": '["becker", "wolf"]'})
    assert settings.scorm_importers == ("becker", "wolf")
    assert settings.scorm_path() == settings.data_dir / "scorm"
    moved = load_settings(env={"LIPPEJOB_SCORM_DIR": str(tmp_path)})
    assert moved.scorm_path() == tmp_path
