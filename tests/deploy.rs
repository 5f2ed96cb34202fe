//! deploy/ tested as it ships:
//! - the Kubernetes manifests parse and hold the security settings they claim
//!   (non-root, read-only root, no privileges for the sidecar; NET_ADMIN, the
//!   TUN and hostNetwork for the gateway; Secrets with `defaultMode: 0400`);
//! - the systemd unit has the keys it claims and passes `systemd-analyze verify`
//!   (where installed); its Type=notify is real: `esprit run` sends READY=1 to
//!   `$NOTIFY_SOCKET` once its control socket answers;
//! - the image: deploy/Containerfile's runtime stage is built with podman
//!   offline (its build stage replaced by deploy/rootfs.sh run on this test's
//!   binary and plugins), then run as deploy/k8s/sidecar.yaml runs it: the
//!   ConfigMap and the Secret in the kubelet's `..data` layout, the container's
//!   args and env, its securityContext, and the exec probe from the YAML, which
//!   must succeed. `esprit demo` in the image finds the plugins at
//!   /usr/local/lib/esprit/plugins (the image has no cargo), and the gateway
//!   DaemonSet's config loads in the image.
//! Needs root and podman (runc where crun cannot run): skipped on a developer
//! machine without them, a failure under CI=true.
mod support;

#[path = "deploy/kube_volume.rs"]
mod kube_volume;
#[path = "deploy/manifest.rs"]
mod manifest;
#[path = "deploy/podman.rs"]
mod podman;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use manifest::{deploy_dir, strings, Manifest};
use support::{esprit_bin, is_root, require, Scratch};

const INSTALL_DIR: &str = "/usr/local/lib/esprit/plugins";

