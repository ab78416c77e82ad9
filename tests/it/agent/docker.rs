//! The Docker the agent tests use, the busybox image they run, and a guard
//! that removes a test's containers however it ends.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::require_tool;

/// The image every test container runs: busybox with all its applets
/// (sh, httpd, nc, sleep, …) and a /tmp.
pub const IMAGE: &str = "cairn-agent-busybox";

const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// A Docker daemon that answers, with the image imported.
#[derive(Debug)]
pub struct DockerHost {
    pub socket: PathBuf,
    docker: PathBuf,
    /// The shell that stops the dockerd these tests started, if they did.
    _watcher: Option<Child>,
}

static HOST: OnceLock<Option<DockerHost>> = OnceLock::new();

impl DockerHost {
    /// The shared Docker, started on first use; `None` (a skip) when the
    /// tools are missing outside CI.
    pub fn get() -> Option<&'static DockerHost> {
        HOST.get_or_init(Self::find).as_ref()
    }

    fn find() -> Option<DockerHost> {
        let docker = require_tool("docker")?;
        let busybox = require_tool("busybox")?;
        let default = DockerHost {
            socket: PathBuf::from(DEFAULT_SOCKET),
            docker: docker.clone(),
            _watcher: None,
        };
        // CAIRN_TEST_DOCKERD_ARGS starts a dockerd of the tests' own even
        // when one answers, with these flags (e.g. `--bridge br1
        // --iptables=false` beside a running one): how the path CI takes
        // on a machine without Docker running is tried on one with it.
        let own_args = std::env::var("CAIRN_TEST_DOCKERD_ARGS").ok();
        let host = if own_args.is_none() && default.answers() {
            default
        } else {
            let dockerd = require_tool("dockerd")?;
            start_dockerd(&docker, &dockerd, own_args.as_deref().unwrap_or(""))
        };
        host.ensure_image(&busybox);
        Some(host)
    }

    fn answers(&self) -> bool {
        self.command(&["info", "--format", "{{.ServerVersion}}"])
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|output| output.status.success())
    }

    /// `docker -H unix://SOCKET args…`, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.docker);
        command
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args);
        command
    }

    /// Runs `docker args…`, which must succeed; returns its stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let output = self.output(args);
        assert!(
            output.status.success(),
            "docker {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run docker")
    }

    fn ensure_image(&self, busybox: &std::path::Path) {
        if self.output(&["image", "inspect", IMAGE]).status.success() {
            return;
        }
        let root = tempfile::tempdir().expect("image root");
        let bin = root.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        std::fs::create_dir_all(root.path().join("tmp")).expect("tmp");
        std::fs::copy(busybox, bin.join("busybox")).expect("copy busybox");
        let list = Command::new(busybox)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" && !applet.is_empty() {
                std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("applet link");
            }
        }
        let script = format!(
            "tar -C {} -c . | {} -H unix://{} import - {IMAGE}",
            root.path().display(),
            self.docker.display(),
            self.socket.display()
        );
        let status = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .stdout(Stdio::null())
            .status()
            .expect("run docker import");
        assert!(status.success(), "docker import of {IMAGE} failed");
    }
}

/// Starts `dockerd` on a socket, data root and exec root of its own. A
/// shell beside it stops it (and removes its files) once this test
/// process has exited, since tests have no hook at exit.
fn start_dockerd(docker: &std::path::Path, dockerd: &std::path::Path, args: &str) -> DockerHost {
    let dir = std::env::temp_dir().join(format!("cairn-dockerd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dockerd directory");
    let socket = dir.join("docker.sock");
    let script = format!(
        "{dockerd} --host unix://{d}/docker.sock --data-root {d}/data --exec-root {d}/exec --pidfile {d}/docker.pid {args} >{d}/dockerd.log 2>&1 &\n\
         daemon=$!\n\
         while kill -0 {test} 2>/dev/null && kill -0 $daemon 2>/dev/null; do sleep 1; done\n\
         kill $daemon 2>/dev/null; wait $daemon; rm -rf {d}\n",
        dockerd = dockerd.display(),
        d = dir.display(),
        test = std::process::id(),
    );
    let watcher = Command::new("bash")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dockerd");
    let host = DockerHost {
        socket,
        docker: docker.to_path_buf(),
        _watcher: Some(watcher),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !host.answers() {
        assert!(
            Instant::now() < deadline,
            "dockerd did not answer within 60 s:\n{}",
            std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    host
}

/// The containers one test started, removed (`docker rm -f`) on drop.
pub struct Containers {
    pub docker: &'static DockerHost,
    prefix: String,
    names: Vec<String>,
}

impl Containers {
    /// Names start with `prefix` and the process id, so they are unique.
    pub fn new(docker: &'static DockerHost, prefix: &str) -> Self {
        Self {
            docker,
            prefix: format!("{prefix}-{}", std::process::id()),
            names: Vec::new(),
        }
    }

    /// Removes the container `name` now (if it exists) and again on drop:
    /// for containers named by someone else, such as the README.
    pub fn adopt(&mut self, name: &str) {
        let _ = self.docker.command(&["rm", "-f", name]).output();
        self.names.push(name.to_string());
    }

    /// The name of this test's container `tag`.
    pub fn name(&self, tag: &str) -> String {
        format!("{}-{tag}", self.prefix)
    }

    /// `docker run -d --name <name(tag)> options… IMAGE command…`; returns
    /// the container's name.
    pub fn run(&mut self, tag: &str, options: &[&str], command: &[&str]) -> String {
        let name = self.name(tag);
        self.names.push(name.clone());
        let mut args = vec!["run", "-d", "--name", &name];
        args.extend_from_slice(options);
        args.push(IMAGE);
        args.extend_from_slice(command);
        self.docker.run(&args);
        name
    }

    /// The container's address on the default bridge.
    pub fn ip(&self, name: &str) -> std::net::Ipv4Addr {
        let text = self.docker.run(&[
            "inspect",
            "--format",
            "{{.NetworkSettings.IPAddress}}",
            name,
        ]);
        text.parse()
            .unwrap_or_else(|_| panic!("container {name} has no IPv4 address: '{text}'"))
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        if self.names.is_empty() {
            return;
        }
        let mut args = vec!["rm", "-f"];
        args.extend(self.names.iter().map(String::as_str));
        let _ = self.docker.command(&args).output();
    }
}
