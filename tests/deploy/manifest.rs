//! Reading deploy/k8s/*.yaml as Kubernetes would: every document, the
//! ConfigMap's and Secret's files, the esprit container's args, env and exec
//! probes. Errors name the file and what is missing.
use std::path::{Path, PathBuf};

use serde_yaml::Value;

pub struct Manifest {
    pub file: PathBuf,
    pub docs: Vec<Value>,
}

pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

impl Manifest {
    pub fn load(rel: &str) -> Manifest {
        let file = deploy_dir().join(rel);
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let docs = serde_yaml::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", file.display())))
            .collect();
        Manifest { file, docs }
    }

    /// The one document of `kind` (panics if there is not exactly one).
    pub fn one(&self, kind: &str) -> &Value {
        let found: Vec<&Value> = self.docs.iter().filter(|d| d["kind"].as_str() == Some(kind)).collect();
        assert_eq!(found.len(), 1, "{}: expected one {kind}, found {}", self.file.display(), found.len());
        found[0]
    }

    pub fn kinds(&self) -> Vec<String> {
        self.docs.iter().map(|d| d["kind"].as_str().unwrap_or("?").to_string()).collect()
    }

    /// The pod template's spec (Deployment or DaemonSet).
    pub fn pod_spec(&self, kind: &str) -> &Value {
        &self.one(kind)["spec"]["template"]["spec"]
    }

    /// The container named `esprit` in the pod template of `kind`.
    pub fn esprit_container(&self, kind: &str) -> &Value {
        let containers = self.pod_spec(kind)["containers"].as_sequence().unwrap_or_else(|| panic!("{}: no containers", self.file.display()));
        containers
            .iter()
            .find(|c| c["name"].as_str() == Some("esprit"))
            .unwrap_or_else(|| panic!("{}: no container named esprit", self.file.display()))
    }

    /// `data` of the ConfigMap (or `stringData` of the Secret): file name -> text.
    pub fn files(&self, kind: &str) -> Vec<(String, String)> {
        let key = if kind == "Secret" { "stringData" } else { "data" };
        let map = self.one(kind)[key].as_mapping().unwrap_or_else(|| panic!("{}: {kind} has no {key}", self.file.display()));
        map.iter().map(|(k, v)| (str_of(k), str_of(v))).collect()
    }

    /// The volume of the pod template named `name`.
    pub fn volume(&self, kind: &str, name: &str) -> &Value {
        self.pod_spec(kind)["volumes"]
            .as_sequence()
            .and_then(|v| v.iter().find(|v| v["name"].as_str() == Some(name)))
            .unwrap_or_else(|| panic!("{}: no volume {name}", self.file.display()))
    }

    /// Where the esprit container mounts the volume `name`.
    pub fn mount_path(&self, kind: &str, name: &str) -> String {
        self.esprit_container(kind)["volumeMounts"]
            .as_sequence()
            .and_then(|m| m.iter().find(|m| m["name"].as_str() == Some(name)))
            .map(|m| str_of(&m["mountPath"]))
            .unwrap_or_else(|| panic!("{}: esprit does not mount {name}", self.file.display()))
    }
}

pub fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => panic!("expected a string, found {other:?}"),
    }
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_sequence().map(|s| s.iter().map(str_of).collect()).unwrap_or_default()
}

/// The container's env as (name, value): plain values as written;
/// `fieldRef`s through `field` (the downward API: status.podIP, ...).
pub fn env(container: &Value, field: impl Fn(&str) -> String) -> Vec<(String, String)> {
    container["env"]
        .as_sequence()
        .map(|e| {
            e.iter()
                .map(|e| {
                    let value = match e["value"].as_str() {
                        Some(v) => v.to_string(),
                        None => field(&str_of(&e["valueFrom"]["fieldRef"]["fieldPath"])),
                    };
                    (str_of(&e["name"]), value)
                })
                .collect()
        })
        .unwrap_or_default()
}
