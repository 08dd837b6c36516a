from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from index import _core


@dataclass(frozen=True)
class Name:
    tokens: tuple[str, ...]
    core_tokens: tuple[str, ...]

    @property
    def core(self) -> str:
        return " ".join(self.core_tokens)

    @property
    def full(self) -> str:
        return " ".join(self.tokens)


def normalize_name(raw: str) -> Name:
    tokens, core = _core.normalize_name(raw)
    return Name(tuple(tokens), tuple(core))


def identifier(kind: str, raw: str, country_code: str = "") -> str | None:
    found = _core.identifiers(
        [raw] if kind == "phone" else [], [raw] if kind == "email" else [],
        [raw] if kind == "domain" else [], country_code,
    )  # fmt: skip
    return found[0][1] if found else None


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


def test_identifiers_reach_canonical_forms() -> None:
    assert identifier("phone", "021 5555 1234", "CN") == "+862155551234"
    assert identifier("phone", "+86 (21) 5555-1234") == "+862155551234"
    assert identifier("phone", "+44 (0)20 7946 0958") == "+442079460958"
    assert identifier("phone", "not a phone") is None
    assert identifier("phone", "12", "DE") is None
    assert identifier("email", " Sales+Q3@Ex.COM ") == "sales@ex.com"
    assert identifier("email", "no-at-sign") is None
    assert identifier("email", "a@b") is None
    assert identifier("email", "+tag@ex.com") is None
    assert identifier("email", "a@ex..com") is None
    assert identifier("domain", "https://www.Ex.com/shop?x=1") == "ex.com"
    assert identifier("domain", "bücher.example") == "xn--bcher-kva.example"
    assert identifier("domain", "localhost") is None
    assert identifier("domain", "a..b") is None


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
