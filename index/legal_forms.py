"""Word lists for name normalisation: legal forms per jurisdiction, generic business words,
name particles, and the pinyin words that Chinese names are segmented into.

Latin forms are written as they look after normalisation: case-folded, dots and apostrophes
removed ("d.o.o." → "doo"), runs of single letters joined ("S. de R.L." → "s de rl").
"""

from __future__ import annotations


def _forms(*phrases: str) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(p.split()) for p in phrases)


# Suffixes, by jurisdiction. Each is stripped only from the end of a name, and never when it
# would leave the name empty.
LATIN_LEGAL_SUFFIXES = _forms(
    # CN / HK / TW / KR / TH / generic English "company limited"
    "co ltd",
    "coltd",
    "co limited",
    "company limited",
    "company ltd",
    "youxian gongsi",
    "youxiangongsi",
    "gufen youxian gongsi",
    "youxian zeren gongsi",
    "ltd",
    "limited",
    "co",
    "company",
    "corp",
    "corporation",
    "inc",
    "incorporated",
    # IN / PK
    "pvt ltd",
    "pvt",
    "private limited",
    "pvtltd",
    "opc pvt ltd",
    # DE / AT / CH
    "gmbh",
    "gmbh co kg",
    "gmbh co kg",
    "ag",
    "kg",
    "ug",
    "ohg",
    "gbr",
    "ev",
    "kgaa",
    # NL / BE
    "bv",
    "nv",
    "vof",
    "bvba",
    "srl",
    # FR
    "sarl",
    "sa",
    "sas",
    "sasu",
    "eurl",
    "sci",
    "snc",
    # IT
    "spa",
    "sapa",
    "scarl",
    # ES / LatAm
    "sl",
    "slu",
    "sa cv",
    "sa de cv",
    "s de rl de cv",
    "s de rl",
    "sapi de cv",
    "gmbh und co kg",
    "s rl cv",
    "s rl",
    "sapi cv",
    "sc",
    "ltda",
    "eirl",
    "sac",
    "saa",
    "sacifi",
    "cia ltda",
    # PT / BR
    "lda",
    "me",
    "eireli",
    "epp",
    # RU / UA / BY / KZ (also in Cyrillic, handled before transliteration)
    "ooo",
    "oao",
    "zao",
    "pao",
    "ao",
    "too",
    "tov",
    "odo",
    # TR
    "ltd sti",
    "ltdsti",
    "sti ltd",
    "as",
    "ticaret ltd sti",
    "san ve tic ltd sti",
    "san tic ltd sti",
    # IR
    "co pjs",
    "pjs",
    # AE
    "llc",
    "fze",
    "fzco",
    "fz llc",
    "fzllc",
    "fzc",
    "dmcc",
    # US / UK
    "lp",
    "llp",
    "plc",
    "pllc",
    "lllp",
    "pc",
    # VN
    "jsc",
    "jsco",
    "co jsc",
    "cong ty tnhh",
    "cong ty tnhh mtv",
    "tnhh mtv",
    "tnhh",
    "mtv",
    "cong ty co phan",
    "cong ty hop danh",
    "dntn",
    "doanh nghiep tu nhan",
    "trach nhiem huu han",
    "cong ty trach nhiem huu han",
    "mot thanh vien",
    "tnhh mot thanh vien",
    "cong ty tnhh mot thanh vien",
    # KR (romanised)
    "yuhanhoesa",
    "yuhan hoesa",
    "jusikhoesa",
    "jusik hoesa",
    # BG
    "ood",
    "eood",
    "ad",
    "ead",
    # RS / HR / SI / BA / ME / MK
    "doo",
    "dd",
    "dooel",
    # PL
    "sp z oo",
    "spzoo",
    "sp j",
    "sp k",
    "sa",
    # CZ / SK
    "sro",
    "spol sro",
    "spol s ro",
    "vos",
    # JP
    "kk",
    "kabushiki kaisha",
    "kabushikikaisha",
    "gk",
    "godo kaisha",
    "yugen kaisha",
    # GR
    "ae",
    "epe",
    "ike",
    "oe",
    "ee",
    # HU / RO / FI / SE / NO / DK
    "kft",
    "zrt",
    "nyrt",
    "oy",
    "oyj",
    "ab",
    "asa",
    "aps",
    "a s",
    # AU / NZ / MY / SG / ID / PH
    "pty ltd",
    "pty",
    "sdn bhd",
    "bhd",
    "pte ltd",
    "pte",
    "tbk",
    "inc",
    # generic multi-word tails
    "and co",
    "co kg",
    "ltd co",
    "group co ltd",
    "holdings ltd",
)

# Tokens that are a legal form wherever they stand ("PLC Shchiritsya", "Natt Import Pvt Export").
LEGAL_TOKENS_ANYWHERE = frozenset(
    "ltd llc plc gmbh pvt sti ltdsti doo sro spzoo inc corp limited ooo zao oao pao tov eood ood "
    "sarl ltda bv kft fze fzco youxian gongsi youxiangongsi pte sdn bhd pty llp jsc coltd "
    "pvtltd hanghunswn brisath chamkad mhachn".split()
)

