//! podman as the test drives it: offline (`--pull=never`, `--network none`),
//! with runc when installed (crun refuses hybrid cgroup hierarchies) and
//! small explicit ulimits (without CAP_SYS_RESOURCE the runtime cannot raise
//! them to podman's defaults). Containers and images are removed on drop.
use std::path::Path;
use std::process::{Command, Output};

pub fn available() -> bool {
    Command::new("podman").arg("--version").output().map(|o| o.status.success()).unwrap_or(false)
}

fn has_runc() -> bool {
    Command::new("runc").arg("--version").output().map(|o| o.status.success()).unwrap_or(false)
}

pub struct Podman {
    global: Vec<String>,
    pub image: String,
    containers: std::cell::RefCell<Vec<String>>,
}

impl Podman {
    pub fn new(image: &str) -> Podman {
        let mut global = Vec::new();
        if has_runc() {
            global.extend(["--runtime".to_string(), "runc".to_string()]);
        }
        Podman { global, image: image.to_string(), containers: Default::default() }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.args(&self.global);
        c
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap_or_else(|e| panic!("podman {args:?}: {e}"))
    }

    /// `podman build` of `target` in `containerfile`, with the stage `build`
    /// replaced by the folder `build_ctx` (no registry needed).
    pub fn build(&self, containerfile: &Path, target: &str, build_ctx: &Path) {
        let out = self
            .cmd()
            .args(["build", "--pull=never", "--network", "none", "--target", target, "-t", &self.image, "-f"])
            .arg(containerfile)
            .arg("--build-context")
            .arg(format!("build={}", build_ctx.display()))
            .arg(build_ctx)
            .output()
            .unwrap_or_else(|e| panic!("podman build: {e}"));
        assert!(out.status.success(), "podman build failed:\n{}{}", text(&out.stdout), text(&out.stderr));
    }

    /// The options every `podman run` of the test gets.
    pub fn run_args(&self) -> Vec<String> {
        ["run", "--network", "none", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"].iter().map(|s| s.to_string()).collect()
    }

    /// Starts a detached container named `name`; `opts` go before the image,
    /// `args` after it. Removed on drop.
    pub fn start(&self, name: &str, opts: &[String], args: &[String]) {
        let _ = self.output(&["rm", "-f", name]);
        let out = self.cmd().args(self.run_args()).args(["-d", "--name", name]).args(opts).arg(&self.image).args(args).output().expect("podman run");
        assert!(out.status.success(), "podman run failed: {}", text(&out.stderr));
        self.containers.borrow_mut().push(name.to_string());
    }

    pub fn running(&self, name: &str) -> bool {
        text(&self.output(&["inspect", "-f", "{{.State.Running}}", name]).stdout).trim() == "true"
    }

    pub fn logs(&self, name: &str) -> String {
        let o = self.output(&["logs", name]);
        format!("{}{}", text(&o.stdout), text(&o.stderr))
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        for c in self.containers.borrow().iter() {
            let _ = self.output(&["rm", "-f", "-t", "0", c]);
        }
        let _ = self.output(&["rmi", "-f", &self.image]);
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
