"""Every match type on realistic Chinese CRM values, positives and negatives.

Each equivalence named in issue #2 is asserted through a RuleSet (prepare + compare, both directions), so
the tests exercise the normalisers, the comparators and the rule evaluation together.
"""

from __future__ import annotations

from itertools import combinations

import pytest
from _helpers import compare, matches, one_rule
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_dedup.engine import RuleSet
from crm_dedup.engine.match import COMPARATORS
from crm_dedup.engine.normalize import (
	company_core,
	normalize_email,
	normalize_id_code,
	normalize_phone,
	normalize_text,
	person_variants,
	split_emails,
	split_phones,
)

# ---- company_name ------------------------------------------------------------------------------------
JINLING = [
	"金陵餐饮有限公司",
	"金陵餐饮有限责任公司",
	"南京金陵餐饮有限公司",
	"金陵餐饮(南京)有限公司",
	"金陵餐饮（南京）有限公司",  # full-width brackets, as typed with a Chinese IME
	"南京市金陵餐饮有限公司",
	"江苏省南京市金陵餐饮有限公司",
	"金陵餐饮股份有限公司",
	"金陵餐饮集团有限公司",
	"金陵餐饮(中国)有限公司",
	" 金陵餐饮 有限公司 ",
]


@pytest.mark.parametrize("a,b", list(combinations(JINLING, 2)))
def test_company_name_legal_form_region_and_branch_are_insensitive(a, b):
	rules = one_rule("company_name")
	m = compare(rules, {"v": a}, {"v": b})
	assert m is not None, f"{a} should match {b}"
	assert m.score == 100.0
	assert matches(rules, a, b)


@pytest.mark.parametrize(
	"branch",
	[
		"金陵餐饮有限公司南京分公司",
		"金陵餐饮有限公司(南京分公司)",
		"金陵餐饮有限公司上海浦东分公司",  # 浦东 is not in the region list: the branch is cut at 有限公司
		"金陵餐饮股份有限公司北京朝阳营业部",
		"金陵餐饮南京分公司",
	],
)
def test_company_name_branches_match_their_company(branch):
	assert matches(one_rule("company_name"), branch, "金陵餐饮有限公司")
	assert not matches(one_rule("company_name"), branch, "秦淮餐饮有限公司")


def test_company_core_of_the_issue_examples_is_the_trade_name():
	assert {company_core(n) for n in JINLING} == {"金陵餐饮"}


@pytest.mark.parametrize(
	"names",
	[
		[
			"Acme Trading Co., Ltd.",
			"ACME TRADING LIMITED",
			"Acme Trading Inc.",
			"acme trading llc",
			"Acme Trading GmbH",
		],
		["Acme Trading Co. Ltd", "Acme Trading Company", "Acme Trading Corp.", "The Acme Trading Co., Ltd."],
		["Suzhou Precision Machinery Co., Ltd.", "SUZHOU PRECISION MACHINERY CO LTD"],
	],
)
def test_company_name_english_legal_forms(names):
	rules = one_rule("company_name")
	for a, b in combinations(names, 2):
		assert matches(rules, a, b), (a, b)


def test_company_name_traditional_and_full_width():
	rules = one_rule("company_name")
	assert matches(rules, "深圳華強電子有限公司", "深圳华强电子有限公司")
	assert matches(rules, "ＡＢＣ國際貿易有限公司", "ABC国际贸易有限公司")


@pytest.mark.parametrize(
	"a,b",
	[
		# different 字号 in the same city: the whole point of the legal-form/region stripping is NOT to
		# make these equal
		("南京金陵餐饮有限公司", "南京秦淮餐饮有限公司"),
		("北京燕山建材集团有限公司", "北京燕京建材集团有限公司"),
		("上海远大科技有限公司", "上海远东科技有限公司"),
		# a region that IS the brand is kept: 南京银行 and 北京银行 are different banks
		("南京银行股份有限公司", "北京银行股份有限公司"),
		("Acme Trading Co., Ltd.", "Apex Trading Co., Ltd."),
	],
)
def test_company_name_different_companies_do_not_match(a, b):
	assert not matches(one_rule("company_name"), a, b)


