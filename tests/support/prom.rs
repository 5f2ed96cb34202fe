//! A strict parser of the Prometheus text exposition format (0.0.4), for
//! checking what `/metrics` serves: `# HELP` and `# TYPE` at most once per
//! family and before its samples, metric and label names by the format's
//! grammar, quoted and escaped label values, no duplicate label names or
//! series, numeric values, and the naming conventions (counters end in
//! `_total`).
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Default, Clone)]
pub struct Family {
    pub kind: String,
    pub help: String,
    pub samples: Vec<Sample>,
}

fn metric_name_ok(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}

fn label_name_ok(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_') && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_') && !s.starts_with("__")
}

/// The family a sample name belongs to (histogram/summary suffixes).
fn family_of<'a>(name: &'a str, fams: &BTreeMap<String, Family>) -> &'a str {
    for suf in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suf) {
            if fams.get(base).is_some_and(|f| f.kind == "histogram" || f.kind == "summary") {
                return base;
            }
        }
    }
    name
}

fn parse_labels(s: &str, line: usize) -> Result<(BTreeMap<String, String>, &str), String> {
    // `s` starts after `{`.
    let mut labels = BTreeMap::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        }
        let eq = rest.find('=').ok_or(format!("line {line}: label without `=`"))?;
        let name = rest[..eq].trim();
        if !label_name_ok(name) {
            return Err(format!("line {line}: bad label name {name:?}"));
        }
        rest = rest[eq + 1..].strip_prefix('"').ok_or(format!("line {line}: label {name} value not quoted"))?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("line {line}: bad escape {other:?} in label {name}")),
                },
                Some((i, '"')) => break i,
                Some((_, '\n')) | None => return Err(format!("line {line}: unterminated value of label {name}")),
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("line {line}: label {name} twice"));
        }
        rest = &rest[end + 1..];
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.starts_with('}') {
            return Err(format!("line {line}: expected `,` or `}}` after label {name}"));
        }
    }
}

fn parse_value(s: &str, line: usize) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse::<f64>().map_err(|_| format!("line {line}: bad value {s:?}")),
    }
}

/// Parses an exposition; every violation is an error naming its line.
pub fn parse(text: &str) -> Result<BTreeMap<String, Family>, String> {
    let mut fams: BTreeMap<String, Family> = BTreeMap::new();
    let mut typed = BTreeSet::new();
    let mut helped = BTreeSet::new();
    let mut with_samples = BTreeSet::new();
    let mut series = BTreeSet::new();
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the exposition must end with a newline".into());
    }
    for (i, l) in text.lines().enumerate() {
        let n = i + 1;
        if l.is_empty() {
            continue;
        }
        if let Some(rest) = l.strip_prefix('#') {
            let rest = rest.trim_start();
            let mut parts = rest.splitn(3, ' ');
            let (kw, name, tail) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            match kw {
                "HELP" | "TYPE" => {
                    if !metric_name_ok(name) {
                        return Err(format!("line {n}: bad metric name {name:?}"));
                    }
                    if with_samples.contains(name) {
                        return Err(format!("line {n}: {kw} for {name} after its samples"));
                    }
                    let f = fams.entry(name.to_string()).or_default();
                    if kw == "TYPE" {
                        if !typed.insert(name.to_string()) {
                            return Err(format!("line {n}: second TYPE for {name}"));
                        }
                        if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&tail) {
                            return Err(format!("line {n}: unknown type {tail:?}"));
                        }
                        f.kind = tail.to_string();
                    } else {
                        if !helped.insert(name.to_string()) {
                            return Err(format!("line {n}: second HELP for {name}"));
                        }
                        f.help = tail.to_string();
                    }
                }
                _ => {} // a comment
            }
            continue;
        }
        let name_end = l.find(|c: char| c == '{' || c == ' ').ok_or(format!("line {n}: no value"))?;
        let name = &l[..name_end];
        if !metric_name_ok(name) {
            return Err(format!("line {n}: bad metric name {name:?}"));
        }
        let (labels, rest) = if l[name_end..].starts_with('{') { parse_labels(&l[name_end + 1..], n)? } else { (BTreeMap::new(), &l[name_end..]) };
        let mut toks = rest.split_whitespace();
        let value = parse_value(toks.next().ok_or(format!("line {n}: no value"))?, n)?;
        if let Some(ts) = toks.next() {
            ts.parse::<i64>().map_err(|_| format!("line {n}: bad timestamp {ts:?}"))?;
        }
        if toks.next().is_some() {
            return Err(format!("line {n}: trailing text"));
        }
        let fam = family_of(name, &fams).to_string();
        if !series.insert(format!("{name}{labels:?}")) {
            return Err(format!("line {n}: duplicate series {name}{labels:?}"));
        }
        with_samples.insert(fam.clone());
        fams.entry(fam).or_default().samples.push(Sample { name: name.to_string(), labels, value });
    }
    for (name, f) in &fams {
        if f.kind == "counter" && !name.ends_with("_total") {
            return Err(format!("counter {name} does not end in _total"));
        }
        if f.kind == "counter" && f.samples.iter().any(|s| !(s.value >= 0.0)) {
            return Err(format!("counter {name} has a negative or NaN sample"));
        }
    }
    Ok(fams)
}

#[test]
fn the_parser_rejects_what_it_must() {
    assert!(parse("# TYPE a_total counter\na_total{x=\"1\"} 2\n").is_ok());
    assert!(parse("a{x=1} 2\n").is_err());
    assert!(parse("a{x=\"1\",x=\"2\"} 2\n").is_err());
    assert!(parse("a 1\n# TYPE a gauge\n").is_err());
    assert!(parse("# TYPE a counter\na 1\n").is_err());
    assert!(parse("# TYPE a_total counter\na_total -1\n").is_err());
    assert!(parse("a{x=\"a\\q\"} 1\n").is_err());
    assert!(parse("1a 1\n").is_err());
    assert!(parse("a 1").is_err());
    let f = parse("# HELP a_total it\n# TYPE a_total counter\na_total{p=\"q\\\"r\"} 3\n").unwrap();
    assert_eq!(f["a_total"].samples[0].labels["p"], "q\"r");
}
