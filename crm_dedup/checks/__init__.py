"""Save-time duplicate checks: the doc events of every doctype, the block/warn/log decision, Data Import rows,
and the form's pre-save check."""