def test_company_name_threshold():
	# 字号 金陵 on both, industries 餐饮店 / 餐饮馆 differ: the whole-name score, cores 金陵餐饮店 and 金陵餐饮馆
	# (one substitution over 10 characters) -> Indel similarity 1 - 2/10 = 80
	a, b = "金陵餐饮店", "南京金陵餐饮馆"
	m = compare(one_rule("company_name", threshold=80), {"v": a}, {"v": b})
	assert m is not None and m.score == pytest.approx(80.0)
	assert compare(one_rule("company_name", threshold=81), {"v": a}, {"v": b}) is None
	assert compare(one_rule("company_name"), {"v": a}, {"v": b}) is None  # default threshold 90


def test_company_name_explanation_says_why():
	m = compare(
		one_rule("company_name", fields=("customer_name",)),
		{"customer_name": "南京金陵餐饮有限公司"},
		{"customer_name": "金陵餐饮(南京)有限公司"},
	)
	assert m.hits[0].note == "字号 金陵, industry 餐饮: same name once legal form and region are set aside"
	assert "南京金陵餐饮有限公司" in m.explain and "金陵餐饮(南京)有限公司" in m.explain


# ---- person_name -------------------------------------------------------------------------------------
ZHANG_WEI = ["张伟", "Zhang Wei", "zhangwei", "Wei Zhang", "ZHANG WEI", "Zhang-Wei", "張偉", "WEI, Zhang"]


@pytest.mark.parametrize("a,b", list(combinations(ZHANG_WEI, 2)))
def test_person_name_pinyin_aware(a, b):
	assert matches(one_rule("person_name"), a, b)


def test_person_name_scores_and_notes():
	rules = one_rule("person_name")
	same = compare(rules, {"v": "张伟"}, {"v": "張偉"})  # traditional folded: the same characters
	assert (same.score, same.hits[0].note) == (100.0, "same characters")
	pinyin = compare(rules, {"v": "张伟"}, {"v": "Wei Zhang"})
	assert (pinyin.score, pinyin.hits[0].note) == (100.0, "same pinyin")
	# 章伟 is a homophone written with other characters: likely a typo, but less certain than 张伟 itself
	homophone = compare(rules, {"v": "张伟"}, {"v": "章伟"})
	assert homophone.score == 95.0 and homophone.hits[0].note == "same pinyin, different characters"
	assert compare(one_rule("person_name", threshold=96), {"v": "张伟"}, {"v": "章伟"}) is None


@settings(max_examples=300, deadline=None)
@given(
	st.lists(
		st.one_of(
			st.sampled_from(ZHANG_WEI + ["章伟", "张韦", "Zang Wei", "单田芳", "Shan Tianfang", "王", "Li"]),
			st.text(alphabet=st.sampled_from("张章伟韦單单田芳王李 ZhangWeiShanLi-,"), max_size=8),
			st.text(max_size=10),
		),
		min_size=2,
		max_size=6,
	)
)
def test_person_name_score_is_the_score_of_compare(names):
	cmp = COMPARATORS["person_name"]
	forms = [p[0] for n in names if (p := cmp.prepare(n, "CN")) is not None]
	for a in forms:
		for b in forms:
			assert cmp.score(a, b) == cmp.compare(a, b).score


@pytest.mark.parametrize(
	"a,b",
	[
		("单田芳", "Shan Tianfang"),
		("曾志伟", "Zeng Zhiwei"),
		("吕布", "Lü Bu"),
		("吕布", "Lv Bu"),
		("李娜", "Li Na"),
	],
)
def test_person_name_surname_readings(a, b):
	# 单 and 曾 have several readings; the surname one (shan, zeng) must be among them
	assert matches(one_rule("person_name"), a, b)


