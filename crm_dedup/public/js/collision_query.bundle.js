// Collision Query page bundle (required by crm_dedup/crm_dedup/page/collision_query/collision_query.js).
import "./collision_query/query_form.js";
import "./collision_query/results_table.js";
import "./collision_query/collision_query.js";
