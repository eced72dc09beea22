import pytest
from django.core.exceptions import ImproperlyConfigured

from labplatform.env import env_bool, env_int, env_list, env_secret, env_url


def test_a_boolean_reads_true_and_false_words(monkeypatch):
    monkeypatch.setenv("FLAG", "True")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "off")
    assert env_bool("FLAG", True) is False


def test_an_unset_boolean_takes_its_default(monkeypatch):
    monkeypatch.delenv("FLAG", raising=False)
    assert env_bool("FLAG", True) is True


def test_a_malformed_boolean_stops_start_up_naming_the_variable(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match=r"FLAG='maybe' is not a boolean"):
        env_bool("FLAG", False)


def test_an_integer_below_its_minimum_is_refused(monkeypatch):
    monkeypatch.setenv("COUNT", "0")
    with pytest.raises(ImproperlyConfigured, match="COUNT=0 must be at least 1"):
        env_int("COUNT", 5, minimum=1)
    monkeypatch.setenv("COUNT", "ten")
    with pytest.raises(ImproperlyConfigured, match="COUNT='ten' is not an integer"):
        env_int("COUNT", 5)


def test_a_list_is_split_on_commas(monkeypatch):
    monkeypatch.setenv("HOSTS", "a.example, b.example,,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]


def test_a_secret_comes_from_its_file(monkeypatch, tmp_path):
    secret_file = tmp_path / "key"
    secret_file.write_text("s3cret\n")
    monkeypatch.delenv("KEY", raising=False)
    monkeypatch.setenv("KEY_FILE", str(secret_file))
    assert env_secret("KEY") == "s3cret"


def test_a_secret_file_that_cannot_be_read_is_named(monkeypatch, tmp_path):
    monkeypatch.delenv("KEY", raising=False)
    monkeypatch.setenv("KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match=r"KEY_FILE=.*missing.* cannot be read"):
        env_secret("KEY")


def test_a_secret_set_twice_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("KEY", "a")
    monkeypatch.setenv("KEY_FILE", str(tmp_path / "key"))
    with pytest.raises(ImproperlyConfigured, match="set KEY or KEY_FILE, not both"):
        env_secret("KEY")


def test_a_required_secret_that_is_missing_is_named(monkeypatch):
    monkeypatch.delenv("KEY", raising=False)
    monkeypatch.delenv("KEY_FILE", raising=False)
    with pytest.raises(ImproperlyConfigured, match=r"KEY \(or KEY_FILE\) must be set"):
        env_secret("KEY")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mysql://db/x", "must be a URL with scheme"),
        ("postgres:///nohost", "has no host"),
        ("postgres://db:notaport/x", "has an invalid port"),
    ],
)
def test_a_malformed_url_is_refused_naming_the_variable(monkeypatch, value, message):
    monkeypatch.setenv("DATABASE_URL", value)
    with pytest.raises(ImproperlyConfigured, match=f"DATABASE_URL=.*{message}"):
        env_url("DATABASE_URL", "sqlite:///x", schemes={"sqlite", "postgres"})