fn toml_of(files: &[(String, String)], name: &str) -> toml::Table {
    let text = &files.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1;
    text.parse().unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn secret_mode(m: &Manifest, kind: &str) -> u64 {
    // Kubernetes reads `0400` as octal (YAML 1.1); serde_yaml (YAML 1.2)
    // leaves a leading-zero scalar a string, or reads it as decimal 400.
    let v = &m.volume(kind, "psk")["secret"]["defaultMode"];
    match (v.as_u64(), v.as_str()) {
        (Some(400), _) => 0o400,
        (Some(n), _) => n,
        (None, Some(s)) if s.starts_with('0') => u64::from_str_radix(s, 8).unwrap_or_else(|e| panic!("defaultMode {s}: {e}")),
        _ => panic!("{}: the psk volume's secret.defaultMode is {v:?}", m.file.display()),
    }
}

#[test]
fn sidecar_manifest_is_rootless_and_probed_through_the_control_socket() {
    let m = Manifest::load("k8s/sidecar.yaml");
    for kind in ["ConfigMap", "Secret", "Deployment"] {
        assert!(m.kinds().iter().any(|k| k == kind), "sidecar.yaml lacks a {kind}: {:?}", m.kinds());
    }
    let pod = m.pod_spec("Deployment");
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_ne!(pod["securityContext"]["runAsUser"].as_u64().unwrap_or(0), 0);
    let c = m.esprit_container("Deployment");
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_ne!(sc["privileged"].as_bool(), Some(true));
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"]);
    assert!(sc["capabilities"]["add"].is_null(), "the sidecar adds capabilities");
    assert!(pod["hostNetwork"].as_bool() != Some(true));
    assert_eq!(secret_mode(&m, "Deployment"), 0o400);

    let config = toml_of(&m.files("ConfigMap"), "esprit.toml");
    assert_eq!(config["mode"].as_str(), Some("netstack"));
    let socket = config["control_socket"].as_str().expect("control_socket").to_string();
    for probe in ["startupProbe", "livenessProbe"] {
        let cmd = strings(&c[probe]["exec"]["command"]);
        assert_eq!(cmd, ["/usr/local/bin/esprit", "status", "--socket", &socket], "{probe}");
    }
    let spec = config["plugin"].as_array().and_then(|p| p.first()).and_then(|p| p["spec"].as_str()).expect("[[plugin]] spec");
    assert!(spec.starts_with(&m.mount_path("Deployment", "psk")), "the plugin spec {spec} is not on the Secret's mount");
    let psk = toml_of(&m.files("Secret"), "psk.plugin.toml");
    assert_eq!(psk["path"].as_str(), Some(format!("{INSTALL_DIR}/psk_auth.wasm").as_str()));
    assert!(socket.starts_with(&m.mount_path("Deployment", "run")), "the control socket is not on the writable run volume");
}

#[test]
fn gateway_manifest_is_a_tun_daemonset_with_net_admin_only() {
    let m = Manifest::load("k8s/gateway-daemonset.yaml");
    for kind in ["ConfigMap", "Secret", "DaemonSet"] {
        assert!(m.kinds().iter().any(|k| k == kind), "gateway-daemonset.yaml lacks a {kind}: {:?}", m.kinds());
    }
    let pod = m.pod_spec("DaemonSet");
    assert_eq!(pod["hostNetwork"].as_bool(), Some(true));
    let sc = &m.esprit_container("DaemonSet")["securityContext"];
    assert_ne!(sc["privileged"].as_bool(), Some(true));
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"]);
    let add = strings(&sc["capabilities"]["add"]);
    assert!(add.iter().any(|c| c == "NET_ADMIN"), "{add:?}");
    assert!(add.iter().all(|c| ["NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE"].contains(&c.as_str())), "{add:?}");
    assert_eq!(m.volume("DaemonSet", "dev-net-tun")["hostPath"]["path"].as_str(), Some("/dev/net/tun"));
    assert_eq!(m.mount_path("DaemonSet", "dev-net-tun"), "/dev/net/tun");
    assert_eq!(secret_mode(&m, "DaemonSet"), 0o400);
    let config = toml_of(&m.files("ConfigMap"), "esprit.toml");
    assert_eq!(config["mode"].as_str(), Some("tun"));
    let socket = config["control_socket"].as_str().expect("control_socket");
    let probe = strings(&m.esprit_container("DaemonSet")["livenessProbe"]["exec"]["command"]);
    assert_eq!(probe, ["/usr/local/bin/esprit", "status", "--socket", socket]);
}

#[test]
fn systemd_unit_is_notify_with_reload_and_hardening() {
    let path = deploy_dir().join("systemd/esprit@.service");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let keys: Vec<(&str, &str)> = text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_once('=')).collect();
    let get = |k: &str| keys.iter().find(|(key, _)| *key == k).map(|(_, v)| *v).unwrap_or_else(|| panic!("esprit@.service has no {k}="));
    assert_eq!(get("Type"), "notify");
    assert_eq!(get("ExecStart"), "/usr/local/bin/esprit run --config /etc/esprit/%i.toml");
    assert_eq!(get("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(get("ProtectSystem"), "strict");
    assert_eq!(get("RuntimeDirectory"), "esprit");
    assert_eq!(get("NoNewPrivileges"), "yes");
    assert!(get("CapabilityBoundingSet").split(' ').all(|c| ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"].contains(&c)));

    // systemd's own reader, where installed: no unknown or invalid directive
    // (the binary and the man page are not installed here; those complaints
    // are expected).
    let dir = Scratch::new("deploy-unit");
    std::fs::copy(&path, dir.path("esprit@.service")).expect("copy the unit");
    match Command::new("systemd-analyze").arg("verify").arg(dir.path("esprit@site1.service")).output() {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
            for bad in ["Unknown", "unknown", "ignoring", "Invalid", "invalid", "Failed to parse"] {
                assert!(!text.contains(bad), "systemd-analyze verify: {text}");
            }
        }
        Err(e) => eprintln!("note: systemd-analyze not run ({e}); the unit was checked key by key only"),
    }
}

/// Type=notify: `esprit run` under a `$NOTIFY_SOCKET` sends READY=1 once its
/// control socket answers (checked right after the datagram arrives).
#[test]
fn run_sends_ready_to_notify_socket_once_the_control_socket_answers() {
    let dir = Scratch::new("deploy-notify");
    let notify = dir.path("notify");
    let listener = UnixDatagram::bind(&notify).expect("bind the notify socket");
    listener.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let port = std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).expect("free port").port();
    let socket = dir.path("esprit.sock");
    let config = dir.path("esprit.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"notify\"\nmode = \"netstack\"\ncontrol_socket = \"{}\"\n[outer]\nlisten = \"127.0.0.1:{port}\"\n[netstack]\naddress = [\"10.9.0.1/32\"]\n",
            socket.display()
        ),
    )
    .expect("write config");
    let mut child = Command::new(esprit_bin())
        .args(["run", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start esprit run");
    let mut buf = [0u8; 256];
    let got = listener.recv(&mut buf);
    let status = Command::new(esprit_bin()).args(["status", "--socket"]).arg(&socket).output().expect("esprit status");
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    let n = got.unwrap_or_else(|e| panic!("no READY=1 within 60 s ({e}); log:\n{}", String::from_utf8_lossy(&out.stderr)));
    let msg = String::from_utf8_lossy(&buf[..n]);
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg:?}");
    assert!(msg.contains(&format!("MAINPID={}", out_pid(&msg))), "{msg:?}");
    assert!(status.status.success(), "status after READY=1 failed: {}", String::from_utf8_lossy(&status.stderr));
}

fn out_pid(msg: &str) -> String {
    msg.lines().find_map(|l| l.strip_prefix("MAINPID=")).unwrap_or("?").to_string()
}

/// Everything the image holds, built from this test's binary and plugins by
/// the same script the Containerfile's build stage runs.
fn build_context(dir: &Scratch) -> std::path::PathBuf {
    let plugins = esprit_plugin::build::ensure_plugins_built().expect("building the Wasm plugins");
    let ctx = dir.path("ctx");
    let out = Command::new(deploy_dir().join("rootfs.sh")).arg(esprit_bin()).arg(&plugins).arg(ctx.join("rootfs")).output().expect("run deploy/rootfs.sh");
    assert!(out.status.success(), "deploy/rootfs.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    ctx
}

/// Polls the exec probe until it succeeds (the status answers), the
/// container dies, or 60 s pass.
fn wait_for_probe(p: &podman::Podman, name: &str, probe: &[String]) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = p.cmd().args(["exec", name]).args(probe).output().expect("podman exec");
        if out.status.success() {
            return podman::text(&out.stdout);
        }
        assert!(p.running(name), "the container exited before the probe succeeded; logs:\n{}", p.logs(name));
        assert!(Instant::now() < deadline, "probe {probe:?} never succeeded: {}\nlogs:\n{}", podman::text(&out.stderr), p.logs(name));
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn image_runs_the_sidecar_as_kubernetes_would() {
    if !require(is_root() && podman::available(), "root and podman (apt-get install podman runc) to build and run deploy/Containerfile") {
        return;
    }
    let dir = Scratch::new("deploy-image");
    let ctx = build_context(&dir);
    let p = podman::Podman::new(&format!("localhost/esprit-deploy-test:{}", std::process::id()));
    p.build(&deploy_dir().join("Containerfile"), "runtime", &ctx);

    // The sidecar, from deploy/k8s/sidecar.yaml.
    let m = Manifest::load("k8s/sidecar.yaml");
    let pod = m.pod_spec("Deployment");
    let c = m.esprit_container("Deployment");
    let uid = pod["securityContext"]["runAsUser"].as_u64().expect("runAsUser") as u32;
    let gid = pod["securityContext"]["runAsGroup"].as_u64().expect("runAsGroup") as u32;
    let config_dir = dir.path("configmap");
    let secret_dir = dir.path("secret");
    kube_volume::write(&config_dir, &m.files("ConfigMap"), 0o644);
    kube_volume::write(&secret_dir, &m.files("Secret"), secret_mode(&m, "Deployment") as u32);
    // The kubelet gives a Secret's files to the pod's fsGroup; here its user.
    kube_volume::chown_all(&secret_dir, uid, gid);

    // With --network none the pod's only address is loopback; the gateway's
    // DNS name resolves (through /etc/hosts) to an address nobody answers on.
    let env = manifest::env(c, |field| match field {
        "status.podIP" => "127.0.0.1".to_string(),
        other => panic!("sidecar.yaml uses the downward API field {other}: teach this test its value"),
    });
    let gateway = env.iter().find(|(k, _)| k == "ESPRIT_GATEWAY").map(|(_, v)| v.clone()).expect("ESPRIT_GATEWAY in the env");
    let empty_dir = dir.path("emptydir-run");
    std::fs::create_dir(&empty_dir).expect("emptyDir");
    std::fs::set_permissions(&empty_dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).expect("chmod emptyDir");
    let mut opts: Vec<String> = vec![
        "--user".into(),
        format!("{uid}:{gid}"),
        "--cap-drop".into(),
        "all".into(),
        "--security-opt".into(),
        "no-new-privileges".into(),
        "--add-host".into(),
        format!("{gateway}:127.0.0.2"),
        "-v".into(),
        format!("{}:{}:ro", config_dir.display(), m.mount_path("Deployment", "config")),
        "-v".into(),
        format!("{}:{}:ro", secret_dir.display(), m.mount_path("Deployment", "psk")),
        // An emptyDir as the kubelet makes it: an empty host folder, mode 0777.
        "-v".into(),
        format!("{}:{}", empty_dir.display(), m.mount_path("Deployment", "run")),
    ];
    if c["securityContext"]["readOnlyRootFilesystem"].as_bool() == Some(true) {
        opts.extend(["--read-only".into(), "--read-only-tmpfs=false".into()]);
    }
    for (k, v) in &env {
        opts.extend(["-e".into(), format!("{k}={v}")]);
    }
    let name = format!("esprit-deploy-sidecar-{}", std::process::id());
    p.start(&name, &opts, &strings(&c["args"]));

    let probe = strings(&c["livenessProbe"]["exec"]["command"]);
    let status = wait_for_probe(&p, &name, &probe);
    assert!(status.contains("esprit sidecar (netstack mode)"), "status:\n{status}");
    assert_eq!(strings(&c["startupProbe"]["exec"]["command"]), probe);
    let logs = p.logs(&name);
    assert!(logs.contains("auth plugin loaded"), "the psk plugin from {INSTALL_DIR} did not load:\n{logs}");
    assert!(logs.contains("control socket ready"), "{logs}");
    let whoami = p.output(&["exec", &name, "/usr/local/bin/esprit", "status", "--json", "--socket", &probe[3]]);
    assert!(whoami.status.success(), "status --json: {}", podman::text(&whoami.stderr));
    let stop = p.output(&["stop", "-t", "10", &name]);
    assert!(stop.status.success(), "podman stop: {}", podman::text(&stop.stderr));
    let code = podman::text(&p.output(&["inspect", "-f", "{{.State.ExitCode}}", &name]).stdout);
    assert_eq!(code.trim(), "0", "esprit did not exit cleanly on SIGTERM; logs:\n{}", p.logs(&name));

    // `esprit demo` in the image: plugins found at the install path, no cargo.
    let demo = p.cmd().args(p.run_args()).args(["--rm", "--read-only", "--cap-drop", "all", &p.image, "demo"]).output().expect("podman run demo");
    let demo_out = format!("{}{}", podman::text(&demo.stdout), podman::text(&demo.stderr));
    assert!(demo.status.success() && demo_out.contains("demo ok"), "esprit demo in the image failed:\n{demo_out}");
    assert!(!demo_out.contains("building the Wasm plugins"), "demo tried to build plugins:\n{demo_out}");

    // The gateway DaemonSet's config and Secret load in the image (tun mode
    // itself needs NET_ADMIN and a TUN: not run here).
    let g = Manifest::load("k8s/gateway-daemonset.yaml");
    let gw_config = dir.path("gw-configmap");
    let gw_secret = dir.path("gw-secret");
    kube_volume::write(&gw_config, &g.files("ConfigMap"), 0o644);
    kube_volume::write(&gw_secret, &g.files("Secret"), 0o400);
    kube_volume::chown_all(&gw_secret, uid, gid);
    let config_file = format!("{}/esprit.toml", g.mount_path("DaemonSet", "config"));
    let check = p
        .cmd()
        .args(p.run_args())
        .args(["--rm", "--read-only", "-e", "NODE_IP=192.0.2.1", "-v"])
        .arg(format!("{}:{}:ro", gw_config.display(), g.mount_path("DaemonSet", "config")))
        .arg("-v")
        .arg(format!("{}:{}:ro", gw_secret.display(), g.mount_path("DaemonSet", "psk")))
        .args([&p.image, "policy", "test", "-c", &config_file, "tcp 198.51.100.7:80 -> 10.3.0.5:40000"])
        .output()
        .expect("podman run policy test");
    assert!(check.status.success(), "the gateway config does not load in the image: {}", podman::text(&check.stderr));
}
