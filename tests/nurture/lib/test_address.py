import pytest

from nurture.lib.address import postal_zone


@pytest.mark.parametrize(
    ("country", "code", "zone"),
    [
        ("US", "10001", "100"),
        ("US", "94105-1234", "941"),
        ("us", " 02134 ", "021"),
        ("GB", "SW1A 1AA", "SW1A"),
        ("GB", "sw1a  1aa", "SW1A"),
        ("GB", "BS14RN", "BS1"),
        ("GB", "M1 1AE", "M1"),
        ("CA", "K1A 0B1", "K1A"),
        ("IE", "D02 X285", "D02"),
        ("DE", "10115", "10"),
        ("FR", "75008", "75"),
        ("NL", "1012 AB", "1012"),
        ("", "12345", "12"),
        ("GB", "", ""),
    ],
)
def test_postal_zone(country, code, zone):
    assert postal_zone(country, code) == zone
