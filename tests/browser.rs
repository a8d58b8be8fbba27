//! Reports in a real browser: Debian's chromium, driven headless through
//! chromedriver (WebDriver). For generated reports of the workshop chapters
//! and the index page: the diagram renders, each finding's witness is
//! highlighted (and "show in the diagram" focuses it), every link resolves,
//! and the page logs no console error. A screenshot of each page is kept
//! under `target/tmp/browser/` as a test artifact.
//!
//! `.ci/run` installs chromium and chromium-driver. Elsewhere the test is
//! skipped (with a note) when they are not installed; under `CI=true` a
//! missing browser is a failure, so CI can never skip it silently.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::Duration;

use assert_cmd::Command;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver, stopped when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The browser's console log (chromedriver's logging extension).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

fn browser_installed() -> bool {
    let found = Path::new(CHROMIUM).is_file() && Path::new(CHROMEDRIVER).is_file();
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install chromium and chromium-driver (see .ci/run)"
        );
        eprintln!("skipped: {CHROMIUM} or {CHROMEDRIVER} is not installed");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

async fn connect() -> (Driver, Client) {
    let port = free_port();
    let driver = Driver(
        Process::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1500,1200"]
        }),
    );
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    // chromedriver takes a moment to listen: up to 30 s, 100 ms apart.
    let mut attempts = 300;
    loop {
        attempts -= 1;
        let attempt = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        match attempt {
            Ok(client) => return (driver, client),
            Err(e) if attempts == 0 => panic!("cannot reach chromedriver: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn url_of(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.expect("the script runs")
}

/// Every link on the page resolves: an anchor to an element of the page, a
/// relative address to a file next to it.
async fn check_links(c: &Client, page: &Path) {
    let hrefs = js(
        c,
        "return Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))",
    )
    .await;
    let hrefs = hrefs.as_array().expect("a list");
    assert!(!hrefs.is_empty(), "{}: no links", page.display());
    for h in hrefs {
        let h = h.as_str().unwrap();
        if let Some(id) = h.strip_prefix('#') {
            let found = js(
                c,
                &format!("return document.getElementById({id:?}) !== null"),
            )
            .await;
            assert_eq!(
                found,
                json!(true),
                "{}: #{id} does not resolve",
                page.display()
            );
        } else {
            let target = page.parent().unwrap().join(h);
            assert!(target.is_file(), "{}: {h} does not resolve", page.display());
        }
    }
}

/// No console message at error level since the page loaded.
async fn check_console(c: &Client, page: &Path) {
    let log = c.issue_cmd(BrowserLog).await.expect("the browser log");
    let errors: Vec<&Value> = log
        .as_array()
        .map(|a| a.iter().filter(|e| e["level"] == "SEVERE").collect())
        .unwrap_or_default();
    assert!(
        errors.is_empty(),
        "{}: console errors: {errors:?}",
        page.display()
    );
}

async fn screenshot(c: &Client, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG image");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    path
}

async fn check_report(c: &Client, page: &Path, name: &str) {
    c.goto(&url_of(page)).await.expect("the report loads");
    // The diagram renders: it has a size, lifelines, rows and arrows.
    let rendered = js(
        c,
        "const d = document.querySelector('svg.diagram'); const r = d.getBoundingClientRect();
         return [r.width, r.height, d.querySelectorAll('.lifeline').length,
                 d.querySelectorAll('.ev').length, d.querySelectorAll('.arrow').length,
                 document.querySelector('svg.lag').getBoundingClientRect().height]",
    )
    .await;
    let n = |i: usize| rendered[i].as_f64().unwrap();
    assert!(
        n(0) > 600.0 && n(1) > 200.0,
        "{name}: diagram size {rendered}"
    );
    assert!(
        n(2) >= 3.0 && n(3) > 10.0 && n(4) > 5.0,
        "{name}: diagram parts {rendered}"
    );
    assert!(n(5) > 100.0, "{name}: the lag chart renders");
    // Each finding's witness is highlighted in the diagram, in the witness
    // colour, and its button focuses it.
    let findings = js(
        c,
        "return document.querySelectorAll('article.finding button.show').length",
    )
    .await
    .as_u64()
    .unwrap();
    for f in 0..findings {
        let highlighted = js(
            c,
            &format!(
                "const rows = document.querySelectorAll('svg .wrow[data-f~=\"{f}\"]');
                 return [rows.length, rows.length ? getComputedStyle(rows[0]).fill : ''];"
            ),
        )
        .await;
        assert!(
            highlighted[0].as_u64().unwrap() > 0,
            "{name}: finding {f} has no highlighted row"
        );
        assert_eq!(
            highlighted[1],
            json!("rgb(255, 232, 176)"),
            "{name}: finding {f}"
        );
    }
    for f in 0..findings {
        let focused = js(
            c,
            &format!(
                "document.querySelector('button.show[data-focus=\"{f}\"]').click();
                 const rows = document.querySelectorAll('svg .wrow.focus');
                 return [rows.length, rows.length ? getComputedStyle(rows[0]).fill : '',
                         document.querySelectorAll('svg .wrow:not(.focus)[data-f~=\"{f}\"]').length];"
            ),
        )
        .await;
        assert!(
            focused[0].as_u64().unwrap() > 0,
            "{name}: focusing finding {f}"
        );
        assert_eq!(
            focused[1],
            json!("rgb(255, 207, 92)"),
            "{name}: focused colour"
        );
        assert_eq!(
            focused[2],
            json!(0),
            "{name}: every row of finding {f} is focused"
        );
    }
    check_links(c, page).await;
    check_console(c, page).await;
    let shot = screenshot(c, name).await;
    eprintln!(
        "{name}: {findings} findings checked; screenshot {}",
        shot.display()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn generated_reports_render_in_chromium() {
    if !browser_installed() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("workshop");
    Command::cargo_bin("faultline")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "scenarios/workshop", "-q", "--out"])
        .arg(&out)
        .assert()
        .code(0);
    let (_driver, c) = connect().await;
    for chapter in [
        "01-duplicates-broken",
        "03-commit-broken",
        "04-rebalance-broken",
        "05-pipeline-broken",
        "02-ordering-fixed",
    ] {
        check_report(&c, &out.join(chapter).join("report.html"), chapter).await;
    }
    // The index links every chapter's report.
    let index = out.join("index.html");
    c.goto(&url_of(&index)).await.unwrap();
    let rows = js(&c, "return document.querySelectorAll('tr.entry a').length").await;
    let chapters =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/workshop"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "toml")
            })
            .count();
    assert_eq!(rows, json!(chapters), "one row per chapter");
    check_links(&c, &index).await;
    check_console(&c, &index).await;
    screenshot(&c, "index").await;
    c.close().await.unwrap();
}
