"""Normalisers: one small module per kind of value.

Every normaliser is total: it accepts any ``str`` (empty, huge, arbitrary Unicode) and never raises; values that
are not strings are converted with ``str()`` first; ``None`` and blanks give an empty result.
"""

from .company import company_core, legal_form_suffix
from .email import normalize_email, split_emails
from .idcode import IdCode, normalize_id_code
from .person import person_variants
from .phone import normalize_phone, split_phones
from .text import is_blank, normalize_text, to_simplified

__all__ = [
	"IdCode",
	"company_core",
	"is_blank",
	"legal_form_suffix",
	"normalize_email",
	"normalize_id_code",
	"normalize_phone",
	"normalize_text",
	"person_variants",
	"split_emails",
	"split_phones",
	"to_simplified",
]
