/**
 * What a reader may call and set through the SQL door. One source of truth
 * for the analyzer (which refuses the rest) and for the shadow catalog
 * (whose pg_settings and current_setting() show the same settings).
 */

/** Built-in functions that compute on values and read nothing outside the query. */
export const ALLOWED_FUNCTIONS: ReadonlySet<string> = new Set(
  [
    // math
    "abs cbrt ceil ceiling degrees div exp factorial floor gcd lcm ln log log10 min_scale mod pi",
    "power pow radians round scale sign sqrt trim_scale trunc width_bucket random random_normal",
    "acos acosd asin asind atan atand atan2 atan2d cos cosd cot cotd sin sind tan tand sinh cosh",
    "tanh asinh acosh atanh erf erfc gamma lgamma bit_count get_bit set_bit get_byte set_byte",
    "numeric int2 int4 int8 float4 float8 bool text varchar bpchar name date time timetz",
    "timestamp timestamptz interval uuid json jsonb xml bytea inet cidr macaddr money",
    // strings
    "ascii bit_length btrim char_length character_length chr concat concat_ws convert",
    "convert_from convert_to decode encode format initcap left length lower lpad ltrim md5",
    "normalize is_normalized octet_length overlay parse_ident position quote_ident quote_literal",
    "quote_nullable regexp_count regexp_instr regexp_like regexp_match regexp_matches",
    "regexp_replace regexp_split_to_array regexp_split_to_table regexp_substr repeat replace",
    "reverse right rpad rtrim split_part starts_with string_to_array string_to_table strpos substr",
    "substring to_ascii to_hex to_oct to_bin translate unistr upper casefold sha224 sha256 sha384",
    "sha512 crc32 crc32c similar_to_escape like_escape to_char to_date to_timestamp to_number",
    "gen_random_uuid uuidv4 uuidv7 uuid_extract_timestamp uuid_extract_version",
    // dates and times
    "age clock_timestamp date_add date_bin date_part date_subtract date_trunc extract isfinite",
    "justify_days justify_hours justify_interval make_date make_interval make_time",
    "make_timestamp make_timestamptz now statement_timestamp timeofday transaction_timestamp",
    "timezone overlaps",
    // conditionals and comparison helpers
    "num_nulls num_nonnulls",
    // arrays
    "array_append array_cat array_dims array_fill array_length array_lower array_ndims",
    "array_position array_positions array_prepend array_remove array_replace array_reverse",
    "array_sample array_shuffle array_sort array_to_string array_upper cardinality trim_array",
    "unnest generate_subscripts generate_series array_to_json",
    // json
    "to_json to_jsonb row_to_json json_build_array jsonb_build_array json_build_object",
    "jsonb_build_object json_object jsonb_object json_array_length jsonb_array_length json_each",
    "jsonb_each json_each_text jsonb_each_text json_extract_path jsonb_extract_path",
    "json_extract_path_text jsonb_extract_path_text json_object_keys jsonb_object_keys",
    "json_populate_record jsonb_populate_record jsonb_populate_record_valid",
    "json_populate_recordset jsonb_populate_recordset json_to_record jsonb_to_record",
    "json_to_recordset jsonb_to_recordset json_strip_nulls jsonb_strip_nulls jsonb_set",
    "jsonb_set_lax jsonb_insert jsonb_path_exists jsonb_path_match jsonb_path_query",
    "jsonb_path_query_array jsonb_path_query_first jsonb_path_exists_tz jsonb_path_match_tz",
    "jsonb_path_query_tz jsonb_path_query_array_tz jsonb_path_query_first_tz jsonb_pretty",
    "json_typeof jsonb_typeof json_array_elements jsonb_array_elements json_array_elements_text",
    "jsonb_array_elements_text",
    // aggregates and window functions
    "count sum avg min max array_agg string_agg bool_and bool_or every bit_and bit_or bit_xor",
    "stddev stddev_pop stddev_samp variance var_pop var_samp corr covar_pop covar_samp regr_avgx",
    "regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy mode",
    "percentile_cont percentile_disc rank dense_rank percent_rank cume_dist any_value",
    "json_agg jsonb_agg json_agg_strict jsonb_agg_strict json_object_agg jsonb_object_agg",
    "json_object_agg_strict jsonb_object_agg_strict json_object_agg_unique",
    "jsonb_object_agg_unique json_object_agg_unique_strict jsonb_object_agg_unique_strict",
    "xmlagg range_agg range_intersect_agg row_number ntile lag lead first_value last_value",
    "nth_value",
    // ranges, networks, geometry, text search, xml
    "isempty lower_inc upper_inc lower_inf upper_inf range_merge multirange int4range int8range",
    "numrange tsrange tstzrange daterange int4multirange int8multirange nummultirange",
    "tsmultirange tstzmultirange datemultirange host hostmask masklen netmask network abbrev",
    "broadcast family inet_merge inet_same_family set_masklen area center diameter height width",
    "isclosed isopen npoints pclose popen radius box circle line lseg path point polygon",
    "bound_box to_tsvector to_tsquery plainto_tsquery phraseto_tsquery websearch_to_tsquery",
    "ts_rank ts_rank_cd ts_headline setweight strip tsvector_to_array array_to_tsvector numnode",
    "querytree ts_delete ts_filter xmlcomment xmlconcat xmlelement xmlforest xmlpi xmlroot",
    "xmlexists xml_is_well_formed xml_is_well_formed_document xml_is_well_formed_content xpath",
    "xpath_exists",
    // information about values and the server that names nothing physical
    "pg_typeof pg_column_size pg_size_pretty pg_size_bytes pg_collation_for pg_is_in_recovery",
    "pg_encoding_to_char pg_char_to_encoding pg_client_encoding getdatabaseencoding pg_get_keywords",
    "pg_jit_available pg_options_to_table pg_collation_is_visible pg_conversion_is_visible",
    "pg_operator_is_visible pg_opclass_is_visible pg_opfamily_is_visible pg_ts_config_is_visible",
    "pg_ts_dict_is_visible pg_ts_parser_is_visible pg_ts_template_is_visible",
  ].join(" ").split(" "),
);

