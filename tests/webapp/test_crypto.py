from cryptography.fernet import Fernet

from webapp import crypto


def test_round_trip_and_rotation(app):
    secret = crypto.encrypt("s3cret-password")
    assert "s3cret" not in secret and secret.startswith("fernet:")
    assert crypto.decrypt(secret) == "s3cret-password"
    old = app.config["HERALD_ENCRYPTION_KEY"]
    app.config["HERALD_ENCRYPTION_KEY"] = f"{Fernet.generate_key().decode()},{old}"
    assert crypto.decrypt(secret) == "s3cret-password"  # the old key still reads it
    rotated = crypto.rotate(secret)
    app.config["HERALD_ENCRYPTION_KEY"] = app.config["HERALD_ENCRYPTION_KEY"].split(",")[0]
    assert crypto.decrypt(rotated) == "s3cret-password"
    try:
        crypto.decrypt(secret)
    except ValueError as exc:
        assert "HERALD_ENCRYPTION_KEY" in str(exc)
    else:
        raise AssertionError("decrypting without the old key must fail")