def test_person_name_fuzzy_threshold():
	# "wei zhang" vs "wei zang" (z/zh confusion): one deletion over 17 characters -> 1 - 1/17 = 94.1
	m = compare(one_rule("person_name"), {"v": "张伟"}, {"v": "Zang Wei"})
	assert m is not None and m.score == pytest.approx(100 * (1 - 1 / 17))
	assert compare(one_rule("person_name", threshold=95), {"v": "张伟"}, {"v": "Zang Wei"}) is None
	# wei/wen is a substitution (Indel distance 2 over 18): 88.9, below the default 90
	assert compare(one_rule("person_name"), {"v": "Zhang Wei"}, {"v": "Zhang Wen"}) is None
	assert compare(one_rule("person_name", threshold=88), {"v": "Zhang Wei"}, {"v": "Zhang Wen"}) is not None


@pytest.mark.parametrize(
	"a,b", [("张伟", "李伟"), ("张伟", "张伟明"), ("王芳", "汪洋"), ("John Smith", "Zhang Wei")]
)
def test_person_name_different_people_do_not_match(a, b):
	assert not matches(one_rule("person_name"), a, b)


def test_person_variants_readings():
	assert person_variants("张伟") == (("zhang", "wei"),)
	assert person_variants("zhangwei") == (("zhang", "wei"),)
	assert ("shan", "tian", "fang") in person_variants("单田芳")
	assert person_variants("") == () and person_variants("  ·  ") == ()


# ---- phone -------------------------------------------------------------------------------------------
MOBILE = [
	"+86 136-1234-5678",
	"13612345678",
	"0086 13612345678",
	"008613612345678",
	"86 136 1234 5678",
	"+86(136)12345678",
	"136 1234 5678",
	"１３６１２３４５６７８",  # full-width digits
	"136１２３４５６７８",  # half typed with a Chinese IME in full-width mode
	"13612345678 王先生",  # a name written after the number
	"手机：136-1234-5678",
	"Mob: 136 1234 5678",
]


@pytest.mark.parametrize("value", MOBILE)
def test_phone_mobile_forms_are_e164(value):
	assert normalize_phone(value) == "+8613612345678"
	assert matches(one_rule("phone"), value, "13612345678")


LANDLINE = [
	"010-12345678",
	"(010)12345678",
	"（010）12345678",
	"010 1234 5678",
	"+86 10 1234 5678",
	"0086-10-12345678",
	"+86 (0)10 12345678",
	"010-12345678 ext 123",
	"010-12345678 x12",
	"010-12345678转8001",
	"010-12345678-8001",  # the usual Chinese way to write an extension
	"010-12345678（分机8001）",
	"tel: 010-12345678",
	"010-12345678 (office)",
]


@pytest.mark.parametrize("value", LANDLINE)
def test_phone_landline_with_area_code_extensions_ignored(value):
	assert normalize_phone(value) == "+861012345678"


def test_phone_landlines_of_different_cities_differ():
	# the same local number in Beijing and Shanghai are two different lines
	assert not matches(one_rule("phone"), "010-62345678", "021-62345678")
	assert normalize_phone("0571-87654321") == "+8657187654321"


def test_phone_different_numbers_do_not_match():
	rules = one_rule("phone")
	assert not matches(rules, "13612345678", "13612345679")
	assert not matches(rules, "+86 136 1234 5678", "+852 6123 4567")


def test_phone_unparseable_values_fall_back_to_digits():
	# 20 digits is no phone number anywhere: the digits are compared, and the explanation says so
	rules = one_rule("phone")
	m = compare(rules, {"v": "3141-5926-5358-9793-2384"}, {"v": "31415926535897932384"})
	assert m is not None and "not a valid phone number; digits compared" in m.hits[0].note
	assert normalize_phone("31415926535897932384") == "#31415926535897932384"
	# the fallback is marked, so digits never equal an E.164 form by accident
	assert not normalize_phone("12").startswith("+")
	assert normalize_phone("n/a") == "" and normalize_phone("") == ""
	assert not matches(rules, "n/a", "n/a")  # no digits: blank, not a match