/**
 * Functions that would print physical names, roles, other folders' objects
 * or server state: calls are redirected to same-named wrappers in
 * `lg_catalog` (see catalog_functions.ts).
 */
export const SHADOWED_FUNCTIONS: ReadonlySet<string> = new Set([
  "current_database",
  "current_schema",
  "current_schemas",
  "current_setting",
  "pg_get_userbyid",
  "pg_get_indexdef",
  "pg_get_constraintdef",
  "pg_get_expr",
  "pg_get_triggerdef",
  "pg_get_viewdef",
  "pg_get_ruledef",
  "pg_get_function_result",
  "pg_get_function_arguments",
  "pg_get_function_identity_arguments",
  "pg_get_functiondef",
  "pg_get_statisticsobjdef",
  "pg_get_statisticsobjdef_columns",
  "pg_get_partkeydef",
  "pg_get_serial_sequence",
  "format_type",
  "obj_description",
  "col_description",
  "shobj_description",
  "pg_table_is_visible",
  "pg_type_is_visible",
  "pg_function_is_visible",
  "pg_statistics_obj_is_visible",
  "pg_relation_size",
  "pg_table_size",
  "pg_indexes_size",
  "pg_total_relation_size",
  "pg_relation_is_publishable",
  "has_table_privilege",
  "has_schema_privilege",
  "has_database_privilege",
  "pg_database_size",
  "pg_has_role",
  "pg_tablespace_location",
  "pg_partition_ancestors",
  "pg_partition_root",
  "pg_partition_tree",
  "pg_sleep",
  "to_regclass",
  "to_regtype",
  "to_regproc",
  "to_regprocedure",
  "set_config",
  "acldefault",
  "version",
  "pg_backend_pid",
]);

/** SQL keywords that call a function (`SELECT current_user`), by parse-tree op. */
export const SHADOWED_KEYWORDS: Readonly<Record<string, string>> = {
  SVFOP_CURRENT_USER: "current_user",
  SVFOP_USER: "user",
  SVFOP_SESSION_USER: "session_user",
  SVFOP_CURRENT_ROLE: "current_role",
  SVFOP_CURRENT_CATALOG: "current_catalog",
  SVFOP_CURRENT_SCHEMA: "current_schema",
};

/** Helpers of information_schema that pgJDBC and others call by qualified name. */
export const INFORMATION_SCHEMA_FUNCTIONS: ReadonlySet<string> = new Set([
  "_pg_expandarray",
  "_pg_index_position",
  "_pg_truetypid",
  "_pg_truetypmod",
  "_pg_char_max_length",
  "_pg_char_octet_length",
  "_pg_numeric_precision",
  "_pg_numeric_precision_radix",
  "_pg_numeric_scale",
  "_pg_datetime_precision",
  "_pg_interval_type",
]);

/** Casts to these print object names: see the analyzer's `typeCast`. */
export const REG_TYPES: ReadonlySet<string> = new Set([
  "regclass",
  "regtype",
  "regproc",
  "regprocedure",
  "regnamespace",
  "regrole",
  "regoper",
  "regoperator",
  "regcollation",
  "regconfig",
  "regdictionary",
]);

