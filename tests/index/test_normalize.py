from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.normalize import (
    canonical_domain,
    canonical_email,
    canonical_phone,
    normalize_name,
    normalize_place,
    normalize_postcode,
    skeleton,
)

SAME_NAMES = [
    ("SIS DOO", "SIS d.o.o."),
    ("上海宏达化工有限公司", "Shanghai Hongda Chemical Co., Ltd"),
    ("ООО «Ромашка»", "Romashka LLC"),
    ("Acme GmbH & Co. KG", "ACME"),
    ("Grupo López S.A. de C.V.", "Lopez Group"),
    ("Mehta Pharma Pvt. Ltd.", "MEHTA PHARMACEUTICALS PRIVATE LIMITED"),
    ("Sherkat-e Pars Co.", "Pars"),
    ("Công ty TNHH Minh Phát", "Minh Phat Co., Ltd"),
    ("Παπαδόπουλος Α.Ε.", "Papadopoulos SA"),
    ("บริษัท สยาม เคมี จำกัด", "Syam Chemical Co., Ltd."),
    ("Yıldız Kimya Ltd. Şti.", "Yildiz Chemical"),
    ("Nowak sp. z o.o.", "NOWAK S.A."),
    ("Novák s.r.o.", "Novak a.s."),
    ("Petrov EOOD", "Petrov OOD"),
    ("Al Noor Trading FZE", "AL-NOOR TRADING LLC"),
    ("Hongda Inteprnational", "Hongda International"),
    ("PLC Shchiritsya", "Shchiritsya PLC"),
    ("Minh Phát Công ty TNHH MTV", "Minh Phat"),
    ("Đặng Bùi Công ty Trách nhiệm hữu hạn", "Dang Bui Doanh nghiep tu nhan"),
    ("YuHanHoeSa DaOlByuTi", "(유) 다올뷰티"),
    ("AngGeXinXiWangLuoYouXianGongSi", "昂格信息网络有限公司"),
    ("Dowerg Girschner Tgechnology GmbH", "Dowerg Girschner"),
    ("Bae Gang Gruop", "Bae Gang Group"),
    ("Pu Gu Supply Limitzed", "Pu Gu"),
]


@pytest.mark.parametrize(("a", "b"), SAME_NAMES)
def test_known_pairs_meet_after_normalisation(a: str, b: str) -> None:
    assert normalize_name(a).core == normalize_name(b).core
    assert normalize_name(a).core


def test_generic_words_leave_the_core_but_stay_in_the_name() -> None:
    name = normalize_name("Hongda Chemical Trading")
    assert name.tokens == ("hongda", "chemical", "trading")
    assert name.core_tokens == ("hongda",)
    only_generic = normalize_name("Global Trading")
    assert only_generic.core_tokens == only_generic.tokens == ("global", "trading")


@pytest.mark.parametrize(
    ("raw", "core"),
    [
        ("Rahul Sharma", "rahul sharma"),  # one letter from "pharma", and a surname
        ("Parma Foods", "parma foods"),
        ("Hande Yilmaz", "hande yilmaz"),  # "handel" less its last letter
        ("Margo Cargo", "margo"),
        ("McDonald LeBlanc", "mcdonald leblanc"),  # capitals inside, but not pinyin
    ],
)
def test_names_near_generic_words_are_kept(raw: str, core: str) -> None:
    assert normalize_name(raw).core == core


def test_legal_form_alone_is_not_stripped_to_nothing() -> None:
    assert normalize_name("Ltd").tokens == ("ltd",)
    assert normalize_name("").tokens == ()


@given(st.text(max_size=60))
def test_normalisation_is_idempotent(raw: str) -> None:
    once = normalize_name(raw)
    assert normalize_name(once.full).full == once.full


@given(st.text(max_size=60))
def test_normalised_names_are_plain_lowercase_ascii_tokens(raw: str) -> None:
    for token in normalize_name(raw).tokens:
        assert token.isascii() and token.isalnum() and token == token.lower()


def test_skeleton_folds_vowel_variants() -> None:
    assert skeleton("mohammed") == skeleton("muhammad") == "md"
    assert skeleton("natalya") == skeleton("natallia")


def test_identifiers_reach_canonical_forms() -> None:
    assert canonical_phone("021 5555 1234", "CN") == "+862155551234"
    assert canonical_phone("+86 (21) 5555-1234") == "+862155551234"
    assert canonical_phone("+44 (0)20 7946 0958") == "+442079460958"
    assert canonical_phone("not a phone") is None
    assert canonical_phone("12", "DE") is None
    assert canonical_email(" Sales+Q3@Ex.COM ") == "sales@ex.com"
    assert canonical_email("no-at-sign") is None
    assert canonical_email("a@b") is None
    assert canonical_email("+tag@ex.com") is None
    assert canonical_email("a@ex..com") is None
    assert canonical_domain("https://www.Ex.com/shop?x=1") == "ex.com"
    assert canonical_domain("bücher.example") == "xn--bcher-kva.example"
    assert canonical_domain("localhost") is None
    assert canonical_domain("a..b") is None
    assert normalize_postcode("sw1a 1aa") == "SW1A1AA"
    assert normalize_place("São Paulo") == "sao paulo"
    assert normalize_place("Москва") == "moskva"


@pytest.mark.parametrize(
    ("raw", "core"),
    [
        ("Ulker Sakaria Scyence Ltd. Sti.", "ulker sakaria"),  # science, spelt as it sounds
        ("Fei Meng Grup Iouxian Gongsi", "fei meng"),
        ("Yao Ming", "yao ming"),  # folds like "yiyao" (pharma) but is a surname
    ],
)
def test_generic_and_legal_words_spelt_as_they_sound(raw: str, core: str) -> None:
    assert normalize_name(raw).core == core