def test_phone_letters_are_not_read_as_a_keypad():
	# phonenumbers turns letters into keypad digits (1-800-FLOWERS); a note beside a number must not be
	assert normalize_phone("13612345678 wang") == "+8613612345678"
	assert normalize_phone("abc0571def87654321") == normalize_phone("057187654321")  # not +86571333...
	assert normalize_phone("Tel 010-12345678 (Wang)") == "+861012345678"


@pytest.mark.parametrize(
	"placeholder", ["0", "-", "无", "110", "000000", "00000000000", "1111 1111", "n/a", "1234"]
)
def test_phone_placeholders_are_blank_and_never_match(placeholder):
	# reps type these when the customer gave no number; two such records are not the same customer
	assert normalize_phone(placeholder) == ""
	assert not matches(one_rule("phone"), placeholder, placeholder)


def test_phone_default_region_from_rule_options():
	from crm_dedup.engine import RuleSet

	hk = RuleSet.from_dict(
		{
			"options": {"default_region": "HK"},
			"rules": [{"name": "p", "conditions": [{"fields": ["v"], "match": "phone"}]}],
		}
	)
	assert matches(hk, "2123 4567", "+852 2123 4567")
	assert not matches(one_rule("phone"), "2123 4567", "+852 2123 4567")  # in CN, a local number


def test_phone_several_numbers_in_one_field():
	assert split_phones("13612345678 / 13912345678") == ["13612345678", "13912345678"]
	assert split_phones("13612345678，13912345678；010-12345678") == [
		"13612345678",
		"13912345678",
		"010-12345678",
	]
	assert split_phones("136 1234 5678") == ["136 1234 5678"]  # single spaces group digits, not numbers
	assert split_phones("136  1234  5678") == ["136  1234  5678"]  # so do double spaces in padded exports
	assert split_phones("13612345678 13912345678") == ["13612345678", "13912345678"]
	assert split_phones("(010) 12345678  13912345678") == ["(010) 12345678", "13912345678"]
	assert split_phones("010-12345678 ext 123") == ["010-12345678 ext 123"]
	assert matches(one_rule("phone"), "13612345678 / 13912345678", "139-1234-5678")


# ---- email -------------------------------------------------------------------------------------------
def test_email_trimmed_case_insensitive():
	rules = one_rule("email")
	assert normalize_email("  Zhang.Wei@Example.COM ") == "zhang.wei@example.com"
	assert matches(rules, "  Zhang.Wei@Jinling-Food.CN ", "zhang.wei@jinling-food.cn")
	assert matches(rules, "mailto:LiNa@yuanda-tech.com", "lina@yuanda-tech.com")
	assert matches(rules, "ＬＩＮＡ＠ｙｕａｎｄａ－ｔｅｃｈ．ｃｏｍ", "lina@yuanda-tech.com")


def test_email_display_names_and_notes_around_the_address():
	rules = one_rule("email")
	assert normalize_email("Zhang Wei <Zhang.Wei@Example.com>") == "zhang.wei@example.com"
	assert normalize_email("zhang.wei@example.com（总经理）") == "zhang.wei@example.com"
	assert matches(rules, '"Zhang Wei" <zhang.wei@jinling-food.cn>', "ZHANG.WEI@jinling-food.cn")
	# the display name is not an address: two different people called Zhang Wei do not match by it
	assert not matches(rules, "Zhang Wei <zw1@a.cn>", "Zhang Wei <zw2@b.cn>")


@pytest.mark.parametrize("placeholder", ["无", "n/a", "-", "none", "暂无"])
def test_email_placeholders_never_match(placeholder):
	assert split_emails(placeholder) == []
	assert not matches(one_rule("email"), placeholder, placeholder)


def test_email_several_per_field_and_negatives():
	rules = one_rule("email")
	assert split_emails("a@x.cn; B@y.cn，c@z.cn") == ["a@x.cn", "B@y.cn", "c@z.cn"]
	assert matches(rules, "sales@jinling.cn; boss@jinling.cn", "BOSS@jinling.cn")
	assert not matches(rules, "zhang.wei@example.com", "zhangwei@example.com")
	assert not matches(rules, "zhangwei@example.com", "zhangwei@example.cn")