/** Catalogs only a superuser may read: refused as PostgreSQL refuses other users. */
export const SUPERUSER_CATALOGS: ReadonlySet<string> = new Set([
  "pg_authid",
  "pg_shadow",
  "pg_statistic",
  "pg_statistic_ext_data",
  "pg_largeobject",
  "pg_user_mapping",
  "pg_subscription_rel",
  "pg_file_settings",
  "pg_hba_file_rules",
  "pg_ident_file_mappings",
  "pg_config",
  "pg_backend_memory_contexts",
  "pg_shmem_allocations",
]);

/** Reg types whose non-literal casts go through a checking domain in lg_catalog. */
export const CHECKED_REG_TYPES: ReadonlySet<string> = new Set([
  "regclass",
  "regtype",
  "regproc",
  "regprocedure",
  "regnamespace",
]);

/** Longest pg_sleep(), in seconds, a client may ask for on PGlite (it cannot be interrupted). */
export const MAX_SLEEP_SECONDS = 5;

/**
 * What follows the engine's major version in server_version, and in
 * version() after "PostgreSQL <major>": drivers (pgJDBC, psqlODBC,
 * SQLAlchemy, DBeaver) read the leading number and stop at the space.
 */
export const SERVER_VERSION_SUFFIX = ".0 (labgate)";

/** Names a client's search path may hold; the sandbox's own path is set instead. */
export const SEARCH_PATH_NAMES: readonly string[] = ["lists", "$user", "public", "pg_catalog"];

/** How PostgreSQL spells true in a boolean setting. */
export const TRUE_WORDS: ReadonlySet<string> = new Set([
  "on",
  "true",
  "yes",
  "1",
  "t",
  "y",
  "tr",
  "tru",
  "ye",
]);

/** Settings a client may change freely (lowercase names). */
export const FREE_SETTINGS: readonly string[] = [
  "application_name",
  "bytea_output",
  "client_min_messages",
  "datestyle",
  "extra_float_digits",
  "intervalstyle",
  "timezone",
  "lc_monetary",
  "lc_numeric",
  "lc_time",
  "xmlbinary",
  "xmloption",
  "default_text_search_config",
  "array_nulls",
  "quote_all_identifiers",
  "lock_timeout",
  "idle_in_transaction_session_timeout",
  "transaction_isolation",
  "default_transaction_isolation",
  "transaction_deferrable",
  "default_transaction_deferrable",
  "cursor_tuple_fraction",
  "from_collapse_limit",
  "join_collapse_limit",
  "jit",
  "enable_bitmapscan",
  "enable_gathermerge",
  "enable_hashagg",
  "enable_hashjoin",
  "enable_incremental_sort",
  "enable_indexscan",
  "enable_indexonlyscan",
  "enable_material",
  "enable_memoize",
  "enable_mergejoin",
  "enable_nestloop",
  "enable_parallel_append",
  "enable_parallel_hash",
  "enable_partition_pruning",
  "enable_partitionwise_join",
  "enable_partitionwise_aggregate",
  "enable_seqscan",
  "enable_sort",
  "enable_tidscan",
  // pg_dump's: scans from the start of each table; an error, not a filter, if a policy applied.
  "synchronize_seqscans",
  "row_security",
];

/**
 * Settings a client may set only to safe values; the session setup gives
 * them their labgate values, and RESET brings those back.
 */
export const GUARDED_SETTINGS = [
  "client_encoding",
  "standard_conforming_strings",
  "default_transaction_read_only",
  "transaction_read_only",
  "statement_timeout",
  "search_path",
] as const;
export type GuardedSetting = typeof GUARDED_SETTINGS[number];

/** Settings whose real value would name labgate's own roles or schemas, or the host's build. */
export const VIRTUAL_SETTINGS = [
  "search_path",
  "session_authorization",
  "role",
  "is_superuser",
  "server_version",
  "server_version_num",
];

/** Settings a client may read with SHOW, current_setting() and pg_settings. */
export const VISIBLE_SETTINGS: ReadonlySet<string> = new Set([
  ...FREE_SETTINGS,
  ...GUARDED_SETTINGS,
  ...VIRTUAL_SETTINGS,
  "server_encoding",
  "max_identifier_length",
  "max_index_keys",
  "max_function_args",
  "block_size",
  "integer_datetimes",
  "lc_collate",
  "lc_ctype",
  "in_hot_standby",
  "timezone_abbreviations",
  "escape_string_warning",
  "backslash_quote",
  "work_mem",
  "max_connections",
]);
