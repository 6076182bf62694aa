"""crm_dedup matching engine: pure Python, no frappe.

The Frappe layer (``crm_dedup.bridge``) turns doctypes into the plain types here; nothing in this package
knows about doctypes, users or databases other than the embedded SQLite index.
"""

from .check import check_record
from .common import common_values
from .errors import DedupError, InputError, RuleError
from .index import KeyIndex, MemoryIndex, SQLiteIndex
from .match import ConditionHit, Match
from .placeholders import Placeholders
from .rules import Condition, Rule, RuleSet, load_rules
from .scan import ScanResult, scan_records

__all__ = [
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
	"RuleSet",
	"SQLiteIndex",
	"ScanResult",
	"check_record",
	"common_values",
	"load_rules",
	"scan_records",
]
