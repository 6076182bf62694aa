"""crm_dedup matching engine: pure Python, no frappe.

The Frappe layer (``crm_dedup.core``) turns doctypes into the plain types here; nothing in this package
knows about doctypes, users or databases other than the embedded SQLite index.

``__all__`` is the engine's public API: the app and the CLI import from this package only, never from its
modules (tests may).
"""

from .check import check_record
from .common import common_values
from .errors import DedupError, InputError, RuleError
from .index import DEFAULT_CAP, KeyIndex, MemoryIndex, SQLiteIndex, key_hash
from .match import KEY_VERSION, ConditionHit, Match
from .normalize import legal_form_suffix, normalize_email, normalize_phone
from .placeholders import BUILTIN_DIGEST, Placeholders
from .rules import Condition, Rule, RuleSet, load_rules
from .scan import ScanResult, UnionFind, iter_keys, scan_records
from .store import RowStream, StrArray

__all__ = [
	"BUILTIN_DIGEST",
	"DEFAULT_CAP",
	"KEY_VERSION",
	"Condition",
	"ConditionHit",
	"DedupError",
	"InputError",
	"KeyIndex",
	"Match",
	"MemoryIndex",
	"Placeholders",
	"Rule",
	"RuleError",
	"RowStream",
	"RuleSet",
	"SQLiteIndex",
	"ScanResult",
	"StrArray",
	"UnionFind",
	"check_record",
	"common_values",
	"iter_keys",
	"key_hash",
	"legal_form_suffix",
	"load_rules",
	"normalize_email",
	"normalize_phone",
	"scan_records",
]