# ---- id_code -----------------------------------------------------------------------------------------
USCC_VALID = "91110000802100433B"  # check character computed with python-stdnum
RIC_VALID = "11010519491231002X"


def test_id_code_folds_case_spaces_dashes():
	rules = one_rule("id_code")
	assert normalize_id_code("9111 0000-8021 0043 3b").value == USCC_VALID
	m = compare(rules, {"v": USCC_VALID}, {"v": "9111-0000-8021-0043-3b"})
	assert m is not None and m.score == 100.0
	assert m.hits[0].note == "USCC valid"
	m = compare(rules, {"v": RIC_VALID}, {"v": "110105 19491231 002x"})
	assert m is not None and m.hits[0].note == "RIC valid"


def test_id_code_invalid_checksum_still_matches_but_is_reported():
	bad = "91110000802100433A"  # last character wrong
	code = normalize_id_code(bad)
	assert (code.kind, code.valid) == ("uscc", False)
	m = compare(
		one_rule("id_code", fields=("tax_id",)), {"tax_id": bad}, {"tax_id": "9111 0000 8021 0043 3a"}
	)
	assert m is not None and m.score == 100.0
	assert "invalid checksum" in m.hits[0].note
	assert "invalid checksum" in m.explain
	ric_bad = normalize_id_code("110105194912310021")
	assert (ric_bad.kind, ric_bad.valid) == ("ric", False)


def test_id_code_different_codes_do_not_match():
	rules = one_rule("id_code")
	assert not matches(rules, USCC_VALID, "91440300708461136T")
	assert not matches(rules, USCC_VALID, "91110000802100433A")  # one wrong character is another code


# ---- exact / normalized / fuzzy ----------------------------------------------------------------------
def test_exact_is_trimmed_only():
	rules = one_rule("exact")
	assert matches(rules, " CUST-0001 ", "CUST-0001")
	assert not matches(rules, "cust-0001", "CUST-0001")
	assert not matches(rules, "CUST0001", "CUST-0001")


def test_normalized_folds_case_width_space_punct_and_script():
	rules = one_rule("normalized")
	for a, b in [
		("CUST-0001", "cust 0001"),
		("ＣＵＳＴ－０００１", "CUST-0001"),
		("臺灣", "台湾"),
		("广州 天河区", "廣州天河區"),
		("上海\u3000浦东", "上海浦东"),
	]:
		assert matches(rules, a, b), (a, b)
	assert normalize_text("  ＡＢＣ 有限公司（北京） ") == "abc有限公司北京"
	assert not matches(rules, "深圳", "广州")
	assert not matches(rules, "CUST-0001", "CUST-0002")


def test_fuzzy_threshold():
	# normalised: 北京市朝阳区建国路88号 (12 chars) vs ...88号院 (13): one insertion -> 1 - 1/25 = 96
	a, b = "北京市朝阳区建国路88号", "北京市朝阳区建国路 88 号院"
	m = compare(one_rule("fuzzy", threshold=96), {"v": a}, {"v": b})
	assert m is not None and m.score == pytest.approx(96.0)
	assert compare(one_rule("fuzzy", threshold=97), {"v": a}, {"v": b}) is None
	assert not matches(one_rule("fuzzy"), "北京市朝阳区建国路88号", "上海市浦东新区世纪大道100号")
	assert matches(one_rule("fuzzy", threshold=100), "北京市朝阳区建国路88号", "北京市 朝阳区 建国路 88号")


# ---- phone: a slash or a dot between area code and number is layout, not a list (#13) -------------------
SLASHED = [
	# (region, as written with a slash or dot, as written otherwise, E.164)
	("US", "212/555-0134", "(212) 555-0134", "+12125550134"),
	("US", "212.555.0134", "212-555-0134", "+12125550134"),
	("US", "212/555.0134", "+1 212 555 0134", "+12125550134"),
	("DE", "030/1234567", "030 1234567", "+49301234567"),
	("DE", "089/12345678", "+49 89 12345678", "+498912345678"),
	("DE", "0171/2345678", "0171-2345678", "+491712345678"),
	("CN", "010/62345678", "010-62345678", "+861062345678"),
	("CN", "0574/36045811", "0574 3604 5811", "+8657436045811"),
	("IT", "02/1234.5678", "02 12345678", "+390212345678"),
	("FR", "01.42.68.53.00", "01 42 68 53 00", "+33142685300"),
]


