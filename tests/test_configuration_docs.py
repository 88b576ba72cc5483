"""Every setting is documented, with its real default, in ``.env.example`` and the README."""

from __future__ import annotations

import re
from pathlib import Path

from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def env_names() -> dict[str, str]:
    """Each setting's primary env variable name and its default as text."""
    names = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        env = alias.choices[0] if alias is not None else name.upper()  # type: ignore[union-attr]
        default = "" if field.default is None else str(field.default)
        names[str(env)] = default
    return names


def test_env_example_lists_every_setting_with_its_default():
    text = (ROOT / ".env.example").read_text()
    listed = dict(re.findall(r"^([A-Z0-9_]+)=(.*)$", text, flags=re.M))
    assert listed == env_names()


def test_readme_configuration_table_names_every_setting():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in env_names() if f"`{name}`" not in readme]
    assert missing == []


def test_the_readme_signature_check_accepts_our_signatures():
    from shared.delivery.signing import sign

    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"```python\n(import base64, hashlib, hmac\n.*?)```", readme, re.S)
    assert snippet, "README shows a verification snippet"
    namespace: dict = {}
    exec(snippet.group(1), namespace)
    secret, body = "whsec_c2VjcmV0LWtleQ==", b'{"jobId":"j1"}'
    headers = {"webhook-id": "j1", "webhook-timestamp": "1700000000",
               "webhook-signature": sign(secret, "j1", 1700000000, body)}  # fmt: skip
    assert namespace["verify"](secret, headers, body)
    assert not namespace["verify"](secret, headers, body + b" ")
