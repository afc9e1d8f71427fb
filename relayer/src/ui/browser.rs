//! Headless Chromium for the dashboard's tests (Debian's `chromium`, which
//! `scripts/test.d/50-browser.sh` installs): a page's DOM after its scripts ran,
//! failing on any console output, and desktop and phone screenshots for review.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// One headless Chromium run per page, each with its own profile directory.
pub struct Browser {
    shots: PathBuf,
}

impl Browser {
    /// Screenshots go to `shots`; panics (saying how to install it) without Chromium.
    pub fn new(shots: &Path) -> Self {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: run `scripts/test browser` (it installs Debian's chromium)"
        );
        std::fs::create_dir_all(shots).unwrap();
        Self {
            shots: shots.to_owned(),
        }
    }

    fn run(&self, args: &[&str], url: &str) -> (String, String) {
        let profile = tempfile_dir();
        let out = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            .args(["--enable-logging=stderr", "--v=0"])
            // Lets the page's polling timers fire and its fetches finish.
            .arg("--virtual-time-budget=6000")
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .arg(url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "chromium failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The page's DOM after its scripts ran; fails on any console message
    /// (the dashboard logs nothing when all is well) or uncaught error.
    pub fn dom(&self, url: &str) -> String {
        let (dom, log) = self.run(&["--dump-dom"], url);
        let console: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
            .collect();
        assert!(console.is_empty(), "console output on {url}: {console:#?}");
        dom
    }

    pub fn screenshot(&self, url: &str, name: &str) {
        for (size, suffix) in [("1280,1000", "desktop"), ("390,844", "phone")] {
            let file = self.shots.join(format!("{name}-{suffix}.png"));
            let _ = std::fs::remove_file(&file);
            self.run(
                &[
                    &format!("--screenshot={}", file.display()),
                    &format!("--window-size={size}"),
                ],
                url,
            );
            let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            assert!(len > 1_000, "no screenshot of {url} at {size}");
        }
    }
}

/// A fresh profile directory, so runs in parallel never share one.
fn tempfile_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "spindle-chromium-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