@pytest.mark.parametrize("region, slashed, plain, e164", SLASHED)
def test_phone_with_slash_or_dot_is_one_number(region, slashed, plain, e164):
	assert split_phones(slashed) == [slashed]
	assert normalize_phone(slashed, region) == normalize_phone(plain, region) == e164
	rules = RuleSet.from_dict(
		{
			"options": {"default_region": region},
			"rules": [{"name": "p", "conditions": [{"fields": ["v"], "match": "phone"}]}],
		}
	)
	assert matches(rules, slashed, plain)


def test_phone_split_only_when_every_part_is_a_number():
	assert split_phones("030/1234567 / 0171/2345678") == ["030/1234567", "0171/2345678"]  # mixed notations
	assert split_phones("212.555.0134 / 212.555.0199") == ["212.555.0134", "212.555.0199"]
	assert split_phones("13612345678/13912345678") == ["13612345678", "13912345678"]
	assert split_phones("010/62345678, 13912345678") == ["010/62345678", "13912345678"]
	assert split_phones("95555, 95588") == ["95555", "95588"]
	assert split_phones("13612345678; 无") == ["13612345678"]  # a word is not a second number
	assert split_phones("010/62345678 / 8001") == ["010/62345678 / 8001"]  # 8001 is no number by itself
	rules = RuleSet.from_dict(
		{
			"options": {"default_region": "DE"},
			"rules": [{"name": "p", "conditions": [{"fields": ["v"], "match": "phone"}]}],
		}
	)
	assert matches(rules, "030/1234567 / 0171/2345678", "0171 2345678")
	assert not matches(rules, "030/1234567", "1234567")


# ---- scoring stored (packed) norms, as a batch scan does ----------------------------------------------
_NAMES = [
	"李伟",
	"李 伟",
	"Li Wei",
	"Wei Li",
	"李维",
	"张伟",
	"Zhang Wei",
	"张 三",
	"欧阳娜娜",
	"Ouyang Nana",
	"王芳",
	"Wang Fang",
	"Mary Lee",
]
_COMPANIES = [
	"金陵餐饮有限公司",
	"南京金陵餐饮",
	"Jinling Catering",
	"金灵餐饮",
	"上海服你报废车回收有限公司",
	"服你报废车",
	"酷然养生会所",
]


def _packed_and_plain(cmp, a: str, b: str) -> tuple | None:
	pa, pb = cmp.prepare(a, "CN"), cmp.prepare(b, "CN")
	if pa is None or pb is None:
		return None
	na, nb = pa[0], pb[0]
	return cmp.score_packed(cmp.pack(na), cmp.pack(nb)), cmp.score(na, nb), cmp.compare(na, nb).score


@pytest.mark.parametrize("match", ["person_name", "company_name"])
def test_score_packed_on_known_names(match):
	cmp = COMPARATORS[match]
	names = _NAMES if match == "person_name" else _COMPANIES
	for a in names:
		for b in names:
			packed, plain, full = _packed_and_plain(cmp, a, b)
			assert packed == plain == full, (a, b)


@given(st.sampled_from(["person_name", "company_name"]), st.data())
@settings(max_examples=200, deadline=None)
def test_score_packed_is_score_of_the_norms(match, data):
	"""A scan scores norms as they are stored (``pack``): the score is the norms' score, whatever the type."""
	cmp = COMPARATORS[match]
	names = _NAMES if match == "person_name" else _COMPANIES
	raw = st.one_of(
		st.sampled_from(names), st.text(alphabet="李伟张王芳金陵餐饮 abcdefghilnowz", min_size=1, max_size=8)
	)
	a, b = data.draw(raw), data.draw(raw)
	got = _packed_and_plain(cmp, a, b)
	if got is not None:
		assert got[0] == got[1] == got[2]
