//! A small JSON Schema (2020-12) validator for the keywords
//! `docs/status.schema.json` uses: `$ref` (to `#/$defs/...`), `type`,
//! `const`, `enum`, `properties`, `required`, `additionalProperties`,
//! `items`, `minimum` and `pattern` of the form `^LITERAL[0-9a-f]{N}$`.
//! An unknown keyword is an error, so the schema cannot outgrow the check.
use serde_json::Value;

const KNOWN: &[&str] = &[
    "$schema", "$id", "$defs", "$ref", "title", "description", "type", "const", "enum", "properties", "required",
    "additionalProperties", "items", "minimum", "pattern",
];

fn pattern_matches(p: &str, s: &str) -> bool {
    let inner = p.strip_prefix('^').and_then(|p| p.strip_suffix('$')).unwrap_or_else(|| panic!("unsupported pattern {p}"));
    let (lit, rest) = inner.split_once("[0-9a-f]{").unwrap_or_else(|| panic!("unsupported pattern {p}"));
    let n: usize = rest.strip_suffix('}').and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("unsupported pattern {p}"));
    s.strip_prefix(lit).is_some_and(|h| h.len() == n && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        other => panic!("unknown type {other}"),
    }
}

/// Validates `v` against `schema` (whose `$defs` `root` holds); returns
/// every violation with its JSON path.
pub fn validate(root: &Value, schema: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    let Some(s) = schema.as_object() else { panic!("schema at {path} is not an object") };
    for k in s.keys() {
        assert!(KNOWN.contains(&k.as_str()), "schema keyword {k:?} (at {path}) is not supported by this validator");
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").unwrap_or_else(|| panic!("unsupported $ref {r}"));
        let target = &root["$defs"][name];
        assert!(target.is_object(), "$ref {r} not found");
        validate(root, target, v, path, errs);
    }
    if let Some(t) = s.get("type").and_then(Value::as_str) {
        if !type_ok(t, v) {
            errs.push(format!("{path}: expected {t}, got {v}"));
            return;
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            errs.push(format!("{path}: expected {c}, got {v}"));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errs.push(format!("{path}: {v} is not one of {e:?}"));
        }
    }
    if let (Some(m), Some(n)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if n < m {
            errs.push(format!("{path}: {n} < minimum {m}"));
        }
    }
    if let (Some(p), Some(st)) = (s.get("pattern").and_then(Value::as_str), v.as_str()) {
        if !pattern_matches(p, st) {
            errs.push(format!("{path}: {st:?} does not match {p}"));
        }
    }
    if let Some(o) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for r in s.get("required").and_then(Value::as_array).into_iter().flatten() {
            let r = r.as_str().expect("required names are strings");
            if !o.contains_key(r) {
                errs.push(format!("{path}: missing required {r:?}"));
            }
        }
        for (k, val) in o {
            let p = format!("{path}.{k}");
            match props.and_then(|ps| ps.get(k)) {
                Some(ps) => validate(root, ps, val, &p, errs),
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => errs.push(format!("{path}: unexpected property {k:?}")),
                    Some(ap @ Value::Object(_)) => validate(root, ap, val, &p, errs),
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(a)) = (s.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            validate(root, items, x, &format!("{path}[{i}]"), errs);
        }
    }
}

/// Validates a status reply against `docs/status.schema.json`; panics with
/// every violation.
pub fn check_status(v: &Value) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/status.schema.json")).expect("docs/status.schema.json");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    let mut errs = Vec::new();
    validate(&schema, &schema, v, "$", &mut errs);
    assert!(errs.is_empty(), "the status does not match docs/status.schema.json:\n{}\n{v:#}", errs.join("\n"));
}

#[test]
fn the_validator_catches_violations() {
    let schema = serde_json::json!({"type": "object", "properties": {"a": {"type": "integer", "minimum": 0}, "s": {"pattern": "^0x[0-9a-f]{2}$"}}, "required": ["a"], "additionalProperties": false});
    let mut e = Vec::new();
    validate(&schema, &schema, &serde_json::json!({"a": -1, "b": 1, "s": "0xzz"}), "$", &mut e);
    assert_eq!(e.len(), 3, "{e:?}");
    e.clear();
    validate(&schema, &schema, &serde_json::json!({"a": 1, "s": "0x0f"}), "$", &mut e);
    assert!(e.is_empty(), "{e:?}");
}
