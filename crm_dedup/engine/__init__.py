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
from .scan import ScanResult, UnionFind, iter_keys, key_chunk, scan_keyed, scan_records
from .sets import DEFAULT_SET_THRESHOLD, build_sets, is_strong, possible_pairs, size_distribution
from .smart import MODEL_FORMAT, SmartMatch, SmartModel, SmartRule, waterfall_text
from .smart_train import scan_all, smart_scan, train_smart
from .store import RowFile, RowStream, StrArray

__all__ = [
	"BUILTIN_DIGEST",
	"DEFAULT_CAP",
	"DEFAULT_SET_THRESHOLD",
	"KEY_VERSION",
	"Condition",
	"ConditionHit",
	"DedupError",
	"InputError",
	"KeyIndex",
	"MODEL_FORMAT",
	"Match",
	"MemoryIndex",
	"Placeholders",
	"Rule",
	"RuleError",
	"RowFile",
	"RowStream",
	"RuleSet",
	"SQLiteIndex",
	"ScanResult",
	"SmartMatch",
	"SmartModel",
	"SmartRule",
	"StrArray",
	"UnionFind",
	"build_sets",
	"check_record",
	"common_values",
	"is_strong",
	"iter_keys",
	"key_chunk",
	"key_hash",
	"legal_form_suffix",
	"load_rules",
	"normalize_email",
	"normalize_phone",
	"possible_pairs",
	"scan_all",
	"scan_keyed",
	"scan_records",
	"size_distribution",
	"smart_scan",
	"train_smart",
	"waterfall_text",
]