# Chinese legal forms written syllable by syllable ("YouXianGongSi" split at its capitals).
LATIN_LEGAL_SUFFIXES |= _forms(
    "you xian gong si", "yu xian gong si", "gong si", "you xian", "gu fen you xian gong si",
    "yuxian gongsi", "gufen youxian gongsi",
)  # fmt: skip

# Prefixes: forms written before the name.
LATIN_LEGAL_PREFIXES = _forms(
    "ooo",
    "oao",
    "zao",
    "pao",
    "ao",
    "too",
    "tov",
    "odo",
    "chp",
    "tdv",
    "cong ty tnhh",
    "cong ty co phan",
    "cong ty trach nhiem huu han",
    "doanh nghiep tu nhan",
    "cong ty",
    "ctcp",
    "cty tnhh",
    "cty",
    "sherkat",
    "sherkat e",
    "sherkate",
    "pt",
    "cv",
    "ud",
    "pp",
    "pt tbk",
    "kabushiki kaisha",
    "kabushikikaisha",
    "yugen kaisha",
    "jusik hoesa",
    "hanghunswnchamkad",
    "hanghunswnsamay",
    "brisath",
    "hanghunswn",
    "jusikhoesa",
    "jusighoesa",
    "yuhanhoesa",
    "yuhan hoesa",
)

# Legal forms in their own script, removed before transliteration (longest first).
NATIVE_LEGAL_FORMS = (
    "股份有限公司",
    "有限责任公司",
    "有限責任公司",
    "有限公司",
    "株式会社",
    "有限会社",
    "合同会社",
    "合資会社",
    "合资会社",
    "公司",
    "(株)",
    "㈱",
    "주식회사",
    "유한회사",
    "(주)",
    "㈜",
    "(유)",
    "㈲",
    "(มหาชน)",
    "มหาชน",
    "บริษัท",
    "จำกัด",
    "ห้างหุ้นส่วน",
    "شركة",
    "شرکت",
    "ش.م.م",
    "Công ty Trách nhiệm hữu hạn một thành viên",
    "Công ty Trách nhiệm hữu hạn",
    "Công ty TNHH một thành viên",
    "Công ty TNHH MTV",
    "Công ty TNHH",
    "Công ty Cổ phần",
    "Công ty Hợp danh",
    "Doanh nghiệp tư nhân",
    "Công ty",
)

# Generic business words: each maps to one canonical token. They still count in a name's full
# form but not in its core, so "Hongda Chemical" vs "Weida Chemical" compares "hongda"/"weida".
_GENERIC_GROUPS = {
    "trading": "trade trading traders trader maoyi handel handels commerce commercial "
    "comercio comercial commerciale ticaret torgovyy torgovy torgovaya tejarat tijarah tjrh "
    "trdg trd",
    "chemical": "chemical chemicals chem chemie chemistry chemisch quimica quimicos chimie "
    "chimica khimiya khimprom kimya huagong huaxue ekhmi",
    "technology": "technology technologies tech technik tecnologia teknoloji tekhnologii keji",
    "international": "international intl internacional internationale intercontinental guoji",
    "group": "group groupe grupo gruppe jituan holding holdings grp",
    "impex": "import export imports exports impex imp exp jinchukou importexport",
    "logistics": "logistics logistic logistica logistik wuliu shipping freight forwarding "
    "forwarders cargo express courier kuaidi transport transportation",
    "pharma": "pharma pharmaceutical pharmaceuticals pharmaceutica farma farmaceutica "
    "farmaceutico yiyao zhiyao pharm medical",
    "biotech": "biotech biotechnology biological biologicals bio shengwu biotek",
    "industrial": "industrial industries industry industria industrie sanayi shiye gongye mfg "
    "manufacturing",
    "science": "science sciences scientific kexue research",
    "supply": "supply supplies supplier suppliers materials material products product",
    "global": "global worldwide world",
    "services": "services service solutions consulting svcs svc srvcs",
    "enterprise": "enterprise enterprises firm business",
    "development": "development developments fazhan",
}
GENERIC_CANONICAL: dict[str, str] = {
    word: canonical for canonical, words in _GENERIC_GROUPS.items() for word in words.split()
}
GENERIC_CANONICAL.update({canonical: canonical for canonical in _GENERIC_GROUPS})

# Particles that carry no identity: articles, conjunctions and name particles.
NAME_PARTICLES = frozenset("the and of for et und y e va i al el ul bin ibn bint".split())

# Pinyin words that Chinese names are segmented into before the default pairing of syllables.
PINYIN_WORDS = frozenset(
    "huagong maoyi keji shengwu yiyao zhiyao jituan guoji shiye gongye wuliu kuaidi kexue "
    "fazhan jinchukou youxian gongsi shanghai beijing shenzhen guangzhou tianjin wuhan chengdu "
    "hangzhou nanjing chongqing suzhou xian hefei jinan qingdao dalian xiamen ningbo zhengzhou "
    "changsha shijiazhuang haerbin xianggang".split()
)
